"""Procedural face-mask templates: surgical, N95 and cloth masks drawn with OpenCV.

A template is an RGBA image in a canonical *face frame*: a symmetric frontal 68-point face
(:data:`CANONICAL_68`, in inter-ocular units) scaled into template pixels. Its named anchors are
the same landmark-derived points that :func:`face_anchors` computes on a real face, so fitting
is a smooth (thin-plate spline) map from template anchors to face anchors.

"left"/"right" in names mean image-left/image-right. Every random choice comes from the
injected ``numpy.random.Generator``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from masksmith.errors import OperationError

__all__ = [
    "CANONICAL_68",
    "PALETTES",
    "PATTERNS",
    "MaskStyle",
    "MaskType",
    "Template",
    "draw_style",
    "face_anchors",
    "render_style",
    "render_template",
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
_FRAME_X0, _FRAME_Y0, _FRAME_W_IO, _FRAME_H_IO = -1.5, -0.2, 3.0, 2.25

# How far (fraction of face width) the outline sits outside the jaw, and loops/straps beyond it.
JAW_PUSH = 0.035
CHIN_PUSH = 0.06
EAR_PUSH = 0.07
OUTER_PUSH = 0.1

PALETTES: dict[MaskType, dict[str, RGB]] = {
    MaskType.SURGICAL: {
        "light blue": (146, 196, 226),
        "sky blue": (108, 168, 214),
        "white": (236, 238, 240),
        "mint green": (156, 212, 186),
        "teal green": (96, 178, 160),
        "pink": (238, 178, 198),
        "lavender": (190, 176, 226),
        "black": (44, 44, 50),
    },
    MaskType.N95: {
        "white": (236, 236, 230),
        "off-white": (226, 220, 204),
        "light grey": (196, 198, 200),
        "charcoal": (70, 72, 76),
        "black": (36, 36, 40),
        "navy": (44, 56, 92),
        "sand": (206, 186, 150),
    },
    MaskType.KN95: {
        "white": (238, 238, 234),
        "black": (34, 34, 38),
        "light grey": (200, 202, 204),
        "light blue": (160, 196, 224),
        "pink": (236, 184, 198),
    },
    MaskType.CLOTH: {
        "navy": (32, 46, 92),
        "black": (28, 28, 32),
        "red": (186, 40, 46),
        "burgundy": (118, 28, 48),
        "olive": (108, 114, 62),
        "grey": (132, 132, 138),
        "denim": (72, 102, 142),
        "teal": (34, 120, 124),
        "mustard": (208, 160, 44),
        "beige": (214, 194, 160),
        "rose": (226, 148, 168),
        "white": (234, 234, 232),
    },
}

PATTERNS: dict[MaskType, tuple[str, ...]] = {
    MaskType.SURGICAL: ("plain",),
    MaskType.N95: ("plain", "valve"),
    MaskType.CLOTH: ("plain", "dots", "stripes", "checks", "floral"),
    MaskType.KN95: ("plain",),
}

_CONTRAST_COLOURS: tuple[RGB, ...] = (
    (240, 240, 236),
    (30, 30, 34),
    (220, 60, 60),
    (250, 200, 60),
    (90, 150, 220),
    (240, 160, 190),
    (80, 160, 90),
)


@dataclass(frozen=True)
class MaskStyle:
    """One drawn mask style: type, a palette colour (name for logs, RGB), a pattern and its second colour.

    ``gray`` draws the whole mask in gray levels (for grayscale photos); ``rgb`` and ``rgb2`` are then
    already the gray levels that are drawn.
    """

    type: MaskType
    color_name: str
    rgb: RGB
    pattern: str
    rgb2: RGB | None = None
    gray: bool = False

    @property
    def hex(self) -> str:
        """Colour as ``#rrggbb`` (lower case)."""
        return "#{:02x}{:02x}{:02x}".format(*self.rgb)


