"""Anonymisation on a distributed executor (Ray): one task per image, detectors loaded once per actor.

The driver walks the input tree, skips finished images, cleans interrupted ones, and stays the only
writer of run-wide state: the summary, the progress bar, the row sink, error outputs and notifications.
Each actor builds the configured detectors once and, per image, reads, detects, draws and writes the
outputs (partial names, then renamed: an interrupted image is redone, never half-published), so a task
retried after its worker died writes the same bytes again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from masksmith.anonymise.config import AnonymiseConfig
from masksmith.anonymise.walker import (
    ImagePaths,
    PathNotReachableError,
    TreeWalker,
)
from masksmith.detect import Detector
from masksmith.errors import MasksmithError

if TYPE_CHECKING:
    from masksmith.anonymise.pipeline import RunSummary, _Run

__all__ = ["execute_distributed"]

_log = logging.getLogger("masksmith.anonymise")


class RemoteImageError(MasksmithError):
    """An image failed on a remote worker; the message is the worker's one-line description."""

    def one_line(self) -> str:
        return self.message


@dataclass
class _ImageDone:
    row: dict[str, Any] | None
    error: str | None = None
    abort: bool = False
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class _WorkerSetup:
    """What each actor needs to build its own ``_Run`` (picklable: paths, the config, names)."""

    input: str
    output: str
    archive: str | None
    config: AnonymiseConfig
    journal: bool
    detectors: Sequence[Detector] | None = None
    rows: bool = False  # a database takes a row per image: actors record the owed row before publishing

    def __call__(self) -> _Run:
        from masksmith.anonymise.pipeline import (
            NullNotifier,
            NullSink,
            RunSummary,
            _Run,
            _Timings,
            load_models,
        )

        summary = RunSummary()
        # Ray sets OMP_NUM_THREADS to the CPUs the actor reserved: the models keep to them too
        threads = os.environ.get("OMP_NUM_THREADS", "")
        models, names = load_models(
            self.config, self.detectors, model_threads=int(threads) if threads.isdigit() else None
        )
        detect = _Timings(summary.timings).detect(self.config, models)
        walker = TreeWalker(self.input, self.output, self.archive, config=self.config, journal=self.journal)
        walker.rows = self.rows
        return _Run(
            walker, self.config, detect=detect, detector_names=names, sink=NullSink(), notifier=NullNotifier(),
            journal=self.journal, summary=summary, log_file=None,
        )  # fmt: skip


def _anonymise_one(run: _Run, paths: ImagePaths) -> _ImageDone:
    """Task body on an actor: read, detect, draw and write one image."""
    from masksmith.anonymise.pipeline import _AbortRun, find_objects

    run.summary.timings.clear()
    try:
        item = run.read(paths)
        objects = find_objects(item.view, run.detect, config=run.config)
        row = run.write(item, objects)
    except (_AbortRun, PathNotReachableError) as exc:
        return _ImageDone(None, exc.one_line(), abort=True)
    except MasksmithError as exc:
        return _ImageDone(None, exc.one_line(), timings=dict(run.summary.timings))
    except Exception as exc:
        _log.error("%s failed", paths.input_file, exc_info=True)
        return _ImageDone(None, f"{type(exc).__name__}: {exc}", timings=dict(run.summary.timings))
    return _ImageDone(row, timings=dict(run.summary.timings))


def execute_distributed(
    run: _Run,
    walker: TreeWalker,
    summary: RunSummary,
    executor: Any,
    setup: _WorkerSetup,
    *,
    progress: bool,
    clear_cache: bool,
) -> None:
    """The driver's loop: walk, skip done images, feed the actor pool, record every result in order of arrival."""
    jobs, bar = run.start(clear_cache=clear_cache, progress=progress)
    window = max(1, int(getattr(executor, "workers", 1))) * 4
    inflight: dict[Future[_ImageDone], ImagePaths] = {}

    def update_bar() -> None:
        run.tick(bar)

    def finish(done: set[Future[_ImageDone]]) -> None:
        for future in done:
            paths = inflight.pop(future)
            try:
                result = future.result()
            except Exception as exc:  # lost beyond the retries of its actor
                result = _ImageDone(None, f"worker lost: {type(exc).__name__}: {exc}")
            for stage, seconds in result.timings.items():
                summary.timings[stage] = summary.timings.get(stage, 0.0) + seconds
            if result.abort:
                raise PathNotReachableError(result.error or "a shared folder is not reachable")
            if result.row is None:
                run.record_failure(paths, RemoteImageError(result.error or "failed"))
            else:
                summary.masked += 1
                summary.count_hidden(result.row)
                _log.info("done: %s", paths.input_file)
                run.add_row(paths, result.row)
            update_bar()

    pool = executor.pool(setup, _anonymise_one, name="anonymise")
    started = time.perf_counter()
    try:
        for paths in jobs:
            summary.identified += 1
            if run.settled_before(paths):
                update_bar()
                continue
            while len(inflight) >= window:
                finish(wait(list(inflight), return_when=FIRST_COMPLETED).done)
            inflight[pool.submit(paths)] = paths
        while inflight:
            finish(wait(list(inflight), return_when=FIRST_COMPLETED).done)
    finally:
        for future in inflight:
            future.cancel()
        pool.close()
        bar.close()
        try:
            run.sink.flush()
        finally:
            run.sink.close()
    run.settle_rows()
    _log.info(
        "distributed over %d worker(s) in %.1f s",
        getattr(executor, "workers", 1),
        time.perf_counter() - started,
    )
    with contextlib.suppress(OSError):
        walker.inflight_dir.rmdir()


def worker_setup(
    input: str | os.PathLike[str],
    output: str | os.PathLike[str],
    archive: str | os.PathLike[str] | None,
    config: AnonymiseConfig,
    journal: bool,
    detectors: Sequence[Detector] | None,
    *,
    rows: bool = False,
) -> _WorkerSetup:
    """The picklable recipe each actor builds its run from."""
    return _WorkerSetup(
        os.fspath(input), os.fspath(output), os.fspath(archive) if archive is not None else None, config, journal,
        list(detectors) if detectors is not None else None, rows,
    )  # fmt: skip
