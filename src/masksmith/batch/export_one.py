"""One journal's export: stage a private copy, stamp it, validate, redact, archive, put it at a target.

1. the journal (a folder or a ``.tgz``) is staged in a temporary folder (hard links or copies of its
   files, the JSON written fresh), so the source journal's files are never modified;
2. the staged copy gets the export edits: ``username``/``creator`` (``update_name``),
   ``organization``, the QA stamp (``validation``, ``validatedby``, ``validationdate``
   ``MM/DD/YYYY``, ``validationtime`` ``HH:MM:SS``, GMT) or, without ``qa``, stale QA fields
   cleared (the journal changed after it was validated), and ``exporttime`` (GMT);
3. it is validated (unless ``skip_validation``); a journal with ERROR or CRITICAL findings is
   *refused* — not uploaded — unless ``ignore_errors`` (the Journaling Tool's ``--ignore``);
4. redacted edge file paths (``arguments.pastemask`` …) are removed from ``edgeFilePaths`` in the
   exported JSON and their files left out of ``<name>.tgz``;
5. the complete archive is put at ``<target>/<name>.tgz`` and checked there (see the targets).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from masksmith.batch.export_model import ExportOptions, ExportResult, ExportStatus, digest_file
from masksmith.batch.export_targets import ExportTarget, open_target
from masksmith.batch.inflight import folder_owner_dead, write_owner
from masksmith.errors import ExportError
from masksmith.journal import paths, store
from masksmith.journal.bulk import ARCHIVE_SUFFIXES
from masksmith.journal.model import TIME_FORMAT, now_text
from masksmith.journal.project import Journal
from masksmith.journal.validate import Finding, Severity, has_errors, validate

__all__ = [
    "NEVER_REDACTED",
    "QA_DATE_FORMAT",
    "QA_TIME_FORMAT",
    "STAGING_PREFIX",
    "export_journal",
    "redaction_paths",
    "sweep_staging",
]

log = logging.getLogger("masksmith.batch.export")

QA_DATE_FORMAT = "%m/%d/%Y"
QA_TIME_FORMAT = "%H:%M:%S"
_TOP_LEVEL_FILE_KEYS = ("maskname", "inputmaskname")
NEVER_REDACTED = ("maskname",)
"""Edge file paths that cannot be redacted: without its change mask a link means nothing."""


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
