"""Write image files: encode pixels (OpenCV where it is correct and fast, Pillow where only it can) and
replace the target atomically through :mod:`masksmith.atomic_io` (no fsync: images are bulk output).

Re-exported by :mod:`masksmith.media.io`, the one import path for image files.
"""

from __future__ import annotations

import contextlib
import enum
import io
import struct
import zlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import cv2
import numpy as np
from PIL import Image

from masksmith import atomic_io
from masksmith.errors import MediaError, UnsupportedMediaError
from masksmith.media.image_formats import EXIF_HEADER, SUPPORTED_FORMATS, PathLike, Pixels, normalise_exif

__all__ = [
    "QTables",
    "TiffCompression",
    "atomic_path",
    "atomic_write_bytes",
    "encode_image",
    "write_image",
]

QTables = Sequence[Sequence[int]] | Mapping[int, Sequence[int]]

_SUFFIX_FORMATS: Final = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".jpe": "JPEG",
    ".png": "PNG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".bmp": "BMP",
    ".webp": "WEBP",
}
_FORMAT_ALIASES: Final = {"JPG": "JPEG", "TIF": "TIFF"}
_SUBSAMPLING: Final = {
    "4:4:4": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444,
    "4:2:2": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422,
    "4:2:0": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420,
}


class TiffCompression(enum.StrEnum):
    """TIFF compression schemes :func:`write_image` can produce."""

    NONE = "none"
    LZW = "lzw"
    DEFLATE = "deflate"
    PACKBITS = "packbits"
    JPEG = "jpeg"


_TIFF_CV2_CODES: Final = {
    TiffCompression.NONE: 1,
    TiffCompression.LZW: 5,
    TiffCompression.DEFLATE: 8,
    TiffCompression.PACKBITS: 32773,
}


@contextlib.contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path in ``path``'s directory (same suffix); on success ``os.replace`` it to ``path``.

    If the block raises, the temporary file is removed and ``path`` is left as it was. Images are bulk
    output a run can regenerate, so no fsync (the policy of :mod:`masksmith.atomic_io`).
    """
    target = Path(path)
    try:
        with atomic_io.atomic_path(target, durable=False, keep_suffix=True) as temp:
            yield temp
    except OSError as err:
        if isinstance(err, MediaError):
            raise
        raise MediaError(target, "write failed", err.strerror or str(err)) from err


def atomic_write_bytes(path: PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file in the same directory, then ``os.replace``)."""
    with atomic_path(path) as temp, open(temp, "wb") as handle:
        handle.write(data)
    return Path(path)


def _format_for(path: Path, format: str | None) -> str:
    if format is not None:
        fmt = _FORMAT_ALIASES.get(format.upper(), format.upper())
        if fmt not in SUPPORTED_FORMATS:
            raise UnsupportedMediaError(
                path, f"format {format!r} is not one of {', '.join(SUPPORTED_FORMATS)}"
            )
        return fmt
    fmt_from_suffix = _SUFFIX_FORMATS.get(path.suffix.lower())
    if fmt_from_suffix is None:
        raise UnsupportedMediaError(path, f"cannot tell the format from suffix {path.suffix!r}; pass format=")
    return fmt_from_suffix


def _checked_pixels(path: Path, pixels: object) -> Pixels:
    if not isinstance(pixels, np.ndarray):
        raise MediaError(path, "write failed", f"pixels must be a numpy array, got {type(pixels).__name__}")
    if pixels.dtype not in (np.uint8, np.uint16):
        raise MediaError(path, "write failed", f"pixels must be uint8 or uint16, got {pixels.dtype}")
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    if not (pixels.ndim == 2 or (pixels.ndim == 3 and pixels.shape[2] in (3, 4))) or pixels.size == 0:
        raise MediaError(
            path, "write failed", f"pixels must be H×W, H×W×3 or H×W×4, got shape {pixels.shape}"
        )
    checked: Pixels = pixels
    return checked


