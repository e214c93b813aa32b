"""masksmith.media.io: every format and layout, orientation, bomb guard, bad files, atomic writes."""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms, ImageFile, ImageOps

from masksmith.errors import ConfigError, MediaError, UnsupportedMediaError
from masksmith.media import io as mio

Array = np.ndarray


# ------------------------------------------------------------------------------------------------ helpers


def pillow_limit() -> int:
    assert Image.MAX_IMAGE_PIXELS is not None
    return Image.MAX_IMAGE_PIXELS


def smooth(rng: np.random.Generator, rows: int, cols: int, channels: int = 3) -> Array:
    """A smooth, non-flat uint8 image (JPEG keeps it within a few levels)."""
    small = rng.integers(0, 256, size=(rows // 16 + 2, cols // 16 + 2, channels), dtype=np.uint8)
    out = cv2.resize(small, (cols, rows), interpolation=cv2.INTER_CUBIC)
    return out.reshape(rows, cols, channels) if channels > 1 else out.reshape(rows, cols)


def pil_save(path: Path, image: Image.Image, fmt: str, **options: object) -> Path:
    image.save(path, fmt, **options)
    return path


def cv2_save_rgb(path: Path, pixels: Array) -> Path:
    """Write with OpenCV (the only writer here for 16-bit colour), converting RGB(A) to its BGR(A)."""
    bgr = pixels if pixels.ndim == 2 else pixels[..., [2, 1, 0, 3][: pixels.shape[2]]]
    assert cv2.imwrite(str(path), np.ascontiguousarray(bgr))
    return path


def independent_read(path: Path) -> Array:
    """Decode without masksmith: Pillow for 8-bit and 16-bit gray, OpenCV for 16-bit colour."""
    with Image.open(path) as im:
        deep = any(";16" in str(t.args) for t in im.tile)
        if im.mode in ("L", "RGB", "RGBA") and not deep:
            return np.asarray(im)
        if im.mode.startswith("I;16"):
            return np.asarray(im).astype(np.uint16)
    bgr: Array | None = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert bgr is not None
    return bgr if bgr.ndim == 2 else bgr[..., [2, 1, 0, 3][: bgr.shape[2]]]


def zigzag_order() -> list[int]:
    """Natural (row-major) index of each zigzag position of an 8×8 block, built by walking the diagonals."""
    order = []
    for diagonal in range(15):
        cells = [(r, diagonal - r) for r in range(8) if 0 <= diagonal - r < 8]
        order += [r * 8 + c for r, c in (cells if diagonal % 2 else cells[::-1])]
    return order


def raw_dqt_tables(data: bytes) -> list[list[int]]:
    """8-bit quantisation tables straight from the DQT segments, in zigzag order as stored."""
    tables: dict[int, list[int]] = {}
    pos = 2
    while pos + 4 <= len(data) and data[pos + 1] != 0xDA:
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if data[pos + 1] == 0xDB:
            segment = data[pos + 4 : pos + 2 + length]
            k = 0
            while k < len(segment):
                assert segment[k] >> 4 == 0, "test expects 8-bit tables"
                tables[segment[k] & 15] = list(segment[k + 1 : k + 65])
                k += 65
        pos += 2 + length
    return [tables[key] for key in sorted(tables)]


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def huge_png(width: int, height: int) -> bytes:
    """A well-formed PNG whose header claims width×height (the data is one tiny deflate stream)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + png_chunk(b"IEND", b"")
    )


def jpeg_with_size(data: bytes, width: int, height: int) -> bytes:
    """The JPEG with its SOF frame header rewritten to claim width×height."""
    pos = 2
    while True:
        marker = data[pos + 1]
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if marker in (0xC0, 0xC1, 0xC2):
            head = data[: pos + 5] + struct.pack(">HH", height, width)
            return head + data[pos + 9 :]
        pos += 2 + length


def bmp_with_size(data: bytes, width: int, height: int) -> bytes:
    return data[:18] + struct.pack("<ii", width, height) + data[26:]


def without_adobe_marker(data: bytes) -> bytes:
    """The JPEG with its APP14 'Adobe' segment removed."""
    pos = 2
    while data[pos + 1] != 0xDA:
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if data[pos + 1] == 0xEE:
            return data[:pos] + data[pos + 2 + length :]
        pos += 2 + length
    raise AssertionError("no Adobe marker")


def exif_bytes(**tags: int | str) -> bytes:
    exif = Image.Exif()
    names = {"orientation": 0x0112, "make": 0x010F, "software": 0x0131}
    for name, value in tags.items():
        exif[names[name]] = value
    return exif.tobytes()


def no_temp_files(directory: Path) -> bool:
    return not any(".tmp" in p.name for p in directory.iterdir())


# ----------------------------------------------------------------------------------- reading every layout

# Each case: (file name, function(rng, directory) -> (path, expected pixels), tolerance, source_mode)
ReadCase = Callable[[np.random.Generator, Path], tuple[Path, Array]]


def _plain(fmt: str, suffix: str, channels: int, **options: object) -> ReadCase:
    def make(rng: np.random.Generator, tmp: Path) -> tuple[Path, Array]:
        pixels = smooth(rng, 37, 53, channels)
        return pil_save(tmp / f"x{suffix}", Image.fromarray(pixels), fmt, **options), pixels

    return make


def _gray16(fmt: str, suffix: str) -> ReadCase:
    def make(rng: np.random.Generator, tmp: Path) -> tuple[Path, Array]:
        pixels = rng.integers(0, 65536, size=(29, 41), dtype=np.uint16)
        return pil_save(tmp / f"x{suffix}", Image.fromarray(pixels), fmt), pixels

    return make


def _colour16(suffix: str, channels: int) -> ReadCase:
    def make(rng: np.random.Generator, tmp: Path) -> tuple[Path, Array]:
        pixels = rng.integers(0, 65536, size=(29, 41, channels), dtype=np.uint16)
        return cv2_save_rgb(tmp / f"x{suffix}", pixels), pixels

    return make


def _palette(fmt: str, suffix: str, transparent: bool) -> ReadCase:
    def make(rng: np.random.Generator, tmp: Path) -> tuple[Path, Array]:
        palette = rng.integers(0, 256, size=(16, 3), dtype=np.uint8)
        index = rng.integers(0, 16, size=(23, 31), dtype=np.uint8)
        image = Image.fromarray(index, "P")
        image.putpalette(palette.ravel().tolist())
        expected = palette[index]
        options: dict[str, object] = {}
        if transparent:
            options["transparency"] = 5
            alpha = np.where(index == 5, 0, 255).astype(np.uint8)
            expected = np.dstack([expected, alpha])
        return pil_save(tmp / f"x{suffix}", image, fmt, **options), expected

    return make


def _gray_alpha(rng: np.random.Generator, tmp: Path) -> tuple[Path, Array]:
    gray, alpha = smooth(rng, 21, 33, 1), rng.integers(0, 256, size=(21, 33), dtype=np.uint8)
    path = pil_save(tmp / "x.png", Image.fromarray(np.dstack([gray, alpha]), "LA"), "PNG")
    return path, np.dstack([gray, gray, gray, alpha])


def _bilevel(fmt: str, suffix: str) -> ReadCase:
    def make(rng: np.random.Generator, tmp: Path) -> tuple[Path, Array]:
        bits = rng.random((19, 27)) > 0.5
        return pil_save(tmp / f"x{suffix}", Image.fromarray(bits), fmt), bits.astype(np.uint8) * 255

    return make


def _cmyk_tiff(rng: np.random.Generator, tmp: Path) -> tuple[Path, Array]:
    cmyk = rng.integers(0, 256, size=(17, 25, 4), dtype=np.uint8)
    path = pil_save(tmp / "x.tif", Image.fromarray(cmyk, "CMYK"), "TIFF")
    k = 255 - cmyk[..., 3:].astype(np.float64)
    return path, np.rint((255 - cmyk[..., :3]) * k / 255).astype(np.uint8)


READ_CASES: list[tuple[str, ReadCase, int, str, str]] = [
    # id, maker, tolerance, format, source mode
    ("png-gray", _plain("PNG", ".png", 1), 0, "PNG", "L"),
    ("png-rgb", _plain("PNG", ".png", 3), 0, "PNG", "RGB"),
    ("png-rgba", _plain("PNG", ".png", 4), 0, "PNG", "RGBA"),
    ("png-gray16", _gray16("PNG", ".png"), 0, "PNG", "I;16"),
    ("png-rgb16", _colour16(".png", 3), 0, "PNG", "RGB;16"),
    ("png-rgba16", _colour16(".png", 4), 0, "PNG", "RGBA;16"),
    ("png-palette", _palette("PNG", ".png", False), 0, "PNG", "P"),
    ("png-palette-transparent", _palette("PNG", ".png", True), 0, "PNG", "P"),
    ("png-gray-alpha", _gray_alpha, 0, "PNG", "LA"),
    ("png-bilevel", _bilevel("PNG", ".png"), 0, "PNG", "1"),
    ("tiff-gray", _plain("TIFF", ".tif", 1), 0, "TIFF", "L"),
    ("tiff-rgb-lzw", _plain("TIFF", ".tif", 3, compression="tiff_lzw"), 0, "TIFF", "RGB"),
    ("tiff-rgba", _plain("TIFF", ".tif", 4), 0, "TIFF", "RGBA"),
    ("tiff-gray16", _gray16("TIFF", ".tif"), 0, "TIFF", "I;16"),
    ("tiff-rgb16", _colour16(".tif", 3), 0, "TIFF", "RGB;16"),
    ("tiff-rgba16", _colour16(".tif", 4), 0, "TIFF", "RGBA;16"),
    ("tiff-palette", _palette("TIFF", ".tif", False), 0, "TIFF", "P"),
    ("tiff-cmyk", _cmyk_tiff, 1, "TIFF", "CMYK"),
    ("tiff-bilevel", _bilevel("TIFF", ".tif"), 0, "TIFF", "1"),
    ("bmp-gray", _plain("BMP", ".bmp", 1), 0, "BMP", "L"),
    ("bmp-rgb", _plain("BMP", ".bmp", 3), 0, "BMP", "RGB"),
    ("bmp-palette", _palette("BMP", ".bmp", False), 0, "BMP", "P"),
    ("webp-rgb", _plain("WEBP", ".webp", 3, lossless=True), 0, "WEBP", "RGB"),
    ("webp-rgba", _plain("WEBP", ".webp", 4, lossless=True, exact=True), 0, "WEBP", "RGBA"),
    ("jpeg-rgb", _plain("JPEG", ".jpg", 3, quality=95), 40, "JPEG", "RGB"),
    ("jpeg-gray", _plain("JPEG", ".jpg", 1, quality=95), 20, "JPEG", "L"),
]


@pytest.mark.parametrize(
    ("maker", "tolerance", "fmt", "source_mode"),
    [case[1:] for case in READ_CASES],
    ids=[case[0] for case in READ_CASES],
)
def test_reads_every_format_and_layout(
    rng: np.random.Generator, tmp_path: Path, maker: ReadCase, tolerance: int, fmt: str, source_mode: str
) -> None:
    path, expected = maker(rng, tmp_path)
    loaded = mio.read_image(path)
    assert loaded.pixels.shape == expected.shape
    assert loaded.pixels.dtype == expected.dtype
    diff = np.abs(loaded.pixels.astype(np.int64) - expected.astype(np.int64))
    assert diff.max() <= tolerance
    assert diff.mean() <= (3 if fmt == "JPEG" else 0.5)
    info = loaded.info
    assert (info.format, info.source_mode, info.dtype) == (fmt, source_mode, str(expected.dtype))
    assert (info.height, info.width) == expected.shape[:2]
    assert info.channels == (1 if expected.ndim == 2 else expected.shape[2])
    assert loaded.pixels.flags.writeable and loaded.pixels.flags.c_contiguous


def test_fast_jpeg_decode_matches_pillow(rng: np.random.Generator, tmp_path: Path) -> None:
    path = pil_save(tmp_path / "x.jpg", Image.fromarray(rng.integers(0, 256, (64, 96, 3), np.uint8)), "JPEG")
    with Image.open(path) as im:
        reference = np.asarray(im).astype(np.int64)
    assert np.abs(mio.read_image(path).pixels.astype(np.int64) - reference).max() <= 1


@pytest.mark.parametrize("adobe", [True, False], ids=["adobe-inverted", "plain"])
def test_cmyk_jpeg_gives_rgb(rng: np.random.Generator, tmp_path: Path, adobe: bool) -> None:
    cmyk = smooth(rng, 48, 64, 4)
    path = pil_save(tmp_path / "cmyk.jpg", Image.fromarray(cmyk, "CMYK"), "JPEG", quality=98)
    if not adobe:
        # The samples stay as libjpeg stored them (Adobe-inverted), but without the marker they mean 255 - x.
        path.write_bytes(without_adobe_marker(path.read_bytes()))
        cmyk = 255 - cmyk
    k = 255 - cmyk[..., 3:].astype(np.float64)
    expected = (255 - cmyk[..., :3]) * k / 255
    loaded = mio.read_image(path)
    assert loaded.info.source_mode == "CMYK" and loaded.pixels.shape == (48, 64, 3)
    assert np.abs(loaded.pixels - expected).mean() < 2.5
    assert np.abs(loaded.pixels - expected).max() < 24


# ----------------------------------------------------------------------------------------- orientation

# The stored pixels that display as `upright` under each EXIF orientation.
STORED_FOR: dict[int, Callable[[Array], Array]] = {
    1: lambda u: u,
    2: lambda u: u[:, ::-1],
    3: lambda u: u[::-1, ::-1],
    4: lambda u: u[::-1],
    5: lambda u: u.swapaxes(0, 1),
    6: lambda u: np.rot90(u, 1),  # shown rotated 90° clockwise
    7: lambda u: u[::-1, ::-1].swapaxes(0, 1),
    8: lambda u: np.rot90(u, -1),  # shown rotated 90° counter-clockwise
}


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "TIFF", "TIFF-LZW", "WEBP"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation(rng: np.random.Generator, tmp_path: Path, fmt: str, orientation: int) -> None:
    upright = smooth(rng, 48, 80, 3)
    upright[:16, :16] = (255, 0, 0)  # a red top-left corner makes every arrangement distinct
    stored = np.ascontiguousarray(STORED_FOR[orientation](upright))
    path = tmp_path / f"o{orientation}.{fmt.lower()}"
    if fmt.startswith("TIFF"):
        compression = "tiff_lzw" if fmt == "TIFF-LZW" else None
        pil_save(path, Image.fromarray(stored), "TIFF", tiffinfo={274: orientation}, compression=compression)
    else:
        options: dict[str, object] = {"lossless": True} if fmt == "WEBP" else {"quality": 97}
        pil_save(path, Image.fromarray(stored), fmt, exif=exif_bytes(orientation=orientation), **options)
    mean_tolerance = 3.0 if fmt == "JPEG" else 0.0  # a wrong arrangement is off by about 60

    loaded = mio.read_image(path)
    assert loaded.pixels.shape == upright.shape
    assert np.abs(loaded.pixels.astype(int) - upright).mean() <= mean_tolerance
    with Image.open(path) as im:  # Pillow's own transpose agrees
        assert np.abs(loaded.pixels.astype(int) - np.asarray(ImageOps.exif_transpose(im))).max() <= 1
    assert loaded.info.orientation == orientation
    assert loaded.info.orientation_applied is (orientation != 1)
    assert mio.read_image_size(path, oriented=True) == (80, 48)
    assert mio.read_image_size(path) == (stored.shape[1], stored.shape[0])

    raw = mio.read_image(path, apply_orientation=False)
    assert raw.pixels.shape == stored.shape and not raw.info.orientation_applied
    assert np.abs(raw.pixels.astype(int) - stored).mean() <= mean_tolerance


# ----------------------------------------------------------------------------------- decompression bombs


def _huge_jpeg(tmp: Path, width: int, height: int) -> bytes:
    small = pil_save(tmp / "small.jpg", Image.new("RGB", (16, 16), (10, 20, 30)), "JPEG")
    return jpeg_with_size(small.read_bytes(), width, height)


def _huge_bmp(tmp: Path, width: int, height: int) -> bytes:
    small = pil_save(tmp / "small.bmp", Image.new("RGB", (16, 16), (10, 20, 30)), "BMP")
    return bmp_with_size(small.read_bytes(), width, height)


@pytest.mark.parametrize(
    ("name", "build"),
    [
        ("bomb.png", lambda tmp, w, h: huge_png(w, h)),
        ("bomb.jpg", _huge_jpeg),
        ("bomb.bmp", _huge_bmp),
    ],
)
def test_bomb_refused_from_header_before_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, build: Callable[[Path, int, int], bytes]
) -> None:
    path = tmp_path / name
    path.write_bytes(build(tmp_path, 60000, 50000))
    assert mio.read_image_size(path) == (60000, 50000)

    def must_not_decode(*args: object, **kwargs: object) -> None:
        raise AssertionError("decoder called for a refused image")

    monkeypatch.setattr(cv2, "imdecode", must_not_decode)
    monkeypatch.setattr(ImageFile.ImageFile, "load", must_not_decode)
    with pytest.raises(MediaError) as caught:
        mio.read_image(path)
    assert caught.value.reason == "too large" and name in str(caught.value)
    assert "3,000,000,000" in str(caught.value)  # says how many pixels it claimed


def test_header_size_above_pillows_own_limit(tmp_path: Path) -> None:
    """Pillow alone refuses more than 2 × MAX_IMAGE_PIXELS; our (higher) limit is the one in force."""
    width, height = 16000, (2 * pillow_limit()) // 16000 + 10
    path = tmp_path / "big.jpg"
    path.write_bytes(_huge_jpeg(tmp_path, width, height))
    with pytest.raises(Image.DecompressionBombError):
        Image.open(path)
    assert mio.read_image_size(path) == (width, height)


def test_webp_canvas_above_pillows_own_limit(tmp_path: Path) -> None:
    """Pillow's WebP plugin refuses big canvases while opening; within our limit the header still reads."""
    frames = [Image.new("RGB", (16, 16), colour) for colour in ((200, 10, 10), (10, 200, 10))]
    small = pil_save(tmp_path / "anim.webp", frames[0], "WEBP", save_all=True, append_images=frames[1:])
    data = small.read_bytes()
    at = data.index(b"VP8X") + 12
    width, height = 16000, (2 * pillow_limit()) // 16000 + 10
    path = tmp_path / "canvas.webp"
    path.write_bytes(
        data[:at] + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little") + data[at + 6 :]
    )
    limit_before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(Image.DecompressionBombError):
        Image.open(path)
    assert mio.read_image_size(path) == (width, height)
    with pytest.raises(MediaError, match="too large"):
        mio.read_image(path, max_pixels=width * height - 1)
    assert limit_before == Image.MAX_IMAGE_PIXELS


@pytest.mark.parametrize(
    ("max_pixels", "env", "refused"),
    [
        (None, None, False),
        (500, None, True),
        (20 * 30, None, False),
        (20 * 30 - 1, None, True),
        (None, "599", True),
        (None, "600", False),
        (10**6, "599", False),  # the keyword wins over the environment
        (599, "10_000_000", True),
    ],
)
def test_pixel_limit_is_configurable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, max_pixels: int | None, env: str | None, refused: bool
) -> None:
    path = pil_save(tmp_path / "x.png", Image.new("RGB", (30, 20)), "PNG")
    if env is None:
        monkeypatch.delenv(mio.MAX_PIXELS_ENV, raising=False)
    else:
        monkeypatch.setenv(mio.MAX_PIXELS_ENV, env)
    if refused:
        with pytest.raises(MediaError, match="too large"):
            mio.read_image(path, max_pixels=max_pixels)
    else:
        assert mio.read_image(path, max_pixels=max_pixels).pixels.shape == (20, 30, 3)


@pytest.mark.parametrize(("max_pixels", "env"), [(0, None), (-5, None), (None, "lots"), (None, "0")])
def test_bad_pixel_limit_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, max_pixels: int | None, env: str | None
) -> None:
    path = pil_save(tmp_path / "x.png", Image.new("L", (4, 4)), "PNG")
    if env is not None:
        monkeypatch.setenv(mio.MAX_PIXELS_ENV, env)
    with pytest.raises(ConfigError):
        mio.read_image(path, max_pixels=max_pixels)