@dataclass(frozen=True)
class Template:
    """A rendered mask in the canonical face frame.

    ``rgba`` is straight (not premultiplied) H×W×4 uint8; ``anchors`` (N, 2) float32 template
    pixels named by ``names``, the points a thin-plate spline carries onto the face.
    """

    rgba: NDArray[np.uint8]
    anchors: NDArray[np.float32]
    names: tuple[str, ...]
    mask_type: MaskType = MaskType.SURGICAL
    colors: tuple[str, ...] = ()

    @cached_property
    def premultiplied(self) -> NDArray[np.float32]:
        """H×W×4 float32: colour premultiplied by alpha (0..255) and alpha (0..1); computed once."""
        rgba = self.rgba.astype(np.float32)
        alpha = rgba[..., 3:] * (1.0 / 255.0)
        return np.concatenate([rgba[..., :3] * alpha, alpha], axis=2)

    def anchor(self, name: str) -> NDArray[np.float32]:
        """The (x, y) template position of one named anchor."""
        return np.asarray(self.anchors[self.names.index(name)], dtype=np.float32)


# --------------------------------------------------------------------------------------------
# Anchors: the same rule on the canonical face (template frame) and on a real face (fit).


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


# --------------------------------------------------------------------------------------------
# Drawing helpers


def _spline(points: NDArray[np.float64], *, closed: bool, samples: int = 12) -> NDArray[np.float64]:
    """Catmull-Rom curve through ``points``."""
    p = np.asarray(points, dtype=np.float64)
    if closed:
        ext = np.vstack([p[-1:], p, p[:2]])
        segs = len(p)
    else:
        ext = np.vstack([2 * p[:1] - p[1:2], p, 2 * p[-1:] - p[-2:-1]])
        segs = len(p) - 1
    t = np.linspace(0, 1, samples, endpoint=False)[:, None]
    out = []
    for i in range(segs):
        p0, p1, p2, p3 = ext[i], ext[i + 1], ext[i + 2], ext[i + 3]
        out.append(
            0.5
            * (
                2 * p1
                + (-p0 + p2) * t
                + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2
                + (-p0 + 3 * p1 - 3 * p2 + p3) * t**3
            )
        )
    if not closed:
        out.append(p[-1:])
    return np.vstack(out)


_SHIFT = 4
_ONE = 1 << _SHIFT


def _fixed(poly: NDArray[np.float64]) -> NDArray[np.int32]:
    return np.round(poly * _ONE).astype(np.int32).reshape(-1, 1, 2)


def _fill(canvas: NDArray[Any], poly: NDArray[np.float64], value: Any) -> None:
    cv2.fillPoly(canvas, [_fixed(poly)], value, lineType=cv2.LINE_AA, shift=_SHIFT)


def _stroke(
    canvas: NDArray[Any], poly: NDArray[np.float64], value: Any, thickness: float, closed: bool = False
) -> None:
    cv2.polylines(canvas, [_fixed(poly)], closed, value, max(1, round(thickness)), cv2.LINE_AA, _SHIFT)


def _lerp(a: NDArray[np.float64], b: NDArray[np.float64], t: float) -> NDArray[np.float64]:
    return a + (b - a) * t


def _along(path: NDArray[np.float64], t: float) -> NDArray[np.float64]:
    """Point at fraction ``t`` of a polyline's length."""
    seg = np.linalg.norm(np.diff(path, axis=0), axis=1)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    d = t * cum[-1]
    i = int(np.clip(np.searchsorted(cum, d, side="right") - 1, 0, len(seg) - 1))
    f = (d - cum[i]) / max(seg[i], 1e-9)
    return _lerp(path[i], path[i + 1], f)


def _parse_color(color: Any) -> RGB:
    if isinstance(color, str):
        s = color.lstrip("#")
        if len(s) != 6:
            raise OperationError(
                f"colour must be '#rrggbb' or an (r, g, b) tuple, got {color!r}", argument="color"
            )
        return int(s[0:2], 16), int(s[2:4], 16), int(s[4:6], 16)
    c = tuple(int(v) for v in color)
    if len(c) != 3 or not all(0 <= v <= 255 for v in c):
        raise OperationError(f"colour must be three values 0..255, got {color!r}", argument="color")
    return c[0], c[1], c[2]


