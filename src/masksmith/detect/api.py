"""The one result type every detector returns and the detector protocol.

``Detections`` holds equal-length arrays (boxes, scores, class ids, optional masks and keypoints) in
pixel coordinates of the image that was given to the detector; shapes are checked on construction.
The class vocabulary lives in ``classes`` and box geometry in ``boxes``; both are re-exported here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypedDict, Unpack, runtime_checkable

import cv2
import numpy as np
import numpy.typing as npt

from masksmith.detect.boxes import (
    BoolArray,
    FloatArray,
    IntArray,
    box_iou,
    clip_boxes,
    nms,
    pixel_bounds,
    scale_xy,
)
from masksmith.detect.classes import (
    BICYCLE,
    BUS,
    CAR,
    CLASS_IDS,
    CLASS_NAMES,
    CLASS_TO_COCO91,
    COCO80_TO_CLASS,
    COCO91_TO_CLASS,
    DEFAULT_CLASS_NAMES,
    FACE,
    LICENCE_PLATE,
    MOTORCYCLE,
    PERSON,
    ROAD_CLASSES,
    TRUCK,
    DetectionsError,
    class_id,
)
from masksmith.media.resize import shrink_area

__all__ = [
    "BICYCLE",
    "BUS",
    "CAR",
    "CLASS_IDS",
    "CLASS_NAMES",
    "CLASS_TO_COCO91",
    "COCO80_TO_CLASS",
    "COCO91_TO_CLASS",
    "DEFAULT_CLASS_NAMES",
    "FACE",
    "LICENCE_PLATE",
    "MOTORCYCLE",
    "PERSON",
    "ROAD_CLASSES",
    "TRUCK",
    "BoolArray",
    "Detections",
    "DetectionsError",
    "DetectionsFields",
    "Detector",
    "FloatArray",
    "ImageArray",
    "IntArray",
    "as_rgb_uint8",
    "box_iou",
    "class_id",
    "detect_downscaled",
    "nms",
]

#: What a detector takes: H×W gray, H×W×3 RGB or H×W×4 RGBA pixels, 8 or 16 bits per channel.
ImageArray = npt.NDArray[np.uint8] | npt.NDArray[np.uint16]


def _shape_error(name: str, expected: str, actual: tuple[int, ...]) -> DetectionsError:
    return DetectionsError(f"expected shape {expected}, got {actual}", argument=name)


# --- Detections -----------------------------------------------------------------------------------


def _rect_mask(box: FloatArray, height: int, width: int) -> BoolArray:
    """Pixels whose centres lie inside the box."""
    c0, r0, c1, r1 = pixel_bounds(box, height, width)
    mask = np.zeros((height, width), dtype=bool)
    if c1 > c0 and r1 > r0:
        mask[r0:r1, c0:c1] = True
    return mask


def _resize_masks(masks: BoolArray, height: int, width: int) -> BoolArray:
    if masks.shape[1:] == (height, width):
        return masks.copy()
    out = np.zeros((len(masks), height, width), dtype=bool)
    for i, m in enumerate(masks):
        resized = cv2.resize(m.astype(np.uint8) * 255, (width, height), interpolation=cv2.INTER_LINEAR)
        out[i] = resized >= 128
    return out


class DetectionsFields(TypedDict, total=False):
    """The fields of :class:`Detections`, for :meth:`Detections.replace`."""

    boxes: FloatArray
    scores: FloatArray
    class_ids: IntArray
    masks: BoolArray | None
    keypoints: FloatArray | None
    class_names: Mapping[int, str]
    image_size: tuple[int, int] | None


@dataclass(frozen=True, eq=False)
class Detections:
    """Detections of one image: equal-length arrays, coordinates in pixels of that image.

    ``boxes`` N×4 float32 (x1, y1, x2, y2), ``scores`` N float32, ``class_ids`` N int64 (ids into
    ``class_names``), ``masks`` N×H×W bool or None, ``keypoints`` N×K×2 float32 (x, y) or None,
    ``image_size`` (height, width) of the image the coordinates refer to, when known.
    """

    boxes: FloatArray
    scores: FloatArray
    class_ids: IntArray
    masks: BoolArray | None = None
    keypoints: FloatArray | None = None
    class_names: Mapping[int, str] = field(default_factory=lambda: DEFAULT_CLASS_NAMES)
    image_size: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        boxes = np.asarray(self.boxes, dtype=np.float32)
        if boxes.size == 0 and boxes.ndim < 2:
            boxes = boxes.reshape(0, 4)
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise _shape_error("boxes", "(N, 4)", boxes.shape)
        n = len(boxes)
        scores = np.asarray(self.scores, dtype=np.float32).reshape(-1) if np.ndim(self.scores) <= 1 else None
        if scores is None or scores.shape != (n,):
            raise _shape_error("scores", f"({n},)", np.shape(self.scores))
        raw_ids = np.asarray(self.class_ids)
        if raw_ids.shape != (n,) and not (n == 0 and raw_ids.size == 0):
            raise _shape_error("class_ids", f"({n},)", raw_ids.shape)
        integral = np.issubdtype(raw_ids.dtype, np.integer)
        if raw_ids.size and not integral and not np.all(np.equal(np.mod(raw_ids, 1), 0)):
            raise DetectionsError(
                f"expected integer class ids, got dtype {raw_ids.dtype}", argument="class_ids"
            )
        ids = raw_ids.astype(np.int64).reshape(n)
        size = self.image_size
        if size is not None:
            size = (int(size[0]), int(size[1]))
            if size[0] <= 0 or size[1] <= 0:
                raise DetectionsError(f"expected positive (height, width), got {size}", argument="image_size")
        masks = None
        if self.masks is not None:
            masks = np.asarray(self.masks)
            if masks.ndim != 3 or len(masks) != n:
                expected = f"({n}, H, W)" if size is None else f"({n}, {size[0]}, {size[1]})"
                raise _shape_error("masks", expected, masks.shape)
            if size is not None and masks.shape[1:] != size:
                raise _shape_error("masks", f"({n}, {size[0]}, {size[1]})", masks.shape)
            masks = masks.astype(bool, copy=False)
            size = size if size is not None else (int(masks.shape[1]), int(masks.shape[2]))
        keypoints = None
        if self.keypoints is not None:
            keypoints = np.asarray(self.keypoints, dtype=np.float32)
            if keypoints.ndim != 3 or len(keypoints) != n or keypoints.shape[2] != 2:
                raise _shape_error("keypoints", f"({n}, K, 2)", keypoints.shape)
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "class_ids", ids)
        object.__setattr__(self, "masks", masks)
        object.__setattr__(self, "keypoints", keypoints)
        object.__setattr__(self, "image_size", size)
        object.__setattr__(self, "class_names", dict(self.class_names))

    # -- construction --------------------------------------------------------------------------

    @classmethod
    def empty(
        cls, height: int, width: int, *, keypoints: int | None = None, with_masks: bool = False
    ) -> Detections:
        """No detections on an image of ``height`` × ``width``."""
        return cls(
            boxes=np.zeros((0, 4), np.float32),
            scores=np.zeros(0, np.float32),
            class_ids=np.zeros(0, np.int64),
            masks=np.zeros((0, height, width), bool) if with_masks else None,
            keypoints=np.zeros((0, keypoints, 2), np.float32) if keypoints is not None else None,
            image_size=(height, width),
        )

    @staticmethod
    def concat(items: Sequence[Detections]) -> Detections:
        """Detections of one image from several detectors (or passes) in one object.

        Masks are kept when any item has them (box rectangles fill in for items without);
        keypoints are kept when every non-empty item with keypoints has the same K (NaN fills in).
        """
        if not items:
            raise DetectionsError("expected at least one Detections to concatenate", argument="items")
        sizes = {d.image_size for d in items if d.image_size is not None}
        if len(sizes) > 1:
            raise DetectionsError(f"expected one image size, got {sorted(sizes)}", argument="items")
        size = next(iter(sizes)) if sizes else None
        names: dict[int, str] = {}
        for d in items:
            for k, v in d.class_names.items():
                if names.setdefault(k, v) != v:
                    raise DetectionsError(
                        f"class id {k} means {names[k]!r} and {v!r}", argument="class_names"
                    )
        masks = None
        if any(d.masks is not None for d in items):
            if size is None:
                raise DetectionsError("masks need a known image size", argument="image_size")
            masks = np.concatenate([d.masks_or_rects(size) for d in items], axis=0)
        keypoints = None
        ks = {d.keypoints.shape[1] for d in items if d.keypoints is not None and len(d)}
        if len(ks) > 1:
            raise DetectionsError(f"expected one keypoint count, got {sorted(ks)}", argument="keypoints")
        if ks or any(d.keypoints is not None for d in items):
            k = ks.pop() if ks else max(d.keypoints.shape[1] for d in items if d.keypoints is not None)
            parts = []
            for d in items:
                if d.keypoints is not None and (len(d) == 0 or d.keypoints.shape[1] == k):
                    parts.append(d.keypoints.reshape(len(d), k, 2))
                else:
                    parts.append(np.full((len(d), k, 2), np.nan, np.float32))
            keypoints = np.concatenate(parts, axis=0)
        return Detections(
            boxes=np.concatenate([d.boxes for d in items]),
            scores=np.concatenate([d.scores for d in items]),
            class_ids=np.concatenate([d.class_ids for d in items]),
            masks=masks,
            keypoints=keypoints,
            class_names=names,
            image_size=size,
        )

    def masks_or_rects(self, size: tuple[int, int]) -> BoolArray:
        """N×H×W masks at ``size``: the masks resized, or each box filled where there are no masks."""
        if self.masks is not None:
            return self.masks if self.masks.shape[1:] == size else _resize_masks(self.masks, *size)
        out = np.zeros((len(self), *size), dtype=bool)
        for i, box in enumerate(self.boxes):
            out[i] = _rect_mask(box, *size)
        return out

    def replace(self, **changes: Unpack[DetectionsFields]) -> Detections:
        """A copy with the given fields changed (checked again like a new ``Detections``)."""
        return dataclasses.replace(self, **changes)

    _replace = replace  # the name callers used before ``replace`` was public

    # -- container behaviour -------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.boxes)

    def __getitem__(self, index: int | slice | npt.ArrayLike) -> Detections:
        """Subset by int, slice, boolean mask or integer index array (always returns Detections)."""
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        if not isinstance(index, slice):
            index = np.asarray(index)
            if index.dtype == bool and index.shape != (len(self),):
                raise _shape_error("index", f"({len(self)},) boolean", index.shape)
            if index.size == 0:
                index = index.astype(np.int64)
        return self.replace(
            boxes=self.boxes[index],
            scores=self.scores[index],
            class_ids=self.class_ids[index],
            masks=None if self.masks is None else self.masks[index],
            keypoints=None if self.keypoints is None else self.keypoints[index],
        )

    @property
    def class_labels(self) -> list[str]:
        """Class name of every detection."""
        return [self.class_names.get(int(c), str(int(c))) for c in self.class_ids]

    def filter(
        self, *, min_score: float | None = None, classes: Iterable[str | int] | None = None
    ) -> Detections:
        """Keep detections with score ``>= min_score`` and class (name or id) in ``classes``."""
        keep = np.ones(len(self), dtype=bool)
        if min_score is not None:
            keep &= self.scores >= min_score
        if classes is not None:
            by_name = {v: k for k, v in self.class_names.items()}
            wanted = set()
            for c in classes:
                if isinstance(c, str):
                    if c not in by_name:
                        valid = ", ".join(sorted(by_name))
                        raise DetectionsError(
                            f"unknown class {c!r}; expected one of {valid}", argument="classes"
                        )
                    wanted.add(by_name[c])
                else:
                    wanted.add(int(c))
            keep &= np.isin(self.class_ids, sorted(wanted))
        return self[keep]

    def nms(self, *, iou_threshold: float, class_agnostic: bool = False) -> Detections:
        """Greedy NMS (per class unless ``class_agnostic``); result sorted by score."""
        kept = nms(
            self.boxes,
            self.scores,
            iou_threshold=iou_threshold,
            class_ids=None if class_agnostic else self.class_ids,
        )
        return self[kept]

    # -- geometry ------------------------------------------------------------------------------

    def scale(self, fx: float, fy: float) -> Detections:
        """Coordinates multiplied by ``fx`` (x) and ``fy`` (y); masks resized to the scaled image size."""
        size = None
        if self.image_size is not None:
            size = (max(1, round(self.image_size[0] * fy)), max(1, round(self.image_size[1] * fx)))
        return self._scaled(fx, fy, size)

    def to_shape(self, height: int, width: int) -> Detections:
        """The same detections in an image resized to ``height`` × ``width`` (image size must be known)."""
        if self.image_size is None:
            raise DetectionsError("image size unknown; use scale(fx, fy)", argument="image_size")
        h0, w0 = self.image_size
        return self._scaled(width / w0, height / h0, (int(height), int(width)))

    def _scaled(self, fx: float, fy: float, size: tuple[int, int] | None) -> Detections:
        boxes = scale_xy(self.boxes, fx, fy)
        masks = None if self.masks is None or size is None else _resize_masks(self.masks, *size)
        keypoints = None
        if self.keypoints is not None:
            keypoints = self.keypoints * np.array([fx, fy], dtype=np.float32)
        return self.replace(boxes=boxes, masks=masks, keypoints=keypoints, image_size=size)

    def clip(self) -> Detections:
        """Boxes clipped to the image."""
        if self.image_size is None:
            raise DetectionsError("image size unknown; cannot clip", argument="image_size")
        h, w = self.image_size
        return self.replace(boxes=clip_boxes(self.boxes, h, w))

    def union_mask(self, shape: tuple[int, int] | None = None) -> BoolArray:
        """One H×W boolean mask, True where any detection is (filled boxes when there are no masks)."""
        size = (int(shape[0]), int(shape[1])) if shape is not None else self.image_size
        if size is None:
            raise DetectionsError("image size unknown; pass shape=(height, width)", argument="shape")
        if self.masks is not None:
            if self.masks.shape[1:] == size:
                return np.any(self.masks, axis=0) if len(self) else np.zeros(size, bool)
            resized = _resize_masks(self.masks, *size)
            return np.any(resized, axis=0) if len(self) else np.zeros(size, bool)
        out = np.zeros(size, dtype=bool)
        boxes = self.boxes
        if self.image_size is not None and self.image_size != size:
            h0, w0 = self.image_size
            boxes = scale_xy(boxes, size[1] / w0, size[0] / h0)
        for box in boxes:
            out |= _rect_mask(box, *size)
        return out

    def dilate(self, pixels: int) -> Detections:
        """Masks grown by ``pixels`` (square (2p+1)² kernel, as NPRA); boxes grown by ``pixels``."""
        if pixels < 0:
            raise DetectionsError(f"expected pixels >= 0, got {pixels}", argument="pixels")
        if pixels == 0:
            return self.replace()
        boxes = self.boxes + np.array([-pixels, -pixels, pixels, pixels], dtype=np.float32)
        masks = None
        if self.masks is not None:
            kernel = np.ones((2 * pixels + 1, 2 * pixels + 1), np.uint8)
            masks = (
                np.stack(
                    [cv2.dilate(m.astype(np.uint8), kernel, iterations=1).astype(bool) for m in self.masks]
                )
                if len(self)
                else self.masks.copy()
            )
        out = self.replace(boxes=boxes, masks=masks)
        return out.clip() if self.image_size is not None else out


# --- the protocol ---------------------------------------------------------------------------------


@runtime_checkable
class Detector(Protocol):
    """Anything that turns an RGB image into ``Detections``."""

    @property
    def name(self) -> str: ...

    @property
    def classes(self) -> tuple[str, ...]: ...

    def detect(self, image_rgb: ImageArray) -> Detections: ...


def as_rgb_uint8(image: ImageArray, *, argument: str = "image_rgb") -> npt.NDArray[np.uint8]:
    """An H×W×3 uint8 RGB view of a gray, RGB or RGBA uint8/uint16 image (never mutates it)."""
    arr: npt.NDArray[Any] = np.asarray(image)
    if arr.dtype == np.uint16:
        arr = (arr >> 8).astype(np.uint8)
    elif arr.dtype != np.uint8:
        raise DetectionsError(f"expected uint8 or uint16 image, got dtype {arr.dtype}", argument=argument)
    if arr.ndim == 2:
        return np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim == 3 and arr.shape[2] == 3:
        return arr
    if arr.ndim == 3 and arr.shape[2] == 4:
        return arr[:, :, :3]
    raise _shape_error(argument, "(H, W), (H, W, 3) or (H, W, 4)", arr.shape)


def detect_downscaled(detector: Detector, image: ImageArray, max_num_pixels: int | None) -> Detections:
    """Run ``detector`` on a copy shrunk to at most ``max_num_pixels``; results in ``image``'s pixels.

    Uses NPRA's size rule: ``new_w = int(sqrt(max * W / H))``, ``new_h = int(new_w * H / W)``.
    """
    h, w = image.shape[:2]
    if max_num_pixels is None or h * w <= max_num_pixels:
        return detector.detect(image)
    if max_num_pixels <= 0:
        raise DetectionsError(f"expected max_num_pixels > 0, got {max_num_pixels}", argument="max_num_pixels")
    new_w = max(1, int(np.sqrt(max_num_pixels * w / h)))
    new_h = max(1, int(new_w * h / w))
    small = shrink_area(image, (new_w, new_h))
    dets = detector.detect(small)
    if dets.image_size is None:
        dets = dets.replace(image_size=(new_h, new_w))
    return dets.to_shape(h, w)
