"""Journal export: validate, stamp, redact and archive journals, then upload them to a folder or S3.

One journal goes through :func:`export_journal` (:mod:`masksmith.batch.export_one`): staged in a
private copy, stamped, validated, redacted, archived and put at the target, where the archive is
checked (size, SHA-256, MD5; for S3 the ETag and a ``sha256`` metadata value re-read with
``head_object``). Targets are :mod:`masksmith.batch.export_targets` (a folder) and
:mod:`masksmith.batch.export_s3` (S3 through boto3, credentials redacted from logs and messages).

:func:`export_projects` runs that over a folder of journals through
:func:`masksmith.executors.run_items`: one task per journal on local threads, processes or Ray alike.
This process (the driver) makes the paths absolute, decides what to skip (the completion file: an
interrupted run resumes without exporting twice; the S3 key of a journal is fixed, so a journal
uploaded just before a kill is overwritten, never duplicated), checks that an archive a worker put in
a folder is there, keeps two journals off one archive name, and writes the completion file and the
ErrorReport CSV.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

from masksmith.batch.driver import InOrder, error_line, executor_for, not_seen
from masksmith.batch.export_model import (
    ArchiveDigest,
    ExportOptions,
    ExportResult,
    ExportStatus,
    ExportSummary,
    digest_file,
    multipart_etag,
)
from masksmith.batch.export_one import (
    NEVER_REDACTED,
    QA_DATE_FORMAT,
    QA_TIME_FORMAT,
    STAGING_PREFIX,
    export_journal,
    redaction_paths,
    sweep_staging,
)
from masksmith.batch.export_s3 import S3Target, describe_error, redact
from masksmith.batch.export_targets import ExportTarget, FolderTarget, open_target
from masksmith.batch.state import CompletionFile
from masksmith.errors import ExportError, MasksmithError
from masksmith.executors import Executor, Finished, run_items
from masksmith.journal.bulk import JournalReport, find_journals, write_error_report
from masksmith.journal.validate import Finding, Severity

__all__ = [
    "NEVER_REDACTED",
    "QA_DATE_FORMAT",
    "QA_TIME_FORMAT",
    "STAGING_PREFIX",
    "ArchiveDigest",
    "ExportOptions",
    "ExportResult",
    "ExportStatus",
    "ExportSummary",
    "ExportTarget",
    "FolderTarget",
    "S3Target",
    "digest_file",
    "export_journal",
    "export_projects",
    "find_sources",
    "multipart_etag",
    "open_target",
    "redact",
    "redaction_paths",
    "sweep_staging",
]

log = logging.getLogger(__name__)


def find_sources(projects: str | os.PathLike[str]) -> list[Path]:
    """Journals to export: folders and archives directly under a folder, or the lines of a list file."""
    root = Path(projects)
    if root.is_file():
        lines = [line.strip() for line in root.read_text(encoding="utf-8").splitlines()]
        listed = [Path(line) for line in lines if line and not line.startswith("#")]
        return [p if p.is_absolute() else root.parent / p for p in listed]
    if not root.is_dir():
        raise ExportError("projects folder or list file not found", file=root)
    return find_journals(root)


def _completion_key(source: Path) -> str:
    return str(source.resolve())


def _failed(source: Path, message: str, name: str | None = None) -> ExportResult:
    failure = Finding(Severity.CRITICAL, None, None, f"export failed: {message}", "export")
    return ExportResult(
        source, name or source.name, ExportStatus.FAILED, findings=(failure,), message=message
    )


# --------------------------------------------------------------------------------------------------
# The worker's side
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Exporter:
    """What each worker gets (picklable): where to put archives and how to export."""

    target: ExportTarget
    options: ExportOptions


@dataclass
class _Names:
    """Archive names taken on one worker (local threads share one): two journals must not share one."""

    names: dict[str, Path] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reserve(self, source: Path, name: str) -> None:
        with self.lock:
            first = self.names.setdefault(name, source)
        if first != source:
            raise ExportError(f"journal {name!r} is also exported from {first} in this run", file=source)


@dataclass
class _WorkerState:
    exporter: _Exporter
    names: _Names = field(default_factory=_Names)


def _worker_state(exporter: _Exporter) -> _WorkerState:
    return _WorkerState(exporter)


def _export_item(state: _WorkerState, source: Path) -> ExportResult:
    """Export one journal on a worker; its failure is a FAILED result, not an exception."""
    exporter = state.exporter
    try:
        return export_journal(
            source, exporter.target, exporter.options, reserve=partial(state.names.reserve, source)
        )
    except (MasksmithError, OSError, ValueError) as exc:
        message = redact(exc.one_line() if isinstance(exc, MasksmithError) else describe_error(exc))
        log.warning("export of %s failed: %s", source, message)
        return _failed(source, message)


# --------------------------------------------------------------------------------------------------
# The driver's side
# --------------------------------------------------------------------------------------------------


def _absolute(target: ExportTarget) -> ExportTarget:
    """A folder target by its absolute path: workers may run in another working directory."""
    if isinstance(target, FolderTarget) and not target.directory.is_absolute():
        return FolderTarget(target.directory.absolute())
    return target


def _confirmed(result: ExportResult, target: ExportTarget) -> ExportResult:
    """An EXPORTED result as this process sees it: an archive put in a folder must be there, whole."""
    if not result.exported or not isinstance(target, FolderTarget) or result.location is None:
        return result
    stored = Path(result.location)
    try:
        size: int | None = stored.stat().st_size if stored.is_file() else None
    except OSError:
        size = None
    if size is not None and (result.digest is None or size == result.digest.size):
        return result
    message = not_seen("exported archive", stored)
    log.error("%s", message)
    return _failed(result.source, message, result.name)


def export_projects(
    projects: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    target: str | os.PathLike[str] | ExportTarget,
    options: ExportOptions | None = None,
    *,
    threads: int = 1,
    complete_file: str | os.PathLike[str] | None = None,
    report_dir: str | os.PathLike[str] | None = None,
    progress: Callable[[ExportResult], None] | None = None,
    executor: Executor | None = None,
) -> ExportSummary:
    """Export every journal of ``projects`` (a folder, a list file or a list of paths) to ``target``.

    Journals named in ``complete_file`` are skipped and each exported one is added to it (by its
    resolved source path). Findings and failures go to ``ErrorReport_<pid>.csv`` in ``report_dir``
    (default: the projects folder, or the current folder for an explicit list). One task per journal
    runs on ``executor`` (default: ``threads`` local threads); this process stays the only writer of
    the completion file and checks that no two journals were exported under one name. ``progress``
    sees each result in the order of the journals.
    """
    began = time.perf_counter()
    options = options or ExportOptions()
    redaction_paths(options.redacted)  # bad redactions fail before anything is exported
    if options.work_dir is not None:
        options = replace(options, work_dir=Path(options.work_dir).absolute())
    if isinstance(projects, str | os.PathLike):
        given = Path(projects)
        sources = [p.absolute() for p in find_sources(given.absolute())]
        base = given if given.is_dir() else given.parent
    else:
        sources = [Path(p).absolute() for p in projects]
        base = Path.cwd()
    where = _absolute(open_target(target))
    where.check()
    sweep_staging(options.work_dir)
    done_file = Path(complete_file).absolute() if complete_file is not None else None
    completion = CompletionFile(done_file) if done_file is not None else None
    names = _Names()
    results: list[ExportResult] = []

    def release(index: int, result: ExportResult) -> None:
        if result.exported:
            result = _confirmed(result, where)
        if result.exported:
            try:  # workers keep names apart among themselves; this catches clashes between workers
                names.reserve(result.source, result.name)
            except ExportError as exc:
                log.warning("%s", exc.one_line())
                result = ExportResult(result.source, result.name, ExportStatus.FAILED, message=exc.one_line())
            else:
                if completion is not None:
                    completion.add(_completion_key(result.source))
        results.append(result)
        if progress is not None:
            progress(result)

    ordered: InOrder[ExportResult] = InOrder(release)

    def todo() -> Iterator[tuple[int, Path]]:
        for index, source in enumerate(sources):
            if completion is not None and _completion_key(source) in completion:
                skipped = ExportResult(source, source.name, ExportStatus.SKIPPED, message="already exported")
                ordered.put(index, skipped)
                continue
            yield index, source

    def settle(done: Finished[tuple[int, Path], ExportResult]) -> None:
        index, source = done.item
        result = done.result if done.result is not None else _failed(source, redact(error_line(done.error)))
        ordered.put(index, result)

    with executor_for(executor, threads) as runner:
        run_items(
            runner,
            todo(),
            setup=partial(_worker_state, _Exporter(where, options)),
            task=_export_pair,
            settle=settle,
            name="export",
        )
    reports = [
        JournalReport(r.source, r.source.name, r.findings)
        for r in results
        if r.findings and r.status is not ExportStatus.SKIPPED
    ]
    report = write_error_report(Path(report_dir or base) / f"ErrorReport_{os.getpid()}.csv", reports)
    return ExportSummary(
        tuple(results),
        report,
        where.describe(),
        time.perf_counter() - began,
        Path(complete_file) if complete_file is not None else None,
    )


def _export_pair(state: _WorkerState, item: tuple[int, Path]) -> ExportResult:
    return _export_item(state, item[1])
