"""Bulk validation of a folder of journals (folders and ``.tgz`` archives) into an ErrorReport.

Each journal is opened (archives are extracted into a temporary folder), missing link masks are
regenerated from the media (and the journal folder saved, as the Journaling Tool did), every rule
runs, and the findings go to ``<projects>/ErrorReport_<pid>.csv``: space delimited, ``|`` as quote
character, rows ``journal severity start end message``. A journal that cannot be opened at all is
reported as a CRITICAL row. Pure of any CLI: progress is a callback.

This module runs no pool: :func:`validate_projects` validates here one journal after another unless
the caller hands it a ``runner`` that runs :func:`validate_one` elsewhere
(:func:`masksmith.batch.bulk_validate.validate_projects` drives one through the executors).
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from masksmith.errors import MasksmithError
from masksmith.journal import paths, store
from masksmith.journal.project import Journal
from masksmith.journal.rules_base import Finding, Severity, inspect, regenerate_mask
from masksmith.journal.validate import validate

__all__ = [
    "BulkSummary",
    "JournalReport",
    "Runner",
    "find_journals",
    "run_here",
    "unseen_outputs",
    "validate_one",
    "validate_projects",
    "write_error_report",
]

ARCHIVE_SUFFIXES = (".tgz", ".tar.gz", ".tar")


@dataclass(frozen=True)
class JournalReport:
    """Validation of one journal: its findings, masks regenerated, and where the time went."""

    source: Path
    journal_file: str
    findings: tuple[Finding, ...]
    regenerated: tuple[str, ...] = ()
    seconds: float = 0.0
    mask_seconds: float = 0.0
    failure: str | None = None
    regenerated_files: tuple[str, ...] = ()
    """The mask files regenerated and written into the journal folder (names inside it)."""


@dataclass(frozen=True)
class BulkSummary:
    journals: int
    counts: dict[str, int]
    failures: tuple[str, ...]
    regenerated: int
    report: Path | None  # None: nothing to report, no file written
    seconds: float
    mask_seconds: float
    reports: tuple[JournalReport, ...] = field(repr=False, default=())

    @property
    def mask_share(self) -> float:
        """Share of the journals' validation time spent reading edge masks."""
        busy = sum(r.seconds for r in self.reports)
        return self.mask_seconds / busy if busy > 0 else 0.0

    @property
    def has_errors(self) -> bool:
        return bool(self.counts.get("ERROR") or self.counts.get("CRITICAL"))

    def line(self) -> str:
        parts = ", ".join(f"{self.counts.get(s.name, 0)} {s.name.lower()}" for s in reversed(Severity))
        rate = self.journals / self.seconds if self.seconds > 0 else 0.0
        return (
            f"validated {self.journals} journals in {self.seconds:.1f}s ({rate:.1f}/s): {parts}; "
            f"{self.regenerated} masks regenerated; {report_note(self.report)}"
        )


def find_journals(projects: str | os.PathLike[str]) -> list[Path]:
    """Journal folders (holding a journal JSON) and archives directly under ``projects``, sorted; hidden ones skipped."""
    root = Path(projects)
    if not root.is_dir():
        raise MasksmithError("projects folder not found", file=root)
    found = []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):  # the run state (.masksmith/) and unfinished .partial folders
            continue
        if (entry.is_dir() and any(entry.glob("*.json"))) or (
            entry.is_file() and entry.name.endswith(ARCHIVE_SUFFIXES)
        ):
            found.append(entry)
    return found


def _regenerate_missing(journal: Journal) -> list[tuple[str, str]]:
    """Regenerate the missing edge masks: (message, mask file name) for each one written."""
    info = inspect(journal)
    done = []
    for start, end, data in list(journal.graph.edges()):
        name = data.get("maskname")
        if info.exists(name) or (name and not info.contained(name)):
            continue  # present, or leading out of the folder: never written (paths_contained reports it)
        if info.size(start) is None or info.size(end) is None:
            continue
        try:
            message = regenerate_mask(journal, start, end)
        except MasksmithError:
            continue
        done.append((message, str(journal.graph.edge(start, end).get("maskname", ""))))
    return done


