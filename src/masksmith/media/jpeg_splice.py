"""Edit a JPEG without re-encoding what was not edited: only the MCUs a mask touches get new coefficients.

A baseline or progressive YCbCr/gray JPEG is read as quantised DCT coefficients (through libjpeg, by the
``jpeglib`` package). For every MCU (the 8×8 block group of one sampling unit: 8×8, 16×8 or 16×16 luma pixels
for 4:4:4, 4:2:2 and 4:2:0) that a changed pixel touches, the edited pixels are converted to YCbCr,
downsampled like the input, transformed and quantised with the input's own tables; every other block keeps its
coefficients exactly, so it decodes bit-identical to the input with the same decoder. Decoders that blend
chroma across block borders ("fancy upsampling") may still move pixels of the MCU next to a touched one by a
level or so; the coefficients are the guarantee.

The output is baseline with optimised Huffman tables. Markers: the JFIF header and an ICC profile are kept,
the EXIF block is replaced by the one given (None drops it), XMP, IPTC and comments are dropped (they may hold
personal data the caller has not vetted).
"""

from __future__ import annotations

import os
import struct
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from masksmith.errors import MediaError, UnsupportedMediaError

__all__ = ["SplicedJpeg", "is_available", "splice_jpeg", "touched_mcus"]

_ORIENT_BACK: Final = {
    # displayed → stored: the inverse of the EXIF orientation that was applied when decoding
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: a[:, ::-1].swapaxes(0, 1),
    7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
    8: lambda a: a[::-1].swapaxes(0, 1),
}
_GRAYSCALE: Final = 1  # libjpeg's J_COLOR_SPACE values
_YCBCR: Final = 3
_APP0: Final = 0xE0
_APP1: Final = 0xE1
_APP2: Final = 0xE2
_ICC: Final = b"ICC_PROFILE\x00"
_EXIF: Final = b"Exif\x00\x00"


#: The libjpeg build of ``jpeglib`` used: libjpeg-turbo 2.1, much the fastest of those it ships.
LIBJPEG = "turbo210"
_SETUP = threading.Lock()
_ready: bool | None = None


def is_available() -> bool:
    """True when the ``jpeglib`` package (libjpeg bindings) is installed (it is set up on first use)."""
    global _ready
    with _SETUP:
        if _ready is None:
            try:
                import jpeglib

                if LIBJPEG in jpeglib.version.versions():
                    jpeglib.version.set(LIBJPEG)
                _ready = True
            except ImportError:
                _ready = False
        return _ready


@dataclass(frozen=True)
class SplicedJpeg:
    """The new file's bytes and how many MCUs of how many were re-encoded."""

    data: bytes
    touched: int
    total: int


def _dct_matrix() -> npt.NDArray[np.float64]:
    k = np.arange(8)
    matrix = np.cos((2 * k[None, :] + 1) * k[:, None] * np.pi / 16) * np.sqrt(2 / 8)
    matrix[0] /= np.sqrt(2)
    result: npt.NDArray[np.float64] = matrix
    return result


_DCT: Final = _dct_matrix()


