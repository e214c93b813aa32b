"""Geometry: 3×3 transforms between images, warps of images and masks, locating a crop.

Matrices map source ``(x, y, 1)`` (x = column, y = row) to target coordinates. Shapes are ``(rows, cols)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

Matrix = NDArray[np.float64]
Shape = tuple[int, int]

INTERPOLATIONS: dict[str, int] = {
    "nearest": cv2.INTER_NEAREST,
    "bilinear": cv2.INTER_LINEAR,
    "linear": cv2.INTER_LINEAR,
    "bicubic": cv2.INTER_CUBIC,
    "cubic": cv2.INTER_CUBIC,
    "mesh": cv2.INTER_AREA,
    "area": cv2.INTER_AREA,
    "lanczos": cv2.INTER_LANCZOS4,
}


def interpolation_flag(name: str | None, *, default: str = "nearest") -> int:
    """OpenCV interpolation flag for a JT/masksmith interpolation name (case-insensitive)."""
    key = (name or default).strip().lower()
    if key not in INTERPOLATIONS:
        raise ValueError(f"unknown interpolation {name!r}; expected one of {sorted(INTERPOLATIONS)}")
    return INTERPOLATIONS[key]


def identity() -> Matrix:
    return np.eye(3)


def translation(dx: float, dy: float) -> Matrix:
    return np.array([[1.0, 0.0, dx], [0.0, 1.0, dy], [0.0, 0.0, 1.0]])


def resize_matrix(source: Shape, target: Shape) -> Matrix:
    """Pixel-centre-aligned scaling from ``source`` to ``target`` shape (as cv2.resize samples)."""
    sy = target[0] / source[0]
    sx = target[1] / source[1]
    # x_t + 0.5 = sx * (x_s + 0.5)
    return np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5], [0.0, 0.0, 1.0]])


def flip_matrix(shape: Shape, direction: str) -> Matrix:
    rows, cols = shape
    direction = direction.strip().lower()
    sx = -1.0 if direction in ("horizontal", "both") else 1.0
    sy = -1.0 if direction in ("vertical", "both") else 1.0
    if direction not in ("horizontal", "vertical", "both"):
        raise ValueError(f"unknown flip direction {direction!r}; expected horizontal, vertical or both")
    return np.array(
        [[sx, 0.0, (cols - 1) if sx < 0 else 0.0], [0.0, sy, (rows - 1) if sy < 0 else 0.0], [0.0, 0.0, 1.0]]
    )


def rotation_matrix(shape: Shape, degrees: float, *, expand: bool = True) -> tuple[Matrix, Shape]:
    """Counter-clockwise rotation about the image centre; with ``expand`` the canvas grows to fit.

    Returns the matrix and the target shape. Multiples of 90° are exact.
    """
    rows, cols = shape
    cx, cy = (cols - 1) / 2.0, (rows - 1) / 2.0
    quarter = degrees / 90.0
    if abs(quarter - round(quarter)) < 1e-9:
        k = round(quarter) % 4
        cos, sin = [(1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, -1.0)][k]
    else:
        rad = math.radians(degrees)
        cos, sin = math.cos(rad), math.sin(rad)
    if expand:
        new_cols = round(abs(cols * cos) + abs(rows * sin))
        new_rows = round(abs(cols * sin) + abs(rows * cos))
    else:
        new_rows, new_cols = rows, cols
    ncx, ncy = (new_cols - 1) / 2.0, (new_rows - 1) / 2.0
    # image y points down, so a counter-clockwise turn on screen uses +sin for x from y
    rot = np.array([[cos, sin, 0.0], [-sin, cos, 0.0], [0.0, 0.0, 1.0]])
    matrix = translation(ncx, ncy) @ rot @ translation(-cx, -cy)
    return matrix, (new_rows, new_cols)


def is_affine(matrix: Matrix) -> bool:
    return bool(np.allclose(matrix[2], [0.0, 0.0, 1.0], atol=1e-12))


def warp_image(
    image: NDArray[Any],
    matrix: Matrix,
    shape: Shape,
    *,
    interpolation: int = cv2.INTER_LINEAR,
    border_value: float = 0,
) -> NDArray[Any]:
    """Warp ``image`` into a canvas of ``shape`` with a source→target matrix."""
    size = (int(shape[1]), int(shape[0]))
    if is_affine(matrix):
        return np.asarray(
            cv2.warpAffine(image, matrix[:2], size, flags=interpolation, borderValue=border_value)
        )
    return np.asarray(cv2.warpPerspective(image, matrix, size, flags=interpolation, borderValue=border_value))


def warp_mask(mask: NDArray[np.bool_], matrix: Matrix, shape: Shape) -> NDArray[np.bool_]:
    """Carry a boolean mask through a transform (nearest neighbour on a 0/255 image)."""
    warped = warp_image(mask.astype(np.uint8) * 255, matrix, shape, interpolation=cv2.INTER_LINEAR)
    return np.asarray(warped >= 128)


def coverage(source: Shape, matrix: Matrix, target: Shape) -> NDArray[np.bool_]:
    """Source pixels whose image under ``matrix`` falls inside the target canvas."""
    ones = np.full(target, 255, np.uint8)
    inverse = np.asarray(np.linalg.inv(matrix), np.float64)
    back = warp_image(ones, inverse, source, interpolation=cv2.INTER_NEAREST)
    return np.asarray(back > 0)


def matrix_to_jt(matrix: Matrix) -> dict[str, object]:
    """A 3×3 matrix in the Journaling Tool's edge attribute form ``{"r":3,"c":3,"r0":[…],…}``."""
    return {"r": 3, "c": 3, **{f"r{i}": [float(v) for v in matrix[i]] for i in range(3)}}


