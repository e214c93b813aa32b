"""Pictures of a journal graph: a PNG (OpenCV shapes + Pillow text, no graphviz) and a standalone SVG.

Both use :func:`masksmith.report.layout.compute_layout`. Nodes are boxes coloured by ``nodetype`` with a
thumbnail, their id and type; edges are arrows coloured by operation category and labelled with ``op``;
``Donor`` edges are dashed.
"""

from __future__ import annotations

import io
import itertools
import logging
import math
import os
import re
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import cv2
import networkx as nx
import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

from masksmith.errors import ExportError
from masksmith.report.files import write_file
from masksmith.report.layout import (
    DEFAULT_H_GAP,
    DEFAULT_NODE_SIZE,
    DEFAULT_V_GAP,
    Edge,
    GraphLayout,
    Point,
    compute_layout,
    place_edge_labels,
)

log = logging.getLogger(__name__)

RGB = tuple[int, int, int]
ThumbnailSource = np.ndarray | str | os.PathLike[str]
CategoryOf = Callable[[str], str | None]

NODE_TYPE_COLOURS: dict[str, RGB] = {
    "base": (46, 125, 50),
    "donor": (123, 31, 162),
    "interim": (21, 101, 192),
    "final": (198, 40, 40),
}
CATEGORY_COLOURS: dict[str, RGB] = {
    "Output": (0, 131, 143),
    "AntiForensic": (55, 71, 79),
    "Filter": (30, 136, 229),
    "Transform": (239, 108, 0),
    "Paste": (211, 47, 47),
    "Select": (56, 142, 60),
    "Color": (216, 27, 96),
    "Intensity": (175, 160, 0),
    "CGI": (121, 85, 72),
    "Layer": (0, 150, 136),
    "Fill": (255, 152, 0),
    "AdditionalEffect": (92, 107, 192),
    "PostProcessing": (120, 144, 156),
    "Laundering": (141, 110, 99),
    "Steganography": (0, 96, 100),
    "TimeAlteration": (171, 71, 188),
    "Audio": (124, 179, 66),
    "Donor": (123, 31, 162),
}
UNKNOWN_COLOUR: RGB = (150, 150, 150)
DONOR_OP = "Donor"
PLACEHOLDER_COLOUR: RGB = (205, 205, 205)

_MARGIN = 24
_HEADER = 24  # node id band at the top of each box
_FOOTER = 20  # node type line at the bottom
_PAD = 8
_BORDER = 2
_BG: RGB = (250, 250, 250)
_TEXT: RGB = (33, 33, 33)
_DASH = (9.0, 6.0)
_ARROW = (13.0, 6.0)  # length, half width
_MAX_PIXELS = 400_000_000


def guess_category(op: str) -> str | None:
    """Category from an operation name's prefix (``TransformResize`` → ``Transform``), else None."""
    if op == DONOR_OP:
        return DONOR_OP
    for cat in sorted(CATEGORY_COLOURS, key=len, reverse=True):
        if op.startswith(cat):
            return cat
    return None


def edge_colour(op: str, category_of: CategoryOf | None = None) -> RGB:
    """Colour of an edge doing ``op``: its category's palette entry; grey when unknown."""
    if op == DONOR_OP:
        return CATEGORY_COLOURS[DONOR_OP]
    try:
        cat = (category_of or guess_category)(op)
    except Exception:  # a caller's lookup failing must not stop a picture
        log.debug("category lookup failed for %r", op, exc_info=True)
        cat = None
    return CATEGORY_COLOURS.get(cat or "", UNKNOWN_COLOUR)


def node_colour(nodetype: object) -> RGB:
    return NODE_TYPE_COLOURS.get(str(nodetype), UNKNOWN_COLOUR)


