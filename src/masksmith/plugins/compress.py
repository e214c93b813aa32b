"""CompressAs: re-save the source the way the donor was saved (JPEG tables and EXIF, or TIFF compression)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from masksmith.errors import MediaError, PluginError
from masksmith.media import io as media_io
from masksmith.plugins.base import Argument, Plugin, PluginContext, PluginResult
from masksmith.plugins.common import Image, donor_path, is_yes, to_rgb8, write_target, yes_no

# Pillow's names for TIFF compression → ours (anything else is written uncompressed)
_TIFF_COMPRESSION = {
    "raw": "none",
    "tiff_lzw": "lzw",
    "tiff_adobe_deflate": "deflate",
    "tiff_deflate": "deflate",
    "packbits": "packbits",
    "jpeg": "jpeg",
    "tiff_jpeg": "jpeg",
}

# Undo an EXIF orientation: the pixels are stored so that a viewer applying ``orientation`` shows them upright.
_UNDO = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: a.swapaxes(0, 1)[::-1],
    7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
    8: lambda a: a.swapaxes(0, 1)[:, ::-1],
}


def tiff_compression(path: Path) -> str:
    """The compression scheme of a TIFF file in :class:`media.io.TiffCompression` spelling."""
    from PIL import Image as PILImage

    with PILImage.open(path) as im:
        return _TIFF_COMPRESSION.get(str(im.info.get("compression", "raw")), "none")


def _orientation(exif: bytes | None) -> int:
    if not exif:
        return 1
    from PIL import Image as PILImage

    value = PILImage.Exif()
    try:
        value.load(exif)
    except Exception:  # a malformed EXIF block is treated as upright
        return 1
    orientation = value.get(0x0112, 1)
    return int(orientation) if isinstance(orientation, int) and 1 <= orientation <= 8 else 1


class CompressAs(Plugin):
    name = "CompressAs"
    operation = "AntiForensicExifQuantizationTable"
    description = (
        "Re-save the source as the donor was saved: a JPEG donor gives its exact quantisation tables, "
        "chroma subsampling and EXIF; a TIFF donor its compression. The target takes the donor's suffix."
    )
    suffix = "donor"
    arguments = (
        Argument("donor", "donor", None, "The image whose compression is copied.", required=True),
        Argument(
            "rotate",
            "yesno",
            "yes",
            "Store the pixels counter-rotated for the donor's EXIF orientation, so they display upright.",
        ),
        Argument("quality", "int[1:100]", None, "Use this JPEG quality instead of the donor's tables."),
    )

    def transform(self, context: PluginContext) -> PluginResult:
        args = self.resolve_arguments(
            {**context.arguments, "donor": context.donor or context.arguments.get("donor")}
        )
        donor = donor_path(context, args)
        try:
            fmt = media_io.image_format(donor)
        except MediaError as exc:
            raise PluginError(f"cannot read the donor: {exc.message}", file=donor, argument="donor") from None
        pixels = context.pixels()
        if fmt == "JPEG":
            return self._as_jpeg(context, pixels, donor, args)
        if fmt == "TIFF":
            scheme = tiff_compression(donor)
            out = (to_rgb8(pixels) if scheme == "jpeg" else pixels).copy()
            write_target(context, out, format="TIFF", compression=scheme)
            return PluginResult(variables={"rotate": "no", "compression": scheme}, target_pixels=out)
        raise PluginError(f"the donor is {fmt}; CompressAs copies JPEG or TIFF compression", argument="donor")

    def _as_jpeg(
        self, context: PluginContext, pixels: Image, donor: Path, args: dict[str, Any]
    ) -> PluginResult:
        tables = media_io.jpeg_quantization_tables(donor)
        subsampling = media_io.jpeg_subsampling(donor)
        exif = media_io.read_exif(donor)
        out = to_rgb8(pixels)
        if len(tables) == 1:  # a gray donor has one table: write gray
            out = np.ascontiguousarray(out[:, :, 0] if pixels.ndim == 2 else _gray(out))
            subsampling = None
        orientation = _orientation(exif)
        rotated = is_yes(args["rotate"]) and orientation != 1
        if rotated:
            out = np.ascontiguousarray(_UNDO[orientation](out))
        options: dict[str, Any] = {"exif": exif, "subsampling": subsampling}
        if args.get("quality") is not None:
            options["quality"] = int(args["quality"])
        else:
            options["qtables"] = tables
        write_target(context, out, format="JPEG", **options)
        return PluginResult(variables={"rotate": yes_no(rotated)})


def _gray(rgb: Image) -> Image:
    import cv2

    return np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
