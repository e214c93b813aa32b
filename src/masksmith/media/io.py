"""Read and write image files: sniffing, EXIF orientation, 16-bit/RGBA/gray/CMYK, bomb guard, atomic writes.

This is the one place in the core that touches image files. Pixels come back as numpy arrays in the house
layout: H×W (gray), H×W×3 (RGB) or H×W×4 (RGBA), ``uint8`` or ``uint16``.

Decoding takes the faster library where it is correct (measured at 1920×1080): OpenCV decodes JPEG (RGB and
gray) and PNG, Pillow reads every header (size, EXIF, ICC, quantisation tables) and decodes CMYK JPEG, TIFF,
BMP and WebP. Pillow's 8-bit view of 16-bit colour TIFF is avoided by decoding those with OpenCV. Encoding
uses OpenCV for PNG, plain JPEG, BMP and most TIFF; Pillow where only it can (JPEG with EXIF or explicit
quantisation tables, JPEG-compressed TIFF, WebP).

Writing lives in :mod:`masksmith.media.image_write` and the shared format names in
:mod:`masksmith.media.image_formats`; both are re-exported here, the one import path for image files.
"""

from __future__ import annotations

import contextlib
import io
import os
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

import cv2
import numpy as np
from PIL import (
    BmpImagePlugin,
    Image,
    ImageFile,
    JpegImagePlugin,
    PngImagePlugin,
    TiffImagePlugin,
    WebPImagePlugin,
)

from masksmith.errors import ConfigError, MediaError, UnsupportedMediaError
from masksmith.media.image_formats import SUPPORTED_FORMATS, PathLike, Pixels, normalise_exif
from masksmith.media.image_write import (
    QTables,
    TiffCompression,
    atomic_path,
    atomic_write_bytes,
    encode_image,
    write_image,
)

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "MAX_PIXELS_ENV",
    "SUPPORTED_FORMATS",
    "ImageInfo",
    "LoadedImage",
    "PathLike",
    "Pixels",
    "QTables",
    "TiffCompression",
    "atomic_path",
    "atomic_write_bytes",
    "decode_image",
    "encode_image",
    "image_format",
    "jpeg_quantization_tables",
    "jpeg_subsampling",
    "read_bytes",
    "read_exif",
    "read_image",
    "read_image_size",
    "resolve_max_pixels",
    "write_image",
]


DEFAULT_MAX_PIXELS: Final = 250_000_000
"""Images with more pixels than this are refused before decoding (decompression-bomb guard)."""
MAX_PIXELS_ENV: Final = "MASKSMITH_MAX_PIXELS"
"""Environment variable that overrides :data:`DEFAULT_MAX_PIXELS` (an explicit ``max_pixels`` wins)."""

_PIL_SUBSAMPLING_NAMES: Final = {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}
_PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
_PNG_IEND: Final = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_ORIENTATION_TAG: Final = 0x0112


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """What was read: the true (sniffed) format, the returned layout and the file's metadata.

    ``width``, ``height``, ``channels`` and ``dtype`` describe the returned pixels (after orientation and any
    ``mode`` conversion). ``source_mode`` is the layout in the file in Pillow's spelling (``'CMYK'``, ``'P'``,
    ``'I;16'``), with ``';16'`` appended for 16-bit colour (``'RGB;16'``). ``exif`` is the raw EXIF block as
    stored (``b'Exif\\0\\0'`` + TIFF data; its orientation tag is left as found), ``None`` for TIFF files,
    whose tags are not an EXIF block.
    """

    path: str
    format: str
    width: int
    height: int
    channels: int
    dtype: str
    source_mode: str
    orientation: int
    orientation_applied: bool
    exif: bytes | None
    icc_profile: bytes | None


@dataclass(frozen=True, slots=True)
class LoadedImage:
    """Decoded pixels (a fresh, writable array owned by the caller) and what was learnt reading them."""

    pixels: Pixels
    info: ImageInfo


# --------------------------------------------------------------------------------------------------- limits


def resolve_max_pixels(max_pixels: int | None = None) -> int:
    """The pixel limit in force: ``max_pixels`` if given, else ``$MASKSMITH_MAX_PIXELS``, else the default."""
    if max_pixels is not None:
        if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels <= 0:
            raise ConfigError(f"must be a positive integer, got {max_pixels!r}", argument="max_pixels")
        return max_pixels
    raw = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_PIXELS
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        value = 0
    if value <= 0:
        raise ConfigError(f"must be a positive integer, got {raw!r}", argument=MAX_PIXELS_ENV)
    return value


