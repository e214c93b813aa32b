"""Crops to a window: CropTo (given window), CropToFitDonor (centred, donor-sized), FaceCrop (around a face).

Each records the kept window's top-left as ``location`` and the source → target translation, so the journal's
crop comparison places the result exactly.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from masksmith.errors import MediaError, PluginError
from masksmith.media import geometry
from masksmith.media import io as media_io
from masksmith.plugins.base import Argument, Plugin, PluginContext, PluginResult
from masksmith.plugins.common import Image, donor_path, write_target

_PAIR = re.compile(r"^\s*\(?\s*(-?\d+)\s*[,x×]\s*(-?\d+)\s*\)?\s*$", re.IGNORECASE)


def parse_pair(value: Any, *, argument: str) -> tuple[int, int]:
    """``'640,480'``, ``'(640, 480)'``, ``'640x480'`` or a 2-sequence → ``(first, second)``."""
    if isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2:
        try:
            return int(value[0]), int(value[1])
        except (TypeError, ValueError):
            pass
    match = _PAIR.match(str(value))
    if match is None:
        raise PluginError(f"{value!r} is not a pair of integers like 640,480", argument=argument)
    return int(match.group(1)), int(match.group(2))


def _cropped(context: PluginContext, source: Image, x: int, y: int, width: int, height: int) -> PluginResult:
    out = np.ascontiguousarray(source[y : y + height, x : x + width])
    write_target(context, out)
    return PluginResult(
        variables={"location": f"({y}, {x})"},
        target_pixels=out,
        transform_matrix=geometry.translation(-x, -y),
    )


class CropTo(Plugin):
    name = "CropTo"
    operation = "TransformCrop"
    description = "Keep the 'pixel_width' × 'pixel_height' window whose top-left is ('crop_x', 'crop_y')."
    arguments = (
        Argument("crop_x", "int[0:100000]", 0, "Left column of the window."),
        Argument("crop_y", "int[0:100000]", 0, "Top row of the window."),
        Argument("pixel_width", "int[1:100000]", None, "Width of the window.", required=True),
        Argument("pixel_height", "int[1:100000]", None, "Height of the window.", required=True),
    )

    def transform(self, context: PluginContext) -> PluginResult:
        args = self.resolve_arguments(context.arguments)
        x, y = int(args["crop_x"]), int(args["crop_y"])
        width, height = int(args["pixel_width"]), int(args["pixel_height"])
        source = context.pixels()
        rows, cols = source.shape[:2]
        if x + width > cols:
            raise PluginError(
                f"window ends at column {x + width}, the image has {cols}", argument="pixel_width"
            )
        if y + height > rows:
            raise PluginError(
                f"window ends at row {y + height}, the image has {rows}", argument="pixel_height"
            )
        if (width, height) == (cols, rows):
            raise PluginError(
                "the window is the whole image: nothing would be cropped", argument="pixel_width"
            )
        result = _cropped(context, source, x, y, width, height)
        result.variables.update(crop_x=x, crop_y=y, pixel_width=width, pixel_height=height)
        return result


def centred_window(source: tuple[int, int], wanted: tuple[int, int]) -> tuple[int, int, int, int]:
    """``(x, y, width, height)`` of the centred window of at most ``wanted`` (rows, cols) inside ``source``."""
    rows, cols = source
    height, width = min(wanted[0], rows), min(wanted[1], cols)
    return (cols - width + 1) // 2, (rows - height + 1) // 2, width, height


class CropToFitDonor(Plugin):
    name = "CropToFitDonor"
    operation = "TransformCrop"
    description = (
        "Centre-crop the source to the donor's size (the donor turned a quarter when its orientation, "
        "portrait or landscape, differs from the source's); written as PNG."
    )
    suffix = ".png"
    arguments = (Argument("donor", "donor", None, "The image whose size the crop takes.", required=True),)

    def transform(self, context: PluginContext) -> PluginResult:
        args = self.resolve_arguments(
            {**context.arguments, "donor": context.donor or context.arguments.get("donor")}
        )
        donor = donor_path(context, args)
        try:
            donor_cols, donor_rows = media_io.read_image_size(donor, oriented=True)
        except MediaError as exc:
            raise PluginError(f"cannot read the donor: {exc.message}", file=donor, argument="donor") from None
        source = context.pixels()
        rows, cols = source.shape[:2]
        if (rows >= cols) != (donor_rows >= donor_cols):
            donor_rows, donor_cols = donor_cols, donor_rows
        x, y, width, height = centred_window((rows, cols), (donor_rows, donor_cols))
        if (width, height) == (cols, rows):
            raise PluginError(
                f"the donor ({donor_cols}×{donor_rows}) is not smaller than the source ({cols}×{rows})",
                argument="donor",
            )
        return _cropped(context, source, x, y, width, height)


def _load_filemap(filemap: Any) -> Any:
    """``filemap`` as given, or the JSON list in the file it names (a global set on the command line is text)."""
    if not isinstance(filemap, str | os.PathLike):
        return filemap
    path = Path(os.fspath(filemap))
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PluginError(f"cannot read the face metadata: {exc}", file=path, argument="filemap") from None


def _face_from_map(
    filemap: Any, name: str, shape: tuple[int, int], size: tuple[int, int]
) -> Mapping[str, Any]:
    """The face to crop around: among the faces listed for ``name`` no wider than half the crop, the most
    frontal (least |yaw| + |pitch|, then largest) whose crop window fits inside the image."""
    if not isinstance(filemap, list):
        raise PluginError("filemap must be a list of {file_name, faces} entries", argument="filemap")
    entry = next(
        (e for e in filemap if isinstance(e, Mapping) and name and name in str(e.get("file_name", ""))), None
    )
    if entry is None:
        raise PluginError(f"no filemap entry for {name!r}", argument="filemap")
    width, height = size
    faces = [f for f in entry.get("faces", []) if float(f.get("face_width", 0)) <= width / 2]
    if not faces:
        raise PluginError(f"no face in {name!r} is at most half the crop width", argument="filemap")
    faces.sort(
        key=lambda f: (
            abs(float(f.get("face_yaw", 0))) + abs(float(f.get("face_pitch", 0))),
            -float(f.get("face_width", 0)) * float(f.get("face_height", 0)),
        )
    )
    rows, cols = shape
    for face in faces:
        cx, cy = float(face["chin_x"]), float(face["right_eye_y"])
        if width / 2 < cx < cols - width / 2 and height / 2 < cy < rows - height / 2:
            return dict(face)
    raise PluginError(f"no face in {name!r} has room for a {width}×{height} crop", argument="filemap")


class FaceCrop(Plugin):
    name = "FaceCrop"
    operation = "TransformCrop"
    description = (
        "Crop a 'crop dimensions' window centred on a face (column of the chin, row of the right eye), its "
        "top-left moved down to multiples of 8; the face comes from the positions given or from 'filemap' "
        "(face metadata per file, looked up by the 'donor' file name)."
    )
    arguments = (
        Argument("crop dimensions", "text", None, "Width,Height of the crop.", required=True),
        Argument("right eye position", "text", None, "X,Y of the right eye."),
        Argument("chin position", "text", None, "X,Y of the chin."),
        Argument(
            "filemap",
            "any",
            None,
            "List of {file_name, faces: [{chin_x, right_eye_y, ...}]}, or a JSON file of it.",
        ),
        Argument("donor", "any", None, "File name to look up in 'filemap' (default: the source's)."),
    )

    def transform(self, context: PluginContext) -> PluginResult:
        args = self.resolve_arguments(context.arguments)
        width, height = parse_pair(args["crop dimensions"], argument="crop dimensions")
        source = context.pixels()
        rows, cols = source.shape[:2]
        if args.get("filemap") is not None:
            looked_up = args.get("donor") or context.source.name
            face = _face_from_map(
                _load_filemap(args["filemap"]), Path(os.fspath(looked_up)).name, (rows, cols), (width, height)
            )
            centre_x, centre_y = float(face["chin_x"]), float(face["right_eye_y"])
        else:
            if args.get("chin position") is None or args.get("right eye position") is None:
                raise PluginError(
                    "needs 'chin position' and 'right eye position', or a 'filemap'", argument="filemap"
                )
            centre_x = parse_pair(args["chin position"], argument="chin position")[0]
            centre_y = parse_pair(args["right eye position"], argument="right eye position")[1]
        left = int(centre_x - width / 2)
        top = int(centre_y - height / 2)
        left, top = left - left % 8, top - top % 8
        if left < 0 or top < 0 or left + width > cols or top + height > rows:
            raise PluginError(
                f"a {width}×{height} crop at ({left}, {top}) leaves the {cols}×{rows} image",
                argument="crop dimensions",
            )
        result = _cropped(context, source, left, top, width, height)
        result.variables.update(top=top, left=left)
        return result
