"""Sliding-window detection ("cutouts") and the merge of per-window detections into one object list.

Windows are ``H / cutout_dim_downscale[0]`` × ``W / cutout_dim_downscale[1]`` pixels, moved by at most
``cutout_step_factor`` pixels; their positions are spread evenly so the first window touches the top/left
edge and the last one the bottom/right edge (a step larger than the window shrinks to the window size, so
no strip is ever left unseen). For 360° panoramas (``wrap``) the windows run round the horizontal seam:
one always crosses it, so an object split across the left and right edges is seen whole.

Objects are kept as cropped masks (:class:`ObjectMask`), not full-image masks, so a 8000×4000 panorama
with many detections stays small in memory. Two detections are the same object when, inside the area both
views saw, their masks overlap with IoU ≥ ``merge_iou``; neighbours that merely touch stay apart, and every
object's mask holds only its own detections' pixels. Merging takes the pixel union, the box union, the
mean score and the majority class (ties: the smallest class id).
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from masksmith.detect import Detections

__all__ = [
    "MERGE_IOU",
    "MaskedObjects",
    "ObjectMask",
    "Window",
    "cutout_windows",
    "detect_tiled",
    "detect_views",
    "detect_with_cutouts",
    "merge_views",
    "split_window",
    "window_image",
    "window_positions",
]

BoolArray = npt.NDArray[np.bool_]
DetectFn = Callable[[np.ndarray], Sequence[Detections]]
#: ``map``-like: applies a function to every item, results in order (``map``, ``Executor.map``).
MapFn = Callable[[Callable[[Any], Any], Iterable[Any]], Iterable[Any]]

#: Two views of one object must agree this well (IoU inside the area both saw) to merge.
MERGE_IOU = 0.5
#: An earlier object lying this much inside a new detection is a part of it (e.g. a half cut by the seam) ...
PART_CONTAINED = 0.8
#: ... provided it is at least this share of the new detection's size (a face inside a person is not).
PART_MIN_SHARE = 0.2


@dataclass(frozen=True)
class Window:
    """A window of the image: ``left + width`` may pass the right edge when it wraps (360°)."""

    top: int
    left: int
    height: int
    width: int

    @property
    def bottom(self) -> int:
        return self.top + self.height

    @property
    def right(self) -> int:
        return self.left + self.width


def window_positions(length: int, size: int, step: int, *, wrap: bool = False) -> list[int]:
    """Start offsets of windows of ``size`` along an axis of ``length`` moved by at most ``step``.

    Without ``wrap`` the first start is 0 and the last ``length - size``. With ``wrap`` the starts are
    spread over the whole length and one window always crosses the end (the 360° seam).
    """
    size = max(1, min(size, length))
    stride = max(1, min(step, size))
    if wrap:
        if length <= 1:
            return [0]
        count = max(math.ceil(length / stride), length // size + 1)
        return sorted({round(i * length / count) for i in range(count)})
    if size >= length:
        return [0]
    count = math.ceil((length - size) / stride) + 1
    return sorted({round(i * (length - size) / (count - 1)) for i in range(count)})


def cutout_windows(
    height: int,
    width: int,
    *,
    step: tuple[int, int],
    downscale: tuple[float, float],
    wrap: bool = False,
) -> list[Window]:
    """Row-major windows covering the whole image (``step`` and ``downscale`` are [height, width])."""
    win_h = max(1, int(height / downscale[0]))
    win_w = max(1, int(width / downscale[1]))
    rows = window_positions(height, win_h, int(step[0]))
    cols = window_positions(width, win_w, int(step[1]), wrap=wrap)
    win_h, win_w = min(win_h, height), min(win_w, width)
    return [Window(top, left, win_h, win_w) for top in rows for left in cols]


#: Overlap (pixels) between the tiles a too-large view is split into: an object up to this size is seen
#: whole by one tile; larger ones are seen in parts (merged) and by the reduced whole-image pass.
TILE_OVERLAP = 128


def _tiles(length: int, count: int, overlap: int) -> list[tuple[int, int]]:
    size = math.ceil((length + (count - 1) * overlap) / count)
    starts = window_positions(length, size, size - overlap)
    return [(start, min(size, length)) for start in starts]


def split_window(
    window: Window, max_pixels: int, *, image_width: int, overlap: int = TILE_OVERLAP
) -> list[Window]:
    """``window`` itself when it has at most ``max_pixels`` pixels, else overlapping tiles that cover it.

    Tiles are added along the longer tile side until each tile fits; lefts stay below ``image_width``
    (a tile of a window that wraps may itself wrap).
    """
    if window.height * window.width <= max_pixels:
        return [window]
    rows = cols = 1

    def size(length: int, count: int) -> int:
        return math.ceil((length + (count - 1) * overlap) / count)

    while size(window.height, rows) * size(window.width, cols) > max_pixels:
        tile_h, tile_w = size(window.height, rows), size(window.width, cols)
        if tile_h <= 2 * overlap and tile_w <= 2 * overlap:
            break  # cannot shrink further without tiles of only overlap
        if tile_w >= tile_h:
            cols += 1
        else:
            rows += 1
    return [
        Window(window.top + top, (window.left + left) % image_width, height, width)
        for top, height in _tiles(window.height, rows, overlap)
        for left, width in _tiles(window.width, cols, overlap)
    ]


def window_image(image: np.ndarray, window: Window) -> np.ndarray:
    """The pixels of ``window`` (a view, or a copy joined across the seam when the window wraps)."""
    width = image.shape[1]
    rows = slice(window.top, window.bottom)
    if window.right <= width:
        return image[rows, window.left : window.right]
    return np.concatenate((image[rows, window.left :], image[rows, : window.right - width]), axis=1)


@dataclass(frozen=True, eq=False)
class ObjectMask:
    """One object: a cropped mask placed at (``top``, ``left``) of the full image.

    ``left`` lies in ``[0, W)``; on a 360° image the crop may run past the right edge and continues at the
    left. ``box`` is (x1, y1, x2, y2) in the same unwrapped coordinates (x2 may exceed W there).
    """

    mask: BoolArray
    top: int
    left: int
    box: tuple[float, float, float, float]
    score: float
    class_id: int
    class_name: str
    views: int = 1

    @property
    def area(self) -> int:
        return int(np.count_nonzero(self.mask))


def _crop_to_mask(mask: BoolArray) -> tuple[BoolArray, int, int] | None:
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    return mask[r0:r1, c0:c1].copy(), r0, c0


def _box_pixels(box: npt.NDArray[np.float32], height: int, width: int) -> tuple[int, int, int, int]:
    """Rows and columns whose pixel centres lie inside the box, clipped to the image."""
    x1, y1, x2, y2 = (float(v) for v in box)
    c0 = max(0, math.ceil(x1 - 0.5))
    r0 = max(0, math.ceil(y1 - 0.5))
    c1 = min(width, math.ceil(x2 - 0.5))
    r1 = min(height, math.ceil(y2 - 0.5))
    return r0, r1, c0, c1


def objects_from_detections(dets: Detections, *, height: int, width: int) -> list[ObjectMask]:
    """Cropped objects of ``dets`` (masks where it has them, else the box rectangles); empty ones dropped."""
    out: list[ObjectMask] = []
    names = dets.class_labels
    for i in range(len(dets)):
        box = dets.boxes[i]
        if dets.masks is not None:
            mask = dets.masks[i]
            if mask.shape != (height, width):
                mask = cv2.resize(mask.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST) > 0
            cropped = _crop_to_mask(mask)
            if cropped is None:
                continue
            crop, top, left = cropped
        else:
            r0, r1, c0, c1 = _box_pixels(box, height, width)
            if r1 <= r0 or c1 <= c0:
                continue
            crop, top, left = np.ones((r1 - r0, c1 - c0), dtype=bool), r0, c0
        x1, y1, x2, y2 = (float(v) for v in box)
        out.append(
            ObjectMask(
                mask=crop,
                top=top,
                left=left,
                box=(x1, y1, x2, y2),
                score=float(dets.scores[i]),
                class_id=int(dets.class_ids[i]),
                class_name=names[i],
            )
        )
    return out


@dataclass(frozen=True, eq=False)
class MaskedObjects:
    """Objects found in one image of ``image_size`` (height, width); ``wrap`` for 360° panoramas."""

    objects: tuple[ObjectMask, ...]
    image_size: tuple[int, int]
    wrap: bool = False
    class_names: dict[int, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.objects)

    @classmethod
    def from_detections(cls, dets: Detections | Sequence[Detections], *, wrap: bool = False) -> MaskedObjects:
        """Objects of one or more ``Detections`` of the same image (no merging)."""
        items = [dets] if isinstance(dets, Detections) else list(dets)
        sizes = {d.image_size for d in items if d.image_size is not None}
        if len(sizes) != 1:
            raise ValueError(f"expected one known image size, got {sorted(s for s in sizes if s)}")
        height, width = sizes.pop()
        objects = [o for d in items for o in objects_from_detections(d, height=height, width=width)]
        return cls(tuple(objects), (height, width), wrap, _names(items))

    @property
    def class_labels(self) -> list[str]:
        return [o.class_name for o in self.objects]

    @property
    def scores(self) -> npt.NDArray[np.float32]:
        return np.array([o.score for o in self.objects], dtype=np.float32)

    @property
    def boxes(self) -> npt.NDArray[np.float32]:
        return np.array([o.box for o in self.objects], dtype=np.float32).reshape(-1, 4)

    def parts(self, obj: ObjectMask) -> Iterator[tuple[int, int, BoolArray]]:
        """``obj``'s mask as (top, left, mask) pieces inside the image (split at the seam when ``wrap``)."""
        height, width = self.image_size
        mask = obj.mask
        r0, r1 = obj.top, obj.top + mask.shape[0]
        if r0 < 0:
            mask, r0 = mask[-r0:], 0
        if r1 > height:
            mask = mask[: height - r0]
        if mask.size == 0:
            return
        left, right = obj.left, obj.left + mask.shape[1]
        if not self.wrap:
            if left < 0:
                mask, left = mask[:, -left:], 0
            if right > width:
                mask = mask[:, : width - left]
            if mask.size:
                yield r0, left, mask
            return
        for start in range(0, mask.shape[1], width):
            part = mask[:, start : start + width]
            first = (left + start) % width
            split = width - first
            yield r0, first, part[:, :split]
            if part.shape[1] > split:
                yield r0, 0, part[:, split:]

    def paste(self, obj: ObjectMask, canvas: BoolArray) -> None:
        """OR ``obj``'s mask into the H×W ``canvas`` in place (wrapping across the seam when ``wrap``)."""
        for top, left, mask in self.parts(obj):
            canvas[top : top + mask.shape[0], left : left + mask.shape[1]] |= mask

    def object_mask(self, index: int) -> BoolArray:
        """The full H×W mask of object ``index``."""
        canvas = np.zeros(self.image_size, dtype=bool)
        self.paste(self.objects[index], canvas)
        return canvas

    def union_mask(self) -> BoolArray:
        """One H×W mask, True where any object is."""
        canvas = np.zeros(self.image_size, dtype=bool)
        for obj in self.objects:
            self.paste(obj, canvas)
        return canvas

    def dilate(self, pixels: int) -> MaskedObjects:
        """Every mask grown by ``pixels`` with a (2p+1)² square (as NPRA); boxes grown likewise."""
        if pixels <= 0:
            return self
        kernel = np.ones((2 * pixels + 1, 2 * pixels + 1), np.uint8)
        height, width = self.image_size
        grown = []
        for obj in self.objects:
            padded = np.pad(obj.mask, pixels).astype(np.uint8)
            mask = cv2.dilate(padded, kernel).astype(bool)
            top, left = obj.top - pixels, obj.left - pixels
            x1, y1, x2, y2 = obj.box
            box = (x1 - pixels, max(0.0, y1 - pixels), x2 + pixels, min(float(height), y2 + pixels))
            if self.wrap:
                if left < 0:
                    left += width
                    box = (box[0] + width, box[1], box[2] + width, box[3])
            else:
                box = (max(0.0, box[0]), box[1], min(float(width), box[2]), box[3])
            if top < 0:
                mask, top = mask[-top:], 0
            mask = mask[: height - top]
            if not self.wrap:
                if left < 0:
                    mask, left = mask[:, -left:], 0
                mask = mask[:, : width - left]
            grown.append(ObjectMask(mask, top, left, box, obj.score, obj.class_id, obj.class_name, obj.views))
        return MaskedObjects(tuple(grown), self.image_size, self.wrap, self.class_names)

    def to_detections(self) -> Detections:
        """The objects as ``Detections`` with full-size masks (boxes clipped to the image)."""
        height, width = self.image_size
        n = len(self.objects)
        masks = np.zeros((n, height, width), dtype=bool)
        for i, obj in enumerate(self.objects):
            self.paste(obj, masks[i])
        boxes = self.boxes.copy()
        boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, width)
        boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, height)
        names = {**self.class_names, **{o.class_id: o.class_name for o in self.objects}}
        dets = Detections(
            boxes=boxes,
            scores=self.scores,
            class_ids=np.array([o.class_id for o in self.objects], dtype=np.int64),
            masks=masks,
            image_size=(height, width),
        )
        return dataclasses.replace(dets, class_names=names) if names else dets


