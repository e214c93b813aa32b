"""BatchExecutor: threads, pools, stop on error, initializers, recovery after kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from masksmith.batch.executor import BatchExecutor
from masksmith.batch.inflight import INFLIGHT_DIR, partial_dir_name, recover_stale
from masksmith.batch.project import BatchProject
from masksmith.batch.state import read_lines
from masksmith.executors import LocalExecutor
from masksmith.journal.project import Journal
from tests.batch import batch_fixtures as fx

fx.register()
REPO = Path(__file__).resolve().parents[2]

CHAIN = fx.spec(
    [fx.base_node(), fx.plugin_node("png", "TestOutputPNG"), fx.plugin_node("blur", "TestMedian")],
    [("base", "png"), ("png", "blur")],
)


def _check_projects(projects: Path) -> list[str]:
    """Every project folder is a complete journal; returns the base node of each."""
    bases = []
    for folder in sorted(projects.iterdir()):
        assert not folder.name.startswith("."), f"partial directory left: {folder.name}"
        journal = Journal.open(folder)
        for _, data in journal.graph.nodes():
            assert (folder / data["file"]).is_file()
        for _, _, data in journal.graph.edges():
            assert (folder / data["maskname"]).is_file()
        assert journal.graph.final_nodes()
        bases.append(journal.graph.base_node())
    return bases


def test_four_threads_eight_images_eight_distinct_projects(tmp_path: Path) -> None:
    fx.make_pool(tmp_path / "pool", 8)
    executor = BatchExecutor(
        tmp_path / "projects",
        workdir=tmp_path / "work",
        global_variables={"pool": str(tmp_path / "pool")},
        threads_count=4,
        seed=2,
    )
    summary = executor.run_project(BatchProject(CHAIN), 8)
    executor.finish()
    assert (summary.made, summary.failed, summary.skipped) == (8, 0, 0)
    bases = _check_projects(tmp_path / "projects")
    assert len(bases) == 8 and len(set(bases)) == 8
    picked = read_lines(tmp_path / "work" / "pool.txt")
    assert sorted(picked) == sorted(p.name for p in (tmp_path / "pool").iterdir())
    assert not list((tmp_path / "work" / INFLIGHT_DIR).iterdir())


def test_a_retried_build_after_its_commit_reports_the_project_instead_of_making_another(
    tmp_path: Path,
) -> None:
    """A worker killed between renaming its project into place and reporting: the retry finds it."""
    from masksmith.batch.project import RunContext, SelectedProject

    fx.make_pool(tmp_path / "pool", 3)
    ctx = RunContext(
        tmp_path / "projects", tmp_path / "work", globals={"pool": str(tmp_path / "pool")}, seed=4
    )
    project = BatchProject(CHAIN)
    selected = project.select(ctx)
    assert isinstance(selected, SelectedProject)
    first = project.build(ctx, selected)
    assert first.status == "made"
    # the report was lost: the coordinator never settled, so the record still says "committing"
    again = project.build(ctx, selected)
    assert (again.status, again.name, again.directory) == ("made", first.name, first.directory)
    assert [p.name for p in (tmp_path / "projects").iterdir()] == [first.name]

    # a commit that never renamed (killed just before): the retry builds the project again
    selected2 = project.select(ctx)
    assert isinstance(selected2, SelectedProject)
    record = json.loads(selected2.record_path.read_text())
    record.update(status="committing", final="never-made", partial=".never-made.partial")
    selected2.record_path.write_text(json.dumps(record))
    rebuilt = project.build(ctx, selected2)
    assert rebuilt.status == "made" and rebuilt.name != "never-made"
    assert len(list((tmp_path / "projects").iterdir())) == 2


def test_more_projects_than_images_skips_the_rest(tmp_path: Path) -> None:
    fx.make_pool(tmp_path / "pool", 3)
    executor = BatchExecutor(
        tmp_path / "p",
        workdir=tmp_path / "w",
        global_variables={"pool": str(tmp_path / "pool")},
        threads_count=2,
    )
    summary = executor.run_project(BatchProject(CHAIN), 6)
    executor.finish()
    assert (summary.made, summary.failed, summary.skipped, summary.exhausted) == (3, 0, 3, True)
    assert summary.made + summary.failed + summary.skipped == 6


@pytest.mark.parametrize(("stop", "expected_failed"), [(True, 1), (False, 4)])
def test_stop_on_error(tmp_path: Path, stop: bool, expected_failed: int) -> None:
    fx.make_pool(tmp_path / "pool", 4)
    raw = fx.spec([fx.base_node(), fx.plugin_node("bad", "TestFails")], [("base", "bad")])
    executor = BatchExecutor(
        tmp_path / "p",
        workdir=tmp_path / "w",
        global_variables={"pool": str(tmp_path / "pool")},
        stopOnError=stop,
    )
    summary = executor.run_project(BatchProject(raw), 4)
    executor.finish()
    assert summary.failed == expected_failed and summary.stopped is stop
    assert summary.made + summary.failed + summary.skipped == 4


def initializer_for_test(state: dict[str, Any]) -> dict[str, Any]:
    return {"pool": state["pool_parent"] + "/pool", "seen_by_initializer": True}


def test_initializers_receive_globals_and_add_entries(tmp_path: Path) -> None:
    fx.make_pool(tmp_path / "pool", 1)
    executor = BatchExecutor(
        tmp_path / "p",
        workdir=tmp_path / "w",
        global_variables=f"pool_parent={tmp_path}",
        initializers=f"{__name__}.initializer_for_test",
    )
    summary = executor.run_project(BatchProject(CHAIN), 1)
    executor.finish()
    assert summary.made == 1
    assert executor.global_state["seen_by_initializer"] is True


def test_custom_executor_interface_is_used(tmp_path: Path) -> None:
    """Projects run through the executor's pool (run_items): one pool, one build per project."""
    fx.make_pool(tmp_path / "pool", 2)

    class Counting(LocalExecutor):
        pools = 0
        built = 0

        def pool(self, setup: Any, task: Any, *, name: str = "") -> Any:
            Counting.pools += 1

            def counted(state: Any, item: Any) -> Any:
                Counting.built += 1
                return task(state, item)

            return super().pool(setup, counted, name=name)

    executor = BatchExecutor(
        tmp_path / "p",
        workdir=tmp_path / "w",
        global_variables={"pool": str(tmp_path / "pool")},
        executor=Counting(1),
    )
    assert executor.run_project(BatchProject(CHAIN), 2).made == 2
    executor.finish()
    assert (Counting.pools, Counting.built) == (1, 2)


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_recovery_releases_images_of_a_killed_project_and_removes_its_partial_dir(tmp_path: Path) -> None:
    work, projects = tmp_path / "work", tmp_path / "projects"
    (work / INFLIGHT_DIR).mkdir(parents=True)
    projects.mkdir()
    pid = _dead_pid()
    (work / "pool.txt").write_text("img00.png\nimg01.png\nimg02.png\n")
    partial = projects / partial_dir_name("img01", pid)
    partial.mkdir()
    (partial / "junk.png").write_bytes(b"x")
    orphan = projects / partial_dir_name("other", pid)
    orphan.mkdir()
    record = {
        "pid": pid,
        "host": os.uname().nodename,
        "status": "building",
        "partial": partial.name,
        "picks": [{"picklist": "pool", "name": "img01.png", "group": None}],
    }
    (work / INFLIGHT_DIR / f"x-{pid}.json").write_text(json.dumps(record))
    failing = {
        **record,
        "status": "failing",
        "picks": [{"picklist": "pool", "name": "img02.png", "group": None}],
        "state": {"__global__": {"base": "img02.png"}},
        "partial": None,
    }
    (work / INFLIGHT_DIR / f"y-{pid}.json").write_text(json.dumps(failing))
    report = recover_stale(work, projects)
    assert report.released == ["img01.png"]
    assert read_lines(work / "pool.txt") == [
        "img00.png",
        "img02.png",
    ]  # the failed project's image stays used
    assert report.failures_recorded == 1 and len(list(work.glob("failures-*.txt"))) == 1
    assert not partial.exists() and not orphan.exists()
    assert not list((work / INFLIGHT_DIR).iterdir())
    assert recover_stale(work, projects).records == 0  # idempotent


