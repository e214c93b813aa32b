"""Licence plates from a PP-OCR text-detection model (DB head), filtered by plate shape.

The model comes from the ``rapidocr`` wheel (Apache-2.0; read from the installed package folder, its code
is never imported) or from any PP-OCR detection ONNX file given by path. Pre- and post-processing are
masksmith's own, in OpenCV and numpy: the probability map is thresholded, each connected region becomes a
rotated rectangle, kept when its mean probability is high enough, grown by the DB "unclip" offset
(area × ratio / perimeter) and turned into an axis-aligned box. A plate-shape filter (height, aspect,
width, position in the frame) then drops the shop signs and bus lettering that are text but no plate.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from masksmith.detect.api import Detections, ImageArray, as_rgb_uint8
from masksmith.detect.boxes import FloatArray, nms, scale_xy
from masksmith.detect.classes import LICENCE_PLATE, class_id
from masksmith.detect.network_input import resize_cv2
from masksmith.detect.onnx_check import OnnxModel
from masksmith.detect.package_files import installed_spec, package_file
from masksmith.errors import ModelUnavailable

PACKAGE = "rapidocr"
MODEL_FILE = "models/PP-OCRv6_det_small.onnx"
PLATES_HINT = (
    "pip install 'masksmith[anonymise]' (brings rapidocr 3.10, whose wheel ships the PP-OCR text detector), "
    "or set text_model_path"
)
MEAN = 0.5  # PP-OCR detection normalisation: (x / 255 - mean) / std on BGR
STD = 0.5


def default_model_path() -> Path:
    """The PP-OCR text detector inside the installed ``rapidocr`` package (found without importing it)."""
    spec = installed_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(f"text_plates needs the PP-OCR text detector; {PLATES_HINT}", argument="model")
    path = package_file(spec, MODEL_FILE)
    if path is not None:
        return path
    raise ModelUnavailable(f"rapidocr is installed but has no {MODEL_FILE}; {PLATES_HINT}", argument="model")


@dataclass(frozen=True)
class PlateShape:
    """What a text box must look like to count as a plate (all in image pixels or fractions).

    ``min_height``: box height before padding; ``aspect``: width / height range; ``max_width``: fraction of
    the image width; ``min_centre_y``: fraction of the image height the box centre must lie below (plates
    sit in the lower part of a road photo); ``pad``: fraction of the box height added on every side.
    """

    min_height: float = 8.0
    aspect: tuple[float, float] = (2.0, 6.5)
    max_width: float = 0.25
    min_centre_y: float = 0.4
    pad: float = 0.15
    dark_text: bool = True
    min_background: float = 0.55
    min_contrast: float = 40.0

    def looks_printed(self, gray: npt.NDArray[np.uint8], box: npt.NDArray[np.float32]) -> bool:
        """Dark characters on a light plate: most of the box is the bright background (Otsu split).

        Bus lettering and shop signs are mostly light text on a darker ground and fail this; set
        ``dark_text`` False for countries with light-on-dark plates.
        """
        if not self.dark_text:
            return True
        x0, y0, x1, y1 = (round(float(v)) for v in box)
        patch = gray[max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)]
        if patch.size < 16:
            return False
        cut, _ = cv2.threshold(patch, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        bright = patch > cut
        if bright.all() or not bright.any():
            return False
        contrast = float(patch[bright].mean()) - float(patch[~bright].mean())
        return float(bright.mean()) >= self.min_background and contrast >= self.min_contrast

    def keep(self, boxes: npt.NDArray[np.float32], height: int, width: int) -> npt.NDArray[np.bool_]:
        """Which of the N×4 boxes look like plates."""
        bw = boxes[:, 2] - boxes[:, 0]
        bh = boxes[:, 3] - boxes[:, 1]
        aspect = bw / np.maximum(bh, 1e-6)
        centre_y = (boxes[:, 1] + boxes[:, 3]) / 2
        kept: npt.NDArray[np.bool_] = (
            (bh >= self.min_height)
            & (aspect >= self.aspect[0])
            & (aspect <= self.aspect[1])
            & (bw <= self.max_width * width)
            & (centre_y >= self.min_centre_y * height)
        )
        return kept


def text_boxes(
    prob: npt.NDArray[np.float32],
    *,
    threshold: float = 0.3,
    box_threshold: float = 0.5,
    unclip_ratio: float = 1.6,
    min_side: float = 3.0,
    max_candidates: int = 1000,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Axis-aligned text boxes (N×4, map pixels) and their mean probabilities from a DB probability map."""
    bitmap = (prob > threshold).astype(np.uint8)
    contours, _ = cv2.findContours(bitmap, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    boxes: list[npt.NDArray[np.float32]] = []
    scores: list[float] = []
    mh, mw = prob.shape
    for contour in contours[:max_candidates]:
        (cx, cy), (rw, rh), angle = cv2.minAreaRect(contour)
        if min(rw, rh) < min_side:
            continue
        corners = cv2.boxPoints(((cx, cy), (rw, rh), angle))
        x0 = max(0, int(np.floor(corners[:, 0].min())))
        y0 = max(0, int(np.floor(corners[:, 1].min())))
        x1 = min(mw, int(np.ceil(corners[:, 0].max())) + 1)
        y1 = min(mh, int(np.ceil(corners[:, 1].max())) + 1)
        if x1 <= x0 or y1 <= y0:
            continue
        inside = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillPoly(inside, [np.round(corners - [x0, y0]).astype(np.int32)], 1)
        if not inside.any():
            continue
        score = float(prob[y0:y1, x0:x1][inside.astype(bool)].mean())
        if score < box_threshold:
            continue
        # DB unclip: offset every side by area * ratio / perimeter
        offset = rw * rh * unclip_ratio / (2.0 * (rw + rh))
        grown = cv2.boxPoints(((cx, cy), (rw + 2 * offset, rh + 2 * offset), angle))
        if min(rw, rh) + 2 * offset < min_side + 2:
            continue
        boxes.append(
            np.array(
                [grown[:, 0].min(), grown[:, 1].min(), grown[:, 0].max(), grown[:, 1].max()], dtype=np.float32
            )
        )
        scores.append(score)
    if not boxes:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
    return np.stack(boxes), np.asarray(scores, dtype=np.float32)


def network_size(height: int, width: int, max_side: int) -> tuple[int, int]:
    """(height, width) of the network input: longer side ``max_side`` at most, both multiples of 32."""
    ratio = min(1.0, max_side / max(height, width))
    return (max(32, round(height * ratio / 32) * 32), max(32, round(width * ratio / 32) * 32))


class TextPlateDetector:
    """Licence plates (class ``licence_plate``) from PP-OCR text detection and a plate-shape filter."""

    name = "text-plates"
    classes: tuple[str, ...] = (LICENCE_PLATE,)

    def __init__(
        self,
        *,
        model_path: str | os.PathLike[str] | None = None,
        max_side: int = 960,
        threshold: float = 0.3,
        box_threshold: float = 0.5,
        unclip_ratio: float = 1.6,
        shape: PlateShape | None = None,
        intra_op_threads: int | None = None,
    ) -> None:
        path = Path(model_path) if model_path is not None else default_model_path()
        self.model_path = path
        self._model = OnnxModel.open(
            path, rank=4, channels=3, what="PP-OCR text detector", threads=intra_op_threads
        )
        self.max_side = int(max_side)
        self.threshold = float(threshold)
        self.box_threshold = float(box_threshold)
        self.unclip_ratio = float(unclip_ratio)
        self.shape = shape or PlateShape()
        self._plate = class_id(LICENCE_PLATE)

    def text(self, image_rgb: ImageArray) -> tuple[FloatArray, FloatArray]:
        """Every text box (N×4, image pixels) and its score, before the plate filter."""
        rgb = as_rgb_uint8(image_rgb)
        h, w = rgb.shape[:2]
        net_h, net_w = network_size(h, w, self.max_side)
        resized = resize_cv2(rgb, (net_w, net_h))
        blob = (resized[:, :, ::-1].astype(np.float32) * (1.0 / (255.0 * STD)) - MEAN / STD).transpose(
            2, 0, 1
        )
        out = np.asarray(self._model.run(blob[None])[0], dtype=np.float32)
        prob: FloatArray = out.reshape(out.shape[-2:])
        boxes, scores = text_boxes(
            prob, threshold=self.threshold, box_threshold=self.box_threshold, unclip_ratio=self.unclip_ratio
        )
        if len(boxes):
            boxes = scale_xy(boxes, w / prob.shape[1], h / prob.shape[0])
        return boxes, scores

    def detect(self, image_rgb: ImageArray) -> Detections:
        """Plate boxes (padded), best score first."""
        rgb = as_rgb_uint8(image_rgb)
        h, w = rgb.shape[:2]
        # plates sit low in the frame: the text detector only sees the part where a kept box can lie
        top = int(max(0.0, self.shape.min_centre_y - 0.1) * h)
        boxes, scores = self.text(rgb[top:])
        if len(boxes):
            boxes = boxes + np.array([0, top, 0, top], dtype=np.float32)
            keep = self.shape.keep(boxes, h, w)
            if keep.any() and self.shape.dark_text:
                gray: npt.NDArray[np.uint8] = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.uint8)
                keep &= np.array(
                    [bool(k) and self.shape.looks_printed(gray, b) for k, b in zip(keep, boxes, strict=True)]
                )
            boxes, scores = boxes[keep], scores[keep]
        if not len(boxes):
            return Detections.empty(h, w)
        pad = (boxes[:, 3] - boxes[:, 1]) * self.shape.pad
        boxes = boxes + np.stack([-pad, -pad, pad, pad], axis=1)
        order = nms(boxes, scores, iou_threshold=0.5)
        return Detections(
            boxes=boxes[order],
            scores=scores[order],
            class_ids=np.full(len(order), self._plate, dtype=np.int64),
            image_size=(h, w),
        ).clip()
