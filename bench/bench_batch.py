"""Batch throughput: a base → OutputPNG → MedianBlur spec over 1920×1080 JPEG bases.

Reports steady-state projects per minute with 1 and 2 workers for ``--executor threads`` and
``--executor processes`` (target: 2 processes ≥ 1.8× one; threads share the GIL with journaling's
Python) and the journaling overhead: the share of the single-thread run spent outside the plugins'
``transform`` (picking, copying the base, comparisons and link measures, mask PNGs, JSON, renaming
finals, state files; target ≤ 30%). The built-in plugins are used when installed (worker processes load
only those); otherwise equivalent bench-local plugins are registered and only threads are measured.

``python -m bench.bench_batch [threads] [processes]``.
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from bench.common import table
from masksmith.batch.executor import BatchExecutor
from masksmith.batch.project import BatchProject
from masksmith.executors import Executor, create_executor, usable_cpus
from masksmith.journal.project import Journal
from masksmith.media import io as media_io
from masksmith.plugins import Plugin, PluginContext, PluginResult, all_plugins, register_plugin

ROWS, COLS = 1080, 1920
SMALL, LARGE = 6, 24  # projects per run; the slope between them is the steady state
_plugin_seconds = 0.0
_plugin_lock = threading.Lock()


class _BenchOutputPNG(Plugin):
    name = "OutputPNG"
    operation = "OutputPng"
    suffix = ".png"

    def transform(self, context: PluginContext) -> PluginResult:
        pixels = context.pixels()
        media_io.write_image(context.target, pixels)
        return PluginResult(target_pixels=pixels)


class _BenchMedianBlur(Plugin):
    name = "MedianBlur"
    operation = "Blur"

    def transform(self, context: PluginContext) -> PluginResult:
        pixels = cv2.medianBlur(np.ascontiguousarray(context.pixels()), 5)
        media_io.write_image(context.target, pixels)
        return PluginResult(target_pixels=pixels)


def _timed(cls: type[Plugin]) -> type[Plugin]:
    """A subclass whose transform time is added to the plugin total (the rest is journaling)."""

    class Timed(cls):  # type: ignore[valid-type, misc]
        def transform(self, context: PluginContext) -> PluginResult:
            global _plugin_seconds
            start = time.perf_counter()
            try:
                return super().transform(context)
            finally:
                with _plugin_lock:
                    _plugin_seconds += time.perf_counter() - start

    Timed.__name__ = cls.__name__
    return Timed


def _install_plugins() -> str:
    installed = all_plugins()
    builtin = "OutputPNG" in installed and "MedianBlur" in installed
    png = installed["OutputPNG"] if builtin else _BenchOutputPNG
    blur = installed["MedianBlur"] if builtin else _BenchMedianBlur
    register_plugin(_timed(png), name="OutputPNG")
    register_plugin(_timed(blur), name="MedianBlur")
    return "built-in" if builtin else "bench-local"


def _photo_like(rng: np.random.Generator) -> np.ndarray:
    small = rng.integers(0, 256, size=(ROWS // 24, COLS // 24, 3), dtype=np.uint8)
    image = cv2.resize(small, (COLS, ROWS), interpolation=cv2.INTER_CUBIC)
    noise = rng.integers(0, 6, size=image.shape, dtype=np.uint8)
    return np.ascontiguousarray(cv2.add(image, noise))


SPEC = {
    "graph": {"name": "bench", "organization": "bench", "projectdescription": "b", "technicalsummary": "b"},
    "nodes": [
        {"id": "base", "op_type": "BaseSelection", "image_directory": "{pool}", "picklist": "pool"},
        {"id": "png", "op_type": "PluginOperation", "plugin": "OutputPNG", "arguments": {}},
        {
            "id": "blur",
            "op_type": "PluginOperation",
            "plugin": "MedianBlur",
            "arguments": {"kernelSize": 5, "percentageChange": 1.0},
        },
    ],
    "links": [{"source": "base", "target": "png"}, {"source": "png", "target": "blur"}],
}


@dataclass(frozen=True)
class _Run:
    seconds: float  # wall clock
    plugin: float  # inside the plugins' transform, on the driver's threads
    driver_cpu: float  # CPU seconds of this process (the coordinator, and the threads' work)
    worker_cpu: float  # CPU seconds of worker processes (joined at the end of the run)


def _create(root: Path, pool: Path, executor: Executor, tag: str, count: int) -> _Run:
    global _plugin_seconds
    _plugin_seconds = 0.0
    runner = BatchExecutor(
        root / f"projects-{tag}",
        workdir=root / f"work-{tag}",
        global_variables={"pool": str(pool)},
        seed=1,
        progress=False,
        executor=executor,
    )
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu, start = time.process_time(), time.perf_counter()
    summary = runner.run_project(BatchProject(SPEC), count)
    runner.finish()  # worker processes are joined: part of the run's cost
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    workers = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
    if summary.made != count:
        raise RuntimeError(f"benchmark run failed: {summary.line()} {summary.failures[:1]}")
    return _Run(elapsed, _plugin_seconds, cpu, workers)


def _run(root: Path, pool: Path, threads: int, count: int) -> tuple[float, float]:
    """(seconds, plugin seconds) of ``count`` projects on ``threads`` threads (used by bench_jt_fidelity)."""
    made = _create(root, pool, create_executor("threads", workers=threads), f"t{threads}", count)
    return made.seconds, made.plugin


def _overhead_without_link_measures(root: Path, pool: Path) -> float:
    """The single-thread overhead with the journal's link measures (PSNR, SSIM; issue 21) switched off."""
    original = Journal._edge_measures
    Journal._edge_measures = lambda self, *a, **k: {}  # type: ignore[method-assign]
    try:
        made = _create(root, pool, create_executor("threads", workers=1), "nomeasures", LARGE)
    finally:
        Journal._edge_measures = original  # type: ignore[method-assign]
    return 1.0 - made.plugin / made.seconds


