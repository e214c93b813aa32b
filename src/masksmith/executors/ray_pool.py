"""The Ray executor: pools of long-lived actors (models load once per actor) fed by the driver.

The driver stays the coordinator: it decides what runs (picklists, cursors, completion and failure files
belong to it) and hands each actor one small task at a time, ``depth`` tasks ahead, so a fast actor is
never idle and a slow one never hoards work. An actor that dies is restarted (``max_restarts``, its
``setup`` runs again) and the calls it held are retried (``max_task_retries``); tasks must therefore be
idempotent, which the pipelines' atomic writes make them.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from types import ModuleType
from typing import Any, Generic, TypeVar

from masksmith.errors import ConfigError, ModelUnavailable

__all__ = ["RayExecutor", "RayPool", "import_ray"]

log = logging.getLogger("masksmith.executors")

T = TypeVar("T")
S = TypeVar("S")
I = TypeVar("I")  # noqa: E741
R = TypeVar("R")


def import_ray() -> ModuleType:
    """The ``ray`` module, or ModelUnavailable naming the extra to install."""
    try:
        import ray
    except ImportError:
        raise ModelUnavailable(
            "the Ray executor needs ray: install masksmith[ray]", argument="executor"
        ) from None
    return ray


class _PoolWorker:
    """The body of a pool actor: ``setup()`` once, then ``task(state, item)`` per call."""

    def __init__(self, setup: Callable[[], Any], task: Callable[[Any, Any], Any], threads: int = 1) -> None:
        _limit_native_threads(threads)
        self._task = task
        self._state = setup()

    def run(self, item: Any) -> Any:
        return self._task(self._state, item)

    def pid(self) -> int:
        return os.getpid()


def _limit_native_threads(threads: int) -> None:
    """Keep OpenCV's thread pool to the CPUs the actor reserved (Ray already sets OMP_NUM_THREADS):
    several actors per machine each spreading over every core only fight for them."""
    try:
        import cv2
    except ImportError:
        return
    cv2.setNumThreads(max(1, threads))


def _call(fn: Callable[[], T]) -> T:
    return fn()


def _unwrap(ray: ModuleType, exc: BaseException) -> BaseException:
    """The task's own exception where Ray wrapped it (RayTaskError.cause), else Ray's error."""
    if isinstance(exc, ray.exceptions.RayTaskError) and isinstance(exc.cause, BaseException):
        return exc.cause
    return exc


class RayPool(Generic[I, R]):
    """``workers`` actors, each fed up to ``depth`` tasks by a dispatcher thread on the driver."""

    def __init__(
        self,
        ray: ModuleType,
        setup: Callable[[], S],
        task: Callable[[S, I], R],
        *,
        workers: int,
        depth: int = 2,
        num_cpus: float = 1.0,
        max_restarts: int = 3,
        max_task_retries: int = 3,
        name: str = "",
    ) -> None:
        self._ray = ray
        remote = ray.remote(_PoolWorker).options(
            num_cpus=num_cpus, max_restarts=max_restarts, max_task_retries=max_task_retries
        )
        self.name = name or "pool"
        threads = max(1, int(num_cpus))
        self._actors = [remote.remote(setup, task, threads) for _ in range(max(1, workers))]
        self._load = [0] * len(self._actors)
        self._depth = max(1, depth)
        self._queue: deque[tuple[I, Future[R]]] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self.tasks = 0
        self._thread = threading.Thread(target=self._dispatch, name=f"ray-{self.name}", daemon=True)
        self._thread.start()

    @property
    def workers(self) -> int:
        return len(self._actors)

    def submit(self, item: I) -> Future[R]:
        future: Future[R] = Future()
        with self._cond:
            if self._closed:
                raise ConfigError(f"the Ray pool {self.name!r} is closed")
            self._queue.append((item, future))
            self._cond.notify()
        return future

    def _free_actor(self) -> int | None:
        best = min(range(len(self._actors)), key=self._load.__getitem__)
        return best if self._load[best] < self._depth else None

    def _dispatch(self) -> None:
        while True:
            with self._cond:
                while not self._closed and (not self._queue or self._free_actor() is None):
                    self._cond.wait()
                if self._closed:
                    return
                batch: list[tuple[int, I, Future[R]]] = []
                while self._queue:
                    slot = self._free_actor()
                    if slot is None:
                        break
                    item, future = self._queue.popleft()
                    self._load[slot] += 1
                    batch.append((slot, item, future))
            for slot, item, future in batch:
                if not future.set_running_or_notify_cancel():
                    self._finished(slot)
                    continue
                try:
                    ref = self._actors[slot].run.remote(item)
                except BaseException as exc:  # e.g. the item does not pickle
                    self._finished(slot)
                    future.set_exception(exc)
                    continue
                ref.future().add_done_callback(lambda done, s=slot, f=future: self._resolve(s, f, done))

    def _finished(self, slot: int) -> None:
        with self._cond:
            self._load[slot] -= 1
            self.tasks += 1
            self._cond.notify()

    def _resolve(self, slot: int, future: Future[R], done: Future[Any]) -> None:
        self._finished(slot)
        exc = done.exception()
        if exc is not None:
            future.set_exception(_unwrap(self._ray, exc))
        else:
            future.set_result(done.result())

    def pids(self) -> list[int]:
        """Process ids of the actors (for diagnostics and tests)."""
        return [int(p) for p in self._ray.get([actor.pid.remote() for actor in self._actors])]

    def close(self) -> None:
        with self._cond:
            self._closed = True
            pending = list(self._queue)
            self._queue.clear()
            self._cond.notify_all()
        for _, future in pending:
            future.cancel()
        self._thread.join(timeout=10)
        for actor in self._actors:
            try:
                self._ray.kill(actor, no_restart=True)
            except Exception:  # already gone
                log.debug("actor of pool %s already gone", self.name)
        self._actors = []


class RayExecutor:
    """Runs work on a Ray cluster: ``address`` names it (``auto``, ``ray://host:10001``, ``host:6379``),
    None starts a private local one. An already initialised Ray session is used as it is.

    ``workers`` actors per pool (default: the cluster's CPUs / ``num_cpus``); each actor reserves
    ``num_cpus`` CPUs; ``depth`` tasks are kept queued per actor.
    """

    kind = "ray"
    distributed = True

    def __init__(
        self,
        workers: int | None = None,
        *,
        address: str | None = None,
        num_cpus: float = 1.0,
        depth: int = 2,
        max_restarts: int = 3,
        max_task_retries: int = 3,
        init_options: dict[str, object] | None = None,
    ) -> None:
        ray = import_ray()
        self._ray = ray
        self._owns = False
        if not ray.is_initialized():
            options: dict[str, object] = {"include_dashboard": False, "log_to_driver": True}
            if not address:
                # a cluster started here serves this machine only: keep every Ray process on
                # loopback (Ray otherwise registers the address of the default route's interface)
                os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
                options["_node_ip_address"] = "127.0.0.1"
            options.update(init_options or {})
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
            try:
                # "local": a private instance, never another user's cluster found on this machine
                ray.init(address=address or "local", **options)
            except (ConnectionError, ValueError, RuntimeError) as exc:
                raise ConfigError(
                    f"cannot connect to the Ray cluster: {exc}", argument="ray_address"
                ) from None
            self._owns = True
        cpus = float(ray.cluster_resources().get("CPU", 1.0))
        self.num_cpus = float(num_cpus)
        self.workers = int(workers) if workers else max(1, int(cpus // max(self.num_cpus, 1e-9)))
        self.depth = depth
        self.max_restarts = max_restarts
        self.max_task_retries = max_task_retries
        self.pools: list[RayPool[Any, Any]] = []
        self._remote_call: Any = None

    def pool(self, setup: Callable[[], S], task: Callable[[S, I], R], *, name: str = "") -> RayPool[I, R]:
        """``workers`` actors that each ran ``setup`` once (pickled to them: it must be picklable)."""
        made: RayPool[I, R] = RayPool(
            self._ray,
            setup,
            task,
            workers=self.workers,
            depth=self.depth,
            num_cpus=self.num_cpus,
            max_restarts=self.max_restarts,
            max_task_retries=self.max_task_retries,
            name=name,
        )
        self.pools.append(made)
        return made

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        """Run a picklable no-argument callable as a Ray task (retried if its worker dies)."""
        if self._remote_call is None:
            self._remote_call = self._ray.remote(_call).options(
                num_cpus=self.num_cpus, max_retries=self.max_task_retries
            )
        result: Future[T] = Future()

        def resolve(done: Future[Any]) -> None:
            exc = done.exception()
            if exc is not None:
                result.set_exception(_unwrap(self._ray, exc))
            else:
                result.set_result(done.result())

        self._remote_call.remote(fn).future().add_done_callback(resolve)
        return result

    def map(self, fn: Callable[[I], R], items: Iterable[I]) -> Iterator[R]:
        """``fn`` over ``items`` on a temporary pool, results in input order."""
        pool = self.pool(_no_setup, _Apply(fn), name="map")
        try:
            futures = [pool.submit(item) for item in items]
            for future in futures:
                yield future.result()
        finally:
            pool.close()
            self.pools.remove(pool)

    def worker_pids(self) -> list[int]:
        """Process ids of every live pool actor."""
        return [pid for pool in self.pools for pid in pool.pids()]

    def shutdown(self, wait: bool = True) -> None:
        for pool in self.pools:
            pool.close()
        self.pools = []
        if self._owns and self._ray.is_initialized():
            self._ray.shutdown()
        self._owns = False

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


def _no_setup() -> None:
    return None


class _Apply(Generic[I, R]):
    """``task(state, item)`` calling ``fn(item)`` (a class, so it pickles by reference)."""

    def __init__(self, fn: Callable[[I], R]) -> None:
        self.fn = fn

    def __call__(self, state: None, item: I) -> R:
        return self.fn(item)