def _to_bgr(pixels: Pixels) -> Pixels:
    if pixels.ndim == 2:
        return pixels
    converted: Pixels = cv2.cvtColor(
        pixels, cv2.COLOR_RGB2BGR if pixels.shape[2] == 3 else cv2.COLOR_RGBA2BGRA
    )
    return converted


def _cv2_encode(path: Path, suffix: str, pixels: Pixels, params: list[int]) -> bytes:
    try:
        ok, buffer = cv2.imencode(suffix, _to_bgr(pixels), params)
    except cv2.error as err:
        raise MediaError(path, "write failed", str(err).strip().splitlines()[-1]) from err
    if not ok:
        raise MediaError(path, "write failed", f"OpenCV could not encode {suffix}")
    return buffer.tobytes()


def _pil_encode(path: Path, image: Image.Image, fmt: str, **options: Any) -> bytes:
    out = io.BytesIO()
    try:
        image.save(out, fmt, **options)
    except (OSError, ValueError, TypeError) as err:
        raise MediaError(path, "write failed", str(err)) from err
    return out.getvalue()


def _require(path: Path, condition: bool, detail: str) -> None:
    if not condition:
        raise UnsupportedMediaError(path, detail)


def _png_with_exif(png: bytes, exif: bytes) -> bytes:
    """Insert an eXIf chunk (raw TIFF data) before the first IDAT chunk of an encoded PNG."""
    payload = exif[len(EXIF_HEADER) :] if exif.startswith(EXIF_HEADER) else exif
    chunk = struct.pack(">I", len(payload)) + b"eXIf" + payload
    chunk += struct.pack(">I", zlib.crc32(b"eXIf" + payload))
    at = png.index(b"IDAT") - 4
    return png[:at] + chunk + png[at:]


def _qtable_list(
    path: Path, qtables: Sequence[Sequence[int]] | Mapping[int, Sequence[int]]
) -> list[list[int]]:
    tables = [qtables[key] for key in sorted(qtables)] if isinstance(qtables, Mapping) else list(qtables)
    valid = 1 <= len(tables) <= 4 and all(
        len(table) == 64 and all(isinstance(v, int | np.integer) and 1 <= v <= 255 for v in table)
        for table in tables
    )
    if not valid:
        raise UnsupportedMediaError(path, "qtables must be 1 to 4 tables of 64 integers in 1..255")
    return [[int(v) for v in table] for table in tables]