def test_default_limit_without_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(mio.MAX_PIXELS_ENV, raising=False)
    assert mio.resolve_max_pixels() == mio.DEFAULT_MAX_PIXELS == 250_000_000


# ------------------------------------------------------------------------------------------- bad files


def _cut(fmt: str, fraction: float, **options: object) -> Callable[[Path], bytes]:
    def make(tmp: Path) -> bytes:
        rng = np.random.default_rng(7)
        full = pil_save(tmp / "full", Image.fromarray(smooth(rng, 96, 128, 3)), fmt, **options).read_bytes()
        return full[: int(len(full) * fraction)]

    return make


def _other_format(fmt: str) -> Callable[[Path], bytes]:
    def make(tmp: Path) -> bytes:
        return pil_save(tmp / "other", Image.new("RGB", (8, 8)), fmt).read_bytes()

    return make


BAD_CASES: list[tuple[str, Callable[[Path], bytes], str]] = [
    ("empty.jpg", lambda tmp: b"", "empty"),
    ("text.jpg", lambda tmp: b"this is not a picture\n" * 3, "not an image"),
    ("zeros.png", lambda tmp: bytes(1000), "not an image"),
    ("half.jpg", _cut("JPEG", 0.5), "truncated"),
    ("almost.jpg", _cut("JPEG", 0.98), "truncated"),
    ("header-only.jpg", _cut("JPEG", 0.05), "truncated"),
    ("progressive.jpg", _cut("JPEG", 0.9, progressive=True), "truncated"),
    ("half.png", _cut("PNG", 0.5), "truncated"),
    ("almost.png", _cut("PNG", 0.999), "truncated"),
    ("half.webp", _cut("WEBP", 0.5), "truncated"),
    ("half.bmp", _cut("BMP", 0.5), "truncated"),
    ("half.tif", _cut("TIFF", 0.5), "truncated"),
    ("half-lzw.tif", _cut("TIFF", 0.5, compression="tiff_lzw"), "truncated"),
    ("anim.gif", _other_format("GIF"), "unsupported"),
    ("gif-named.jpg", _other_format("GIF"), "unsupported"),
    ("picture.jp2", _other_format("JPEG2000"), "unsupported"),
    (
        "float.tif",
        lambda tmp: pil_save(tmp / "f", Image.new("F", (4, 4)), "TIFF").read_bytes(),
        "unsupported",
    ),
]


