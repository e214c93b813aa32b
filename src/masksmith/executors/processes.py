"""The local process executor: workers are processes on this machine, each with its own state.

Threads share one interpreter, so pure-Python work (journaling, JSON, graph building) holds the GIL and
two threads rarely reach twice the speed of one; processes do. Everything handed to a process pool must
pickle (as for Ray), and processes start with ``spawn`` so no lock or thread of the driver is inherited.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, Generic, TypeVar

from masksmith.executors.base import usable_cpus

__all__ = ["ProcessExecutor", "ProcessPool"]

T = TypeVar("T")
S = TypeVar("S")
I = TypeVar("I")  # noqa: E741
R = TypeVar("R")

# the state each pool's setup returned, in the worker process that ran it (keyed by pool name)
_STATE: dict[str, Any] = {}


def _limit_native_threads(threads: int) -> None:
    """Several worker processes each spreading OpenCV over every core only fight for the cores."""
    try:
        import cv2
    except ImportError:
        return
    cv2.setNumThreads(max(1, threads))


def _init_worker(key: str, setup: Callable[[], Any], threads: int) -> None:
    _limit_native_threads(threads)
    _STATE[key] = setup()


def _run_task(key: str, task: Callable[[Any, Any], Any], item: Any) -> Any:
    return task(_STATE[key], item)


class ProcessPool(Generic[I, R]):
    """``workers`` processes that each ran ``setup`` once; ``submit(item)`` runs ``task(state, item)``."""

    def __init__(
        self, setup: Callable[[], S], task: Callable[[S, I], R], *, workers: int, key: str, threads: int
    ) -> None:
        self._task = task
        self._key = key
        self._processes = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(key, setup, threads),
        )

    def submit(self, item: I) -> Future[R]:
        return self._processes.submit(_run_task, self._key, self._task, item)

    def close(self) -> None:
        self._processes.shutdown(wait=True, cancel_futures=True)


class ProcessExecutor:
    """Work in ``workers`` processes on this machine (``--executor processes``)."""

    kind = "processes"
    distributed = True  # state stays with the driver; what is handed over must pickle

    def __init__(self, workers: int = 1) -> None:
        self.workers = max(1, int(workers))
        self._threads_each = max(1, usable_cpus() // self.workers)
        self._pools: list[ProcessPool[Any, Any]] = []
        self._plain: ProcessPoolExecutor | None = None

    def pool(self, setup: Callable[[], S], task: Callable[[S, I], R], *, name: str = "") -> ProcessPool[I, R]:
        made: ProcessPool[I, R] = ProcessPool(
            setup,
            task,
            workers=self.workers,
            key=f"{name or 'pool'}-{len(self._pools)}",
            threads=self._threads_each,
        )
        self._pools.append(made)
        return made

    def _plain_pool(self) -> ProcessPoolExecutor:
        if self._plain is None:
            self._plain = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=multiprocessing.get_context("spawn")
            )
        return self._plain

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        """Run a picklable no-argument callable in a worker process."""
        return self._plain_pool().submit(fn)

    def map(self, fn: Callable[[I], R], items: Iterable[I]) -> Iterator[R]:
        """``fn`` over ``items`` in the worker processes, results in input order."""
        return self._plain_pool().map(fn, items)

    def shutdown(self, wait: bool = True) -> None:
        for pool in self._pools:
            pool.close()
        self._pools = []
        if self._plain is not None:
            self._plain.shutdown(wait=wait, cancel_futures=not wait)
            self._plain = None

    def __enter__(self) -> ProcessExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
