"""Synthetic street scenes with the astronaut's face pasted at known places and sizes (tests and bench)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from skimage import data

# CenterFace's box of the astronaut's face in skimage.data.astronaut() (x1, y1, x2, y2).
ASTRONAUT_FACE = (181.5, 58.2, 269.9, 177.8)
# The cut-out around it (x1, y1, x2, y2): the face and a little of its surroundings.
_CUT = (160, 35, 292, 200)


@dataclass(frozen=True)
class Face:
    """A pasted face: its face box (x1, y1, x2, y2) in scene pixels and its height in pixels."""

    box: tuple[float, float, float, float]
    size: int

    def pixel_slices(self, inset: float = 0.0) -> tuple[slice, slice]:
        """Rows and columns of the face box, shrunk by ``inset`` (a fraction of its size) on each side."""
        x1, y1, x2, y2 = self.box
        dx, dy = (x2 - x1) * inset, (y2 - y1) * inset
        return (
            slice(int(np.ceil(y1 + dy)), int(np.floor(y2 - dy))),
            slice(int(np.ceil(x1 + dx)), int(np.floor(x2 - dx))),
        )


def street(rng: np.random.Generator, height: int = 1080, width: int = 1920) -> np.ndarray:
    """A street-like RGB background: sky, building fronts with windows, a road with lane markings."""
    img = np.zeros((height, width, 3), np.uint8)
    horizon = int(height * 0.45)
    sky = np.linspace([120, 160, 215], [200, 215, 235], horizon).astype(np.uint8)
    img[:horizon] = sky[:, None, :]
    x = 0
    while x < width:
        w = int(rng.integers(width // 12, width // 5))
        top = int(rng.integers(height // 12, horizon - height // 10))
        color = rng.integers(70, 190, 3)
        img[top:horizon, x : x + w] = color
        for wy in range(top + 12, horizon - 20, 34):
            for wx in range(x + 8, x + w - 18, 30):
                img[wy : wy + 18, wx : wx + 14] = (color * 0.55).astype(np.uint8)
        x += w + int(rng.integers(0, 20))
    road = np.array(
        [[0, height], [width, height], [int(width * 0.62), horizon], [int(width * 0.38), horizon]]
    )
    img[horizon:] = (95, 100, 90)
    cv2.fillPoly(img, [road], (70, 70, 72))
    for i in range(6):
        y0 = horizon + (height - horizon) * i // 6
        y1 = y0 + (height - horizon) // 14
        cv2.line(img, (width // 2, y0), (width // 2, y1), (230, 230, 230), 3 + i)
    noise = rng.normal(0, 6, img.shape)
    return np.clip(img.astype(np.float32) + noise, 20, 255).astype(np.uint8)


def face_crop() -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """The astronaut's face cut-out and the face box inside it."""
    x1, y1, x2, y2 = _CUT
    crop = data.astronaut()[y1:y2, x1:x2]
    fx1, fy1, fx2, fy2 = ASTRONAUT_FACE
    return crop, (fx1 - x1, fy1 - y1, fx2 - x1, fy2 - y1)


def paste_face(image: np.ndarray, size: int, x: int, y: int, *, wrap: bool = False) -> Face:
    """Paste the face scaled so its box is ``size`` px tall, cut-out top-left at (x, y), in place.

    With ``wrap`` columns past the right edge continue at the left edge (a 360° seam).
    """
    crop, (bx1, by1, bx2, by2) = face_crop()
    scale = size / (by2 - by1)
    w, h = max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale))
    small = cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA)
    cols = (x + np.arange(w)) % image.shape[1] if wrap else x + np.arange(w)
    image[y : y + h][:, cols] = small
    return Face((x + bx1 * scale, y + by1 * scale, x + bx2 * scale, y + by2 * scale), size)


def road_scene(
    rng: np.random.Generator,
    sizes: list[int],
    *,
    height: int = 1080,
    width: int = 1920,
) -> tuple[np.ndarray, list[Face]]:
    """A street with one face per entry of ``sizes`` at random, non-overlapping places."""
    image = street(rng, height, width)
    placed: list[tuple[int, int, int, int]] = []
    faces = []
    crop, _ = face_crop()
    ratio_w, ratio_h = crop.shape[1] / 119.6, crop.shape[0] / 119.6
    for size in sorted(sizes, reverse=True):
        w, h = int(size * ratio_w) + 2, int(size * ratio_h) + 2
        for _ in range(500):
            x = int(rng.integers(0, width - w))
            y = int(rng.integers(0, height - h))
            box = (x - 8, y - 8, x + w + 8, y + h + 8)
            if all(box[2] <= p[0] or p[2] <= box[0] or box[3] <= p[1] or p[3] <= box[1] for p in placed):
                placed.append(box)
                faces.append(paste_face(image, size, x, y))
                break
        else:
            raise RuntimeError(f"no room for a {size} px face")
    return image, faces


def covered(face: Face, mask: np.ndarray, *, inset: float = 0.05) -> float:
    """Fraction of the face box (less a small inset) that ``mask`` covers."""
    rows, cols = face.pixel_slices(inset)
    part = mask[rows, cols]
    return float(part.mean()) if part.size else 0.0