@pytest.mark.parametrize(("name", "content", "reason"), BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_bad_file_names_file_and_reason(
    tmp_path: Path, name: str, content: Callable[[Path], bytes], reason: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content(tmp_path))
    with pytest.raises(MediaError) as caught:
        mio.read_image(path)
    err = caught.value
    assert err.reason == reason and err.file == str(path)
    assert name in str(err) and reason in str(err)
    assert isinstance(err, UnsupportedMediaError) is (reason == "unsupported")


@pytest.mark.parametrize(("fmt", "fraction"), [("JPEG", 0.6), ("PNG", 0.6), ("WEBP", 0.6), ("JPEG", 0.995)])
def test_truncation_caught_even_when_pillow_tolerates_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str, fraction: float
) -> None:
    """Another library may set LOAD_TRUNCATED_IMAGES, which makes Pillow pad with grey; we still refuse."""
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(_cut(fmt, fraction)(tmp_path))
    with pytest.raises(MediaError) as caught:
        mio.read_image(path)
    assert caught.value.reason == "truncated"


@pytest.mark.parametrize(
    "call",
    [mio.read_image, mio.read_image_size, mio.read_exif, mio.image_format, mio.jpeg_quantization_tables],
)
def test_missing_file_is_not_found(tmp_path: Path, call: Callable[[Path], object]) -> None:
    path = tmp_path / "missing.jpg"
    with pytest.raises(MediaError) as caught:
        call(path)
    assert caught.value.reason == "not found" and "missing.jpg" in str(caught.value)


