"""Edge and node attributes the Journaling Tool writes besides masks: image similarity (``psnr``,
``local psnr``, ``ssim``), metadata differences (``exifdiff``), link colours (``linkcolor``) and node
positions (``xpos``, ``ypos``). Pure functions over arrays, bytes and the graph."""

from __future__ import annotations

import colorsys
import math
from typing import Any

import cv2
import networkx as nx
import numpy as np
from numpy.typing import NDArray

from masksmith.media.masks import BoolMask

DONOR_OP = "Donor"
#: spacing of the node grid the original's editor used (pixels between columns / rows)
X_STEP, Y_STEP, MARGIN = 150, 100, 50


def _data_range(image: NDArray[Any]) -> float:
    return 65535.0 if image.dtype == np.uint16 else 255.0


def _psnr_from(squared_error: float, count: int, data_range: float) -> float:
    return (
        math.inf
        if squared_error == 0 or count == 0
        else 10 * math.log10(data_range**2 * count / squared_error)
    )


def psnr(a: NDArray[Any], b: NDArray[Any], data_range: float) -> float:
    """Peak signal-to-noise ratio in dB, as scikit-image computes it (inf for identical inputs); the squared
    error is summed by OpenCV (exact for integer pixels)."""
    return _psnr_from(float(cv2.norm(a, b, cv2.NORM_L2SQR)), a.size, data_range)


def local_psnr(a: NDArray[Any], b: NDArray[Any], where: BoolMask, data_range: float) -> float:
    """PSNR over the pixels ``where`` is True (all their channels), as ``psnr(a[where], b[where])``."""
    mask = where.astype(np.uint8)
    channels = a.shape[2] if a.ndim == 3 else 1
    count = int(np.count_nonzero(mask)) * channels
    return _psnr_from(float(cv2.norm(a, b, cv2.NORM_L2SQR, mask=mask)), count, data_range)


_WIN = 7  # scikit-image's default window
_STRIP = 16  # output rows per pass: the strip's float64 temporaries stay in the CPU cache


def _box_means(image: NDArray[Any], pad: int) -> NDArray[np.float64]:
    """7×7 window means of a strip, its border rows and columns dropped (only windows inside count)."""
    means = cv2.boxFilter(image, cv2.CV_64F, (_WIN, _WIN), borderType=cv2.BORDER_REFLECT_101)
    return np.asarray(means, np.float64).reshape(image.shape)[pad:-pad, pad:-pad]


def _strip_ssim_sum(x: NDArray[Any], y: NDArray[Any], pad: int, c1: float, c2: float) -> tuple[float, int]:
    """Sum and count of the SSIM map over the windows centred on a strip's inner rows."""
    norm = _WIN * _WIN / (_WIN * _WIN - 1)
    if x.dtype == np.uint8:  # products are exact in 16 bits, sums exact in float64
        wide_x, wide_y = x.astype(np.uint16), y.astype(np.uint16)
    else:
        x = wide_x = x.astype(np.float64)
        y = wide_y = y.astype(np.float64)
    ux, uy = _box_means(x, pad), _box_means(y, pad)
    uxx, uyy = _box_means(wide_x * wide_x, pad), _box_means(wide_y * wide_y, pad)
    uxy = _box_means(wide_x * wide_y, pad)
    # ((2·ux·uy + c1)(2·cov + c2)) / ((ux² + uy² + c1)(var x + var y + c2)), in place: few temporaries
    both = ux * uy
    squares = ux * ux
    squares += uy * uy
    uxy -= both
    uxy *= 2 * norm
    uxy += c2
    both *= 2
    both += c1
    both *= uxy  # numerator
    uxx += uyy
    uxx -= squares
    uxx *= norm
    uxx += c2
    squares += c1
    squares *= uxx  # denominator
    both /= squares
    return float(both.sum()), int(both.size)


def ssim(a: NDArray[Any], b: NDArray[Any], data_range: float) -> float:
    """Mean structural similarity with scikit-image's defaults (7×7 uniform window, sample covariance,
    K1 0.01, K2 0.03, borders left out, channels averaged): the same values as
    ``skimage.metrics.structural_similarity`` (to 1e-12), computed with OpenCV box filters over strips
    of rows, about twenty times faster than scikit-image."""
    if min(a.shape[:2]) < _WIN:
        return math.nan
    if np.array_equal(a, b):
        return 1.0
    return _ssim_of_different(a, b, data_range)


def _ssim_of_different(a: NDArray[Any], b: NDArray[Any], data_range: float) -> float:
    """:func:`ssim` of two images already known to differ and to be at least one window in size."""
    pad = (_WIN - 1) // 2
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    x = a.reshape(a.shape[0], a.shape[1], -1)
    y = b.reshape(b.shape[0], b.shape[1], -1)
    total, count = 0.0, 0
    for start in range(pad, x.shape[0] - pad, _STRIP):
        stop = min(start + _STRIP, x.shape[0] - pad)
        # every channel has the same number of windows: the mean over all is the mean of channel means
        strip_sum, strip_count = _strip_ssim_sum(
            np.ascontiguousarray(x[start - pad : stop + pad]),
            np.ascontiguousarray(y[start - pad : stop + pad]),
            pad,
            c1,
            c2,
        )
        total += strip_sum
        count += strip_count
    return total / count


def similarity(source: NDArray[Any], target: NDArray[Any], changed: BoolMask) -> dict[str, float]:
    """``psnr`` (whole image), ``local psnr`` (changed pixels only) and ``ssim`` when the two images have
    the same layout; finite values only (an unchanged image has no PSNR)."""
    if source.shape != target.shape or source.dtype != target.dtype:
        return {}
    top = _data_range(source)
    if np.array_equal(source, target):  # a lossless conversion: no noise to measure
        return {"ssim": 1.0}
    # the two differ (checked above): no second whole-image comparison inside ssim
    structure = math.nan if min(source.shape[:2]) < _WIN else _ssim_of_different(source, target, top)
    values = {"psnr": psnr(source, target, top), "ssim": structure}
    if changed.shape == source.shape[:2] and changed.any():
        values["local psnr"] = local_psnr(source, target, changed, top)
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
