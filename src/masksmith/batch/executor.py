"""BatchExecutor: run many projects of a spec, N at a time, surviving kills (seed §6.2).

Work runs through a small :class:`Executor` interface; the default is a local thread pool (a Ray
executor can implement the same two methods). On start the executor undoes what killed runs left
(partial directories, their pool images, in-flight records). Each project is built in a partial
directory and renamed into place when complete; failures go to the dated failure file.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from masksmith.batch.inflight import RecoveryReport, recover_stale
from masksmith.batch.project import (
    CONTEXT_KEY,
    BatchProject,
    ProjectOutcome,
    RunContext,
    SelectedProject,
    create_global_state,
)
from masksmith.batch.spec import GLOBAL_GROUP
from masksmith.batch.state import read_failures
from masksmith.errors import SpecError
from masksmith.executors import is_distributed

__all__ = [
    "BatchExecutor",
    "Executor",
    "LocalThreadExecutor",
    "RunSummary",
]

log = logging.getLogger("masksmith.batch")
T = TypeVar("T")


class Executor(Protocol):
    """Where project work runs: ``submit`` a no-argument callable, ``shutdown`` when done.

    A distributed executor (``masksmith.executors.RayExecutor``) also offers ``pool(setup, task)``.
    """

    def submit(self, fn: Callable[[], T]) -> Future[T]: ...

    def shutdown(self, wait: bool = True) -> None: ...


class LocalThreadExecutor:
    """The default executor: a thread pool in this process."""

    def __init__(self, threads: int = 1) -> None:
        self.threads = max(1, int(threads))
        self._pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="batch")

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        return self._pool.submit(fn)

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait)


@dataclass
class RunSummary:
    """Counts of a run: made, failed, skipped (asked for but not run: pool exhausted or stopped)."""

    made: int = 0
    failed: int = 0
    skipped: int = 0
    exhausted: bool = False
    exhausted_reason: str = ""  # which pool or permute group ran out
    stopped: bool = False
    seconds: float = 0.0
    projects: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    recovered: RecoveryReport | None = None

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def line(self) -> str:
        if self.exhausted:
            extra = f" (stopped: {self.exhausted_reason or 'pool exhausted'})"
        else:
            extra = " (stopped on error)" if self.stopped else ""
        return (
            f"made {self.made}, failed {self.failed}, skipped {self.skipped}{extra} in {self.seconds:.1f} s"
        )


def _level(loglevel: int | str | None) -> int:
    if loglevel is None:
        return logging.CRITICAL
    if isinstance(loglevel, int) or str(loglevel).strip().lstrip("-").isdigit():
        return int(loglevel)
    named = logging.getLevelName(str(loglevel).upper())
    if not isinstance(named, int):
        raise SpecError(f"unknown log level {loglevel!r}", argument="loglevel")
    return named


class BatchExecutor:
    """Run projects of batch specs with ``threads_count`` at once (seed §6.2 names, snake_case too)."""

    def __init__(
        self,
        results: str | os.PathLike[str],
        workdir: str | os.PathLike[str] = ".",
        global_variables: str | Mapping[str, Any] | None = None,
        initializers: str | Iterable[str | Callable[..., Any]] | None = None,
        loglevel: int | str | None = 50,
        threads_count: int = 1,
        skipValidation: bool = False,
        removeBadProjects: bool = True,
        stopOnError: bool = False,
        fromFailedStateFile: str | os.PathLike[str] | None = None,
        testMode: bool = False,
        passthrus: Iterable[str] = (),
        *,
        seed: int | None = None,
        progress: bool | None = None,
        executor: Executor | None = None,
        redactions: Iterable[str] = (),
    ) -> None:
        self.results = Path(results)
        self.workdir = Path(workdir)
        self.threads_count = max(1, int(threads_count))
        self.stop_on_error = stopOnError
        self.from_state_file = self._resolve_state_file(fromFailedStateFile)
        self.redactions = list(redactions)
        self.progress = progress
        self._log_handler = self._set_logging(_level(loglevel))
        self.global_state = create_global_state(
            self.results,
            self.workdir,
            global_variables=global_variables,
            initializers=initializers,
            seed=seed,
            passthrus=passthrus,
            test_mode=testMode,
            skip_validation=skipValidation,
            keep_failed=not removeBadProjects,
        )
        self.context: RunContext = self.global_state[CONTEXT_KEY]
        self.summary = RunSummary()
        self.summary.recovered = recover_stale(self.workdir, self.results)
        self._executor = executor or LocalThreadExecutor(self.threads_count)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._started = time.perf_counter()
        self._states_used = 0

    # --- set-up ---------------------------------------------------------------------------------------

    def _resolve_state_file(self, path: str | os.PathLike[str] | None) -> Path | None:
        if path is None or str(path) == "":
            return None
        candidate = Path(path)
        if not candidate.is_file() and (self.workdir / candidate).is_file():
            candidate = self.workdir / candidate
        if not candidate.is_file():
            raise SpecError("--from_state file not found", file=candidate, argument="from_state")
        return candidate

    def _set_logging(self, level: int) -> logging.Handler:
        self.workdir.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(self.workdir / "masksmith.log", encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(threadName)s %(message)s"))
        handler.setLevel(level)
        log.addHandler(handler)
        if log.level == logging.NOTSET or log.level > level:
            log.setLevel(level)
        return handler

    # --- running --------------------------------------------------------------------------------------

    def run_project(self, project: BatchProject, count: int = 1) -> RunSummary:
        """Make ``count`` projects of ``project`` (from the failure-state file when one was given).

        Projects are selected (images claimed, permute groups advanced, generator derived from the seed
        and the project's index) one at a time in index order by the coordinator, and built by the
        executor's workers, so a seed gives the same journals whatever the executor or thread count.
        """
        if project.spec.is_extension:
            raise SpecError(
                "this is an extension specification (it has a NodeAttachment node): run it on existing"
                " journals with 'masksmith batch extend'",
                file=project.filename,
            )
        states: list[dict[str, Any]] | None = None
        if self.from_state_file is not None:
            states = read_failures(self.from_state_file)[self._states_used :]
            count = min(count, len(states))
            self._states_used += count
        bar = self._progress_bar(count)
        state_iter = iter(states) if states is not None else None
        try:
            if is_distributed(self._executor):
                remaining = self._run_pooled(project, count, state_iter, bar)
            else:
                remaining = self._run_threads(project, count, state_iter, bar)
        finally:
            if bar is not None:
                bar.close()
        with self._lock:
            self.summary.skipped += remaining
            self.summary.seconds = time.perf_counter() - self._started
        return self.summary

    def _run_threads(
        self, project: BatchProject, count: int, state_iter: Iterator[dict[str, Any]] | None, bar: Any
    ) -> int:
        """Local threads: each selects under the coordinator lock (index order), then builds in parallel."""
        remaining = [count]
        select_lock = threading.Lock()

        def next_task() -> SelectedProject | None:
            while True:
                with select_lock:
                    with self._lock:
                        if remaining[0] <= 0 or self._stop.is_set():
                            return None
                        remaining[0] -= 1
                    state = next(state_iter) if state_iter is not None else None
                    selected = project.select(self.context, state=state)
                if isinstance(selected, SelectedProject):
                    return selected
                self._record(selected, bar)

        def worker() -> None:
            while True:
                selected = next_task()
                if selected is None:
                    return
                outcome = project.build(self.context, selected)
                project.settle(self.context, selected, outcome)
                self._record(outcome, bar)

        futures = [self._executor.submit(worker) for _ in range(min(self.threads_count, max(count, 1)))]
        for future in futures:
            future.result()
        return remaining[0]

    def _run_pooled(
        self, project: BatchProject, count: int, state_iter: Iterator[dict[str, Any]] | None, bar: Any
    ) -> int:
        """A distributed executor: this process is the coordinator; actors only build (one task a project)."""
        deferred = [m.element for ms in project.spec.permute_groups().values() for m in ms if m.deferred]
        if deferred:
            raise SpecError(
                f"permute-group arguments of type 'variable' ({', '.join(deferred)}) need the local executor",
                file=project.filename,
                argument="executor",
            )
        executor: Any = self._executor
        pool = executor.pool(_BuildSetup(project, self.context), _build, name="batch")
        window = max(1, int(getattr(executor, "workers", self.threads_count))) * 2
        inflight: dict[Future[ProjectOutcome], SelectedProject] = {}
        remaining = count

        def settle(done: Iterable[Future[ProjectOutcome]]) -> None:
            for future in done:
                selected = inflight.pop(future)
                try:
                    outcome = future.result()
                except Exception as exc:  # the task was lost beyond its retries
                    state = {g: dict(v) for g, v in selected.groups.items()}
                    state.setdefault(GLOBAL_GROUP, {}).update(
                        {n: p for n, p in selected.picks.items() if n not in selected.permuted}
                    )
                    outcome = ProjectOutcome(
                        "failed", error=f"worker lost: {type(exc).__name__}: {exc}", state=state
                    )
                project.settle(self.context, selected, outcome)
                self._record(outcome, bar)

        try:
            while remaining > 0 and not self._stop.is_set():
                if len(inflight) >= window:
                    settle(wait(list(inflight), return_when=FIRST_COMPLETED).done)
                    continue
                remaining -= 1
                state = next(state_iter) if state_iter is not None else None
                selected = project.select(self.context, state=state)
                if isinstance(selected, ProjectOutcome):
                    self._record(selected, bar)
                    continue
                inflight[pool.submit(selected)] = selected
            while inflight:
                settle(wait(list(inflight), return_when=FIRST_COMPLETED).done)
        finally:
            pool.close()
        return remaining

    runProject = run_project

    def _record(self, outcome: ProjectOutcome, bar: Any) -> None:
        with self._lock:
            if outcome.status == "made":
                self.summary.made += 1
                if outcome.directory is not None:
                    self.summary.projects.append(str(outcome.directory))
            elif outcome.status == "failed":
                self.summary.failed += 1
                self.summary.failures.append(outcome.error or "failed")
                if bar is not None:
                    bar.write(f"failed: {outcome.error}", file=sys.stderr)
                if self.stop_on_error:
                    self.summary.stopped = True
                    self._stop.set()
            else:
                self.summary.skipped += 1
                self.summary.exhausted = True
                self.summary.exhausted_reason = self.summary.exhausted_reason or (outcome.error or "")
                log.warning("stopping: %s", outcome.error)
                self._stop.set()
            if bar is not None:
                bar.update(1)
                bar.set_postfix(made=self.summary.made, failed=self.summary.failed, refresh=False)

    def _progress_bar(self, total: int) -> Any:
        show = self.progress if self.progress is not None else sys.stderr.isatty()
        if not show:
            return None
        from tqdm import tqdm

        return tqdm(total=total, file=sys.stderr, unit="project", dynamic_ncols=True, desc="projects")

    def finish(self) -> RunSummary:
        """Wait for running work, release the pool and logging; the run's summary."""
        self._executor.shutdown(wait=True)
        log.removeHandler(self._log_handler)
        self._log_handler.close()
        self.summary.seconds = time.perf_counter() - self._started
        return self.summary

    def __enter__(self) -> BatchExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.finish()


class _BuildSetup:
    """What a build worker holds once: the project and the run context (pickled to Ray actors)."""

    def __init__(self, project: BatchProject, context: RunContext) -> None:
        self.project = project
        self.context = context

    def __call__(self) -> tuple[BatchProject, RunContext]:
        return self.project, self.context


def _build(state: tuple[BatchProject, RunContext], selected: SelectedProject) -> ProjectOutcome:
    project, context = state
    return project.build(context, selected)