def test_live_processes_are_left_alone(tmp_path: Path) -> None:
    work, projects = tmp_path / "work", tmp_path / "projects"
    (work / INFLIGHT_DIR).mkdir(parents=True)
    live = projects / partial_dir_name("mine")
    live.mkdir(parents=True)
    record = {"pid": os.getpid(), "host": os.uname().nodename, "status": "building", "picks": []}
    (work / INFLIGHT_DIR / "live.json").write_text(json.dumps(record))
    report = recover_stale(work, projects)
    assert report.records == 0 and live.exists() and (work / INFLIGHT_DIR / "live.json").exists()


RUNNER = (
    "import sys; from tests.batch import batch_fixtures as f; f.register(); "
    "from masksmith.cli.batch_cmds import main; sys.argv[0] = 'batch'; main()"
)


def _command(tmp_path: Path, spec_path: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-c", RUNNER, "create",
        "--specification", str(spec_path), "--projects", str(tmp_path / "projects"),
        "--workdir", str(tmp_path / "work"), "--global_variables", f"pool={tmp_path / 'pool'}",
        "--quiet", *extra,
    ]  # fmt: skip


def test_kill_minus_nine_at_random_points_then_rerun(tmp_path: Path) -> None:
    pool = fx.make_pool(tmp_path / "pool", 20)
    raw = fx.spec(
        [fx.base_node(), fx.plugin_node("slow", "TestSlow"), fx.plugin_node("blur", "TestMedian")],
        [("base", "slow"), ("slow", "blur")],
    )
    spec_path = fx.write_spec(tmp_path / "spec.json", raw)
    rng = np.random.default_rng(77)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    kills = 0
    for _ in range(4):
        child = subprocess.Popen(
            _command(tmp_path, spec_path, "--count", "20", "--threads", "2"),
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(float(rng.uniform(1.0, 2.0)))
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
            kills += 1
        child.wait()
    final = subprocess.run(
        _command(tmp_path, spec_path, "--count", "20", "--threads", "2"),
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert final.returncode == 0, final.stderr
    assert kills >= 2
    projects = tmp_path / "projects"
    assert not [p for p in projects.iterdir() if ".partial-" in p.name]
    bases = _check_projects(projects)
    assert len(bases) == len(set(bases)), "an image was used twice"
    picked = read_lines(tmp_path / "work" / "pool.txt")
    assert len(picked) == len(set(picked))
    # counts add up: every pool image made exactly one project; none is lost or taken by nobody
    assert sorted(bases) == sorted(p.stem for p in pool) == sorted(Path(n).stem for n in picked)
    assert not list((tmp_path / "work" / INFLIGHT_DIR).iterdir())
    assert not list((tmp_path / "work").glob("failures-*.txt"))
