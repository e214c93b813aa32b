"""BatchExecutor: run many projects of a spec, N at a time, surviving kills (seed §6.2).

Every project runs through :func:`masksmith.executors.run_items` on the executor it is given (local
threads by default, local processes, or Ray): this process is the coordinator. It selects each project
(claims images, advances permute groups, derives the project's generator) in index order, the workers
only build, and the coordinator settles each result. A seed therefore gives the same journals whatever
the executor or worker count. On start the executor undoes what killed runs left (partial directories,
their pool images, in-flight records); paths are made absolute here, before anything reaches a worker.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Protocol, TextIO

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
from masksmith.executors import Executor, Finished, LocalExecutor, run_items

__all__ = [
    "BatchExecutor",
    "BatchSummary",
    "RunSummary",
    "absolute_path_globals",
]

log = logging.getLogger("masksmith.batch")

Initializer = Callable[[dict[str, Any]], Mapping[str, object] | None]


class _ProgressBar(Protocol):
    def update(self, n: int = 1) -> object: ...

    def write(self, s: str, file: TextIO | None = None) -> object: ...

    def set_postfix(
        self, ordered_dict: Mapping[str, object] | None = None, refresh: bool | None = True, **values: int
    ) -> object: ...

    def close(self) -> object: ...


@dataclass
class BatchSummary:
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


RunSummary = BatchSummary
"""The former name of :class:`BatchSummary` (kept for compatibility)."""


def _level(loglevel: int | str | None) -> int:
    if loglevel is None:
        return logging.CRITICAL
    if isinstance(loglevel, int) or str(loglevel).strip().lstrip("-").isdigit():
        return int(loglevel)
    named = logging.getLevelName(str(loglevel).upper())
    if not isinstance(named, int):
        raise SpecError(f"unknown log level {loglevel!r}", argument="loglevel")
    return named


def absolute_path_globals(values: MutableMapping[str, Any]) -> list[str]:
    """Make each global that names an existing relative path (``pool=pool``) absolute, in place.

    Workers may run in another working directory (Ray nodes do), so a relative path handed to them
    would point elsewhere. Returns the names changed. Values that name nothing here are left as they are.
    """
    changed = []
    for key, value in list(values.items()):
        if key == CONTEXT_KEY or not isinstance(value, str) or not value or os.path.isabs(value):
            continue
        if "://" not in value and os.path.exists(value):
            values[key] = os.path.abspath(value)
            changed.append(key)
    return changed


class BatchExecutor:
    """Run projects of batch specs with ``threads_count`` workers (seed §6.2 names, snake_case too)."""

    def __init__(
        self,
        results: str | os.PathLike[str],
        workdir: str | os.PathLike[str] = ".",
        global_variables: str | Mapping[str, object] | None = None,
        initializers: str | Iterable[str | Initializer] | None = None,
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
        self.results = Path(results).absolute()
        self.workdir = Path(workdir).absolute()
        self.threads_count = max(1, int(threads_count))
        self.stop_on_error = stopOnError
        self.from_state_file = self._resolve_state_file(fromFailedStateFile)
        self.redactions = list(redactions)
        self.progress = progress
        self._log_handler = self._set_logging(_level(loglevel))
        self.global_state: dict[str, Any] = create_global_state(
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
        absolute_path_globals(self.global_state)
        for name in absolute_path_globals(self.context.globals):
            log.info("global %s is the path %s", name, self.context.globals[name])
        self.summary = BatchSummary()
        self.summary.recovered = recover_stale(self.workdir, self.results)
        self._executor: Executor = executor or LocalExecutor(self.threads_count)
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
        return candidate.absolute()

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

    def run_project(self, project: BatchProject, count: int = 1) -> BatchSummary:
        """Make ``count`` projects of ``project`` (from the failure-state file when one was given).

        Projects are selected one at a time in index order by this process (the coordinator) and built
        by the executor's workers, so a seed gives the same journals whatever the executor or worker
        count. Permute groups with ``variable`` arguments take their values from plugins while building,
        into the coordinator's permutation state: they need the threads executor, whose workers share it.
        """
        if project.spec.is_extension:
            raise SpecError(
                "this is an extension specification (it has a NodeAttachment node): run it on existing"
                " journals with 'masksmith batch extend'",
                file=project.filename,
            )
        distributed = self._executor.distributed
        deferred = [m.element for ms in project.spec.permute_groups().values() for m in ms if m.deferred]
        if deferred and distributed:
            raise SpecError(
                f"permute-group arguments of type 'variable' ({', '.join(deferred)}) need the threads"
                " executor (--executor threads): their values come from plugins in the coordinator",
                file=project.filename,
                argument="executor",
            )
        states: list[dict[str, Any]] | None = None
        if self.from_state_file is not None:
            states = read_failures(self.from_state_file)[self._states_used :]
            count = min(count, len(states))
            self._states_used += count
        bar = self._progress_bar(count)
        remaining = [count]
        try:
            run_items(
                self._executor,
                self._selections(project, remaining, iter(states) if states is not None else None, bar),
                setup=_BuildSetup(project, self.context),
                task=_build,
                settle=partial(self._settle, project, bar),
                name="batch",
                # threads select just before a worker is free (as one thread per project did, so
                # plugin-given permute values are in before the next selection); remote workers get
                # one project queued ahead each, to hide the transfer
                window=2 * self._executor.workers if distributed else self._executor.workers,
                stop=self._stop,
            )
        finally:
            if bar is not None:
                bar.close()
        self.summary.skipped += remaining[0]
        self.summary.seconds = time.perf_counter() - self._started
        return self.summary

    runProject = run_project

    def _selections(
        self,
        project: BatchProject,
        remaining: list[int],
        states: Iterator[dict[str, Any]] | None,
        bar: _ProgressBar | None,
    ) -> Iterator[SelectedProject]:
        """Select projects on the coordinator, in index order, while any are left and none stopped."""
        while remaining[0] > 0 and not self._stop.is_set():
            remaining[0] -= 1
            state = next(states) if states is not None else None
            selected = project.select(self.context, state=state)
            if isinstance(selected, SelectedProject):
                yield selected
            else:
                self._record(selected, bar)

    def _settle(
        self,
        project: BatchProject,
        bar: _ProgressBar | None,
        done: Finished[SelectedProject, ProjectOutcome],
    ) -> None:
        """On the coordinator: check what the worker reports, record it, drop the project's record."""
        selected = done.item
        if done.error is not None or done.result is None:
            exc = done.error
            outcome = ProjectOutcome(
                "failed",
                error=f"worker lost: {type(exc).__name__}: {exc}",
                state=_failure_state(selected),
            )
        else:
            outcome = _checked(done.result, selected)
        project.settle(self.context, selected, outcome)
        self._record(outcome, bar)

    def _record(self, outcome: ProjectOutcome, bar: _ProgressBar | None) -> None:
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

    def _progress_bar(self, total: int) -> _ProgressBar | None:
        show = self.progress if self.progress is not None else sys.stderr.isatty()
        if not show:
            return None
        from tqdm import tqdm

        bar: _ProgressBar = tqdm(
            total=total, file=sys.stderr, unit="project", dynamic_ncols=True, desc="projects"
        )
        return bar

    def finish(self) -> BatchSummary:
        """Wait for running work, release the workers and logging; the run's summary."""
        self._executor.shutdown(wait=True)
        log.removeHandler(self._log_handler)
        self._log_handler.close()
        self.summary.seconds = time.perf_counter() - self._started
        return self.summary

    def __enter__(self) -> BatchExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.finish()


