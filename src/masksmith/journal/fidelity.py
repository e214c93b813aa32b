"""Edge and node attributes the Journaling Tool writes besides masks: image similarity (``psnr``,
``local psnr``, ``ssim``), metadata differences (``exifdiff``), link colours (``linkcolor``) and node
positions (``xpos``, ``ypos``). Pure functions over arrays, bytes and the graph."""

from __future__ import annotations

import colorsys
import math
from typing import Any

import networkx as nx
import numpy as np
from numpy.typing import NDArray

from masksmith.media.masks import BoolMask

DONOR_OP = "Donor"
#: spacing of the node grid the original's editor used (pixels between columns / rows)
X_STEP, Y_STEP, MARGIN = 150, 100, 50


def _data_range(image: NDArray[Any]) -> float:
    return 65535.0 if image.dtype == np.uint16 else 255.0


def psnr(a: NDArray[Any], b: NDArray[Any], data_range: float) -> float:
    """Peak signal-to-noise ratio in dB, as scikit-image computes it (inf for identical inputs)."""
    error = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)) if a.size else 0.0
    return math.inf if error == 0 else 10 * math.log10(data_range**2 / error)


def ssim(a: NDArray[Any], b: NDArray[Any], data_range: float) -> float:
    """Mean structural similarity (scikit-image's defaults: 7×7 uniform window, per channel)."""
    from skimage import metrics

    structural_similarity: Any = metrics.structural_similarity  # untyped library
    if min(a.shape[:2]) < 7:
        return math.nan
    channel_axis = 2 if a.ndim == 3 else None
    return float(structural_similarity(a, b, data_range=data_range, channel_axis=channel_axis))


def similarity(source: NDArray[Any], target: NDArray[Any], changed: BoolMask) -> dict[str, float]:
    """``psnr`` (whole image), ``local psnr`` (changed pixels only) and ``ssim`` when the two images have
    the same layout; finite values only (an unchanged image has no PSNR)."""
    if source.shape != target.shape or source.dtype != target.dtype:
        return {}
    top = _data_range(source)
    values = {"psnr": psnr(source, target, top), "ssim": ssim(source, target, top)}
    if changed.shape == source.shape[:2] and changed.any():
        values["local psnr"] = psnr(source[changed], target[changed], top)
    return {k: v for k, v in values.items() if math.isfinite(v)}


def exif_tags(block: bytes | None) -> dict[str, str]:
    """EXIF tags (IFD0 and the Exif IFD) by name, values as text; {} without EXIF."""
    if not block:
        return {}
    from PIL import ExifTags, Image

    exif = Image.Exif()
    try:
        exif.load(block)
        items = list(exif.items())
        items += list(exif.get_ifd(ExifTags.IFD.Exif).items())
    except Exception:  # a malformed block has no readable tags
        return {}
    out: dict[str, str] = {}
    for tag, value in items:
        if tag in (ExifTags.IFD.Exif, ExifTags.IFD.GPSInfo, ExifTags.IFD.Interop):
            continue
        name = ExifTags.TAGS.get(tag, f"Tag{tag:#06x}")
        if isinstance(value, bytes):
            value = value.hex() if len(value) <= 64 else f"<{len(value)} bytes>"
        out[name] = str(value)
    return out


def exif_diff(before: bytes | None, after: bytes | None) -> dict[str, list[str]]:
    """The original's ``exifdiff``: ``{tag: ['change', old, new] | ['add', new] | ['delete', old]}``."""
    old, new = exif_tags(before), exif_tags(after)
    out: dict[str, list[str]] = {}
    for name in sorted(old.keys() | new.keys()):
        if name not in new:
            out[name] = ["delete", old[name]]
        elif name not in old:
            out[name] = ["add", new[name]]
        elif old[name] != new[name]:
            out[name] = ["change", old[name], new[name]]
    return out


def link_colour(index: int) -> str:
    """A distinct ``"R G B"`` colour for the index-th operation link (golden-ratio hue steps)."""
    hue = (index * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 0.95)
    return f"{round(r * 255)} {round(g * 255)} {round(b * 255)}"


def assign_link_colours(graph: nx.DiGraph) -> None:
    """Give every non-donor edge without one a ``linkcolor`` (as the original did on save)."""
    used = {d.get("linkcolor") for _, _, d in graph.edges(data=True)}
    index = 0
    for _, _, data in sorted(graph.edges(data=True), key=lambda e: (str(e[0]), str(e[1]))):
        if data.get("op") == DONOR_OP or data.get("linkcolor"):
            continue
        while link_colour(index) in used:
            index += 1
        data["linkcolor"] = link_colour(index)
        used.add(data["linkcolor"])


def assign_positions(graph: nx.DiGraph) -> None:
    """``xpos``/``ypos`` for nodes without them: a column per depth from the roots, a row per node in it."""
    if not nx.is_directed_acyclic_graph(graph):
        return
    depth: dict[Any, int] = {}
    for node in nx.topological_sort(graph):
        preds = list(graph.predecessors(node))
        depth[node] = 1 + max(depth[p] for p in preds) if preds else 0
    rows: dict[int, int] = {}
    for node in sorted(graph.nodes, key=lambda n: (depth[n], str(n))):
        data = graph.nodes[node]
        row = rows.get(depth[node], 0)
        rows[depth[node]] = row + 1
        if "xpos" not in data or "ypos" not in data:
            data["xpos"] = MARGIN + X_STEP * depth[node]
            data["ypos"] = MARGIN + Y_STEP * row
