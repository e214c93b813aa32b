"""Find faces in any orientation, fit dlib's 68 points to each upright, and decide which can be masked.

A face whose roll is undone is landmarked in an upright view (see :mod:`masksmith.facemask.pose`) and
its points are carried back to the image. A face turned beyond ``max_yaw`` / ``max_pitch``, or one that
no right-angle orientation shows as a plausible frontal face, is kept (it is still cropped and logged)
but marked ``skip="pose"``; one whose 68 points disagree with the detector's eyes is marked
``skip="fit"``. Images where nothing is found upright are searched again turned 180°, 90° and 270°
(upside-down and sideways photos).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from masksmith.facemask.pose import (
    FacePose,
    estimate_pose,
    to_image,
    upright_face,
    upright_view,
)

__all__ = ["DEFAULT_MAX_PITCH", "DEFAULT_MAX_YAW", "FaceFinding", "find_face_poses", "rotated_detections"]

DEFAULT_MAX_YAW = 40.0  # dlib's 68 points and the mask's jaw fit still hold here (see docs/facemask.md)
DEFAULT_MAX_PITCH = 35.0
EYE_AGREEMENT = 0.35  # 68-point eye centres within this many eye distances of the detector's eyes


@dataclass(frozen=True)
class FaceFinding:
    """One detected face before masking (see :class:`masksmith.facemask.pipeline.Face`)."""

    box: NDArray[np.float32]
    score: float
    landmarks5: NDArray[np.float32]
    landmarks68: NDArray[np.float32] | None
    pose: FacePose | None
    skip: str | None
    detail: str


def _turn(image: NDArray[np.uint8], k: int) -> tuple[NDArray[np.uint8], NDArray[np.float64]]:
    """The image turned by k·90° (clockwise on screen) and the 2×3 map from turned to original pixels."""
    h, w = image.shape[:2]
    if k == 1:
        return np.ascontiguousarray(cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE)), np.array(
            [[0.0, 1.0, 0.0], [-1.0, 0.0, h - 1.0]]
        )
    if k == 2:
        return np.ascontiguousarray(cv2.rotate(image, cv2.ROTATE_180)), np.array(
            [[-1.0, 0.0, w - 1.0], [0.0, -1.0, h - 1.0]]
        )
    return np.ascontiguousarray(cv2.rotate(image, cv2.ROTATE_90_COUNTERCLOCKWISE)), np.array(
        [[0.0, -1.0, w - 1.0], [1.0, 0.0, 0.0]]
    )


def rotated_detections(detector: Any, image: NDArray[np.uint8]) -> tuple[Any, int]:
    """Detections of ``image``; when there are none, of the image turned 180°, 90°, 270° (first hit).

    Returns (boxes, scores, 5 points) mapped back into ``image`` pixels as a tuple of arrays, and the
    quarter turns that found them (0 when the upright image did).
    """
    dets = detector.detect(image)
    if len(dets) > 0:
        return (dets.boxes, dets.scores, dets.keypoints), 0
    for k in (2, 1, 3):
        turned, back = _turn(image, k)
        found = detector.detect(turned)
        if len(found) == 0:
            continue
        corners = found.boxes[:, [0, 1, 2, 1, 2, 3, 0, 3]].reshape(-1, 4, 2).astype(np.float64)
        mapped = corners @ back[:, :2].T + back[:, 2]
        boxes = np.concatenate([mapped.min(axis=1), mapped.max(axis=1)], axis=1).astype(np.float32)
        points = (found.keypoints.astype(np.float64) @ back[:, :2].T + back[:, 2]).astype(np.float32)
        return (boxes, found.scores, points), k
    return (np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 5, 2), np.float32)), 0


def _eye_centres(lm: NDArray[Any]) -> NDArray[np.float64]:
    p = np.asarray(lm, np.float64)
    return np.stack([p[36:42].mean(axis=0), p[42:48].mean(axis=0)])


def fit_68(
    detector: Any,
    image: NDArray[np.uint8],
    box: NDArray[Any],
    five: NDArray[Any],
    *,
    max_yaw: float,
    max_pitch: float,
) -> tuple[NDArray[np.float32] | None, FacePose | None, str | None, str]:
    """68 points (image pixels), pose, skip reason and detail for one detected face."""
    from masksmith.detect.landmarks import predict_68

    up = upright_face(detector, image, box, five)
    if up is None:
        return None, None, "pose", "no orientation shows eyes, nose and mouth of a frontal face"
    view = upright_view(image, up)
    lm_up = predict_68(view, up.box, box_style="centerface").astype(np.float64)
    lm = to_image(up, lm_up).astype(np.float32)
    pose = estimate_pose(lm_up, roll=up.roll)
    eyes = _eye_centres(lm_up)
    d = float(np.linalg.norm(up.five[1] - up.five[0]))
    off = float(np.max(np.linalg.norm(eyes - up.five[:2], axis=1))) / max(d, 1e-6)
    if abs(pose.yaw) > max_yaw or abs(pose.pitch) > max_pitch:
        return (
            lm,
            pose,
            "pose",
            f"yaw {pose.yaw:.1f}, pitch {pose.pitch:.1f} beyond ±{max_yaw:g}/±{max_pitch:g}",
        )
    if off > EYE_AGREEMENT:
        return lm, pose, "fit", f"68-point eyes {off:.2f} eye distances from the detector's"
    return lm, pose, None, ""


def find_face_poses(
    detector: Any,
    image: NDArray[np.uint8],
    *,
    landmarks68: bool = True,
    max_yaw: float = DEFAULT_MAX_YAW,
    max_pitch: float = DEFAULT_MAX_PITCH,
    turn_image: bool = True,
) -> list[FaceFinding]:
    """Every face CenterFace finds, with 68 points, pose and skip decision when ``landmarks68``."""
    if turn_image:
        (boxes, scores, points), _ = rotated_detections(detector, image)
    else:
        dets = detector.detect(image)
        boxes, scores, points = dets.boxes, dets.scores, dets.keypoints
    found = []
    for i in range(len(boxes)):
        lm = pose = skip = None
        detail = ""
        if landmarks68:
            lm, pose, skip, detail = fit_68(
                detector, image, boxes[i], points[i], max_yaw=max_yaw, max_pitch=max_pitch
            )
        found.append(
            FaceFinding(
                box=np.asarray(boxes[i], np.float32),
                score=float(scores[i]),
                landmarks5=np.asarray(points[i], np.float32),
                landmarks68=lm,
                pose=pose,
                skip=skip,
                detail=detail,
            )
        )
    return found
