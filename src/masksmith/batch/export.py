"""Journal export: validate, stamp, redact and archive journals, then upload them to a folder or S3.

One journal (a folder or a ``.tgz``) goes through :func:`export_journal`:

1. it is staged in a temporary folder (hard links or copies of its files, the JSON written fresh),
   so the source journal's files are never modified;
2. the staged copy gets the export edits: ``username``/``creator`` (``update_name``),
   ``organization``, the QA stamp (``validation``, ``validatedby``, ``validationdate``
   ``MM/DD/YYYY``, ``validationtime`` ``HH:MM:SS``, GMT) or, without ``qa``, stale QA fields
   cleared (the journal changed after it was validated), and ``exporttime`` (GMT);
3. it is validated (unless ``skip_validation``); a journal with ERROR or CRITICAL findings is
   *refused* — not uploaded — unless ``ignore_errors`` (the Journaling Tool's ``--ignore``);
4. redacted edge file paths (``arguments.pastemask`` …) are removed from ``edgeFilePaths`` in the
   exported JSON and their files left out of ``<name>.tgz``;
5. the complete archive is put at ``<target>/<name>.tgz`` and checked: size, SHA-256 and MD5 (for
   S3 the ETag — single part or the multipart form — and a ``sha256`` metadata value re-read with
   ``head_object``; for a folder, the copied file is hashed again before it is renamed into place).

:func:`export_projects` runs that over a folder of journals with threads, a completion file (an
interrupted run resumes without exporting twice; the S3 key of a journal is fixed, so a journal
uploaded just before a kill is overwritten, never duplicated) and the ErrorReport CSV.

S3 goes through boto3 (``masksmith[s3]``) with its usual credential chain; ``endpoint_url`` selects
an S3-compatible store. Access keys and session tokens are redacted from boto3/botocore/urllib3 log
records and from every error message this module raises.
"""

from __future__ import annotations

import base64
import contextlib
import enum
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from masksmith.batch.inflight import folder_owner_dead, write_owner
from masksmith.batch.state import CompletionFile
from masksmith.errors import ExportError, MasksmithError, ModelUnavailable
from masksmith.executors import is_distributed
from masksmith.journal import paths, store
from masksmith.journal.bulk import (
    ARCHIVE_SUFFIXES,
    JournalReport,
    find_journals,
    report_note,
    write_error_report,
)
from masksmith.journal.model import TIME_FORMAT, default_username, now_text
from masksmith.journal.project import Journal
from masksmith.journal.validate import Finding, Severity, has_errors, validate

__all__ = [
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
]

log = logging.getLogger(__name__)

QA_DATE_FORMAT = "%m/%d/%Y"
QA_TIME_FORMAT = "%H:%M:%S"
_TOP_LEVEL_FILE_KEYS = ("maskname", "inputmaskname")
NEVER_REDACTED = ("maskname",)
"""Edge file paths that cannot be redacted: without its change mask a link means nothing."""


# --------------------------------------------------------------------------------------------------
# Options and results
# --------------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------------
# Credentials out of logs and messages
# --------------------------------------------------------------------------------------------------

