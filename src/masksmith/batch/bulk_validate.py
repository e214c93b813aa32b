"""``batch validate``: bulk validation of a folder of journals, one task per journal on any executor.

The validation itself (:mod:`masksmith.journal.bulk`) lives in the journal layer, below the executors;
this module hands it a runner that drives :func:`masksmith.journal.bulk.validate_one` through
:func:`masksmith.executors.run_items` (local threads, processes or Ray alike). Paths are made absolute
here, as workers may run in another working directory.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

from masksmith.batch.driver import error_line, executor_for
from masksmith.executors import Executor, Finished, run_items
from masksmith.journal import bulk
from masksmith.journal.bulk import BulkSummary, JournalReport
from masksmith.journal.validate import Finding, Severity

__all__ = ["validate_projects"]


def validate_projects(
    projects: str | os.PathLike[str],
    *,
    threads: int = 1,
    report_dir: str | os.PathLike[str] | None = None,
    progress: Callable[[JournalReport], None] | None = None,
    executor: Executor | None = None,
) -> BulkSummary:
    """Validate every journal under ``projects`` on ``executor`` (default: ``threads`` local threads).

    The ErrorReport goes to ``report_dir`` (default: ``projects``); ``progress`` sees each journal's
    report in the order of the journals. See :func:`masksmith.journal.bulk.validate_projects`.
    """
    with executor_for(executor, threads) as runner:
        return bulk.validate_projects(
            Path(projects).absolute(),
            report_dir=report_dir if report_dir is not None else projects,
            progress=progress,
            runner=partial(_run_on, runner),
        )


def _run_on(
    executor: Executor,
    sources: Sequence[Path],
    validate: Callable[[Path], JournalReport],
    record: Callable[[JournalReport], None],
) -> None:
    def settle(done: Finished[Path, JournalReport]) -> None:
        record(done.result if done.result is not None else _lost(done))

    run_items(
        executor, sources, setup=_no_state, task=partial(_validate, validate), settle=settle, name="validate"
    )


def _no_state() -> None:
    return None


def _validate(validate: Callable[[Path], JournalReport], state: None, source: Path) -> JournalReport:
    return validate(source)


def _lost(done: Finished[Path, JournalReport]) -> JournalReport:
    """A CRITICAL report for a journal whose task raised (or whose worker was lost)."""
    message = error_line(done.error)
    failure = Finding(Severity.CRITICAL, None, None, f"could not validate: {message}", "open")
    return JournalReport(done.item, done.item.name, (failure,), failure=message, seconds=0.0)