@dataclass(frozen=True)
class _Rate:
    per_second: float  # steady-state projects per second
    startup: float  # fixed seconds of a run
    plugin_share: float  # of the large run's wall clock
    driver_cpu: float  # steady-state CPU seconds per project, coordinator
    worker_cpu: float  # steady-state CPU seconds per project, worker processes


def _rate(root: Path, pool: Path, kind: str, workers: int) -> _Rate:
    """The slope between a SMALL and a LARGE run: fixed costs (spawning and importing worker
    processes, reading the spec) cancel out, as they would over a long run."""
    small = _create(root, pool, create_executor(kind, workers=workers), f"{kind}{workers}s", SMALL)
    large = _create(root, pool, create_executor(kind, workers=workers), f"{kind}{workers}l", LARGE)
    rate = (LARGE - SMALL) / max(large.seconds - small.seconds, 1e-9)
    return _Rate(
        rate,
        max(0.0, small.seconds - SMALL / rate),
        large.plugin / large.seconds,
        (large.driver_cpu - small.driver_cpu) / (LARGE - SMALL),
        (large.worker_cpu - small.worker_cpu) / (LARGE - SMALL),
    )


def run(kinds: tuple[str, ...] = ("threads", "processes")) -> str:
    source = _install_plugins()
    if source != "built-in":
        kinds = tuple(k for k in kinds if k != "processes")  # spawned workers load installed plugins only
    rng = np.random.default_rng(3)
    rows: list[tuple[object, ...]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        pool = root / "pool"
        pool.mkdir()
        for i in range(LARGE):
            media_io.write_image(pool / f"base{i:02d}.jpg", _photo_like(rng), quality=92)
        _create(root / "warm", pool, create_executor("threads", workers=1), "warm", 1)  # imports, caches
        results = {(kind, workers): _rate(root, pool, kind, workers) for kind in kinds for workers in (1, 2)}
        unmeasured = _overhead_without_link_measures(root, pool)
    for (kind, workers), measured in results.items():
        rows.append(
            (
                f"projects/minute, --executor {kind} --threads {workers}",
                f"{measured.per_second * 60:.1f}",
                f"+{measured.startup:.1f} s",
                "",
            )
        )
    for kind in kinds:
        gain = results[(kind, 2)].per_second / results[(kind, 1)].per_second
        rows.append((f"speed-up 2 vs 1 {kind}", f"{gain:.2f}×", "", "≥ 1.8×" if kind == "processes" else ""))
    if "processes" in kinds:
        gain = results[("processes", 2)].per_second / results[("threads", 1)].per_second
        rows.append(("speed-up 2 processes vs 1 thread", f"{gain:.2f}×", "", ""))
        # what the load of a shared machine cannot blur: CPU seconds per project, coordinator and
        # workers; on 2 idle cores 2 workers reach at most 2w / (d + w) (the coordinator takes a share)
        two = results[("processes", 2)]
        d, w = two.driver_cpu, two.worker_cpu
        rows.append(
            (
                "CPU per project, 2 processes: coordinator / workers",
                f"{d * 1000:.0f} / {w * 1000:.0f} ms",
                "",
                "",
            )
        )
        rows.append(
            ("speed-up bound on 2 idle cores, 2w / (d + w)", f"{2 * w / max(d + w, 1e-9):.2f}×", "", "≥ 1.8×")
        )
    overhead = 1.0 - results[("threads", 1)].plugin_share
    rows.append(("journaling overhead (1 thread)", f"{overhead * 100:.0f}%", "", "≤ 30%"))
    rows.append(("journaling overhead, link measures off", f"{unmeasured * 100:.0f}%", "", "(≤ 30%)"))
    header = (
        f"batch: base → OutputPNG → MedianBlur, {COLS}×{ROWS} JPEG bases, {source} plugins, "
        f"{usable_cpus()} usable CPUs, load average {os.getloadavg()[0]:.1f}; steady-state throughput from {SMALL}- and {LARGE}-project runs "
        "(start-up seconds: the fixed cost of a run)"
    )
    return header + "\n\n" + table(("measure", "value", "start-up", "target"), rows)


if __name__ == "__main__":
    print(run(tuple(sys.argv[1:]) or ("threads", "processes")))