# Pillow has its own, lower bomb limit (about 179 MP raises) that some plugins apply while opening. Our guard
# runs first, so Pillow's is lifted (briefly, under a lock) only to retry an image our limit allows.
_PIL_LIMIT_LOCK = threading.Lock()


@contextlib.contextmanager
def _pil_limit_lifted() -> Iterator[None]:
    with _PIL_LIMIT_LOCK:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


# ---------------------------------------------------------------------------------------------- sniffing


def _sniff(head: bytes) -> str | None:
    """The supported format named by the leading bytes, or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(_PNG_SIGNATURE):
        return "PNG"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "TIFF"
    if head.startswith(b"BM") and len(head) >= 18:
        return "BMP"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "WEBP"
    return None


def _sniff_other(head: bytes) -> str | None:
    """A recognised image format this module does not decode, or None."""
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"avif", b"avis"):
            return "AVIF"
        if brand in (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"):
            return "HEIF"
        if brand == b"jp2 ":
            return "JPEG 2000"
    if head.startswith((b"\x00\x00\x00\x0cjP  \r\n\x87\n", b"\xff\x4f\xff\x51")):
        return "JPEG 2000"
    if head.startswith((b"\xff\x0a", b"\x00\x00\x00\x0cJXL \r\n\x87\n")):
        return "JPEG XL"
    if head.startswith(b"8BPS"):
        return "PSD"
    if head.startswith(b"\x00\x00\x01\x00") and len(head) >= 6 and head[4:6] != b"\x00\x00":
        return "ICO"
    if head.startswith(b"qoif"):
        return "QOI"
    if head[:2] in (b"P1", b"P2", b"P3", b"P4", b"P5", b"P6") and head[2:3] in (b"\n", b" ", b"\r", b"\t"):
        return "PNM"
    return None


def _classify(path: str, head: bytes) -> str:
    """The supported format of ``head`` or the right MediaError for anything else."""
    if not head:
        raise MediaError(path, "empty", "0 bytes")
    fmt = _sniff(head)
    if fmt is not None:
        return fmt
    other = _sniff_other(head)
    if other is not None:
        raise UnsupportedMediaError(path, f"{other} is not one of {', '.join(SUPPORTED_FORMATS)}")
    raise MediaError(path, "not an image", "content matches no image format")


_HEAD = 32  # bytes enough to tell every supported format apart


def _read(path: str, size: int = -1) -> bytes:
    """The file's bytes (the first ``size`` when given); a MediaError naming the file otherwise."""
    try:
        with open(path, "rb") as handle:
            return handle.read(size)
    except FileNotFoundError:
        raise MediaError(path, "not found") from None
    except IsADirectoryError:
        raise MediaError(path, "not an image", "is a directory") from None
    except OSError as err:
        raise MediaError(path, "unreadable", err.strerror or str(err)) from err


def read_bytes(path: PathLike) -> bytes:
    """The whole file; a MediaError naming it (``not found``, ``unreadable``) when it cannot be read."""
    return _read(os.fspath(path))


def image_format(path: PathLike) -> str:
    """The true format of the file at ``path`` from its content (``'JPEG'``, ``'PNG'``, ``'TIFF'``, ``'BMP'``,
    ``'WEBP'``), whatever its extension; raises MediaError for anything else."""
    name = os.fspath(path)
    return _classify(name, _read(name, _HEAD))


# ------------------------------------------------------------------------------------ structural checks


def _missing_data(fmt: str, data: bytes) -> str | None:
    """Why ``data`` is visibly cut short, or None. Decoders check too; this gives a clear reason cheaply."""
    size = len(data)
    if fmt == "JPEG":
        pos = 2
        while pos + 4 <= size:
            if data[pos] != 0xFF:
                return None  # junk between segments: leave the verdict to the decoder
            marker = data[pos + 1]
            if marker == 0xFF:
                pos += 1
            elif 0xD0 <= marker <= 0xD7 or marker == 0x01:
                pos += 2
            elif marker == 0xDA:
                # Entropy-coded data stuffs 0xFF bytes: 0xFFD9 after the first scan is the end marker.
                return None if data.rfind(b"\xff\xd9", pos) >= 0 else "no end-of-image marker"
            else:
                pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
        return "ends inside the header"
    if fmt == "PNG":
        if data.endswith(_PNG_IEND) or data.rfind(b"IEND", 8) >= 0:
            return None
        return "no IEND chunk"
    if fmt == "WEBP":
        declared = int.from_bytes(data[4:8], "little") + 8
        return f"{size} of {declared} bytes" if size < declared else None
    if fmt == "TIFF" and size >= 8 and data[2:4] in (b"*\x00", b"\x00*"):
        offset = int.from_bytes(data[4:8], "little" if data[:2] == b"II" else "big")
        return "first directory lies past the end" if offset >= size else None
    return None


