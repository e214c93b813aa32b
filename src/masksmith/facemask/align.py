"""Aligned face crops in three styles, a ladder of increasing normalisation.

- ``original_cropping``: a square around the detector box (margin 0.1 per side), padded black at
  the image edge, no rotation; the box centre lands on the crop centre.
- ``scale_shift``: isotropic scale + translation fitted from the 5 landmarks to the ArcFace
  template; in-plane roll is kept.
- ``buffalo``: full similarity (Umeyama) to the ArcFace template, as insightface ``norm_crop``.

Matrices map source pixel coordinates to crop pixel coordinates (pixel centres at integers),
the ``cv2.warpAffine`` convention.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import cv2
import numpy as np
from numpy.typing import ArrayLike, NDArray

from masksmith.errors import OperationError
from masksmith.media import geometry

__all__ = [
    "ARCFACE_112",
    "CropResult",
    "CropStyle",
    "arcface_template",
    "crop",
    "scale_shift_fit",
    "similarity_fit",
    "transform_points",
]

# ArcFace 5-point destination for 112×112: image-left eye, image-right eye, nose tip, mouth corners.
ARCFACE_112: NDArray[np.float64] = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float64,
)

DEFAULT_MARGIN = 0.1
BOX_FALLBACK_SCALE = 1.3


class CropStyle(StrEnum):
    """Crop styles; see the module docstring."""

    BUFFALO = "buffalo"
    ORIGINAL_CROPPING = "original_cropping"
    SCALE_SHIFT = "scale_shift"


@dataclass(frozen=True)
class CropResult:
    """A crop: image (``crop_size`` square, input dtype/channels), 2×3 source→crop matrix, style."""

    image: NDArray[Any]
    matrix: NDArray[np.float64]
    style: CropStyle


def arcface_template(crop_size: int = 112) -> NDArray[np.float64]:
    """The ArcFace 5-point template scaled to ``crop_size`` (insightface ``estimate_norm`` rules).

    Multiples of 112 scale the 112 template; multiples of 128 scale it by size/128 and shift it 8·ratio
    right (the 128-pixel variant); any other size scales the 112 template by size/112.
    """
    if crop_size <= 0:
        raise OperationError(f"crop_size must be positive, got {crop_size}", argument="crop_size")
    if crop_size % 112 != 0 and crop_size % 128 == 0:
        ratio = crop_size / 128.0
        return ARCFACE_112 * ratio + [8.0 * ratio, 0.0]
    return ARCFACE_112 * (crop_size / 112.0)


def _points(pts: NDArray[Any] | None, argument: str) -> NDArray[np.float64]:
    if pts is None:
        raise OperationError("5 landmarks are required for this crop style", argument=argument)
    p = np.asarray(pts, dtype=np.float64)
    if p.shape != (5, 2) or not np.all(np.isfinite(p)):
        raise OperationError(f"expected finite (5, 2) landmarks, got shape {p.shape}", argument=argument)
    return p


def similarity_fit(src: NDArray[Any], dst: NDArray[Any]) -> NDArray[np.float64]:
    """Least-squares similarity (Umeyama, no reflection) taking ``src`` points onto ``dst``: 2×3."""
    return np.ascontiguousarray(geometry.estimate_similarity(src, dst)[:2])


def scale_shift_fit(src: NDArray[Any], dst: NDArray[Any]) -> NDArray[np.float64]:
    """Least-squares isotropic scale + translation (no rotation) taking ``src`` onto ``dst``: 2×3."""
    s = np.asarray(src, dtype=np.float64)
    d = np.asarray(dst, dtype=np.float64)
    ms, md = s.mean(axis=0), d.mean(axis=0)
    sc, dc = s - ms, d - md
    denom = float((sc**2).sum())
    scale = float((sc * dc).sum() / denom) if denom > 0 else 1.0
    t = md - scale * ms
    return np.array([[scale, 0.0, t[0]], [0.0, scale, t[1]]])


def transform_points(matrix: ArrayLike, pts: ArrayLike) -> NDArray[np.float64]:
    """Apply a 2×3 affine matrix to (N, 2) points."""
    m = np.asarray(matrix, dtype=np.float64)
    p = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
    if m.shape != (2, 3):
        raise OperationError(f"expected a 2×3 matrix, got {m.shape}", argument="matrix")
    return p @ m[:, :2].T + m[:, 2]


def _box(box: NDArray[Any] | tuple[float, ...] | None) -> NDArray[np.float64]:
    if box is None:
        raise OperationError("a face box (x1, y1, x2, y2) is required for this crop style", argument="box")
    b = np.asarray(box, dtype=np.float64).reshape(-1)
    if b.shape != (4,) or not np.all(np.isfinite(b)) or b[2] <= b[0] or b[3] <= b[1]:
        raise OperationError(
            f"face box must be finite (x1, y1, x2, y2) with x2 > x1, y2 > y1; got {b.tolist()}",
            argument="box",
        )
    return b


def _square_crop(
    image: NDArray[Any], cx: float, cy: float, side: float, size: int
) -> tuple[NDArray[Any], Any]:
    """Square of ``side`` source pixels centred on (cx, cy), zero-padded outside, resized to ``size``."""
    if side >= size:
        # Shrinking: cut the integer-aligned square at full resolution, then INTER_AREA.
        n = max(1, round(side))
        x0, y0 = round(cx - n / 2), round(cy - n / 2)
        h, w = image.shape[:2]
        patch = np.zeros((n, n, *image.shape[2:]), dtype=image.dtype)
        sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x0 + n, w), min(y0 + n, h)
        if sx1 > sx0 and sy1 > sy0:
            patch[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = image[sy0:sy1, sx0:sx1]
        out = cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA) if n != size else patch
        s = size / n
        m = np.array([[s, 0.0, (0.5 - x0) * s - 0.5], [0.0, s, (0.5 - y0) * s - 0.5]])
        return out, m
    s = size / side
    m = np.array([[s, 0.0, (size - 1) / 2 - s * cx], [0.0, s, (size - 1) / 2 - s * cy]])
    out = cv2.warpAffine(
        image, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )
    return out, m


def crop(
    image: NDArray[Any],
    *,
    style: CropStyle | str,
    landmarks5: NDArray[Any] | None = None,
    box: NDArray[Any] | tuple[float, ...] | None = None,
    crop_size: int = 112,
    margin: float = DEFAULT_MARGIN,
) -> CropResult:
    """Crop one face. ``landmarks5`` in ArcFace order (needed by ``buffalo``; ``scale_shift`` falls back
    to a box square of 1.3·max(w, h) without them); ``box`` (x1, y1, x2, y2) needed by ``original_cropping``.
    """
    try:
        kind = CropStyle(str(style))
    except ValueError:
        valid = ", ".join(s.value for s in CropStyle)
        raise OperationError(f"unknown crop style {style!r}; valid: {valid}", argument="style") from None
    if int(crop_size) <= 0:
        raise OperationError(f"crop_size must be positive, got {crop_size}", argument="crop_size")
    size = int(crop_size)
    img = np.asarray(image)
    if img.ndim not in (2, 3) or img.size == 0:
        raise OperationError(f"expected an H×W or H×W×C image, got shape {img.shape}", argument="image")

    if kind is CropStyle.ORIGINAL_CROPPING or (kind is CropStyle.SCALE_SHIFT and landmarks5 is None):
        b = _box(box)
        w, h = b[2] - b[0], b[3] - b[1]
        factor = 1 + 2 * margin if kind is CropStyle.ORIGINAL_CROPPING else BOX_FALLBACK_SCALE
        if factor <= 0:
            raise OperationError(f"margin must be > -0.5, got {margin}", argument="margin")
        out, m = _square_crop(img, (b[0] + b[2]) / 2, (b[1] + b[3]) / 2, max(w, h) * factor, size)
        return CropResult(image=out, matrix=m, style=kind)

    pts = _points(landmarks5, "landmarks5")
    template = arcface_template(size)
    m = similarity_fit(pts, template) if kind is CropStyle.BUFFALO else scale_shift_fit(pts, template)
    out = cv2.warpAffine(
        img, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )
    return CropResult(image=out, matrix=m, style=kind)