def test_directory_is_not_an_image(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="not an image"):
        mio.read_image(tmp_path)


@pytest.mark.parametrize(
    ("true_format", "wrong_name"), [("PNG", "x.jpg"), ("JPEG", "x.png"), ("WEBP", "x.tif"), ("TIFF", "x")]
)
def test_content_decides_format_not_extension(
    rng: np.random.Generator, tmp_path: Path, true_format: str, wrong_name: str
) -> None:
    pixels = smooth(rng, 24, 32, 3)
    path = pil_save(tmp_path / wrong_name, Image.fromarray(pixels), true_format, quality=95)
    loaded = mio.read_image(path)
    assert loaded.info.format == mio.image_format(path) == true_format
    assert np.abs(loaded.pixels.astype(int) - pixels).mean() <= (3 if true_format in ("JPEG", "WEBP") else 0)


# ---------------------------------------------------------------------------------------- conversions


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize(
    ("stored_channels", "mode", "channels"),
    [
        (1, "RGB", 3),
        (1, "RGBA", 4),
        (3, "GRAY", 1),
        (3, "RGBA", 4),
        (4, "RGB", 3),
        (4, "GRAY", 1),
        (3, "RGB", 3),
    ],
)
def test_mode_conversion(
    rng: np.random.Generator, tmp_path: Path, dtype: type, stored_channels: int, mode: str, channels: int
) -> None:
    top = np.iinfo(dtype).max
    gray = rng.integers(0, top + 1, size=(12, 18), dtype=dtype)
    stored = {1: gray, 3: np.dstack([gray] * 3), 4: np.dstack([gray] * 3 + [gray[::-1]])}[stored_channels]
    path = cv2_save_rgb(tmp_path / "x.png", stored)
    pixels = mio.read_image(path, mode=mode).pixels
    assert pixels.dtype == dtype and pixels.shape == ((12, 18) if channels == 1 else (12, 18, channels))
    colour = pixels if pixels.ndim == 2 else pixels[..., :3]
    assert np.array_equal(colour if colour.ndim == 2 else colour[..., 1], gray)  # gray-valued input stays put
    if channels == 4:
        expected_alpha = gray[::-1] if stored_channels == 4 else np.full_like(gray, top)
        assert np.array_equal(pixels[..., 3], expected_alpha)


