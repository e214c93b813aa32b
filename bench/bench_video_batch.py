"""Video batch projects (issue 18): a 10 s 1080p30 H.264 base with audio through a 4-operation video
spec (FrameDrop → VideoBlur → VideoCopyPasteFrames → OutputX264), projects per minute at
``--threads`` 1 and 2, and where one project's time goes (decode, encode, compare, HDF5, other),
from a cProfile of a one-thread run.

``python -m bench.bench_video_batch [--seconds 10] [--projects 2]``
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.bench_video import RATE, X264, _frames
from bench.common import table
from masksmith.batch.executor import BatchExecutor
from masksmith.batch.project import BatchProject
from masksmith.media import video
from tests import media_clips as clips

GRAPH = {"name": "video-bench", "organization": "bench", "projectdescription": "d", "technicalsummary": "t"}


def _plugin(node_id: str, plugin: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"id": node_id, "op_type": "PluginOperation", "plugin": plugin, "arguments": arguments}


SPEC: dict[str, Any] = {
    "directed": True,
    "multigraph": False,
    "graph": GRAPH,
    "nodes": [
        {"id": "base", "op_type": "BaseSelection", "image_directory": "{image_dir}", "filetypes": ["mp4"]},
        _plugin("cut", "FrameDrop", {"Start Time": {"type": "int[30:120]"}, "Frames": {"type": "int[15:45]"}}),
        _plugin("blur", "VideoBlur", {"Start Time": {"type": "int[60:90]"}, "End Time": {"type": "int[120:150]"},
                                      "kernelsize": 21}),
        _plugin("paste", "VideoCopyPasteFrames", {"add type": "replace", "Select Start Time": {"type": "int[1:30]"},
                                                  "Number of Frames": 15, "Dest Paste Time": 200}),
        _plugin("out", "OutputX264", {"crf": 20}),
    ],
    "links": [
        {"source": "base", "target": "cut"},
        {"source": "cut", "target": "blur"},
        {"source": "blur", "target": "paste"},
        {"source": "paste", "target": "out"},
    ],
}  # fmt: skip

# where cProfile's own-time entries go: a substring of "file:function" → bucket
BUCKETS = (
    ("decode", ("method 'decode'", "to_ndarray", "iter_frames", "_packet_times", "method 'demux'")),
    ("encode", ("method 'encode'", "method 'mux'", "from_ndarray", "write_video", "_encode_audio")),
    ("HDF5", ("h5py", "hdf5")),
    ("compare", ("video_compare", "absdiff", "morphology", "GaussianBlur", "compare_pcm", "frame_change")),
)


def _bucket(key: tuple[str, int, str]) -> str:
    text = f"{key[0]}:{key[2]}"
    for name, needles in BUCKETS:
        if any(n in text for n in needles):
            return name
    return "other"


def _pool(folder: Path, seconds: float, count: int) -> Path:
    pool = folder / "pool"
    pool.mkdir(parents=True)
    frames = round(seconds * RATE)
    first = video.write_video(
        pool / "base0.mp4", _frames(frames, edit="none"), rate=RATE, codec="libx264", options=X264,
        audio=clips.tone(seconds), sample_rate=clips.SAMPLE_RATE,
    )  # fmt: skip
    for index in range(1, count):
        shutil.copyfile(first, pool / f"base{index}.mp4")
    return pool


def run(pool: Path, folder: Path, *, threads: int, projects: int, seed: int = 1) -> float:
    executor = BatchExecutor(
        folder / "projects", workdir=folder / "work", global_variables={"image_dir": str(pool)},
        seed=seed, threads_count=threads,
    )  # fmt: skip
    began = time.perf_counter()
    try:
        summary = executor.run_project(BatchProject(SPEC), projects)
    finally:
        executor.finish()
    seconds = time.perf_counter() - began
    if summary.failed or summary.made != projects:
        raise SystemExit(f"bench failed: {summary.failures}")
    return seconds


def profile(pool: Path, folder: Path) -> dict[str, float]:
    profiler = cProfile.Profile()
    profiler.enable()
    run(pool, folder, threads=1, projects=1, seed=7)
    profiler.disable()
    stats = pstats.Stats(profiler)
    buckets: dict[str, float] = {}
    for key, (_, _, own, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        name = _bucket(key)
        buckets[name] = buckets.get(name, 0.0) + own
    return buckets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--projects", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        pool = _pool(folder, args.seconds, args.projects * 2 + 1)
        rows = []
        for threads in (1, 2):
            seconds = run(pool, folder / f"t{threads}", threads=threads, projects=args.projects)
            rows.append((threads, args.projects, f"{seconds:.1f}", f"{60 * args.projects / seconds:.2f}"))
        print(table(("--threads", "projects", "wall s", "projects/minute"), rows))
        buckets = profile(pool, folder / "profile")
        total = sum(buckets.values())
        print()
        print(table(("step", "s (one project)", "share"),
                    [(k, f"{v:.1f}", f"{100 * v / total:.0f}%") for k, v in sorted(buckets.items(), key=lambda i: -i[1])]))  # fmt: skip


if __name__ == "__main__":
    main()
