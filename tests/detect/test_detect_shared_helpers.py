"""The helpers the detectors share: box geometry, class maps, network resizing, package files, the registry table."""

from __future__ import annotations

import importlib
import importlib.util
import sys

import cv2
import numpy as np
import pytest

from masksmith.detect import Detections, api, registry
from masksmith.detect.boxes import (
    best_class,
    clip_boxes,
    cxcywh_to_xyxy,
    pixel_bounds,
    xywh_to_xyxy,
)
from masksmith.detect.classes import COCO80_TO_CLASS, DetectionsError, class_id, kept_class_ids
from masksmith.detect.network_input import resize_cv2, resize_exact_area
from masksmith.detect.onnx_check import fixed_input_hw
from masksmith.detect.package_files import installed_spec, package_file
from masksmith.media.resize import shrink_area


def test_box_conversions_and_clipping() -> None:
    rects = np.array([[10, 20, 30, 40]], np.float32)
    assert xywh_to_xyxy(rects).tolist() == [[10, 20, 40, 60]]
    rows = np.array([[50, 60, 20, 10, 0.9]], np.float32)
    assert cxcywh_to_xyxy(rows).tolist() == [[40, 55, 60, 65]]
    boxes = np.array([[-5, -1, 120, 90]], np.float32)
    clipped = clip_boxes(boxes, 80, 100)
    assert clipped.tolist() == [[0, 0, 100, 80]] and clipped.dtype == np.float32
    assert boxes.tolist() == [[-5, -1, 120, 90]]  # the input is not changed


def test_pixel_bounds_count_pixels_whose_centres_are_inside() -> None:
    assert pixel_bounds(np.array([0.4, 0.6, 3.5, 2.4], np.float32), 10, 10) == (0, 1, 3, 2)
    assert pixel_bounds(np.array([-3, -3, 50, 50], np.float32), 8, 6) == (0, 0, 6, 8)


def test_best_class_picks_the_highest_column() -> None:
    best, score = best_class(np.array([[0.1, 0.7, 0.2], [0.5, 0.1, 0.4]], np.float32))
    assert best.tolist() == [1, 0]
    assert score.tolist() == pytest.approx([0.7, 0.5])


def test_kept_class_ids_maps_only_wanted_classes() -> None:
    assert kept_class_ids(COCO80_TO_CLASS, ["car", "person"]) == {0: class_id("person"), 2: class_id("car")}
    assert kept_class_ids(COCO80_TO_CLASS, []) == {}


def test_resize_rules_return_the_image_itself_at_its_own_size() -> None:
    image = np.random.default_rng(1).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    assert resize_cv2(image, (40, 30)) is image
    assert resize_exact_area(image, (40, 30)) is image


def test_resize_rules_pick_area_when_shrinking_and_bilinear_otherwise() -> None:
    image = np.random.default_rng(2).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    area = cv2.resize(image, (20, 15), interpolation=cv2.INTER_AREA)
    linear_up = cv2.resize(image, (80, 60), interpolation=cv2.INTER_LINEAR)
    assert np.array_equal(resize_cv2(image, (20, 15)), area)
    assert np.array_equal(resize_cv2(image, (80, 60)), linear_up)
    assert np.array_equal(resize_exact_area(image, (20, 15)), shrink_area(image, (20, 15)))
    # one side shrinks, the other grows: bilinear
    mixed = cv2.resize(image, (20, 60), interpolation=cv2.INTER_LINEAR)
    assert np.array_equal(resize_exact_area(image, (20, 60)), mixed)


def test_fixed_input_hw_falls_back_for_dynamic_dims() -> None:
    assert fixed_input_hw([1, 3, 320, 480], 640) == (320, 480)
    assert fixed_input_hw(["N", 3, "H", None], 640) == (640, 640)
    assert fixed_input_hw([1, 3, -1, 256], 512) == (512, 256)


def test_package_files_find_a_file_without_importing(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = installed_spec("masksmith")
    assert spec is not None
    assert package_file(spec, "detect/boxes.py") is not None
    assert package_file(spec, "no/such/file.onnx") is None
    assert installed_spec("masksmith_no_such_package") is None
    monkeypatch.setitem(sys.modules, "blocked_package_for_test", None)
    assert installed_spec("blocked_package_for_test") is None


def test_every_built_in_registry_row_names_a_real_factory_and_locate_function() -> None:
    built_in = {
        "centerface",
        "dlib-faces",
        "yolo-seg",
        "text-plates",
        "mask-rcnn",
        "yolox",
        "hog-people",
        "haar-plates",
    }
    entries = registry.registered_detectors()
    assert built_in <= set(entries)
    for name in built_in:
        entry = entries[name]
        assert entry.install_hint and entry.description
        for target in (entry.factory, entry.locate):
            assert target is not None
            module_name, _, attribute = target.partition(":")
            assert module_name.startswith("masksmith.detect.")
            if all(importlib.util.find_spec(req) is not None for req in entry.requires):
                assert callable(getattr(importlib.import_module(module_name), attribute))


def test_replace_checks_the_new_fields_like_a_new_detections() -> None:
    dets = Detections(
        boxes=np.array([[0, 0, 4, 4]], np.float32),
        scores=np.array([0.9], np.float32),
        class_ids=np.array([0]),
        image_size=(8, 8),
    )
    moved = dets.replace(boxes=np.array([[1, 1, 5, 5]], np.float32))
    assert moved.boxes.tolist() == [[1, 1, 5, 5]] and moved.scores.tolist() == pytest.approx([0.9])
    assert dets.boxes.tolist() == [[0, 0, 4, 4]]
    with pytest.raises(DetectionsError):
        dets.replace(boxes=np.zeros((2, 4), np.float32))
    assert dets._replace(image_size=(16, 16)).image_size == (16, 16)  # the old name still works


def test_api_still_exports_the_moved_names() -> None:
    for name in (
        "nms",
        "box_iou",
        "class_id",
        "CLASS_NAMES",
        "COCO91_TO_CLASS",
        "DetectionsError",
        "FloatArray",
    ):
        assert hasattr(api, name), name


def test_scale_xy_multiplies_x_and_y_separately() -> None:
    from masksmith.detect.boxes import scale_xy

    scaled = scale_xy(np.array([[10, 20, 30, 40]], np.float32), 0.5, 2.0)
    assert scaled.tolist() == [[5, 40, 15, 80]] and scaled.dtype == np.float32
