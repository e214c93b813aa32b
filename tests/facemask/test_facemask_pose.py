"""Pose helpers: plausibility of 5 points, roll, solvePnP yaw/pitch on a projected 3D head."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from masksmith.facemask import pose
from masksmith.facemask.templates import CANONICAL_68

# ArcFace 112 template: an upright frontal face's 5 points
FIVE = np.array([[38.29, 51.70], [73.53, 51.50], [56.03, 71.74], [41.55, 92.37], [70.73, 92.20]])


def _turn(points: np.ndarray, angle: float, centre: tuple[float, float] = (56.0, 70.0)) -> np.ndarray:
    a = math.radians(angle)
    r = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return (points - centre) @ r.T + centre


@pytest.mark.parametrize("angle", [0, 20, 45, 90, 135, 180, -60])
def test_rolled_faces_stay_plausible_and_give_their_roll(angle: float) -> None:
    five = _turn(FIVE, angle)
    assert pose.plausible_five(five, 80.0)
    assert abs((pose.roll_from_five(five) - angle + 180) % 360 - 180) < 1.0


@pytest.mark.parametrize(
    "broken",
    [
        FIVE[[1, 0, 2, 4, 3]],  # mirrored eyes and mouth: a face seen from behind / upside down
        FIVE[[0, 1, 2, 3, 4]] * [1, 0.2] + [0, 40],  # squashed flat: no nose or mouth below the eyes
        np.vstack([FIVE[:2], FIVE[3:], FIVE[2:3]]),  # mouth where the nose should be
    ],
)
def test_implausible_points_are_refused(broken: np.ndarray) -> None:
    assert not pose.plausible_five(broken, 80.0)


def _project(yaw: float, pitch: float) -> np.ndarray:
    """Canonical 68 points given depth from a generic head, turned and projected (weak perspective)."""
    pts = CANONICAL_68 * 100.0
    # rough depth: the nose stands out, the jaw's sides recede
    z = -60.0 * np.exp(-((pts[:, 0] / 60.0) ** 2)) + 0.25 * np.abs(pts[:, 0])
    z[27:36] -= 40.0 * np.linspace(0.3, 1.0, 9)
    p3 = np.stack([pts[:, 0], pts[:, 1], z], axis=1)
    ry = cv2.Rodrigues(np.array([0.0, math.radians(-yaw), 0.0]))[0]  # nose moves image-right
    rx = cv2.Rodrigues(np.array([math.radians(pitch), 0.0, 0.0]))[0]  # nose (z < 0) moves down
    q = p3 @ (ry @ rx).T
    return q[:, :2] + 300.0


def test_yaw_and_pitch_follow_the_turn() -> None:
    base = pose.estimate_pose(_project(0, 0))
    right = pose.estimate_pose(_project(25, 0))
    left = pose.estimate_pose(_project(-25, 0))
    down = pose.estimate_pose(_project(0, 20))
    assert abs(base.yaw) < 8 and abs(right.yaw + left.yaw) < 3
    assert right.yaw > base.yaw + 12 and left.yaw < base.yaw - 12
    assert down.pitch > base.pitch + 8


def test_upright_view_maps_points_there_and_back() -> None:
    image = np.zeros((200, 200, 3), np.uint8)
    five = _turn(FIVE, 70.0) + 40
    box = np.array([*five.min(axis=0) - 20, *five.max(axis=0) + 20])
    up = pose.upright_face(None, image, box, five)
    assert up is not None and not up.searched
    assert abs(up.roll - 70.0) < 1.0
    upright = up.five
    assert abs(upright[1, 1] - upright[0, 1]) < 0.5  # eyes level in the upright view
    np.testing.assert_allclose(pose.to_image(up, upright), five, atol=1e-6)
    assert pose.upright_view(image, up).shape[:2] == up.size[::-1]