class _Canvas:
    """Template frame: anchors in pixels plus float RGB, alpha and a multiplicative shade layer."""

    def __init__(self, size: int) -> None:
        self.ppu = size / _FRAME_W_IO
        self.w = size
        self.h = round(_FRAME_H_IO * self.ppu)
        canon_px = (CANONICAL_68 - [_FRAME_X0, _FRAME_Y0]) * self.ppu
        names, pts = face_anchors(canon_px)
        self.names = names
        self.pts = pts
        self.a = {n: pts[i] for i, n in enumerate(names)}
        self.rgb = np.zeros((self.h, self.w, 3), np.float32)
        self.alpha = np.zeros((self.h, self.w), np.float32)
        self.shade = np.zeros((self.h, self.w), np.float32)
        self.loops = True
        self.colors: list[tuple[float, float, float] | RGB] = []

    def side(self, side: str, start: int, stop: int) -> NDArray[np.float64]:
        """Jaw anchors ``start``..``stop`` (inclusive, either direction) counted from the top of one side.

        Left side: jaw 1..7; right side mirrors the count (1 → jaw 15, 7 → jaw 9).
        """
        step = 1 if stop >= start else -1
        idx = [i if side == "left" else 16 - i for i in range(start, stop + step, step)]
        return np.stack([self.a[f"jaw_{i:02d}"] for i in idx])


def _outline(c: _Canvas, mask_type: MaskType) -> NDArray[np.float64]:
    """Closed outline of the mask body in template pixels."""
    a = c.a
    top_lift = 0.04 * c.ppu
    if mask_type is MaskType.N95:
        up = np.array([0.0, 0.05 * c.ppu])
        left = c.side("left", 2, 7)
        right = c.side("right", 7, 2)
        top = [a["under_eye_right"] + up, a["mask_top"] - np.array([0, top_lift]), a["under_eye_left"] + up]
        return np.vstack([left, [a["chin_bottom"]], right, top])
    if mask_type is MaskType.KN95:
        left = c.side("left", 1, 6)
        right = c.side("right", 6, 1)
        chin = a["chin_bottom"] + np.array([0.0, 0.02 * c.ppu])
        top = [a["under_eye_right"], a["mask_top"] - np.array([0, 2.2 * top_lift]), a["under_eye_left"]]
        return np.vstack([left, [chin], right, top])
    if mask_type is MaskType.SURGICAL:
        # pleated masks hang in a rounded U under the chin, not along the jaw's V
        left = c.side("left", 1, 4)
        right = c.side("right", 4, 1)
        chin = a["chin_bottom"]
        bottom = [chin + np.array([-0.55, -0.14]) * c.ppu, chin, chin + np.array([0.55, -0.14]) * c.ppu]
        top = [a["under_eye_right"], a["mask_top"] - np.array([0, 0.5 * top_lift]), a["under_eye_left"]]
        return np.vstack([left, bottom, right, top])
    left = c.side("left", 1, 7)
    right = c.side("right", 7, 1)
    if mask_type is MaskType.CLOTH:
        top = [a["under_eye_right"], a["mask_top"] - np.array([0, 1.5 * top_lift]), a["under_eye_left"]]
    else:
        top = [a["under_eye_right"], a["mask_top"] - np.array([0, 0.5 * top_lift]), a["under_eye_left"]]
    return np.vstack([left, [a["chin_bottom"]], right, top])


def _tint(rgb: RGB, factor: float) -> tuple[float, float, float]:
    """Darken (<1) or lighten (>1, towards white) a colour."""
    c = np.asarray(rgb, np.float64)
    out = c * factor if factor <= 1 else c + (255 - c) * (factor - 1)
    r, g, b = np.clip(out, 0, 255)
    return float(r), float(g), float(b)


def _loops(
    c: _Canvas,
    colour: tuple[float, float, float],
    width: float,
    *,
    starts: tuple[int, int],
    spread: float = 0.0,
) -> None:
    """Ear loops / straps from the mask's sides to the ear anchors, on both sides.

    ``spread`` (inter-ocular units) sends the upper strand up and the lower one down as they leave
    the face, as N95 head straps do. Strands are at least 2.2 template pixels wide so that they stay
    continuous lines, not dots, once the template is shrunk onto a small face.
    """
    if not c.loops:
        return
    width = max(2.2, width)
    c.colors.append(colour)
    for side in ("left", "right"):
        hi = c.side(side, starts[0], starts[0])[0]
        lo = c.side(side, starts[1], starts[1])[0]
        ear, ear_low = c.a[f"ear_{side}"], c.a[f"ear_{side}_low"]
        lift = np.array([0.0, spread * c.ppu])
        ends = ((hi, ear - lift, -1.0), (lo, ear_low + lift, 1.0))
        for p0, p1, bend in ends:
            mid = _lerp(p0, p1, 0.55) + np.array([0.0, (bend * 0.4 * spread - 0.03) * c.ppu])
            curve = _spline(np.stack([p0, mid, p1]), closed=False, samples=10)
            _stroke(c.rgb, curve, colour, width)
            _stroke(c.alpha, curve, 1.0, width)
            # thin shadow along the lower side of the strand, for some depth
            _stroke(c.shade, curve + np.array([0, width * 0.45]), -0.18, max(1.0, width * 0.35))


