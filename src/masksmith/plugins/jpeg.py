"""JPEG writers and the JPEG-aware selector: OutputJpg, JpgFromCamera, DetermineImageParameters.

A camera's quantisation table file (the original's ``<camera>-QT.txt``) holds 16 lines of 8 integers:
the luminance table's 64 values in natural (row-major) order, then the chrominance table's.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from masksmith.errors import MediaError, PluginError
from masksmith.media import io as media_io
from masksmith.plugins.base import Argument, Plugin, PluginContext, PluginKind, PluginResult
from masksmith.plugins.common import is_yes, to_rgb8, write_target, yes_no

# the IJG (libjpeg) luminance table at quality 50, natural order: quality scales it
_IJG_LUMINANCE = (
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
)  # fmt: skip


# EXIF orientation → the array operation that shows the stored pixels upright
_UPRIGHT = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a.swapaxes(0, 1)[::-1, ::-1],
    8: lambda a: np.rot90(a, 1),
}


def _upright(pixels: Any, orientation: int) -> Any:
    return np.ascontiguousarray(_UPRIGHT[orientation](pixels)) if orientation in _UPRIGHT else pixels


def read_qt_file(path: str | os.PathLike[str]) -> list[list[int]]:
    """The two 64-value tables of a quantisation table file; PluginError naming the file when malformed."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PluginError(
            f"cannot read the quantisation tables: {exc}", file=file, argument="qtfile"
        ) from None
    try:
        numbers = [int(token) for token in text.split()]
    except ValueError:
        raise PluginError(
            "quantisation tables must be whitespace-separated integers", file=file, argument="qtfile"
        ) from None
    if len(numbers) not in (64, 128) or not all(1 <= n <= 255 for n in numbers):
        raise PluginError(
            f"expected 64 or 128 values in 1..255 (8 rows of 8 per table), found {len(numbers)}",
            file=file,
            argument="qtfile",
        )
    return [numbers[i : i + 64] for i in range(0, len(numbers), 64)]


def camera_exif(
    qtfile: Path, *, width: int, height: int, donor_exif: bytes | None
) -> tuple[bytes | None, list[str]]:
    """EXIF for a camera from the table file's companion ``<camera>-metadata.csv`` (rows ``kind, tag,
    value``): ``database`` rows give the value, ``source`` rows the donor's value (else the given one),
    ``compute`` rows the size (``#ComputeWidth``/``#CalcWidth``, ``#ComputeHeight``/``#CalcHeight``,
    ``#CalcSizePixels``, ``#CalcSizeWxH``). Tags are exiftool names (``-EXIF:Make``); names Pillow does
    not know are returned as skipped. No CSV → (None, [])."""
    import csv

    from PIL import ExifTags, Image

    sheet = Path(str(qtfile).replace("-QT.txt", "-metadata.csv"))
    if sheet == qtfile or not sheet.is_file():
        return None, []
    numbers = {name: tag for tag, name in ExifTags.TAGS.items()}
    donor_tags: dict[int, Any] = {}
    if donor_exif:
        block = Image.Exif()
        block.load(donor_exif)
        donor_tags = {**dict(block.items()), **dict(block.get_ifd(ExifTags.IFD.Exif).items())}
    computed = {
        "#ComputeWidth": width, "#CalcWidth": width, "#ComputeHeight": height, "#CalcHeight": height,
        "#CalcSizePixels": width * height, "#CalcSizeWxH": f"{width}x{height}",
    }  # fmt: skip
    exif = Image.Exif()
    exif_ifd = exif.get_ifd(ExifTags.IFD.Exif)
    skipped: list[str] = []
    try:
        rows = list(csv.reader(sheet.read_text(encoding="utf-8").splitlines()))
    except (OSError, UnicodeDecodeError) as exc:
        raise PluginError(f"cannot read the camera metadata: {exc}", file=sheet, argument="qtfile") from None
    for row in rows:
        if len(row) < 3 or row[0].strip() not in ("database", "source", "compute"):
            continue
        kind, name, given = row[0].strip(), row[1].strip().lstrip("-").split(":")[-1], row[2].strip()
        tag = numbers.get(name)
        if tag is None:
            skipped.append(name)
            continue
        value: Any = given
        if kind == "compute" and given in computed:
            value = computed[given]
        elif kind == "compute" and name in ("ExifImageWidth", "ExifImageHeight"):
            value = width if name.endswith("Width") else height
        elif kind == "source" and tag in donor_tags:
            value = donor_tags[tag]
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        # IFD0 holds the image's own tags (below 0x8000, and Copyright); the rest go to the Exif IFD
        (exif if tag < 0x8000 or tag == 0x8298 else exif_ifd)[tag] = value
    return exif.tobytes(), skipped


def estimate_quality(luminance: list[int] | tuple[int, ...]) -> int:
    """The IJG quality (1..100) whose scaled luminance table is closest to ``luminance``."""
    wanted = np.asarray(luminance, float)
    base = np.asarray(_IJG_LUMINANCE, float)
    best, best_error = 100, float("inf")
    for quality in range(1, 101):
        scale = 5000 / quality if quality < 50 else 200 - 2 * quality
        table = np.clip(np.floor((base * scale + 50) / 100), 1, 255)
        error = float(np.abs(table - wanted).sum())
        if error < best_error:
            best, best_error = quality, error
    return best


