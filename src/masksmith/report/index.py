"""Index pages: a folder of journals (one row per journal, linking to its viewer page) and image runs.

:func:`build_batch_index` writes ``index.html`` plus ``<stem>_journals/`` holding one viewer page per
journal; the table is sortable and filterable by operation name in plain JavaScript.
:func:`build_image_run_index` writes the quick visual check that ``anonymise`` / ``facemask --report`` use:
input, output and masks per image, with the masks as toggleable overlays.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from masksmith.errors import ExportError, MasksmithError, MediaError
from masksmith.journal.project import Journal
from masksmith.journal.store import find_journal_json
from masksmith.journal.validate import validate as validate_journal
from masksmith.media import io as media_io
from masksmith.media import masks
from masksmith.report.files import write_file
from masksmith.report.layout import natural_key
from masksmith.report.page_assets import (
    MARKER,
    MARKER_TEXT,
    AssetFolder,
    fit_within,
    mask_overlay,
    template_environment,
    template_source,
    web_pixels,
    write_page,
)
from masksmith.report.viewer import MAX_IMAGE_SIDE, THUMB_SIZE, build_report, opened_journal

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]
_ARCHIVE_SUFFIXES = (".tgz", ".tar.gz")


# ---- validation status ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ValidationStatus:
    """One cell of the index: ``level`` is ``ok``, ``warning``, ``error``, ``failed`` or ``none``."""

    level: str
    text: str
    details: tuple[str, ...] = ()


NOT_VALIDATED = ValidationStatus("none", "not validated")


def validate_function() -> Callable[[Journal], Any] | None:
    """The journal validator the index uses (a seam: tests swap it for none)."""
    return validate_journal


def _severity_name(finding: Any) -> str:
    severity = getattr(finding, "severity", None)
    if severity is None and isinstance(finding, dict):
        severity = finding.get("severity")
    name = getattr(severity, "name", severity)
    return str(name or "").upper()


def summarise_findings(findings: Iterable[Any], *, max_details: int = 20) -> ValidationStatus:
    """A status from validation findings (objects or dicts with a ``severity``); worst findings as details."""
    items = list(findings)
    counts = Counter(_severity_name(f) for f in items)
    errors = counts["ERROR"] + counts["CRITICAL"]
    warnings = counts["WARNING"]
    rank = {"CRITICAL": 0, "ERROR": 1, "WARNING": 2}
    worst = sorted((f for f in items if _severity_name(f) in rank), key=lambda f: rank[_severity_name(f)])
    details = tuple(str(f) for f in worst[:max_details])
    if len(worst) > max_details:
        details += (f"… and {len(worst) - max_details} more",)
    if errors:
        extra = f", {warnings} warning(s)" if warnings else ""
        return ValidationStatus("error", f"{errors} error(s){extra}", details)
    if warnings:
        return ValidationStatus("warning", f"{warnings} warning(s)", details)
    return ValidationStatus("ok", "valid")


def validation_status(
    journal: Journal, validator: Callable[[Journal], Any] | None = None
) -> ValidationStatus:
    """Validate a journal when a validator exists; never raises (a failing validator is a status)."""
    return validated(journal, validator)[0]


def validated(
    journal: Journal, validator: Callable[[Journal], Any] | None = None
) -> tuple[ValidationStatus, list[Any] | None]:
    """The status and the findings (None when no validator ran or it failed); never raises."""
    fn = validator if validator is not None else validate_function()
    if fn is None:
        return NOT_VALIDATED, None
    try:
        result = fn(journal)
    except MasksmithError as exc:
        return ValidationStatus("failed", f"validation failed: {exc.one_line()}"), None
    except Exception as exc:  # the report must still list the journal
        log.debug("validation failed", exc_info=True)
        return ValidationStatus("failed", f"validation failed: {type(exc).__name__}: {exc}"), None
    findings = list(getattr(result, "findings", result) or [])
    return summarise_findings(findings), findings


# ---- the batch index -------------------------------------------------------------------------------


@dataclass(frozen=True)
class JournalRow:
    """One journal in the batch index; ``href`` and ``thumbnail`` are relative to the index page."""

    name: str
    source: Path
    href: str | None
    thumbnail: str | None
    node_count: int
    edge_count: int
    operations: tuple[str, ...]
    status: ValidationStatus


@dataclass(frozen=True)
class BatchIndexResult:
    html: Path
    pages: Path
    rows: tuple[JournalRow, ...]


def is_archive(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(_ARCHIVE_SUFFIXES)


def find_journals(projects: PathLike) -> list[Path]:
    """Journal folders (with a JSON file) and ``.tgz`` archives directly under ``projects``, in natural order.

    A folder that is itself a journal counts as one. Folders made by a report are skipped.
    """
    root = Path(projects)
    if not root.is_dir():
        raise ExportError("the projects folder does not exist", file=root)
    found: list[Path] = []
    if (root / f"{root.name}.json").is_file():
        found.append(root)
    for child in sorted(root.iterdir(), key=lambda p: natural_key(p.name)):
        if child.name.startswith(".") or (child / MARKER).exists():
            continue
        if is_archive(child) or (child.is_dir() and any(child.glob("*.json"))):
            found.append(child)
    return found


def _slug(name: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "journal"
    slug, k = base, 2
    while slug.lower() in taken:
        slug, k = f"{base}_{k}", k + 1
    taken.add(slug.lower())
    return slug


def _prepare_folder(folder: Path) -> None:
    """Create a report-owned folder, emptying one an earlier report made; refuse a foreign one."""
    if folder.exists():
        if not folder.is_dir() or (any(folder.iterdir()) and not (folder / MARKER).exists()):
            raise ExportError(
                "the folder exists and was not made by masksmith; choose another --out", file=folder
            )
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    write_file(folder / MARKER, MARKER_TEXT)


def _journal_name(path: Path) -> str:
    name = path.name
    for suffix in _ARCHIVE_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def build_batch_index(
    projects: PathLike,
    out: PathLike,
    *,
    title: str | None = None,
    thumb_size: int = THUMB_SIZE,
    max_side: int = MAX_IMAGE_SIDE,
    validator: Callable[[Journal], Any] | None = None,
    progress: Callable[[Path], None] | None = None,
) -> BatchIndexResult:
    """Write an index page for every journal in ``projects`` and a viewer page per journal.

    Journals that fail to load get a row saying why and no link. ``validator`` replaces the one from
    ``masksmith.journal.validate``; ``progress`` is called with each journal path before it is built.
    """
    page = Path(out)
    if page.suffix.lower() not in (".html", ".htm"):
        raise ExportError("the index must be an .html file", file=page)
    sources = find_journals(projects)
    page.parent.mkdir(parents=True, exist_ok=True)
    pages = page.parent / f"{page.stem}_journals"
    _prepare_folder(pages)
    taken: set[str] = set()
    rows: list[JournalRow] = []
    for source in sources:
        if progress is not None:
            progress(source)
        slug = _slug(_journal_name(source), taken)
        journal_page = pages / f"{slug}.html"
        try:
            with opened_journal(source) as journal:
                journal.check_contained()
                status, findings = validated(journal, validator)
                result = build_report(
                    journal,
                    journal_page,
                    thumb_size=thumb_size,
                    max_side=max_side,
                    index_href=f"../{page.name}",
                    findings=findings,
                )
        except MasksmithError as exc:
            rows.append(
                JournalRow(
                    name=_journal_name(source),
                    source=source,
                    href=None,
                    thumbnail=None,
                    node_count=0,
                    edge_count=0,
                    operations=(),
                    status=ValidationStatus("failed", f"cannot open: {exc.one_line()}"),
                )
            )
            continue
        rows.append(
            JournalRow(
                name=result.name,
                source=source,
                href=f"{pages.name}/{journal_page.name}",
                thumbnail=f"{pages.name}/{result.thumbnail}" if result.thumbnail else None,
                node_count=result.node_count,
                edge_count=result.edge_count,
                operations=result.operations,
                status=status,
            )
        )
    all_ops = sorted({op for row in rows for op in row.operations})
    env = template_environment()
    html = env.get_template("index.html").render(
        title=title or f"Journals in {Path(projects).resolve().name}",
        rows=rows,
        operations=all_ops,
        css=template_source(env, "viewer.css"),
        js=template_source(env, "table.js"),
    )
    write_page(page, html)
    return BatchIndexResult(html=page, pages=pages, rows=tuple(rows))


# ---- image runs (anonymise / facemask --report) ----------------------------------------------------


@dataclass(frozen=True)
class ImageRunRow:
    """One processed image: its input, output, masks (255 = marked) and a status (``ok``, ``failed``, …)."""

    name: str
    input: Path | None
    output: Path | None
    masks: tuple[Path, ...] = ()
    status: str = "ok"
    note: str = ""
    mask_labels: tuple[
        str, ...
    ] = ()  # what each mask marks (class and count), shown instead of its file name

    @classmethod
    def of(cls, row: ImageRunRow | Sequence[Any]) -> ImageRunRow:
        """Accept a row or a ``(name, input, output, mask path(s), status[, note])`` tuple."""
        if isinstance(row, ImageRunRow):
            return row
        if not 5 <= len(row) <= 6:
            raise ExportError(f"an image-run row needs 5 or 6 fields, got {len(row)}", argument="rows")
        name, source, output, mask_paths, status = row[:5]
        note = str(row[5]) if len(row) == 6 else ""
        if mask_paths is None:
            mask_list: tuple[Path, ...] = ()
        elif isinstance(mask_paths, str | os.PathLike):
            mask_list = (Path(mask_paths),)
        else:
            mask_list = tuple(Path(m) for m in mask_paths)
        return cls(
            name=str(name),
            input=Path(source) if source else None,
            output=Path(output) if output else None,
            masks=mask_list,
            status=str(status),
            note=note,
        )


@dataclass(frozen=True)
class _Preview:
    href: str | None
    link: str | None
    width: int
    height: int
    problem: str = ""


def _relative_link(target: Path, base: Path) -> str:
    try:
        return Path(os.path.relpath(target.resolve(), base.resolve())).as_posix()
    except ValueError:  # another drive on Windows
        return target.resolve().as_uri()


def _preview(assets: AssetFolder, key: str, path: Path | None, page_dir: Path, size: int) -> _Preview:
    if path is None:
        return _Preview(None, None, 0, 0, "none")
    if not path.is_file():
        return _Preview(None, None, 0, 0, "missing")
    try:
        pixels = fit_within(web_pixels(media_io.read_image(path).pixels), size)
    except (MediaError, ValueError) as exc:
        return _Preview(None, _relative_link(path, page_dir), 0, 0, f"unreadable: {exc}")
    href = assets.write_image(key, pixels, jpeg=True)
    return _Preview(href, _relative_link(path, page_dir), int(pixels.shape[1]), int(pixels.shape[0]))


def _mask_overlay_href(
    assets: AssetFolder, key: str, path: Path, size: int, *, edge_masks: bool
) -> tuple[str | None, str]:
    if not path.is_file():
        return None, "missing"
    try:
        pixels = media_io.read_image(path).pixels
    except MediaError as exc:
        return None, f"unreadable: {exc}"
    marked = masks.from_edge_file(pixels) if edge_masks else masks.from_probe_file(pixels)
    small = fit_within(marked.astype(np.uint8), size, nearest=True).astype(bool)
    share = f"{100.0 * float(np.count_nonzero(marked)) / max(marked.size, 1):.1f} % marked"
    return assets.write_image(key, mask_overlay(small)), share


def build_image_run_index(
    rows: Iterable[ImageRunRow | Sequence[Any]],
    out: PathLike,
    *,
    title: str = "Image run",
    preview_size: int = 480,
    masks_over: str = "input",
    edge_masks: bool = False,
) -> Path:
    """Write a page showing input, output and masks of each processed image (a quick visual check).

    Masks are 255 = marked (``edge_masks=True`` reads journal edge masks, 0 = changed) and are drawn over
    the ``input`` or the ``output`` preview (``masks_over``), each with a toggle. Previews are at most
    ``preview_size`` pixels; each links to its original file.
    """
    if masks_over not in ("input", "output"):
        raise ExportError(
            f"masks_over must be 'input' or 'output', got {masks_over!r}", argument="masks_over"
        )
    page = Path(out)
    if page.suffix.lower() not in (".html", ".htm"):
        raise ExportError("the index must be an .html file", file=page)
    page.parent.mkdir(parents=True, exist_ok=True)
    assets = AssetFolder(page)
    assets.prepare()
    entries: list[dict[str, Any]] = []
    for k, raw in enumerate(rows):
        row = ImageRunRow.of(raw)
        source = _preview(assets, f"r{k}_in", row.input, page.parent, preview_size)
        result = _preview(assets, f"r{k}_out", row.output, page.parent, preview_size)
        mask_items = []
        for m, mask_path in enumerate(row.masks):
            href, info = _mask_overlay_href(
                assets, f"r{k}_m{m}", mask_path, preview_size, edge_masks=edge_masks
            )
            mask_items.append(
                {
                    "href": href,
                    "info": info,
                    "name": row.mask_labels[m] if m < len(row.mask_labels) else mask_path.name,
                    "file": mask_path.name,
                    "link": _relative_link(mask_path, page.parent),
                }
            )
        level = row.status.lower()
        entries.append(
            {
                "index": k,
                "name": row.name,
                "status": row.status,
                "level": level if level in ("ok", "failed", "skipped", "warning", "error") else "none",
                "note": row.note,
                "input": source,
                "output": result,
                "masks": mask_items,
            }
        )
    env = template_environment()
    statuses = sorted({str(e["status"]) for e in entries})
    html = env.get_template("runs.html").render(
        title=title,
        rows=entries,
        statuses=statuses,
        masks_over=masks_over,
        css=template_source(env, "viewer.css"),
        js=template_source(env, "table.js"),
    )
    write_page(page, html)
    assets.publish()
    return page


def edge_label(op: str, arguments: Mapping[str, Any]) -> str:
    """What an edge's mask marks, for a person: ``AnonymiseRegion: face ×2, person ×1``, ``OverlayFaceMask: n95 valve``."""
    counts = str(arguments.get("counts") or "")
    if counts and counts != "none":
        pairs = [part.split(":", 1) for part in counts.split(",") if ":" in part]
        return f"{op}: " + ", ".join(f"{name} ×{count}" for name, count in pairs)
    classes = str(arguments.get("classes") or "")
    if classes:
        return f"{op}: {'nothing found' if classes == 'none' else classes}"
    kind = " ".join(str(arguments[k]) for k in ("mask_type", "pattern") if arguments.get(k))
    return f"{op}: {kind}" if kind else op


