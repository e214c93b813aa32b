"""The face frame masks are drawn in: mask types, the canonical frontal 68-point face and the named
anchors derived from 68 landmarks (the same rule on the canonical face and on a real one)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "CANONICAL_68",
    "CHIN_PUSH",
    "EAR_PUSH",
    "FRAME_H_IO",
    "FRAME_W_IO",
    "FRAME_X0",
    "FRAME_Y0",
    "JAW_PUSH",
    "OUTER_PUSH",
    "RGB",
    "MaskType",
    "face_anchors",
]

RGB = tuple[int, int, int]


class MaskType(StrEnum):
    """Kinds of mask we can draw."""

    SURGICAL = "surgical"
    N95 = "n95"
    CLOTH = "cloth"
    KN95 = "kn95"


# Symmetric frontal face in dlib 68-point order: eye centres at (∓0.5, 0), inter-ocular distance 1,
# y down. Derived from dlib's landmarks on skimage's astronaut, mirrored and averaged, roll removed.
CANONICAL_68: NDArray[np.float64] = np.array(
    [
        [-1.064, 0.076], [-1.041, 0.351], [-1.007, 0.614], [-0.962, 0.878], [-0.858, 1.141],
        [-0.709, 1.359], [-0.492, 1.542], [-0.263, 1.692], [0.0, 1.748], [0.263, 1.692],
        [0.492, 1.542], [0.709, 1.359], [0.858, 1.141], [0.962, 0.878], [1.007, 0.614],
        [1.041, 0.351], [1.064, 0.076], [-0.905, -0.141], [-0.779, -0.279], [-0.608, -0.314],
        [-0.412, -0.29], [-0.24, -0.234], [0.24, -0.234], [0.412, -0.29], [0.608, -0.314],
        [0.779, -0.279], [0.905, -0.141], [0.0, -0.016], [0.0, 0.189], [0.0, 0.373],
        [0.0, 0.556], [-0.229, 0.66], [-0.114, 0.694], [0.0, 0.74], [0.114, 0.694],
        [0.229, 0.66], [-0.687, -0.004], [-0.573, -0.072], [-0.424, -0.073], [-0.297, 0.042],
        [-0.435, 0.053], [-0.584, 0.054], [0.297, 0.042], [0.424, -0.073], [0.573, -0.072],
        [0.687, -0.004], [0.584, 0.054], [0.435, 0.053], [-0.515, 0.854], [-0.32, 0.844],
        [-0.138, 0.842], [0.0, 0.877], [0.138, 0.842], [0.32, 0.844], [0.515, 0.854],
        [0.343, 1.096], [0.149, 1.21], [0.0, 1.222], [-0.149, 1.21], [-0.343, 1.096],
        [-0.457, 0.889], [-0.137, 0.923], [0.0, 0.946], [0.137, 0.923], [0.457, 0.889],
        [0.148, 1.084], [0.0, 1.106], [-0.148, 1.084],
    ],
    dtype=np.float64,
)  # fmt: skip

# Template frame: canonical x in [-1.5, 1.5], y in [-0.2, 2.05] inter-ocular units.
FRAME_X0, FRAME_Y0, FRAME_W_IO, FRAME_H_IO = -1.5, -0.2, 3.0, 2.25

# How far (fraction of face width) the outline sits outside the jaw, and loops/straps beyond it.
JAW_PUSH = 0.035
CHIN_PUSH = 0.06
EAR_PUSH = 0.07
OUTER_PUSH = 0.1


def _unit(v: NDArray[np.float64]) -> NDArray[np.float64]:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return np.asarray(v / np.maximum(n, 1e-9), dtype=np.float64)


def face_anchors(
    landmarks68: NDArray[Any],
    *,
    spread: tuple[float, float] = (1.0, 1.0),
    drop: float = 0.0,
    loose: float = 1.0,
) -> tuple[tuple[str, ...], NDArray[np.float64]]:
    """Named mask anchor points derived from 68 landmarks.

    ``spread`` scales how far the outline and ear loops reach beyond the jaw on the image-left and
    image-right side (1 = frontal default, 0 = hug the silhouette, as for the far side of a turned head).
    ``drop`` moves the top edge down the nose by that fraction of the nose's length (negative: up);
    ``loose`` scales how far the outline stands off the jaw and chin (a loose or a tight fit).
    """
    lm = np.asarray(landmarks68, dtype=np.float64)
    spread = (spread[0] * loose, spread[1] * loose)
    face_w = float(np.linalg.norm(lm[16] - lm[0]))
    centre = lm[30]
    nose_vec = lm[30] - lm[27]
    names: list[str] = []
    pts: list[NDArray[np.float64]] = []

    def add(name: str, p: NDArray[np.float64]) -> None:
        names.append(name)
        pts.append(p)

    for i in range(1, 16):
        if i == 8:
            push = CHIN_PUSH * (spread[0] + spread[1]) / 2
            name = "chin_bottom"
        else:
            push = JAW_PUSH * (spread[0] if i < 8 else spread[1])
            name = f"jaw_{i:02d}"
        add(name, lm[i] + push * face_w * _unit(lm[i] - centre))
    for side, top, low, s in (("left", 0, 2, spread[0]), ("right", 16, 14, spread[1])):
        add(f"ear_{side}", lm[top] + (JAW_PUSH + EAR_PUSH) * s * face_w * _unit(lm[top] - centre))
        add(f"ear_{side}_low", lm[low] + (JAW_PUSH + 0.7 * EAR_PUSH) * s * face_w * _unit(lm[low] - centre))
    # an outer ring below the jaw so that the mesh, and with it the warp, reaches past every outline
    # (a soft edge cut by the mesh's hull would show as a jagged, hard edge)
    for i in (3, 5, 8, 11, 13):
        reach = spread[0] if i < 8 else spread[1] if i > 8 else (spread[0] + spread[1]) / 2
        add(f"outer_{i:02d}", lm[i] + (JAW_PUSH * reach + OUTER_PUSH) * face_w * _unit(lm[i] - centre))
    add("under_eye_left", (lm[40] + lm[41]) / 2 + (0.38 + drop) * nose_vec)
    add("under_eye_right", (lm[46] + lm[47]) / 2 + (0.38 + drop) * nose_vec)
    add("nose_bridge_top", lm[27] + drop * nose_vec)
    add("mask_top", lm[28] + 0.3 * (lm[29] - lm[28]) + drop * nose_vec)
    for name, idx in (
        ("nose_tip", 30),
        ("nose_left", 31),
        ("nose_base", 33),
        ("nose_right", 35),
        ("mouth_left", 48),
        ("lip_top", 51),
        ("mouth_right", 54),
        ("lip_bottom", 57),
    ):
        add(name, lm[idx])
    return tuple(names), np.stack(pts)