_MASK = "***"
_PATTERNS = (
    # SigV4 Authorization header and presigned URLs: Credential=AKID/date/region/service/aws4_request
    (re.compile(r"(?i)(credential=)[^/&\s,'\"]+"), r"\1" + _MASK),
    (re.compile(r"(?i)(signature=)[0-9a-f]+"), r"\1" + _MASK),
    (re.compile(r"(?i)(x-amz-security-token['\"]?\s*[:=]\s*b?['\"]?)[^&\s,'\"]+"), r"\1" + _MASK),
    (re.compile(r"(?i)(awsaccesskeyid=)[^&\s,'\"]+"), r"\1" + _MASK),
    # user:password@ in an endpoint URL
    (re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://)[^/@\s]+@"), r"\1" + _MASK + "@"),
)
_SECRETS: set[str] = set()
_SECRETS_LOCK = threading.Lock()
_LOGGER_PREFIXES = ("boto3", "botocore", "s3transfer", "urllib3", __name__)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with known credentials and credential-shaped fragments replaced by ``***``."""
    with _SECRETS_LOCK:
        known = {*_SECRETS, *secrets}
    for secret in sorted((s for s in known if s and len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, _MASK)
    for pattern, substitute in _PATTERNS:
        text = pattern.sub(substitute, text)
    return text


class _RedactingFilter(logging.Filter):
    """Rewrites a log record's message (and traceback text) with credentials redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is logging's problem, not ours
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


_FILTER = _RedactingFilter()


def _guard_logs(secrets: Iterable[str] = ()) -> None:
    """Remember ``secrets`` and put the redacting filter on every AWS/HTTP library logger.

    Logger filters see only records logged to that very logger, so each existing logger under the
    library names gets it; called before every S3 request so loggers created late are covered too.
    """
    with _SECRETS_LOCK:
        _SECRETS.update(s for s in secrets if s)
    names = [n for n in list(logging.root.manager.loggerDict) if n.startswith(_LOGGER_PREFIXES)]
    for name in {*names, *_LOGGER_PREFIXES}:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


def _describe(exc: BaseException) -> str:
    """One redacted line for a library exception."""
    code = ""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = str(response.get("Error", {}).get("Code", "") or "")
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    label = f"{type(exc).__name__}{f' ({code})' if code else ''}"
    return redact(f"{label}: {text}" if text else label)


# --------------------------------------------------------------------------------------------------
# Checksums
# --------------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------------
# Targets
# --------------------------------------------------------------------------------------------------


class ExportTarget(Protocol):
    """Where archives go. ``put`` stores the complete archive under ``key`` and verifies it."""

    def describe(self, key: str = "") -> str: ...

    def check(self) -> None: ...

    def put(self, archive: Path, key: str, digest: ArchiveDigest) -> str: ...


class FolderTarget:
    """A local (or mounted) folder: the archive is copied to a temporary name, re-hashed, renamed."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def describe(self, key: str = "") -> str:
        return str(self.directory / key) if key else str(self.directory)

    def check(self) -> None:
        if self.directory.exists() and not self.directory.is_dir():
            raise ExportError("export target is not a folder", file=self.directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def put(self, archive: Path, key: str, digest: ArchiveDigest) -> str:
        final = self.directory / key
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            shutil.copyfile(archive, tmp)
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
            copied = digest_file(tmp)
            if copied != digest:
                raise ExportError(
                    f"copy does not match the archive (size {copied.size} vs {digest.size}, "
                    f"sha256 {copied.sha256[:12]} vs {digest.sha256[:12]})",
                    file=final,
                )
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return str(final)


class S3Target:
    """``s3://bucket/prefix`` through boto3; single PUT with Content-MD5 below ``multipart_threshold``."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        profile: str | None = None,
        region: str | None = None,
        multipart_threshold: int = 64 * 1024 * 1024,
        part_size: int = 16 * 1024 * 1024,
        client: Any = None,
    ) -> None:
        if not bucket or "/" in bucket:
            raise ExportError(f"S3 bucket name {bucket!r} is not valid", argument="s3")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url
        self.profile = profile
        self.region = region
        self.multipart_threshold = multipart_threshold
        self.part_size = part_size
        self._client = client
        self._lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> S3Target:
        """``bucket/folder`` or ``s3://bucket/folder``."""
        text = url.strip()
        text = text[5:] if text.lower().startswith("s3://") else text
        bucket, _, prefix = text.partition("/")
        return cls(bucket, prefix, **kwargs)

    def describe(self, key: str = "") -> str:
        return f"s3://{self.bucket}/{self.key(key)}" if key else f"s3://{self.bucket}/{self.prefix}"

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._make_client()
            return self._client

    def _make_client(self) -> Any:
        try:
            import boto3
            from botocore.config import Config
            from botocore.exceptions import BotoCoreError
        except ImportError:
            raise ModelUnavailable("boto3 is not installed; install masksmith[s3]", argument="s3") from None
        _guard_logs()
        try:
            session = boto3.session.Session(profile_name=self.profile, region_name=self.region)
            credentials = session.get_credentials()
        except BotoCoreError as exc:
            raise ExportError(f"cannot set up S3: {_describe(exc)}", argument="s3") from None
        if credentials is None:
            raise ExportError(
                "no AWS credentials found (environment, shared credentials file, profile or instance role)",
                argument="s3",
            )
        frozen = credentials.get_frozen_credentials()
        _guard_logs([frozen.access_key, frozen.secret_key, frozen.token or ""])
        config = Config(
            connect_timeout=10,
            read_timeout=60,
            retries={"max_attempts": 3, "mode": "standard"},
            s3={"addressing_style": "path"} if self._custom_endpoint() else None,
        )
        try:
            return session.client("s3", endpoint_url=self.endpoint_url, config=config)
        except (BotoCoreError, ValueError) as exc:
            raise ExportError(f"cannot set up S3: {_describe(exc)}", argument="s3") from None

    def _custom_endpoint(self) -> bool:
        # boto3 also takes the endpoint from AWS_ENDPOINT_URL(_S3); S3-compatible stores want path style
        return bool(
            self.endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        )

    @contextlib.contextmanager
    def _errors(self, what: str, key: str = "") -> Iterator[None]:
        """Library failures become one redacted ExportError naming the operation and the object."""
        from botocore.exceptions import BotoCoreError, ClientError

        _guard_logs()
        try:
            yield
        except (BotoCoreError, ClientError, OSError) as exc:
            raise ExportError(f"{what} failed: {_describe(exc)}", file=self.describe(key)) from None

    def check(self) -> None:
        """Fail early, once, when the bucket cannot be reached."""
        client = self.client
        with self._errors("opening the bucket"):
            client.head_bucket(Bucket=self.bucket)

    def put(self, archive: Path, key: str, digest: ArchiveDigest) -> str:
        client = self.client
        object_key = self.key(key)
        metadata = {"sha256": digest.sha256, "md5": digest.md5}
        if digest.size <= self.multipart_threshold:
            expected_etag = digest.md5
            content_md5 = base64.b64encode(bytes.fromhex(digest.md5)).decode("ascii")
            with self._errors("upload", key), open(archive, "rb") as body:
                client.put_object(
                    Bucket=self.bucket,
                    Key=object_key,
                    Body=body,
                    ContentMD5=content_md5,
                    ContentType="application/gzip",
                    Metadata=metadata,
                )
        else:
            from boto3.s3.transfer import TransferConfig
            from s3transfer.utils import ChunksizeAdjuster

            part = ChunksizeAdjuster().adjust_chunksize(self.part_size, digest.size)
            expected_etag = multipart_etag(archive, part)
            config = TransferConfig(multipart_threshold=self.multipart_threshold, multipart_chunksize=part)
            with self._errors("upload", key):
                client.upload_file(
                    str(archive),
                    self.bucket,
                    object_key,
                    ExtraArgs={"Metadata": metadata, "ContentType": "application/gzip"},
                    Config=config,
                )
        with self._errors("checking the upload", key):
            head = client.head_object(Bucket=self.bucket, Key=object_key)
        problems = _compare_head(head, digest, expected_etag)
        if problems:
            with contextlib.suppress(ExportError), self._errors("removing the bad upload", key):
                client.delete_object(Bucket=self.bucket, Key=object_key)
            raise ExportError(
                f"uploaded object does not match the archive: {problems}", file=self.describe(key)
            )
        return self.describe(key)


