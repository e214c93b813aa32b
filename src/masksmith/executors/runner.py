"""The one driver loop every pipeline uses: feed a worker pool, settle results on the driver.

The driver (this process) stays the coordinator: it produces items lazily (so selection, claiming and
skip decisions happen in order, here), keeps at most ``window`` of them in flight, and sees every result
or error in completion order on its own thread, where it may write shared state (summaries, failure
files, database rows) without locks.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from typing import Generic, TypeVar

from masksmith.executors.base import Executor

__all__ = ["Finished", "run_items"]

S = TypeVar("S")
I = TypeVar("I")  # noqa: E741
R = TypeVar("R")


@dataclass(frozen=True)
class Finished(Generic[I, R]):
    """One item's end: its ``result``, or the ``error`` its task raised (or the worker loss)."""

    item: I
    result: R | None = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def run_items(
    executor: Executor,
    items: Iterable[I],
    *,
    setup: Callable[[], S],
    task: Callable[[S, I], R],
    settle: Callable[[Finished[I, R]], None],
    name: str = "",
    window: int | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Run ``task(state, item)`` for each item on ``executor``'s workers (each ran ``setup`` once).

    ``items`` is pulled only when a slot is free (at most ``window``, default twice the workers, in
    flight); ``settle`` is called on this thread for each finished item. Stops pulling when ``stop`` is
    set; what is in flight still settles. If ``settle`` (or pulling an item) raises, queued items that
    have not started are cancelled before the error propagates. Returns how many items were submitted.
    """
    limit = max(1, window if window is not None else 2 * max(1, executor.workers))
    pool = executor.pool(setup, task, name=name)
    inflight: dict[Future[R], I] = {}
    submitted = 0

    def settle_done(done: Iterable[Future[R]]) -> None:
        for future in done:
            item = inflight.pop(future)
            try:
                finished: Finished[I, R] = Finished(item, result=future.result())
            except Exception as exc:  # the task's error is the item's outcome
                finished = Finished(item, error=exc)
            settle(finished)

    try:
        source = iter(items)
        while stop is None or not stop.is_set():
            if len(inflight) >= limit:
                settle_done(wait(list(inflight), return_when=FIRST_COMPLETED).done)
                continue
            try:
                item = next(source)
            except StopIteration:
                break
            inflight[pool.submit(item)] = item
            submitted += 1
        while inflight:
            settle_done(wait(list(inflight), return_when=FIRST_COMPLETED).done)
    except BaseException:
        for future in inflight:
            future.cancel()  # only items not yet started; running ones finish unseen
        raise
    finally:
        pool.close()
    return submitted
