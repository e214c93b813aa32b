"""Pixel operations inside a mask: masked pixels equal the whole-image effect, others stay untouched."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from masksmith.media import ops


def _image(rng: np.random.Generator, channels: int | None, dtype: type = np.uint8) -> np.ndarray:
    top = 256 if dtype is np.uint8 else 65536
    shape = (40, 50) if channels is None else (40, 50, channels)
    return rng.integers(0, top, shape).astype(dtype)


def _mask() -> np.ndarray:
    mask = np.zeros((40, 50), dtype=bool)
    mask[10:20, 15:30] = True
    mask[30, 45] = True
    return mask


def _gray(image: np.ndarray) -> np.ndarray:
    return (
        image if image.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(image[:, :, :3]), cv2.COLOR_RGB2GRAY)
    )


@pytest.mark.parametrize("kernel", [4, 7])
@pytest.mark.parametrize("channels", [None, 3, 4])
def test_box_blur_uses_the_kernel_as_given_and_matches_a_whole_image_blur(
    kernel: int, channels: int | None
) -> None:
    image = _image(np.random.default_rng(1), channels)
    mask = _mask()
    out = ops.blur_in_mask(image, mask, kernel=kernel, kind="box")
    whole = cv2.blur(image, (kernel, kernel))
    assert np.array_equal(out[mask], whole[mask])
    assert np.array_equal(out[~mask], image[~mask])


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("channels", [None, 3, 4])
def test_gray_blur_puts_the_blurred_luminance_in_the_colour_channels(
    channels: int | None, dtype: type
) -> None:
    image = _image(np.random.default_rng(2), channels, dtype)
    mask = _mask()
    out = ops.gray_blur_in_mask(image, mask, kernel=6)
    expected = cv2.blur(_gray(image), (6, 6))
    if channels is None:
        assert np.array_equal(out[mask], expected[mask])
    else:
        for c in range(3):
            assert np.array_equal(out[:, :, c][mask], expected[mask])
        if channels == 4:
            assert np.array_equal(out[:, :, 3], image[:, :, 3])
    assert np.array_equal(out[~mask], image[~mask])


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_band_gray_matches_the_whole_image_formula_and_a_flat_region_becomes_the_level(dtype: type) -> None:
    image = _image(np.random.default_rng(3), 3, dtype)
    mask = _mask()
    out = ops.band_gray_in_mask(image, mask, kernel=5, wide_kernel=8, level=100)
    gray = _gray(image)
    band = cv2.blur(gray, (5, 5)).astype(np.int64) - cv2.blur(gray, (8, 8)).astype(np.int64) + 100
    top = np.iinfo(dtype).max
    assert np.array_equal(out[:, :, 1][mask], np.clip(band, 0, top)[mask].astype(dtype))
    assert np.array_equal(out[~mask], image[~mask])
    flat = np.full((30, 30, 3), 77, dtype=dtype)
    square = np.zeros((30, 30), dtype=bool)
    square[10:20, 10:20] = True
    assert np.all(ops.band_gray_in_mask(flat, square, kernel=5, level=123)[square] == 123)


def test_fill_paints_the_first_channels_of_a_colour_and_keeps_alpha() -> None:
    image = _image(np.random.default_rng(4), 4)
    mask = _mask()
    out = ops.fill_in_mask(image, mask, color=(1, 2, 3))
    assert np.all(out[mask][:, :3] == (1, 2, 3))
    assert np.array_equal(out[:, :, 3], image[:, :, 3])
    assert np.array_equal(out[~mask], image[~mask])
    assert np.all(ops.fill_in_mask(image, mask, color=9)[mask] == 9)  # one value: every channel
    gray = _image(np.random.default_rng(5), None)
    assert np.all(ops.fill_in_mask(gray, mask, color=(7, 8, 9))[mask] == 7)


def test_an_empty_mask_returns_an_equal_copy() -> None:
    image = _image(np.random.default_rng(6), 3)
    empty = np.zeros((40, 50), dtype=bool)
    for out in (
        ops.blur_in_mask(image, empty, kernel=5, kind="box"),
        ops.gray_blur_in_mask(image, empty, kernel=5),
        ops.band_gray_in_mask(image, empty, kernel=5),
    ):
        assert out is not image and np.array_equal(out, image)


def test_pixelate_makes_blocks_inside_the_mask_only() -> None:
    image = _image(np.random.default_rng(7), 3)
    mask = np.zeros((40, 50), dtype=bool)
    mask[8:24, 16:32] = True
    out = ops.pixelate_in_mask(image, mask, block=4)
    assert np.array_equal(out[~mask], image[~mask])
    inside = out[8:24, 16:32]
    blocks = inside.reshape(4, 4, 4, 4, 3)  # 16x16 window → 4x4 blocks of 4x4 pixels
    assert np.all(blocks == blocks[:, :1, :, :1, :])
    assert not np.array_equal(inside, image[8:24, 16:32])


def test_gray_puts_the_luminance_in_the_mask_and_normalise_stretches_it() -> None:
    image = _image(np.random.default_rng(8), 3)
    mask = _mask()
    out = ops.gray_in_mask(image, mask)
    gray = _gray(image)
    for c in range(3):
        assert np.array_equal(out[:, :, c][mask], gray[mask])
    assert np.array_equal(out[~mask], image[~mask])
    stretched = ops.gray_in_mask(image, mask, normalize=True)[:, :, 0][mask]
    assert stretched.min() == 0 and stretched.max() == 255
