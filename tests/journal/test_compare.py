"""Each comparison against analytic ground truth on synthetic images (IoU ≥ 0.99)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from masksmith.journal.compare import compare, normalise_name
from masksmith.media import geometry, masks
from tests.synthetic import smooth_textured, textured

ROWS, COLS = 480, 640


def _block(shape, top, left, h, w):
    m = np.zeros(shape[:2], bool)
    m[top : top + h, left : left + w] = True
    return m


def _analytic_lost(source_shape, matrix, target_shape):
    """Source pixels whose centres map outside the target canvas."""
    rows, cols = np.mgrid[0 : source_shape[0], 0 : source_shape[1]]
    pts = np.stack([cols.ravel(), rows.ravel()], axis=1).astype(float)
    mapped = geometry.transform_points(matrix, pts)
    inside = (
        (mapped[:, 0] >= -0.5)
        & (mapped[:, 0] <= target_shape[1] - 0.5)
        & (mapped[:, 1] >= -0.5)
        & (mapped[:, 1] <= target_shape[0] - 0.5)
    )
    return ~inside.reshape(source_shape)


def test_local_blur_mask_is_the_blurred_region(rng):
    src = textured(rng, ROWS, COLS)
    tgt = src.copy()
    tgt[100:300, 200:450] = cv2.GaussianBlur(src[100:300, 200:450], (9, 9), 0)
    result = compare(None, src, tgt, {})
    truth = _block(src.shape, 100, 200, 200, 250)
    assert masks.iou(result.changed, truth) >= 0.99
    assert result.analysis["empty mask"] == "no"
    assert result.analysis["global"] == "no"
    assert result.analysis["shape change"] == "(0, 0)"


@pytest.mark.parametrize(("row", "col", "h", "w"), [(17, 33, 300, 400), (0, 0, 479, 639), (200, 1, 100, 638)])
def test_crop_location_is_exact_and_mask_is_outside_window(rng, row, col, h, w):
    src = textured(rng, ROWS, COLS)
    tgt = src[row : row + h, col : col + w].copy()
    result = compare("crop", src, tgt, {})
    assert result.analysis["location"] == f"({row}, {col})"
    assert result.analysis["shape change"] == f"({h - ROWS}, {w - COLS})"
    truth = ~_block(src.shape, row, col, h, w)
    assert np.array_equal(result.changed, truth)


def test_crop_with_an_edit_inside_the_window(rng):
    src = textured(rng, ROWS, COLS)
    tgt = src[50:350, 60:500].copy()
    tgt[10:40, 10:70] = 0
    result = compare("cropCompare", src, tgt, {"location": "(60, 50)"})
    truth = ~_block(src.shape, 50, 60, 300, 440) | _block(src.shape, 60, 70, 30, 60)
    assert result.analysis["location"] == "(50, 60)"
    assert np.array_equal(result.changed, truth)


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic", "nearest", "area"])
def test_pure_resize_gives_an_empty_mask_and_its_matrix(rng, interpolation):
    src = smooth_textured(rng, ROWS, COLS)
    flag = geometry.interpolation_flag(interpolation)
    tgt = cv2.resize(src, (COLS // 2, ROWS // 2), interpolation=flag)
    result = compare("resize", src, tgt, {"interpolation": interpolation})
    assert result.analysis["empty mask"] == "yes"
    m = geometry.matrix_from_jt(result.analysis["transform matrix"])
    assert np.allclose(m, geometry.resize_matrix((ROWS, COLS), (ROWS // 2, COLS // 2)))


def test_resize_then_local_edit_maps_the_edit_back(rng):
    src = smooth_textured(rng, ROWS, COLS)
    tgt = cv2.resize(src, (COLS // 2, ROWS // 2), interpolation=cv2.INTER_LINEAR)
    tgt[50:150, 100:200] += 100  # uint8 wraps: every pixel moves by 100 or 156
    result = compare("resize", src, tgt, {"interpolation": "bilinear"})
    truth = _block(src.shape, 100, 200, 200, 200)
    assert masks.iou(result.changed, truth) >= 0.99


@pytest.mark.parametrize("degrees", [90, 180, 270])
def test_quarter_rotation_is_exact(rng, degrees):
    src = textured(rng, ROWS, COLS)
    tgt = np.ascontiguousarray(np.rot90(src, k=degrees // 90))
    result = compare("rotate", src, tgt, {"rotation": degrees})
    assert result.analysis["empty mask"] == "yes"
    tgt[0:60, 0:60] = 0
    edited = compare("rotate", src, tgt, {"rotation": degrees})
    matrix = geometry.matrix_from_jt(edited.analysis["transform matrix"])
    truth = geometry.warp_mask(_block(tgt.shape, 0, 0, 60, 60), np.linalg.inv(matrix), src.shape[:2])
    assert masks.count(truth) == 3600
    assert np.array_equal(edited.changed, truth)


def test_rotation_without_expand_loses_the_corners(rng):
    src = smooth_textured(rng, ROWS, COLS)
    matrix, shape = geometry.rotation_matrix(src.shape[:2], 30, expand=False)
    tgt = geometry.warp_image(src, matrix, shape, interpolation=cv2.INTER_LINEAR)
    result = compare("rotate", src, tgt, {"rotation": 30})
    truth = _analytic_lost(src.shape[:2], matrix, shape)
    assert masks.iou(result.changed, truth) >= 0.99


@pytest.mark.parametrize("direction", ["horizontal", "vertical", "both"])
def test_flip_is_empty_and_an_edit_is_mirrored_back(rng, direction):
    src = textured(rng, ROWS, COLS)
    code = {"horizontal": 1, "vertical": 0, "both": -1}[direction]
    tgt = cv2.flip(src, code)
    assert compare("flip", src, tgt, {"flip direction": direction}).analysis["empty mask"] == "yes"
    tgt[10:70, 20:120] = 7
    result = compare("flip", src, tgt, {"flip direction": direction})
    truth = cv2.flip(_block(src.shape, 10, 20, 60, 100).astype(np.uint8), code).astype(bool)
    assert np.array_equal(result.changed, truth)


def test_affine_warp_from_transform_matrix(rng):
    src = smooth_textured(rng, ROWS, COLS)
    matrix = np.array([[0.9, 0.15, 40.0], [-0.1, 0.95, 25.0], [0.0, 0.0, 1.0]])
    tgt = geometry.warp_image(src, matrix, (ROWS, COLS))
    result = compare("warp", src, tgt, {"transform matrix": geometry.matrix_to_jt(matrix)})
    truth = _analytic_lost(src.shape[:2], matrix, (ROWS, COLS))
    assert masks.iou(result.changed, truth) >= 0.99


@pytest.mark.parametrize("quality", [95, 90, 80])
def test_jpeg_resave_gives_an_empty_mask(rng, quality):
    src = smooth_textured(rng, ROWS, COLS)
    ok, buf = cv2.imencode(".jpg", src, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    tgt = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    assert not np.array_equal(src, tgt)
    result = compare("convert", src, tgt, {})
    assert result.analysis["empty mask"] == "yes"


def test_convert_detects_a_real_edit(rng):
    src = smooth_textured(rng, ROWS, COLS)
    tgt = src.copy()
    tgt[100:200, 100:200] += 100
    result = compare("convert", src, tgt, {})
    assert masks.iou(result.changed, _block(src.shape, 100, 100, 100, 100)) >= 0.99


def test_paste_mask_is_the_donor_alpha_where_it_landed(rng):
    src = textured(rng, ROWS, COLS)
    donor = np.zeros((120, 160, 4), np.uint8)
    donor[:, :, :3] = 200
    cv2.circle(donor, (80, 60), 50, (200, 10, 10, 255), -1)
    tgt = src.copy()
    x, y = 300, 150
    alpha = donor[:, :, 3] > 0
    tgt[y : y + 120, x : x + 160][alpha] = donor[:, :, :3][alpha]
    result = compare("paste", src, tgt, {"paste_x": x, "paste_y": y}, donor=donor)
    truth = np.zeros(src.shape[:2], bool)
    truth[y : y + 120, x : x + 160] = alpha
    assert masks.iou(result.changed, truth) >= 0.99


def test_select_region_marks_transparent_pixels(rng):
    src = textured(rng, ROWS, COLS)
    tgt = np.dstack([src, np.zeros(src.shape[:2], np.uint8)])
    tgt[50:150, 60:260, 3] = 255
    result = compare("select_region", src, tgt, {})
    assert np.array_equal(result.changed, ~_block(src.shape, 50, 60, 100, 200))


def test_unknown_method_falls_back_and_says_so(rng):
    src = textured(rng, 20, 20)
    result = compare("noSuchCompare", src, src.copy(), {})
    assert result.analysis["empty mask"] == "yes"
    assert any("noSuchCompare" in e for e in result.errors)


def test_rotation_without_angle_is_recorded_as_an_error(rng):
    src = textured(rng, 20, 30)
    result = compare("rotate", src, np.rot90(src).copy(), {})
    assert result.errors and "rotation" in result.errors[0]


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("maskgen.tool_set.cropCompare", "crop"),
        ("resizeCompare", "resize"),
        ("crop", "crop"),
        (None, "diff"),
        ("extractAlpha", "select_region"),
        ("rotate", "rotate"),
    ],
)
def test_names_normalise(name, key):
    assert normalise_name(name) == key


def test_crop_resize_locates_the_window(rng):
    src = smooth_textured(rng, ROWS, COLS)
    window = src[40:340, 100:500]
    tgt = cv2.resize(window, (COLS, ROWS), interpolation=cv2.INTER_LINEAR)
    result = compare("crop_resize", src, tgt, {"crop width": 400, "crop height": 300})
    assert result.analysis["location"] == "(40, 100)"
    assert masks.iou(result.changed, ~_block(src.shape, 40, 100, 300, 400)) >= 0.99


def test_seam_carving_is_flagged_as_approximate(rng):
    src = textured(rng, 60, 80)
    result = compare("seam", src, src[:, :70].copy(), {})
    assert any("seam" in e for e in result.errors)
