"""Change masks: differences, conversions between file conventions, and small mask algebra.

In memory a change mask is a boolean array, ``True`` = changed, shaped like the source image rows × cols.
The file conventions live here and nowhere else:

* edge mask files (Journaling Tool compatible): 8-bit, **0 = changed**, 255 = unchanged;
* probe and composite files: 8-bit, **255 = manipulated**, 0 = not;
* input masks handed to plugins: 8-bit, **255 = select**.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

BoolMask = NDArray[np.bool_]
U8 = NDArray[np.uint8]

#: The Journaling Tool's default comparison tolerance, as a fraction of the dtype's range.
DEFAULT_TOLERANCE = 0.0001


def _as_uint(image: NDArray[Any]) -> NDArray[Any]:
    if image.dtype == np.bool_:
        return image.astype(np.uint8) * 255
    if image.dtype in (np.uint8, np.uint16):
        return np.asarray(image)
    if np.issubdtype(image.dtype, np.floating):
        return np.asarray(np.clip(image * 65535.0, 0, 65535), dtype=np.uint16)
    return np.asarray(np.clip(image, 0, 65535), dtype=np.uint16)


def _dtype_range(dtype: np.dtype[np.generic]) -> int:
    return 65535 if dtype == np.uint16 else 255


def _reduce_channels_max(diff: NDArray[Any]) -> NDArray[Any]:
    if diff.ndim == 2:
        return diff
    channels = cv2.split(diff)
    out = channels[0]
    for channel in channels[1:]:
        out = cv2.max(out, channel)
    return out


def _match_layout(a: NDArray[Any], b: NDArray[Any]) -> tuple[NDArray[Any], ...]:
    """Bring two images to the same channel count and dtype so they can be compared."""
    a, b = _as_uint(a), _as_uint(b)
    if a.dtype != b.dtype:
        a = a.astype(np.uint16) * (257 if a.dtype == np.uint8 else 1)
        b = b.astype(np.uint16) * (257 if b.dtype == np.uint8 else 1)
    ca = 1 if a.ndim == 2 else a.shape[2]
    cb = 1 if b.ndim == 2 else b.shape[2]
    if ca != cb:
        a, b = _to_rgb(a), _to_rgb(b)
    return a, b


def _to_rgb(image: NDArray[Any]) -> NDArray[Any]:
    if image.ndim == 2:
        return np.asarray(cv2.cvtColor(image, cv2.COLOR_GRAY2RGB))
    if image.shape[2] == 4:
        return np.ascontiguousarray(image[:, :, :3])
    return image


def abs_diff(a: NDArray[Any], b: NDArray[Any]) -> NDArray[Any]:
    """Per-pixel absolute difference, the maximum over channels (same dtype as the inputs)."""
    if a.shape[:2] != b.shape[:2]:
        raise ValueError(f"images differ in size: {a.shape[:2]} vs {b.shape[:2]}")
    a, b = _match_layout(a, b)
    return _reduce_channels_max(cv2.absdiff(a, b))


def diff_mask(a: NDArray[Any], b: NDArray[Any], *, tolerance: float = DEFAULT_TOLERANCE) -> BoolMask:
    """Pixels whose value differs in any channel by more than ``tolerance`` × the dtype's range."""
    diff = abs_diff(a, b)
    threshold = tolerance * _dtype_range(diff.dtype)
    return np.asarray(diff > threshold)


def smoothed_diff_mask(
    a: NDArray[Any], b: NDArray[Any], *, level: float = 0.06, weak_level: float = 0.008
) -> BoolMask:
    """Differences that stand out from compression and interpolation noise, with exact edges.

    Pixels differing by more than ``level`` (a fraction of the dtype's range) seed the mask once an
    opening has removed isolated speckles; the mask then grows by two pixels into neighbours that
    differ by more than ``weak_level``, so a real edit keeps its true outline.
    """
    diff = abs_diff(a, b)
    top = _dtype_range(diff.dtype)
    strong = cv2.morphologyEx(
        (diff > level * top).astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)
    )
    near = cv2.dilate(strong, np.ones((3, 3), np.uint8), iterations=2)
    weak = (diff > weak_level * top).astype(np.uint8)
    return np.asarray(cv2.bitwise_or(strong, cv2.bitwise_and(near, weak)) > 0)


def compression_tolerant_diff_mask(
    a: NDArray[Any], b: NDArray[Any], *, level: float = 0.094, raw_level: float = 0.047
) -> BoolMask:
    """Edits that survive lossy re-compression: JPEG noise is sparse and high-frequency, an edit is not.

    Both images are smoothed (5×5 Gaussian); differences above ``level`` that survive a 5×5 opening
    seed the mask, which then takes the pixels within two pixels whose raw difference exceeds
    ``raw_level`` (both fractions of the dtype's range). A JPEG re-save at quality ≥ 75 of a
    natural photo gives an empty mask; an edit keeps its outline.
    """
    a, b = _match_layout(a, b)
    top = _dtype_range(a.dtype)
    raw_diff = abs_diff(a, b)
    if cv2.minMaxLoc(raw_diff)[1] <= raw_level * top:  # lossless conversions end here, cheaply
        return np.zeros(a.shape[:2], bool)
    smooth = abs_diff(cv2.GaussianBlur(a, (5, 5), 0), cv2.GaussianBlur(b, (5, 5), 0))
    opened = cv2.morphologyEx(
        (smooth > level * top).astype(np.uint8), cv2.MORPH_OPEN, np.ones((5, 5), np.uint8)
    )
    near = cv2.dilate(opened, np.ones((3, 3), np.uint8), iterations=2)
    raw = (raw_diff > raw_level * top).astype(np.uint8)
    return np.asarray(cv2.bitwise_and(near, raw) > 0)


