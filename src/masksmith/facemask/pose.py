"""Head pose from 68 landmarks, and an upright view of a face whatever its in-plane rotation.

Pose: ``cv2.solvePnP`` fits a generic 3D face (six points: nose tip, chin, outer eye corners, mouth
corners) to the matching dlib points; yaw and pitch come out of the rotation, roll is the angle of the
eye line (the same quantity, measured more robustly).

Upright view: a face's roll is undone before dlib sees it (dlib's predictor was trained on upright
faces and lays its points out upright whatever the face does). The 5 detector points say where the
eyes are when they are plausible; when they are not (faces turned 90° or upside down, where CenterFace
still finds the face but misplaces its points) the face's square is shown to CenterFace in the four
right-angle orientations at once, as one 2×2 mosaic, and the orientation whose points are plausible
and best scored wins.

Angles are degrees. Yaw > 0 when the nose has turned towards image-right, pitch > 0 when the face
looks down, roll > 0 when the eye line turns clockwise on screen (image y points down).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

__all__ = [
    "FacePose",
    "UprightFace",
    "estimate_pose",
    "plausible_five",
    "roll_from_five",
    "upright_face",
]

# Generic head, millimetres-like units; x to image-right, y down, z away from the camera (nose at 0).
_MODEL_IDX = (30, 8, 36, 45, 48, 54)
_MODEL_3D = np.array(
    [
        [0.0, 0.0, 0.0],  # nose tip
        [0.0, 330.0, 65.0],  # chin
        [-225.0, -170.0, 135.0],  # image-left eye, outer corner
        [225.0, -170.0, 135.0],  # image-right eye, outer corner
        [-150.0, 150.0, 125.0],  # image-left mouth corner
        [150.0, 150.0, 125.0],  # image-right mouth corner
    ],
    dtype=np.float64,
)
_MODEL_EYE_SPAN = 450.0

MOSAIC_TILE = 128  # pixels per orientation tile in the 2×2 mosaic
DLIB_MIN_SIDE = 160  # small faces are enlarged to at least this box side before dlib fits them
UPRIGHT_ROLL = 6.0  # below this roll the face is landmarked in place (no resampling)


@dataclass(frozen=True)
class FacePose:
    """Yaw, pitch and roll of one face in degrees (see the module docstring for signs)."""

    yaw: float
    pitch: float
    roll: float

    def as_dict(self) -> dict[str, float]:
        return {"yaw": round(self.yaw, 1), "pitch": round(self.pitch, 1), "roll": round(self.roll, 1)}


@dataclass(frozen=True)
class UprightFace:
    """Where to find a face upright: a 2×3 map from image pixels to an upright view, and the box there.

    ``matrix`` takes image (x, y) to upright-view (x, y); ``box`` (x1, y1, x2, y2) is the detector's
    square-ish face box in the upright view; ``five`` the 5 points in the upright view; ``roll`` the
    roll that was undone. ``size`` is (width, height) of the upright view.
    """

    matrix: NDArray[np.float64]
    box: NDArray[np.float64]
    five: NDArray[np.float64]
    roll: float
    size: tuple[int, int]
    searched: bool


def _rotation(angle_deg: float) -> NDArray[np.float64]:
    a = math.radians(angle_deg)
    return np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])


def _affine(angle_deg: float, scale: float, centre: NDArray[Any], to: NDArray[Any]) -> NDArray[np.float64]:
    """2×3 map: rotate by ``angle_deg`` (on screen, clockwise) and scale about ``centre``, landing on ``to``."""
    r = scale * _rotation(angle_deg)
    t = np.asarray(to, np.float64) - r @ np.asarray(centre, np.float64)
    return np.hstack([r, t[:, None]])


def _apply(m: NDArray[np.float64], pts: NDArray[Any]) -> NDArray[np.float64]:
    p = np.asarray(pts, np.float64).reshape(-1, 2)
    return p @ m[:, :2].T + m[:, 2]


def invert_affine(m: NDArray[np.float64]) -> NDArray[np.float64]:
    """The inverse of a 2×3 affine map."""
    return np.asarray(cv2.invertAffineTransform(np.asarray(m, np.float64)), np.float64)


def roll_from_five(five: NDArray[Any]) -> float:
    """Roll in degrees from the eye line of ArcFace-order 5 points."""
    p = np.asarray(five, np.float64)
    v = p[1] - p[0]
    return math.degrees(math.atan2(v[1], v[0]))


def plausible_five(five: NDArray[Any], box_side: float) -> bool:
    """Whether 5 points look like an upright-or-rolled face: nose and mouth below the eye line, in order.

    In the frame of the eye line (x along it, y perpendicular and down) with the eye distance d: the
    eyes span 0.3–0.9 of the box width, the nose lies 0.25–0.85·d below the eyes and within 0.6·d of
    their midline, the mouth 0.6–1.35·d below the eyes and under the nose, and the mouth corners run the
    same way as the eyes. (Upright frontal faces give about 0.5·d and 0.95·d.)
    """
    p = np.asarray(five, np.float64)
    v = p[1] - p[0]
    d = float(np.linalg.norm(v))
    if d < 0.3 * box_side or d > 0.9 * box_side:
        return False
    u = v / d
    n = np.array([-u[1], u[0]])  # down in the face frame
    mid = (p[0] + p[1]) / 2
    nose_down = float((p[2] - mid) @ n) / d
    mouth_mid = (p[3] + p[4]) / 2
    mouth_down = float((mouth_mid - mid) @ n) / d
    mouth_v = p[4] - p[3]
    mouth_along = float(mouth_v @ u) / max(float(np.linalg.norm(mouth_v)), 1e-9)
    nose_across = abs(float((p[2] - mid) @ u)) / d
    return (
        0.25 <= nose_down <= 0.85
        and 0.6 <= mouth_down <= 1.35
        and mouth_down - nose_down > 0.2
        and mouth_along > 0.8
        and nose_across < 0.6
    )


def _mosaic_search(
    detector: Any, image: NDArray[np.uint8], centre: NDArray[np.float64], side: float
) -> tuple[float, NDArray[np.float64], NDArray[np.float64]] | None:
    """Show the face's square in the 4 right-angle orientations; the best plausible one in image terms.

    Returns (roll, box centre, box side) in image pixels, or None when no orientation is plausible.
    """
    tile = MOSAIC_TILE
    scale = tile / side
    mosaic = np.zeros((2 * tile, 2 * tile, 3), np.uint8)
    maps = []
    for k in range(4):
        ox, oy = (k % 2) * tile, (k // 2) * tile
        m = _affine(90.0 * k, scale, centre, np.array([ox + tile / 2 - 0.5, oy + tile / 2 - 0.5]))
        mosaic[oy : oy + tile, ox : ox + tile] = cv2.warpAffine(
            image, m - np.array([[0, 0, ox], [0, 0, oy]]), (tile, tile), flags=cv2.INTER_AREA,
            borderMode=cv2.BORDER_REPLICATE,
        )  # fmt: skip
        maps.append(m)
    dets = detector.detect(mosaic)
    best: tuple[float, float, NDArray[np.float64], NDArray[np.float64]] | None = None
    for i in range(len(dets)):
        box = np.asarray(dets.boxes[i], np.float64)
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        k = int(cx // tile) + 2 * int(cy // tile)
        if not 0 <= k < 4:
            continue
        five = np.asarray(dets.keypoints[i], np.float64)
        w = box[2] - box[0]
        if not plausible_five(five, w):
            continue
        score = float(dets.scores[i])
        if best is None or score > best[0]:
            back = invert_affine(maps[k])
            five_img = _apply(back, five)
            centre_img = _apply(back, np.array([[cx, cy]]))[0]
            best = (score, w / scale, centre_img, five_img)
    if best is None:
        return None
    _, box_side, centre_img, five_img = best
    return roll_from_five(five_img), np.array([centre_img, [box_side, box_side]]), five_img


def upright_face(
    detector: Any,
    image: NDArray[np.uint8],
    box: NDArray[Any],
    five: NDArray[Any],
    *,
    search: bool = True,
) -> UprightFace | None:
    """How to see this face upright (see :class:`UprightFace`); None when no orientation is plausible.

    ``search`` False trusts the detector's points even when implausible (no mosaic detection).
    """
    b = np.asarray(box, np.float64)
    pts = np.asarray(five, np.float64)
    w, h = b[2] - b[0], b[3] - b[1]
    centre = np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2])
    side = float(max(w, h))
    searched = False
    if plausible_five(pts, w) or not search:
        roll, box_side = roll_from_five(pts), float(w)
    else:
        found = _mosaic_search(detector, image, centre, 1.6 * side)
        if found is None:
            return None
        roll, geometry, pts = found
        centre, box_side = geometry[0], float(geometry[1][0])
        searched = True
    scale = max(1.0, DLIB_MIN_SIDE / max(box_side, 1.0))
    if abs(roll) < UPRIGHT_ROLL and scale == 1.0:
        ih, iw = image.shape[:2]
        half = box_side / 2
        ubox = np.array([centre[0] - half, centre[1] - half, centre[0] + half, centre[1] + half])
        return UprightFace(np.array([[1.0, 0, 0], [0, 1.0, 0]]), ubox, pts, roll, (iw, ih), searched)
    view = round(1.9 * box_side * scale)
    m = _affine(-roll, scale, centre, np.array([view / 2 - 0.5, view / 2 - 0.5]))
    half = box_side * scale / 2
    c = view / 2 - 0.5
    ubox = np.array([c - half, c - half, c + half, c + half])
    return UprightFace(m, ubox, _apply(m, pts), roll, (view, view), searched)


def upright_view(image: NDArray[np.uint8], face: UprightFace) -> NDArray[np.uint8]:
    """The upright view of ``image`` described by ``face`` (the image itself when no resampling is needed)."""
    if face.size == (image.shape[1], image.shape[0]) and np.allclose(face.matrix, np.eye(2, 3)):
        return image
    return np.asarray(
        cv2.warpAffine(
            image, face.matrix, face.size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        ),
        dtype=np.uint8,
    )


def to_image(face: UprightFace, pts: NDArray[Any]) -> NDArray[np.float64]:
    """Points of the upright view back in image pixels."""
    return _apply(invert_affine(face.matrix), pts)


def estimate_pose(landmarks68: NDArray[Any], *, roll: float | None = None) -> FacePose:
    """Yaw and pitch by ``cv2.solvePnP`` on the generic head; roll from the eye line unless given.

    Best fed upright landmarks (then pass the roll that was undone). The camera is a pinhole whose
    focal length is a few face widths, centred on the face: weak perspective, which is what a face a
    metre or more from the lens looks like.
    """
    lm = np.asarray(landmarks68, np.float64)
    pts = lm[list(_MODEL_IDX)]
    eye_span = float(np.linalg.norm(lm[45] - lm[36]))
    face_roll = math.degrees(math.atan2(*(lm[45] - lm[36])[::-1]))
    focal = max(eye_span, 1.0) * 8.0
    centre = pts.mean(axis=0)
    camera = np.array([[focal, 0, centre[0]], [0, focal, centre[1]], [0, 0, 1]], np.float64)
    distance = focal * _MODEL_EYE_SPAN / max(eye_span, 1.0)
    guess_r = np.zeros((3, 1))
    guess_t = np.array([[0.0], [0.0], [distance]])
    ok, rvec, _ = cv2.solvePnP(
        _MODEL_3D, pts.reshape(-1, 1, 2), camera, None, guess_r, guess_t, True, cv2.SOLVEPNP_ITERATIVE
    )
    if not ok:
        return FacePose(0.0, 0.0, face_roll if roll is None else roll)
    rot, _ = cv2.Rodrigues(rvec)
    # R = Rz(roll)·Ry(yaw)·Rx(pitch) in the camera frame (x right, y down, z forward)
    yaw = math.degrees(math.asin(float(np.clip(-rot[2, 0], -1.0, 1.0))))
    pitch = math.degrees(math.atan2(float(rot[2, 1]), float(rot[2, 2])))
    pose_roll = face_roll if roll is None else roll + face_roll
    return FacePose(yaw=-yaw, pitch=pitch, roll=_wrap(pose_roll))


def _wrap(angle: float) -> float:
    return (angle + 180.0) % 360.0 - 180.0