def _final_rows(journal: Journal, name: str) -> list[ImageRunRow]:
    """One row per final node: the base in, that final out, the masks of the edges leading to it."""
    graph = journal.graph.graph
    base = journal.graph.base_node()
    finals = sorted(journal.graph.final_nodes(), key=natural_key)
    rows = []
    for final in finals:
        chain = nx.ancestors(graph, final) | {final}
        edges = [
            (start, end, data)
            for start, end, data in journal.graph.edges()
            if end in chain and start in chain and data.get("op") != "Donor"
        ]
        masks = tuple(journal.mask_path(s, e) for s, e, d in edges if d.get("maskname"))
        labels = tuple(
            edge_label(str(d.get("op", "")), d.get("arguments") or {})
            for _, _, d in edges
            if d.get("maskname")
        )
        found = any(str(d.get("empty mask", "no")) != "yes" for _, _, d in edges)
        label = name if len(finals) == 1 else f"{name} / {final}"
        rows.append(
            ImageRunRow(
                label,
                journal.path_of(base),
                journal.path_of(final),
                masks,
                "ok" if found else "nothing found",
                mask_labels=labels,
            )
        )
    return rows


def journal_run_rows(folder: PathLike, *, missed: Iterable[PathLike] = ()) -> list[ImageRunRow]:
    """Rows for :func:`build_image_run_index` from the journals below ``folder`` (one per image).

    Each final node of each journal is a row (a face-mask run's every augmentation), with its masks
    labelled by class and count; a journal whose masks are all empty is ``nothing found``, as is each
    image in ``missed`` (images that got no journal, e.g. facemask's ``missed_images.txt``). A journal
    that cannot be opened becomes a ``failed`` row naming the reason.
    """
    rows: list[ImageRunRow] = []
    root = Path(folder)
    if root.is_dir():
        for json_path in sorted(root.rglob("*.json")):
            if json_path.parent.name.startswith(".") or json_path != find_journal_json(json_path.parent):
                continue
            name = str(json_path.parent.relative_to(root))
            try:
                rows.extend(_final_rows(Journal.open(json_path), name))
            except MasksmithError as exc:
                rows.append(ImageRunRow(name, None, None, (), "failed", exc.one_line()))
    for path in missed:
        rows.append(ImageRunRow(Path(path).name, Path(path), None, (), "nothing found"))
    return rows
