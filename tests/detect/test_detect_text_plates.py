"""text_plates: DB post-processing on known probability maps, the plate filter, and the real PP-OCR model."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest

from masksmith.detect.text_plates import PlateShape, network_size, text_boxes
from masksmith.errors import ModelUnavailable

HAS_MODEL = (
    importlib.util.find_spec("rapidocr") is not None and importlib.util.find_spec("onnxruntime") is not None
)
needs_model = pytest.mark.skipif(
    not HAS_MODEL, reason="needs rapidocr (make setup installs it) and onnxruntime"
)


def test_text_boxes_unclip_a_known_region() -> None:
    prob = np.zeros((100, 200), np.float32)
    prob[40:50, 20:80] = 0.9  # a 60 x 10 text line
    boxes, scores = text_boxes(prob, unclip_ratio=1.6)
    assert scores.tolist() == pytest.approx([0.9], abs=1e-6)
    # minAreaRect of the pixel contour: 59 x 9 (corner to corner), offset = 59*9*1.6/(2*68) = 6.25
    offset = 59 * 9 * 1.6 / (2 * (59 + 9))
    np.testing.assert_allclose(boxes[0], [20 - offset, 40 - offset, 79 + offset, 49 + offset], atol=0.01)


def test_text_boxes_drop_weak_and_tiny_regions() -> None:
    prob = np.zeros((100, 200), np.float32)
    prob[10:20, 10:60] = 0.4  # above the pixel threshold, under the box threshold
    prob[60:62, 100:103] = 0.95  # too thin
    boxes, _ = text_boxes(prob, threshold=0.3, box_threshold=0.5)
    assert len(boxes) == 0


def test_network_size_is_a_multiple_of_32_within_max_side() -> None:
    assert network_size(1080, 1920, 960) == (544, 960)
    assert network_size(20, 20, 960) == (32, 32)


def test_plate_shape_filter() -> None:
    shape = PlateShape()
    boxes = np.array(
        [
            [100, 800, 210, 830],  # 110 x 30, low in the frame: a plate
            [100, 100, 210, 130],  # same shape near the top: a sign
            [100, 800, 130, 830],  # square: not a plate
            [100, 800, 900, 900],  # far too wide
            [100, 800, 130, 806],  # 6 px high
        ],
        np.float32,
    )
    assert shape.keep(boxes, 1080, 1920).tolist() == [True, False, False, False, False]


def test_printed_plate_test_needs_dark_text_on_light_ground() -> None:
    shape = PlateShape()
    plate = np.full((30, 120), 235, np.uint8)
    plate[8:22, 10:110:12] = 20  # dark strokes on a white plate
    lettering = 255 - plate  # light strokes on a dark ground (bus lettering)
    box = np.array([0, 0, 120, 30], np.float32)
    assert shape.looks_printed(plate, box)
    assert not shape.looks_printed(lettering, box)


def _plate(width: int, text: str = "AB 12345") -> np.ndarray:
    height = int(width / 4.7)
    image = np.full((height, width, 3), 245, np.uint8)
    cv2.rectangle(image, (1, 1), (width - 2, height - 2), (20, 20, 20), max(1, height // 15))
    scale = height / 40
    thick = max(1, int(scale * 2.2))
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    scale *= min(1.0, width * 0.85 / tw)
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    cv2.putText(
        image,
        text,
        ((width - tw) // 2, (height + th) // 2),
        cv2.FONT_HERSHEY_SIMPLEX,
        scale,
        (15, 15, 15),
        thick,
    )
    return image


@needs_model
def test_plates_70_to_200_px_on_a_real_photo_are_hidden_and_lettering_is_not() -> None:
    from skimage import data

    from masksmith.detect.text_plates import TextPlateDetector

    detector = TextPlateDetector()
    # a real photo (scikit-image's coffee, 400x600) enlarged to 1080x1920 as a backdrop
    scene = cv2.resize(data.coffee(), (1920, 1080), interpolation=cv2.INTER_LINEAR)
    truth = []
    for width, (x, y) in ((70, (150, 900)), (110, (800, 820)), (180, (1500, 950)), (200, (400, 700))):
        plate = _plate(width)
        scene[y : y + plate.shape[0], x : x + plate.shape[1]] = plate
        truth.append((x, y, x + width, y + plate.shape[0]))
    # light lettering on a dark panel low in the frame (like a bus side) must not be taken for a plate
    panel = 255 - _plate(160, "EMISSIONS")
    scene[600 : 600 + panel.shape[0], 1100:1260] = panel
    dets = detector.detect(scene)
    hidden = dets.union_mask((1080, 1920))
    for x1, y1, x2, y2 in truth:
        assert hidden[y1:y2, x1:x2].mean() >= 0.9, (x1, y1, x2, y2)
    assert not hidden[600 : 600 + panel.shape[0], 1100:1260].any()
    assert len(dets) == len(truth)


@needs_model
def test_default_model_comes_from_the_rapidocr_wheel() -> None:
    from masksmith.detect.text_plates import default_model_path

    path = default_model_path()
    assert path.name == "PP-OCRv6_det_small.onnx" and path.parent.parent.name == "rapidocr"


def test_a_model_given_by_path_that_is_not_onnx_is_refused(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from masksmith.detect.text_plates import TextPlateDetector

    bad = tmp_path / "det.onnx"
    bad.write_bytes(b"\x00garbage")
    with pytest.raises(ModelUnavailable, match="not a usable ONNX model") as err:
        TextPlateDetector(model_path=bad)
    assert "det.onnx" in err.value.one_line()