def _valve(c: _Canvas, p: NDArray[np.float64], colour: RGB) -> None:
    """An exhalation valve standing off the cup: cast shadow, a domed cap lit from above, slots."""
    rad = 0.2 * c.ppu
    valve = _tint(colour, 0.72) if sum(colour) > 300 else _tint(colour, 1.6)
    c.colors.append(valve)
    off = np.array([0.03, 0.05]) * c.ppu
    yy, xx = np.mgrid[0 : c.h, 0 : c.w].astype(np.float32)
    # shadow the cap throws onto the cup (down and to the side)
    ds = np.hypot(xx - (p[0] + off[0]), yy - (p[1] + off[1])) / (rad * 1.15)
    c.shade -= (0.35 * np.clip(1.0 - ds, 0, 1) ** 0.5).astype(np.float32)
    cv2.circle(
        c.rgb, (round(p[0] * _ONE), round(p[1] * _ONE)), round(rad * _ONE), valve, -1, cv2.LINE_AA, _SHIFT
    )
    # dome: lit from the upper side, darker towards the lower rim
    d = np.hypot(xx - p[0], yy - p[1]) / rad
    inside = d <= 1.0
    light = (0.22 * (-(yy - p[1]) / rad) - 0.25 * d**2 + 0.1).astype(np.float32)
    c.shade = np.where(inside, c.shade * 0 + light, c.shade).astype(np.float32)
    centre_i = (round(p[0] * _ONE), round(p[1] * _ONE))
    cv2.circle(c.shade, centre_i, round(rad * _ONE), -0.3, max(1, round(0.025 * c.ppu)), cv2.LINE_AA, _SHIFT)
    cv2.circle(
        c.shade, centre_i, round(0.6 * rad * _ONE), -0.14, max(1, round(0.02 * c.ppu)), cv2.LINE_AA, _SHIFT
    )
    for k in range(5):
        y = p[1] - 0.35 * rad + k * 0.18 * rad
        half = 0.45 * rad * np.sqrt(max(0.0, 1 - ((y - p[1]) / (0.6 * rad)) ** 2))
        _stroke(c.shade, np.array([[p[0] - half, y], [p[0] + half, y]]), -0.22, max(1.0, 0.014 * c.ppu))


def _draw_surgical(c: _Canvas, body: NDArray[np.float64], colour: RGB, rng: np.random.Generator) -> None:
    a = c.a
    left = np.vstack([a["under_eye_left"], c.side("left", 1, 5)])
    right = np.vstack([a["under_eye_right"], c.side("right", 1, 5)])
    centre = np.stack([a["mask_top"], a["nose_tip"], a["lip_bottom"], a["chin_bottom"]])
    n_pleats = 3
    jitter = rng.uniform(-0.02, 0.02, size=n_pleats)
    noise = rng.normal(0.0, 0.02, size=(c.h, c.w)).astype(np.float32)
    c.shade += cv2.GaussianBlur(noise, (0, 0), 0.8)
    for k in range(n_pleats):
        t = 0.3 + 0.2 * k + jitter[k]
        curve = _spline(np.stack([_along(left, t), _along(centre, t * 0.85), _along(right, t)]), closed=False)
        fold = 0.035 * c.ppu
        _stroke(c.shade, curve + np.array([0, fold * 0.6]), -0.2, fold * 0.9)
        _stroke(c.shade, curve - np.array([0, fold * 0.5]), 0.1, fold * 0.7)
    # Binding along the edge and the stiff nose wire at the top.
    _stroke(c.shade, body, -0.07, 0.06 * c.ppu, closed=True)
    wire = _spline(
        np.stack(
            [
                _lerp(a["under_eye_left"], a["mask_top"], 0.35),
                a["mask_top"],
                _lerp(a["under_eye_right"], a["mask_top"], 0.35),
            ]
        ),
        closed=False,
    )
    # the wire: a raised, lit ridge with a crease under it
    _stroke(c.shade, wire + np.array([0, 0.035 * c.ppu]), 0.16, 0.03 * c.ppu)
    _stroke(c.shade, wire + np.array([0, 0.065 * c.ppu]), -0.14, 0.018 * c.ppu)
    loop_colour = _tint(colour, 1.35) if sum(colour) < 600 else _tint(colour, 0.92)
    c.colors.append(_tint(colour, 1.08))  # nose wire highlight
    _loops(c, loop_colour, 0.035 * c.ppu, starts=(1, 5))


