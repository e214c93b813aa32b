"""Detections: shape checks, indexing, filtering, geometry, masks, NMS."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from masksmith.detect import (
    CAR,
    CLASS_NAMES,
    COCO80_TO_CLASS,
    COCO91_TO_CLASS,
    FACE,
    PERSON,
    Detections,
    DetectionsError,
    Detector,
    box_iou,
    class_id,
    detect_downscaled,
    nms,
)
from masksmith.errors import MasksmithError


def _dets(**extra: Any) -> Detections:
    fields: dict[str, Any] = {
        "boxes": [[10, 10, 30, 40], [50, 20, 70, 30], [12, 12, 32, 42]],
        "scores": [0.9, 0.5, 0.7],
        "class_ids": [class_id(PERSON), class_id(CAR), class_id(PERSON)],
        "image_size": (60, 80),
    }
    fields.update(extra)
    return Detections(**fields)


@pytest.mark.parametrize(
    ("changes", "argument", "expected"),
    [
        ({"boxes": np.zeros((3, 5))}, "boxes", "(N, 4)"),
        ({"scores": [0.1, 0.2]}, "scores", "(3,)"),
        ({"class_ids": [0, 1]}, "class_ids", "(3,)"),
        ({"class_ids": [0.5, 1, 2]}, "class_ids", "integer"),
        ({"masks": np.zeros((2, 60, 80), bool)}, "masks", "(3, 60, 80)"),
        ({"masks": np.zeros((3, 61, 80), bool)}, "masks", "(3, 60, 80)"),
        ({"keypoints": np.zeros((3, 5, 3))}, "keypoints", "(3, K, 2)"),
        ({"image_size": (0, 10)}, "image_size", "positive"),
    ],
)
def test_shape_errors_say_expected_and_actual(changes: dict[str, Any], argument: str, expected: str) -> None:
    with pytest.raises(DetectionsError) as info:
        _dets(**changes)
    assert isinstance(info.value, MasksmithError)
    assert info.value.argument == argument
    assert expected in str(info.value)


def test_construction_normalises_dtypes() -> None:
    d = _dets()
    assert d.boxes.dtype == np.float32 and d.scores.dtype == np.float32 and d.class_ids.dtype == np.int64
    assert len(d) == 3
    assert d.class_labels == [PERSON, CAR, PERSON]


def test_empty() -> None:
    e = Detections.empty(20, 30, keypoints=5, with_masks=True)
    assert len(e) == 0 and e.image_size == (20, 30)
    assert e.masks is not None and e.masks.shape == (0, 20, 30)
    assert e.keypoints is not None and e.keypoints.shape == (0, 5, 2)
    assert not e.union_mask().any() and e.union_mask().shape == (20, 30)


@pytest.mark.parametrize(
    ("index", "scores"),
    [
        (1, [0.5]),
        (slice(0, 2), [0.9, 0.5]),
        (np.array([True, False, True]), [0.9, 0.7]),
        (np.array([2, 0]), [0.7, 0.9]),
        (np.array([], dtype=np.int64), []),
    ],
)
def test_indexing(index: Any, scores: list[float]) -> None:
    kp = np.arange(3 * 2 * 2, dtype=np.float32).reshape(3, 2, 2)
    sub = _dets(keypoints=kp)[index]
    np.testing.assert_allclose(sub.scores, scores)
    assert sub.keypoints is not None and len(sub.keypoints) == len(scores)
    assert sub.image_size == (60, 80)


def test_boolean_index_of_wrong_length_is_rejected() -> None:
    with pytest.raises(DetectionsError, match=r"\(3,\)"):
        _dets()[np.array([True, False])]


@pytest.mark.parametrize(
    ("kwargs", "scores"),
    [
        ({"min_score": 0.6}, [0.9, 0.7]),
        ({"classes": [CAR]}, [0.5]),
        ({"classes": [class_id(PERSON)]}, [0.9, 0.7]),
        ({"classes": [PERSON], "min_score": 0.8}, [0.9]),
        ({"classes": []}, []),
    ],
)
def test_filter(kwargs: dict[str, Any], scores: list[float]) -> None:
    np.testing.assert_allclose(_dets().filter(**kwargs).scores, scores)


def test_filter_unknown_class_lists_valid_ones() -> None:
    with pytest.raises(DetectionsError, match="licence_plate"):
        _dets().filter(classes=["dog"])


def test_scale_and_to_shape() -> None:
    masks = np.zeros((3, 60, 80), bool)
    masks[0, 10:40, 10:30] = True
    d = _dets(masks=masks, keypoints=np.ones((3, 1, 2), np.float32))
    s = d.scale(2.0, 0.5)
    np.testing.assert_allclose(s.boxes[0], [20, 5, 60, 20])
    assert s.image_size == (30, 160) and s.masks is not None and s.masks.shape == (3, 30, 160)
    assert s.keypoints is not None
    np.testing.assert_allclose(s.keypoints[0, 0], [2.0, 0.5])
    t = d.to_shape(120, 160)
    np.testing.assert_allclose(t.boxes[1], [100, 40, 140, 60])
    assert t.masks is not None
    rows, cols = np.nonzero(t.masks[0])
    assert (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1) == (20, 20, 60, 80)
    np.testing.assert_array_equal(d.masks, masks)  # input untouched


def test_union_mask_of_boxes_and_masks() -> None:
    d = _dets()
    u = d.union_mask()
    assert u.shape == (60, 80) and u.dtype == bool
    assert u[10:40, 10:30].all() and u[20:30, 50:70].all()
    assert u.sum() == len(
        np.unique(
            np.concatenate(
                [
                    np.ravel_multi_index(np.mgrid[10:40, 10:30].reshape(2, -1), (60, 80)),
                    np.ravel_multi_index(np.mgrid[20:30, 50:70].reshape(2, -1), (60, 80)),
                    np.ravel_multi_index(np.mgrid[12:42, 12:32].reshape(2, -1), (60, 80)),
                ]
            )
        )
    )
    masks = np.zeros((3, 60, 80), bool)
    masks[1, 5, 5] = True
    assert _dets(masks=masks).union_mask().sum() == 1
    assert _dets(masks=masks).union_mask((120, 160)).shape == (120, 160)


@pytest.mark.parametrize(("pixels", "side"), [(0, 1), (4, 9), (1, 3)])
def test_dilate_grows_masks_like_npra(pixels: int, side: int) -> None:
    masks = np.zeros((1, 30, 30), bool)
    masks[0, 15, 15] = True
    d = Detections(boxes=[[15, 15, 16, 16]], scores=[1.0], class_ids=[0], masks=masks)
    out = d.dilate(pixels)
    assert out.masks is not None and out.masks.sum() == side * side
    np.testing.assert_allclose(out.boxes[0], [15 - pixels, 15 - pixels, 16 + pixels, 16 + pixels])
    assert masks.sum() == 1


def test_dilate_clips_boxes_to_the_image() -> None:
    out = _dets().dilate(15)
    assert (out.boxes >= 0).all() and (out.boxes[:, 2] <= 80).all() and (out.boxes[:, 3] <= 60).all()


def test_concat_fills_masks_and_keypoints() -> None:
    masks = np.zeros((1, 60, 80), bool)
    masks[0, :5, :5] = True
    a = Detections(boxes=[[0, 0, 5, 5]], scores=[0.3], class_ids=[0], masks=masks)
    b = Detections(
        boxes=[[10, 10, 20, 20]],
        scores=[0.4],
        class_ids=[class_id(FACE)],
        keypoints=np.ones((1, 5, 2)),
        image_size=(60, 80),
    )
    c = Detections.concat([a, b, Detections.empty(60, 80)])
    assert len(c) == 2 and c.masks is not None and c.masks.shape == (2, 60, 80)
    assert c.masks[1, 10:20, 10:20].all() and c.masks[1].sum() == 100
    assert c.keypoints is not None and np.isnan(c.keypoints[0]).all() and (c.keypoints[1] == 1).all()


def test_concat_rejects_different_image_sizes() -> None:
    with pytest.raises(DetectionsError, match="image size"):
        Detections.concat([Detections.empty(10, 10), Detections.empty(20, 10)])


@pytest.mark.parametrize(
    ("iou", "per_class", "kept"),
    [
        (0.5, False, [0, 1]),  # boxes 0 and 2 overlap with IoU 504/696 = 0.72
        (0.8, False, [0, 2, 1]),
        (0.72, True, [0, 1]),
        (0.73, True, [0, 2, 1]),
    ],
)
def test_nms(iou: float, per_class: bool, kept: list[int]) -> None:
    d = _dets()
    got = nms(d.boxes, d.scores, iou_threshold=iou, class_ids=d.class_ids if per_class else None)
    assert got.tolist() == kept  # best score first


def test_nms_keeps_other_classes_apart() -> None:
    boxes = [[0, 0, 10, 10], [0, 0, 10, 10], [1, 1, 10, 10]]
    got = nms(boxes, [0.9, 0.8, 0.7], iou_threshold=0.5, class_ids=[0, 1, 0])
    assert got.tolist() == [0, 1]
    assert nms(boxes, [0.9, 0.8, 0.7], iou_threshold=0.5).tolist() == [0]


def test_box_iou() -> None:
    iou = box_iou([[0, 0, 10, 10]], [[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 0, 0]])
    np.testing.assert_allclose(iou, [[1.0, 1 / 3, 0.0, 0.0]])


def test_class_vocabulary() -> None:
    assert CLASS_NAMES == ("person", "bicycle", "car", "motorcycle", "bus", "truck", "face", "licence_plate")
    assert [COCO80_TO_CLASS[i] for i in (0, 1, 2, 3, 5, 7)] == list(CLASS_NAMES[:6])
    assert [COCO91_TO_CLASS[i] for i in (1, 2, 3, 4, 6, 8)] == list(CLASS_NAMES[:6])


class _BoxAtCentre:
    """A stub detector: one box in the middle quarter of whatever image it gets."""

    name = "stub"
    classes = (PERSON,)

    def __init__(self) -> None:
        self.seen: list[tuple[int, int]] = []

    def detect(self, image_rgb: np.ndarray) -> Detections:
        h, w = image_rgb.shape[:2]
        self.seen.append((h, w))
        mask = np.zeros((1, h, w), bool)
        mask[0, h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] = True
        return Detections(
            boxes=[[w / 4, h / 4, 3 * w / 4, 3 * h / 4]], scores=[1.0], class_ids=[0], masks=mask
        )


@pytest.mark.parametrize(
    ("hw", "max_pixels", "seen"), [((400, 800), 20_000, (100, 200)), ((40, 80), 20_000, (40, 80))]
)
def test_detect_downscaled(hw: tuple[int, int], max_pixels: int, seen: tuple[int, int]) -> None:
    stub = _BoxAtCentre()
    assert isinstance(stub, Detector)
    dets = detect_downscaled(stub, np.zeros((*hw, 3), np.uint8), max_pixels)
    assert stub.seen == [seen]
    h, w = hw
    np.testing.assert_allclose(dets.boxes[0], [w / 4, h / 4, 3 * w / 4, 3 * h / 4], atol=1)
    assert dets.image_size == hw and dets.masks is not None and dets.masks.shape == (1, *hw)
    assert abs(int(dets.masks[0].sum()) - h * w // 4) <= (h + w)