def test_unknown_mode_is_a_config_error(tmp_path: Path) -> None:
    path = pil_save(tmp_path / "x.png", Image.new("L", (4, 4)), "PNG")
    with pytest.raises(ConfigError, match="GRAY, RGB, RGBA"):
        mio.read_image(path, mode="CMYK")


def test_decode_image_from_bytes_matches_file(rng: np.random.Generator, tmp_path: Path) -> None:
    path = pil_save(tmp_path / "x.png", Image.fromarray(smooth(rng, 20, 30, 4)), "PNG")
    from_bytes = mio.decode_image(path.read_bytes(), source="s3://bucket/x.png")
    assert np.array_equal(from_bytes.pixels, mio.read_image(path).pixels)
    assert from_bytes.info.path == "s3://bucket/x.png"


def test_metadata_is_reported(rng: np.random.Generator, tmp_path: Path) -> None:
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = exif_bytes(make="Acme", orientation=1)
    path = pil_save(
        tmp_path / "x.jpg", Image.fromarray(smooth(rng, 16, 16, 3)), "JPEG", icc_profile=icc, exif=exif
    )
    info = mio.read_image(path).info
    assert info.icc_profile == icc
    assert info.exif is not None and info.exif == mio.read_exif(path)
    parsed = Image.Exif()
    parsed.load(info.exif)
    assert parsed[0x010F] == "Acme"
    plain = pil_save(tmp_path / "plain.png", Image.new("RGB", (4, 4)), "PNG")
    assert mio.read_exif(plain) is None and mio.read_image(plain).info.icc_profile is None


