"""The executor interface, the local thread executor, and :func:`create_executor` for every kind."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Generic, Protocol, TypedDict, TypeVar

from masksmith.errors import ConfigError

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "EXECUTOR_KINDS",
    "Executor",
    "LocalExecutor",
    "RayOptions",
    "WorkerPool",
    "create_executor",
    "is_distributed",
]

T = TypeVar("T")
S = TypeVar("S")
I = TypeVar("I")  # noqa: E741
R = TypeVar("R")
I_contra = TypeVar("I_contra", contravariant=True)

EXECUTOR_KINDS = ("local", "threads", "processes", "ray")  # "local" is "threads"


class RayOptions(TypedDict, total=False):
    """Options of a Ray executor beyond its address and workers (see ``RayExecutor``)."""

    num_cpus: float
    depth: int
    max_restarts: int
    max_task_retries: int
    init_options: dict[str, object]


class WorkerPool(Protocol[I_contra, R]):
    """Workers that each ran ``setup`` once; ``submit(item)`` runs ``task(state, item)`` on one of them."""

    def submit(self, item: I_contra) -> Future[R]: ...

    def close(self) -> None: ...


class Executor(Protocol):
    """Where work runs. ``distributed`` executors run tasks in other processes or on other machines:
    everything handed to them must pickle, and shared state stays with the caller (the coordinator)."""

    kind: str
    workers: int
    distributed: bool

    def submit(self, fn: Callable[[], T]) -> Future[T]: ...

    def pool(
        self, setup: Callable[[], S], task: Callable[[S, I], R], *, name: str = ""
    ) -> WorkerPool[I, R]: ...

    def map(self, fn: Callable[[I], R], items: Iterable[I]) -> Iterator[R]: ...

    def shutdown(self, wait: bool = True) -> None: ...


class _LocalPool(Generic[S, I, R]):
    """A pool over the local threads: ``setup`` runs once (lazily) and its state is shared by the threads."""

    def __init__(
        self, threads: ThreadPoolExecutor, setup: Callable[[], S], task: Callable[[S, I], R]
    ) -> None:
        self._threads = threads
        self._setup = setup
        self._task = task
        self._state: tuple[S] | None = None
        self._lock = threading.Lock()

    def _run(self, item: I) -> R:
        with self._lock:
            if self._state is None:
                self._state = (self._setup(),)
        return self._task(self._state[0], item)

    def submit(self, item: I) -> Future[R]:
        return self._threads.submit(self._run, item)

    def close(self) -> None:
        self._state = None


class LocalExecutor:
    """The default executor: a thread pool in this process. Pools made here share one ``setup`` state
    between the threads (so tasks must be thread-safe); the process and Ray executors give each worker
    its own."""

    kind = "threads"
    distributed = False

    def __init__(self, workers: int = 1) -> None:
        self.workers = max(1, int(workers))
        self._threads = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="masksmith")

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        return self._threads.submit(fn)

    def pool(self, setup: Callable[[], S], task: Callable[[S, I], R], *, name: str = "") -> WorkerPool[I, R]:
        return _LocalPool(self._threads, setup, task)

    def map(self, fn: Callable[[I], R], items: Iterable[I]) -> Iterator[R]:
        """``fn`` over ``items`` on the threads, results in input order."""
        return self._threads.map(fn, items)

    def shutdown(self, wait: bool = True) -> None:
        self._threads.shutdown(wait=wait)

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


def usable_cpus() -> int:
    """CPU cores this process may run on (its affinity where the platform reports it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def is_distributed(executor: object) -> bool:
    """Whether ``executor`` runs work outside this process (Ray): callers then keep state themselves."""
    return bool(getattr(executor, "distributed", False))


def create_executor(
    kind: str = "local", *, workers: int = 1, address: str | None = None, **options: Unpack[RayOptions]
) -> Executor:
    """The executor a ``--executor threads|processes|ray`` flag names (``local`` = ``threads``); ``address`` (or ``RAY_ADDRESS``) picks the cluster.

    ``ray`` with no address starts a private local cluster. ``workers`` 0 or less means one worker per
    usable CPU (for Ray: per cluster CPU).
    """
    name = (kind or "local").strip().lower()
    if name in ("local", "threads", "processes"):
        if address:
            raise ConfigError("--ray-address needs --executor ray", argument="ray_address")
        workers = workers if workers > 0 else usable_cpus()
        if name == "processes":
            from masksmith.executors.processes import ProcessExecutor

            return ProcessExecutor(workers)
        return LocalExecutor(workers)
    if name == "ray":
        from masksmith.executors.ray_pool import RayExecutor

        return RayExecutor(
            workers if workers > 0 else None, address=address or os.environ.get("RAY_ADDRESS"), **options
        )
    raise ConfigError(
        f"unknown executor {kind!r}; use one of: {', '.join(EXECUTOR_KINDS)}", argument="executor"
    )