# ------------------------------------------------------------------------------------------ header open

_PLUGINS: Final[dict[str, type[ImageFile.ImageFile]]] = {
    "JPEG": JpegImagePlugin.JpegImageFile,
    "PNG": PngImagePlugin.PngImageFile,
    "TIFF": TiffImagePlugin.TiffImageFile,
    "BMP": BmpImagePlugin.BmpImageFile,
    "WEBP": WebPImagePlugin.WebPImageFile,
}


def _pil_failure(path: str, fmt: str, err: BaseException, data: bytes | None) -> MediaError:
    """Turn a Pillow/OpenCV failure into the MediaError that says why."""
    text = str(err) or type(err).__name__
    lowered = text.lower()
    if data is not None:
        missing = _missing_data(fmt, data)
        if missing is not None:
            return MediaError(path, "truncated", missing)
    if (
        "truncated" in lowered
        or isinstance(err, EOFError | struct.error)
        or "buffer is not large enough" in lowered
    ):
        return MediaError(path, "truncated", text)
    if "not available" in lowered or "unsupported" in lowered or "not supported" in lowered:
        return UnsupportedMediaError(path, f"{fmt}: {text}")
    return MediaError(path, "unreadable", f"{fmt}: {text}")


def _open_header(path: str, fmt: str, source: Any, data: bytes | None) -> ImageFile.ImageFile:
    """Parse the header only (no pixel decoding) with the plugin for the sniffed format."""
    plugin = _PLUGINS[fmt]
    try:
        try:
            return plugin(source)
        except Image.DecompressionBombError:
            if hasattr(source, "seek"):
                source.seek(0)
            with _pil_limit_lifted():
                return plugin(source)
    except MediaError:
        raise
    except (
        Exception
    ) as err:  # Pillow raises SyntaxError, OSError, struct.error, ValueError, ... on bad headers
        raise _pil_failure(path, fmt, err, data) from err


def _guard_size(path: str, width: int, height: int, max_pixels: int | None) -> None:
    limit = resolve_max_pixels(max_pixels)
    if width * height > limit:
        raise MediaError(path, "too large", f"{width}×{height} = {width * height:,} pixels, limit {limit:,}")


def _exif_of(im: ImageFile.ImageFile, fmt: str) -> bytes | None:
    if fmt == "TIFF":
        return None
    raw = im.info.get("exif")
    return normalise_exif(raw if isinstance(raw, bytes) else None)


def _orientation_of(im: ImageFile.ImageFile, fmt: str, exif: bytes | None) -> int:
    value: object = None
    if fmt == "TIFF":
        value = getattr(im, "tag_v2", {}).get(274)
    elif exif is not None:
        try:
            parsed = Image.Exif()
            parsed.load(exif)
            value = parsed.get(_ORIENTATION_TAG)
        except Exception:  # a corrupt EXIF block must not make a good image unreadable
            value = None
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _stored_size(im: ImageFile.ImageFile, fmt: str, orientation: int) -> tuple[int, int]:
    """(width, height) as stored; Pillow's TIFF plugin reports (and later decodes) TIFFs already oriented."""
    width, height = im.size
    return (height, width) if fmt == "TIFF" and orientation >= 5 else (width, height)


def _source_mode(im: ImageFile.ImageFile) -> str:
    mode = str(im.mode)
    if mode in ("RGB", "RGBA", "LA") and _is_deep_colour(im):
        return f"{mode};16"
    return mode


def _is_deep_colour(im: ImageFile.ImageFile) -> bool:
    """True for 16-bit colour files that Pillow would silently narrow to 8 bits."""
    for tile in im.tile:
        args = tile.args
        rawmode = args[0] if isinstance(args, tuple) and args else args
        if isinstance(rawmode, str) and ";16" in rawmode:
            return True
    return False


def read_image_size(path: PathLike, *, oriented: bool = False) -> tuple[int, int]:
    """``(width, height)`` from the header alone; with ``oriented`` as displayed after EXIF orientation."""
    name = os.fspath(path)
    fmt = _classify(name, _read(name, _HEAD))
    with open(name, "rb") as handle:
        im = _open_header(name, fmt, handle, None)
        orientation = _orientation_of(im, fmt, _exif_of(im, fmt))
        width, height = _stored_size(im, fmt, orientation)
    return (height, width) if oriented and orientation >= 5 else (width, height)


