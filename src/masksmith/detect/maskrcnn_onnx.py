"""People and vehicles with instance masks from an ONNX model zoo Mask R-CNN (R-50-FPN, opset 10/12).

The zoo's format: input ``image`` ``3×H×W`` float, BGR, 0–255 minus the per-channel means
(102.9801, 115.9465, 122.7717), the short side resized to 800 (long side at most 1333) and zero-padded
to multiples of 32; outputs boxes ``N×4`` (x1, y1, x2, y2 in input pixels), labels ``N`` (index into
the zoo's 81-entry class list with background at 0, so 1 person … 8 truck), scores ``N`` and masks
``N×1×28×28`` probabilities over each box. fp16 exports are fed fp16.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from masksmith.detect.api import Detections, ImageArray, as_rgb_uint8
from masksmith.detect.boxes import FloatArray, clip_boxes
from masksmith.detect.classes import COCO91_TO_CLASS, ROAD_CLASSES, kept_class_ids
from masksmith.detect.network_input import resize_cv2
from masksmith.detect.onnx_check import OnnxModel
from masksmith.errors import ModelUnavailable

BGR_MEANS = np.array([102.9801, 115.9465, 122.7717], dtype=np.float32)
#: The zoo's label index -> masksmith class (its list is COCO's 80 names after a background entry,
#: which for the road classes coincides with COCO's 91-id numbering).
ZOO_TO_CLASS: Mapping[int, str] = dict(COCO91_TO_CLASS)


def cached_model_path() -> Path:
    """The fetched zoo Mask R-CNN in the user cache; raises ModelUnavailable saying how to fetch it."""
    from masksmith.detect.model_store import CATALOGUE, cached_model

    entry = CATALOGUE["maskrcnn-12-int8"]
    path = cached_model(entry)
    if path is None:
        raise ModelUnavailable(
            f"not in the model cache; run: masksmith models fetch {entry.name}", argument="model"
        )
    return path


def resize_shape(height: int, width: int, *, short_side: int = 800, max_side: int = 1333) -> tuple[int, int]:
    """(height, width) after scaling the short side to ``short_side`` with the long side capped."""
    ratio = short_side / min(height, width)
    if max(height, width) * ratio > max_side:
        ratio = max_side / max(height, width)
    return max(1, round(height * ratio)), max(1, round(width * ratio))


def paste_mask(
    prob: npt.NDArray[np.floating],
    box: FloatArray,
    height: int,
    width: int,
    threshold: float,
) -> npt.NDArray[np.bool_]:
    """A box-relative probability map resized onto its box in an ``height`` × ``width`` image."""
    out = np.zeros((height, width), dtype=bool)
    x1, y1, x2, y2 = (float(v) for v in box)
    c0, r0 = max(0, int(np.floor(x1))), max(0, int(np.floor(y1)))
    c1, r1 = min(width, int(np.ceil(x2))), min(height, int(np.ceil(y2)))
    if c1 <= c0 or r1 <= r0 or x2 <= x1 or y2 <= y1:
        return out
    mh, mw = prob.shape
    # affine from output pixel centres to mask cells: cell = (u + 0.5 - x1) * mw / (x2 - x1) - 0.5
    sx, sy = mw / (x2 - x1), mh / (y2 - y1)
    m = np.array([[sx, 0.0, (c0 + 0.5 - x1) * sx - 0.5], [0.0, sy, (r0 + 0.5 - y1) * sy - 0.5]])
    roi = cv2.warpAffine(
        prob.astype(np.float32),
        m,
        (c1 - c0, r1 - r0),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,  # the mask reaches the box edge: nothing at the rim stays visible
    )
    out[r0:r1, c0:c1] = roi >= threshold
    return out


class MaskRcnnDetector:
    """ONNX model zoo Mask R-CNN: kept classes with pixel masks, in the given image's pixels."""

    name = "mask-rcnn"

    def __init__(
        self,
        model_path: str | os.PathLike[str],
        *,
        score_threshold: float = 0.5,
        mask_threshold: float = 0.5,
        classes: Iterable[str] = ROAD_CLASSES,
        class_map: Mapping[int, str] = ZOO_TO_CLASS,
        short_side: int = 800,
        max_side: int = 1333,
        intra_op_threads: int | None = None,
    ) -> None:
        self.model_path = Path(model_path)
        self.classes: tuple[str, ...] = tuple(classes)
        self._keep_map = kept_class_ids(class_map, self.classes)
        self.score_threshold = float(score_threshold)
        self.mask_threshold = float(mask_threshold)
        self.short_side, self.max_side = int(short_side), int(max_side)
        self._model = OnnxModel.open(
            self.model_path, rank=3, channels=3, what="Mask R-CNN", threads=intra_op_threads, min_outputs=4
        )

    def network_input(self, rgb: npt.NDArray[np.uint8]) -> tuple[npt.NDArray[np.floating], float, float]:
        """The padded ``3×H×W`` blob and the x/y scale from image to blob."""
        h, w = rgb.shape[:2]
        nh, nw = resize_shape(h, w, short_side=self.short_side, max_side=self.max_side)
        resized = resize_cv2(rgb, (nw, nh))
        ph, pw = -(-nh // 32) * 32, -(-nw // 32) * 32
        blob = np.zeros((3, ph, pw), dtype=np.float32)
        blob[:, :nh, :nw] = (resized[:, :, ::-1].astype(np.float32) - BGR_MEANS).transpose(2, 0, 1)
        return blob.astype(self._model.dtype), nw / w, nh / h

    def detect(self, image_rgb: ImageArray) -> Detections:
        """Kept-class instances with masks, best score first."""
        rgb = as_rgb_uint8(image_rgb)
        h, w = rgb.shape[:2]
        blob, sx, sy = self.network_input(rgb)
        return self.decode(self._model.run(blob), (h, w), sx, sy)

    def decode(
        self, outputs: Sequence[npt.ArrayLike], image_hw: tuple[int, int], sx: float, sy: float
    ) -> Detections:
        """Detections from the four raw outputs (boxes, labels, scores, masks, in the zoo's order)."""
        h, w = image_hw
        boxes, labels, scores, masks = (np.asarray(o) for o in outputs[:4])
        if boxes.ndim != 2 or masks.ndim != 4 or labels.ndim != 1 or scores.ndim != 1:
            shapes = [tuple(np.shape(o)) for o in outputs[:4]]
            raise ModelUnavailable(
                f"expected outputs boxes N×4, labels N, scores N, masks N×1×h×w; got {shapes}",
                file=self.model_path,
            )
        labels = labels.astype(np.int64)
        scores = scores.astype(np.float32)
        keep = (scores >= self.score_threshold) & np.isin(labels, list(self._keep_map))
        idx = np.flatnonzero(keep)
        idx = idx[np.argsort(-scores[idx], kind="stable")]
        if not len(idx):
            return Detections.empty(h, w, with_masks=True)
        out_boxes = clip_boxes((boxes[idx] / np.array([sx, sy, sx, sy])).astype(np.float32), h, w)
        out_masks = np.stack(
            [
                paste_mask(masks[i, 0], b, h, w, self.mask_threshold)
                for i, b in zip(idx, out_boxes, strict=True)
            ]
        )
        ids = np.array([self._keep_map[int(labels[i])] for i in idx], dtype=np.int64)
        return Detections(
            boxes=out_boxes, scores=scores[idx], class_ids=ids, masks=out_masks, image_size=(h, w)
        )