def _names(items: Iterable[Detections]) -> dict[int, str]:
    names: dict[int, str] = {}
    for d in items:
        names.update(d.class_names)
    return names


@dataclass
class _Pending:
    """An object being merged: mask crop in unwrapped coordinates, the windows that saw it, vote pools."""

    mask: BoolArray
    top: int
    left: int
    box: list[float]
    scores: list[float]
    classes: list[tuple[int, str]]
    seen: list[Window]


def _intersect(
    a: tuple[int, int, int, int], b: tuple[int, int, int, int]
) -> tuple[int, int, int, int] | None:
    r0, r1 = max(a[0], b[0]), min(a[1], b[1])
    c0, c1 = max(a[2], b[2]), min(a[3], b[3])
    return (r0, r1, c0, c1) if r1 > r0 and c1 > c0 else None


def _rect(top: int, left: int, mask: BoolArray) -> tuple[int, int, int, int]:
    return top, top + mask.shape[0], left, left + mask.shape[1]


def _region(mask: BoolArray, top: int, left: int, region: tuple[int, int, int, int]) -> BoolArray:
    """``mask`` (placed at top/left) cut to ``region`` (r0, r1, c0, c1); zeros where it has no pixels."""
    r0, r1, c0, c1 = region
    out = np.zeros((r1 - r0, c1 - c0), dtype=bool)
    inner = _intersect(_rect(top, left, mask), region)
    if inner is not None:
        a0, a1, b0, b1 = inner
        out[a0 - r0 : a1 - r0, b0 - c0 : b1 - c0] = mask[a0 - top : a1 - top, b0 - left : b1 - left]
    return out


