"""Drawing one mask on the template canvas: outlines, pleats, domes, seams, valves, prints, ear loops.

Everything is drawn in template pixels of the canonical face frame (see :mod:`masksmith.facemask.mask_shapes`)
with OpenCV's sub-pixel anti-aliased primitives; every random choice comes from the injected generator.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from masksmith.facemask.mask_shapes import (
    CANONICAL_68,
    FRAME_H_IO,
    FRAME_W_IO,
    FRAME_X0,
    FRAME_Y0,
    RGB,
    MaskType,
    face_anchors,
)

__all__ = ["Canvas", "cut_below_nose", "draw_mask", "fill", "outline", "pattern_colour", "spline"]

_CONTRAST_COLOURS: tuple[RGB, ...] = (
    (240, 240, 236),
    (30, 30, 34),
    (220, 60, 60),
    (250, 200, 60),
    (90, 150, 220),
    (240, 160, 190),
    (80, 160, 90),
)


def spline(points: NDArray[np.float64], *, closed: bool, samples: int = 12) -> NDArray[np.float64]:
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


def fill(canvas: NDArray[Any], poly: NDArray[np.float64], value: Any) -> None:
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


class Canvas:
    """Template frame: anchors in pixels plus float RGB, alpha and a multiplicative shade layer."""

    def __init__(self, size: int) -> None:
        self.ppu = size / FRAME_W_IO
        self.w = size
        self.h = round(FRAME_H_IO * self.ppu)
        canon_px = (CANONICAL_68 - [FRAME_X0, FRAME_Y0]) * self.ppu
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


def outline(c: Canvas, mask_type: MaskType) -> NDArray[np.float64]:
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
    c: Canvas,
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
            curve = spline(np.stack([p0, mid, p1]), closed=False, samples=10)
            _stroke(c.rgb, curve, colour, width)
            _stroke(c.alpha, curve, 1.0, width)
            # thin shadow along the lower side of the strand, for some depth
            _stroke(c.shade, curve + np.array([0, width * 0.45]), -0.18, max(1.0, width * 0.35))


def _valve(c: Canvas, p: NDArray[np.float64], colour: RGB) -> None:
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


def _draw_surgical(c: Canvas, body: NDArray[np.float64], colour: RGB, rng: np.random.Generator) -> None:
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
        curve = spline(np.stack([_along(left, t), _along(centre, t * 0.85), _along(right, t)]), closed=False)
        fold = 0.035 * c.ppu
        _stroke(c.shade, curve + np.array([0, fold * 0.6]), -0.2, fold * 0.9)
        _stroke(c.shade, curve - np.array([0, fold * 0.5]), 0.1, fold * 0.7)
    # Binding along the edge and the stiff nose wire at the top.
    _stroke(c.shade, body, -0.07, 0.06 * c.ppu, closed=True)
    wire = spline(
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
    c: Canvas, body: NDArray[np.float64], colour: RGB, pattern: str, rng: np.random.Generator
) -> None:
    a = c.a
    # Moulded dome: brightest over the nose-mouth bulge, falling off towards the rim.
    centre = (a["nose_tip"] + a["lip_top"]) / 2
    yy, xx = np.mgrid[0 : c.h, 0 : c.w].astype(np.float32)
    r = np.hypot((xx - centre[0]) / (1.05 * c.ppu), (yy - centre[1]) / (1.0 * c.ppu))
    c.shade += (0.14 - 0.32 * np.clip(r, 0, 1.3) ** 2).astype(np.float32)
    _stroke(c.shade, body, -0.12, 0.07 * c.ppu, closed=True)
    _stroke(c.shade, body, 0.06, 0.02 * c.ppu, closed=True)
    seam = spline(np.stack([a["mask_top"], a["nose_tip"], a["lip_bottom"], a["chin_bottom"]]), closed=False)
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


def _draw_kn95(c: Canvas, body: NDArray[np.float64], colour: RGB, rng: np.random.Generator) -> None:
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
    seam = spline(np.stack([top, a["nose_tip"], a["lip_bottom"], a["chin_bottom"]]), closed=False)
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


def _pattern_layer(c: Canvas, second: RGB, pattern: str, rng: np.random.Generator) -> None:
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
    c: Canvas,
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
    seam = spline(
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


def cut_below_nose(c: Canvas) -> None:
    """Clear the mask above a line just under the nose that rises towards the ears (worn pulled down)."""
    a = c.a
    under = a["nose_base"][1] + 0.06 * c.ppu
    left, right = c.side("left", 2, 2)[0], c.side("right", 2, 2)[0]
    edge = spline(
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
    fill(c.alpha, above, 0.0)


def draw_mask(
    c: Canvas,
    kind: MaskType,
    body: NDArray[np.float64],
    colour: RGB,
    pattern: str,
    rng: np.random.Generator,
    second: RGB | None,
) -> None:
    """Draw the details of a ``kind`` mask (its body already filled) on ``c``."""
    if kind is MaskType.SURGICAL:
        _draw_surgical(c, body, colour, rng)
    elif kind is MaskType.N95:
        _draw_n95(c, body, colour, pattern, rng)
    elif kind is MaskType.KN95:
        _draw_kn95(c, body, colour, rng)
    else:
        _draw_cloth(c, body, colour, pattern, rng, second)
