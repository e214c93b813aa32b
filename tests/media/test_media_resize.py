"""The area shrink's fast 2/3 path against OpenCV's INTER_AREA."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from masksmith.media.resize import shrink_area


@pytest.mark.parametrize(
    ("shape", "dtype"),
    [((1080, 1920, 3), np.uint8), ((9, 12), np.uint8), ((6, 3, 4), np.uint8), ((30, 60, 3), np.uint16)],
)
def test_two_thirds_shrink_is_within_one_level_of_inter_area(
    rng: np.random.Generator, shape: tuple[int, ...], dtype: type
) -> None:
    top = np.iinfo(dtype).max
    image = rng.integers(0, top + 1, shape, dtype=dtype)
    size = (shape[1] * 2 // 3, shape[0] * 2 // 3)
    expected = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    got = shrink_area(image, size)
    assert got.shape == expected.shape and got.dtype == image.dtype
    assert np.abs(got.astype(np.int64) - expected).max() <= 1


def test_two_thirds_shrink_weights_are_exact_on_a_known_block() -> None:
    block = np.array([[0, 30, 90], [30, 60, 120], [90, 120, 180]], np.uint8)
    # row pass: (2·r0 + r1) / 3 and (r1 + 2·r2) / 3; then the same along each row
    # rows → [10, 40, 100] and [70, 100, 160]; columns → [20, 80] and [80, 140]
    np.testing.assert_array_equal(shrink_area(block, (2, 2)), [[20, 80], [80, 140]])


def test_other_sizes_and_views_fall_back_to_inter_area(rng: np.random.Generator) -> None:
    image = rng.integers(0, 256, (100, 150, 3), dtype=np.uint8)
    for size in [(75, 50), (99, 66), (50, 40)]:
        np.testing.assert_array_equal(
            shrink_area(image, size), cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        )
    view = image[:, :147]  # not contiguous: the general path
    np.testing.assert_array_equal(
        shrink_area(view, (98, 66)), cv2.resize(view, (98, 66), interpolation=cv2.INTER_AREA)
    )
    floats = image.astype(np.float32)
    np.testing.assert_array_equal(
        shrink_area(floats, (100, 66)), cv2.resize(floats, (100, 66), interpolation=cv2.INTER_AREA)
    )