def read_exif(path: PathLike) -> bytes | None:
    """The file's EXIF block (``b'Exif\\0\\0'`` + TIFF data) as stored, or None (always None for TIFF)."""
    name = os.fspath(path)
    fmt = _classify(name, _read(name, _HEAD))
    with open(name, "rb") as handle:
        return _exif_of(_open_header(name, fmt, handle, None), fmt)


def _open_jpeg_header(path: PathLike) -> tuple[str, ImageFile.ImageFile, io.BufferedReader]:
    name = os.fspath(path)
    fmt = _classify(name, _read(name, _HEAD))
    if fmt != "JPEG":
        raise UnsupportedMediaError(name, f"only JPEG files have quantisation tables, this is {fmt}")
    handle = open(name, "rb")  # noqa: SIM115 - closed by the caller's ExitStack
    return name, _open_header(name, fmt, handle, None), handle


def jpeg_quantization_tables(path: PathLike) -> list[list[int]]:
    """The JPEG's quantisation tables in table-id order, each 64 values in natural (row-major) order.

    Passing them as ``qtables`` to :func:`write_image` reproduces them exactly.
    """
    _, im, handle = _open_jpeg_header(path)
    with handle:
        tables = getattr(im, "quantization", None) or {}
        return [list(tables[key]) for key in sorted(tables)]


def jpeg_subsampling(path: PathLike) -> str | None:
    """The JPEG's chroma subsampling (``'4:4:4'``, ``'4:2:2'``, ``'4:2:0'``); None for gray or others."""
    _, im, handle = _open_jpeg_header(path)
    with handle:
        return _PIL_SUBSAMPLING_NAMES.get(JpegImagePlugin.get_sampling(im))


# ---------------------------------------------------------------------------------------------- decoding


def read_image(
    path: PathLike,
    *,
    max_pixels: int | None = None,
    apply_orientation: bool = True,
    mode: str | None = None,
) -> LoadedImage:
    """Read an image file, whatever its extension says.

    ``max_pixels`` (default :func:`resolve_max_pixels`) is checked against the header before any decoding.
    ``apply_orientation`` turns the pixels upright per the EXIF orientation tag. ``mode`` None keeps the
    file's layout (gray, RGB or RGBA; palette and CMYK become RGB/RGBA); ``'GRAY'``, ``'RGB'`` or ``'RGBA'``
    converts.
    Raises MediaError with reason ``not found``, ``empty``, ``truncated``, ``not an image``, ``unsupported``
    (UnsupportedMediaError), ``too large`` or ``unreadable``.
    """
    name = os.fspath(path)
    if mode is not None:
        _check_mode(mode)
    return decode_image(
        _read(name), source=name, max_pixels=max_pixels, apply_orientation=apply_orientation, mode=mode
    )


def decode_image(
    data: bytes,
    *,
    source: str = "<bytes>",
    max_pixels: int | None = None,
    apply_orientation: bool = True,
    mode: str | None = None,
) -> LoadedImage:
    """Decode an encoded image held in memory; ``source`` names it in errors and in ``info.path``."""
    if mode is not None:
        _check_mode(mode)
    fmt = _classify(source, bytes(data[:32]))
    missing = _missing_data(fmt, data)
    if missing is not None:
        raise MediaError(source, "truncated", missing)
    im = _open_header(source, fmt, io.BytesIO(data), data)
    exif = _exif_of(im, fmt)
    orientation = _orientation_of(im, fmt, exif)
    width, height = _stored_size(im, fmt, orientation)
    _guard_size(source, width, height, max_pixels)
    icc = im.info.get("icc_profile")
    source_mode = _source_mode(im)

    pixels, oriented = _decode_pixels(source, fmt, im, data)
    applied = apply_orientation and orientation != 1
    if oriented and not applied and orientation != 1:
        pixels = _orient(pixels, _INVERSE_ORIENTATION.get(orientation, orientation))
    elif applied and not oriented:
        pixels = _orient(pixels, orientation)
    if mode is not None:
        pixels = _convert(pixels, mode)
    if not pixels.flags.writeable or not pixels.flags.c_contiguous:
        pixels = np.array(pixels, order="C")
    info = ImageInfo(
        path=source,
        format=fmt,
        width=int(pixels.shape[1]),
        height=int(pixels.shape[0]),
        channels=1 if pixels.ndim == 2 else int(pixels.shape[2]),
        dtype=str(pixels.dtype),
        source_mode=source_mode,
        orientation=orientation,
        orientation_applied=applied,
        exif=exif,
        icc_profile=icc if isinstance(icc, bytes) and icc else None,
    )
    return LoadedImage(pixels=pixels, info=info)


