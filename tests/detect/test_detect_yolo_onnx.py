"""YOLO-seg decoding against a tiny ONNX graph whose outputs encode known boxes, classes and masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from masksmith.detect import CAR, PERSON, Detections, class_id, detect_downscaled  # noqa: E402
from masksmith.detect.yolo_onnx import YoloSegDetector, letterbox  # noqa: E402

NC, NM = 80, 32
# anchors in a 320-px input: (cx, cy, w, h, coco class, score, prototype channel used as mask)
ANCHORS = [
    (100, 100, 60, 80, 0, 0.90, 0),  # person A; mask = channel 0 (a square) inside the box
    (105, 104, 60, 80, 0, 0.80, 0),  # person B overlaps A -> suppressed
    (220, 180, 80, 40, 2, 0.70, 1),  # car; mask = channel 1 (everywhere) -> whole box
    (250, 60, 40, 40, 16, 0.95, 1),  # dog -> not a kept class
    (40, 260, 30, 30, 0, 0.10, 1),  # person under the score threshold
    (100, 100, 60, 80, 2, 0.60, 1),  # car on top of person A: other class, survives NMS
]
IMAGE_HW = (480, 640)
# expected in source pixels (input 320 maps from 640x480 with scale 0.5 and top padding 40)
PERSON_BOX = (140, 40, 260, 200)
PERSON_MASK_BBOX = (160, 80, 260, 200)  # channel-0 square [80,140)^2 in input, cut by the box
CAR_BOX = (360, 240, 520, 320)


def _outputs(size: int) -> tuple[np.ndarray, np.ndarray]:
    f = size / 320
    preds = np.zeros((1, 4 + NC + NM, 8), np.float32)
    for a, (cx, cy, w, h, cls, score, channel) in enumerate(ANCHORS):
        preds[0, :4, a] = np.array([cx, cy, w, h]) * f
        preds[0, 4 + cls, a] = score
        preds[0, 4 + NC + channel, a] = 1.0
    mh = size // 4
    protos = np.full((1, NM, mh, mh), 0.0, np.float32)
    protos[0, 0] = -10.0
    lo, hi = round(80 * f / 4), round(140 * f / 4)
    protos[0, 0, lo:hi, lo:hi] = 10.0
    protos[0, 1] = 10.0
    return preds, protos


def _model(tmp_path: Path, size: int, *, dynamic: bool, fp16: bool = False) -> Path:
    preds, protos = _outputs(size)
    dims = ["batch", 3, "height", "width"] if dynamic else [1, 3, size, size]
    ftype = TensorProto.FLOAT16 if fp16 else TensorProto.FLOAT
    fdt = np.float16 if fp16 else np.float32
    graph = helper.make_graph(
        [
            helper.make_node("Constant", [], ["p0"], value=numpy_helper.from_array(preds.astype(fdt))),
            helper.make_node("Constant", [], ["p1"], value=numpy_helper.from_array(protos.astype(fdt))),
            # tie the outputs to the input so the graph really consumes it
            helper.make_node("ReduceMin", ["images"], ["m"], keepdims=0),
            helper.make_node("Mul", ["m", "zero"], ["z"]),
            helper.make_node("Add", ["p0", "z"], ["output0"]),
            helper.make_node("Add", ["p1", "z"], ["output1"]),
        ],
        "yolo_seg_stub",
        [helper.make_tensor_value_info("images", ftype, dims)],
        [
            helper.make_tensor_value_info("output0", ftype, list(preds.shape)),
            helper.make_tensor_value_info("output1", ftype, list(protos.shape)),
        ],
        initializer=[numpy_helper.from_array(np.zeros((), fdt), "zero")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = tmp_path / f"stub_{size}_{dynamic}_{fp16}.onnx"
    path.write_bytes(model.SerializeToString())
    return path


def _image(rng_seed: int = 0, hw: tuple[int, int] = IMAGE_HW) -> np.ndarray:
    rng = np.random.default_rng(rng_seed)
    return rng.integers(0, 256, (*hw, 3), dtype=np.uint8)


def _mask_bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.nonzero(mask)
    return int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1


@pytest.mark.parametrize(
    ("size", "dynamic", "fp16"), [(320, False, False), (640, True, False), (320, False, True)]
)
def test_decode_nms_class_filter_and_masks(tmp_path: Path, size: int, dynamic: bool, fp16: bool) -> None:
    det = YoloSegDetector(_model(tmp_path, size, dynamic=dynamic, fp16=fp16))
    assert det.input_hw == (size, size)
    image = _image()
    before = image.copy()
    dets = det.detect(image)
    np.testing.assert_array_equal(image, before)
    assert dets.image_size == IMAGE_HW
    assert dets.masks is not None and dets.masks.shape == (3, *IMAGE_HW)
    assert dets.class_labels == [PERSON, CAR, CAR]  # sorted by score; dog and low score gone, B suppressed
    np.testing.assert_allclose(dets.scores, [0.9, 0.7, 0.6], atol=1e-3 if fp16 else 1e-6)
    np.testing.assert_allclose(dets.boxes, [PERSON_BOX, CAR_BOX, PERSON_BOX], atol=0.5)
    for box, mask in zip(dets.boxes, dets.masks, strict=True):
        x1, y1, x2, y2 = box
        rows, cols = np.nonzero(mask)
        assert cols.min() >= x1 - 1 and cols.max() + 1 <= x2 + 1
        assert rows.min() >= y1 - 1 and rows.max() + 1 <= y2 + 1
    np.testing.assert_allclose(_mask_bbox(dets.masks[0]), PERSON_MASK_BBOX, atol=2)
    np.testing.assert_allclose(_mask_bbox(dets.masks[1]), CAR_BOX, atol=2)
    # the car mask fills its box
    x1, y1, x2, y2 = CAR_BOX
    assert dets.masks[1][y1 + 2 : y2 - 2, x1 + 2 : x2 - 2].all()


@pytest.mark.parametrize(
    ("options", "labels"),
    [
        ({"classes": (CAR,)}, [CAR, CAR]),
        ({"classes": (PERSON,)}, [PERSON]),
        ({"score_threshold": 0.75}, [PERSON]),
        ({"score_threshold": 0.05}, [PERSON, CAR, CAR, PERSON]),
        ({"iou_threshold": 0.95}, [PERSON, PERSON, CAR, CAR]),
        ({"classes": (PERSON, CAR), "class_map": {16: PERSON}}, [PERSON]),
    ],
)
def test_options_change_what_is_kept(tmp_path: Path, options: dict[str, object], labels: list[str]) -> None:
    det = YoloSegDetector(_model(tmp_path, 320, dynamic=False), **options)  # type: ignore[arg-type]
    assert det.detect(_image()).class_labels == labels


def test_detect_downscaled_maps_back_to_full_size(tmp_path: Path) -> None:
    det = YoloSegDetector(_model(tmp_path, 320, dynamic=False))
    big = _image(1, (960, 1280))
    dets = detect_downscaled(det, big, 640 * 480)
    assert dets.image_size == (960, 1280)
    assert dets.masks is not None and dets.masks.shape == (3, 960, 1280)
    np.testing.assert_allclose(dets.boxes[0], np.array(PERSON_BOX) * 2, atol=1.0)
    np.testing.assert_allclose(_mask_bbox(dets.masks[0]), np.array(PERSON_MASK_BBOX) * 2, atol=3)
    assert isinstance(dets, Detections)
    assert dets.class_ids[0] == class_id(PERSON)


@pytest.mark.parametrize(
    ("hw", "size"), [((480, 640), (320, 320)), ((300, 100), (640, 640)), ((64, 64), (96, 128))]
)
def test_letterbox_is_exactly_invertible(hw: tuple[int, int], size: tuple[int, int]) -> None:
    image = _image(2, hw)
    canvas, lb = letterbox(image, size)
    assert canvas.shape == (*size, 3)
    # source corners map to the corners of the placed image
    m = lb.to_input()
    corner = m @ np.array([hw[1], hw[0], 1.0])
    np.testing.assert_allclose(corner, [lb.left + lb.width, lb.top + lb.height])
    assert (canvas[: lb.top] == 114).all() and (canvas[lb.top + lb.height :] == 114).all()