# -------------------------------------------------------------------------------------------- writing

WRITE_CASES: list[tuple[str, int, Any, dict[str, Any]]] = [
    (suffix, channels, dtype, options)
    for suffix, options in [
        (".png", dict[str, Any]()),
        (".png", {"png_compression": 9}),
        (".tif", {}),
        (".tiff", {"compression": "lzw"}),
    ]
    for channels in (1, 3, 4)
    for dtype in (np.uint8, np.uint16)
] + [
    (".tif", 3, np.uint16, {"compression": "deflate"}),
    (".tif", 4, np.uint8, {"compression": "packbits"}),
    (".bmp", 1, np.uint8, {}),
    (".bmp", 3, np.uint8, {}),
    (".webp", 3, np.uint8, {"lossless": True}),
    (".webp", 4, np.uint8, {"lossless": True}),
]


@pytest.mark.parametrize(("suffix", "channels", "dtype", "options"), WRITE_CASES)
def test_lossless_writes_read_back_exactly(
    rng: np.random.Generator,
    tmp_path: Path,
    suffix: str,
    channels: int,
    dtype: type,
    options: dict[str, Any],
) -> None:
    shape = (31, 45) if channels == 1 else (31, 45, channels)
    pixels = rng.integers(0, np.iinfo(dtype).max + 1, size=shape, dtype=dtype)
    before = pixels.copy()
    path = mio.write_image(tmp_path / f"out{suffix}", pixels, **options)
    assert np.array_equal(pixels, before)  # input untouched
    assert np.array_equal(independent_read(path), pixels)
    assert np.array_equal(mio.read_image(path).pixels, pixels)
    assert no_temp_files(tmp_path)