def _compare_head(head: dict[str, Any], digest: ArchiveDigest, expected_etag: str) -> str:
    problems = []
    size = head.get("ContentLength")
    if size != digest.size:
        problems.append(f"size {size} != {digest.size}")
    stored = (head.get("Metadata") or {}).get("sha256")
    if stored != digest.sha256:
        problems.append(f"sha256 metadata {stored!r} != {digest.sha256[:12]}…")
    etag = str(head.get("ETag", "")).strip('"')
    if etag != expected_etag:
        problems.append(f"ETag {etag!r} != {expected_etag!r}")
    return "; ".join(problems)


def open_target(
    location: str | os.PathLike[str] | ExportTarget,
    *,
    endpoint_url: str | None = None,
    profile: str | None = None,
    region: str | None = None,
) -> ExportTarget:
    """A target from ``s3://bucket/folder`` or a folder path (targets pass through unchanged)."""
    if isinstance(location, FolderTarget | S3Target):
        return location
    if isinstance(location, str | os.PathLike):
        text = os.fspath(location)
        if text.lower().startswith("s3://"):
            return S3Target.from_url(text, endpoint_url=endpoint_url, profile=profile, region=region)
        return FolderTarget(text)
    return location


# --------------------------------------------------------------------------------------------------
# One journal
# --------------------------------------------------------------------------------------------------


