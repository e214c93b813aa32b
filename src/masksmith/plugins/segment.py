"""Segmentation on a reduced copy (scikit-image Felzenszwalb / SLIC) and region clean-up at full size.

Segmenting a 1920×1080 image at full size takes seconds; the plugins segment a copy whose longer side is
a few hundred pixels and carry the chosen region back with nearest-neighbour scaling, which keeps a
4-connected region connected.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from masksmith.errors import ModelUnavailable
from masksmith.plugins.common import BoolMask, largest_component, to_rgb8

Labels = NDArray[np.int64]


def reduce(image: NDArray[Any], max_side: int) -> tuple[NDArray[np.uint8], float]:
    """An 8-bit RGB copy whose longer side is at most ``max_side``, and the factor it was scaled by."""
    rgb = to_rgb8(image)
    rows, cols = rgb.shape[:2]
    factor = min(1.0, max_side / max(rows, cols))
    if factor >= 1.0:
        return rgb, 1.0
    size = (max(1, round(cols * factor)), max(1, round(rows * factor)))
    return np.asarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)), factor


def _skimage_segmentation() -> Any:
    try:
        from skimage import segmentation
    except ImportError as exc:  # pragma: no cover - scikit-image is a core dependency
        raise ModelUnavailable("segmentation needs scikit-image: pip install scikit-image") from exc
    return segmentation


def felzenszwalb(
    rgb: NDArray[np.uint8], *, scale: float = 200.0, sigma: float = 0.8, min_size: int = 0
) -> Labels:
    """Felzenszwalb–Huttenlocher graph segmentation labels (0..n-1)."""
    seg = _skimage_segmentation()
    area = rgb.shape[0] * rgb.shape[1]
    minimum = min_size or max(20, area // 2000)
    return np.asarray(seg.felzenszwalb(rgb, scale=scale, sigma=sigma, min_size=minimum), dtype=np.int64)


def slic(rgb: NDArray[np.uint8], *, segments: int, compactness: float = 10.0) -> Labels:
    """SLIC superpixel labels (0..n-1), each label one connected region."""
    seg = _skimage_segmentation()
    labels = seg.slic(
        rgb, n_segments=max(2, segments), compactness=compactness, start_label=0, enforce_connectivity=True
    )
    return np.asarray(labels, dtype=np.int64)


def upscale(mask: BoolMask, shape: tuple[int, int]) -> BoolMask:
    """Carry a reduced-size mask back to ``shape`` (rows, cols) with nearest-neighbour scaling."""
    if mask.shape == shape:
        return mask.copy()
    scaled = cv2.resize(mask.astype(np.uint8), (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
    return np.asarray(scaled > 0)


def solid_region(mask: BoolMask) -> BoolMask:
    """The largest 4-connected component with its holes filled: one connected region."""
    region = largest_component(mask)
    if not region.any():
        return region
    contours, _ = cv2.findContours(region.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    filled = np.zeros(region.shape, np.uint8)
    cv2.drawContours(filled, contours, -1, 1, thickness=cv2.FILLED)
    # filling can only add enclosed pixels, but keep the guarantee explicit
    return largest_component(filled.astype(bool) | region)


def label_areas(labels: Labels) -> NDArray[np.int64]:
    return np.bincount(labels.ravel())


def texture_scores(gray: NDArray[np.uint8], labels: Labels) -> NDArray[np.float64]:
    """Per label: the mean gradient magnitude inside it (low = uniform texture)."""
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
    magnitude = cv2.magnitude(gx, gy).ravel().astype(np.float64)
    flat = labels.ravel()
    counts = np.bincount(flat).astype(np.float64)
    sums = np.bincount(flat, weights=magnitude, minlength=counts.size)
    return np.asarray(sums / np.maximum(counts, 1.0))


def depth_map(mask: BoolMask) -> NDArray[np.float32]:
    """Distance of every pixel of ``mask`` to the nearest pixel outside it (the image border counts)."""
    padded = np.pad(mask.astype(np.uint8), 1)
    return np.asarray(cv2.distanceTransform(padded, cv2.DIST_L2, 5)[1:-1, 1:-1], dtype=np.float32)
