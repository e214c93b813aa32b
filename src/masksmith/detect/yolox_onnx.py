"""People and vehicles as boxes from a YOLOX ONNX export (Megvii's ``tools/export_onnx.py`` layout).

Input ``1×3×S×S`` float BGR 0–255 (no normalisation), the image resized by ``r = min(S/h, S/w)`` and
padded right and bottom with 114. Output ``1×A×(5+nc)``: per anchor (cx, cy, w, h, objectness, nc class
scores). Exports made without ``--decode_in_inference`` (the default) give grid offsets and log sizes
per stride 8/16/32, which ``decode_grids`` turns into pixels; an export with decoding built in needs
``decode_grids=False``. Score = objectness × class score. fp16 exports are fed fp16.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from masksmith.detect.api import Detections, ImageArray, as_rgb_uint8
from masksmith.detect.boxes import best_class, cxcywh_to_xyxy, nms
from masksmith.detect.classes import COCO80_TO_CLASS, ROAD_CLASSES, kept_class_ids
from masksmith.detect.onnx_check import OnnxModel, fixed_input_hw
from masksmith.errors import ModelUnavailable

STRIDES = (8, 16, 32)
PAD_VALUE = 114


def configured_model_path() -> Path:
    """YOLOX has no default model: runs name one in the config (``yolox_model_path``)."""
    raise ModelUnavailable("no YOLOX model configured: set yolox_model_path in the config", argument="model")


def grid_decode(raw: npt.NDArray[np.float32], size: tuple[int, int]) -> npt.NDArray[np.float32]:
    """Anchor rows (A×(5+nc)) from grid offsets and log sizes to input pixels, for strides 8/16/32."""
    in_h, in_w = size
    grids, strides = [], []
    for stride in STRIDES:
        gh, gw = in_h // stride, in_w // stride
        ys, xs = np.meshgrid(np.arange(gh), np.arange(gw), indexing="ij")
        grids.append(np.stack([xs, ys], axis=-1).reshape(-1, 2))
        strides.append(np.full((gh * gw, 1), stride))
    grid = np.concatenate(grids).astype(np.float32)
    step = np.concatenate(strides).astype(np.float32)
    if len(grid) != len(raw):
        raise ModelUnavailable(
            f"expected {len(grid)} anchors for a {in_w}x{in_h} input with strides 8/16/32, got {len(raw)}",
            argument="model",
        )
    out = raw.astype(np.float32).copy()
    out[:, :2] = (out[:, :2] + grid) * step
    out[:, 2:4] = np.exp(out[:, 2:4]) * step
    return out


class YoloxDetector:
    """Kept classes as boxes (no masks) from a YOLOX ONNX export, in the given image's pixels."""

    name = "yolox"

    def __init__(
        self,
        model_path: str | os.PathLike[str],
        *,
        score_threshold: float = 0.3,
        iou_threshold: float = 0.45,
        classes: Iterable[str] = ROAD_CLASSES,
        class_map: Mapping[int, str] = COCO80_TO_CLASS,
        decode_grids: bool = True,
        input_size: int = 640,
        intra_op_threads: int | None = None,
    ) -> None:
        self.model_path = Path(model_path)
        self._model = OnnxModel.open(
            self.model_path, rank=4, channels=3, what="YOLOX", threads=intra_op_threads
        )
        self.input_hw = fixed_input_hw(self._model.input_shape, input_size)
        self.classes: tuple[str, ...] = tuple(classes)
        self._keep_map = kept_class_ids(class_map, self.classes)
        self.score_threshold = float(score_threshold)
        self.iou_threshold = float(iou_threshold)
        self.decode_grids = bool(decode_grids)

    def network_input(self, rgb: npt.NDArray[np.uint8]) -> tuple[npt.NDArray[np.floating], float]:
        """The ``1×3×S×S`` blob (BGR, 0–255, padded right/bottom with 114) and the resize ratio."""
        h, w = rgb.shape[:2]
        in_h, in_w = self.input_hw
        ratio = min(in_h / h, in_w / w)
        nh, nw = max(1, int(h * ratio)), max(1, int(w * ratio))
        resized = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_LINEAR)
        canvas = np.full((in_h, in_w, 3), PAD_VALUE, np.float32)
        canvas[:nh, :nw] = resized[:, :, ::-1]
        return canvas.transpose(2, 0, 1)[None].astype(self._model.dtype), ratio

    def detect(self, image_rgb: ImageArray) -> Detections:
        """Kept-class boxes, best score first."""
        rgb = as_rgb_uint8(image_rgb)
        h, w = rgb.shape[:2]
        blob, ratio = self.network_input(rgb)
        raw = np.asarray(self._model.run(blob)[0], dtype=np.float32)
        return self.decode(raw.reshape(raw.shape[-2], raw.shape[-1]), ratio, (h, w))

    def decode(self, rows: npt.NDArray[np.float32], ratio: float, image_hw: tuple[int, int]) -> Detections:
        """Detections from one image's anchor rows (A×(5+nc))."""
        h, w = image_hw
        if rows.shape[1] < 6:
            raise ModelUnavailable(
                f"expected anchors of 5 + classes values, got {rows.shape[1]}", file=self.model_path
            )
        if self.decode_grids:
            rows = grid_decode(rows, self.input_hw)
        best, score = best_class(rows[:, 5:] * rows[:, 4:5])
        sel = (score >= self.score_threshold) & np.isin(best, list(self._keep_map))
        if not sel.any():
            return Detections.empty(h, w)
        rows, best, score = rows[sel], best[sel], score[sel]
        boxes = cxcywh_to_xyxy(rows) / ratio
        keep = nms(boxes, score, iou_threshold=self.iou_threshold, class_ids=best)
        ids = np.array([self._keep_map[int(b)] for b in best[keep]], dtype=np.int64)
        return Detections(
            boxes=boxes[keep].astype(np.float32),
            scores=score[keep].astype(np.float32),
            class_ids=ids,
            image_size=(h, w),
        ).clip()
