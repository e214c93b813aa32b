"""Classic OpenCV detectors that need no downloaded weights: HOG people and Haar licence plates.

Both come with ``opencv-python-headless`` 4.x, which masksmith pins: OpenCV 5 moved
``HOGDescriptor`` and ``CascadeClassifier`` into contrib and ships no cascade XML files. The plate
cascade is looked up in ``cv2.data``, then in Debian's ``opencv-data`` folders.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import cv2
import numpy as np
import numpy.typing as npt

from masksmith.detect.api import Detections, ImageArray, as_rgb_uint8
from masksmith.detect.boxes import nms, xywh_to_xyxy
from masksmith.detect.classes import LICENCE_PLATE, PERSON, class_id
from masksmith.detect.hints import CLASSIC_HINT, PLATE_HINT
from masksmith.errors import ModelUnavailable

PLATE_CASCADES = ("haarcascade_russian_plate_number.xml", "haarcascade_license_plate_rus_16stages.xml")
_SYSTEM_CASCADE_DIRS = ("/usr/share/opencv4/haarcascades", "/usr/share/opencv/haarcascades")


def _require(attribute: str) -> Any:
    if not hasattr(cv2, attribute):
        raise ModelUnavailable(
            f"this OpenCV build ({cv2.__version__}) has no cv2.{attribute}; {CLASSIC_HINT}",
            argument="detector",
        )
    return getattr(cv2, attribute)


def hog_source() -> str:
    """Where the HOG people model comes from; raises ModelUnavailable when this OpenCV lacks it."""
    _require("HOGDescriptor")
    return f"cv2.HOGDescriptor.getDefaultPeopleDetector (OpenCV {cv2.__version__})"


def _candidate_cascade_files(names: tuple[str, ...]) -> Iterator[Path]:
    data = getattr(cv2, "data", None)
    base = getattr(data, "haarcascades", None)
    if base:
        for name in names:
            yield Path(base) / name
    for folder in _SYSTEM_CASCADE_DIRS:
        for name in names:
            yield Path(folder) / name


def plate_cascade_path() -> Path:
    """The first installed plate cascade XML; raises ModelUnavailable with an install hint when none is."""
    for path in _candidate_cascade_files(PLATE_CASCADES):
        if path.is_file():
            return path
    raise ModelUnavailable(
        f"no licence-plate Haar cascade found ({PLATE_CASCADES[0]}); {PLATE_HINT}", argument="cascade"
    )


class HogPeopleDetector:
    """OpenCV's default HOG + linear SVM pedestrian detector (64×128 window), class ``person``.

    Scores are the SVM margins (not probabilities); ``hit_threshold`` is the margin cut. Overlapping
    windows are merged by NMS at ``nms_iou`` instead of OpenCV's mean-shift grouping.
    """

    name = "hog-people"
    classes: tuple[str, ...] = (PERSON,)

    def __init__(
        self,
        *,
        hit_threshold: float = 0.0,
        win_stride: tuple[int, int] = (8, 8),
        padding: tuple[int, int] = (8, 8),
        scale: float = 1.05,
        nms_iou: float = 0.45,
        upsample: float = 1.0,
    ) -> None:
        hog_cls = _require("HOGDescriptor")
        self._hog = hog_cls()
        self._hog.setSVMDetector(hog_cls.getDefaultPeopleDetector())
        self.hit_threshold = float(hit_threshold)
        self.win_stride = tuple(win_stride)
        self.padding = tuple(padding)
        self.scale = float(scale)
        self.nms_iou = float(nms_iou)
        self.upsample = float(upsample)
        self._person = class_id(PERSON)

    def detect(self, image_rgb: ImageArray) -> Detections:
        """People boxes in ``image_rgb`` pixels, best score first."""
        rgb = as_rgb_uint8(image_rgb)
        h, w = rgb.shape[:2]
        work: npt.NDArray[np.uint8] = rgb
        if self.upsample != 1.0:
            size = (round(w * self.upsample), round(h * self.upsample))
            work = cast(npt.NDArray[np.uint8], cv2.resize(rgb, size, interpolation=cv2.INTER_LINEAR))
        if work.shape[0] < 128 or work.shape[1] < 64:
            return Detections.empty(h, w)
        gray = cv2.cvtColor(work, cv2.COLOR_RGB2GRAY)
        rects, weights = self._hog.detectMultiScale(
            gray,
            hitThreshold=self.hit_threshold,
            winStride=self.win_stride,
            padding=self.padding,
            scale=self.scale,
            groupThreshold=0,  # no mean-shift grouping: NMS below
        )
        if len(rects) == 0:
            return Detections.empty(h, w)
        found = np.asarray(rects, dtype=np.float32).reshape(-1, 4) / np.float32(self.upsample)
        scores = np.asarray(weights, dtype=np.float32).reshape(-1)
        boxes = xywh_to_xyxy(found)
        keep = nms(boxes, scores, iou_threshold=self.nms_iou)
        dets = Detections(
            boxes=boxes[keep],
            scores=scores[keep],
            class_ids=np.full(len(keep), self._person, dtype=np.int64),
            image_size=(h, w),
        )
        return dets.clip()


class HaarPlateDetector:
    """OpenCV's Haar cascade for number plates (trained on Russian plates), class ``licence_plate``.

    A cascade gives no score: every box scores 1.0 (``min_neighbors`` is the confidence knob).
    """

    name = "haar-plates"
    classes: tuple[str, ...] = (LICENCE_PLATE,)

    def __init__(
        self,
        *,
        cascade_path: str | os.PathLike[str] | None = None,
        scale_factor: float = 1.05,
        min_neighbors: int = 3,
        min_size: tuple[int, int] = (30, 10),
    ) -> None:
        cascade_cls = _require("CascadeClassifier")
        path = Path(cascade_path) if cascade_path is not None else plate_cascade_path()
        if not path.is_file():
            raise ModelUnavailable("cascade file not found", file=path)
        self.cascade_path = path
        self._cascade = cascade_cls(str(path))
        if self._cascade.empty():
            raise ModelUnavailable("cascade file could not be loaded", file=path)
        self.scale_factor = float(scale_factor)
        self.min_neighbors = int(min_neighbors)
        self.min_size = (int(min_size[0]), int(min_size[1]))
        self._plate = class_id(LICENCE_PLATE)

    def detect(self, image_rgb: ImageArray) -> Detections:
        """Plate boxes in ``image_rgb`` pixels."""
        rgb = as_rgb_uint8(image_rgb)
        h, w = rgb.shape[:2]
        gray = cv2.equalizeHist(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
        rects = self._cascade.detectMultiScale(
            gray, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors, minSize=self.min_size
        )
        if len(rects) == 0:
            return Detections.empty(h, w)
        boxes = xywh_to_xyxy(np.asarray(rects, dtype=np.float32).reshape(-1, 4))
        return Detections(
            boxes=boxes,
            scores=np.ones(len(boxes), dtype=np.float32),
            class_ids=np.full(len(boxes), self._plate, dtype=np.int64),
            image_size=(h, w),
        ).clip()
