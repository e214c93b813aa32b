"""Synthetic video and audio made with PyAV for the video/audio tests (lossless unless said otherwise).

Frames are seeded textures in 0..150 that differ from frame to frame; edits paint a bright box, so
the exact change (the analytic truth) is known for every frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from masksmith.media import video

H, W = 72, 96
RATE = 30
FRAMES = 100
BOX = (slice(12, 40), slice(24, 64))  # rows, cols of the painted box
SAMPLE_RATE = 44100


def frames(count: int = FRAMES, *, seed: int = 7, height: int = H, width: int = W) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 150, (height, width, 3), dtype=np.uint8)
    out = []
    for index in range(count):
        frame = np.roll(base, index, axis=1).copy()
        frame[0:4, :, :] = index % 150  # a frame counter stripe keeps neighbours distinct
        out.append(frame)
    return out


def painted(clip: Sequence[np.ndarray], first: int, last: int) -> list[np.ndarray]:
    """Frames ``first..last`` (1-based, inclusive) with the box painted; the rest untouched."""
    out = [f.copy() for f in clip]
    for index in range(first - 1, last):
        out[index][BOX] = 240
    return out


def truth_mask(height: int = H, width: int = W) -> np.ndarray:
    mask = np.zeros((height, width), bool)
    mask[BOX] = True
    return mask


def write(path: Path, clip: Sequence[np.ndarray], **options: object) -> Path:
    return video.write_video(path, clip, **options)  # type: ignore[arg-type]


def tone(seconds: float, *, seed: int = 3, channels: int = 2) -> np.ndarray:
    """Seeded noise plus a tone, int16, samples × channels (every sample distinct from its neighbour)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    wave = 4000 * np.sin(2 * np.pi * 440 * t)[:, None] + rng.normal(0, 800, (n, channels))
    return wave.astype(np.int16)
