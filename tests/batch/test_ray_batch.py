"""Batch create on a real local Ray cluster: same journals as the local executor, kill-safe workers."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from masksmith.batch.executor import BatchExecutor, BatchSummary
from masksmith.batch.project import BatchProject
from masksmith.batch.state import read_lines
from masksmith.executors import LocalExecutor
from masksmith.journal.project import Journal
from tests.batch import batch_fixtures as fx
from tests.ray_cluster import ray_cluster  # noqa: F401  (the session fixture)

COUNT = 20


def _spec(pool: Path, donors: Path) -> dict[str, Any]:
    """Built-in plugins only (Ray workers load plugins from the installed package), random arguments."""
    return fx.spec(
        [
            fx.base_node(pool),
            {
                "id": "donor",
                "op_type": "ImageSelection",
                "image_directory": str(donors),
                "picklist": "donors",
            },
            fx.plugin_node("png", "OutputPNG"),
            fx.plugin_node("blur", "GaussianBlur", {"kernelsize": {"type": "int[3:15]"}}),
            fx.plugin_node(
                "median",
                "MedianBlur",
                {"kernelSize": {"type": "int[3:9]"}, "percentageChange": {"type": "float[0.2:0.9]"}},
            ),
            fx.plugin_node("paste", "PasteSplice", {"donor": {"type": "donor", "source": "donor"}}),
        ],
        [
            ("base", "png"),
            ("png", "blur"),
            ("blur", "median"),
            ("median", "paste"),
            {"source": "donor", "target": "paste", "donor": True},
        ],
    )


@pytest.fixture(scope="module")
def pools(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("pools")
    fx.make_pool(root / "pool", COUNT + 4, seed=11)
    fx.make_pool(root / "donors", COUNT + 4, seed=12, suffix=".jpg")
    return root / "pool", root / "donors"


def _create(
    root: Path, pools: tuple[Path, Path], executor: Any, count: int = COUNT, seed: int = 7
) -> BatchSummary:
    project = BatchProject(_spec(*pools))
    runner = BatchExecutor(
        root / "projects",
        workdir=root / "work",
        threads_count=2,
        seed=seed,
        executor=executor,
        progress=False,
    )
    try:
        runner.run_project(project, count)
    finally:
        summary = runner.finish()
    return summary


def _journals(projects: Path) -> dict[str, dict[str, Any]]:
    """Per project: each edge's arguments and the bytes of each mask and media file."""
    out: dict[str, dict[str, Any]] = {}
    for folder in sorted(p for p in projects.iterdir()):
        assert not folder.name.startswith("."), f"partial directory left: {folder.name}"
        journal = Journal.open(folder)
        edges = {
            f"{a}->{b}": {
                "op": data.get("op"),
                "arguments": data.get("arguments"),
                "mask": (folder / data["maskname"]).read_bytes(),
            }
            for a, b, data in journal.graph.edges()
        }
        files = {data["file"]: (folder / data["file"]).read_bytes() for _, data in journal.graph.nodes()}
        out[folder.name] = {"edges": edges, "files": files}
    return out


@pytest.fixture(scope="module")
def local_run(tmp_path_factory: pytest.TempPathFactory, pools: tuple[Path, Path]) -> Path:
    root = tmp_path_factory.mktemp("local")
    summary = _create(root, pools, LocalExecutor(2))
    assert (summary.made, summary.failed) == (COUNT, 0)
    return root


@pytest.mark.usefixtures("ray_cluster")
def test_ray_create_makes_the_same_journals_as_the_local_executor(
    pools: tuple[Path, Path], local_run: Path, tmp_path: Path
) -> None:
    from masksmith.executors.ray_pool import RayExecutor

    executor = RayExecutor(2)
    summary = _create(tmp_path, pools, executor)
    executor.shutdown()
    assert (summary.made, summary.failed, summary.skipped) == (COUNT, 0, 0)
    ray_journals = _journals(tmp_path / "projects")
    local_journals = _journals(local_run / "projects")
    assert sorted(ray_journals) == sorted(local_journals)
    drawn = set()
    for name, journal in local_journals.items():
        assert ray_journals[name] == journal, f"journal {name} differs"
        drawn.add(json.dumps(sorted(str(e["arguments"]) for e in journal["edges"].values())))
    assert len(drawn) == COUNT  # the arguments were drawn per project, not copied
    for picklist in ("pool", "donors"):
        used = read_lines(tmp_path / "work" / f"{picklist}.txt")
        assert len(used) == len(set(used)) == COUNT
        assert used == read_lines(local_run / "work" / f"{picklist}.txt")
    assert not list((tmp_path / "work" / "inflight").glob("*.json"))


