"""Lossless-outside-the-masks JPEG edits on real photos (scikit-image's) at several qualities and samplings."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from masksmith.errors import UnsupportedMediaError
from masksmith.media.jpeg_splice import splice_jpeg, touched_mcus

jpeglib = pytest.importorskip("jpeglib")
skdata = pytest.importorskip("skimage.data")

SAMPLINGS = {"4:4:4": (0, (8, 8)), "4:2:2": (1, (8, 16)), "4:2:0": (2, (16, 16))}


def _jpeg(pixels: np.ndarray, *, quality: int, subsampling: int, **options: object) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=quality, subsampling=subsampling, **options)
    return out.getvalue()


def _decode(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR_RGB)


def _coefficients(data: bytes, tmp_path, name: str):
    path = tmp_path / name
    path.write_bytes(data)
    jpeg = jpeglib.read_dct(str(path))
    jpeg.load()
    return jpeg


def _grid(mask: np.ndarray, mcu: tuple[int, int], shape: tuple[int, int]) -> np.ndarray:
    return np.kron(mask, np.ones(mcu, dtype=bool))[: shape[0], : shape[1]].astype(bool)


def _photo() -> np.ndarray:
    # odd sizes: partial MCUs at the right and bottom edges
    return skdata.chelsea()[:299, :445]


@pytest.mark.parametrize("sampling", list(SAMPLINGS))
@pytest.mark.parametrize("quality", [50, 75, 95])
def test_blocks_outside_the_mask_keep_their_coefficients_and_pixels(tmp_path, sampling, quality):
    code, mcu = SAMPLINGS[sampling]
    original = _jpeg(_photo(), quality=quality, subsampling=code)
    decoded = _decode(original)
    changed = np.zeros(decoded.shape[:2], dtype=bool)
    changed[40:97, 101:173] = True  # not MCU-aligned
    changed[290:, 440:] = True  # the partial corner MCU
    edited = decoded.copy()
    edited[changed] = (255, 0, 0)

    result = splice_jpeg(original, edited, changed)

    touched = touched_mcus(changed, mcu)
    assert result.touched == int(touched.sum()) and result.total == touched.size
    before = _coefficients(original, tmp_path, "in.jpg")
    after = _coefficients(result.data, tmp_path, "out.jpg")
    np.testing.assert_array_equal(np.asarray(after.qt), np.asarray(before.qt))
    assert np.array_equal(after.samp_factor, before.samp_factor)
    for name in ("Y", "Cb", "Cr"):
        old, new = getattr(before, name), getattr(after, name)
        v = old.shape[0] // touched.shape[0] if old.shape[0] >= touched.shape[0] else 1
        h = old.shape[1] // touched.shape[1] if old.shape[1] >= touched.shape[1] else 1
        blocks = np.kron(touched, np.ones((v, h), dtype=bool))[: old.shape[0], : old.shape[1]].astype(bool)
        assert np.array_equal(old[~blocks], new[~blocks]), f"{name} blocks outside the touched MCUs changed"
        assert not np.array_equal(old[blocks], new[blocks])
    out = _decode(result.data)
    # pixels: identical beyond a one-MCU margin (fancy upsampling blends chroma across MCU borders) ...
    near = cv2.dilate(touched.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    outside = ~_grid(near, mcu, changed.shape)
    assert np.array_equal(out[outside], decoded[outside])
    # with plain (not "fancy") chroma upsampling, every pixel outside the touched MCUs is bit-identical
    exact = ~_grid(touched, mcu, changed.shape)
    (tmp_path / "in.jpg").write_bytes(original)
    (tmp_path / "out.jpg").write_bytes(result.data)
    plain_in = jpeglib.read_spatial(str(tmp_path / "in.jpg"), flags=["-DO_FANCY_UPSAMPLING"]).spatial
    plain_out = jpeglib.read_spatial(str(tmp_path / "out.jpg"), flags=["-DO_FANCY_UPSAMPLING"]).spatial
    assert np.array_equal(plain_out[exact], plain_in[exact])
    if sampling == "4:4:4":  # no chroma upsampling at all: OpenCV's decode is exact there too
        assert np.array_equal(out[exact], decoded[exact])
    # ... and the hidden region is what was drawn (within JPEG's loss at this quality)
    error = np.abs(out[changed].astype(int) - (255, 0, 0)).mean()
    assert error < {50: 12, 75: 8, 95: 5}[quality]


def test_an_empty_mask_changes_no_coefficient(tmp_path):
    original = _jpeg(skdata.astronaut(), quality=90, subsampling=2)
    decoded = _decode(original)
    result = splice_jpeg(original, decoded, np.zeros(decoded.shape[:2], dtype=bool))
    assert result.touched == 0
    assert np.array_equal(_decode(result.data), decoded)


def test_exif_is_replaced_icc_kept_and_xmp_dropped():
    exif = Image.Exif()
    exif[0x010F] = "OldCam"
    original = _jpeg(
        skdata.astronaut(),
        quality=90,
        subsampling=0,
        exif=exif.tobytes(),
        icc_profile=b"\0" * 200,
        xmp=b"<x:xmpmeta>Driver: someone</x:xmpmeta>",
    )
    decoded = _decode(original)
    new_exif = Image.Exif()
    new_exif[0x010F] = "NewCam"
    result = splice_jpeg(original, decoded, np.zeros(decoded.shape[:2], bool), exif=new_exif.tobytes())
    with Image.open(io.BytesIO(result.data)) as im:
        assert im.getexif()[0x010F] == "NewCam"
        assert im.info.get("icc_profile") == b"\0" * 200
        assert "xmp" not in im.info
    assert b"someone" not in result.data
    no_exif = splice_jpeg(original, decoded, np.zeros(decoded.shape[:2], bool), exif=None)
    with Image.open(io.BytesIO(no_exif.data)) as im:
        assert len(im.getexif()) == 0


def test_orientation_is_undone_before_splicing(tmp_path):
    stored = _photo()
    original = _jpeg(stored, quality=90, subsampling=0)
    decoded = _decode(original)
    upright = np.ascontiguousarray(decoded.swapaxes(0, 1)[:, ::-1])  # orientation 6 as displayed
    changed = np.zeros(upright.shape[:2], dtype=bool)
    changed[:40, :40] = True  # top-left as displayed = bottom-left as stored
    edited = upright.copy()
    edited[changed] = 0
    result = splice_jpeg(original, edited, changed, orientation=6)
    out = _decode(result.data)
    assert out[-20, 20].max() < 30  # stored bottom-left is black now
    assert np.array_equal(out[:200], decoded[:200])


def test_gray_jpeg_is_spliced_from_rgb_pixels(tmp_path):
    gray = skdata.camera()[:250, :300]
    out = io.BytesIO()
    Image.fromarray(gray).save(out, "JPEG", quality=85)
    original = out.getvalue()
    decoded = cv2.imdecode(np.frombuffer(original, np.uint8), cv2.IMREAD_GRAYSCALE)
    rgb = np.repeat(decoded[:, :, None], 3, axis=2)
    changed = np.zeros(gray.shape, dtype=bool)
    changed[100:150, 100:150] = True
    rgb[changed] = 255
    result = splice_jpeg(original, rgb, changed)
    back = cv2.imdecode(np.frombuffer(result.data, np.uint8), cv2.IMREAD_GRAYSCALE)
    outside = ~_grid(touched_mcus(changed, (8, 8)), (8, 8), changed.shape)
    assert np.array_equal(back[outside], decoded[outside])
    assert back[changed].mean() > 240


def test_cmyk_rgb_and_mismatched_pixels_are_refused():
    cmyk = io.BytesIO()
    Image.new("CMYK", (32, 32)).save(cmyk, "JPEG")
    with pytest.raises(UnsupportedMediaError):
        splice_jpeg(cmyk.getvalue(), np.zeros((32, 32, 3), np.uint8), np.zeros((32, 32), bool))
    rgb = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 10, 10)).save(rgb, "JPEG", keep_rgb=True)  # stored as RGB, not YCbCr
    with pytest.raises(UnsupportedMediaError, match="only gray and YCbCr"):
        splice_jpeg(rgb.getvalue(), np.zeros((32, 32, 3), np.uint8), np.ones((32, 32), bool))
    original = _jpeg(skdata.astronaut(), quality=90, subsampling=0)
    with pytest.raises(UnsupportedMediaError, match="do not match"):
        splice_jpeg(original, np.zeros((10, 10, 3), np.uint8), np.zeros((10, 10), bool))


def test_concurrent_splices_give_the_same_bytes_as_one_at_a_time() -> None:
    from concurrent.futures import ThreadPoolExecutor

    jobs = []
    for index, quality in enumerate((60, 75, 85, 95, 70, 90)):
        original = _jpeg(np.roll(_photo(), 40 * index, axis=1), quality=quality, subsampling=index % 3)
        pixels = _decode(original)
        changed = np.zeros(pixels.shape[:2], dtype=bool)
        changed[20 * index : 20 * index + 60, 50:150] = True
        pixels[changed] = 0
        jobs.append((original, pixels, changed))
    alone = [splice_jpeg(*job).data for job in jobs]
    with ThreadPoolExecutor(max_workers=4) as pool:  # the pipeline's writer threads splice side by side
        together = list(pool.map(lambda job: splice_jpeg(*job).data, jobs * 2))
    assert together == alone * 2
