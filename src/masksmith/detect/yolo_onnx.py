"""Instance segmentation from a YOLOv8-seg style ONNX export, run with onnxruntime.

Layout (as ultralytics exports it): input ``1×3×H×W`` float RGB in [0, 1], letterboxed; ``output0``
``1×(4+nc+nm)×A`` (cx, cy, w, h in input pixels, nc class scores, nm mask coefficients) and
``output1`` ``1×nm×mh×mw`` mask prototypes covering the whole network input.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from masksmith.detect.api import Detections, ImageArray, as_rgb_uint8
from masksmith.detect.boxes import FloatArray, best_class, clip_boxes, cxcywh_to_xyxy, nms, pixel_bounds
from masksmith.detect.classes import COCO80_TO_CLASS, ROAD_CLASSES, class_id, kept_class_ids
from masksmith.detect.network_input import resize_exact_area
from masksmith.detect.onnx_check import OnnxModel, fixed_input_hw
from masksmith.errors import ModelUnavailable

MODEL_ENV = "MASKSMITH_YOLO_SEG_MODEL"
DEFAULT_INPUT = 640
PAD_VALUE = 114


def configured_model_path() -> Path:
    """The model path from ``$MASKSMITH_YOLO_SEG_MODEL`` (configs pass ``model_path`` directly)."""
    value = os.environ.get(MODEL_ENV)
    if not value:
        raise ModelUnavailable(
            f"no YOLO-seg model configured: set model_path in the config or ${MODEL_ENV}",
            argument="model_path",
        )
    path = Path(value)
    if not path.is_file():
        raise ModelUnavailable("YOLO-seg model file not found", file=path)
    return path


@dataclass(frozen=True)
class Letterbox:
    """How an image was fitted into the network input: scale per axis, then padding left/top."""

    scale_x: float
    scale_y: float
    left: int
    top: int
    width: int  # resized image width inside the input
    height: int

    def to_input(self) -> npt.NDArray[np.float64]:
        """2×3 affine from source pixel coordinates to network-input pixel coordinates."""
        return np.array([[self.scale_x, 0.0, self.left], [0.0, self.scale_y, self.top]])


def letterbox(
    image_rgb: npt.NDArray[np.uint8], size: tuple[int, int], *, pad_value: int = PAD_VALUE
) -> tuple[npt.NDArray[np.uint8], Letterbox]:
    """Resize ``image_rgb`` to fit ``size`` (H, W) keeping its aspect ratio, pad centred."""
    h, w = image_rgb.shape[:2]
    in_h, in_w = size
    ratio = min(in_h / h, in_w / w)
    new_w, new_h = max(1, round(w * ratio)), max(1, round(h * ratio))
    left, top = (in_w - new_w) // 2, (in_h - new_h) // 2
    resized = resize_exact_area(image_rgb, (new_w, new_h))
    canvas = np.full((in_h, in_w, 3), pad_value, dtype=np.uint8)
    canvas[top : top + new_h, left : left + new_w] = resized
    # Exact per-axis scales from the rounded size make the inverse map land on the source pixels.
    return canvas, Letterbox(new_w / w, new_h / h, left, top, new_w, new_h)


def _sigmoid_threshold_logit(threshold: float) -> float:
    return float(np.log(threshold / (1.0 - threshold)))


class YoloSegDetector:
    """People and vehicles (or any mapped classes) with instance masks from a YOLO-seg ONNX export.

    ``class_map`` maps the model's class index to a masksmith class name (default COCO-80); only
    ``classes`` are kept. Boxes, masks and scores come back in the given image's pixels.
    """

    name = "yolo-seg"

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        *,
        score_threshold: float = 0.25,
        iou_threshold: float = 0.45,
        mask_threshold: float = 0.5,
        classes: Iterable[str] = ROAD_CLASSES,
        class_map: Mapping[int, str] = COCO80_TO_CLASS,
        input_size: int | tuple[int, int] | None = None,
        max_detections: int = 300,
        intra_op_threads: int | None = None,
    ) -> None:
        path = Path(model_path) if model_path is not None else configured_model_path()
        if not path.is_file():
            raise ModelUnavailable("YOLO-seg model file not found", file=path)
        if not 0.0 < mask_threshold < 1.0:
            raise ModelUnavailable(
                f"mask_threshold must be in (0, 1), got {mask_threshold}", argument="mask_threshold"
            )
        self.model_path = path
        self.classes: tuple[str, ...] = tuple(classes)
        for c in self.classes:
            class_id(c)  # validates the name
        self.score_threshold = float(score_threshold)
        self.iou_threshold = float(iou_threshold)
        self.mask_logit = _sigmoid_threshold_logit(mask_threshold)
        self.max_detections = int(max_detections)
        # model class index -> masksmith class id, for kept classes only
        self._keep_map = kept_class_ids(class_map, self.classes)
        self._model = OnnxModel.open(
            path, rank=4, channels=3, what="YOLO-seg", threads=intra_op_threads, min_outputs=2
        )
        self.input_hw: tuple[int, int]
        if isinstance(input_size, int):
            self.input_hw = (input_size, input_size)
        elif input_size is not None:
            self.input_hw = (int(input_size[0]), int(input_size[1]))
        else:
            self.input_hw = fixed_input_hw(self._model.input_shape, DEFAULT_INPUT)

    def detect(self, image_rgb: ImageArray) -> Detections:
        """Kept-class instances with masks, best score first."""
        rgb = as_rgb_uint8(image_rgb)
        h, w = rgb.shape[:2]
        canvas, lb = letterbox(rgb, self.input_hw)
        blob = (canvas.transpose(2, 0, 1)[None].astype(np.float32)) / 255.0
        outputs = self._model.run(blob)
        preds = next(o for o in outputs if o.ndim == 3).astype(np.float32)
        protos = next(o for o in outputs if o.ndim == 4).astype(np.float32)
        return self.decode(preds[0], protos[0], lb, (h, w))

    def decode(
        self,
        preds: npt.NDArray[np.float32],
        protos: npt.NDArray[np.float32],
        lb: Letterbox,
        image_hw: tuple[int, int],
    ) -> Detections:
        """Detections from one image's raw outputs: ``preds`` (4+nc+nm)×A, ``protos`` nm×mh×mw."""
        h, w = image_hw
        nm = protos.shape[0]
        nc = preds.shape[0] - 4 - nm
        if nc <= 0:
            raise ModelUnavailable(
                f"expected output0 with 4 + classes + {nm} rows, got {preds.shape[0]}", file=self.model_path
            )
        rows = preds.T  # A × C
        best, score = best_class(rows[:, 4 : 4 + nc])
        kept_idx = np.array(sorted(self._keep_map), dtype=np.int64)
        sel = (score > self.score_threshold) & np.isin(best, kept_idx)
        if not np.any(sel):
            return Detections.empty(h, w, with_masks=True)
        rows, best, score = rows[sel], best[sel], score[sel]
        boxes_in = cxcywh_to_xyxy(rows)
        keep = nms(
            boxes_in,
            score,
            iou_threshold=self.iou_threshold,
            class_ids=best,
            max_detections=self.max_detections,
        )
        boxes_in, best, score, coeffs = boxes_in[keep], best[keep], score[keep], rows[keep, 4 + nc :]
        # undo the letterbox
        boxes = np.empty_like(boxes_in)
        boxes[:, [0, 2]] = (boxes_in[:, [0, 2]] - lb.left) / lb.scale_x
        boxes[:, [1, 3]] = (boxes_in[:, [1, 3]] - lb.top) / lb.scale_y
        boxes = clip_boxes(boxes, h, w)
        masks = self._masks(coeffs, protos, boxes, lb, (h, w))
        ids = np.array([self._keep_map[int(b)] for b in best], dtype=np.int64)
        return Detections(boxes=boxes, scores=score, class_ids=ids, masks=masks, image_size=(h, w))

    def _masks(
        self,
        coeffs: npt.NDArray[np.float32],
        protos: npt.NDArray[np.float32],
        boxes: FloatArray,
        lb: Letterbox,
        image_hw: tuple[int, int],
    ) -> npt.NDArray[np.bool_]:
        """Per-instance masks in image pixels, sampled from prototype space only inside each box."""
        h, w = image_hw
        nm, mh, mw = protos.shape
        logits = (coeffs.astype(np.float32) @ protos.reshape(nm, -1)).reshape(-1, mh, mw)
        in_h, in_w = self.input_hw
        # source pixel centre (u + 0.5) -> input pixel -> prototype cell (centre at index + 0.5)
        to_proto = np.diag([mw / in_w, mh / in_h]) @ lb.to_input()
        masks = np.zeros((len(boxes), h, w), dtype=bool)
        for i, box in enumerate(boxes):
            c0, r0, c1, r1 = pixel_bounds(box, h, w)
            if c1 <= c0 or r1 <= r0:
                continue
            # affine from ROI pixel (col, row) to prototype coordinates for cv2's inverse-map sampling
            m = to_proto.copy()
            m[:, 2] = to_proto[:, :2] @ np.array([c0 + 0.5, r0 + 0.5]) + to_proto[:, 2] - 0.5
            roi = cv2.warpAffine(
                logits[i],
                m.astype(np.float64),
                (c1 - c0, r1 - r0),
                flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                borderMode=cv2.BORDER_REPLICATE,
            )
            masks[i, r0:r1, c0:c1] = roi > self.mask_logit
        return masks
