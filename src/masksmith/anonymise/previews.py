"""Preview crops: ``preview_dim`` = [width, height] cut around ``preview_center`` = [height, width] fractions.

As in the original, the crop box is ``(cx - w//2, cy - h//2, cx + w//2, cy + h//2)`` with
``cx = int(W × center[1])``, ``cy = int(H × center[0])``; parts outside the image are black, so the
preview always has the configured size (an odd size loses one pixel, as there).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["preview_box", "preview_crop"]

Pixels = npt.NDArray[Any]


def preview_box(
    height: int, width: int, *, dim: tuple[int, int], center: tuple[float, float]
) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the preview in image pixels (may lie partly outside the image)."""
    cx, cy = int(width * center[1]), int(height * center[0])
    half_w, half_h = int(dim[0] / 2), int(dim[1] / 2)
    return cx - half_w, cy - half_h, cx + half_w, cy + half_h


def preview_crop(image: Pixels, *, dim: tuple[int, int], center: tuple[float, float]) -> Pixels:
    """The preview of ``image`` (a new array), black where the box leaves the image."""
    height, width = image.shape[:2]
    left, top, right, bottom = preview_box(height, width, dim=dim, center=center)
    out = np.zeros((bottom - top, right - left, *image.shape[2:]), dtype=image.dtype)
    r0, r1 = max(0, top), min(height, bottom)
    c0, c1 = max(0, left), min(width, right)
    if r1 > r0 and c1 > c0:
        out[r0 - top : r1 - top, c0 - left : c1 - left] = image[r0:r1, c0:c1]
    return out