# --- file conventions ---------------------------------------------------------------------------


def to_edge_file(changed: BoolMask) -> U8:
    """Boolean change mask → JT edge mask file pixels (0 = changed, 255 = unchanged)."""
    out = np.full(changed.shape, 255, np.uint8)
    out[changed] = 0
    return out


def from_edge_file(pixels: NDArray[Any]) -> BoolMask:
    """JT edge mask file pixels → boolean change mask. Colour or alpha masks use their first channel."""
    return np.asarray(_first_channel(pixels) < 128)


def to_probe_file(changed: BoolMask) -> U8:
    """Boolean mask → probe/composite file pixels (255 = manipulated)."""
    return changed.astype(np.uint8) * 255


def from_probe_file(pixels: NDArray[Any]) -> BoolMask:
    return np.asarray(_first_channel(pixels) >= 128)


def from_input_mask(pixels: NDArray[Any], *, invert: bool = False) -> BoolMask:
    """Input mask pixels (255 = select) → boolean selection; ``invert`` flips a journal edge mask into it.

    An RGBA image is read through its alpha channel.
    """
    if pixels.ndim == 3 and pixels.shape[2] == 4:
        selected = pixels[:, :, 3] >= 128
    else:
        selected = _first_channel(pixels) >= 128
    return np.asarray(~selected if invert else selected)


def to_input_mask(selected: BoolMask) -> U8:
    return selected.astype(np.uint8) * 255


def alpha_mask(pixels: NDArray[Any]) -> BoolMask:
    """Where an RGBA image is opaque (alpha > 0); everything when it has no alpha."""
    if pixels.ndim == 3 and pixels.shape[2] == 4:
        return np.asarray(pixels[:, :, 3] > 0)
    return np.ones(pixels.shape[:2], bool)


def _first_channel(pixels: NDArray[Any]) -> NDArray[Any]:
    if pixels.ndim == 3:
        pixels = pixels[:, :, 0]
    if pixels.dtype == np.uint16:
        return np.asarray(pixels >> 8)
    if pixels.dtype == np.bool_:
        return pixels.astype(np.uint8) * 255
    return pixels


# --- algebra and measures -----------------------------------------------------------------------


def dilate(mask: BoolMask, pixels: int) -> BoolMask:
    """Grow a mask by ``pixels`` with an elliptical structuring element (0 returns a copy)."""
    if pixels <= 0:
        return mask.copy()
    size = 2 * pixels + 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    return cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)


def union(*masks: BoolMask) -> BoolMask:
    if not masks:
        raise ValueError("union of no masks")
    out = masks[0].copy()
    for mask in masks[1:]:
        out |= mask
    return out


@dataclass(frozen=True, slots=True)
class BBox:
    """A pixel box: rows ``top:bottom`` and columns ``left:right`` (exclusive ends)."""

    top: int
    left: int
    bottom: int
    right: int

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def area(self) -> int:
        return self.height * self.width


def bbox(mask: BoolMask) -> BBox | None:
    """Tight bounding box of the True pixels, or None for an empty mask."""
    points = cv2.findNonZero(mask.astype(np.uint8))
    if points is None:
        return None
    x, y, w, h = cv2.boundingRect(points)
    return BBox(top=y, left=x, bottom=y + h, right=x + w)


def count(mask: BoolMask) -> int:
    return int(cv2.countNonZero(mask.astype(np.uint8)))


def iou(a: BoolMask, b: BoolMask) -> float:
    """Intersection over union; two empty masks agree perfectly (1.0)."""
    inter = count(a & b)
    uni = count(a | b)
    return 1.0 if uni == 0 else inter / uni


def rle_encode(mask: BoolMask) -> dict[str, list[int]]:
    """Uncompressed run-length encoding in COCO's column-major layout (starts with a run of False)."""
    flat = np.asarray(mask, bool).ravel(order="F")
    changes = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
    bounds = np.concatenate(([0], changes, [flat.size]))
    runs = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        runs = [0, *runs]
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": [int(r) for r in runs]}


def rle_decode(rle: dict[str, list[int]]) -> BoolMask:
    height, width = rle["size"]
    values = np.zeros(height * width, bool)
    position, value = 0, False
    for run in rle["counts"]:
        if value:
            values[position : position + run] = True
        position += run
        value = not value
    return values.reshape((height, width), order="F")
