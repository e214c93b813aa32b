"""Which detectors a run builds, with which options, and the precision rules applied to what they find.

Kept apart from the pipeline so the run loop stays about files: :func:`plan_detectors` adds the cached
people/vehicle model when the config allows it, :func:`detector_options` turns config keys into a
detector's keyword arguments, :func:`uncovered_classes` names the kept classes no detector looks for
(the run warns once), and :func:`refine` scales faces and gates weak cues.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from masksmith.anonymise.config import AnonymiseConfig, DetectorName
from masksmith.detect import ROAD_CLASSES, Detections
from masksmith.detect.api import FACE, LICENCE_PLATE
from masksmith.detect.refine import VEHICLES, gate, scale_boxes

_log = logging.getLogger("masksmith.anonymise")

DETECTOR_CLASSES: Mapping[DetectorName, tuple[str, ...]] = {
    DetectorName.CENTERFACE: (FACE,),
    DetectorName.YOLO_SEG: ROAD_CLASSES,
    DetectorName.MASK_RCNN: ROAD_CLASSES,
    DetectorName.YOLOX: ROAD_CLASSES,
    DetectorName.HOG_PEOPLE: ("person",),
    DetectorName.HAAR_PLATES: (LICENCE_PLATE,),
    DetectorName.TEXT_PLATES: (LICENCE_PLATE,),
}
#: Detectors whose boxes need a stronger cue to count (when gate_weak_detectors is on).
WEAK: frozenset[DetectorName] = frozenset({DetectorName.HOG_PEOPLE, DetectorName.HAAR_PLATES})
MODEL_DETECTORS: frozenset[DetectorName] = frozenset(
    {DetectorName.MASK_RCNN, DetectorName.YOLO_SEG, DetectorName.YOLOX}
)


def plan_detectors(config: AnonymiseConfig) -> list[DetectorName]:
    """The configured detectors, plus mask_rcnn when its model is cached and no model detector is listed."""
    det = config.detection
    names = list(det.detectors)
    if det.use_cached_people_model and not MODEL_DETECTORS & set(names) and det.mask_rcnn_model_path is None:
        from masksmith.detect.model_store import CATALOGUE, cached_model

        if cached_model(CATALOGUE["maskrcnn-12-int8"]) is not None:
            names.append(DetectorName.MASK_RCNN)
    return names


def detector_options(
    name: DetectorName, config: AnonymiseConfig, classes: Sequence[str], model_threads: int | None
) -> dict[str, Any] | None:
    """Keyword arguments for the detectors this module adds (None: the pipeline's own handling)."""
    det = config.detection
    if name is DetectorName.TEXT_PLATES:
        return {"model_path": det.text_model_path, "intra_op_threads": model_threads}
    if name is DetectorName.MASK_RCNN:
        path = det.mask_rcnn_model_path
        if path is None:
            from masksmith.detect.maskrcnn_onnx import cached_model_path

            path = str(cached_model_path())
        options: dict[str, Any] = {
            "model_path": path,
            "score_threshold": max(det.score_threshold, 0.5),
            "classes": list(classes),
            "intra_op_threads": model_threads,
        }
        if det.model_class_map is not None:
            options["class_map"] = det.model_class_map
        return options
    if name is DetectorName.YOLOX:
        options = {
            "model_path": det.yolox_model_path,
            "score_threshold": det.score_threshold,
            "classes": list(classes),
            "decode_grids": not det.yolox_decoded,
            "intra_op_threads": model_threads,
        }
        if det.model_class_map is not None:
            options["class_map"] = det.model_class_map
        return options
    return None


def uncovered_classes(config: AnonymiseConfig, names: Sequence[DetectorName]) -> list[str]:
    """Kept classes that none of ``names`` can find (people and vehicles without a model)."""
    covered = {c for n in names for c in DETECTOR_CLASSES.get(n, ())}
    if DetectorName.HOG_PEOPLE in names and config.detection.gate_weak_detectors:
        covered.discard("person")  # gated HOG hides only people whose face is seen: not a people detector
    return [c for c in config.detection.kept_classes if c not in covered]


_warned = threading.Event()


def warn_uncovered_once(config: AnonymiseConfig, names: Sequence[DetectorName]) -> list[str]:
    """Log, once per process, which kept classes are not being hidden and how to change that."""
    missing = uncovered_classes(config, names)
    if missing and not _warned.is_set():
        _warned.set()
        _log.warning(
            "NOT HIDDEN: no detector for %s in this run, so these are left visible. To hide people and "
            "vehicles run 'masksmith models fetch maskrcnn-12-int8' (then the default config uses it) or "
            "list mask_rcnn / yolo_seg / yolox with a model in 'detectors'; 'masksmith models list' shows what "
            "this machine can detect.",
            ", ".join(missing),
        )
    return missing


def refine(found: Sequence[Detections], names: Sequence[str], config: AnonymiseConfig) -> list[Detections]:
    """Faces scaled by ``face_scale``; weak detectors' boxes gated by stronger cues (per detector name)."""
    det = config.detection
    out = [scale_boxes(d, det.face_scale) for d in found]
    if not det.gate_weak_detectors:
        return out
    weak = [n in ("hog-people", "haar-plates") for n in names]
    if not any(weak):
        return out
    model_run = any(n in ("mask-rcnn", "yolo-seg", "yolox") for n in names)
    return gate(
        out,
        weak=weak,
        vehicles_known=model_run and any(c in VEHICLES for c in det.kept_classes),
        faces_known="centerface" in names,
        people_known=model_run,
    )