def redaction_paths(names: Iterable[str]) -> tuple[str, ...]:
    """Normalise redaction names: ``pastemask`` → ``arguments.pastemask``; dotted paths stay."""
    paths: list[str] = []
    for raw in names:
        name = raw.strip()
        if not name or name.lower() == "none":
            continue
        path = name if "." in name or name in _TOP_LEVEL_FILE_KEYS else f"arguments.{name}"
        if path in NEVER_REDACTED:
            raise ExportError(
                f"{path!r} cannot be redacted: it is the link's change mask", argument="redacted"
            )
        paths.append(path)
    return tuple(dict.fromkeys(paths))


def _dotted(data: dict[str, Any], path: str) -> object:
    value: object = data
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _redacted_files(journal: Journal, redactions: Sequence[str]) -> list[str]:
    names = []
    for _, _, data in journal.graph.edges():
        for path in redactions:
            value = _dotted(data, path)
            if isinstance(value, str) and value:
                names.append(value)
    return list(dict.fromkeys(names))


def _link_or_copy(source: Path, target: Path) -> None:
    # A hard link costs nothing; every later write to the staged copy replaces files (os.replace),
    # so the source's inode is never written.
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _stage(source: Path, staging: Path) -> Journal:
    """A private copy of a journal folder or archive under ``staging/journal/<name>/``."""
    if source.is_file():
        if not source.name.endswith(ARCHIVE_SUFFIXES):
            raise ExportError("not a journal folder or .tgz archive", file=source)
        original = Journal.open_archive(source, staging / "extracted")
    else:
        original = Journal.open(source)
    name = original.name or original.directory.name
    try:
        paths.plain_name(name, attribute="name", node="graph")
    except paths.PathEscapeError as exc:
        raise ExportError(f"journal name cannot name an archive: {exc.message}", file=source) from None
    folder = staging / "journal" / name
    folder.mkdir(parents=True)
    file_arguments = paths.catalogue_file_arguments(original.catalogue)
    for file_name in store.journal_files(original.graph, file_arguments=file_arguments):
        if not paths.contained(original.directory, file_name):
            continue  # validation reports it (paths_contained); it is never read or copied
        path = paths.resolve(original.directory, file_name)
        if not path.is_file():
            continue  # validation reports it; archiving refuses it unless --ignore
        copy = paths.resolve(folder, file_name)
        copy.parent.mkdir(parents=True, exist_ok=True)
        _link_or_copy(path, copy)
    graph = store.from_dict(json.loads(store.dumps(original.graph)), origin=str(source))  # a deep copy
    staged = Journal(folder, graph, catalogue=original.catalogue)
    staged.warnings.extend(original.warnings)
    return staged


def _unarchivable(journal: Journal) -> list[str]:
    """File names of a staged journal that cannot go into its archive: leading out, or missing."""
    file_arguments = paths.catalogue_file_arguments(journal.catalogue)
    names = []
    for ref in paths.references(journal.graph, file_arguments=file_arguments):
        if not paths.contained(journal.directory, ref.name) or not journal.file_path(ref.name).is_file():
            names.append(str(ref.name))
    return list(dict.fromkeys(names))


STAGING_PREFIX = "masksmith-export-"


def sweep_staging(work_dir: str | os.PathLike[str] | None = None) -> list[Path]:
    """Remove ``masksmith-export-*`` staging folders whose owner process is provably dead.

    A staging folder carries its owner (host, pid, start time); one without an owner file is left
    alone (it may be a moment old). Returns the folders removed.
    """
    root = Path(work_dir) if work_dir is not None else Path(tempfile.gettempdir())
    removed: list[Path] = []
    try:
        entries = list(root.glob(f"{STAGING_PREFIX}*"))
    except OSError:
        return removed
    for entry in entries:
        if entry.is_dir() and not entry.is_symlink() and folder_owner_dead(entry):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    if removed:
        log.warning("removed %d export staging folder(s) left by killed runs", len(removed))
    return removed


def _parse(text: object, fmt: str) -> datetime | None:
    try:
        return datetime.strptime(str(text), fmt)
    except ValueError:
        return None