@dataclass(frozen=True)
class RenderedGraph:
    """A drawn graph: ``image`` (H×W×3 uint8 RGB) and where layout coordinates sit in it."""

    image: np.ndarray
    layout: GraphLayout
    origin: tuple[int, int]  # pixel (x, y) of layout point (0, 0)

    def node_box(self, node: Hashable) -> tuple[int, int, int, int]:
        """Pixel box ``(x0, y0, x1, y1)`` of ``node``, both ends inclusive."""
        x0, y0, x1, y1 = self.layout.node_box(node)
        ox, oy = self.origin
        return (round(x0) + ox, round(y0) + oy, round(x1) + ox - 1, round(y1) + oy - 1)

    def to_pixel(self, point: Point) -> tuple[int, int]:
        return (round(point[0]) + self.origin[0], round(point[1]) + self.origin[1])


def render_graph_png(
    graph: nx.DiGraph,
    path: str | os.PathLike[str],
    *,
    thumbnails: Mapping[Any, ThumbnailSource] | None = None,
    title: str | None = None,
    category_of: CategoryOf | None = None,
    node_size: tuple[float, float] = DEFAULT_NODE_SIZE,
    h_gap: float = DEFAULT_H_GAP,
    v_gap: float = DEFAULT_V_GAP,
) -> Path:
    """Draw ``graph`` (see :func:`draw_graph`) and write it to ``path`` as PNG, atomically."""
    drawn = draw_graph(
        graph,
        thumbnails=thumbnails,
        title=title,
        category_of=category_of,
        node_size=node_size,
        h_gap=h_gap,
        v_gap=v_gap,
    )
    buf = io.BytesIO()
    Image.fromarray(drawn.image, "RGB").save(buf, format="PNG", optimize=False)
    return write_file(path, buf.getvalue())


