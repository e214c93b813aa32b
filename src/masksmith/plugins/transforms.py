"""Geometric plugins: Resize, Rotate, Crop, and the CropPermutations selector."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

import cv2
import numpy as np

from masksmith.errors import PluginError
from masksmith.media import geometry
from masksmith.plugins.base import Argument, Plugin, PluginContext, PluginKind, PluginResult
from masksmith.plugins.common import is_yes, write_target, yes_no

_SIZE = re.compile(r"^\s*(\d+)\s*[x×,]\s*(\d+)\s*!?\s*$", re.IGNORECASE)
_INTERPOLATIONS = ("bilinear", "bicubic", "cubic", "lanczos", "mesh", "nearest")


class Resize(Plugin):
    name = "Resize"
    operation = "TransformResize"
    description = "Resample the image to 'width' × 'height' with the given interpolation."
    arguments = (
        Argument("width", "int[1:100000]", None, "Target width in pixels.", required=True),
        Argument("height", "int[1:100000]", None, "Target height in pixels.", required=True),
        Argument("interpolation", "list", "bilinear", "Resampling method.", values=_INTERPOLATIONS),
    )
    # the original's ImageMagick Resize took WIDTH and HEIGHT, later one WIDTHxHEIGHT ('1024x768')
    argument_aliases: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "width": ("WIDTH", "WIDTHxHEIGHT"),
        "height": ("HEIGHT", "WIDTHxHEIGHT"),
    }

    @classmethod
    def resolve_arguments(cls, given: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(given)
        both = out.get("WIDTHxHEIGHT")
        if both not in (None, ""):
            match = _SIZE.match(str(both))
            if match is None:
                raise PluginError(f"{both!r} is not a size like 1024x768", argument="WIDTHxHEIGHT")
            out["width"], out["height"] = int(match.group(1)), int(match.group(2))
        # a spelling the spec wrote wins over a value the batch engine drew for the unset 'width'
        for name, other in (("width", "WIDTH"), ("height", "HEIGHT")):
            if out.get(other) not in (None, ""):
                out[name] = out[other]
        return super().resolve_arguments(out)

    def transform(self, context: PluginContext) -> PluginResult:
        args = self.resolve_arguments(context.arguments)
        size = (int(args["width"]), int(args["height"]))
        flag = geometry.interpolation_flag(str(args["interpolation"]))
        out = np.asarray(cv2.resize(context.pixels(), size, interpolation=flag))
        write_target(context, out)
        return PluginResult(
            variables={"interpolation": args["interpolation"], "width": size[0], "height": size[1]},
            target_pixels=out,
        )


class Rotate(Plugin):
    name = "Rotate"
    operation = "TransformRotate"
    description = (
        "Rotate about the centre by 'rotation' degrees counter-clockwise (the journal's rotate comparison "
        "convention); 'expand' grows the canvas to fit, otherwise the size is kept."
    )
    arguments = (
        Argument("rotation", "int[-360:360]", None, "Degrees, counter-clockwise.", required=True),
        Argument("expand", "yesno", "no", "Grow the canvas so nothing is cut off."),
    )

    def transform(self, context: PluginContext) -> PluginResult:
        args = self.resolve_arguments(context.arguments)
        degrees = int(args["rotation"])
        expand = is_yes(args["expand"])
        source = context.pixels()
        matrix, shape = geometry.rotation_matrix(source.shape[:2], float(degrees), expand=expand)
        if degrees % 90 == 0 and expand:
            out = np.rot90(
                source, k=(degrees // 90) % 4
            ).copy()  # a copy even for k = 0: never alias the source
        else:
            # the journal's rotate comparison predicts the target with bilinear sampling too
            out = geometry.warp_image(source, matrix, shape, interpolation=cv2.INTER_LINEAR)
        write_target(context, out)
        return PluginResult(
            variables={
                "rotation": degrees,
                "local": "no",
                "expand": yes_no(expand),
                "transform matrix": geometry.matrix_to_jt(matrix),
            },
            target_pixels=out,
            transform_matrix=matrix,
        )


class Crop(Plugin):
    name = "Crop"
    operation = "TransformCrop"
    description = (
        "Remove 'pixel_width' columns and 'pixel_height' rows, 'crop_x' of them on the left and 'crop_y' "
        "at the top; records the kept window's location so the journal places it exactly."
    )
    arguments = (
        Argument("pixel_width", "int[0:100000]", 0, "Columns removed in all."),
        Argument("pixel_height", "int[0:100000]", 0, "Rows removed in all."),
        Argument("crop_x", "int[0:100000]", 0, "Columns removed on the left (≤ pixel_width)."),
        Argument("crop_y", "int[0:100000]", 0, "Rows removed at the top (≤ pixel_height)."),
    )

    def transform(self, context: PluginContext) -> PluginResult:
        args = self.resolve_arguments(context.arguments)
        width, height = int(args["pixel_width"]), int(args["pixel_height"])
        x, y = int(args["crop_x"]), int(args["crop_y"])
        source = context.pixels()
        rows, cols = source.shape[:2]
        if width >= cols:
            raise PluginError(f"removes {width} of {cols} columns", argument="pixel_width")
        if height >= rows:
            raise PluginError(f"removes {height} of {rows} rows", argument="pixel_height")
        if x > width:
            raise PluginError(f"{x} is more than pixel_width {width}", argument="crop_x")
        if y > height:
            raise PluginError(f"{y} is more than pixel_height {height}", argument="crop_y")
        out = source[y : rows - (height - y), x : cols - (width - x)].copy()
        write_target(context, out)
        return PluginResult(
            variables={
                "crop_x": x,
                "crop_y": y,
                "pixel_width": width,
                "pixel_height": height,
                "location": f"({x}, {y})",
            },
            target_pixels=out,
            transform_matrix=geometry.translation(-x, -y),
        )


def _positions(limit: int, step: int) -> list[int]:
    return list(range(0, limit + 1, step))


class CropPermutations(Plugin):
    name = "CropPermutations"
    operation = "SelectRegion"
    kind = PluginKind.SELECTOR
    description = (
        "Selector for permuted crops: returns crop_width / crop_height for the given percentages and the "
        "valid crop_x / crop_y values (on 8-pixel steps) as list argument specs for permute groups."
    )
    arguments = (
        Argument("percentage_width", "float[0:1]", 0.1, "Fraction of the width to remove."),
        Argument("percentage_height", "float[0:1]", 0.1, "Fraction of the height to remove."),
        Argument("divisions_width", "int[0:100000]", 0, "At most this many crop_x values (0 = every step)."),
        Argument("divisions_height", "int[0:100000]", 0, "At most this many crop_y values (0 = every step)."),
        Argument("eightbit_boundary", "yesno", "yes", "Round the crop sizes down to multiples of 8."),
    )

    def transform(self, context: PluginContext) -> PluginResult:
        args = self.resolve_arguments(context.arguments)
        rows, cols = context.pixels().shape[:2]
        eight = is_yes(args["eightbit_boundary"])
        width = int(cols * float(args["percentage_width"]))
        height = int(rows * float(args["percentage_height"]))
        if eight:
            width, height = width - width % 8, height - height % 8
        width, height = min(width, cols - 1), min(height, rows - 1)
        variables: dict[str, Any] = {"crop_width": width, "crop_height": height}
        for axis, size, divisions in (
            ("crop_x", width, int(args["divisions_width"])),
            ("crop_y", height, int(args["divisions_height"])),
        ):
            step = 8
            if divisions > 0 and size // step + 1 > divisions:
                step = 8 * -(-size // (8 * max(1, divisions - 1)))
            variables[axis] = {"type": "list", "values": _positions(size, step)}
        return PluginResult(variables=variables)