def _apply_edits(journal: Journal, options: ExportOptions, now: datetime) -> None:
    attributes = journal.graph.attributes
    user = options.user
    if options.update_name:
        attributes["username"] = user
        attributes["creator"] = user
    if options.organization is not None:
        attributes["organization"] = options.organization
    if options.qa:
        attributes["validation"] = "yes"
        attributes["validatedby"] = user
        attributes["validationdate"] = now.strftime(QA_DATE_FORMAT)
        attributes["validationtime"] = now.strftime(QA_TIME_FORMAT)
    elif str(attributes.get("validation", "no")).lower() == "yes":
        stamped = _parse(
            f"{attributes.get('validationdate', '')} {attributes.get('validationtime', '')}",
            f"{QA_DATE_FORMAT} {QA_TIME_FORMAT}",
        )
        updated = _parse(attributes.get("updatetime", ""), TIME_FORMAT)
        if stamped is not None and updated is not None and updated > stamped:
            # the journal changed after it was quality assured: the stamp no longer holds
            attributes.update(validation="no", validatedby="", validationdate="", validationtime="")
    attributes["exporttime"] = now_text(now)


def export_journal(
    source: str | os.PathLike[str],
    target: str | os.PathLike[str] | ExportTarget,
    options: ExportOptions | None = None,
    *,
    now: datetime | None = None,
    reserve: Callable[[str], None] | None = None,
) -> ExportResult:
    """Validate, stamp, redact and archive one journal (folder or ``.tgz``) and put it at ``target``.

    Returns EXPORTED (``location`` and ``digest`` set) or REFUSED (validation errors without
    ``ignore_errors``; nothing uploaded). Raises ExportError (or JournalError for a journal that
    cannot be opened or archived) when the export itself fails. The source is never modified.
    ``reserve`` is called with the journal's name before anything is put at the target; it may
    raise to stop the export (a run uses it to keep two journals off one archive name).
    """
    options = options or ExportOptions()
    where = open_target(target)
    origin = Path(source)
    redactions = redaction_paths(options.redacted)
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    with tempfile.TemporaryDirectory(prefix=STAGING_PREFIX, dir=options.work_dir) as tmp:
        staging = Path(tmp)
        write_owner(staging)  # a killed run's staging is swept by the next run (sweep_staging)
        journal = _stage(origin, staging)
        _apply_edits(journal, options, moment)
        findings: tuple[Finding, ...] = ()
        if not options.skip_validation:
            findings = tuple(validate(journal, full=True))
            if has_errors(findings) and not options.ignore_errors:
                errors = sum(1 for f in findings if f.severity >= Severity.ERROR)
                return ExportResult(
                    origin,
                    journal.name,
                    ExportStatus.REFUSED,
                    findings=findings,
                    message=f"not exported: {errors} validation error(s); --ignore exports anyway",
                )
        redacted_files = _redacted_files(journal, redactions)
        excluded = list(redacted_files)
        if options.ignore_errors:
            # what validation reports (files missing or leading out) stays out; the rest goes
            excluded = list(dict.fromkeys([*excluded, *_unarchivable(journal)]))
        file_paths = journal.graph.attributes.get("edgeFilePaths")
        if isinstance(file_paths, dict):
            for path in redactions:
                file_paths.pop(path, None)
        journal.save()
        archive = store.create_archive(
            journal.directory, staging / "archive", journal=journal.graph, exclude=excluded
        )
        digest = digest_file(archive)
        if reserve is not None:
            reserve(journal.name)
        location = where.put(archive, archive.name, digest)
    log.info("exported %s to %s (%d bytes, sha256 %s)", origin, location, digest.size, digest.sha256)
    return ExportResult(
        origin,
        journal.name,
        ExportStatus.EXPORTED,
        location=location,
        digest=digest,
        findings=findings,
        redacted_files=tuple(redacted_files),
        message=f"exported to {location}",
    )


# --------------------------------------------------------------------------------------------------
# Many journals
# --------------------------------------------------------------------------------------------------


def find_sources(projects: str | os.PathLike[str]) -> list[Path]:
    """Journals to export: folders and archives directly under a folder, or the lines of a list file."""
    root = Path(projects)
    if root.is_file():
        lines = [line.strip() for line in root.read_text(encoding="utf-8").splitlines()]
        paths = [Path(line) for line in lines if line and not line.startswith("#")]
        return [p if p.is_absolute() else root.parent / p for p in paths]
    if not root.is_dir():
        raise ExportError("projects folder or list file not found", file=root)
    return find_journals(root)


