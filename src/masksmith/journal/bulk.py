"""Bulk validation of a folder of journals (folders and ``.tgz`` archives) into an ErrorReport.

Each journal is opened (archives are extracted into a temporary folder), missing link masks are
regenerated from the media (and the journal folder saved, as the Journaling Tool did), every rule
runs, and the findings go to ``<projects>/ErrorReport_<pid>.csv``: space delimited, ``|`` as quote
character, rows ``journal severity start end message``. A journal that cannot be opened at all is
reported as a CRITICAL row. Pure of any CLI: progress is a callback.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from masksmith.errors import MasksmithError
from masksmith.journal import store
from masksmith.journal.project import Journal
from masksmith.journal.rules_base import Finding, Severity, inspect, regenerate_mask
from masksmith.journal.validate import validate

__all__ = ["BulkSummary", "JournalReport", "find_journals", "validate_projects", "write_error_report"]

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


def _regenerate_missing(journal: Journal) -> list[str]:
    info = inspect(journal)
    done = []
    for start, end, data in list(journal.graph.edges()):
        name = data.get("maskname")
        if info.exists(name) or (name and not info.contained(name)):
            continue  # present, or leading out of the folder: never written (paths_contained reports it)
        if info.size(start) is None or info.size(end) is None:
            continue
        try:
            done.append(regenerate_mask(journal, start, end))
        except MasksmithError:
            continue
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
                tuple(regenerated),
                time.perf_counter() - began,
                mask_seconds,
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


def validate_projects(
    projects: str | os.PathLike[str],
    *,
    threads: int = 1,
    report_dir: str | os.PathLike[str] | None = None,
    progress: Callable[[JournalReport], None] | None = None,
    executor: Any = None,
) -> BulkSummary:
    """Validate every journal under ``projects`` with ``threads`` workers and write the ErrorReport.

    ``progress`` is called once per journal as it finishes (from the calling thread). ``executor`` (an
    object with ``map(fn, items)``, e.g. a Ray executor) replaces the thread pool.
    """
    began = time.perf_counter()
    sources = find_journals(projects)
    reports: list[JournalReport] = []
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        mapped = (
            executor.map(validate_one, sources) if executor is not None else pool.map(validate_one, sources)
        )
        for report in mapped:
            reports.append(report)
            if progress is not None:
                progress(report)
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