def _absorb(item: _Pending, other: _Pending, offset: int) -> None:
    """Merge ``other`` (its columns moved by ``offset`` into ``item``'s frame) into ``item``."""
    top, left = other.top, other.left + offset
    a = _rect(item.top, item.left, item.mask)
    b = _rect(top, left, other.mask)
    region = (min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3]))
    merged = _region(item.mask, item.top, item.left, region) | _region(other.mask, top, left, region)
    item.mask, item.top, item.left = merged, region[0], region[2]
    x1, y1, x2, y2 = other.box
    item.box = [
        min(item.box[0], x1 + offset), min(item.box[1], y1),
        max(item.box[2], x2 + offset), max(item.box[3], y2),
    ]  # fmt: skip
    item.scores.extend(other.scores)
    item.classes.extend(other.classes)
    item.seen.extend(Window(w.top, w.left + offset, w.height, w.width) for w in other.seen)


class _Merger:
    """Accumulates views (the full image, then windows) into merged objects."""

    def __init__(self, image_size: tuple[int, int], *, wrap: bool, merge_iou: float) -> None:
        self.height, self.width = image_size
        self.wrap = wrap
        self.merge_iou = merge_iou
        self.pending: list[_Pending] = []
        self.names: dict[int, str] = {}

    def _shifts(self) -> tuple[int, ...]:
        return (0, self.width, -self.width) if self.wrap else (0,)

    def _seen_mask(self, item: _Pending, shift: int, region: tuple[int, int, int, int]) -> BoolArray:
        r0, r1, c0, c1 = region
        seen = np.zeros((r1 - r0, c1 - c0), dtype=bool)
        for win in item.seen:
            for extra in self._shifts():
                rect = (win.top, win.bottom, win.left + shift + extra, win.right + shift + extra)
                inner = _intersect(rect, region)
                if inner is not None:
                    seen[inner[0] - r0 : inner[1] - r0, inner[2] - c0 : inner[3] - c0] = True
        return seen

    def _match(self, obj: ObjectMask, window: Window, existing: int) -> list[tuple[int, int]]:
        """Earlier objects that ``obj`` shows (index, shift aligning it with the window), best first.

        The best one agrees with IoU ≥ ``merge_iou`` inside the area both views saw; further ones are
        parts of ``obj`` (≥ :data:`PART_CONTAINED` of them inside it, each at least
        :data:`PART_MIN_SHARE` of its size), e.g. the two halves of an object the seam cut apart.
        """
        view = (window.top, window.bottom, window.left, window.right)
        candidate = _rect(obj.top, obj.left, obj.mask)
        best: tuple[float, int, int] | None = None
        parts: list[tuple[int, int]] = []
        for index in range(existing):
            item = self.pending[index]
            for shift in self._shifts():
                rect = _rect(item.top, item.left + shift, item.mask)
                if _intersect(rect, candidate) is None:
                    continue
                region = _intersect(
                    (min(rect[0], candidate[0]), max(rect[1], candidate[1]),
                     min(rect[2], candidate[2]), max(rect[3], candidate[3])),
                    view,
                )  # fmt: skip
                if region is None:
                    continue
                seen = self._seen_mask(item, shift, region)
                a = _region(obj.mask, obj.top, obj.left, region) & seen
                b = _region(item.mask, item.top, item.left + shift, region) & seen
                area_a, area_b = np.count_nonzero(a), np.count_nonzero(b)
                union = np.count_nonzero(a | b)
                if union == 0 or area_b == 0:
                    continue
                inter = np.count_nonzero(a & b)
                iou = inter / union
                if iou >= self.merge_iou and (best is None or iou > best[0]):
                    best = (iou, index, shift)
                elif inter / area_b >= PART_CONTAINED and area_b >= PART_MIN_SHARE * area_a:
                    parts.append((index, shift))
        matches = [] if best is None else [(best[1], best[2])]
        matches += [p for p in parts if best is None or p[0] != best[1]]
        return matches

    def add(self, window: Window, detections: Sequence[Detections]) -> None:
        """Merge the detections of one view (coordinates in the window's pixels)."""
        existing = len(self.pending)
        for dets in detections:
            self.names.update(dets.class_names)
            for local in objects_from_detections(dets, height=window.height, width=window.width):
                obj = _Pending(
                    local.mask,
                    local.top + window.top,
                    local.left + window.left,
                    [local.box[0] + window.left, local.box[1] + window.top,
                     local.box[2] + window.left, local.box[3] + window.top],
                    [local.score],
                    [(local.class_id, local.class_name)],
                    [window],
                )  # fmt: skip
                view = ObjectMask(obj.mask, obj.top, obj.left, (0, 0, 0, 0), 0.0, 0, "")
                matches = self._match(view, window, existing)
                if not matches:
                    self.pending.append(obj)
                    continue
                (first, shift), others = matches[0], matches[1:]
                primary = self.pending[first]
                _absorb(primary, obj, -shift)
                for index, other_shift in others:
                    _absorb(primary, self.pending[index], other_shift - shift)
                for index in sorted({i for i, _ in others}, reverse=True):
                    del self.pending[index]
                    existing -= 1

    def result(self) -> MaskedObjects:
        objects = []
        for item in self.pending:
            votes = Counter(cid for cid, _ in item.classes)
            top_count = max(votes.values())
            class_id = min(cid for cid, count in votes.items() if count == top_count)
            name = next(n for cid, n in item.classes if cid == class_id)
            left, box = item.left, item.box
            if self.wrap and not 0 <= left < self.width:
                offset = (left // self.width) * self.width
                left -= offset
                box = [box[0] - offset, box[1], box[2] - offset, box[3]]
            objects.append(
                ObjectMask(
                    item.mask,
                    item.top,
                    left,
                    (box[0], box[1], box[2], box[3]),
                    float(np.mean(item.scores)),
                    class_id,
                    name,
                    len(item.scores),
                )
            )
        return MaskedObjects(tuple(objects), (self.height, self.width), self.wrap, dict(self.names))


def merge_views(
    views: Iterable[tuple[Window, Sequence[Detections]]],
    *,
    image_size: tuple[int, int],
    wrap: bool = False,
    merge_iou: float = MERGE_IOU,
) -> MaskedObjects:
    """Merge detections of several views (full image and windows, in order) into one object list.

    Each view's ``Detections`` are in that window's pixels. Detections of the same view never merge
    with each other (the detector already told them apart).
    """
    merger = _Merger(image_size, wrap=wrap, merge_iou=merge_iou)
    for window, dets in views:
        merger.add(window, dets)
    return merger.result()


def detect_with_cutouts(
    image: np.ndarray,
    detect: DetectFn,
    *,
    step: tuple[int, int],
    downscale: tuple[float, float],
    wrap: bool = False,
    full_pass: bool = True,
    merge_iou: float = MERGE_IOU,
    map_views: MapFn = map,
    max_view_pixels: int | None = None,
) -> MaskedObjects:
    """Run ``detect`` on the full image (``full_pass``) and on every cutout window, then merge.

    ``map_views`` runs the detections (the built-in ``map`` one after another; an executor's ``map``
    in parallel, results in order, so the merge is the same either way). Windows of more than
    ``max_view_pixels`` are split into overlapping tiles (the full pass is left to ``detect``, which
    may run it on a reduced copy).
    """
    height, width = image.shape[:2]
    windows = cutout_windows(height, width, step=step, downscale=downscale, wrap=wrap)
    if max_view_pixels is not None:
        windows = [tile for w in windows for tile in split_window(w, max_view_pixels, image_width=width)]
    return detect_views(
        image, detect, windows, full_pass=full_pass, wrap=wrap, merge_iou=merge_iou, map_views=map_views
    )


def detect_tiled(
    image: np.ndarray,
    detect: DetectFn,
    *,
    max_view_pixels: int,
    wrap: bool = False,
    map_views: MapFn = map,
) -> MaskedObjects:
    """Detect an image larger than ``max_view_pixels``: a whole-image pass (which ``detect`` reduces) and
    full-resolution overlapping tiles of at most ``max_view_pixels``, merged."""
    height, width = image.shape[:2]
    tiles = split_window(Window(0, 0, height, width), max_view_pixels, image_width=width)
    return detect_views(image, detect, tiles, full_pass=True, wrap=wrap, map_views=map_views)


def detect_views(
    image: np.ndarray,
    detect: DetectFn,
    windows: Sequence[Window],
    *,
    full_pass: bool,
    wrap: bool,
    merge_iou: float = MERGE_IOU,
    map_views: MapFn = map,
) -> MaskedObjects:
    """Run ``detect`` on the whole image (``full_pass``) and on each window; merge the views."""
    height, width = image.shape[:2]
    windows = list(windows)
    if full_pass:
        windows = [Window(0, 0, height, width), *windows]

    def view(window: Window) -> tuple[Window, Sequence[Detections]]:
        whole = (window.top, window.left, window.height, window.width) == (0, 0, height, width)
        return window, detect(image if whole else window_image(image, window))

    return merge_views(map_views(view, windows), image_size=(height, width), wrap=wrap, merge_iou=merge_iou)
