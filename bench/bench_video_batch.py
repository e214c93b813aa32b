"""Video batch projects (issue 18): a 10 s 1080p30 H.264 base with audio through a 4-operation video
spec (FrameDrop → VideoBlur → VideoCopyPasteFrames → OutputX264), projects per minute at
``--threads`` 1 and 2, and where one project's time goes (decode, encode, compare, HDF5, other),
timed around the media, comparison and HDF5 calls in a one-thread run.

``python -m bench.bench_video_batch [--seconds 10] [--projects 2]``
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
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


class _Clock:
    """Exclusive time per step: entering a step pauses the one around it (per thread)."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}
        self.local = threading.local()

    def _stack(self) -> list[list[Any]]:
        if not hasattr(self.local, "stack"):
            self.local.stack = []
        return self.local.stack  # type: ignore[no-any-return]

    def enter(self, name: str) -> None:
        now, stack = time.perf_counter(), self._stack()
        if stack:
            self.totals[stack[-1][0]] = self.totals.get(stack[-1][0], 0.0) + now - stack[-1][1]
        stack.append([name, now])

    def leave(self) -> None:
        now, stack = time.perf_counter(), self._stack()
        name, began = stack.pop()
        self.totals[name] = self.totals.get(name, 0.0) + now - began
        if stack:
            stack[-1][1] = now

    def wrap(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            self.enter(name)
            try:
                return function(*args, **kwargs)
            finally:
                self.leave()

        return timed

    def wrap_iter(self, name: str, function: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
        def timed(*args: Any, **kwargs: Any) -> Iterator[Any]:
            inner = function(*args, **kwargs)
            while True:
                self.enter(name)
                try:
                    item = next(inner)
                except StopIteration:
                    return
                finally:
                    self.leave()
                yield item

        return timed


def _patched(clock: _Clock) -> list[tuple[Any, str, Any]]:
    """Install the timers; returns what to restore."""
    from masksmith.journal import hdf5, video_compare, video_record
    from masksmith.media import audio

    targets = [
        (video, "iter_frames", clock.wrap_iter("decode", video.iter_frames)),
        (video, "write_video", clock.wrap("encode", video.write_video)),
        (video, "probe_video", clock.wrap("probe", video.probe_video)),
        (audio, "read_pcm", clock.wrap("audio decode", audio.read_pcm)),
        (video_record, "compare_temporal", clock.wrap("compare", video_record.compare_temporal)),
        (video_compare._SegmentFiles, "add", clock.wrap("HDF5", video_compare._SegmentFiles.add)),
        (video_compare._SegmentFiles, "close_run", clock.wrap("HDF5", video_compare._SegmentFiles.close_run)),
    ]
    del hdf5
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in targets]
    for owner, name, value in targets:
        setattr(owner, name, value)
    return saved


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
    """One project at one thread with each step timed (exclusive of the steps it calls)."""
    clock = _Clock()
    saved = _patched(clock)
    clock.enter("other")
    try:
        seconds = run(pool, folder, threads=1, projects=1, seed=7)
    finally:
        clock.leave()
        for owner, name, value in saved:
            setattr(owner, name, value)
    clock.totals.pop("other", None)
    clock.totals["other (plugins' pixel work, journal, waiting)"] = seconds - sum(clock.totals.values())
    return clock.totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--projects", type=int, default=2)
    parser.add_argument("--profile-only", action="store_true", help="skip the projects/minute runs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        pool = _pool(folder, args.seconds, args.projects * 2 + 1)
        rows = []
        for threads in () if args.profile_only else (1, 2):
            seconds = run(pool, folder / f"t{threads}", threads=threads, projects=args.projects)
            rows.append((threads, args.projects, f"{seconds:.1f}", f"{60 * args.projects / seconds:.2f}"))
        if rows:
            print(table(("--threads", "projects", "wall s", "projects/minute"), rows))
        buckets = profile(pool, folder / "profile")
        total = sum(buckets.values())
        print()
        print(table(("step", "s (one project)", "share"),
                    [(k, f"{v:.1f}", f"{100 * v / total:.0f}%") for k, v in sorted(buckets.items(), key=lambda i: -i[1])]))  # fmt: skip


if __name__ == "__main__":
    main()