def _draw_n95(
    c: _Canvas, body: NDArray[np.float64], colour: RGB, pattern: str, rng: np.random.Generator
) -> None:
    a = c.a
    # Moulded dome: brightest over the nose-mouth bulge, falling off towards the rim.
    centre = (a["nose_tip"] + a["lip_top"]) / 2
    yy, xx = np.mgrid[0 : c.h, 0 : c.w].astype(np.float32)
    r = np.hypot((xx - centre[0]) / (1.05 * c.ppu), (yy - centre[1]) / (1.0 * c.ppu))
    c.shade += (0.14 - 0.32 * np.clip(r, 0, 1.3) ** 2).astype(np.float32)
    _stroke(c.shade, body, -0.12, 0.07 * c.ppu, closed=True)
    _stroke(c.shade, body, 0.06, 0.02 * c.ppu, closed=True)
    seam = _spline(np.stack([a["mask_top"], a["nose_tip"], a["lip_bottom"], a["chin_bottom"]]), closed=False)
    _stroke(c.shade, seam + np.array([0.012 * c.ppu, 0]), -0.12, 0.018 * c.ppu)
    # Non-woven filter material: faint speckle.
    noise = rng.normal(0.0, 0.03, size=(c.h, c.w)).astype(np.float32)
    c.shade += cv2.GaussianBlur(noise, (0, 0), 0.8)
    if pattern == "valve":
        side = "left" if rng.random() < 0.5 else "right"
        p = _lerp(a[f"mouth_{side}"], c.side(side, 4, 4)[0], rng.uniform(0.4, 0.6)) + np.array(
            [0, -0.05 * c.ppu]
        )
        _valve(c, p, colour)
    strap = _tint(colour, 0.85) if sum(colour) > 300 else _tint(colour, 1.3)
    _loops(c, strap, 0.045 * c.ppu, starts=(2, 6), spread=0.22)


def _draw_kn95(c: _Canvas, body: NDArray[np.float64], colour: RGB, rng: np.random.Generator) -> None:
    """Flat-fold KN95: two panels meeting in a bonded vertical seam, a welded rim, light from one side."""
    a = c.a
    yy, xx = np.mgrid[0 : c.h, 0 : c.w].astype(np.float32)
    mid_x = float(a["nose_tip"][0])
    # each panel is a plane turned towards its side: one lit, one darker, blending across the seam
    side = np.tanh((xx - mid_x) / (0.06 * c.ppu))
    c.shade += (0.07 * side - 0.05).astype(np.float32)
    centre = (a["nose_tip"] + a["lip_bottom"]) / 2
    r = np.hypot((xx - centre[0]) / (1.1 * c.ppu), (yy - centre[1]) / (1.0 * c.ppu))
    c.shade += (0.06 - 0.18 * np.clip(r, 0, 1.3) ** 2).astype(np.float32)
    top = a["mask_top"] - np.array([0.0, 0.09 * c.ppu])
    seam = _spline(np.stack([top, a["nose_tip"], a["lip_bottom"], a["chin_bottom"]]), closed=False)
    _stroke(c.shade, seam, -0.25, 0.02 * c.ppu)
    _stroke(c.shade, seam + np.array([0.018 * c.ppu, 0.0]), 0.1, 0.012 * c.ppu)
    # welded rim a little inside the edge, embossed as a row of dots
    _stroke(c.shade, body, -0.12, 0.05 * c.ppu, closed=True)
    inner = np.vstack([body + (centre - body) * 0.07, body[:1] + (centre - body[:1]) * 0.07])
    cum = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(inner, axis=0), axis=1))])
    at = np.arange(0.0, cum[-1], max(2.0, 0.045 * c.ppu))
    dots = np.stack([np.interp(at, cum, inner[:, 0]), np.interp(at, cum, inner[:, 1])], axis=1)
    radius = max(1, round(0.012 * c.ppu * _ONE))
    for q in np.round(dots * _ONE).astype(int):
        cv2.circle(c.shade, (int(q[0]), int(q[1])), radius, -0.2, -1, cv2.LINE_AA, _SHIFT)
    noise = rng.normal(0.0, 0.025, size=(c.h, c.w)).astype(np.float32)
    c.shade += cv2.GaussianBlur(noise, (0, 0), 0.8)
    loop = _tint(colour, 0.9) if sum(colour) > 300 else _tint(colour, 1.3)
    _loops(c, loop, 0.03 * c.ppu, starts=(1, 5))


