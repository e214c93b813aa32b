"""Detection for anonymisation: which detectors a run builds, how many images are detected at once, and
the functions turning an image into the objects to hide (:func:`find_objects`, :func:`anonymise_image`).

No files here: the per-image work (:mod:`~masksmith.anonymise.image_work`) reads and writes; this module
only detects and draws in memory.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from masksmith.anonymise.config import AnonymiseConfig, DetectorName
from masksmith.anonymise.cutouts import MapFn, MaskedObjects, detect_tiled, detect_with_cutouts
from masksmith.anonymise.detector_setup import (
    DETECTOR_CLASSES,
    detector_options,
    plan_detectors,
    refine,
    warn_uncovered_once,
)
from masksmith.anonymise.draw import draw_objects
from masksmith.anonymise.summary import StageTimes
from masksmith.detect import Detections, Detector, create_detector, detect_downscaled
from masksmith.detect.registry import face_detector_name

__all__ = [
    "REGISTRY_NAMES",
    "AnonymisedImage",
    "DetectFn",
    "DetectorSlots",
    "PerThreadDetect",
    "anonymise_image",
    "build_detectors",
    "detection_pixel_cap",
    "find_objects",
    "load_models",
    "make_detect",
    "timed_detect",
]

_log = logging.getLogger("masksmith.anonymise")

#: Config detector names (underscores) → detector registry names (hyphens).
REGISTRY_NAMES: Mapping[DetectorName, str] = {
    DetectorName.CENTERFACE: "centerface",
    DetectorName.YOLO_SEG: "yolo-seg",
    DetectorName.HOG_PEOPLE: "hog-people",
    DetectorName.HAAR_PLATES: "haar-plates",
    DetectorName.TEXT_PLATES: "text-plates",
    DetectorName.MASK_RCNN: "mask-rcnn",
    DetectorName.YOLOX: "yolox",
}

BoolArray = npt.NDArray[np.bool_]
DetectFn = Callable[[np.ndarray], Sequence[Detections]]


def detection_pixel_cap(config: AnonymiseConfig) -> int:
    """The most pixels one detector call sees: ``max_num_pixels`` bounded by ``detection_max_pixels``."""
    return min(config.detection.max_num_pixels, config.run.detection_max_pixels)


def build_detectors(
    config: AnonymiseConfig, *, model_threads: int | None = None
) -> list[tuple[DetectorName, Detector]]:
    """Create the configured detectors once (models load now); detectors with no kept class are skipped.

    ``model_threads`` is the number of threads each ONNX model may use (None: onnxruntime's default).
    """
    det = config.detection
    kept = set(det.kept_classes)
    out: list[tuple[DetectorName, Detector]] = []
    names = plan_detectors(config)
    warn_uncovered_once(config, names)
    for name in names:
        classes = [c for c in DETECTOR_CLASSES[name] if c in kept]
        if not classes:
            _log.info("detector %s skipped: none of its classes is in kept_classes", name.value)
            continue
        options: dict[str, Any] = detector_options(name, config, classes, model_threads) or {}
        if name is DetectorName.CENTERFACE:
            options["threshold"] = det.score_threshold
            options["allow_spinning"] = not config.run.enable_async
            options["intra_op_threads"] = model_threads
        elif name is DetectorName.YOLO_SEG:
            options = {
                "model_path": det.yolo_model_paths.for_type(det.model_type),
                "score_threshold": det.score_threshold,
                "classes": classes,
                "intra_op_threads": model_threads,
            }
            if det.model_class_map is not None:
                options["class_map"] = det.model_class_map
        registry_name = REGISTRY_NAMES[name]
        if name is DetectorName.CENTERFACE and face_detector_name() != registry_name:
            _warn_face_fallback()
            registry_name, options = face_detector_name(), {}
        out.append((name, create_detector(registry_name, **options)))
    return out


@functools.cache
def _warn_face_fallback() -> None:
    """Once per process: each worker builds its own detectors."""
    _log.warning("CenterFace is not installed; using dlib's HOG face detector (frontal faces only)")


def load_models(
    config: AnonymiseConfig, detectors: Sequence[Detector] | None, *, model_threads: int | None = None
) -> tuple[list[Detector], list[str]]:
    """The configured detectors, built now (or the given ones), and their names for logs and journals."""
    if detectors is None:
        built = build_detectors(config, model_threads=model_threads)
        # the detector's own name: dlib-faces when it stood in for a missing CenterFace
        return [d for _, d in built], [str(getattr(d, "name", REGISTRY_NAMES[n])) for n, d in built]
    models = list(detectors)
    return models, [str(getattr(d, "name", type(d).__name__)) for d in models]


def make_detect(
    detectors: Sequence[Detector],
    *,
    max_num_pixels: int | None,
    kept_classes: Sequence[str],
    timer: Callable[[float], None] | None = None,
    config: AnonymiseConfig | None = None,
    detector_timer: Callable[[str, float], None] | None = None,
) -> DetectFn:
    """A function running every detector on an image (shrunk to ``max_num_pixels``), kept classes only.

    With ``config`` the precision rules apply (faces scaled by ``face_scale``, weak detectors gated);
    ``detector_timer`` receives each detector's name and seconds.
    """
    kept = set(kept_classes)
    names = [str(getattr(d, "name", type(d).__name__)) for d in detectors]

    def detect(image: np.ndarray) -> list[Detections]:
        start = time.perf_counter()
        out = []
        for name, detector in zip(names, detectors, strict=True):
            began = time.perf_counter()
            dets = detect_downscaled(detector, image, max_num_pixels)
            keep = np.array([label in kept for label in dets.class_labels], dtype=bool)
            out.append(dets if keep.all() else dets[keep])
            if detector_timer is not None:
                detector_timer(name, time.perf_counter() - began)
        if config is not None:
            out = refine(out, names, config)
        if timer is not None:
            timer(time.perf_counter() - start)
        return out

    return detect


class PerThreadDetect:
    """A :data:`DetectFn` giving each calling thread its own detectors, built on its first call.

    ``first`` (already built, so model errors surface at startup) goes to the first thread that asks;
    later threads call ``factory``. Detectors are never shared between threads.
    """

    def __init__(self, first: DetectFn, factory: Callable[[], DetectFn]) -> None:
        self._spare: list[DetectFn] = [first]
        self._factory = factory
        self._lock = threading.Lock()
        self._local = threading.local()

    def __call__(self, image: np.ndarray) -> Sequence[Detections]:
        detect: DetectFn | None = getattr(self._local, "detect", None)
        if detect is None:
            with self._lock:
                spare = self._spare.pop() if self._spare else None
            detect = spare if spare is not None else self._factory()
            self._local.detect = detect
        return detect(image)


class DetectorSlots:
    """A :data:`DetectFn` sharing at most ``slots`` detector sets between any number of threads.

    A call takes a free set (``factory`` builds one while fewer than ``slots`` exist, else the call waits
    for one) and gives it back after, so no set is used by two threads at once. With more threads than
    slots, the threads not detecting decode, draw and write other images meanwhile. ``first`` is
    already built (model errors surface at startup); ``factory`` None means ``first`` is the only set.
    """

    def __init__(self, first: DetectFn, factory: Callable[[], DetectFn] | None, *, slots: int) -> None:
        self._free: queue.LifoQueue[DetectFn] = queue.LifoQueue()
        self._free.put(first)
        self._factory = factory
        self._slots = max(1, slots) if factory is not None else 1
        self._made = 1
        self._lock = threading.Lock()

    def __call__(self, image: np.ndarray) -> Sequence[Detections]:
        detect = self._take()
        try:
            return detect(image)
        finally:
            self._free.put(detect)

    def _take(self) -> DetectFn:
        try:
            return self._free.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            build = self._factory is not None and self._made < self._slots
            if build:
                self._made += 1
        if not build or self._factory is None:
            return self._free.get()
        try:
            return self._factory()
        except BaseException:
            with self._lock:
                self._made -= 1
            raise


def find_objects(
    image: np.ndarray, detect: DetectFn, *, config: AnonymiseConfig, map_views: MapFn = map
) -> MaskedObjects:
    """Detect (with cutouts when configured), merge and dilate: the objects to hide in ``image``.

    No detector sees more than ``detection_max_pixels``: larger windows and images are split into
    overlapping full-resolution tiles, and ``detect`` (see :func:`detection_pixel_cap`) runs the
    whole-image pass on a reduced copy. ``map_views`` runs the views' detections (an executor's ``map``
    runs them in parallel).
    """
    det = config.detection
    wrap = det.cutout_wrap_around
    budget = config.run.detection_max_pixels
    if det.use_cutouts:
        objects = detect_with_cutouts(
            image,
            detect,
            step=det.cutout_step_factor,
            downscale=det.cutout_dim_downscale,
            wrap=wrap,
            map_views=map_views,
            max_view_pixels=budget,
        )
    elif image.shape[0] * image.shape[1] > budget:
        objects = detect_tiled(image, detect, max_view_pixels=budget, wrap=wrap, map_views=map_views)
    else:
        found = list(detect(image))
        if found:
            objects = MaskedObjects.from_detections(found, wrap=wrap)
        else:
            objects = MaskedObjects((), (int(image.shape[0]), int(image.shape[1])), wrap)
    return objects.dilate(det.mask_dilation_pixels)


@dataclass(frozen=True)
class AnonymisedImage:
    """An anonymised image, the exact mask of what was hidden, and the objects found."""

    pixels: np.ndarray
    changed: BoolArray
    objects: MaskedObjects


def anonymise_image(image: np.ndarray, detect: DetectFn, *, config: AnonymiseConfig) -> AnonymisedImage:
    """Anonymise one RGB image in memory (no files): detect, merge, dilate, draw."""
    objects = find_objects(image, detect, config=config)
    pixels, changed = draw_objects(image, objects, config=config.draw)
    return AnonymisedImage(pixels, changed, objects)


def timed_detect(config: AnonymiseConfig, models: Sequence[Detector], times: StageTimes) -> DetectFn:
    """:func:`make_detect` for ``config`` whose model time goes to ``times`` (``model`` and per detector)."""
    return make_detect(
        models,
        max_num_pixels=detection_pixel_cap(config),
        kept_classes=config.detection.kept_classes,
        timer=lambda s: times.add("model", s),
        config=config,
        detector_timer=lambda name, s: times.add(f"model:{name}", s),
    )
