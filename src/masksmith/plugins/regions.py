"""Region selection: SelectRegion, SmartMaskSelector, SelectRegionWithMask, PreSegmentedSelectionRegion.

Each selects one region of the source. With ``alpha`` = yes the target is the source as RGBA with alpha 0
outside the region (a donor for PasteSplice); with ``alpha`` = no the target is the 0/255 selection mask.
Either way the selection is returned as ``PluginResult.mask`` with ``paste_x`` / ``paste_y``: a random
top-left position where the region's bounding box fits in the image (for clone-style pastes).
"""

from __future__ import annotations

import ast
import csv
import re
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from masksmith.errors import MediaError, PluginError
from masksmith.media import io as media_io
from masksmith.media import masks
from masksmith.plugins import segment
from masksmith.plugins.base import Argument, Plugin, PluginContext, PluginResult
from masksmith.plugins.common import (
    BoolMask,
    Image,
    is_yes,
    largest_component,
    paste_position,
    selection_mask,
    with_alpha,
    write_target,
)

_ALPHA_YES = Argument("alpha", "yesno", "yes", "yes: RGBA target with alpha 0 outside; no: a 0/255 mask.")
_ALPHA_NO = Argument("alpha", "yesno", "no", "yes: RGBA target with alpha 0 outside; no: a 0/255 mask.")


def _finish(
    context: PluginContext, source: Image, region: BoolMask, alpha: bool, extra: dict[str, Any] | None = None
) -> PluginResult:
    """Write the RGBA or mask target and return the selection with a paste position."""
    box = masks.bbox(region)
    if box is None:
        raise PluginError("selected nothing", file=context.source)
    out = with_alpha(source, region) if alpha else masks.to_input_mask(region)
    write_target(context, out, format="PNG")
    x, y = paste_position(context.rng, (source.shape[0], source.shape[1]), box)
    variables: dict[str, Any] = {"paste_x": x, "paste_y": y, "location change": "no", **(extra or {})}
    return PluginResult(variables=variables, target_pixels=out, mask=region)


def _random_box(
    rng: np.random.Generator,
    shape: tuple[int, int],
    width: int,
    height: int,
    area: tuple[int, int, int, int] | None = None,
) -> BoolMask:
    """A ``width`` × ``height`` box at a random place inside ``area`` (x, y, w, h; default the image)."""
    rows, cols = shape
    ax, ay, aw, ah = area or (0, 0, cols, rows)
    width, height = max(1, min(width, aw)), max(1, min(height, ah))
    x = ax + int(rng.integers(0, aw - width + 1))
    y = ay + int(rng.integers(0, ah - height + 1))
    out = np.zeros(shape, bool)
    out[y : y + height, x : x + width] = True
    return out


def region_candidates(
    labels: Any, *, max_fraction: float, min_pixels: int = 3, keep: int = 15
) -> list[BoolMask]:
    """The ``keep`` largest connected segments (holes filled) of at most ``max_fraction`` of the image.

    Each connected piece of a segment counts on its own, as the original took each segment's contours.
    """
    from skimage import measure

    label: Any = measure.label  # untyped library
    pieces = label(labels + 1, connectivity=1, background=0)
    areas = np.bincount(pieces.ravel())
    limit = max_fraction * labels.size
    order = [int(i) for i in np.argsort(-areas, kind="stable") if i > 0 and min_pixels <= areas[i] <= limit]
    out: list[BoolMask] = []
    for index in order:
        region = segment.solid_region(np.asarray(pieces == index))
        if int(region.sum()) <= limit:  # a ring enclosing much of the image fills beyond the limit
            out.append(region)
            if len(out) == keep:
                break
    return out


class SelectRegion(Plugin):
    name = "SelectRegion"
    operation = "SelectRegion"
    description = (
        "Felzenszwalb segmentation (on a reduced copy); one region chosen at random among the 15 largest "
        "connected segments covering at most 'max_area' (1 %) of the image each; a random 48–64 px box when "
        "none qualifies. The selection never covers the whole image."
    )
    suffix = ".png"
    arguments = (
        _ALPHA_YES,
        Argument("max_area", "float[0:1]", 0.01, "Largest region, as a fraction of the image area."),
        Argument("scale", "float[1:10000]", 100.0, "Felzenszwalb scale: larger gives larger segments."),
    )

    def transform(self, context: PluginContext) -> PluginResult:
        args = self.resolve_arguments(context.arguments)
        source = context.pixels()
        shape = (source.shape[0], source.shape[1])
        small, _ = segment.reduce(source, 400)
        labels = segment.felzenszwalb(small, scale=float(args["scale"]), sigma=0.5)
        candidates = region_candidates(labels, max_fraction=float(args["max_area"]))
        region = np.zeros(shape, bool)
        if candidates:
            chosen = candidates[int(context.rng.integers(len(candidates)))]
            region = segment.solid_region(segment.upscale(chosen, shape))
        if not region.any() or region.all():
            size = int(context.rng.integers(48, 65))
            region = _random_box(context.rng, shape, size, size)
        return _finish(context, source, region, is_yes(args["alpha"]))


