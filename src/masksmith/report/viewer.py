"""The journal viewer: one self-contained HTML page plus an assets folder, readable offline.

:func:`build_report` converts every node's media to a web-friendly full-size image and a thumbnail, turns
every edge mask (0 = changed, in the edge's source frame) into a transparent overlay with the changed
pixels tinted, does the same for probe masks (255 = manipulated, in the final node's frame), embeds the
journal as JSON and the provenance graph as inline SVG (:func:`masksmith.report.graph_image.render_graph_svg`)
and writes the page from Jinja2 templates. Nothing on the page is fetched from the network.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from masksmith.errors import ExportError, MasksmithError, MediaError
from masksmith.journal.model import DONOR_OP
from masksmith.journal.probes import generate_probes
from masksmith.journal.project import Journal
from masksmith.journal.validate import validate as validate_journal
from masksmith.media import io as media_io
from masksmith.media import masks
from masksmith.report.graph_image import (
    CATEGORY_COLOURS,
    NODE_TYPE_COLOURS,
    UNKNOWN_COLOUR,
    edge_colour,
    guess_category,
    node_colour,
    render_graph_svg,
)
from masksmith.report.page_assets import (
    MARKER,
    OVERLAY_ALPHA,
    OVERLAY_COLOUR,
    AssetFolder,
    NodeMedia,
    contained_file,
    fit_within,
    hex_colour,
    jsonable,
    mask_overlay,
    script_json,
    template_environment,
    template_source,
    web_pixels,
    write_node_media,
    write_overlay,
    write_page,
)
from masksmith.report.probe_views import ProbeSet, ProbeView, probe_view
from masksmith.report.video_timeline import timeline_entry

__all__ = [
    "MARKER",
    "MAX_IMAGE_SIDE",
    "OVERLAY_ALPHA",
    "OVERLAY_COLOUR",
    "THUMB_SIZE",
    "AssetFolder",
    "NodeMedia",
    "ProbeSet",
    "ProbeView",
    "ReportResult",
    "build_journal_report",
    "build_report",
    "collect_probes",
    "contained_file",
    "finding_entries",
    "fit_within",
    "hex_colour",
    "journal_findings",
    "jsonable",
    "mask_overlay",
    "opened_journal",
    "probe_function",
    "probe_view",
    "script_json",
    "template_environment",
    "template_source",
    "web_pixels",
    "write_node_media",
    "write_overlay",
    "write_page",
]

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]
RGB = tuple[int, int, int]

THUMB_SIZE = 160
MAX_IMAGE_SIDE = 4096
_PROBES_MODULE = "masksmith.journal.probes"


# ---- small public helpers -----------------------------------------------------------------------


# ---- templates ---------------------------------------------------------------------------------


# ---- assets --------------------------------------------------------------------------------------


# ---- probes and validation ----------------------------------------------------------------------


def probe_function() -> Callable[[Journal], Any] | None:
    """The probe generator the page uses (a seam: tests swap it for a missing or failing one)."""
    return generate_probes


def collect_probes(journal: Journal, probes: Sequence[Any] | None = None) -> ProbeSet:
    """Probes to show: the given ones, else those the probe module computes; never raises."""
    if probes is None:
        try:
            fn = probe_function()
        except Exception as exc:  # a broken optional module must not stop the report
            return ProbeSet("failed", f"the probe module could not be imported: {exc}")
        if fn is None:
            return ProbeSet(
                "unavailable", f"probes are not available in this installation ({_PROBES_MODULE} is missing)"
            )
        try:
            probes = list(fn(journal))
        except MasksmithError as exc:
            return ProbeSet("failed", f"probe generation failed: {exc.one_line()}")
        except Exception as exc:
            log.debug("probe generation failed", exc_info=True)
            return ProbeSet("failed", f"probe generation failed: {type(exc).__name__}: {exc}")
    views = []
    for probe in probes:
        try:
            view = probe_view(probe, journal.directory)
        except (MediaError, ValueError) as exc:
            log.warning("probe skipped: %s", exc)
            continue
        if view is not None:
            views.append(view)
    return ProbeSet("ok", f"{len(views)} probe(s)", tuple(views))


# ---- the report --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportResult:
    """A written journal page and what an index needs to list it."""

    html: Path
    assets: Path
    name: str
    node_count: int
    edge_count: int
    operations: tuple[str, ...]
    thumbnail: str | None  # href relative to the page's folder
    probe_status: str
    warnings: tuple[str, ...] = field(default_factory=tuple)


def _category_function(journal: Journal) -> Callable[[str], str | None]:
    def category_of(op: str) -> str | None:
        if op == DONOR_OP:
            return DONOR_OP
        operation = journal.catalogue.find(op)
        return operation.category if operation is not None else guess_category(op)

    return category_of


def _lossy(path: Path) -> bool:
    try:
        return media_io.image_format(path) == "JPEG"
    except MasksmithError:
        return False


def _node_media(
    journal: Journal, assets: AssetFolder, *, thumb_size: int, max_side: int
) -> dict[str, NodeMedia]:
    out: dict[str, NodeMedia] = {}
    for index, (node_id, data) in enumerate(journal.graph.nodes()):
        path = contained_file(journal.directory, data.get("file"))
        if path is None and data.get("file"):
            out[node_id] = NodeMedia(
                None, None, 0, 0, problem=f"media file {data.get('file')!r} leads out of the journal folder"
            )
            continue
        if path is None or not path.is_file():
            out[node_id] = NodeMedia(None, None, 0, 0, problem=f"media file missing: {data.get('file', '')}")
            continue
        try:
            if data.get("filetype") in ("video", "audio"):
                pixels = _stream_picture(path, str(data.get("filetype")))
            else:
                pixels = media_io.read_image(path).pixels
            out[node_id] = write_node_media(
                assets,
                f"n{index}",
                pixels,
                lossy_source=_lossy(path),
                thumb_size=thumb_size,
                max_side=max_side,
            )
        except (MediaError, ValueError) as exc:
            out[node_id] = NodeMedia(None, None, 0, 0, problem=f"media unreadable: {exc}")
    return out


def _stream_picture(path: Path, kind: str) -> NDArray[Any]:
    """What stands for a video (its first frame) or an audio file (no picture) on the page."""
    if kind == "audio":
        raise MediaError(path, "unsupported", "audio has no picture")
    from masksmith.media import video as media_video

    return media_video.read_frame(path, 1)


def _edge_entries(
    journal: Journal,
    assets: AssetFolder,
    media: Mapping[str, NodeMedia],
    category_of: Callable[[str], str | None],
    *,
    max_side: int,
) -> list[dict[str, Any]]:
    entries = []
    for index, (start, end, data) in enumerate(journal.graph.edges()):
        op = str(data.get("op", ""))
        overlay = raw = None
        problem = ""
        maskname = str(data.get("maskname") or "")
        mask_path = contained_file(journal.directory, maskname) if maskname else None
        if not maskname:
            problem = "the edge has no mask"
        elif mask_path is None:
            problem = f"mask file {maskname!r} leads out of the journal folder"
        elif not mask_path.is_file():
            problem = f"mask file missing: {maskname}"
        else:
            try:
                changed = masks.from_edge_file(media_io.read_image(mask_path).pixels)
                overlay = write_overlay(assets, f"e{index}_overlay", changed, max_side=max_side)
                raw = assets.copy_file(mask_path, f"e{index}_mask")
            except (MediaError, ValueError) as exc:
                problem = f"mask unreadable: {exc}"
        attributes = {k: v for k, v in data.items() if k not in ("arguments", "op")}
        entries.append(
            {
                "id": f"{start}->{end}",
                "source": start,
                "target": end,
                "op": op,
                "category": category_of(op) or "other",
                "colour": hex_colour(edge_colour(op, category_of)),
                "donor": op == DONOR_OP,
                "description": str(data.get("description", "") or ""),
                "arguments": data.get("arguments") or {},
                "attributes": attributes,
                "mask": {"overlay": overlay, "raw": raw, "file": maskname, "problem": problem},
                "given": _given_mask_entries(journal, data, assets, index, max_side=max_side),
                "timeline": timeline_entry(journal, start, end, assets, f"e{index}_t", max_side=max_side),
            }
        )
    return entries


def _probe_entries(
    journal: Journal,
    probe_set: ProbeSet,
    assets: AssetFolder,
    media: Mapping[str, NodeMedia],
    *,
    max_side: int,
) -> dict[str, list[dict[str, Any]]]:
    by_final: dict[str, list[dict[str, Any]]] = {}
    for index, probe in enumerate(probe_set.probes):
        entry: dict[str, Any] = {
            "edge": f"{probe.edge[0]}->{probe.edge[1]}" if probe.edge else None,
            "op": str(journal.graph.graph.edges[probe.edge].get("op", ""))
            if probe.edge and journal.graph.graph.has_edge(*probe.edge)
            else "",
            "fields": probe.fields,
            "overlay": None,
            "changed": None,
            "donor": probe.donor_node,
            "donor_overlay": None,
        }
        if probe.target_mask is not None:
            entry["overlay"] = write_overlay(assets, f"p{index}_target", probe.target_mask, max_side=max_side)
            entry["changed"] = int(np.count_nonzero(probe.target_mask))
        if probe.donor_mask is not None and probe.donor_node is not None:
            entry["donor_overlay"] = write_overlay(
                assets, f"p{index}_donor", probe.donor_mask, max_side=max_side
            )
        by_final.setdefault(probe.final, []).append(entry)
    return by_final


_SEVERITY_RANK = {"CRITICAL": 0, "ERROR": 1, "WARNING": 2, "INFO": 3}


def finding_entries(findings: Sequence[Any]) -> list[dict[str, Any]]:
    """Validation findings as plain data for the page: severity, start/end node ids, rule, message."""
    out = []
    for finding in findings:
        severity = getattr(finding, "severity", None)
        out.append(
            {
                "severity": str(getattr(severity, "name", severity) or "INFO").upper(),
                "start": getattr(finding, "start", None),
                "end": getattr(finding, "end", None),
                "rule": str(getattr(finding, "rule", "") or ""),
                "message": str(getattr(finding, "message", finding)),
            }
        )
    out.sort(key=lambda f: _SEVERITY_RANK.get(str(f["severity"]), 9))
    return out


def journal_findings(journal: Journal) -> tuple[list[dict[str, Any]], str]:
    """Validate ``journal``; the findings and a one-line status. Never raises."""
    try:
        result = validate_journal(journal)
    except MasksmithError as exc:
        return [], f"validation failed: {exc.one_line()}"
    except Exception as exc:  # the page must still be written
        log.debug("validation failed", exc_info=True)
        return [], f"validation failed: {type(exc).__name__}: {exc}"
    entries = finding_entries(list(getattr(result, "findings", result) or []))
    return entries, _findings_status(entries)


def _findings_status(entries: Sequence[Mapping[str, Any]]) -> str:
    errors = sum(1 for f in entries if f["severity"] in ("ERROR", "CRITICAL"))
    warnings = sum(1 for f in entries if f["severity"] == "WARNING")
    if not errors and not warnings:
        return "valid" + (f" ({len(entries)} note(s))" if entries else "")
    return ", ".join(
        part
        for part in (f"{errors} error(s)" if errors else "", f"{warnings} warning(s)" if warnings else "")
        if part
    )


def _journal_file(journal: Journal, name: Any) -> Path | None:
    """``name`` as a file inside the journal folder, or None (names from a journal are untrusted)."""
    if not isinstance(name, str) or not name:
        return None
    root = journal.directory.resolve()
    path = (root / name).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        return None
    return path


def _given_masks(journal: Journal, data: Mapping[str, Any]) -> list[tuple[str, str, Path]]:
    """Masks handed to an operation: the input mask and file-typed arguments such as substitute masks."""
    found: list[tuple[str, str, Path]] = []
    input_mask = _journal_file(journal, data.get("inputmaskname"))
    if input_mask is not None:
        found.append(("input mask", "inputmaskname", input_mask))
    operation = journal.catalogue.find(str(data.get("op", "")))
    arguments = data.get("arguments") or {}
    for name, value in arguments.items():
        param = operation.parameters.get(name) if operation is not None else None
        is_image = param is not None and str(param.type).startswith("file:image")
        if not is_image and name != "inputmaskname":
            continue
        path = _journal_file(journal, value)
        if path is None or any(path == p for _, _, p in found):
            continue
        kind = "substitute mask" if param is not None and param.use_as_composite else "input mask"
        found.append((kind, name, path))
    return found


def _given_mask_entries(
    journal: Journal, data: Mapping[str, Any], assets: AssetFolder, index: int, *, max_side: int
) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    for k, (kind, name, path) in enumerate(_given_masks(journal, data)):
        try:
            pixels = fit_within(web_pixels(media_io.read_image(path).pixels), max_side, nearest=True)
            href = assets.write_image(f"e{index}_given{k}", pixels)
            entries.append({"kind": kind, "name": name, "file": path.name, "image": href, "problem": ""})
        except (MediaError, ValueError) as exc:
            entries.append(
                {"kind": kind, "name": name, "file": path.name, "image": None, "problem": str(exc)}
            )
    return entries


def _legend(journal: Journal, edges: Sequence[Mapping[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    types = {str(d.get("nodetype", "")) for _, d in journal.graph.nodes()}
    node_items = [{"label": t, "colour": hex_colour(c)} for t, c in NODE_TYPE_COLOURS.items() if t in types]
    seen: dict[str, str] = {}
    for e in edges:
        label = str(e["category"]) if e["colour"] != hex_colour(UNKNOWN_COLOUR) else "other"
        seen.setdefault(label, str(e["colour"]))
    edge_items = [{"label": k, "colour": v, "donor": k == DONOR_OP} for k, v in sorted(seen.items())]
    return {"nodes": node_items, "edges": edge_items}


def _inline_svg(svg: str) -> str:
    """An SVG document made fit to sit inside HTML: no XML declaration, an accessible name."""
    body = re.sub(r"^\s*<\?xml[^>]*\?>\s*", "", svg)
    return body.replace("<svg ", '<svg role="group" aria-label="Provenance graph" id="graph-svg" ', 1)


def build_report(
    journal: Journal,
    out: PathLike,
    *,
    probes: Sequence[Any] | None = None,
    title: str | None = None,
    thumb_size: int = THUMB_SIZE,
    max_side: int = MAX_IMAGE_SIDE,
    index_href: str | None = None,
    findings: Sequence[Any] | None = None,
) -> ReportResult:
    """Write the journal's page to ``out`` (an ``.html`` file) and its media to ``<stem>_assets/`` beside it.

    ``probes`` overrides the probes computed by ``masksmith.journal.probes`` (when that module exists).
    ``index_href`` adds a link back to a batch index. ``findings`` are validation findings already
    computed (None: the journal is validated here). Returns what was written.
    """
    page = Path(out)
    if page.suffix.lower() not in (".html", ".htm"):
        raise ExportError("the report must be an .html file", file=page)
    if thumb_size < 16 or max_side < thumb_size:
        raise ExportError(f"bad sizes thumb_size={thumb_size}, max_side={max_side}", argument="thumb_size")
    page.parent.mkdir(parents=True, exist_ok=True)
    assets = AssetFolder(page)
    assets.prepare()
    category_of = _category_function(journal)

    media = _node_media(journal, assets, thumb_size=thumb_size, max_side=max_side)
    edges = _edge_entries(journal, assets, media, category_of, max_side=max_side)
    probe_set = collect_probes(journal, probes)
    probe_entries = _probe_entries(journal, probe_set, assets, media, max_side=max_side)
    finals = set(journal.graph.final_nodes())
    if findings is None:
        finding_list, findings_status = journal_findings(journal)
    else:
        finding_list = finding_entries(findings)
        findings_status = _findings_status(finding_list)

    nodes: dict[str, Any] = {}
    for node_id, data in journal.graph.nodes():
        m = media[node_id]
        nodes[node_id] = {
            "type": str(data.get("nodetype", "")),
            "file": str(data.get("file", "")),
            "colour": hex_colour(node_colour(data.get("nodetype"))),
            "image": m.image,
            "thumb": m.thumb,
            "width": m.width,
            "height": m.height,
            "problem": m.problem,
            "final": node_id in finals,
            "attributes": dict(data),
        }
    thumbs = {n: m.thumb for n, m in media.items() if m.thumb}
    svg = render_graph_svg(journal.graph.graph, category_of=category_of, thumbnail_hrefs=thumbs)
    operations = tuple(sorted({str(e["op"]) for e in edges if e["op"] != DONOR_OP}))
    payload = {
        "name": journal.name,
        "attributes": journal.graph.attributes,
        "nodes": nodes,
        "edges": edges,
        "probes": {"status": probe_set.status, "message": probe_set.message, "byFinal": probe_entries},
        "warnings": list(journal.warnings),
        "findings": finding_list,
        "findingsStatus": findings_status,
        "categories": {k: hex_colour(v) for k, v in CATEGORY_COLOURS.items()},
    }
    env = template_environment()
    html = env.get_template("journal.html").render(
        title=title or f"Journal {journal.name}",
        name=journal.name,
        description=str(journal.graph.attributes.get("projectdescription", "") or ""),
        node_count=len(nodes),
        edge_count=len(edges),
        operations=operations,
        legend=_legend(journal, edges),
        svg=_inline_svg(svg),
        data_json=script_json(payload),
        css=template_source(env, "viewer.css"),
        js=template_source(env, "viewer.js"),
        index_href=index_href,
    )
    write_page(page, html)
    assets.publish()
    representative = _representative_thumb(journal, media, finals)
    return ReportResult(
        html=page,
        assets=assets.root,
        name=journal.name,
        node_count=len(nodes),
        edge_count=len(edges),
        operations=operations,
        thumbnail=representative,
        probe_status=probe_set.message,
        warnings=tuple(journal.warnings),
    )


def _representative_thumb(journal: Journal, media: Mapping[str, NodeMedia], finals: set[str]) -> str | None:
    """A final node's thumbnail (the journal's result), else the base's, else any."""
    candidates = sorted(finals) + [n for n, d in journal.graph.nodes() if d.get("nodetype") == "base"]
    candidates += list(media)
    for node in candidates:
        if node in media and media[node].thumb:
            return media[node].thumb
    return None


@contextmanager
def opened_journal(path: PathLike) -> Iterator[Journal]:
    """Open a journal folder, its JSON, or a ``.tgz`` archive (extracted safely into a temporary folder)."""
    location = Path(path)
    name = location.name.lower()
    if location.is_file() and (name.endswith(".tgz") or name.endswith(".tar.gz")):
        with tempfile.TemporaryDirectory(prefix="masksmith-view-") as scratch:
            yield Journal.open_archive(location, scratch)
        return
    yield Journal.open(location)


def build_journal_report(path: PathLike, out: PathLike, **options: Any) -> ReportResult:
    """:func:`build_report` for a journal given by path (folder, JSON file or ``.tgz``)."""
    with opened_journal(path) as journal:
        journal.check_contained()  # a journal naming files outside its folder is refused, not shown
        return build_report(journal, out, **options)
