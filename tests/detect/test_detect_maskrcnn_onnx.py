"""Mask R-CNN (ONNX model zoo format) decoding against tiny graphs with the zoo's input and output signature."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from masksmith.detect import BUS, CAR, PERSON, class_id  # noqa: E402
from masksmith.detect.maskrcnn_onnx import MaskRcnnDetector, resize_shape  # noqa: E402
from masksmith.errors import ModelUnavailable  # noqa: E402

IMAGE_HW = (400, 600)  # short side 400 -> x2 -> the network sees 800 x 1200 (padded to 800 x 1216)
# (input-pixel box, zoo label, score, mask kind)
INSTANCES = [
    ((200, 100, 400, 500), 1, 0.9, "left"),  # person, mask = left half of the box
    ((600, 200, 1000, 600), 3, 0.8, "full"),  # car, whole box
    ((0, 0, 100, 100), 6, 0.7, "full"),  # bus
    ((100, 100, 300, 300), 18, 0.95, "full"),  # dog: not a kept class
    ((800, 600, 900, 700), 1, 0.3, "full"),  # person under the threshold
]


def _outputs() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    boxes = np.array([b for b, *_ in INSTANCES], np.float32)
    labels = np.array([lab for _, lab, *_ in INSTANCES], np.int64)
    scores = np.array([s for *_, s, _ in INSTANCES], np.float32)
    masks = np.zeros((len(INSTANCES), 1, 28, 28), np.float32)
    for i, (*_, kind) in enumerate(INSTANCES):
        if kind == "left":
            masks[i, 0, :, :14] = 1.0
        else:
            masks[i, 0] = 1.0
    return boxes, labels, scores, masks


def _model(tmp_path: Path, *, fp16: bool = False) -> Path:
    boxes, labels, scores, masks = _outputs()
    ftype = TensorProto.FLOAT16 if fp16 else TensorProto.FLOAT
    fdt = np.float16 if fp16 else np.float32
    graph = helper.make_graph(
        [
            helper.make_node("Constant", [], ["b"], value=numpy_helper.from_array(boxes.astype(fdt))),
            helper.make_node("Constant", [], ["l"], value=numpy_helper.from_array(labels)),
            helper.make_node("Constant", [], ["s"], value=numpy_helper.from_array(scores.astype(fdt))),
            helper.make_node("Constant", [], ["m"], value=numpy_helper.from_array(masks.astype(fdt))),
            # tie the outputs to the input so the graph consumes it (and checks its type)
            helper.make_node("ReduceMin", ["image"], ["lo"], keepdims=0),
            helper.make_node("Mul", ["lo", "zero"], ["z"]),
            helper.make_node("Add", ["b", "z"], ["boxes"]),
            helper.make_node("Identity", ["l"], ["labels"]),
            helper.make_node("Add", ["s", "z"], ["scores"]),
            helper.make_node("Add", ["m", "z"], ["masks"]),
        ],
        "maskrcnn_stub",
        [helper.make_tensor_value_info("image", ftype, [3, "height", "width"])],
        [
            helper.make_tensor_value_info("boxes", ftype, ["N", 4]),
            helper.make_tensor_value_info("labels", TensorProto.INT64, ["N"]),
            helper.make_tensor_value_info("scores", ftype, ["N"]),
            helper.make_tensor_value_info("masks", ftype, ["N", 1, 28, 28]),
        ],
        initializer=[numpy_helper.from_array(np.zeros((), fdt), "zero")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = tmp_path / f"maskrcnn_{'fp16' if fp16 else 'fp32'}.onnx"
    path.write_bytes(model.SerializeToString())
    return path


def test_resize_shape_follows_the_zoo_rule() -> None:
    assert resize_shape(400, 600) == (800, 1200)
    assert resize_shape(1080, 1920) == (750, 1333)  # the long side caps at 1333


@pytest.mark.parametrize("fp16", [False, True])
def test_boxes_classes_and_masks_come_back_exactly(tmp_path: Path, fp16: bool) -> None:
    detector = MaskRcnnDetector(_model(tmp_path, fp16=fp16), score_threshold=0.5)
    image = np.random.default_rng(0).integers(0, 255, (*IMAGE_HW, 3), dtype=np.uint8)
    dets = detector.detect(image)
    assert dets.class_labels == [PERSON, CAR, BUS]
    np.testing.assert_allclose(dets.scores, [0.9, 0.8, 0.7], atol=1e-3)
    np.testing.assert_allclose(
        dets.boxes, [[100, 50, 200, 250], [300, 100, 500, 300], [0, 0, 50, 50]], atol=0.05
    )
    assert dets.masks is not None and dets.masks.shape == (3, *IMAGE_HW)
    person = np.zeros(IMAGE_HW, bool)
    person[50:250, 100:150] = True  # left half of the box
    car = np.zeros(IMAGE_HW, bool)
    car[100:300, 300:500] = True
    bus = np.zeros(IMAGE_HW, bool)
    bus[0:50, 0:50] = True
    assert np.array_equal(dets.masks[0], person)
    assert np.array_equal(dets.masks[1], car)
    assert np.array_equal(dets.masks[2], bus)


def test_class_map_and_kept_classes_select_what_comes_back(tmp_path: Path) -> None:
    # a map that calls the zoo's dog (18) a car and keeps cars only
    detector = MaskRcnnDetector(
        _model(tmp_path), score_threshold=0.5, classes=[CAR], class_map={3: CAR, 18: CAR}
    )
    dets = detector.detect(np.zeros((*IMAGE_HW, 3), np.uint8))
    assert dets.class_ids.tolist() == [class_id(CAR), class_id(CAR)]
    np.testing.assert_allclose(dets.scores, [0.95, 0.8], atol=1e-3)


def test_input_blob_is_bgr_minus_zoo_means_padded_to_32(tmp_path: Path) -> None:
    detector = MaskRcnnDetector(_model(tmp_path))
    image = np.zeros((*IMAGE_HW, 3), np.uint8)
    image[..., 0] = 200  # red
    blob, sx, sy = detector.network_input(image)
    assert blob.shape == (3, 800, 1216) and (sx, sy) == (2.0, 2.0)
    np.testing.assert_allclose(blob[:, 10, 10], [-102.9801, -115.9465, 200 - 122.7717], atol=1e-3)
    assert not blob[:, :, 1200:].any()  # zero padding


def test_bad_model_files_are_refused_naming_the_file(tmp_path: Path) -> None:
    text = tmp_path / "not_a_model.onnx"
    text.write_text("hello")
    with pytest.raises(ModelUnavailable, match="not a usable ONNX model") as err:
        MaskRcnnDetector(text)
    assert "not_a_model.onnx" in err.value.one_line()
    with pytest.raises(ModelUnavailable, match="not found") as err:
        MaskRcnnDetector(tmp_path / "missing.onnx")
    assert "missing.onnx" in err.value.one_line()
    # a rank-4 (N×C×H×W) model is the wrong shape for the zoo's C×H×W input
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "rank4",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 32, 32])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    wrong = tmp_path / "wrong_shape.onnx"
    wrong.write_bytes(model.SerializeToString())
    with pytest.raises(ModelUnavailable, match="wrong model for the Mask R-CNN") as err:
        MaskRcnnDetector(wrong)
    assert "wrong_shape.onnx" in err.value.one_line()
