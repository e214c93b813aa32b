from __future__ import annotations

import cv2
import numpy as np
import pytest

from masksmith.media import geometry
from tests.synthetic import textured


def test_resize_matrix_maps_pixel_centres():
    m = geometry.resize_matrix((100, 200), (50, 100))
    pts = geometry.transform_points(m, np.array([[-0.5, -0.5], [199.5, 99.5]]))
    assert np.allclose(pts, [[-0.5, -0.5], [99.5, 49.5]])


@pytest.mark.parametrize("degrees", [90, 180, 270, -90])
def test_quarter_rotations_match_rot90(rng, degrees):
    img = textured(rng, 30, 50)
    matrix, shape = geometry.rotation_matrix(img.shape[:2], degrees, expand=True)
    expected = np.rot90(img, k=(degrees // 90) % 4)
    assert shape == expected.shape[:2]
    warped = geometry.warp_image(img, matrix, shape, interpolation=cv2.INTER_NEAREST)
    assert np.array_equal(warped, expected)


def test_rotation_matches_opencv_convention():
    matrix, shape = geometry.rotation_matrix((100, 100), 30, expand=False)
    cv = cv2.getRotationMatrix2D((49.5, 49.5), 30, 1.0)
    assert shape == (100, 100)
    assert np.allclose(matrix[:2], cv)


@pytest.mark.parametrize(("direction", "code"), [("horizontal", 1), ("vertical", 0), ("both", -1)])
def test_flip_matrix_matches_cv2_flip(rng, direction, code):
    img = textured(rng, 20, 30)
    m = geometry.flip_matrix(img.shape[:2], direction)
    warped = geometry.warp_image(img, m, img.shape[:2], interpolation=cv2.INTER_NEAREST)
    assert np.array_equal(warped, cv2.flip(img, code))


@pytest.mark.parametrize(("row", "col", "h", "w"), [(17, 33, 150, 200), (0, 0, 239, 319), (90, 5, 20, 20)])
def test_locate_crop_is_exact(rng, row, col, h, w):
    img = textured(rng, 240, 320)
    assert geometry.locate_crop(img, img[row : row + h, col : col + w]) == (row, col)


def test_matrix_jt_round_trip():
    m, _ = geometry.rotation_matrix((10, 20), 33.0)
    jt = geometry.matrix_to_jt(m)
    assert jt["r"] == 3 and jt["c"] == 3
    assert np.allclose(geometry.matrix_from_jt(jt), m)
    assert geometry.matrix_from_jt(None) is None
    with pytest.raises(ValueError):
        geometry.matrix_from_jt([[1, 2], [3, 4]])


def test_estimate_similarity_recovers_a_known_transform(rng):
    pts = rng.random((5, 2)) * 100
    angle = np.radians(12)
    true = np.array(
        [
            [1.3 * np.cos(angle), -1.3 * np.sin(angle), 7],
            [1.3 * np.sin(angle), 1.3 * np.cos(angle), -4],
            [0, 0, 1],
        ]
    )
    est = geometry.estimate_similarity(pts, geometry.transform_points(true, pts))
    assert np.allclose(est, true, atol=1e-9)