def draw_graph(
    graph: nx.DiGraph,
    *,
    thumbnails: Mapping[Any, ThumbnailSource] | None = None,
    title: str | None = None,
    category_of: CategoryOf | None = None,
    node_size: tuple[float, float] = DEFAULT_NODE_SIZE,
    h_gap: float = DEFAULT_H_GAP,
    v_gap: float = DEFAULT_V_GAP,
) -> RenderedGraph:
    """Draw ``graph`` into an RGB array; the image grows with the graph.

    ``thumbnails`` maps nodes to an image array or a file path; a missing or unreadable file gives a
    grey placeholder. ``category_of`` maps an op name to its category (default: :func:`guess_category`).
    """
    layout = compute_layout(graph, node_size=node_size, h_gap=h_gap, v_gap=v_gap)
    font = _font(13)
    small = _font(12)
    title_font = _font(20)
    colours = {e: edge_colour(_op(graph, e), category_of) for e in graph.edges}
    legend = _legend_items(graph, colours, category_of)

    content_w = math.ceil(layout.width) + 2 * _MARGIN
    width = max(content_w, 360)
    legend_rows = _wrap_legend(legend, small, width - 2 * _MARGIN)
    header_h = _MARGIN + (30 if title else 0) + 20 * len(legend_rows) + (8 if legend_rows else 0)
    height = header_h + math.ceil(layout.height) + _MARGIN
    if width * height > _MAX_PIXELS:
        raise ExportError(f"graph picture would be {width}x{height} pixels; too large to draw")
    origin = ((width - math.ceil(layout.width)) // 2, header_h)
    canvas = np.full((height, width, 3), _BG, dtype=np.uint8)
    drawn = RenderedGraph(canvas, layout, origin)

    for edge, pts in sorted(layout.edge_paths.items(), key=lambda kv: _op(graph, kv[0]) != DONOR_OP):
        pix = [drawn.to_pixel(p) for p in pts]
        _draw_arrow(canvas, pix, colours[edge], dashed=_op(graph, edge) == DONOR_OP)
    for node in layout.positions:
        _draw_node_box(canvas, drawn.node_box(node), node_colour(graph.nodes[node].get("nodetype")))

    img = Image.fromarray(canvas, "RGB")
    draw = ImageDraw.Draw(img)
    for node in layout.positions:
        _draw_node_content(img, draw, drawn, graph, node, thumbnails, font, small)
    _draw_edge_labels(draw, drawn, graph, colours, font)
    y = _MARGIN
    if title:
        draw.text((_MARGIN, y), title, font=title_font, fill=_TEXT)
        y += 30
    for row in legend_rows:
        x = _MARGIN
        for label, colour, kind in row:
            if kind == "node":
                draw.rectangle((x, y + 3, x + 12, y + 15), fill=colour)
            elif label == DONOR_OP:
                for dx in (0, 7, 14):
                    draw.line((x + dx, y + 9, x + dx + 4, y + 9), fill=colour, width=3)
            else:
                draw.line((x, y + 9, x + 16, y + 9), fill=colour, width=3)
            x += 20
            draw.text((x, y + 1), label, font=small, fill=_TEXT)
            x += int(draw.textlength(label, font=small)) + 16
        y += 20
    return RenderedGraph(np.asarray(img, dtype=np.uint8).copy(), layout, origin)


# ---- pieces -------------------------------------------------------------------------------------
def _op(graph: nx.DiGraph, edge: Edge) -> str:
    return str(graph.edges[edge].get("op", ""))


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (ImportError, OSError, TypeError):  # Pillow without FreeType: bitmap font
        return ImageFont.load_default()


def _fit_text(draw: ImageDraw.ImageDraw, text: str, font: object, width: float) -> str:
    if draw.textlength(text, font=font) <= width:  # type: ignore[arg-type]
        return text
    while text and draw.textlength(text + "…", font=font) > width:  # type: ignore[arg-type]
        text = text[:-1]
    return text + "…"


def _draw_arrow(canvas: np.ndarray, pts: Sequence[tuple[int, int]], colour: RGB, *, dashed: bool) -> None:
    """Polyline with a filled arrowhead at its last point; the line stops at the arrowhead's base."""
    if len(pts) < 2:
        return
    (x0, y0), (x1, y1) = pts[-2], pts[-1]
    length = math.hypot(x1 - x0, y1 - y0) or 1.0
    ux, uy = (x1 - x0) / length, (y1 - y0) / length
    alen, ahw = _ARROW
    base = (x1 - ux * alen, y1 - uy * alen)
    line = [(float(x), float(y)) for x, y in pts[:-1]] + [base]
    if dashed:
        for a, b in _dashes(line, *_DASH):
            cv2.line(canvas, _ip(a), _ip(b), colour, 2, cv2.LINE_AA)
    else:
        poly = np.array([[round(x), round(y)] for x, y in line], dtype=np.int32)
        cv2.polylines(canvas, [poly], False, colour, 2, cv2.LINE_AA)
    head = np.array(
        [
            (x1, y1),
            (base[0] - uy * ahw, base[1] + ux * ahw),
            (base[0] + uy * ahw, base[1] - ux * ahw),
        ],
        dtype=np.float64,
    )
    cv2.fillPoly(canvas, [np.round(head * 16).astype(np.int32)], colour, cv2.LINE_AA, 4)


def _ip(p: Point) -> tuple[int, int]:
    return (round(p[0]), round(p[1]))


def _dashes(line: Sequence[Point], on: float, off: float) -> list[tuple[Point, Point]]:
    """Dash segments along a polyline, the pattern continuing across its bends."""
    out: list[tuple[Point, Point]] = []
    phase = 0.0  # distance into the current on+off period
    for a, b in itertools.pairwise(line):
        seg = math.dist(a, b)
        pos = 0.0
        while pos < seg:
            if phase < on:
                step = min(on - phase, seg - pos)
                t0, t1 = pos / seg, (pos + step) / seg
                out.append(
                    (
                        (a[0] + (b[0] - a[0]) * t0, a[1] + (b[1] - a[1]) * t0),
                        (a[0] + (b[0] - a[0]) * t1, a[1] + (b[1] - a[1]) * t1),
                    )
                )
            else:
                step = min(on + off - phase, seg - pos)
            pos += step
            phase = (phase + step) % (on + off)
    return out


def _draw_node_box(canvas: np.ndarray, box: tuple[int, int, int, int], colour: RGB) -> None:
    x0, y0, x1, y1 = box
    shadow = (x0 + 3, y0 + 3, x1 + 3, y1 + 3)
    canvas[shadow[1] : shadow[3] + 1, shadow[0] : shadow[2] + 1] = (
        canvas[shadow[1] : shadow[3] + 1, shadow[0] : shadow[2] + 1] * 0.85
    ).astype(np.uint8)
    canvas[y0 : y1 + 1, x0 : x1 + 1] = (255, 255, 255)
    canvas[y0 : y0 + _HEADER, x0 : x1 + 1] = colour
    for t in range(_BORDER):
        canvas[y0 + t, x0 : x1 + 1] = colour
        canvas[y1 - t, x0 : x1 + 1] = colour
        canvas[y0 : y1 + 1, x0 + t] = colour
        canvas[y0 : y1 + 1, x1 - t] = colour


def thumbnail_area(box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """Pixel box (inclusive) inside a node box where its thumbnail goes."""
    x0, y0, x1, y1 = box
    return (x0 + _PAD, y0 + _HEADER + 6, x1 - _PAD, y1 - _FOOTER)


def _draw_node_content(
    img: Image.Image,
    draw: ImageDraw.ImageDraw,
    drawn: RenderedGraph,
    graph: nx.DiGraph,
    node: Hashable,
    thumbnails: Mapping[Any, ThumbnailSource] | None,
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    small: ImageFont.FreeTypeFont | ImageFont.ImageFont,
) -> None:
    box = drawn.node_box(node)
    x0, y0, x1, y1 = box
    nodetype = str(graph.nodes[node].get("nodetype", "")) or "node"
    label = _fit_text(draw, str(node), font, x1 - x0 - 2 * _PAD)
    draw.text(((x0 + x1 + 1) / 2, y0 + _HEADER / 2 + 1), label, font=font, fill=(255, 255, 255), anchor="mm")
    centre_x = (x0 + x1 + 1) / 2
    draw.text((centre_x, y1 - _FOOTER / 2 - 1), nodetype, font=small, fill=node_colour(nodetype), anchor="mm")
    tx0, ty0, tx1, ty1 = thumbnail_area(box)
    aw, ah = tx1 - tx0 + 1, ty1 - ty0 + 1
    source = thumbnails.get(node) if thumbnails is not None else None
    thumb, problem = _load_thumbnail(source, (aw, ah))
    if thumb is None:
        draw.rectangle((tx0, ty0, tx1, ty1), fill=PLACEHOLDER_COLOUR)
        draw.text(((tx0 + tx1) / 2, (ty0 + ty1) / 2), problem, font=small, fill=(110, 110, 110), anchor="mm")
        return
    px = tx0 + (aw - thumb.width) // 2
    py = ty0 + (ah - thumb.height) // 2
    img.paste(thumb, (px, py))
    draw.rectangle((px - 1, py - 1, px + thumb.width, py + thumb.height), outline=(200, 200, 200))


def _load_thumbnail(source: ThumbnailSource | None, size: tuple[int, int]) -> tuple[Image.Image | None, str]:
    """A thumbnail fitting ``size``, or ``(None, why)`` for a grey placeholder; never raises."""
    if source is None:
        return None, "no image"
    try:
        if isinstance(source, np.ndarray):
            pil = Image.fromarray(_to_rgb8(source), "RGB")
        else:
            with Image.open(os.fspath(source)) as opened:
                opened.draft("RGB", (size[0] * 2, size[1] * 2))
                pil = ImageOps.exif_transpose(opened)
                pil = _pil_to_rgb(pil)
        pil.thumbnail(size, Image.Resampling.LANCZOS)
        return pil, ""
    except FileNotFoundError:
        return None, "missing file"
    except Exception:  # any decoder failure (truncated, not an image, bomb) gets a placeholder
        log.debug("thumbnail failed for %r", source, exc_info=True)
        return None, "unreadable"


def _pil_to_rgb(pil: Image.Image) -> Image.Image:
    if pil.mode in ("I;16", "I;16B", "I;16L", "I"):
        return Image.fromarray(_to_rgb8(np.asarray(pil)), "RGB")
    if pil.mode in ("RGBA", "LA", "PA") or (pil.mode == "P" and "transparency" in pil.info):
        return Image.fromarray(_to_rgb8(np.asarray(pil.convert("RGBA"))), "RGB")
    return pil.convert("RGB")


def _to_rgb8(arr: np.ndarray) -> np.ndarray:
    """Gray / RGB / RGBA, uint8 / uint16 / other → H×W×3 uint8 (alpha composited over white)."""
    a = np.asarray(arr)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)) or a.size == 0:
        raise ValueError(f"not an image array: shape {a.shape}")
    a8: np.ndarray
    if a.dtype == np.uint16 or a.dtype == np.int32:
        a8 = (a.astype(np.uint32) >> 8 if a.max(initial=0) > 255 else a).astype(np.uint8)
    elif a.dtype == np.bool_:
        a8 = a.astype(np.uint8) * 255
    elif np.issubdtype(a.dtype, np.floating):
        a8 = (np.clip(np.nan_to_num(a), 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
    else:
        a8 = np.clip(a, 0, 255).astype(np.uint8)
    if a8.ndim == 2:
        return np.repeat(a8[:, :, None], 3, axis=2)
    if a8.shape[2] == 4:
        alpha = a8[:, :, 3:4].astype(np.float32) / 255.0
        over_white: np.ndarray = (a8[:, :, :3] * alpha + 255.0 * (1 - alpha) + 0.5).astype(np.uint8)
        return over_white
    return a8


def _draw_edge_labels(
    draw: ImageDraw.ImageDraw,
    drawn: RenderedGraph,
    graph: nx.DiGraph,
    colours: Mapping[Edge, RGB],
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
) -> None:
    texts = {e: _op(graph, e) for e in drawn.layout.edge_paths if _op(graph, e)}
    sizes = {e: (draw.textlength(t, font=font) + 10, 18.0) for e, t in texts.items()}
    for edge, (cx, cy) in place_edge_labels(drawn.layout, sizes).items():
        lw, lh = sizes[edge]
        px, py = drawn.to_pixel((cx, cy))
        box = (px - lw / 2, py - lh / 2, px + lw / 2, py + lh / 2)
        draw.rounded_rectangle(box, radius=4, fill=(255, 255, 255), outline=colours[edge], width=1)
        draw.text((px, py), texts[edge], font=font, fill=_TEXT, anchor="mm")


def _legend_items(
    graph: nx.DiGraph, colours: Mapping[Edge, RGB], category_of: CategoryOf | None
) -> list[tuple[str, RGB, str]]:
    types = {str(d.get("nodetype", "")) for _, d in graph.nodes(data=True)}
    items = [(t, NODE_TYPE_COLOURS[t], "node") for t in NODE_TYPE_COLOURS if t in types]
    seen: dict[str, RGB] = {}
    for edge in sorted(graph.edges, key=lambda e: _op(graph, e)):
        op = _op(graph, edge)
        colour = colours[edge]
        name = DONOR_OP if op == DONOR_OP else _category_name(op, category_of, colour)
        seen.setdefault(name, colour)
    items += [(name, colour, "edge") for name, colour in sorted(seen.items())]
    return items


def _category_name(op: str, category_of: CategoryOf | None, colour: RGB) -> str:
    if colour == UNKNOWN_COLOUR:
        return "other"
    try:
        return (category_of or guess_category)(op) or "other"
    except Exception:
        return "other"


def _wrap_legend(
    items: list[tuple[str, RGB, str]], font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: int
) -> list[list[tuple[str, RGB, str]]]:
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    rows: list[list[tuple[str, RGB, str]]] = []
    used = width + 1
    for item in items:
        w = 20 + int(measure.textlength(item[0], font=font)) + 16
        if used + w > width and (not rows or rows[-1]):
            rows.append([])
            used = 0
        rows[-1].append(item)
        used += w
    return rows


# ---- SVG ----------------------------------------------------------------------------------------
_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml(text: object) -> str:
    return escape(_XML_BAD.sub("\ufffd", str(text)))


def _attr(text: object) -> str:
    return quoteattr(_XML_BAD.sub("\ufffd", str(text)), {"\n": "&#10;", "\t": "&#9;", "\r": "&#13;"})


def _hex(c: RGB) -> str:
    return "#{:02x}{:02x}{:02x}".format(*c)


def _clip_chars(text: str, width: float, font_px: float) -> str:
    max_chars = max(int(width / (0.6 * font_px)), 2)
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def render_graph_svg(
    graph: nx.DiGraph,
    *,
    positions: Mapping[Any, Point] | None = None,
    title: str | None = None,
    category_of: CategoryOf | None = None,
    thumbnail_hrefs: Mapping[Any, str] | None = None,
    node_size: tuple[float, float] = DEFAULT_NODE_SIZE,
    h_gap: float = DEFAULT_H_GAP,
    v_gap: float = DEFAULT_V_GAP,
) -> str:
    """A standalone SVG document of ``graph``.

    Nodes are ``<g class="node" data-node-id=…>``; edges are ``<path class="edge" data-edge="src->dst">``
    (``Donor`` edges dashed), labels ``<text data-edge-label=…>``. ``positions`` (node centres) replace
    the computed layout and edges are then drawn straight. ``thumbnail_hrefs`` become ``<image href>``.
    """
    layout = compute_layout(graph, node_size=node_size, h_gap=h_gap, v_gap=v_gap)
    if positions is not None:
        layout = _layout_from_positions(graph, positions, layout.node_size)
    w, h = layout.node_size
    top = _MARGIN + (30 if title else 0)
    width = max(layout.width, 0.0) + 2 * _MARGIN
    height = top + max(layout.height, 0.0) + _MARGIN
    ox, oy = _MARGIN - _min_x(layout), top - _min_y(layout)
    colours = {e: edge_colour(_op(graph, e), category_of) for e in graph.edges}
    markers = sorted(set(colours.values()))
    marker_id = {c: f"arrow-{_hex(c)[1:]}" for c in markers}

    out: list[str] = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.1f} {height:.1f}" font-family="sans-serif" class="journal-graph">',
        "<defs>",
    ]
    for c in markers:
        out.append(
            f'<marker id="{marker_id[c]}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="9" '
            f'markerHeight="9" markerUnits="userSpaceOnUse" orient="auto">'
            f'<path d="M0,0 L10,5 L0,10 z" fill="{_hex(c)}"/></marker>'
        )
    out.append("</defs>")
    out.append(f'<rect width="100%" height="100%" fill="{_hex(_BG)}"/>')
    if title:
        out.append(
            f'<text class="title" x="{_MARGIN}" y="{_MARGIN + 16}" font-size="20" '
            f'fill="{_hex(_TEXT)}">{_xml(title)}</text>'
        )
    out.append(f'<g class="edges" transform="translate({ox:.1f},{oy:.1f})">')
    for edge, pts in layout.edge_paths.items():
        op = _op(graph, edge)
        d = " ".join(f"{'M' if k == 0 else 'L'}{x:.1f},{y:.1f}" for k, (x, y) in enumerate(pts))
        dash = ' stroke-dasharray="8 5"' if op == DONOR_OP else ""
        cls = "edge donor" if op == DONOR_OP else "edge"
        out.append(
            f'<path class="{cls}" data-edge={_attr(f"{edge[0]}->{edge[1]}")} data-op={_attr(op)} d="{d}" '
            f'fill="none" stroke="{_hex(colours[edge])}" stroke-width="2"{dash} '
            f'marker-end="url(#{marker_id[colours[edge]]})"><title>{_xml(op)}</title></path>'
        )
    sizes = {e: (0.6 * 12 * len(_op(graph, e)) + 10, 18.0) for e in layout.edge_paths if _op(graph, e)}
    for edge, (cx, cy) in place_edge_labels(layout, sizes).items():
        lw, lh = sizes[edge]
        out.append(
            f'<g class="edge-label" data-edge-label={_attr(f"{edge[0]}->{edge[1]}")}>'
            f'<rect x="{cx - lw / 2:.1f}" y="{cy - lh / 2:.1f}" width="{lw:.1f}" height="{lh:.1f}" rx="4" '
            f'fill="#ffffff" stroke="{_hex(colours[edge])}"/>'
            f'<text x="{cx:.1f}" y="{cy + 4:.1f}" font-size="12" text-anchor="middle" '
            f'fill="{_hex(_TEXT)}">{_xml(_op(graph, edge))}</text></g>'
        )
    out.append("</g>")
    out.append(f'<g class="nodes" transform="translate({ox:.1f},{oy:.1f})">')
    for node in layout.positions:
        nodetype = str(graph.nodes[node].get("nodetype", "")) or "node"
        colour = _hex(node_colour(nodetype))
        x0, y0, _x1, _y1 = layout.node_box(node)
        parts = [
            f'<g class="node node-{_xml(re.sub(r"[^A-Za-z0-9_-]", "_", nodetype))}" '
            f"data-node-id={_attr(node)} data-nodetype={_attr(nodetype)} "
            f'transform="translate({x0:.1f},{y0:.1f})">',
            f"<title>{_xml(f'{node} ({nodetype})')}</title>",
            f'<rect width="{w:.1f}" height="{h:.1f}" fill="#ffffff" stroke="{colour}" stroke-width="2"/>',
            f'<rect width="{w:.1f}" height="{_HEADER}" fill="{colour}"/>',
            f'<text x="{w / 2:.1f}" y="{_HEADER / 2 + 5:.1f}" font-size="13" text-anchor="middle" '
            f'fill="#ffffff">{_xml(_clip_chars(str(node), w - 2 * _PAD, 13))}</text>',
        ]
        tw, th = w - 2 * _PAD, h - _HEADER - 6 - _FOOTER
        href = thumbnail_hrefs.get(node) if thumbnail_hrefs is not None else None
        if href:
            parts.append(
                f'<image x="{_PAD}" y="{_HEADER + 6}" width="{tw:.1f}" height="{th:.1f}" '
                f'preserveAspectRatio="xMidYMid meet" href={_attr(href)}/>'
            )
        else:
            parts.append(
                f'<rect class="placeholder" x="{_PAD}" y="{_HEADER + 6}" width="{tw:.1f}" height="{th:.1f}" '
                f'fill="{_hex(PLACEHOLDER_COLOUR)}"/>'
            )
        parts.append(
            f'<text x="{w / 2:.1f}" y="{h - _FOOTER / 2 + 3:.1f}" font-size="12" text-anchor="middle" '
            f'fill="{colour}">{_xml(nodetype)}</text></g>'
        )
        out.append("".join(parts))
    out.append("</g></svg>")
    return "\n".join(out) + "\n"


