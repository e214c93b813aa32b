"""Procedural face-mask templates: surgical, N95 and cloth masks drawn with OpenCV.

A template is an RGBA image in a canonical *face frame*: a symmetric frontal 68-point face
(:data:`CANONICAL_68`, in inter-ocular units) scaled into template pixels. Its named anchors are
the same landmark-derived points that :func:`face_anchors` computes on a real face, so fitting
is a smooth (thin-plate spline) map from template anchors to face anchors.

"left"/"right" in names mean image-left/image-right. Every random choice comes from the
injected ``numpy.random.Generator``. This module holds the styles (palettes, patterns) and the
public rendering; :mod:`~masksmith.facemask.mask_shapes` the face frame and anchors,
:mod:`~masksmith.facemask.mask_drawing` the drawing of each mask type.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from masksmith.errors import OperationError
from masksmith.facemask.mask_drawing import (
    Canvas,
    cut_below_nose,
    draw_mask,
    fill,
    outline,
    pattern_colour,
    spline,
)
from masksmith.facemask.mask_shapes import CANONICAL_68, RGB, MaskType, face_anchors

__all__ = [
    "CANONICAL_68",
    "PALETTES",
    "PATTERNS",
    "MaskStyle",
    "MaskType",
    "Template",
    "draw_style",
    "face_anchors",
    "pattern_colour",
    "render_style",
    "render_template",
]


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
    c = Canvas(int(size))
    c.loops = loops
    c.rgb[:] = colour
    c.colors.append(colour)
    body = spline(outline(c, kind), closed=True)
    fill(c.alpha, body, 1.0)
    draw_mask(c, kind, body, colour, pattern, rng, second)
    shade = cv2.GaussianBlur(c.shade, (0, 0), max(0.5, 0.006 * c.ppu * 3))
    rgb = np.clip(c.rgb * (1.0 + shade[..., None]), 0, 255)
    if gray:
        rgb = np.repeat(rgb @ np.array([0.299, 0.587, 0.114], np.float32), 3).reshape(rgb.shape)
    if below_nose:
        cut_below_nose(c)
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
