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

from masksmith.detect.api import COCO80_TO_CLASS, ROAD_CLASSES, Detections, as_rgb_uint8, class_id, nms
from masksmith.detect.onnx_check import input_dtype, open_session
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
        self._session = open_session(
            self.model_path, rank=4, channels=3, what="YOLOX", threads=intra_op_threads
        )
        model_input = self._session.get_inputs()[0]
        self._input_name = model_input.name
        self._dtype = input_dtype(self._session)
        dims = list(model_input.shape)[-2:]
        self.input_hw = tuple(int(d) if isinstance(d, int) and d > 0 else input_size for d in dims)
        self.classes: tuple[str, ...] = tuple(classes)
        self._keep_map = {int(k): class_id(v) for k, v in class_map.items() if v in self.classes}
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
        return canvas.transpose(2, 0, 1)[None].astype(self._dtype), ratio

    def detect(self, image_rgb: np.ndarray) -> Detections:
        """Kept-class boxes, best score first."""
        rgb = as_rgb_uint8(image_rgb)
        h, w = rgb.shape[:2]
        blob, ratio = self.network_input(rgb)
        raw = np.asarray(self._session.run(None, {self._input_name: blob})[0], dtype=np.float32)
        return self.decode(raw.reshape(raw.shape[-2], raw.shape[-1]), ratio, (h, w))

    def decode(self, rows: npt.NDArray[np.float32], ratio: float, image_hw: tuple[int, int]) -> Detections:
        """Detections from one image's anchor rows (A×(5+nc))."""
        h, w = image_hw
        if rows.shape[1] < 6:
            raise ModelUnavailable(
                f"expected anchors of 5 + classes values, got {rows.shape[1]}", file=self.model_path
            )
        if self.decode_grids:
            rows = grid_decode(rows, self.input_hw)  # type: ignore[arg-type]
        cls_scores = rows[:, 5:] * rows[:, 4:5]
        best = np.argmax(cls_scores, axis=1)
        score = cls_scores[np.arange(len(rows)), best]
        sel = (score >= self.score_threshold) & np.isin(best, list(self._keep_map))
        if not sel.any():
            return Detections.empty(h, w)
        rows, best, score = rows[sel], best[sel], score[sel]
        cx, cy, bw, bh = rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3]
        boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1) / ratio
        keep = nms(boxes, score, iou_threshold=self.iou_threshold, class_ids=best)
        ids = np.array([self._keep_map[int(b)] for b in best[keep]], dtype=np.int64)
        return Detections(
            boxes=boxes[keep].astype(np.float32),
            scores=score[keep].astype(np.float32),
            class_ids=ids,
            image_size=(h, w),
        ).clip()
