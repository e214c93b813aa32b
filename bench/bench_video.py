"""Video journals on 1080p H.264 (issue 17): compared frame pairs per second, sparse and dense changes,
HDF5 writing included, beside decode-only frames per second (the floor); a one-minute 1080p30 edit
recorded in a journal, with its wall time and peak RSS (measured in a child process).

``python -m bench.bench_video [--seconds 60] [--pairs 150]``
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from bench.common import table
from masksmith.journal.video_compare import detect_changes
from masksmith.media import video

ROWS, COLS, RATE = 1080, 1920, 30
X264 = {"preset": "veryfast", "crf": "20"}


def _background(rng: np.random.Generator) -> np.ndarray:
    small = rng.integers(0, 256, size=(ROWS // 24 + 1, COLS // 24 + 1, 3), dtype=np.uint8)
    return np.ascontiguousarray(cv2.resize(small, (COLS, ROWS), interpolation=cv2.INTER_CUBIC))


def _frames(count: int, *, edit: str, seed: int = 5) -> Iterator[np.ndarray]:
    """A panning textured scene; ``sparse``: a 240×240 box in frames 1–10 of every 30 (a third of
    the frames, in runs as replaced spans come); ``dense``: every frame brightened with a moving
    pattern over the whole picture."""
    rng = np.random.default_rng(seed)
    base = _background(rng)
    pattern = (np.indices((ROWS, COLS)).sum(axis=0) % 64 < 32).astype(np.uint8) * 40
    for index in range(count):
        frame = np.roll(base, 4 * index, axis=1)
        if edit == "sparse" and index % 30 < 10:
            frame = frame.copy()
            frame[300:540, 600:840] = 250
        elif edit == "dense":
            frame = cv2.add(frame, np.dstack([np.roll(pattern, index, axis=0)] * 3))
        yield frame


def _write(path: Path, count: int, edit: str) -> Path:
    return video.write_video(path, _frames(count, edit=edit), rate=RATE, codec="libx264", options=X264)


def decode_fps(path: Path) -> float:
    began = time.perf_counter()
    count = sum(1 for _ in video.iter_frames(path))
    return count / (time.perf_counter() - began)


def pairs_per_second(source: Path, target: Path, folder: Path) -> tuple[float, int, int]:
    began = time.perf_counter()
    result = detect_changes(source, target, directory=folder, prefix=target.stem)
    seconds = time.perf_counter() - began
    changed = sum(s.frames for s in result.segments)
    return result.frames_compared / seconds, result.frames_compared, changed


_CHILD = """
import sys, time
from masksmith.journal.project import Journal
began = time.perf_counter()
j = Journal.create(sys.argv[1], sys.argv[3])
j.record(j.graph.base_node(), sys.argv[2], op="PasteFrames", arguments={"add type": "replace", "Start Time": 1})
# VmHWM is this process's own peak (ru_maxrss would include the parent's peak from before exec)
peak = next(line for line in open("/proc/self/status") if line.startswith("VmHWM")).split()[1]
print(time.perf_counter() - began, int(peak) / 1024)
"""


def one_minute_edit(source: Path, target: Path, folder: Path) -> tuple[float, float]:
    """Journal.create + record of a replace edit, in a child process: (seconds, peak RSS MB)."""
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(source), str(target), str(folder / "minute")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return float(out[0]), float(out[1])


def run(*, seconds: int = 60, pairs: int = 150) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        src = _write(folder / "src.mp4", pairs, "none")
        sparse = _write(folder / "sparse.mp4", pairs, "sparse")
        dense = _write(folder / "dense.mp4", pairs, "dense")
        floor = decode_fps(src)
        sparse_rate, n_sparse, c_sparse = pairs_per_second(src, sparse, folder)
        dense_rate, n_dense, c_dense = pairs_per_second(src, dense, folder)
        rows: list[tuple[object, ...]] = [
            ("decode only (one stream, the floor)", f"{floor:.1f} frames/s", "", ""),
            ("compare + HDF5, sparse (box in 1/3 of frames, 10-frame runs)", f"{sparse_rate:.1f} pairs/s", "≥ 20",
             f"{n_sparse} pairs, {c_sparse} frames masked"),
            ("compare + HDF5, dense (every frame, whole picture)", f"{dense_rate:.1f} pairs/s", "≥ 10",
             f"{n_dense} pairs, {c_dense} frames masked"),
        ]  # fmt: skip
        if seconds > 0:
            frames = seconds * RATE
            long_src = _write(folder / "minute_src.mp4", frames, "none")
            long_edit = _write(folder / "minute_edit.mp4", frames, "sparse")
            wall, rss = one_minute_edit(long_src, long_edit, folder)
            rows.append(
                (f"{seconds} s 1080p30 edit recorded (journal new + add)", f"{wall:.1f} s", "≤ 90 s",
                 f"peak RSS {rss:.0f} MB (≤ 500 MB)")
            )  # fmt: skip
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    title = f"Video journals, 1920×1080 H.264 (libx264 {X264['preset']}, crf {X264['crf']}); bench process {own:.0f} MB"
    return title + "\n\n" + table(("step", "measured", "target", "notes"), rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=60, help="length of the long edit (0 skips it)")
    parser.add_argument("--pairs", type=int, default=150, help="frames in the pair-rate clips")
    args = parser.parse_args()
    print(run(seconds=args.seconds, pairs=args.pairs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
