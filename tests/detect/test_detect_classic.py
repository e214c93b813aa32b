"""OpenCV HOG people and Haar plate detectors on synthetic images."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from masksmith.detect import LICENCE_PLATE, PERSON, Detections, class_id, classic
from masksmith.errors import ModelUnavailable

needs_hog = pytest.mark.skipif(
    not hasattr(cv2, "HOGDescriptor"), reason="OpenCV build without HOG (OpenCV 5 main)"
)
needs_cascade = pytest.mark.skipif(
    not hasattr(cv2, "CascadeClassifier"), reason="OpenCV build without cascades"
)

INK = (40, 40, 40)


def _pedestrian() -> np.ndarray:
    """A dark stick-figure silhouette (head, torso, arms, legs) on a light background."""
    img = np.full((256, 160, 3), 200, np.uint8)
    cv2.circle(img, (80, 50), 14, INK, -1)
    cv2.rectangle(img, (62, 66), (98, 150), INK, -1)
    cv2.line(img, (70, 150), (62, 225), INK, 12)
    cv2.line(img, (90, 150), (98, 225), INK, 12)
    cv2.line(img, (62, 72), (48, 140), INK, 9)
    cv2.line(img, (98, 72), (112, 140), INK, 9)
    return img


def _plate() -> np.ndarray:
    img = np.full((200, 400, 3), 90, np.uint8)
    cv2.rectangle(img, (100, 80), (300, 130), (255, 255, 255), -1)
    cv2.rectangle(img, (100, 80), (300, 130), (0, 0, 0), 2)
    cv2.putText(img, "A123BC", (110, 120), cv2.FONT_HERSHEY_SIMPLEX, 1.3, (0, 0, 0), 3)
    return img


@needs_hog
@pytest.mark.parametrize(
    ("image", "found"), [(_pedestrian(), True), (np.full((400, 300, 3), 128, np.uint8), False)]
)
def test_hog_people(image: np.ndarray, found: bool) -> None:
    det = classic.HogPeopleDetector()
    before = image.copy()
    dets = det.detect(image)
    np.testing.assert_array_equal(image, before)
    assert isinstance(dets, Detections)
    assert dets.image_size == image.shape[:2]
    assert (len(dets) > 0) is found
    assert set(dets.class_ids.tolist()) <= {class_id(PERSON)}
    if found:
        x1, y1, x2, y2 = dets.boxes[0]
        assert x1 <= 80 <= x2 and y1 <= 140 <= y2  # the figure's middle
        assert (dets.boxes[:, [0, 1]] >= 0).all() and (dets.boxes[:, 2] <= image.shape[1]).all()


@needs_hog
def test_hog_tiny_image_is_empty_not_an_error() -> None:
    assert len(classic.HogPeopleDetector().detect(np.zeros((50, 40, 3), np.uint8))) == 0


@needs_cascade
@pytest.mark.parametrize(
    ("image", "found"), [(_plate(), True), (np.full((200, 400, 3), 128, np.uint8), False)]
)
def test_haar_plates(image: np.ndarray, found: bool) -> None:
    try:
        det = classic.HaarPlateDetector()
    except ModelUnavailable as err:
        pytest.skip(str(err))
    dets = det.detect(image)
    assert (len(dets) > 0) is found
    assert set(dets.class_ids.tolist()) <= {class_id(LICENCE_PLATE)}
    if found:
        x1, y1, x2, y2 = dets.boxes[0]
        assert x1 <= 200 <= x2 and y1 <= 105 <= y2  # covers the plate centre


def test_missing_cascade_raises_with_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(classic, "_candidate_cascade_files", lambda names: iter(()))
    with pytest.raises(ModelUnavailable, match="opencv-python-headless"):
        classic.plate_cascade_path()


def test_opencv_without_hog_raises_with_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(cv2, "HOGDescriptor", raising=False)
    with pytest.raises(ModelUnavailable, match="opencv-python-headless"):
        classic.HogPeopleDetector()


def test_explicit_missing_cascade_path_names_the_file() -> None:
    if not hasattr(cv2, "CascadeClassifier"):
        pytest.skip("OpenCV build without cascades")
    with pytest.raises(ModelUnavailable, match=r"nope\.xml"):
        classic.HaarPlateDetector(cascade_path="/nonexistent/nope.xml")
