from __future__ import annotations

import numpy as np
import pytest

from masksmith.media import masks
from tests.synthetic import textured


def test_diff_mask_marks_exactly_the_edited_pixels(rng):
    a = textured(rng)
    b = a.copy()
    b[10:20, 30:50, 1] ^= 1  # one grey level in one channel
    a_before, b_before = a.copy(), b.copy()
    changed = masks.diff_mask(a, b)
    assert np.array_equal(a, a_before) and np.array_equal(b, b_before)
    expected = np.zeros(a.shape[:2], bool)
    expected[10:20, 30:50] = True
    assert np.array_equal(changed, expected)
    assert masks.count(changed) == 200


def test_diff_mask_tolerance_is_a_fraction_of_the_range(rng):
    a = textured(rng, channels=1)
    b = np.clip(a.astype(int) + 3, 0, 255).astype(np.uint8)
    assert masks.diff_mask(a, b, tolerance=0.02).sum() == 0  # 3 < 5.1
    assert masks.diff_mask(a, b, tolerance=0.01).sum() > 0


def test_diff_mask_compares_gray_with_rgb_and_16_with_8_bit():
    gray = np.full((4, 4), 100, np.uint8)
    rgb = np.full((4, 4, 3), 100, np.uint8)
    assert masks.count(masks.diff_mask(gray, rgb)) == 0
    sixteen = np.full((4, 4), 100 * 257, np.uint16)
    assert masks.count(masks.diff_mask(gray, sixteen)) == 0


@pytest.mark.parametrize(
    ("to_file", "from_file", "changed_value"),
    [
        (masks.to_edge_file, masks.from_edge_file, 0),
        (masks.to_probe_file, masks.from_probe_file, 255),
        (masks.to_input_mask, masks.from_input_mask, 255),
    ],
)
def test_file_conventions_round_trip(rng, to_file, from_file, changed_value):
    changed = rng.random((30, 40)) > 0.5
    pixels = to_file(changed)
    assert pixels.dtype == np.uint8
    assert set(np.unique(pixels)) <= {0, 255}
    assert np.all(pixels[changed] == changed_value)
    assert np.array_equal(from_file(pixels), changed)


def test_input_mask_invert_turns_an_edge_mask_into_a_selection(rng):
    changed = rng.random((10, 10)) > 0.5
    edge_file = masks.to_edge_file(changed)
    assert np.array_equal(masks.from_input_mask(edge_file, invert=True), changed)


def test_bbox_iou_and_dilate():
    m = np.zeros((50, 60), bool)
    m[5:15, 20:40] = True
    box = masks.bbox(m)
    assert box == masks.BBox(top=5, left=20, bottom=15, right=40)
    assert masks.bbox(np.zeros((3, 3), bool)) is None
    grown = masks.dilate(m, 3)
    assert grown.sum() > m.sum() and grown[m].all()
    assert masks.bbox(grown) == masks.BBox(top=2, left=17, bottom=18, right=43)
    assert masks.iou(m, m) == 1.0
    assert masks.iou(np.zeros_like(m), np.zeros_like(m)) == 1.0
    assert masks.iou(m, grown) == pytest.approx(m.sum() / grown.sum())


def test_rle_round_trip_matches_pycocotools(rng):
    mask_utils = pytest.importorskip("pycocotools.mask")
    m = rng.random((37, 23)) > 0.7
    m[0, 0] = True
    rle = masks.rle_encode(m)
    assert np.array_equal(masks.rle_decode(rle), m)
    coco = mask_utils.frPyObjects(rle, *rle["size"])
    assert np.array_equal(mask_utils.decode(coco).astype(bool), m)