def _decode_pixels(source: str, fmt: str, im: ImageFile.ImageFile, data: bytes) -> tuple[Pixels, bool]:
    """The stored pixels, and whether the decoder already applied the EXIF orientation (Pillow's TIFF)."""
    use_cv2 = (
        (fmt == "JPEG" and im.mode in ("L", "RGB")) or fmt == "PNG" or (fmt == "TIFF" and _is_deep_colour(im))
    )
    if use_cv2:
        if fmt == "JPEG":
            flags = (
                cv2.IMREAD_GRAYSCALE if im.mode == "L" else cv2.IMREAD_COLOR_RGB
            ) | cv2.IMREAD_IGNORE_ORIENTATION
        else:
            flags = cv2.IMREAD_UNCHANGED  # keeps depth and alpha, ignores EXIF orientation
        try:
            decoded = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
        except cv2.error:
            decoded = None
        if decoded is not None and decoded.dtype in (np.uint8, np.uint16):
            pixels: Pixels = decoded
            if fmt != "JPEG" and decoded.ndim == 3:
                code = cv2.COLOR_BGR2RGB if decoded.shape[2] == 3 else cv2.COLOR_BGRA2RGBA
                pixels = cv2.cvtColor(decoded, code)
            return pixels, False
        # OpenCV gave up: let Pillow decode, which either succeeds or says precisely why not.
    if _is_deep_colour(im):
        raise MediaError(source, "unreadable", f"{fmt}: 16-bit colour data could not be decoded")
    try:
        try:
            im.load()
        except Image.DecompressionBombError:
            with _pil_limit_lifted():
                im.load()
        return _pil_to_array(source, fmt, im), fmt == "TIFF"
    except MediaError:
        raise
    except Exception as err:  # Pillow raises OSError, SyntaxError, ValueError, ... on broken data
        raise _pil_failure(source, fmt, err, data) from err


def _pil_to_array(source: str, fmt: str, im: Image.Image) -> Pixels:
    mode = im.mode
    if mode in ("L", "RGB", "RGBA"):
        return np.asarray(im)
    if mode.startswith("I;16"):
        return np.asarray(im).astype(np.uint16)  # native byte order, whatever the file's
    if mode == "1":
        return np.asarray(im.convert("L"))
    if mode == "P":
        return np.asarray(im.convert("RGBA" if im.has_transparency_data else "RGB"))
    if mode in ("LA", "La", "PA", "RGBa"):
        return np.asarray(im.convert("RGBA"))
    if mode == "RGBX":
        return np.asarray(im.convert("RGB"))
    if mode == "CMYK":
        if fmt == "JPEG" and "adobe" not in im.info:
            # Pillow always decodes CMYK JPEG with Adobe's inverted polarity; without an Adobe marker the
            # samples are stored plain, so undo that inversion first.
            im = Image.fromarray(255 - np.asarray(im), "CMYK")
        return np.asarray(im.convert("RGB"))
    raise UnsupportedMediaError(source, f"{fmt} with {mode!r} samples (only 8/16-bit gray, RGB, RGBA, CMYK)")


_INVERSE_ORIENTATION: Final = {6: 8, 8: 6}  # the others undo themselves
_ORIENTERS: Final = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: a.swapaxes(0, 1)[:, ::-1],
    7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
    8: lambda a: a.swapaxes(0, 1)[::-1],
}


def _orient(pixels: Pixels, orientation: int) -> Pixels:
    """Pixels as displayed for an EXIF orientation (2–8; 6 = rotate 90° clockwise, 8 = counter-clockwise)."""
    result: Pixels = np.ascontiguousarray(_ORIENTERS[orientation](pixels))
    return result


_MODES: Final = ("GRAY", "RGB", "RGBA")


def _check_mode(mode: str) -> None:
    if mode not in _MODES:
        raise ConfigError(f"must be one of {', '.join(_MODES)} or None, got {mode!r}", argument="mode")


def _convert(pixels: Pixels, mode: str) -> Pixels:
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    codes = {
        (1, "RGB"): cv2.COLOR_GRAY2RGB,
        (1, "RGBA"): cv2.COLOR_GRAY2RGBA,
        (3, "GRAY"): cv2.COLOR_RGB2GRAY,
        (3, "RGBA"): cv2.COLOR_RGB2RGBA,
        (4, "GRAY"): cv2.COLOR_RGBA2GRAY,
        (4, "RGB"): cv2.COLOR_RGBA2RGB,
    }
    code = codes.get((channels, mode))
    if code is None:
        return pixels
    converted: Pixels = cv2.cvtColor(pixels, code)
    return converted
