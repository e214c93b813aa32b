"""dlib's 68-point facial landmark predictor, fed from a face detector's box.

The model file ships in the ``face_recognition_models`` package (no download). dlib and the
model are imported lazily and loaded once per process.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from enum import StrEnum
from functools import lru_cache
from typing import Protocol

import numpy as np
import numpy.typing as npt
from numpy.typing import NDArray

from masksmith.detect.hints import FACES_HINT
from masksmith.errors import ModelUnavailable, OperationError

__all__ = [
    "BoxLike",
    "BoxStyle",
    "ShapePredictor",
    "dlib_rectangle_for",
    "landmarks68_to_5",
    "load_shape_predictor",
    "predict_68",
]

INSTALL_HINT = FACES_HINT

# 0-based dlib indices of the face parts.
JAW = slice(0, 17)
NOSE_BRIDGE = slice(27, 31)
LEFT_EYE = slice(36, 42)  # image-left eye
RIGHT_EYE = slice(42, 48)
MOUTH_OUTER = slice(48, 60)

_load_lock = threading.Lock()

#: One face box (x1, y1, x2, y2) in image pixels.
BoxLike = NDArray[np.floating] | Sequence[float]


class LandmarkPoint(Protocol):
    """One point of a ``dlib.full_object_detection``."""

    @property
    def x(self) -> int: ...

    @property
    def y(self) -> int: ...


class FaceShape(Protocol):
    """``dlib.full_object_detection``: the predicted points of one face."""

    def parts(self) -> Iterable[LandmarkPoint]: ...


class ShapePredictor(Protocol):
    """``dlib.shape_predictor``: landmarks of the face in ``box`` (a ``dlib.rectangle``) of ``image``."""

    def __call__(self, image: NDArray[np.uint8], box: object, /) -> FaceShape: ...


class BoxStyle(StrEnum):
    """Where a face box came from; dlib's predictor wants boxes shaped like its own detector's."""

    CENTERFACE = "centerface"  # forehead-to-chin, taller than wide: squared around its centre
    DLIB = "dlib"  # dlib HOG / MMOD box: used as is


@lru_cache(maxsize=1)
def _load_predictor_cached() -> ShapePredictor:
    try:
        import dlib
    except ImportError as exc:
        raise ModelUnavailable(f"dlib is not installed; {INSTALL_HINT}", argument="dlib") from exc
    try:
        import face_recognition_models
    except ImportError as exc:
        raise ModelUnavailable(
            f"the 68-point landmark model (face_recognition_models) is not installed; {INSTALL_HINT}",
            argument="face_recognition_models",
        ) from exc
    path = face_recognition_models.pose_predictor_model_location()
    try:
        predictor: ShapePredictor = dlib.shape_predictor(path)
    except RuntimeError as exc:
        raise ModelUnavailable(
            f"cannot load the dlib 68-point model ({exc}); {INSTALL_HINT}", file=path
        ) from exc
    return predictor


def load_shape_predictor() -> ShapePredictor:
    """Return the process-wide ``dlib.shape_predictor`` for 68 points (loaded on first call)."""
    with _load_lock:
        return _load_predictor_cached()


def dlib_rectangle_for(box_xyxy: BoxLike, *, style: BoxStyle | str) -> tuple[int, int, int, int]:
    """The (left, top, right, bottom) integer rectangle handed to dlib for a detector box.

    CenterFace boxes run from forehead to chin; the predictor was trained on dlib's square
    brow-to-chin boxes, so we use a square of side = box width around the same centre, which
    reproduces the HOG-box landmarks to sub-pixel accuracy on average.
    """
    box = np.asarray(box_xyxy, dtype=np.float64).reshape(-1)
    if box.shape != (4,) or not np.all(np.isfinite(box)) or box[2] <= box[0] or box[3] <= box[1]:
        raise OperationError(
            f"face box must be finite (x1, y1, x2, y2) with x2 > x1, y2 > y1; got {box.tolist()}",
            argument="box_xyxy",
        )
    x1, y1, x2, y2 = box
    if BoxStyle(style) is BoxStyle.CENTERFACE:
        cx, cy, half = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 2
        x1, y1, x2, y2 = cx - half, cy - half, cx + half, cy + half
    return round(x1), round(y1), round(x2), round(y2)


def _as_dlib_image(image: NDArray[np.uint8] | NDArray[np.uint16]) -> NDArray[np.uint8]:
    if image.dtype != np.uint8:
        if image.dtype == np.uint16:
            image = (image >> 8).astype(np.uint8)
        else:
            raise OperationError(f"expected a uint8 or uint16 image, got {image.dtype}", argument="image_rgb")
    if image.ndim == 3 and image.shape[2] == 4:
        image = image[:, :, :3]
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
        raise OperationError(
            f"expected an H×W, H×W×3 or H×W×4 image, got shape {image.shape}", argument="image_rgb"
        )
    return np.ascontiguousarray(image)


def predict_68(
    image_rgb: NDArray[np.uint8] | NDArray[np.uint16],
    box_xyxy: BoxLike,
    *,
    box_style: BoxStyle | str = "centerface",
) -> NDArray[np.float32]:
    """68 facial landmarks (x, y) in image pixels, dlib/iBUG order, for one face box.

    ``box_style`` says which detector produced the box (see :class:`BoxStyle`).
    """
    predictor = load_shape_predictor()  # raises ModelUnavailable before dlib is touched
    import dlib

    img = _as_dlib_image(image_rgb)
    left, top, right, bottom = dlib_rectangle_for(box_xyxy, style=box_style)
    shape = predictor(img, dlib.rectangle(left, top, right, bottom))
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)


def landmarks68_to_5(landmarks68: npt.ArrayLike) -> NDArray[np.float32]:
    """Five ArcFace-order points from 68: eye centres (image-left, image-right), nose tip, mouth corners.

    Mouth corners are the mean of the outer (48/54) and inner (60/64) lip corners: dlib's outer
    corners sit a few pixels outside where 5-point detectors (CenterFace, SCRFD) put them.
    """
    pts = np.asarray(landmarks68, dtype=np.float64)
    if pts.shape != (68, 2):
        raise OperationError(f"expected (68, 2) landmarks, got {pts.shape}", argument="landmarks68")
    five = np.stack(
        [
            pts[LEFT_EYE].mean(axis=0),
            pts[RIGHT_EYE].mean(axis=0),
            pts[30],
            (pts[48] + pts[60]) / 2,
            (pts[54] + pts[64]) / 2,
        ]
    )
    return five.astype(np.float32)