def _completion_key(source: Path) -> str:
    return str(source.resolve())


@dataclass
class _Run:
    target: ExportTarget
    options: ExportOptions
    completion: CompletionFile | None
    names: dict[str, Path] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def one(self, source: Path) -> ExportResult:
        key = _completion_key(source)
        if self.completion is not None and key in self.completion:
            return ExportResult(source, source.name, ExportStatus.SKIPPED, message="already exported")
        try:
            result = export_journal(source, self.target, self.options, reserve=partial(self.reserve, source))
        except (MasksmithError, OSError, ValueError) as exc:
            message = redact(exc.one_line() if isinstance(exc, MasksmithError) else _describe(exc))
            log.warning("export of %s failed: %s", source, message)
            failure = Finding(Severity.CRITICAL, None, None, f"export failed: {message}", "export")
            return ExportResult(
                source, source.name, ExportStatus.FAILED, findings=(failure,), message=message
            )
        if result.exported and self.completion is not None:
            self.completion.add(key)
        return result

    def reserve(self, source: Path, name: str) -> None:
        """Claim the archive name ``name`` for ``source``: two journals must not share one key."""
        with self.lock:
            first = self.names.setdefault(name, source)
        if first != source:
            raise ExportError(f"journal {name!r} is also exported from {first} in this run", file=source)


class _RemoteExport:
    """One journal's export on a remote worker (no completion file, no shared name table there)."""

    def __init__(self, target: ExportTarget, options: ExportOptions) -> None:
        self.target = target
        self.options = options

    def __call__(self, source: Path) -> ExportResult:
        return _Run(self.target, self.options, None).one(source)


def _export_distributed(run: _Run, sources: Sequence[Path], executor: Any) -> Iterator[ExportResult]:
    todo = [s for s in sources if run.completion is None or _completion_key(s) not in run.completion]
    done = {id(s) for s in todo}
    results = iter(executor.map(_RemoteExport(run.target, run.options), todo))
    for source in sources:
        if id(source) not in done:
            yield ExportResult(source, source.name, ExportStatus.SKIPPED, message="already exported")
            continue
        result = next(results)
        if result.exported:
            try:
                run.reserve(source, result.name)
            except ExportError as exc:
                log.warning("%s", exc.one_line())
                yield ExportResult(source, result.name, ExportStatus.FAILED, message=exc.one_line())
                continue
            if run.completion is not None:
                run.completion.add(_completion_key(source))
        yield result


def export_projects(
    projects: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    target: str | os.PathLike[str] | ExportTarget,
    options: ExportOptions | None = None,
    *,
    threads: int = 1,
    complete_file: str | os.PathLike[str] | None = None,
    report_dir: str | os.PathLike[str] | None = None,
    progress: Callable[[ExportResult], None] | None = None,
    executor: Any = None,
) -> ExportSummary:
    """Export every journal of ``projects`` (a folder, a list file or a list of paths) to ``target``.

    Journals named in ``complete_file`` are skipped and each exported one is added to it (by its
    resolved source path). Findings and failures go to ``ErrorReport_<pid>.csv`` in ``report_dir``
    (default: the projects folder, or the current folder for an explicit list).

    A distributed ``executor`` (Ray) exports one journal per task; this process stays the only writer of
    the completion file and checks that no two journals were exported under one name.
    """
    began = time.perf_counter()
    options = options or ExportOptions()
    redaction_paths(options.redacted)  # bad redactions fail before anything is exported
    if isinstance(projects, str | os.PathLike):
        sources = find_sources(projects)
        base = Path(projects) if Path(projects).is_dir() else Path(projects).parent
    else:
        sources = [Path(p) for p in projects]
        base = Path.cwd()
    where = open_target(target)
    where.check()
    sweep_staging(options.work_dir)
    completion = CompletionFile(complete_file) if complete_file is not None else None
    run = _Run(where, options, completion)
    results: list[ExportResult] = []
    if is_distributed(executor):
        for result in _export_distributed(run, sources, executor):
            results.append(result)
            if progress is not None:
                progress(result)
    else:
        with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
            for result in pool.map(run.one, sources):
                results.append(result)
                if progress is not None:
                    progress(result)
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