def _failure_state(selected: SelectedProject) -> dict[str, dict[str, Any]]:
    """The failure-file line of a selected project (its groups, then its picks under ``__global__``)."""
    state = {g: dict(v) for g, v in selected.groups.items()}
    state.setdefault(GLOBAL_GROUP, {}).update(
        {n: p for n, p in selected.picks.items() if n not in selected.permuted}
    )
    return state


def _checked(outcome: ProjectOutcome, selected: SelectedProject) -> ProjectOutcome:
    """A ``made`` project counts only when its folder is there as seen from the coordinator."""
    if outcome.status != "made" or outcome.directory is None or Path(outcome.directory).is_dir():
        return outcome
    return ProjectOutcome(
        "failed",
        name=outcome.name,
        error=f"a worker reported the project {outcome.directory} but it does not exist here:"
        " the workers may not share this filesystem",
        state=outcome.state or _failure_state(selected),
    )


class _BuildSetup:
    """What a build worker holds once: the project and the run context (pickled to other processes;
    the threads executor shares the coordinator's own objects)."""

    def __init__(self, project: BatchProject, context: RunContext) -> None:
        self.project = project
        self.context = context

    def __call__(self) -> tuple[BatchProject, RunContext]:
        return self.project, self.context


def _build(state: tuple[BatchProject, RunContext], selected: SelectedProject) -> ProjectOutcome:
    project, context = state
    return project.build(context, selected)
