"""Partial project folders and export staging folders are removed only when their owner is provably dead."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from masksmith.batch.executor import BatchExecutor
from masksmith.batch.export import STAGING_PREFIX, sweep_staging
from masksmith.batch.inflight import (
    OWNER_FILE,
    folder_owner_dead,
    partial_dir_name,
    process_start,
    recover_stale,
    write_owner,
)
from masksmith.batch.project import BatchProject
from tests.batch import batch_fixtures as fx

fx.register()


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.fixture
def other_run() -> Iterator[subprocess.Popen[bytes]]:
    """A live process standing for another run that shares the projects folder."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        yield child
    finally:
        child.kill()
        child.wait()


def _own(folder: Path, *, pid: int, start: str | None, host: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    owner = {"host": host or socket.gethostname(), "pid": pid, "start": start}
    (folder / OWNER_FILE).write_text(json.dumps(owner), encoding="utf-8")
    return folder


def test_process_start_tells_processes_apart() -> None:
    mine = process_start(os.getpid())
    assert mine is not None and mine.isdigit()
    assert process_start(_dead_pid()) is None


def test_owner_judgements(tmp_path: Path, other_run: subprocess.Popen[bytes]) -> None:
    write_owner(tmp_path / "mine")  # missing folder: written into it
    assert not folder_owner_dead(tmp_path / "mine")
    live = _own(tmp_path / "live", pid=other_run.pid, start=process_start(other_run.pid))
    assert not folder_owner_dead(live)
    assert folder_owner_dead(_own(tmp_path / "dead", pid=_dead_pid(), start="1"))
    # the pid is alive but it is another process than the one that made the folder (pid reused)
    assert folder_owner_dead(_own(tmp_path / "reused", pid=os.getpid(), start="0"))
    assert not folder_owner_dead(_own(tmp_path / "remote", pid=_dead_pid(), start="1", host="elsewhere"))
    (tmp_path / "bare").mkdir()
    assert not folder_owner_dead(tmp_path / "bare")  # no owner, no pid: not provably dead
    assert folder_owner_dead(tmp_path / "bare", name_pid=_dead_pid())
    assert not folder_owner_dead(tmp_path / "bare", name_pid=other_run.pid)
    (tmp_path / "half" / OWNER_FILE).parent.mkdir()
    (tmp_path / "half" / OWNER_FILE).write_text("{", encoding="utf-8")
    assert not folder_owner_dead(tmp_path / "half")


def test_recovery_keeps_another_runs_live_partial_folder(
    tmp_path: Path, other_run: subprocess.Popen[bytes]
) -> None:
    projects, work = tmp_path / "projects", tmp_path / "work"
    live = _own(
        projects / partial_dir_name("img00", other_run.pid),
        pid=other_run.pid,
        start=process_start(other_run.pid),
    )
    (live / "img00.png").write_bytes(b"being built")
    reused = _own(projects / partial_dir_name("img01", os.getpid()), pid=os.getpid(), start="0")
    dead = projects / partial_dir_name("img02", _dead_pid())
    dead.mkdir()
    report = recover_stale(work, projects)
    assert live.is_dir() and (live / "img00.png").read_bytes() == b"being built"
    assert not reused.exists() and not dead.exists()
    assert sorted(report.partial_dirs) == sorted([reused.name, dead.name])


def test_a_run_never_removes_the_live_partial_folder_of_a_run_with_another_workdir(
    tmp_path: Path, other_run: subprocess.Popen[bytes]
) -> None:
    fx.make_pool(tmp_path / "pool", 1)
    projects = tmp_path / "projects"
    theirs = _own(
        projects / partial_dir_name("img00", other_run.pid),
        pid=other_run.pid,
        start=process_start(other_run.pid),
    )
    (theirs / "img00.png").write_bytes(b"theirs")
    spec = fx.spec([fx.base_node(), fx.plugin_node("png", "TestOutputPNG")], [("base", "png")])
    executor = BatchExecutor(
        projects, workdir=tmp_path / "mywork", global_variables={"pool": str(tmp_path / "pool")}
    )
    summary = executor.run_project(BatchProject(spec), 1)
    executor.finish()
    assert summary.made == 1, summary
    assert (theirs / "img00.png").read_bytes() == b"theirs"
    made = [p.name for p in projects.iterdir() if not p.name.startswith(".")]
    assert len(made) == 1 and made[0].startswith("img00_")  # the name being built elsewhere was left to them
    assert not (projects / made[0] / OWNER_FILE).exists()


def test_export_staging_of_killed_runs_is_swept(tmp_path: Path, other_run: subprocess.Popen[bytes]) -> None:
    dead = _own(tmp_path / f"{STAGING_PREFIX}dead", pid=_dead_pid(), start="5")
    (dead / "journal").mkdir()
    (dead / "journal" / "big.bin").write_bytes(bytes(1000))
    live = _own(tmp_path / f"{STAGING_PREFIX}live", pid=other_run.pid, start=process_start(other_run.pid))
    (tmp_path / f"{STAGING_PREFIX}new").mkdir()  # just made, owner not written yet
    (tmp_path / "unrelated").mkdir()
    removed = sweep_staging(tmp_path)
    assert removed == [dead]
    assert (
        live.is_dir() and (tmp_path / f"{STAGING_PREFIX}new").is_dir() and (tmp_path / "unrelated").is_dir()
    )
