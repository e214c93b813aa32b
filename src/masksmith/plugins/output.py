"""Format conversions: OutputPNG, OutputTIFF and OutputCopy."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from masksmith.errors import MediaError, PluginError
from masksmith.media import io as media_io
from masksmith.plugins.base import Argument, Plugin, PluginContext, PluginResult
from masksmith.plugins.common import Image, is_yes, write_target, yes_no


def _read_for_output(context: PluginContext, rotate: bool) -> tuple[Image, media_io.ImageInfo]:
    try:
        loaded = media_io.read_image(context.source, apply_orientation=rotate)
    except MediaError as exc:
        raise PluginError(f"cannot read the source: {exc.message}", file=context.source) from None
    return loaded.pixels, loaded.info


def _to_depth(pixels: Image, depth: int) -> Image:
    if depth == 16 and pixels.dtype == np.uint8:
        return pixels.astype(np.uint16) * 257
    if depth == 8 and pixels.dtype == np.uint16:
        return (pixels >> 8).astype(np.uint8)
    return pixels


@dataclass
class _Prepared:
    pixels: Image
    options: dict[str, Any] = field(default_factory=dict)
    operation: str | None = None
    variables: dict[str, Any] = field(default_factory=dict)


class _Output(Plugin):
    """Re-save the source in another format, optionally turning it upright per its EXIF orientation."""

    arguments: ClassVar[tuple[Argument, ...]] = (
        Argument(
            "Image Rotated",
            "yesno",
            "yes",
            "Apply the EXIF orientation to the pixels (the result is upright and carries no orientation).",
        ),
    )
    format: ClassVar[str] = "PNG"

    def _prepare(self, args: dict[str, Any], pixels: Image) -> _Prepared:
        return _Prepared(pixels)

    def transform(self, context: PluginContext) -> PluginResult:
        args = self.resolve_arguments(context.arguments)
        rotate = is_yes(args["Image Rotated"])
        pixels, info = _read_for_output(context, rotate)
        rotated = rotate and info.orientation != 1
        prepared = self._prepare(args, pixels)
        options = dict(prepared.options)
        if not rotated and info.exif is not None and self.format == "PNG":
            options["exif"] = info.exif  # the orientation tag still describes the stored pixels
        write_target(context, prepared.pixels, format=self.format, **options)
        variables: dict[str, Any] = {"Image Rotated": yes_no(rotated), **prepared.variables}
        if rotated:
            variables["orientation"] = info.orientation
        return PluginResult(variables=variables, target_pixels=prepared.pixels, operation=prepared.operation)


class OutputPNG(_Output):
    name = "OutputPNG"
    operation = "OutputPng"
    description = (
        "Save as PNG; 'Image Rotated' turns the pixels upright per EXIF; 'Bits per Channel' 8 or 16."
    )
    suffix = ".png"
    format = "PNG"
    arguments = (
        *_Output.arguments,
        Argument(
            "Bits per Channel",
            "list",
            None,
            "Write 8 or 16 bits per channel (a change is recorded as OutputPng::BitDepth).",
            values=("8", "16"),
        ),
    )

    def _prepare(self, args: dict[str, Any], pixels: Image) -> _Prepared:
        depth = args.get("Bits per Channel")
        current = 16 if pixels.dtype == np.uint16 else 8
        if depth is None or int(depth) == current:
            return _Prepared(pixels)
        wanted = int(depth)
        return _Prepared(
            _to_depth(pixels, wanted), operation="OutputPng::BitDepth", variables={"Depth": str(wanted)}
        )


class OutputTIFF(_Output):
    name = "OutputTIFF"
    operation = "OutputTif"
    description = "Save as TIFF; 'Image Rotated' turns the pixels upright per EXIF; 'compression' as asked."
    suffix = ".tif"
    format = "TIFF"
    arguments = (
        *_Output.arguments,
        Argument(
            "compression",
            "list",
            "none",
            "TIFF compression scheme.",
            values=tuple(member.value for member in media_io.TiffCompression),
        ),
    )

    def _prepare(self, args: dict[str, Any], pixels: Image) -> _Prepared:
        return _Prepared(pixels, options={"compression": args["compression"]})


class OutputCopy(Plugin):
    name = "OutputCopy"
    operation = "OutputCopy"
    description = "Copy the source file byte for byte (same format)."
    arguments = ()

    def transform(self, context: PluginContext) -> PluginResult:
        self.resolve_arguments(context.arguments)
        if not context.source.is_file():
            raise PluginError("source file not found", file=context.source)
        with media_io.atomic_path(context.target) as temp:
            shutil.copyfile(os.fspath(context.source), temp)
        return PluginResult(variables={})


class SIPStoPNG(OutputPNG):
    """The original's macOS ``sips`` conversion, done with Pillow: any readable image to PNG."""

    name = "SIPStoPNG"
    description = "Save as PNG (the original's macOS sips conversion); 'Image Rotated' defaults to no."
    arguments = (
        Argument("Image Rotated", "yesno", "no", "Apply the EXIF orientation to the pixels before saving."),
    )

    def _prepare(self, args: dict[str, Any], pixels: Image) -> _Prepared:
        return _Prepared(pixels)
