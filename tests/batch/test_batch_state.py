"""Workdir state files: picklists, failure files, completion file, claims (masksmith.batch.state)."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from masksmith.batch.state import (
    CompletionFile,
    FailureLog,
    Picklist,
    PoolExhausted,
    ProjectClaims,
    StateError,
    atomic_write_text,
    list_pool,
    pick,
    read_failures,
)

POOL = [f"/data/pool/image{i:02d}.jpg" for i in range(8)]


def _pick_many(workdir: str, count: int, seed: int) -> list[str]:
    """Runs in a child process: pick ``count`` files from the shared picklist."""
    picklist = Picklist(workdir, "imageset")
    rng = np.random.default_rng(seed)
    return [pick(POOL, picklist, rng) for _ in range(count)]


@pytest.mark.parametrize("seeded", [True, False])
def test_picklist_under_four_threads(tmp_path: Path, seeded: bool) -> None:
    picklist = Picklist(tmp_path, "imageset")
    picked: list[str] = []
    guard = threading.Lock()
    start = threading.Barrier(4)

    def work(seed: int) -> None:
        rng = np.random.default_rng(seed) if seeded else None
        start.wait()
        for _ in range(2):
            name = pick(POOL, picklist, rng)
            with guard:
                picked.append(name)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(picked) == sorted(POOL)
    assert sorted((tmp_path / "imageset.txt").read_text().split()) == sorted(
        os.path.basename(p) for p in POOL
    )
    with pytest.raises(PoolExhausted) as info:
        pick(POOL, picklist, None)
    assert "imageset" in str(info.value) and "exhausted" in str(info.value)


def test_picklist_under_two_processes(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        results = pool.starmap(_pick_many, [(str(tmp_path), 4, 1), (str(tmp_path), 4, 2)])
    picked = [name for batch in results for name in batch]
    assert sorted(picked) == sorted(POOL)
    with pytest.raises(PoolExhausted):
        _pick_many(str(tmp_path), 1, 3)


def test_picklist_shared_between_nodes_and_runs(tmp_path: Path) -> None:
    first = Picklist(tmp_path, "shared")
    taken = {first.pick(POOL) for _ in range(3)}
    second = Picklist(tmp_path, "shared")  # another node naming the same picklist, or a later run
    rest = {second.pick(POOL, np.random.default_rng(0)) for _ in range(5)}
    assert taken.isdisjoint(rest)
    assert taken | rest == set(POOL)


def test_picklist_name_must_be_a_stem(tmp_path: Path) -> None:
    with pytest.raises(StateError):
        Picklist(tmp_path, "../escape")


def test_list_pool_filters_and_sorts(tmp_path: Path) -> None:
    for name in ("b.JPG", "a.png", "c.txt", ".hidden.jpg"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    assert [Path(p).name for p in list_pool(tmp_path)] == ["a.png", "b.JPG", "c.txt"]
    assert [Path(p).name for p in list_pool(tmp_path, ["jpg", ".png"])] == ["a.png", "b.JPG"]
    with pytest.raises(StateError, match="does not exist"):
        list_pool(tmp_path / "missing")


def test_failure_file_round_trip(tmp_path: Path) -> None:
    when = dt.datetime(2024, 5, 6, 7, 8, 9)
    log = FailureLog(tmp_path, when=when)
    states = [
        {"__global__": {"1": "/donor/08ef.jpg", "0": "/base/0c61.cr2"}},
        {"image": {"0": "/base/x.jpg", "2.percentage_height": np.float64(0.06), "3.crop_x": np.int64(8)}},
    ]
    for state in states:
        log.append(state)
    log.append({"image": {"0": "/base/y.jpg", "3.crop_x": None}})
    assert log.path.name == "failures-2024_05_06_07_08_09.txt"
    assert log.path.parent == tmp_path
    got = read_failures(log.path)
    assert got == [
        states[0],
        {"image": {"0": "/base/x.jpg", "2.percentage_height": 0.06, "3.crop_x": 8}},
        {"image": {"0": "/base/y.jpg"}},
    ]
    assert len(log.path.read_text().splitlines()) == 3


def test_read_failures_rejects_garbage(tmp_path: Path) -> None:
    path = tmp_path / "failures.txt"
    path.write_text('{"a": {}}\nnot json\n')
    with pytest.raises(StateError, match="line 2"):
        read_failures(path)


def test_completion_file(tmp_path: Path) -> None:
    done = CompletionFile(tmp_path / "complete.txt")
    assert "p1" not in done
    done.add("p1")
    done.add("p2")
    done.add("p1")
    assert done.names() == ["p1", "p2"]
    assert "p2" in CompletionFile(tmp_path / "complete.txt")
    with pytest.raises(StateError):
        done.add("two\nlines")


def test_project_claims(tmp_path: Path) -> None:
    claims = ProjectClaims(tmp_path / "claims")
    assert claims.claim("proj")
    assert not claims.claim("proj")
    assert claims.claimed() == ["proj"]
    claims.release("proj")
    with claims.holding("proj") as got:
        assert got
        assert not ProjectClaims(tmp_path / "claims").claim("proj")
    assert claims.claimed() == []


def test_stale_claim_of_dead_process_is_reclaimed(tmp_path: Path) -> None:
    claims = ProjectClaims(tmp_path)
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            f"from masksmith.batch.state import ProjectClaims; ProjectClaims({str(tmp_path)!r}).claim('p')",
        ],
        check=True,
    )
    assert child.returncode == 0
    assert claims.claimed() == ["p"]
    assert not claims.claim("p", reclaim_stale=False)
    assert claims.claim("p")


def test_atomic_write_leaves_no_temp_files(tmp_path: Path) -> None:
    target = tmp_path / "state.txt"
    atomic_write_text(target, "one\n")
    atomic_write_text(target, "two\n")
    assert target.read_text() == "two\n"
    assert [p.name for p in tmp_path.iterdir()] == ["state.txt"]