def test_webp_stores_gray_as_rgb(rng: np.random.Generator, tmp_path: Path) -> None:
    gray = rng.integers(0, 256, size=(10, 14), dtype=np.uint8)
    path = mio.write_image(tmp_path / "g.webp", gray, lossless=True)
    assert np.array_equal(independent_read(path), np.dstack([gray] * 3))


@pytest.mark.parametrize(
    ("compression", "pil_name"),
    [(None, "raw"), ("none", "raw"), ("lzw", "tiff_lzw"), ("deflate", "tiff_adobe_deflate"),
     ("packbits", "packbits"), ("jpeg", "jpeg"), (mio.TiffCompression.LZW, "tiff_lzw")],
)  # fmt: skip
def test_tiff_compression_option(
    rng: np.random.Generator, tmp_path: Path, compression: str | None, pil_name: str
) -> None:
    pixels = smooth(rng, 40, 56, 3)
    path = mio.write_image(tmp_path / "x.tif", pixels, compression=compression)
    with Image.open(path) as im:
        assert im.info["compression"] == pil_name
    tolerance = 2 if pil_name == "jpeg" else 0
    assert np.abs(mio.read_image(path).pixels.astype(int) - pixels).mean() <= tolerance


def test_png_compression_level_trades_size(rng: np.random.Generator, tmp_path: Path) -> None:
    pixels = smooth(rng, 120, 160, 3)
    sizes = {level: mio.write_image(tmp_path / f"l{level}.png", pixels, png_compression=level).stat().st_size
             for level in (0, 1, 9)}  # fmt: skip
    assert sizes[0] > max(sizes[1], sizes[9])  # level 0 stores, the others deflate
    assert all(np.array_equal(mio.read_image(tmp_path / f"l{level}.png").pixels, pixels) for level in sizes)


@pytest.mark.parametrize("with_exif", [False, True], ids=["fast-path", "pillow-path"])
@pytest.mark.parametrize("subsampling", ["4:4:4", "4:2:2", "4:2:0"])
def test_jpeg_quality_and_subsampling(
    rng: np.random.Generator, tmp_path: Path, subsampling: str, with_exif: bool
) -> None:
    pixels = smooth(rng, 64, 96, 3)
    exif = exif_bytes(software="masksmith") if with_exif else None
    low = mio.write_image(tmp_path / "low.jpg", pixels, quality=30, subsampling=subsampling, exif=exif)
    high = mio.write_image(tmp_path / "high.jpg", pixels, quality=95, subsampling=subsampling, exif=exif)
    assert low.stat().st_size < high.stat().st_size
    assert mio.jpeg_subsampling(low) == mio.jpeg_subsampling(high) == subsampling
    assert sum(map(sum, mio.jpeg_quantization_tables(low))) > sum(
        map(sum, mio.jpeg_quantization_tables(high))
    )
    assert np.abs(mio.read_image(high).pixels.astype(int) - pixels).mean() < 3
    assert (mio.read_exif(high) is not None) is with_exif


@pytest.mark.parametrize("as_mapping", [False, True])
@pytest.mark.parametrize("channels", [1, 3])
def test_jpeg_written_with_exact_qtables(
    rng: np.random.Generator, tmp_path: Path, channels: int, as_mapping: bool
) -> None:
    tables = [rng.integers(1, 256, size=64).tolist() for _ in range(1 if channels == 1 else 2)]
    given = dict(enumerate(tables)) if as_mapping else tables
    pixels = smooth(rng, 40, 48, channels)
    path = mio.write_image(tmp_path / "q.jpg", pixels, qtables=given, quality=20)  # quality must not rescale
    assert mio.jpeg_quantization_tables(path) == tables
    zigzag = zigzag_order()
    assert raw_dqt_tables(path.read_bytes()) == [[table[i] for i in zigzag] for table in tables]


def test_base_tables_reproduced(rng: np.random.Generator, tmp_path: Path) -> None:
    """What CompressAs needs: copy a base's tables and subsampling onto another image."""
    base = pil_save(tmp_path / "base.jpg", Image.fromarray(smooth(rng, 32, 32, 3)), "JPEG", quality=71,
                    subsampling="4:2:2")  # fmt: skip
    out = mio.write_image(
        tmp_path / "out.jpg",
        smooth(rng, 50, 70, 3),
        qtables=mio.jpeg_quantization_tables(base),
        subsampling=mio.jpeg_subsampling(base),
    )
    assert mio.jpeg_quantization_tables(out) == mio.jpeg_quantization_tables(base)
    assert mio.jpeg_subsampling(out) == "4:2:2"


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp"])
def test_exif_written(rng: np.random.Generator, tmp_path: Path, suffix: str) -> None:
    exif = exif_bytes(make="Acme", orientation=6)
    path = mio.write_image(tmp_path / f"e{suffix}", smooth(rng, 16, 24, 3), exif=exif, lossless=True)
    with Image.open(path) as im:
        parsed = im.getexif()
        assert parsed[0x010F] == "Acme" and parsed[0x0112] == 6
    loaded = mio.read_image(path)
    assert loaded.info.orientation == 6 and loaded.pixels.shape == (24, 16, 3)