def validate_one(source: Path) -> JournalReport:
    """Validate one journal folder or archive (archives are validated in a temporary copy)."""
    began = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="masksmith-validate-") as tmp:
            journal = Journal.open_archive(source, tmp) if source.is_file() else Journal.open(source)
            regenerated = _regenerate_missing(journal)
            if regenerated and source.is_dir():
                journal.save()
            findings = validate(journal)
            mask_seconds = inspect(journal).mask_seconds
            return JournalReport(
                source,
                journal.json_path.name,
                tuple(findings),
                tuple(message for message, _ in regenerated),
                time.perf_counter() - began,
                mask_seconds,
                regenerated_files=tuple(name for _, name in regenerated) if source.is_dir() else (),
            )
    except (MasksmithError, OSError, ValueError) as exc:
        message = exc.one_line() if isinstance(exc, MasksmithError) else f"{type(exc).__name__}: {exc}"
        failure = Finding(Severity.CRITICAL, None, None, f"could not validate: {message}", "open")
        return JournalReport(source, source.name, (failure,), (), time.perf_counter() - began, 0.0, message)


def report_note(path: Path | None) -> str:
    """``report PATH``, or ``no findings, no report`` when nothing was written."""
    return f"report {path}" if path is not None else "no findings, no report"


def write_error_report(path: Path, reports: Iterable[JournalReport]) -> Path | None:
    """The Journaling Tool's ErrorReport: space delimited, quote ``|``, rows journal severity start end message.

    Nothing is written (and None returned) when no journal has a finding: one report per run at most.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=" ", quotechar="|", quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
    for report in reports:
        for finding in report.findings:
            writer.writerow(
                (
                    report.journal_file,
                    finding.severity.name,
                    finding.start or "",
                    finding.end or "",
                    finding.message,
                )
            )
    if not buffer.getvalue():
        return None
    store.atomic_write_text(path, buffer.getvalue())
    return path


Runner = Callable[[Sequence[Path], Callable[[Path], JournalReport], Callable[[JournalReport], None]], None]
"""``runner(sources, validate, record)``: call ``validate`` on every source, wherever it likes, and
``record`` each report (in any order) on the calling thread."""


def run_here(
    sources: Sequence[Path],
    validate: Callable[[Path], JournalReport],
    record: Callable[[JournalReport], None],
) -> None:
    """The default :data:`Runner`: one journal after another, in this thread."""
    for source in sources:
        record(validate(source))


def unseen_outputs(report: JournalReport) -> list[Path]:
    """Mask files the report says were written into its journal folder that this process cannot see."""
    if not report.regenerated_files or not report.source.is_dir():
        return []
    return [
        report.source / name
        for name in report.regenerated_files
        if not paths.contained(report.source, name) or not paths.resolve(report.source, name).is_file()
    ]


def _checked(report: JournalReport) -> JournalReport:
    """``report`` as this process sees it: regenerated masks it cannot see turn into a CRITICAL finding."""
    unseen = unseen_outputs(report)
    if not unseen:
        return report
    message = (
        f"regenerated mask {unseen[0]} is not there as this process sees it: "
        "workers may not share this filesystem"
    )
    failure = Finding(Severity.CRITICAL, None, None, message, "open")
    return replace(report, findings=(*report.findings, failure), failure=report.failure or message)


def validate_projects(
    projects: str | os.PathLike[str],
    *,
    report_dir: str | os.PathLike[str] | None = None,
    progress: Callable[[JournalReport], None] | None = None,
    runner: Runner = run_here,
) -> BulkSummary:
    """Validate every journal under ``projects`` and write the ErrorReport.

    ``runner`` runs :func:`validate_one` over the journals (default: here, one after another).
    ``progress`` is called once per journal, in the order of the journals, from the calling thread.
    Masks a report says were regenerated must be visible here, or the journal gets a CRITICAL finding.
    """
    began = time.perf_counter()
    sources = find_journals(projects)
    position = {source: index for index, source in enumerate(sources)}
    waiting: dict[int, JournalReport] = {}
    reports: list[JournalReport] = []

    def record(report: JournalReport) -> None:
        waiting[position[report.source]] = _checked(report)
        while len(reports) in waiting:
            reports.append(waiting.pop(len(reports)))
            if progress is not None:
                progress(reports[-1])

    runner(sources, validate_one, record)
    target = write_error_report(Path(report_dir or projects) / f"ErrorReport_{os.getpid()}.csv", reports)
    counts = Counter(f.severity.name for r in reports for f in r.findings)
    return BulkSummary(
        journals=len(reports),
        counts=dict(counts),
        failures=tuple(f"{r.source.name}: {r.failure}" for r in reports if r.failure),
        regenerated=sum(len(r.regenerated) for r in reports),
        report=target,
        seconds=time.perf_counter() - began,
        mask_seconds=sum(r.mask_seconds for r in reports),
        reports=tuple(reports),
    )