def encode_image(
    pixels: Pixels,
    *,
    format: str,
    quality: int = 95,
    exif: bytes | None = None,
    qtables: QTables | None = None,
    subsampling: str | None = None,
    compression: TiffCompression | str | None = None,
    png_compression: int = 1,
    lossless: bool = False,
    name: PathLike = "<memory>",
) -> bytes:
    """Encode pixels to the bytes of an image file; see :func:`write_image` for the options."""
    path = Path(name)
    fmt = _format_for(path, format)
    image = _checked_pixels(path, pixels)
    deep = image.dtype == np.uint16
    channels = 1 if image.ndim == 2 else image.shape[2]
    if exif is not None:
        _require(path, fmt in ("JPEG", "PNG", "WEBP"), f"{fmt} files are written without EXIF here")
        exif = normalise_exif(exif)
    if qtables is not None or subsampling is not None:
        _require(path, fmt == "JPEG", "qtables and subsampling apply to JPEG only")
    if subsampling is not None and subsampling not in _SUBSAMPLING:
        raise UnsupportedMediaError(
            path, f"subsampling {subsampling!r} is not one of {', '.join(_SUBSAMPLING)}"
        )
    if compression is not None and fmt != "TIFF":
        raise UnsupportedMediaError(path, "compression applies to TIFF only (PNG uses png_compression)")

    if fmt == "PNG":
        if not 0 <= png_compression <= 9:
            raise UnsupportedMediaError(path, f"png_compression must be 0..9, got {png_compression}")
        params = [cv2.IMWRITE_PNG_COMPRESSION, png_compression]
        if png_compression <= 3:
            # The SUB filter alone is about twice as fast as adaptive filtering at fast zlib levels.
            params += [cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_SUB]
        encoded = _cv2_encode(path, ".png", image, params)
        return _png_with_exif(encoded, exif) if exif else encoded

    if fmt == "JPEG":
        _require(path, not deep, "JPEG stores 8-bit samples only; use PNG or TIFF for 16-bit")
        _require(path, channels != 4, "JPEG has no alpha channel; drop it first or use PNG/WebP")
        if not 1 <= quality <= 100:
            raise UnsupportedMediaError(path, f"quality must be 1..100, got {quality}")
        if exif is None and qtables is None:
            params = [cv2.IMWRITE_JPEG_QUALITY, quality]
            if subsampling is not None:
                params += [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, _SUBSAMPLING[subsampling]]
            return _cv2_encode(path, ".jpg", image, params)
        options: dict[str, Any] = {}
        if qtables is not None:
            options["qtables"] = _qtable_list(path, qtables)  # exact tables: quality would rescale them
        else:
            options["quality"] = quality
        if subsampling is not None:
            options["subsampling"] = subsampling
        if exif is not None:
            options["exif"] = exif
        return _pil_encode(path, Image.fromarray(image), "JPEG", **options)

    if fmt == "TIFF":
        try:
            scheme = TiffCompression(compression or TiffCompression.NONE)
        except ValueError:
            valid = ", ".join(member.value for member in TiffCompression)
            raise UnsupportedMediaError(
                path, f"TIFF compression {compression!r} is not one of {valid}"
            ) from None
        if scheme is TiffCompression.JPEG:
            _require(path, not deep and channels != 4, "JPEG-compressed TIFF takes 8-bit gray or RGB only")
            return _pil_encode(path, Image.fromarray(image), "TIFF", compression="jpeg", quality=quality)
        return _cv2_encode(path, ".tiff", image, [cv2.IMWRITE_TIFF_COMPRESSION, _TIFF_CV2_CODES[scheme]])

    if fmt == "BMP":
        _require(
            path, not deep and channels != 4, "BMP is written as 8-bit gray or RGB; use PNG for alpha/16-bit"
        )
        return _cv2_encode(path, ".bmp", image, [])

    # WEBP
    _require(path, not deep, "WebP stores 8-bit samples only")
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)  # WebP has no gray layout
    # exact: keep the colour under fully transparent pixels, which libwebp would otherwise rewrite.
    options = {"quality": quality, "lossless": lossless, "exact": lossless}
    if exif is not None:
        options["exif"] = exif
    return _pil_encode(path, Image.fromarray(image), "WEBP", **options)


def write_image(
    path: PathLike,
    pixels: Pixels,
    *,
    format: str | None = None,
    quality: int = 95,
    exif: bytes | None = None,
    qtables: QTables | None = None,
    subsampling: str | None = None,
    compression: TiffCompression | str | None = None,
    png_compression: int = 1,
    lossless: bool = False,
) -> Path:
    """Encode ``pixels`` (H×W, H×W×3 RGB or H×W×4 RGBA; uint8 or uint16) and write them atomically.

    ``format`` defaults to the suffix's. PNG: 8/16-bit gray/RGB/RGBA, ``png_compression`` 0–9 (zlib level; the
    default 1 is fast). JPEG: 8-bit gray/RGB, ``quality``, ``subsampling`` (``'4:4:4'``, ``'4:2:2'``,
    ``'4:2:0'``), ``qtables`` (as from :func:`jpeg_quantization_tables`; written exactly, ``quality`` is then
    ignored). TIFF: ``compression`` one of :class:`TiffCompression`. BMP: 8-bit gray/RGB. WebP: 8-bit, gray is
    stored as RGB, ``lossless`` for exact pixels. ``exif`` (bytes) for JPEG, PNG and WebP, written as given.
    Nothing is written when encoding fails; a failed write leaves no temporary file and an existing target
    untouched.
    """
    target = Path(path)
    data = encode_image(
        pixels,
        format=_format_for(target, format),
        quality=quality,
        exif=exif,
        qtables=qtables,
        subsampling=subsampling,
        compression=compression,
        png_compression=png_compression,
        lossless=lossless,
        name=target,
    )
    return atomic_write_bytes(target, data)
