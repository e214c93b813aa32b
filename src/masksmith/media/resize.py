"""Area-averaging shrink: ``cv2.INTER_AREA``, with a fast path for the common exact 2/3 shrink.

OpenCV has a fast INTER_AREA for whole-number factors only; 1920×1080 → 1280×720 (factor 1.5) takes its
general path, about 10 ms. A 2/3 shrink maps every 3×3 block to 2×2 outputs with weights 2/3 and 1/3
along each axis, which two passes of ``cv2.addWeighted`` over strided views compute in about a third of
the time. Results are within one grey level of ``cv2.INTER_AREA`` (each pass rounds).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

Image = NDArray[Any]

__all__ = ["shrink_area"]


def _two_thirds(blocks: Image) -> Image:
    """(N, 3, M) → (N, 2, M): each triple (a, b, c) becomes ((2a + b) / 3, (b + 2c) / 3)."""
    out = np.empty((blocks.shape[0], 2, blocks.shape[2]), blocks.dtype)
    cv2.addWeighted(blocks[:, 0], 2 / 3, blocks[:, 1], 1 / 3, 0, dst=out[:, 0])
    cv2.addWeighted(blocks[:, 1], 1 / 3, blocks[:, 2], 2 / 3, 0, dst=out[:, 1])
    return out


def _shrink_two_thirds(image: Image) -> Image:
    h, w = image.shape[:2]
    channels = 1 if image.ndim == 2 else image.shape[2]
    rows = _two_thirds(image.reshape(h // 3, 3, w * channels))  # rows 3i..3i+2 → 2i, 2i+1
    cols = _two_thirds(rows.reshape(-1, 3, channels))  # pixel triples along each row
    shape = (2 * h // 3, 2 * w // 3) if image.ndim == 2 else (2 * h // 3, 2 * w // 3, channels)
    return cols.reshape(shape)


def shrink_area(image: Image, size: tuple[int, int]) -> Image:
    """``image`` shrunk to ``size`` (width, height) by area averaging."""
    h, w = image.shape[:2]
    new_w, new_h = size
    exact_two_thirds = 3 * new_w == 2 * w and 3 * new_h == 2 * h
    if exact_two_thirds and image.dtype in (np.uint8, np.uint16) and image.flags.c_contiguous:
        return _shrink_two_thirds(image)
    return cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)