def pattern_colour(base: RGB, rng: np.random.Generator) -> RGB:
    """A print colour that stands out from ``base``, drawn from ``rng``."""
    choices = [col for col in _CONTRAST_COLOURS if np.abs(np.subtract(col, base)).sum() > 160]
    return choices[int(rng.integers(len(choices)))]


def _pattern_layer(c: _Canvas, second: RGB, pattern: str, rng: np.random.Generator) -> None:
    """Fill ``c.rgb`` with a printed fabric pattern over the whole frame."""
    rgb = c.rgb
    ppu = c.ppu
    if pattern == "dots":
        step = ppu * rng.uniform(0.16, 0.26)
        rad = step * rng.uniform(0.16, 0.28)
        for row, y in enumerate(np.arange(step / 2, c.h + step, step * 0.87)):
            off = step / 2 if row % 2 else 0.0
            for x in np.arange(off, c.w + step, step):
                cv2.circle(
                    rgb,
                    (round(x * _ONE), round(y * _ONE)),
                    round(rad * _ONE),
                    second,
                    -1,
                    cv2.LINE_AA,
                    _SHIFT,
                )
    elif pattern in ("stripes", "checks"):
        yy, xx = np.mgrid[0 : c.h, 0 : c.w].astype(np.float32)
        period = ppu * rng.uniform(0.12, 0.22)
        angle = rng.choice([0.0, np.pi / 4, -np.pi / 4, np.pi / 2]) if pattern == "stripes" else 0.0
        u = xx * np.cos(angle) + yy * np.sin(angle)

        def band(coord: NDArray[np.float32]) -> NDArray[np.float32]:
            # anti-aliased square wave: distance to the stripe edge, clipped to one pixel
            phase = np.abs(((coord / period) % 1.0) - 0.5) * period
            return np.asarray(np.clip(phase - period * 0.25 + 0.5, 0, 1), dtype=np.float32)

        if pattern == "stripes":
            m = band(u)
        else:
            v = -xx * np.sin(angle) + yy * np.cos(angle)
            m = np.clip(0.5 * band(u) + 0.5 * band(v), 0, 1)
        rgb += (np.asarray(second, np.float32) - rgb) * m[..., None]
    elif pattern == "floral":
        step = ppu * rng.uniform(0.3, 0.42)
        centre_col = (250, 215, 80) if second != (250, 200, 60) else (240, 240, 236)
        leaf = _tint((80, 160, 90), 0.8)
        c.colors.extend([leaf, centre_col])
        for y in np.arange(0, c.h + step, step * 0.8):
            for x in np.arange(0, c.w + step, step):
                cx, cy = x + rng.uniform(-0.3, 0.3) * step, y + rng.uniform(-0.3, 0.3) * step
                petal_r = step * rng.uniform(0.13, 0.2)
                rot = rng.uniform(0, 2 * np.pi)
                lx, ly = cx + petal_r * 2.1 * np.cos(rot + 2.5), cy + petal_r * 2.1 * np.sin(rot + 2.5)
                cv2.ellipse(
                    rgb,
                    ((float(lx), float(ly)), (petal_r * 1.6, petal_r * 0.8), float(np.degrees(rot))),
                    leaf,
                    -1,
                    cv2.LINE_AA,
                )
                for k in range(5):
                    ang = rot + 2 * np.pi * k / 5
                    px, py = cx + petal_r * np.cos(ang), cy + petal_r * np.sin(ang)
                    cv2.ellipse(
                        rgb,
                        ((float(px), float(py)), (petal_r * 1.5, petal_r * 1.0), float(np.degrees(ang))),
                        second,
                        -1,
                        cv2.LINE_AA,
                    )
                cv2.circle(
                    rgb,
                    (round(cx * _ONE), round(cy * _ONE)),
                    round(petal_r * 0.5 * _ONE),
                    centre_col,
                    -1,
                    cv2.LINE_AA,
                    _SHIFT,
                )


