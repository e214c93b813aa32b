"""Detectors behind one result type (``Detections``) and one registry with install hints.

Backends (onnxruntime, onnx, OpenCV contrib, dlib) are imported only when a detector is made.
"""

from __future__ import annotations

from masksmith.detect.api import (
    BICYCLE,
    BUS,
    CAR,
    CLASS_IDS,
    CLASS_NAMES,
    CLASS_TO_COCO91,
    COCO80_TO_CLASS,
    COCO91_TO_CLASS,
    FACE,
    LICENCE_PLATE,
    MOTORCYCLE,
    PERSON,
    ROAD_CLASSES,
    TRUCK,
    Detections,
    DetectionsError,
    Detector,
    ImageArray,
    box_iou,
    class_id,
    detect_downscaled,
    nms,
)
from masksmith.detect.registry import (
    DetectorEntry,
    ModelRow,
    available_models,
    create_detector,
    get_entry,
    register_detector,
    registered_detectors,
)

__all__ = [
    "BICYCLE",
    "BUS",
    "CAR",
    "CLASS_IDS",
    "CLASS_NAMES",
    "CLASS_TO_COCO91",
    "COCO80_TO_CLASS",
    "COCO91_TO_CLASS",
    "FACE",
    "LICENCE_PLATE",
    "MOTORCYCLE",
    "PERSON",
    "ROAD_CLASSES",
    "TRUCK",
    "Detections",
    "DetectionsError",
    "Detector",
    "DetectorEntry",
    "ImageArray",
    "ModelRow",
    "available_models",
    "box_iou",
    "class_id",
    "create_detector",
    "detect_downscaled",
    "get_entry",
    "nms",
    "register_detector",
    "registered_detectors",
]