def _min_x(layout: GraphLayout) -> float:
    return min((x - layout.node_size[0] / 2 for x, _ in layout.positions.values()), default=0.0)


def _min_y(layout: GraphLayout) -> float:
    return min((y - layout.node_size[1] / 2 for _, y in layout.positions.values()), default=0.0)


def _layout_from_positions(
    graph: nx.DiGraph, positions: Mapping[Any, Point], node_size: tuple[float, float]
) -> GraphLayout:
    """A layout at given centres; edges run straight from the bottom of the source to the target's top."""
    missing = [n for n in graph.nodes if n not in positions]
    if missing:
        raise ExportError(
            f"positions lack {len(missing)} node(s)", node=str(missing[0]), argument="positions"
        )
    w, h = node_size
    pos = {n: (float(positions[n][0]), float(positions[n][1])) for n in graph.nodes}
    paths: dict[Edge, tuple[Point, ...]] = {}
    for u, v in graph.edges:
        (xu, yu), (xv, yv) = pos[u], pos[v]
        paths[(u, v)] = ((xu, yu + h / 2), (xv, yv - h / 2))
    xs = [x for x, _ in pos.values()] or [0.0]
    ys = [y for _, y in pos.values()] or [0.0]
    return GraphLayout(
        positions=pos,
        layers={},
        edge_paths=paths,
        node_size=(w, h),
        width=max(xs) - min(xs) + w,
        height=max(ys) - min(ys) + h,
    )