def matrix_from_jt(value: object) -> Matrix | None:
    """Parse a JT ``transform matrix`` attribute (dict form, or a nested list); None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, dict):
        rows = [value.get(f"r{i}") for i in range(3)]
        if any(r is None for r in rows):
            raise ValueError("transform matrix lacks r0/r1/r2")
        data: Sequence[object] = rows
    else:
        data = value  # type: ignore[assignment]
    matrix = np.asarray(data, dtype=np.float64)
    if matrix.shape != (3, 3):
        raise ValueError(f"transform matrix must be 3×3, got {matrix.shape}")
    return matrix


def locate_crop(source: NDArray[Any], crop: NDArray[Any]) -> tuple[int, int]:
    """Find where ``crop`` sits in ``source``: the exact ``(row, col)`` of its top-left corner.

    Searches a reduced copy first, then refines at full resolution in a small window, so a near
    full-size crop of a 1920×1080 image is located in milliseconds.
    """
    src = _gray32(source)
    tpl = _gray32(crop)
    if tpl.shape[0] > src.shape[0] or tpl.shape[1] > src.shape[1]:
        raise ValueError(f"crop {tpl.shape} is larger than its source {src.shape}")
    slack_r, slack_c = src.shape[0] - tpl.shape[0], src.shape[1] - tpl.shape[1]
    if slack_r == 0 and slack_c == 0:
        return 0, 0
    factor = max(1, min(tpl.shape) // 64)
    if factor > 1:
        small_src = cv2.resize(src, None, fx=1 / factor, fy=1 / factor, interpolation=cv2.INTER_AREA)
        small_tpl = cv2.resize(tpl, None, fx=1 / factor, fy=1 / factor, interpolation=cv2.INTER_AREA)
        if small_tpl.shape[0] <= small_src.shape[0] and small_tpl.shape[1] <= small_src.shape[1]:
            result = cv2.matchTemplate(small_src, small_tpl, cv2.TM_SQDIFF)
            _, _, (x0, y0), _ = cv2.minMaxLoc(result)
            row, col = y0 * factor, x0 * factor
            radius = 2 * factor
            r0, c0 = max(0, row - radius), max(0, col - radius)
            r1, c1 = min(slack_r, row + radius), min(slack_c, col + radius)
            window = src[r0 : r1 + tpl.shape[0], c0 : c1 + tpl.shape[1]]
            result = cv2.matchTemplate(window, tpl, cv2.TM_SQDIFF)
            _, _, (x, y), _ = cv2.minMaxLoc(result)
            return r0 + y, c0 + x
    result = cv2.matchTemplate(src, tpl, cv2.TM_SQDIFF)
    _, _, (x, y), _ = cv2.minMaxLoc(result)
    return int(y), int(x)


def _gray32(image: NDArray[Any]) -> NDArray[np.float32]:
    if image.ndim == 3:
        image = image[:, :, :3]
        image = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    return np.asarray(image, dtype=np.float32)


def estimate_similarity(source_points: NDArray[np.floating], target_points: NDArray[np.floating]) -> Matrix:
    """Least-squares similarity (rotation, uniform scale, translation) as a 3×3 matrix (Umeyama)."""
    src = np.asarray(source_points, np.float64)
    dst = np.asarray(target_points, np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or len(src) < 2:
        raise ValueError(f"need matching N×2 point sets (N ≥ 2), got {src.shape} and {dst.shape}")
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    rot = u @ sign @ vt
    var = (s**2).sum() / len(src)
    scale = float(np.trace(np.diag(sig) @ sign) / var) if var > 0 else 1.0
    out = np.eye(3)
    out[:2, :2] = scale * rot
    out[:2, 2] = mu_d - scale * rot @ mu_s
    return out


def transform_points(matrix: Matrix, points: NDArray[np.floating]) -> NDArray[np.float64]:
    """Apply a 3×3 matrix to N×2 ``(x, y)`` points."""
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    homog = np.hstack([pts, np.ones((len(pts), 1))]) @ matrix.T
    return np.asarray(homog[:, :2] / homog[:, 2:3])