def test_a_seed_gives_the_same_journals_whatever_the_local_thread_count(
    pools: tuple[Path, Path], local_run: Path, tmp_path: Path
) -> None:
    summary = _create(tmp_path, pools, LocalExecutor(1), count=6)
    assert summary.made == 6
    one_thread = _journals(tmp_path / "projects")
    two_threads = _journals(local_run / "projects")
    for name, journal in one_thread.items():
        assert two_threads[name] == journal


@pytest.mark.usefixtures("ray_cluster")
def test_a_killed_ray_worker_is_replaced_and_every_project_is_made_once(
    pools: tuple[Path, Path], local_run: Path, tmp_path: Path
) -> None:
    from masksmith.executors.ray_pool import RayExecutor

    executor = RayExecutor(2)
    killed: list[int] = []
    projects = tmp_path / "projects"
    finished = threading.Event()

    def kill_one_worker() -> None:
        while not finished.is_set():
            made = [p for p in projects.iterdir() if not p.name.startswith(".")] if projects.is_dir() else []
            pids = executor.worker_pids() if executor.pools and made else []
            if len(made) >= 3 and pids:
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])
                return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_one_worker)
    killer.start()
    try:
        summary = _create(tmp_path, pools, executor)
    finally:
        finished.set()
        killer.join()
    executor.shutdown()
    assert killed, "no worker was killed"
    assert (summary.made, summary.failed, summary.skipped) == (COUNT, 0, 0)
    made = _journals(projects)
    assert made == _journals(local_run / "projects")
    used = read_lines(tmp_path / "work" / "pool.txt")
    assert len(used) == len(set(used)) == COUNT
    assert not list((tmp_path / "work" / "inflight").glob("*.json"))


@pytest.mark.usefixtures("ray_cluster")
def test_a_killed_ray_driver_leaves_a_run_that_resumes_without_duplicates(
    pools: tuple[Path, Path], tmp_path: Path
) -> None:
    import subprocess
    import sys

    import ray

    spec = fx.write_spec(tmp_path / "spec.json", _spec(*pools))
    projects, work = tmp_path / "projects", tmp_path / "work"
    command = [
        sys.executable, "-m", "masksmith.cli.batch_cmds", "create", "--specification", str(spec),
        "--projects", str(projects), "--workdir", str(work), "--threads", "2", "--seed", "7", "--quiet",
    ]  # fmt: skip
    address = ray.get_runtime_context().gcs_address
    driver = subprocess.Popen(
        [*command, "--count", str(COUNT), "--executor", "ray", "--ray-address", address],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    made: list[Path] = []
    while driver.poll() is None:
        made = [p for p in projects.iterdir() if not p.name.startswith(".")] if projects.is_dir() else []
        if len(made) >= 3:
            driver.send_signal(signal.SIGKILL)
            break
        time.sleep(0.01)
    driver.wait()
    assert driver.returncode == -signal.SIGKILL, "the driver finished before it could be killed"
    # a project an actor was building may still land after its driver died: wait until the folder is still
    settled, last, deadline = 0.0, None, time.monotonic() + 30
    while settled < 1.5 and time.monotonic() < deadline:
        now = sorted(p.name for p in projects.iterdir())
        settled = settled + 0.25 if now == last else 0.0
        last = now
        time.sleep(0.25)
    done = len([p for p in projects.iterdir() if not p.name.startswith(".")])
    assert done < COUNT
    rerun = subprocess.run(
        [*command, "--count", str(COUNT - done)], capture_output=True, text=True, check=False
    )
    assert rerun.returncode == 0, rerun.stderr
    journals = _journals(projects)  # also: no partial folder left
    assert len(journals) == COUNT
    bases = sorted(f"{name}.png" for name in journals)
    assert sorted(read_lines(work / "pool.txt")) == bases  # every taken image belongs to one project
    assert len(read_lines(work / "donors.txt")) == COUNT
    assert not list((work / "inflight").glob("*.json"))