def touched_mcus(changed: npt.NDArray[np.bool_], mcu: tuple[int, int]) -> npt.NDArray[np.bool_]:
    """Which MCUs (rows × columns of ``mcu`` = (height, width) pixels) hold at least one changed pixel."""
    height, width = changed.shape
    mh, mw = mcu
    rows, cols = -(-height // mh), -(-width // mw)
    padded = np.zeros((rows * mh, cols * mw), dtype=bool)
    padded[:height, :width] = changed
    result: npt.NDArray[np.bool_] = np.asarray(padded.reshape(rows, mh, cols, mw).any(axis=(1, 3)))
    return result


def _ycbcr(rgb: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    """JFIF full-range YCbCr, level-shifted by -128 (what the forward DCT takes)."""
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    y = 0.299 * r + 0.587 * g + 0.114 * b - 128
    cb = -0.168735892 * r - 0.331264108 * g + 0.5 * b
    cr = 0.5 * r - 0.418687589 * g - 0.081312411 * b
    return np.stack([y, cb, cr], axis=-1)


def _quantised_blocks(
    plane: npt.NDArray[np.float64], table: npt.NDArray[Any], by: int, bx: int
) -> npt.NDArray[np.int16]:
    """(k, H, W) planes of ``by``×``bx`` blocks → (k, by, bx, 8, 8) quantised coefficients."""
    k = plane.shape[0]
    blocks = plane.reshape(k, by, 8, bx, 8).transpose(0, 1, 3, 2, 4)
    coefficients = _DCT @ blocks @ _DCT.T
    quantised = np.rint(coefficients / table.astype(np.float64))
    result: npt.NDArray[np.int16] = np.clip(quantised, -2047, 2047).astype(np.int16)
    return result


def _read_dct(data: bytes, folder: str, source: str) -> Any:
    import jpeglib

    path = os.path.join(folder, "in.jpg")
    with open(path, "wb") as handle:
        handle.write(data)
    try:
        jpeg = jpeglib.read_dct(path)
        jpeg.load()
    except Exception as exc:  # jpeglib raises IOError/RuntimeError subclasses for libjpeg failures
        raise MediaError(source, "unreadable", f"DCT coefficients could not be read ({exc})") from exc
    return jpeg


def _segments(data: bytes) -> list[tuple[int, bytes]]:
    """(marker, payload) of the APPn/COM segments before the first frame header."""
    out: list[tuple[int, bytes]] = []
    at = 2
    while at + 4 <= len(data) and data[at] == 0xFF:
        marker = data[at + 1]
        if not (0xE0 <= marker <= 0xEF or marker == 0xFE):
            break
        length = struct.unpack(">H", data[at + 2 : at + 4])[0]
        out.append((marker, data[at + 4 : at + 2 + length]))
        at += 2 + length
    return out


def _segment(marker: int, payload: bytes) -> bytes:
    if len(payload) + 2 > 0xFFFF:
        raise UnsupportedMediaError(
            "<exif>", f"a marker segment of {len(payload)} bytes does not fit in JPEG"
        )
    return bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload


def _with_markers(encoded: bytes, original: bytes, exif: bytes | None) -> bytes:
    """``encoded`` with its JFIF header, then the EXIF block and the original's ICC chunks, then the rest."""
    leading = _segments(encoded)
    rest = encoded[2 + sum(len(payload) + 4 for _, payload in leading) :]
    head = b"".join(_segment(m, p) for m, p in leading if m == _APP0)
    if exif is not None:
        head += _segment(_APP1, exif if exif.startswith(_EXIF) else _EXIF + exif)
    for marker, payload in _segments(original):
        if marker == _APP2 and payload.startswith(_ICC):
            head += _segment(marker, payload)
    return b"\xff\xd8" + head + rest


def _stored(pixels: npt.NDArray[Any], orientation: int) -> npt.NDArray[Any]:
    back = _ORIENT_BACK.get(orientation)
    return pixels if back is None else np.ascontiguousarray(back(pixels))


def splice_jpeg(
    original: bytes,
    pixels: npt.NDArray[Any],
    changed: npt.NDArray[np.bool_],
    *,
    exif: bytes | None = None,
    orientation: int = 1,
    source: str = "<bytes>",
) -> SplicedJpeg:
    """The JPEG ``original`` with the MCUs that ``changed`` touches re-encoded from ``pixels``.

    ``pixels`` (H×W×3 RGB, or H×W for a gray JPEG) and ``changed`` are the decoded image after edits, turned
    upright for EXIF ``orientation`` if the decoder did so (they are turned back here). ``exif`` replaces the
    EXIF block (None: none). Raises UnsupportedMediaError for CMYK/YCCK JPEGs, a missing ``jpeglib`` or pixels
    that do not match the file, MediaError when libjpeg cannot read it.
    """
    if not is_available():
        raise UnsupportedMediaError(source, "lossless JPEG editing needs the jpeglib package")
    pixels = _stored(pixels, orientation)
    changed = _stored(changed, orientation)
    with tempfile.TemporaryDirectory(prefix="masksmith-jpeg-") as folder:
        jpeg = _read_dct(original, folder, source)
        height, width = int(jpeg.height), int(jpeg.width)
        gray = jpeg.Cb is None
        space = int(jpeg.jpeg_color_space)
        if space not in (_GRAYSCALE, _YCBCR) or jpeg.K is not None or (not gray and jpeg.Cr is None):
            raise UnsupportedMediaError(source, "only gray and YCbCr JPEGs can be edited losslessly")
        if gray and pixels.ndim == 3:  # a gray JPEG decoded to RGB: its luma is what is stored
            pixels = _ycbcr(pixels[..., :3])[..., 0] + 128
        expected = (height, width) if gray else (height, width, 3)
        if pixels.shape != expected or changed.shape != (height, width):
            raise UnsupportedMediaError(
                source, f"pixels {pixels.shape} do not match the JPEG's {width}×{height} samples"
            )
        factors = np.asarray(jpeg.samp_factor).reshape(-1, 2)  # per component: (vertical, horizontal)
        vmax, hmax = int(factors[:, 0].max()), int(factors[:, 1].max())
        mh, mw = 8 * vmax, 8 * hmax
        touched = touched_mcus(changed, (mh, mw))
        total = int(touched.size)
        my, mx = np.nonzero(touched)
        if my.size:
            _replace_blocks(jpeg, pixels, (my, mx), (mh, mw), factors, gray)
        jpeg.markers = []
        jpeg.content = None  # every parameter is set: libjpeg need not read the input a third time
        out_path = os.path.join(folder, "out.jpg")
        try:
            jpeg.write_dct(out_path, flags=["+optimize_coding"])
        except Exception as exc:
            raise MediaError(source, "write failed", f"libjpeg could not write ({exc})") from exc
        encoded = Path(out_path).read_bytes()
    return SplicedJpeg(_with_markers(encoded, original, exif), int(my.size), total)


def _replace_blocks(
    jpeg: Any,
    pixels: npt.NDArray[Any],
    where: tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]],
    mcu: tuple[int, int],
    factors: npt.NDArray[Any],
    gray: bool,
) -> None:
    my, mx = where
    mh, mw = mcu
    height, width = pixels.shape[:2]
    # Gather the touched MCUs' pixels; clipping the indices repeats the last row/column as libjpeg pads.
    rows = np.clip(my[:, None] * mh + np.arange(mh)[None, :], 0, height - 1)
    cols = np.clip(mx[:, None] * mw + np.arange(mw)[None, :], 0, width - 1)
    tiles = pixels[rows[:, :, None], cols[:, None, :]]  # (k, mh, mw[, 3])
    planes = tiles.astype(np.float64)[..., None] - 128 if gray else _ycbcr(tiles)
    components = ("Y",) if gray else ("Y", "Cb", "Cr")
    tables = np.asarray(jpeg.qt)
    numbers = list(jpeg.quant_tbl_no) if jpeg.quant_tbl_no is not None else [0, 1, 1]
    vmax, hmax = mh // 8, mw // 8
    for index, name in enumerate(components):
        v, h = int(factors[index, 0]), int(factors[index, 1])
        plane = planes[..., index]
        fy, fx = vmax // v, hmax // h
        if fy > 1 or fx > 1:
            k = plane.shape[0]
            plane = plane.reshape(k, 8 * v, fy, 8 * h, fx).mean(axis=(2, 4))
        coefficients = _quantised_blocks(plane, tables[int(numbers[index])], v, h)
        array = getattr(jpeg, name)
        block_rows = my[:, None, None] * v + np.arange(v)[None, :, None]
        block_cols = mx[:, None, None] * h + np.arange(h)[None, None, :]
        block_rows, block_cols = np.broadcast_arrays(block_rows, block_cols)
        inside = (block_rows < array.shape[0]) & (block_cols < array.shape[1])
        array[block_rows[inside], block_cols[inside]] = coefficients[inside]
        setattr(jpeg, name, array)
