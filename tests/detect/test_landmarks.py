from __future__ import annotations

import sys

import numpy as np
import pytest
import skimage.data

from masksmith.detect import landmarks as lmmod
from masksmith.detect.landmarks import (
    BoxStyle,
    dlib_rectangle_for,
    landmarks68_to_5,
    load_shape_predictor,
    predict_68,
)
from masksmith.errors import ModelUnavailable, OperationError

# CenterFace on the astronaut (facts file §4.4).
ASTRO_BOX = (181.53, 58.20, 269.88, 177.81)
ASTRO_5 = np.array([(203.2, 101.7), (247.0, 104.5), (223.3, 125.1), (203.4, 142.3), (241.3, 144.4)])


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return skimage.data.astronaut()


@pytest.fixture(scope="module")
def astro68(astronaut: np.ndarray) -> np.ndarray:
    return predict_68(astronaut, ASTRO_BOX)


def test_predict_68_shape_and_dtype(astro68: np.ndarray) -> None:
    assert astro68.shape == (68, 2)
    assert astro68.dtype == np.float32
    assert np.all(np.isfinite(astro68))


def test_landmarks_are_anatomically_ordered(astro68: np.ndarray) -> None:
    eyes_y = astro68[36:48, 1].max()
    nose_tip_y = astro68[30, 1]
    mouth_y = astro68[48:68, 1].min()
    assert eyes_y < nose_tip_y < mouth_y
    assert astro68[8, 1] > astro68[48:68, 1].max()  # chin below the mouth
    # image-left eye is left of the image-right eye, nose between them
    assert astro68[36:42, 0].mean() < astro68[30, 0] < astro68[42:48, 0].mean()


def test_landmarks_lie_within_the_face_box(astro68: np.ndarray) -> None:
    x1, y1, x2, y2 = ASTRO_BOX
    pad = 0.1 * (x2 - x1)
    assert np.all(astro68[:, 0] >= x1 - pad) and np.all(astro68[:, 0] <= x2 + pad)
    assert np.all(astro68[:, 1] >= y1 - pad) and np.all(astro68[:, 1] <= y2 + pad)


@pytest.mark.parametrize("index", range(5))
def test_derived_five_points_match_centerface(astro68: np.ndarray, index: int) -> None:
    five = landmarks68_to_5(astro68)
    assert five.shape == (5, 2)
    assert np.linalg.norm(five[index] - ASTRO_5[index]) < 6.0


def test_centerface_box_is_squared_like_dlib(astronaut: np.ndarray, astro68: np.ndarray) -> None:
    import dlib

    rects, scores, _ = dlib.get_frontal_face_detector().run(astronaut, 0, 0.5)
    best = rects[int(np.argmax(scores))]
    hog = predict_68(astronaut, (best.left(), best.top(), best.right(), best.bottom()), box_style="dlib")
    raw = predict_68(astronaut, ASTRO_BOX, box_style="dlib")
    squared_err = np.linalg.norm(astro68 - hog, axis=1).mean()
    raw_err = np.linalg.norm(raw - hog, axis=1).mean()
    assert squared_err < 1.0
    assert squared_err < raw_err


@pytest.mark.parametrize(
    ("box", "style", "expected"),
    [
        ((10.0, 20.0, 50.0, 80.0), BoxStyle.CENTERFACE, (10, 30, 50, 70)),
        ((10.0, 20.0, 50.0, 80.0), "dlib", (10, 20, 50, 80)),
        ((0.4, 0.6, 100.4, 100.6), "centerface", (0, 1, 100, 101)),
    ],
)
def test_dlib_rectangle_for(box: tuple[float, ...], style: str, expected: tuple[int, ...]) -> None:
    assert dlib_rectangle_for(box, style=style) == expected


@pytest.mark.parametrize("box", [(10, 10, 5, 20), (0, 0, 10), (0, 0, np.nan, 10)])
def test_bad_box_raises(box: tuple[float, ...]) -> None:
    with pytest.raises(OperationError, match="box"):
        dlib_rectangle_for(box, style="dlib")


def test_input_not_mutated_and_gray_and_rgba_accepted(astronaut: np.ndarray, astro68: np.ndarray) -> None:
    before = astronaut.copy()
    predict_68(astronaut, ASTRO_BOX)
    assert np.array_equal(astronaut, before)
    gray = (astronaut.astype(np.float32) @ [0.299, 0.587, 0.114]).astype(np.uint8)
    rgba = np.dstack([astronaut, np.full(astronaut.shape[:2], 255, np.uint8)])
    assert np.linalg.norm(predict_68(gray, ASTRO_BOX) - astro68, axis=1).mean() < 2.0
    assert np.array_equal(predict_68(rgba, ASTRO_BOX), astro68)


def test_bad_image_raises(astronaut: np.ndarray) -> None:
    with pytest.raises(OperationError, match="image"):
        predict_68(astronaut.astype(np.float32), ASTRO_BOX)


def test_predictor_is_loaded_once() -> None:
    assert load_shape_predictor() is load_shape_predictor()


def test_landmarks68_to_5_rejects_wrong_shape() -> None:
    with pytest.raises(OperationError, match="68"):
        landmarks68_to_5(np.zeros((5, 2)))


def test_missing_dlib_raises_model_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    lmmod._load_predictor_cached.cache_clear()
    monkeypatch.setitem(sys.modules, "dlib", None)
    try:
        with pytest.raises(ModelUnavailable, match=r"masksmith\[faces\]"):
            predict_68(np.zeros((32, 32, 3), np.uint8), (0, 0, 10, 10))
    finally:
        monkeypatch.undo()
        lmmod._load_predictor_cached.cache_clear()


def test_missing_model_package_raises_model_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    lmmod._load_predictor_cached.cache_clear()
    monkeypatch.setitem(sys.modules, "face_recognition_models", None)
    try:
        with pytest.raises(ModelUnavailable, match="face_recognition_models"):
            load_shape_predictor()
    finally:
        monkeypatch.undo()
        lmmod._load_predictor_cached.cache_clear()
