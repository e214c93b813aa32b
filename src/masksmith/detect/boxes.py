"""Geometry of N×4 box arrays (x1, y1, x2, y2 in pixels): conversions, clipping, IoU and NMS."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from masksmith.detect.classes import DetectionsError

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


def xywh_to_xyxy(rects: FloatArray) -> FloatArray:
    """N×4 (x, y, width, height) rectangles (OpenCV's) as corner boxes."""
    return np.concatenate([rects[:, :2], rects[:, :2] + rects[:, 2:]], axis=1)


def cxcywh_to_xyxy(rows: FloatArray) -> FloatArray:
    """Corner boxes from the first four columns (centre x, centre y, width, height) of ``rows``."""
    cx, cy, bw, bh = rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3]
    return np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)


def clip_boxes(boxes: FloatArray, height: float, width: float) -> FloatArray:
    """A copy of ``boxes`` with x clipped to [0, width] and y to [0, height]."""
    out = boxes.copy()
    out[:, [0, 2]] = np.clip(out[:, [0, 2]], 0, width)
    out[:, [1, 3]] = np.clip(out[:, [1, 3]], 0, height)
    return out


def best_class(class_scores: FloatArray) -> tuple[IntArray, FloatArray]:
    """Per row of an A×C score matrix: the best column and its score."""
    best = np.argmax(class_scores, axis=1)
    return best, class_scores[np.arange(len(class_scores)), best]


def box_iou(boxes_a: npt.ArrayLike, boxes_b: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """IoU matrix (len(a) × len(b)) of x1,y1,x2,y2 boxes."""
    a = np.asarray(boxes_a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(boxes_b, dtype=np.float64).reshape(-1, 4)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    iw = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = iw * ih
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def nms(
    boxes: npt.ArrayLike,
    scores: npt.ArrayLike,
    *,
    iou_threshold: float,
    class_ids: npt.ArrayLike | None = None,
    max_detections: int | None = None,
) -> IntArray:
    """Greedy non-maximum suppression; returns kept indices, best score first.

    A box is suppressed when its IoU with a kept, higher-scoring box is ``>= iou_threshold``.
    With ``class_ids`` boxes only suppress boxes of the same class.
    """
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(b) != len(s):
        raise DetectionsError(f"expected {len(b)} scores, got {len(s)}", argument="scores")
    if len(b) == 0:
        return np.zeros(0, dtype=np.int64)
    if class_ids is not None:
        # Offsetting each class into its own region of the plane keeps classes apart in one pass.
        c = np.asarray(class_ids, dtype=np.float64).reshape(-1)
        span = float(np.max(np.abs(b))) * 2.0 + 1.0
        b = b + (c * span)[:, None]
    order = np.argsort(-s, kind="stable")
    iou = box_iou(b[order], b[order])
    suppressed = np.zeros(len(order), dtype=bool)
    keep: list[int] = []
    for rank in range(len(order)):
        if suppressed[rank]:
            continue
        keep.append(rank)
        if max_detections is not None and len(keep) >= max_detections:
            break
        suppressed |= iou[rank] >= iou_threshold
    return order[np.asarray(keep, dtype=np.int64)].astype(np.int64)


def pixel_bounds(box: FloatArray, height: int, width: int) -> tuple[int, int, int, int]:
    """(col0, row0, col1, row1): the pixels whose centres lie inside ``box``, within the image."""
    x1, y1, x2, y2 = (float(v) for v in box)
    c0, r0 = max(0, int(np.ceil(x1 - 0.5))), max(0, int(np.ceil(y1 - 0.5)))
    c1, r1 = min(width, int(np.ceil(x2 - 0.5))), min(height, int(np.ceil(y2 - 0.5)))
    return c0, r0, c1, r1


def scale_xy(boxes: FloatArray, fx: float, fy: float) -> FloatArray:
    """Boxes with x multiplied by ``fx`` and y by ``fy`` (float32 factors)."""
    return boxes * np.array([fx, fy, fx, fy], dtype=np.float32)
