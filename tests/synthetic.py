"""Seeded synthetic images for tests."""

from __future__ import annotations

import numpy as np


def textured(rng: np.random.Generator, rows: int = 240, cols: int = 320, channels: int = 3) -> np.ndarray:
    """A noisy RGB image: every pixel differs from its neighbours, so any edit shows."""
    shape = (rows, cols, channels) if channels > 1 else (rows, cols)
    return rng.integers(0, 256, size=shape, dtype=np.uint8)


def smooth_textured(rng: np.random.Generator, rows: int = 240, cols: int = 320) -> np.ndarray:
    """A smooth but non-flat RGB image (good for interpolation and compression tests)."""
    import cv2

    small = rng.integers(0, 256, size=(rows // 16 + 1, cols // 16 + 1, 3), dtype=np.uint8)
    return np.ascontiguousarray(cv2.resize(small, (cols, rows), interpolation=cv2.INTER_CUBIC))
