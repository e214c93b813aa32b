"""What an export does and what it reports: options, per-journal results, the run's summary, digests."""

from __future__ import annotations

import enum
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from masksmith.journal.bulk import report_note
from masksmith.journal.model import default_username
from masksmith.journal.validate import Finding

__all__ = [
    "ArchiveDigest",
    "ExportOptions",
    "ExportResult",
    "ExportStatus",
    "ExportSummary",
    "digest_file",
    "multipart_etag",
]


@dataclass(frozen=True, kw_only=True)
class ExportOptions:
    """What an export does to each journal (the ``jtbatch export`` flags)."""

    qa: bool = False
    """Stamp the journal as quality assured by ``username``."""
    username: str | None = None
    """The exporting user (default: the login name)."""
    update_name: bool = False
    """Replace the journal's ``username`` and ``creator`` with ``username``."""
    organization: str | None = None
    """Replace the journal's ``organization``."""
    redacted: tuple[str, ...] = ()
    """Edge file paths (``arguments.pastemask``; a bare ``pastemask`` means ``arguments.pastemask``)."""
    skip_validation: bool = False
    ignore_errors: bool = False
    """Export journals even when validation found ERROR or CRITICAL findings."""
    work_dir: Path | None = None
    """Where journals are staged and archives built (default: the system temporary folder)."""

    @property
    def user(self) -> str:
        return self.username or default_username()


class ExportStatus(enum.Enum):
    EXPORTED = "exported"
    SKIPPED = "skipped"
    """Already in the completion file."""
    REFUSED = "refused"
    """Validation found errors and ``ignore_errors`` was off."""
    FAILED = "failed"


@dataclass(frozen=True)
class ArchiveDigest:
    size: int
    md5: str
    sha256: str


@dataclass(frozen=True)
class ExportResult:
    """What happened to one journal."""

    source: Path
    name: str
    status: ExportStatus
    location: str | None = None
    digest: ArchiveDigest | None = None
    findings: tuple[Finding, ...] = ()
    redacted_files: tuple[str, ...] = ()
    message: str = ""

    @property
    def exported(self) -> bool:
        return self.status is ExportStatus.EXPORTED


@dataclass(frozen=True)
class ExportSummary:
    results: tuple[ExportResult, ...]
    report: Path | None  # None: no findings, no ErrorReport written
    target: str
    seconds: float
    complete_file: Path | None = None

    def count(self, status: ExportStatus) -> int:
        return sum(1 for r in self.results if r.status is status)

    @property
    def ok(self) -> bool:
        """True when nothing was refused or failed."""
        return not any(r.status in (ExportStatus.REFUSED, ExportStatus.FAILED) for r in self.results)

    def line(self) -> str:
        counts = ", ".join(f"{self.count(s)} {s.value}" for s in ExportStatus)
        return f"export to {self.target}: {counts} in {self.seconds:.1f}s; {report_note(self.report)}"


_BLOCK = 1 << 20


def digest_file(path: str | os.PathLike[str]) -> ArchiveDigest:
    """Size, MD5 and SHA-256 of a file, read once."""
    md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while block := handle.read(_BLOCK):
            md5.update(block)
            sha.update(block)
            size += len(block)
    return ArchiveDigest(size, md5.hexdigest(), sha.hexdigest())


def multipart_etag(path: str | os.PathLike[str], part_size: int) -> str:
    """The ETag S3 gives a multipart upload: MD5 of the parts' MD5s, ``-`` and the part count."""
    digests = []
    with open(path, "rb") as handle:
        while part := handle.read(part_size):
            digests.append(hashlib.md5(part, usedforsecurity=False).digest())
    joined = hashlib.md5(b"".join(digests), usedforsecurity=False).hexdigest()
    return f"{joined}-{len(digests)}"
