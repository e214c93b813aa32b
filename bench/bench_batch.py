"""Batch throughput: a base → OutputPNG → MedianBlur spec over 1920×1080 JPEG bases.

Reports projects per minute at ``--threads 1`` and ``--threads 2`` (target: 2 threads ≥ 1.7× one) and
the journaling overhead: the share of the single-thread run spent outside the plugins' ``transform``
(picking, copying the base, comparisons, mask PNGs, JSON, renaming finals, state files; target ≤ 30%).
The built-in plugins are used when installed; otherwise equivalent bench-local plugins are registered.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bench.common import table
from masksmith.batch.executor import BatchExecutor
from masksmith.batch.project import BatchProject
from masksmith.media import io as media_io
from masksmith.plugins import Plugin, PluginContext, PluginResult, all_plugins, register_plugin

ROWS, COLS = 1080, 1920
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


def _run(root: Path, pool: Path, threads: int, count: int) -> tuple[float, float]:
    global _plugin_seconds
    _plugin_seconds = 0.0
    executor = BatchExecutor(
        root / f"projects-{threads}",
        workdir=root / f"work-{threads}",
        global_variables={"pool": str(pool)},
        threads_count=threads,
        seed=1,
        progress=False,
    )
    start = time.perf_counter()
    summary = executor.run_project(BatchProject(SPEC), count)
    elapsed = time.perf_counter() - start
    executor.finish()
    if summary.made != count:
        raise RuntimeError(f"benchmark run failed: {summary.line()} {summary.failures[:1]}")
    return elapsed, _plugin_seconds


def run(count: int = 8) -> str:
    source = _install_plugins()
    rng = np.random.default_rng(3)
    rows: list[tuple[Any, ...]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        pool = root / "pool"
        pool.mkdir()
        for i in range(count):
            media_io.write_image(pool / f"base{i:02d}.jpg", _photo_like(rng), quality=92)
        _run(root / "warm", pool, 1, 1)  # imports, caches
        results = {}
        for threads in (1, 2):
            elapsed, plugin = _run(root, pool, threads, count)
            results[threads] = (elapsed, plugin)
        one, two = results[1][0], results[2][0]
        overhead = 1.0 - results[1][1] / one
        rows.append(("projects/minute, --threads 1", f"{count / one * 60:.1f}", ""))
        rows.append(("projects/minute, --threads 2", f"{count / two * 60:.1f}", ""))
        rows.append(("speed-up 2 vs 1 thread", f"{one / two:.2f}×", "≥ 1.7×"))
        rows.append(("journaling overhead (1 thread)", f"{overhead * 100:.0f}%", "≤ 30%"))
    header = (
        f"batch: base → OutputPNG → MedianBlur, {COLS}×{ROWS} JPEG bases, {count} projects, "
        f"{source} plugins, {os.cpu_count()} CPUs"
    )
    return header + "\n\n" + table(("measure", "value", "target"), rows)


if __name__ == "__main__":
    print(run())