def _draw_cloth(
    c: _Canvas,
    body: NDArray[np.float64],
    colour: RGB,
    pattern: str,
    rng: np.random.Generator,
    second: RGB | None,
) -> None:
    a = c.a
    if pattern != "plain":
        second = second if second is not None else pattern_colour(colour, rng)
        c.colors.append(second)
        _pattern_layer(c, second, pattern, rng)
    seam = _spline(
        np.stack(
            [a["mask_top"] - np.array([0, 0.06 * c.ppu]), a["nose_tip"], a["lip_bottom"], a["chin_bottom"]]
        ),
        closed=False,
    )
    _stroke(c.shade, seam + np.array([0.015 * c.ppu, 0]), -0.22, 0.02 * c.ppu)
    _stroke(c.shade, seam - np.array([0.015 * c.ppu, 0]), 0.08, 0.015 * c.ppu)
    # Gentle bulge over the nose and chin, a darker hem.
    centre = (a["nose_tip"] + a["lip_bottom"]) / 2
    yy, xx = np.mgrid[0 : c.h, 0 : c.w].astype(np.float32)
    r = np.hypot((xx - centre[0]) / (1.1 * c.ppu), (yy - centre[1]) / (0.95 * c.ppu))
    c.shade += (0.08 - 0.2 * np.clip(r, 0, 1.3) ** 2).astype(np.float32)
    _stroke(c.shade, body, -0.14, 0.05 * c.ppu, closed=True)
    # Weave: fine noise, slightly blurred.
    noise = rng.normal(0.0, 0.05, size=(c.h, c.w)).astype(np.float32)
    c.shade += cv2.GaussianBlur(noise, (0, 0), 0.6)
    _loops(c, _tint(colour, 0.8), 0.04 * c.ppu, starts=(1, 5))


def render_template(
    mask_type: MaskType | str,
    *,
    color: RGB | str,
    pattern: str = "plain",
    rng: np.random.Generator,
    size: int = 384,
    loops: bool = True,
    color2: RGB | str | None = None,
    gray: bool = False,
    below_nose: bool = False,
) -> Template:
    """Draw one mask as an RGBA template ``size`` pixels wide (height ≈ 0.75·size).

    ``loops=False`` leaves out the ear loops / straps, keeping every drawn pixel on the face.
    ``color2`` is a printed pattern's second colour (drawn from ``rng`` when None); ``gray`` renders
    the finished mask in gray levels. ``below_nose`` cuts the top edge under the nose (a mask worn
    pulled down). ``Template.colors`` lists every colour drawn, as ``#rrggbb``.
    """
    try:
        kind = MaskType(str(mask_type).lower())
    except ValueError:
        valid = ", ".join(m.value for m in MaskType)
        raise OperationError(
            f"unknown mask type {mask_type!r}; valid: {valid}", argument="mask_type"
        ) from None
    if pattern not in PATTERNS[kind]:
        raise OperationError(
            f"pattern {pattern!r} does not exist for {kind.value} masks; valid: {', '.join(PATTERNS[kind])}",
            argument="pattern",
        )
    if not 64 <= int(size) <= 4096:
        raise OperationError(f"template size must be 64..4096 pixels, got {size}", argument="size")
    colour = _parse_color(color)
    second = _parse_color(color2) if color2 is not None else None
    c = _Canvas(int(size))
    c.loops = loops
    c.rgb[:] = colour
    c.colors.append(colour)
    body = _spline(_outline(c, kind), closed=True)
    _fill(c.alpha, body, 1.0)
    if kind is MaskType.SURGICAL:
        _draw_surgical(c, body, colour, rng)
    elif kind is MaskType.N95:
        _draw_n95(c, body, colour, pattern, rng)
    elif kind is MaskType.KN95:
        _draw_kn95(c, body, colour, rng)
    else:
        _draw_cloth(c, body, colour, pattern, rng, second)
    shade = cv2.GaussianBlur(c.shade, (0, 0), max(0.5, 0.006 * c.ppu * 3))
    rgb = np.clip(c.rgb * (1.0 + shade[..., None]), 0, 255)
    if gray:
        rgb = np.repeat(rgb @ np.array([0.299, 0.587, 0.114], np.float32), 3).reshape(rgb.shape)
    if below_nose:
        _cut_below_nose(c)
    alpha = cv2.GaussianBlur(np.clip(c.alpha, 0, 1), (0, 0), max(0.6, c.w / 450))
    rgba = np.dstack([rgb, alpha * 255.0])
    rgba = np.rint(rgba).astype(np.uint8)
    return Template(
        rgba=rgba,
        anchors=c.pts.astype(np.float32),
        names=c.names,
        mask_type=kind,
        colors=tuple(dict.fromkeys(_hex(col, gray=gray) for col in c.colors)),
    )