class SmartMaskSelector(Plugin):
    name = "SmartMaskSelector"
    operation = "SelectRegion"
    description = (
        "A random box ('op' = box) or the SLIC superpixel closest to a size class ('op' = slic): 'size' 1, 2 "
        "or 3 picks small, medium or large (smallw×smallh …); 'region size' keeps it to the central part."
    )
    suffix = ".png"
    arguments = (
        Argument("op", "list", "box", "box or slic.", values=("box", "slic")),
        Argument("size", "int[1:3]", 1, "Size class: 1 small, 2 medium, 3 large."),
        Argument("smallw", "int[1:100000]", 48, "Width of a small selection."),
        Argument("smallh", "int[1:100000]", 48, "Height of a small selection."),
        Argument("mediumw", "int[1:100000]", 96, "Width of a medium selection."),
        Argument("mediumh", "int[1:100000]", 96, "Height of a medium selection."),
        Argument("largew", "int[1:100000]", 256, "Width of a large selection."),
        Argument("largeh", "int[1:100000]", 256, "Height of a large selection."),
        Argument("region size", "float[0:1]", 1.0, "Fraction of the image (centred) the selection stays in."),
        _ALPHA_NO,
    )

    def transform(self, context: PluginContext) -> PluginResult:
        args = self.resolve_arguments(context.arguments)
        source = context.pixels()
        shape = (source.shape[0], source.shape[1])
        prefix = {1: "small", 2: "medium", 3: "large"}[int(args["size"])]
        width, height = int(args[f"{prefix}w"]), int(args[f"{prefix}h"])
        fraction = float(args["region size"]) or 1.0
        area_w, area_h = max(1, round(shape[1] * fraction)), max(1, round(shape[0] * fraction))
        area = ((shape[1] - area_w) // 2, (shape[0] - area_h) // 2, area_w, area_h)
        # as the original: a box is at most half the area less a pixel, so it never covers everything
        width, height = min(width, max(1, area_w // 2 - 1)), min(height, max(1, area_h // 2 - 1))
        region = None
        if args["op"] == "slic":
            region = self._slic(context.rng, source, area, width * height)
        if region is None or not region.any():
            region = _random_box(context.rng, shape, width, height, area)
        return _finish(context, source, region, is_yes(args["alpha"]), {"op": args["op"]})

    @staticmethod
    def _slic(
        rng: np.random.Generator, source: Image, area: tuple[int, int, int, int], wanted: int
    ) -> BoolMask | None:
        shape = (source.shape[0], source.shape[1])
        ax, ay, aw, ah = area
        window = source[ay : ay + ah, ax : ax + aw]
        small, factor = segment.reduce(window, 480)
        segments = max(2, round(aw * ah / max(1, wanted)))
        labels = segment.slic(small, segments=min(segments, small.shape[0] * small.shape[1] // 4))
        areas = segment.label_areas(labels) / (factor * factor)
        # as the original: fewer than 10 superpixels means a box instead; never more than half the area
        if np.count_nonzero(areas > 0) < 10:
            return None
        present = np.flatnonzero((areas > 0) & (areas <= aw * ah / 2))
        if present.size == 0:
            return None
        closest = present[np.argsort(np.abs(areas[present] - wanted), kind="stable")[:3]]
        chosen = int(closest[int(rng.integers(len(closest)))])
        local = segment.solid_region(segment.upscale(labels == chosen, (ah, aw)))
        region = np.zeros(shape, bool)
        region[ay : ay + ah, ax : ax + aw] = local
        return region


class SelectRegionWithMask(Plugin):
    name = "SelectRegionWithMask"
    operation = "SelectRegion"
    description = (
        "Select the region of an input mask (255 = select): it becomes the alpha channel of the source."
    )
    suffix = ".png"
    arguments = (
        Argument("inputmaskname", "mask", None, "Input mask: 255 = select.", required=False),
        Argument("invertmask", "yesno", "no", "Select outside the mask instead."),
        _ALPHA_YES,
    )

    def transform(self, context: PluginContext) -> PluginResult:
        args = self.resolve_arguments(context.arguments)
        source = context.pixels()
        selected = selection_mask(context, args, source.shape[:2], invert_name="invertmask")
        assert selected is not None
        return _finish(context, source, selected, is_yes(args["alpha"]))


_COLOR_RE = re.compile(r"-?\d+")


def parse_color(value: Any) -> tuple[int, int, int]:
    """``'[200,100,200]'``, ``'200,100,200'`` or a 3-sequence → an RGB triple."""
    if isinstance(value, str):
        numbers = [int(n) for n in _COLOR_RE.findall(value)]
    else:
        try:
            numbers = [int(v) for v in value]
        except (TypeError, ValueError):
            numbers = []
    if len(numbers) != 3 or not all(0 <= n <= 255 for n in numbers):
        raise ValueError(f"{value!r} is not an RGB colour like [200,100,200]")
    return numbers[0], numbers[1], numbers[2]


def read_classifications(path: Path) -> dict[tuple[int, int, int], str]:
    """``classification.csv``: rows of ``"[r,g,b]", class`` → {colour: class}."""
    out: dict[tuple[int, int, int], str] = {}
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            for row in csv.reader(handle, skipinitialspace=True):
                if len(row) < 2 or not row[0].strip():
                    continue
                try:
                    colour = parse_color(
                        ast.literal_eval(row[0]) if row[0].strip().startswith("[") else row[0]
                    )
                except (ValueError, SyntaxError):
                    continue  # a header line
                out[colour] = row[1].strip()
    except OSError as exc:
        raise PluginError(
            f"cannot read classifications: {exc.strerror}", file=path, argument="segmentation_directory"
        ) from None
    return out


class PreSegmentedSelectionRegion(Plugin):
    name = "PreSegmentedSelectionRegion"
    operation = "SelectRegion"
    description = (
        "Select one connected region of one colour from a colour-coded segmentation "
        "'<segmentation_directory>/<image stem>.png'; classification.csv maps colours to subjects."
    )
    suffix = ".png"
    arguments = (
        Argument("segmentation_directory", "text", None, "Folder of segmentation PNGs.", required=True),
        Argument(
            "color", "text", None, "Colour to select, e.g. [200,100,200]; random among present if absent."
        ),
        _ALPHA_YES,
    )

    def transform(self, context: PluginContext) -> PluginResult:
        args = self.resolve_arguments(context.arguments)
        folder = Path(str(args["segmentation_directory"]))
        classes = {}
        for name in ("classification.csv", "classifications.csv"):
            if (folder / name).is_file():
                classes = read_classifications(folder / name)
                break
        seg_path = self._segmentation_file(folder, context.source)
        try:
            seg = media_io.read_image(seg_path, mode="RGB").pixels
        except MediaError as exc:
            raise PluginError(
                f"cannot read the segmentation: {exc.message}",
                file=seg_path,
                argument="segmentation_directory",
            ) from None
        source = context.pixels()
        shape = (source.shape[0], source.shape[1])
        if seg.shape[:2] != shape:
            seg = np.asarray(cv2.resize(seg, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST))
        seg8 = (seg >> 8).astype(np.uint8) if seg.dtype == np.uint16 else seg
        packed = (
            (seg8[:, :, 0].astype(np.int32) << 16) | (seg8[:, :, 1].astype(np.int32) << 8) | seg8[:, :, 2]
        )
        present = {(int(v) >> 16, (int(v) >> 8) & 255, int(v) & 255) for v in np.unique(packed)}
        if args.get("color") is not None:
            try:
                colour = parse_color(args["color"])
            except ValueError as exc:
                raise PluginError(str(exc), argument="color") from None
            if colour not in present:
                raise PluginError(
                    f"colour {list(colour)} does not occur in {seg_path.name}", argument="color"
                )
        else:
            choices = sorted(present & set(classes)) if classes else sorted(present)
            if not choices:
                raise PluginError("no classified colour occurs in the segmentation", file=seg_path)
            colour = choices[int(context.rng.integers(len(choices)))]
        key = (colour[0] << 16) | (colour[1] << 8) | colour[2]
        region = largest_component(np.asarray(packed == key))
        extra = {"color": f"[{colour[0]},{colour[1]},{colour[2]}]"}
        if colour in classes:
            extra["subject"] = classes[colour]
        return _finish(context, source, region, is_yes(args["alpha"]), extra)

    @staticmethod
    def _segmentation_file(folder: Path, source: Path) -> Path:
        for candidate in (folder / f"{source.stem}.png", folder / f"{source.name}.png"):
            if candidate.is_file():
                return candidate
        raise PluginError(
            f"no segmentation {source.stem}.png", file=folder, argument="segmentation_directory"
        )
