"""Ray executor vs the local pool on this machine: batch create, anonymisation, per-task overhead.

Run from the repository root: ``.venv/bin/python -m bench.bench_ray [batch] [anonymise] [overhead]`` (a
few minutes). Both sides use 2 workers: the local side its thread pool or 2 worker processes (batch:
``threads_count=2``, every executor through ``run_items``; anonymise: one detection worker
per core and ``max_num_async_workers: 2`` writers), the Ray side 2 actors on a private local cluster
(``ray.init(num_cpus=2)``, started before timing). Every run writes to fresh folders; each time is the
best of ``REPEAT``. Throughput is the steady state: the slope between a run of ``SMALL`` and one of
``LARGE`` items, so fixed costs cancel out; those fixed costs (Ray: starting the actors, which import
masksmith and load the models once each) are reported as start-up seconds.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bench.common import table

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a private cluster on loopback, as in the tests

REPEAT = 2
SMALL, LARGE = 20, 60
TASKS = 400


def _batch_inputs(work: Path) -> tuple[Path, dict[str, Any]]:
    from tests.batch import batch_fixtures as fx

    fx.make_pool(work / "pool", LARGE, rows=480, cols=640)
    spec = fx.spec(
        [
            fx.base_node(work / "pool"),
            fx.plugin_node("png", "OutputPNG"),
            fx.plugin_node("blur", "GaussianBlur", {"kernelsize": {"type": "int[3:15]"}}),
            fx.plugin_node("median", "MedianBlur", {"kernelSize": {"type": "int[3:9]"}}),
        ],
        [("base", "png"), ("png", "blur"), ("blur", "median")],
    )
    return work / "pool", spec


def _batch_create(work: Path, spec: dict[str, Any], executor: Any, tag: str, count: int) -> float:
    from masksmith.batch.executor import BatchExecutor
    from masksmith.batch.project import BatchProject

    runner = BatchExecutor(
        work / f"p-{tag}",
        workdir=work / f"w-{tag}",
        threads_count=2,
        seed=1,
        executor=executor,
        progress=False,
    )
    start = time.perf_counter()
    summary = runner.run_project(BatchProject(spec), count)
    seconds = time.perf_counter() - start
    runner.finish()
    assert summary.made == count, summary.line()
    return seconds


def _anonymise_inputs(work: Path) -> tuple[Path, Any]:
    from masksmith.anonymise.config import load_config
    from tests.anonymise.road_scenes import road_scene

    rng = np.random.default_rng(5)
    folder = work / "scenes"
    for i in range(LARGE):
        image, _ = road_scene(rng, [32, 64, 120], height=720, width=1280)
        target = folder / ("small" if i < SMALL else "more") / f"scene_{i:02d}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(target, "JPEG", quality=90)
    config_file = work / "anon.yml"
    values = {"detectors": ["centerface"], "max_num_async_workers": 2}
    config_file.write_text("\n".join(f"{k}: {json.dumps(v)}" for k, v in values.items()) + "\n")
    return folder, load_config(config_file)


def _anonymise(work: Path, scenes: Path, config: Any, executor: Any, tag: str, count: int) -> float:
    from masksmith.anonymise.pipeline import anonymise

    source = scenes / "small" if count == SMALL else scenes
    start = time.perf_counter()
    summary = anonymise(source, work / f"out-{tag}", config=config, progress=False, executor=executor)
    seconds = time.perf_counter() - start
    assert summary.masked == count, summary.lines()
    return seconds


def _noop_setup() -> None:
    return None


def _noop(state: None, item: int) -> int:
    return item


def _overhead_ms(executor: Any) -> float:
    """Milliseconds per trivial task through a 2-worker pool (dispatch, transfer, result)."""
    pool = executor.pool(_noop_setup, _noop, name="noop")
    [f.result() for f in [pool.submit(i) for i in range(50)]]  # actors up, warm
    start = time.perf_counter()
    results = [f.result() for f in [pool.submit(i) for i in range(TASKS)]]
    seconds = time.perf_counter() - start
    pool.close()
    assert results == list(range(TASKS))
    return seconds / TASKS * 1000.0


def _rate(fn: Callable[[str, int], float]) -> tuple[float, float]:
    """(items per second in the steady state, fixed start-up seconds) from best-of runs at two sizes."""
    small = min(fn(f"s{i}", SMALL) for i in range(REPEAT))
    large = min(fn(f"l{i}", LARGE) for i in range(REPEAT))
    rate = (LARGE - SMALL) / (large - small)
    return rate, max(0.0, small - SMALL / rate)


def run(parts: tuple[str, ...] = ("batch", "anonymise", "overhead")) -> str:
    """The table for ``parts`` (``batch``: threads, processes and Ray; ``anonymise``; ``overhead``)."""
    import ray

    from masksmith.executors import LocalExecutor, ProcessExecutor
    from masksmith.executors.ray_pool import RayExecutor

    started_here = not ray.is_initialized()
    if started_here:
        ray.init(
            address="local",
            num_cpus=2,
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            log_to_driver=False,
        )
    rows: list[tuple[object, ...]] = []

    def row(what: str, unit: str, local: tuple[float, float], distributed: tuple[float, float]) -> None:
        rows.append(
            (
                what,
                f"{local[0]:.1f} {unit}/s (+{local[1]:.1f} s)",
                f"{distributed[0]:.1f} {unit}/s (+{distributed[1]:.1f} s)",
                f"{distributed[0] / local[0]:.2f}×",
            )
        )

    try:
        with tempfile.TemporaryDirectory(prefix="bench-ray-") as tmp:
            work = Path(tmp)
            ray_ex = RayExecutor(2)
            if "batch" in parts:
                _, spec = _batch_inputs(work)
                threads = _rate(lambda t, n: _batch_create(work, spec, LocalExecutor(2), f"local{t}", n))
                processes = _rate(lambda t, n: _batch_create(work, spec, ProcessExecutor(2), f"proc{t}", n))
                on_ray = _rate(lambda t, n: _batch_create(work, spec, ray_ex, f"ray{t}", n))
                row("batch create (480×640, 3 operations), local threads", "projects", threads, on_ray)
                row("batch create (480×640, 3 operations), local processes", "projects", processes, on_ray)
            if "anonymise" in parts:
                scenes, config = _anonymise_inputs(work)
                anon_local = _rate(lambda t, n: _anonymise(work, scenes, config, None, f"local{t}", n))
                anon_ray = _rate(lambda t, n: _anonymise(work, scenes, config, ray_ex, f"ray{t}", n))
                row("anonymise (1280×720 JPEG, CenterFace)", "img", anon_local, anon_ray)
            if "overhead" in parts:
                with LocalExecutor(2) as local_ex:
                    local_ms = _overhead_ms(local_ex)
                ray_ms = _overhead_ms(ray_ex)
                rows.append(
                    (f"per-task overhead ({TASKS} no-op tasks)", f"{local_ms:.3f} ms", f"{ray_ms:.3f} ms", "")
                )
            ray_ex.shutdown()
    finally:
        if started_here:
            ray.shutdown()
    return (
        f"Ray executor (2 actors, local cluster) vs local pool (2 workers), {os.cpu_count()} CPUs; "
        f"steady-state throughput from {SMALL}- and {LARGE}-item runs (best of {REPEAT}), fixed start-up "
        "seconds in brackets\n\n" + table(("work", "local pool", "Ray", "Ray / local throughput"), rows)
    )


if __name__ == "__main__":
    print(run(tuple(sys.argv[1:]) or ("batch", "anonymise", "overhead")))