def quality_of(path: Path) -> int:
    """The estimated JPEG quality of a file; 100 for formats without quantisation tables."""
    try:
        if media_io.image_format(path) != "JPEG":
            return 100
        tables = media_io.jpeg_quantization_tables(path)
    except MediaError as exc:
        raise PluginError(f"cannot read the JPEG tables: {exc.message}", file=path) from None
    return estimate_quality(tables[0]) if tables else 100


class OutputJpg(Plugin):
    name = "OutputJpg"
    operation = "OutputJpg"
    description = "Save as JPEG at the given quality (Pillow; the original called ImageMagick)."
    suffix = ".jpg"
    arguments = (Argument("quality", "int[1:100]", 92, "JPEG quality factor."),)

    def transform(self, context: PluginContext) -> PluginResult:
        args = self.resolve_arguments(context.arguments)
        pixels = to_rgb8(context.pixels())
        write_target(context, pixels, format="JPEG", quality=int(args["quality"]))
        return PluginResult(variables={"quality": int(args["quality"])})


class JpgFromCamera(Plugin):
    name = "JpgFromCamera"
    operation = "AntiForensicJPGCompression"
    description = (
        "Save as JPEG with a camera's quantisation tables ('qtfile') and, when '<camera>-metadata.csv' sits "
        "beside it, the camera's EXIF; the chroma subsampling follows the donor when one is given (4:2:2 "
        "otherwise); 'quality' > 0 replaces the tables by that quality."
    )
    suffix = ".jpg"
    arguments = (
        Argument("qtfile", "text", None, "Quantisation table file (16 lines of 8 integers).", required=True),
        Argument("donor", "donor", None, "Image whose subsampling and orientation are followed."),
        Argument("rotate", "yesno", "no", "Turn the pixels upright per the donor's EXIF orientation."),
        Argument("quality", "int[0:100]", 0, "0 keeps the tables; otherwise the JPEG quality to use."),
    )

    def transform(self, context: PluginContext) -> PluginResult:
        args = self.resolve_arguments(context.arguments)
        tables = read_qt_file(str(args["qtfile"]))
        donor_value = context.donor or args.get("donor")
        donor = Path(os.fspath(donor_value)) if donor_value else None
        subsampling = "4:2:2"
        orientation = 1
        if donor is not None:
            try:
                if media_io.image_format(donor) == "JPEG":
                    subsampling = media_io.jpeg_subsampling(donor) or "4:2:2"
                orientation = media_io.read_image(donor).info.orientation
            except MediaError as exc:
                raise PluginError(
                    f"cannot read the donor: {exc.message}", file=donor, argument="donor"
                ) from None
        pixels = to_rgb8(context.pixels())
        rotated = is_yes(args["rotate"]) and orientation != 1
        if rotated:
            pixels = _upright(pixels, orientation)
        rows, cols = pixels.shape[:2]
        donor_exif = media_io.read_exif(donor) if donor is not None else None
        exif, skipped = camera_exif(Path(str(args["qtfile"])), width=cols, height=rows, donor_exif=donor_exif)
        options: dict[str, Any] = {"subsampling": subsampling, "exif": exif}
        if int(args["quality"]) > 0:
            options["quality"] = int(args["quality"])
        else:
            options["qtables"] = tables
        write_target(context, np.ascontiguousarray(pixels), format="JPEG", **options)
        variables: dict[str, Any] = {"rotate": yes_no(rotated), "qtfile": Path(str(args["qtfile"])).name}
        if skipped:
            variables["exif tags skipped"] = ", ".join(skipped)
        return PluginResult(variables=variables)


class DetermineImageParameters(Plugin):
    name = "DetermineImageParameters"
    operation = "SelectRegion"
    kind = PluginKind.SELECTOR
    description = (
        "Selector: 'selected_width' / 'selected_height' = the image (or donor) size times the percentages, "
        "moved up to the next multiple of 8, and 'quality_factor' = the JPEG quality (estimated from the "
        "tables unless given) times 'percentage_qf'."
    )
    arguments = (
        Argument("percentage_width", "float[0.01:2]", 1.0, "Fraction of the width."),
        Argument("percentage_height", "float[0.01:2]", 1.0, "Fraction of the height."),
        Argument("percentage_qf", "float[0:1]", 1.0, "Fraction of the quality factor."),
        Argument("quality_factor", "int[1:100]", None, "Use this quality instead of estimating it."),
        Argument("donor", "donor", None, "Measure this image instead of the source."),
    )

    def transform(self, context: PluginContext) -> PluginResult:
        args = self.resolve_arguments(context.arguments)
        donor_value = context.donor or args.get("donor")
        measured = Path(os.fspath(donor_value)) if donor_value else context.source
        if measured == context.source:
            rows, cols = context.pixels().shape[:2]
        else:
            try:
                cols, rows = media_io.read_image_size(measured, oriented=True)
            except MediaError as exc:
                raise PluginError(f"cannot read the donor: {exc.message}", file=measured) from None
        width = int(cols * float(args["percentage_width"]))
        height = int(rows * float(args["percentage_height"]))
        width += 8 - width % 8  # as the original: always up to the next multiple of 8
        height += 8 - height % 8
        quality = args.get("quality_factor")
        base = int(quality) if quality is not None else quality_of(measured)
        return PluginResult(
            variables={
                "selected_width": width,
                "selected_height": height,
                "quality_factor": int(base * float(args["percentage_qf"])),
            }
        )