def _cut_below_nose(c: _Canvas) -> None:
    """Clear the mask above a line just under the nose that rises towards the ears (worn pulled down)."""
    a = c.a
    under = a["nose_base"][1] + 0.06 * c.ppu
    left, right = c.side("left", 2, 2)[0], c.side("right", 2, 2)[0]
    edge = _spline(
        np.stack(
            [
                left - np.array([0.3 * c.ppu, 0.0]),
                [a["nose_left"][0] - 0.15 * c.ppu, under + 0.02 * c.ppu],
                [a["nose_base"][0], under],
                [a["nose_right"][0] + 0.15 * c.ppu, under + 0.02 * c.ppu],
                right + np.array([0.3 * c.ppu, 0.0]),
            ]
        ),
        closed=False,
    )
    above = np.vstack([edge, [[c.w + 10.0, -10.0], [-10.0, -10.0]]])
    _fill(c.alpha, above, 0.0)


def _hex(colour: Any, *, gray: bool = False) -> str:
    r, g, b = (float(v) for v in colour)
    if gray:
        r = g = b = 0.299 * r + 0.587 * g + 0.114 * b
    return "#{:02x}{:02x}{:02x}".format(*(int(np.clip(round(v), 0, 255)) for v in (r, g, b)))


def to_gray(rgb: RGB) -> RGB:
    """The gray level a colour is drawn as on a grayscale photo (ITU-R 601 luma), as RGB."""
    y = int(np.clip(round(0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]), 0, 255))
    return y, y, y


def draw_style(
    rng: np.random.Generator,
    mask_types: tuple[MaskType | str, ...] | list[MaskType | str] = tuple(MaskType),
    *,
    gray: bool = False,
) -> MaskStyle:
    """Draw a mask type, palette colour, pattern and (for prints) the pattern's colour from ``rng``.

    ``gray`` (a grayscale photo) turns the drawn colours into their gray levels.
    """
    if not mask_types:
        raise OperationError("no mask types to choose from", argument="mask_types")
    kinds = [MaskType(str(m).lower()) for m in mask_types]
    kind = kinds[int(rng.integers(len(kinds)))]
    palette = PALETTES[kind]
    names = list(palette)
    name = names[int(rng.integers(len(names)))]
    patterns = PATTERNS[kind]
    pattern = patterns[int(rng.integers(len(patterns)))]
    rgb = palette[name]
    second = pattern_colour(rgb, rng) if pattern in _PRINTS else None
    if gray:
        rgb = to_gray(rgb)
        second = to_gray(second) if second is not None else None
    return MaskStyle(type=kind, color_name=name, rgb=rgb, pattern=pattern, rgb2=second, gray=gray)


_PRINTS = frozenset({"dots", "stripes", "checks", "floral"})


def render_style(
    style: MaskStyle,
    *,
    rng: np.random.Generator,
    size: int = 384,
    loops: bool = True,
    below_nose: bool = False,
) -> Template:
    """Render the template for a drawn :class:`MaskStyle`."""
    return render_template(
        style.type,
        color=style.rgb,
        pattern=style.pattern,
        rng=rng,
        size=size,
        loops=loops,
        color2=style.rgb2,
        gray=style.gray,
        below_nose=below_nose,
    )
