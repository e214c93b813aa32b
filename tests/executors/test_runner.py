"""run_items on the local executors: one driver loop, setup once per worker, errors settle per item."""

from __future__ import annotations

import os
import threading
import time

import pytest

from masksmith.executors import (
    Finished,
    LocalExecutor,
    ProcessExecutor,
    create_executor,
    run_items,
)


def _setup() -> dict[str, int]:
    return {"pid": os.getpid(), "offset": 100}


def _task(state: dict[str, int], item: int) -> tuple[int, int]:
    if item == 3:
        raise ValueError("item 3 is bad")
    return state["pid"], item + state["offset"]


@pytest.mark.parametrize("kind", ["threads", "processes"])
def test_run_items_settles_every_item_on_the_driver(kind: str) -> None:
    settled: list[Finished[int, tuple[int, int]]] = []
    threads: set[int] = set()

    def settle(done: Finished[int, tuple[int, int]]) -> None:
        threads.add(threading.get_ident())
        settled.append(done)

    with create_executor(kind, workers=2) as executor:  # type: ignore[attr-defined]
        count = run_items(executor, range(8), setup=_setup, task=_task, settle=settle, name="t")
    assert count == 8
    assert threads == {threading.get_ident()}
    assert sorted(d.item for d in settled) == list(range(8))
    bad = [d for d in settled if not d.ok]
    assert [d.item for d in bad] == [3] and "item 3 is bad" in str(bad[0].error)
    results = {d.item: d.result for d in settled if d.ok}
    assert all(r is not None and r[1] == i + 100 for i, r in results.items())
    pids = {r[0] for r in results.values() if r is not None}
    if kind == "processes":
        assert os.getpid() not in pids and 1 <= len(pids) <= 2
    else:
        assert pids == {os.getpid()}


def test_run_items_pulls_lazily_within_the_window_and_stops() -> None:
    pulled: list[int] = []
    stop = threading.Event()

    def items() -> object:
        for i in range(100):
            pulled.append(i)
            yield i

    def settle(done: Finished[int, tuple[int, int]]) -> None:
        if done.item >= 4:
            stop.set()

    with LocalExecutor(1) as executor:
        count = run_items(executor, items(), setup=_setup, task=_task, settle=settle, window=2, stop=stop)  # type: ignore[arg-type]
    assert count == len(pulled) < 10


def test_process_pool_runs_setup_once_per_process() -> None:
    with ProcessExecutor(2) as executor:
        pool = executor.pool(_setup, _task, name="once")
        first = [pool.submit(i).result() for i in (0, 1, 2, 4, 5, 6)]
    assert len({pid for pid, _ in first}) <= 2
    assert executor.kind == "processes" and executor.distributed


def _slow(state: dict[str, int], item: int) -> int:
    time.sleep(0.05)
    return item


def test_an_error_in_settle_cancels_the_items_not_yet_started() -> None:
    started: list[int] = []

    def task(state: dict[str, int], item: int) -> int:
        started.append(item)
        return _slow(state, item)

    def settle(done: Finished[int, int]) -> None:
        raise RuntimeError("the driver gave up")

    with LocalExecutor(1) as executor, pytest.raises(RuntimeError, match="gave up"):
        run_items(executor, range(20), setup=_setup, task=task, settle=settle, window=10)
    time.sleep(0.2)
    assert len(started) < 4  # the queued rest of the window never ran
