"""YOLOX decoding against tiny graphs with the export's signature: raw grid outputs and pre-decoded ones."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from masksmith.detect import CAR, PERSON  # noqa: E402
from masksmith.detect.yolox_onnx import YoloxDetector, grid_decode  # noqa: E402

SIZE = 64  # network input 64 x 64: 8x8 + 4x4 + 2x2 = 84 anchors
NC = 80
IMAGE_HW = (96, 128)  # ratio min(64/96, 64/128) = 0.5


def _raw() -> np.ndarray:
    rows = np.zeros((84, 5 + NC), np.float32)
    rows[:, 4] = 0.0
    person = 3 * 8 + 2  # stride 8, cell x=2, y=3
    rows[person, :5] = [0.5, 0.5, math.log(2), math.log(3), 0.9]
    rows[person, 5 + 0] = 0.8
    car = 64 + 16 + 1 * 2 + 0  # stride 32, cell x=0, y=1
    rows[car, :5] = [0.5, 0.5, 0.0, 0.0, 1.0]
    rows[car, 5 + 2] = 0.5
    dog = 64 + 5  # stride 16: not a kept class
    rows[dog, :5] = [0, 0, 0, 0, 1.0]
    rows[dog, 5 + 16] = 0.99
    return rows


def _model(tmp_path: Path, rows: np.ndarray, *, fp16: bool = False) -> Path:
    ftype = TensorProto.FLOAT16 if fp16 else TensorProto.FLOAT
    fdt = np.float16 if fp16 else np.float32
    graph = helper.make_graph(
        [
            helper.make_node("Constant", [], ["r"], value=numpy_helper.from_array(rows[None].astype(fdt))),
            helper.make_node("ReduceMin", ["images"], ["lo"], keepdims=0),
            helper.make_node("Mul", ["lo", "zero"], ["z"]),
            helper.make_node("Add", ["r", "z"], ["output"]),
        ],
        "yolox_stub",
        [helper.make_tensor_value_info("images", ftype, [1, 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("output", ftype, [1, 84, 5 + NC])],
        initializer=[numpy_helper.from_array(np.zeros((), fdt), "zero")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = tmp_path / f"yolox_{fp16}.onnx"
    path.write_bytes(model.SerializeToString())
    return path


@pytest.mark.parametrize("fp16", [False, True])
def test_raw_grid_outputs_decode_to_image_boxes(tmp_path: Path, fp16: bool) -> None:
    detector = YoloxDetector(_model(tmp_path, _raw(), fp16=fp16), score_threshold=0.3)
    dets = detector.detect(np.zeros((*IMAGE_HW, 3), np.uint8))
    assert dets.class_labels == [PERSON, CAR]
    np.testing.assert_allclose(dets.scores, [0.72, 0.5], atol=2e-3)
    # person: centre (20, 28), 16 x 24 in the input -> /0.5; car: centre (16, 48), 32 x 32, clipped at 96
    np.testing.assert_allclose(dets.boxes, [[24, 32, 56, 80], [0, 64, 64, 96]], atol=0.1)
    assert dets.masks is None


def test_pre_decoded_exports_are_read_as_pixels(tmp_path: Path) -> None:
    decoded = grid_decode(_raw(), (SIZE, SIZE))
    detector = YoloxDetector(_model(tmp_path, decoded), score_threshold=0.3, decode_grids=False)
    dets = detector.detect(np.zeros((*IMAGE_HW, 3), np.uint8))
    np.testing.assert_allclose(dets.boxes, [[24, 32, 56, 80], [0, 64, 64, 96]], atol=0.1)


def test_input_is_bgr_0_255_padded_right_and_bottom(tmp_path: Path) -> None:
    detector = YoloxDetector(_model(tmp_path, _raw()))
    image = np.zeros((*IMAGE_HW, 3), np.uint8)
    image[..., 0] = 200
    blob, ratio = detector.network_input(image)
    assert ratio == 0.5 and blob.shape == (1, 3, SIZE, SIZE)
    np.testing.assert_allclose(blob[0, :, 0, 0], [0, 0, 200])
    np.testing.assert_allclose(blob[0, :, 63, 0], [114, 114, 114])  # below the 48-row image