@pytest.mark.parametrize(
    ("name", "pixels", "options", "error"),
    [
        ("a.jpg", np.zeros((4, 4), np.uint16), {}, UnsupportedMediaError),
        ("a.jpg", np.zeros((4, 4, 4), np.uint8), {}, UnsupportedMediaError),
        ("a.bmp", np.zeros((4, 4, 4), np.uint8), {}, UnsupportedMediaError),
        ("a.webp", np.zeros((4, 4, 3), np.uint16), {}, UnsupportedMediaError),
        ("a.png", np.zeros((4, 4, 3), np.float32), {}, MediaError),
        ("a.png", np.zeros((4, 4, 2), np.uint8), {}, MediaError),
        ("a.png", np.zeros((0, 4), np.uint8), {}, MediaError),
        ("a.png", [[0, 1]], {}, MediaError),
        ("a.xyz", np.zeros((4, 4), np.uint8), {}, UnsupportedMediaError),
        ("a.png", np.zeros((4, 4), np.uint8), {"format": "GIF"}, UnsupportedMediaError),
        ("a.tif", np.zeros((4, 4), np.uint8), {"compression": "zstd-ish"}, UnsupportedMediaError),
        ("a.png", np.zeros((4, 4), np.uint8), {"compression": "lzw"}, UnsupportedMediaError),
        ("a.png", np.zeros((4, 4), np.uint8), {"png_compression": 10}, UnsupportedMediaError),
        ("a.jpg", np.zeros((4, 4), np.uint8), {"quality": 0}, UnsupportedMediaError),
        ("a.jpg", np.zeros((4, 4), np.uint8), {"subsampling": "4:1:0"}, UnsupportedMediaError),
        ("a.jpg", np.zeros((4, 4), np.uint8), {"qtables": [[0] * 64]}, UnsupportedMediaError),
        ("a.jpg", np.zeros((4, 4), np.uint8), {"qtables": [[1] * 63]}, UnsupportedMediaError),
        ("a.bmp", np.zeros((4, 4), np.uint8), {"exif": b"Exif\x00\x00"}, UnsupportedMediaError),
    ],
)
def test_refused_writes_leave_nothing(
    tmp_path: Path, name: str, pixels: object, options: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error) as caught:
        mio.write_image(tmp_path / name, pixels, **options)  # type: ignore[arg-type]
    assert name in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_failed_encode_keeps_existing_target(tmp_path: Path) -> None:
    target = tmp_path / "keep.png"
    target.write_bytes(b"original")
    with pytest.raises(MediaError):
        mio.write_image(target, np.zeros((4, 4, 2), np.uint8))
    assert target.read_bytes() == b"original" and sorted(tmp_path.iterdir()) == [target]


# ---------------------------------------------------------------------------------------- atomic writes


def test_atomic_path_replaces_on_success(tmp_path: Path) -> None:
    target = tmp_path / "out.png"
    target.write_bytes(b"old")
    with mio.atomic_path(target) as temp:
        assert temp.parent == tmp_path and temp.suffix == ".png" and temp != target
        assert target.read_bytes() == b"old"
        temp.write_bytes(b"new")
    assert target.read_bytes() == b"new" and sorted(tmp_path.iterdir()) == [target]


def test_atomic_path_cleans_up_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.png"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="encoder died"), mio.atomic_path(target) as temp:
        temp.write_bytes(b"partial")
        raise RuntimeError("encoder died")
    assert target.read_bytes() == b"old" and sorted(tmp_path.iterdir()) == [target]


def test_failed_replace_leaves_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")

    def broken_replace(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(MediaError) as caught:
        mio.atomic_write_bytes(target, b"new")
    assert caught.value.reason == "write failed" and "out.bin" in str(caught.value)
    assert target.read_bytes() == b"old" and sorted(tmp_path.iterdir()) == [target]


def test_write_into_missing_directory_fails_cleanly(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="write failed"):
        mio.write_image(tmp_path / "no" / "such" / "x.png", np.zeros((2, 2), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_bytes_respects_umask(tmp_path: Path) -> None:
    reference = tmp_path / "ref"
    reference.write_bytes(b"")
    written = mio.atomic_write_bytes(tmp_path / "data.bin", b"payload")
    assert written.read_bytes() == b"payload"
    assert os.stat(written).st_mode == os.stat(reference).st_mode


@pytest.mark.parametrize("call", [mio.jpeg_quantization_tables, mio.jpeg_subsampling])
def test_jpeg_only_helpers_refuse_other_formats(tmp_path: Path, call: Callable[[Path], object]) -> None:
    path = pil_save(tmp_path / "not-a-jpeg.jpg", Image.new("RGB", (4, 4)), "PNG")
    with pytest.raises(UnsupportedMediaError, match="PNG"):
        call(path)
