"""Tests of masksmith.anonymise.tools: check-folders, create-json, create-preview, json-to-db, evaluate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import piexif
import pytest
import yaml
from PIL import Image

from masksmith.anonymise.config import AnonymiseConfig, load_config
from masksmith.anonymise.metadata import metadata_for_file
from masksmith.anonymise.previews import preview_crop
from masksmith.anonymise.sinks import DatabaseSink, make_engine
from masksmith.anonymise.tools import (
    COCO_METRICS,
    check_folders,
    create_json,
    create_previews,
    evaluate,
    json_to_db,
    load_json_lenient,
)
from masksmith.errors import ConfigError
from tests.anonymise.rows import record


def make_config(tmp_path: Path, **keys: Any) -> AnonymiseConfig:
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(keys), encoding="utf-8")
    return load_config(path)


def write_jpeg(path: Path, pixels: np.ndarray, exif: bytes | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(pixels)
    if exif is None:
        image.save(path, quality=95)
    else:
        image.save(path, quality=95, exif=exif)
    return path


def textured(rng: np.random.Generator, rows: int = 48, cols: int = 64) -> np.ndarray:
    return rng.integers(0, 256, size=(rows, cols, 3), dtype=np.uint8)


# --- check-folders -----------------------------------------------------------------------------------------


def test_check_folders_counts_missing_and_extra(tmp_path: Path, rng: np.random.Generator) -> None:
    config = make_config(tmp_path, remote_preview=True)
    inp, out, arch = tmp_path / "in", tmp_path / "out", tmp_path / "arch"
    for rel in ("a/x1.jpg", "a/x2.jpg", "b/y1.jpg", "b/y2.JPG", "b/y1_preview.jpg"):
        write_jpeg(inp / rel, textured(rng))
    # a/x1: complete; a/x2: JSON and archive copy missing; b/y1: only the image; b/y2: nothing
    for rel in ("a/x1.jpg", "a/x1.json", "a/x1_preview.jpg", "a/x2.jpg", "a/x2_preview.jpg", "b/y1.jpg"):
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(b"x")
    for rel in ("a/x1.jpg", "b/y1.jpg"):
        (arch / rel).parent.mkdir(parents=True, exist_ok=True)
        (arch / rel).write_bytes(b"x")
    (out / "a" / "orphan.jpg").write_bytes(b"x")  # no input image of that name
    (out / "b" / ".y2.jpg.partial").write_bytes(b"x")  # a crash leftover
    (tmp_path / "out_error" / "c").mkdir(parents=True)
    (tmp_path / "out_error" / "c" / "z_error.txt").write_text("broken")

    report = check_folders(inp, out, arch, config=config)

    assert report.expected == ("image", "json", "preview", "archive")
    assert [r.folder for r in report.rows] == ["a", "b"]
    a, b = report.rows
    assert (a.images, a.complete, a.extra) == (2, 1, 1)
    assert dict(a.ok) == {"image": 2, "json": 1, "preview": 2, "archive": 1}
    assert dict(a.missing) == {"json": 1, "archive": 1}
    assert (b.images, b.complete, b.extra) == (2, 0, 1)
    assert dict(b.missing) == {"image": 1, "json": 2, "preview": 2, "archive": 1}
    assert report.status("json", a) == "Missing" and report.status("image", a) == "OK"
    assert report.status("journal", a) == "None"
    assert sorted(p.relative_to(tmp_path).as_posix() for p in report.missing_files) == [
        "arch/a/x2.jpg", "arch/b/y2.JPG", "out/a/x2.json", "out/b/y1.json", "out/b/y1_preview.jpg",
        "out/b/y2.JPG", "out/b/y2.json", "out/b/y2_preview.jpg",
    ]  # fmt: skip
    assert sorted(p.name for p in report.extra_files) == [".y2.jpg.partial", "orphan.jpg"]
    assert report.error_images == 1 and report.interrupted == 0
    total = report.total
    assert (total.images, total.complete, sum(total.missing.values())) == (4, 1, 8)
    assert not report.ok


def test_check_folders_complete_tree_is_ok(tmp_path: Path, rng: np.random.Generator) -> None:
    config = make_config(tmp_path)
    inp, out = tmp_path / "in", tmp_path / "out"
    write_jpeg(inp / "d" / "p.jpg", textured(rng))
    (out / "d").mkdir(parents=True)
    (out / "d" / "p.jpg").write_bytes(b"x")
    (out / "d" / "p.json").write_text("{}")
    report = check_folders(inp, out, config=config)
    assert report.ok and report.expected == ("image", "json")
    assert report.missing_files == [] and report.extra_files == []
    (out / ".masksmith_inflight").mkdir()
    (out / ".masksmith_inflight" / "abc.json").write_text("{}")
    interrupted = check_folders(inp, out, config=config)
    assert interrupted.interrupted == 1 and not interrupted.ok


# --- create-json -------------------------------------------------------------------------------------------


def _gps_exif() -> bytes:
    gps = {
        piexif.GPSIFD.GPSLatitudeRef: b"N",
        piexif.GPSIFD.GPSLatitude: ((63, 1), (25, 1), (4980, 100)),
        piexif.GPSIFD.GPSLongitudeRef: b"E",
        piexif.GPSIFD.GPSLongitude: ((10, 1), (23, 1), (4236, 100)),
        piexif.GPSIFD.GPSAltitude: (453, 10),
    }
    exif = {
        "0th": {piexif.ImageIFD.Model: b"TestCam"},
        "Exif": {piexif.ExifIFD.DateTimeOriginal: b"2021:06:15 10:23:45"},
        "GPS": gps,
    }
    return piexif.dump(exif)


def test_create_json_writes_missing_metadata_only(tmp_path: Path, rng: np.random.Generator) -> None:
    config = make_config(tmp_path, local_json=True, data_eier="Statens vegvesen")
    inp, out = tmp_path / "tilSladding" / "in", tmp_path / "out"
    with_gps = write_jpeg(inp / "E6" / "Fy50_Ev6_S1D1_m00123_f1.jpg", textured(rng), _gps_exif())
    plain = write_jpeg(inp / "plain.jpg", textured(rng))
    (inp / "broken.jpg").write_bytes(b"this is not a jpeg at all")
    (out / "plain.json").parent.mkdir(parents=True)
    (out / "plain.json").write_text('{"kept": true}')

    report = create_json(inp, out, config=config)

    assert sorted(p.relative_to(tmp_path).as_posix() for p in report.written) == [
        "out/E6/Fy50_Ev6_S1D1_m00123_f1.json", "tilSladding/in/E6/Fy50_Ev6_S1D1_m00123_f1.json",
        "tilSladding/in/plain.json",
    ]  # fmt: skip
    assert json.loads((out / "plain.json").read_text()) == {"kept": True}  # present: not touched
    assert [p.name for p, _ in report.failed] == ["broken.jpg"] and report.skipped == 0
    written = json.loads((out / "E6" / "Fy50_Ev6_S1D1_m00123_f1.json").read_text(encoding="utf-8"))
    assert written == metadata_for_file(with_gps, config=config)
    assert written["detekterte_objekter"] is None
    assert (
        written["exif_gpsposisjon"].startswith("srid=4326;POINT Z( 10.3951") and written["exif_vegnr"] == "6"
    )
    assert json.loads((inp / "plain.json").read_text())["exif_kvalitet"] == "0"
    assert plain.is_file()

    again = create_json(inp, out, config=config)
    assert again.written == [] and again.skipped == 2
    forced = create_json(inp, out, config=config, overwrite=True)
    assert len(forced.written) == 4


def test_create_json_needs_a_location(tmp_path: Path) -> None:
    config = make_config(tmp_path, remote_json=False)
    with pytest.raises(ConfigError, match="no JSON location"):
        create_json(tmp_path, tmp_path / "o", config=config)


# --- create-preview ----------------------------------------------------------------------------------------


def test_create_previews_crop_the_anonymised_output(tmp_path: Path, rng: np.random.Generator) -> None:
    config = make_config(tmp_path, remote_preview=True, local_preview=True, preview_dim=[80, 40],
                         preview_center=[0.5, 0.25])  # fmt: skip
    inp, out = tmp_path / "in", tmp_path / "out"
    write_jpeg(inp / "r" / "done.jpg", textured(rng, 60, 100))
    write_jpeg(inp / "r" / "todo.jpg", textured(rng, 60, 100))
    gray = np.full((60, 100, 3), 200, dtype=np.uint8)
    write_jpeg(out / "r" / "done.jpg", gray)  # the "anonymised" output: uniform gray

    report = create_previews(inp, out, config=config)

    assert sorted(p.relative_to(tmp_path).as_posix() for p in report.written) == [
        "in/r/done_preview.jpg", "out/r/done_preview.jpg",
    ]  # fmt: skip
    assert [p.name for p in report.not_anonymised] == ["todo.jpg"]
    preview = np.asarray(Image.open(out / "r" / "done_preview.jpg").convert("RGB"))
    expected = preview_crop(gray, dim=(80, 40), center=(0.5, 0.25))
    assert preview.shape == (40, 80, 3)
    # box x from 25-40 = -15: the first 15 columns lie left of the image and are black
    assert np.abs(preview.astype(int) - expected.astype(int)).max() <= 6
    assert preview[:, :12].max() <= 6 and preview[:, 20:].min() >= 190

    again = create_previews(inp, out, config=config)
    assert again.written == [] and again.skipped == 1
    from_input = create_previews(inp, out, config=config, from_input=True, overwrite=True)
    assert len(from_input.written) == 4 and from_input.not_anonymised == []
    textured_preview = np.asarray(Image.open(out / "r" / "todo_preview.jpg").convert("RGB"))
    assert textured_preview[:, 20:].std() > 30


def test_create_previews_needs_a_location(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no preview location"):
        create_previews(tmp_path, tmp_path / "o", config=make_config(tmp_path))


# --- json-to-db --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": "C:\\\\Foo\\\\bar.jpg"}', {"a": "C:\\Foo\\bar.jpg"}),  # properly escaped
        ('{"a": "C:\\Foo\\Bar\\new.jpg"}', {"a": "C:\\Foo\\Bar\\new.jpg"}),  # unescaped Windows path
        ('{"a": "x \\"q\\" C:\\Dir"}', {"a": 'x "q" C:\\Dir'}),
    ],
)
def test_load_json_lenient(tmp_path: Path, text: str, expected: dict[str, str]) -> None:
    path = tmp_path / "x.json"
    path.write_text(text, encoding="utf-8")
    assert load_json_lenient(path) == expected


@pytest.mark.parametrize("text", ["[1, 2]", "{not json", ""])
def test_load_json_lenient_refuses_non_objects(tmp_path: Path, text: str) -> None:
    path = tmp_path / "x.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match="not"):
        load_json_lenient(path)


def test_json_to_db_writes_rows_and_archives_written_files(tmp_path: Path) -> None:
    config = make_config(tmp_path, db_max_n_accumulated_rows=2)
    src, arch = tmp_path / "json", tmp_path / "jsonarkiv"
    (src / "d1").mkdir(parents=True)
    (src / "d2").mkdir()
    (src / "d1" / "a.json").write_text(json.dumps(record("a")), encoding="utf-8")
    broken_path = json.dumps(record("b", exif_mappenavn="X")).replace('"X"', '"C:\\Bilder\\E6"')
    (src / "d1" / "b.json").write_text(broken_path, encoding="utf-8")
    (src / "d2" / "c.json").write_text(json.dumps(record("c", exif_meter="12,5")), encoding="utf-8")
    (src / "d2" / "bad.json").write_text(json.dumps(record("bad", exif_vegkat=None)), encoding="utf-8")
    (src / "d2" / "junk.json").write_text("{oops", encoding="utf-8")

    sink = DatabaseSink(config, cache_dir=tmp_path / "cache")
    report = json_to_db(src, sink, archive_dir=arch)
    sink.close()

    assert report.files == 5 and report.written == 3
    assert [(p.name, "Vegkategori" in why) for p, why in report.rejected] == [("bad.json", True)]
    assert [p.name for p, _ in report.unreadable] == ["junk.json"]
    assert sorted(p.relative_to(arch).as_posix() for p in report.moved) == [
        "d1/a.json",
        "d1/b.json",
        "d2/c.json",
    ]
    assert sorted(p.name for p in src.rglob("*.json")) == ["bad.json", "junk.json"]
    engine = make_engine(sink.url)
    with engine.connect() as conn:
        import sqlalchemy as sa

        rows = conn.execute(sa.text("SELECT id, meter, jsondata FROM vegbilder ORDER BY id")).all()
    engine.dispose()
    assert [(r[0], r[1]) for r in rows] == [("a", 1234.5), ("b", 1234.5), ("c", 12.5)]
    assert json.loads(rows[1][2])["exif_mappenavn"] == "C:\\Bilder\\E6"


# --- evaluate ----------------------------------------------------------------------------------------------

SIZE = (40, 60)  # rows, cols


def _objects() -> list[tuple[int, int, np.ndarray]]:
    """(image id, category id, mask) of the ground truth: a person and two cars over two images."""
    objects = []
    for image_id, category, (r0, r1, c0, c1) in [
        (1, 1, (5, 30, 5, 15)),
        (1, 3, (10, 25, 30, 55)),
        (2, 3, (2, 12, 2, 40)),
    ]:
        mask = np.zeros(SIZE, dtype=np.uint8)
        mask[r0:r1, c0:c1] = 1
        if category == 1:
            mask[r0 : r0 + 4, c0 : c0 + 3] = 0  # not a pure box
        objects.append((image_id, category, mask))
    return objects


@pytest.fixture
def coco_files(tmp_path: Path) -> Path:
    from pycocotools import mask as mask_utils

    annotations = []
    for index, (image_id, category, mask) in enumerate(_objects(), 1):
        rle = mask_utils.encode(np.asfortranarray(mask))
        annotations.append(
            {
                "id": index,
                "image_id": image_id,
                "category_id": category,
                "segmentation": {"size": rle["size"], "counts": rle["counts"].decode()},
                "area": float(mask_utils.area(rle)),
                "bbox": [float(v) for v in mask_utils.toBbox(rle)],
                "iscrowd": 0,
            }
        )
    data = {
        "images": [
            {"id": 1, "file_name": "scene_one.jpg", "height": SIZE[0], "width": SIZE[1]},
            {"id": 2, "file_name": "scene_two.jpg", "height": SIZE[0], "width": SIZE[1]},
        ],
        "categories": [{"id": 1, "name": "person"}, {"id": 3, "name": "car"}],
        "annotations": annotations,
    }
    path = tmp_path / "annotations.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _predictions(masks: list[tuple[int, int, np.ndarray]]) -> list[dict[str, Any]]:
    from pycocotools import mask as mask_utils

    out = []
    for image_id, category, mask in masks:
        rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
        rle["counts"] = rle["counts"].decode()
        out.append({"image_id": image_id, "category_id": category, "segmentation": rle, "score": 0.9})
    return out


def test_perfect_predictions_score_one(coco_files: Path, tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    results.write_text(json.dumps(_predictions(_objects())), encoding="utf-8")
    result = evaluate(coco_files, results)
    assert result.stats["AP"] == pytest.approx(1.0) and result.stats["AP50"] == pytest.approx(1.0)
    assert result.stats["AR100"] == pytest.approx(1.0)
    assert result.stats["AP_large"] == -1.0  # no object larger than 96² pixels
    assert result.per_category == pytest.approx({"person": 1.0, "car": 1.0})
    assert [name for name, _ in result.table()][:12] == list(COCO_METRICS)
    assert (result.images, result.detections) == (2, 3)


def test_no_predictions_and_empty_masks_score_zero(coco_files: Path) -> None:
    none = evaluate(coco_files, [])
    assert none.stats["AP"] == 0.0 and none.stats["AR100"] == 0.0 and none.detections == 0
    empty = [(i, c, np.zeros_like(m)) for i, c, m in _objects()]
    blank = evaluate(coco_files, _predictions(empty))
    assert blank.stats["AP"] == 0.0 and blank.per_category == {"person": 0.0, "car": 0.0}


def test_one_missed_car_halves_the_car_ap(coco_files: Path) -> None:
    found = [o for o in _objects() if o[0] == 1]  # the car of image 2 is missed
    result = evaluate(coco_files, _predictions(found))
    assert result.per_category["person"] == pytest.approx(1.0)
    assert result.per_category["car"] == pytest.approx(51 / 101)  # recall 0.5 over 101 recall thresholds


def test_mask_folder_results(coco_files: Path, tmp_path: Path) -> None:
    folder = tmp_path / "masks"
    names = {1: "scene_one", 2: "scene_two"}
    for k, (image_id, category, mask) in enumerate(_objects()):
        target = folder / names[image_id]
        target.mkdir(parents=True, exist_ok=True)
        label = "person" if category == 1 else str(category)  # names or ids
        Image.fromarray(mask * 255).save(target / f"{label}__{k}__0.8.png")
    result = evaluate(coco_files, folder)
    assert result.stats["AP"] == pytest.approx(1.0) and result.detections == 3
    (folder / "scene_one" / "dog__9.png").write_bytes(
        (folder / "scene_one" / "person__0__0.8.png").read_bytes()
    )
    with pytest.raises(ConfigError, match="category"):
        evaluate(coco_files, folder)


def test_bbox_evaluation(coco_files: Path) -> None:
    from pycocotools import mask as mask_utils

    boxes = []
    for image_id, category, mask in _objects():
        bbox = [float(v) for v in mask_utils.toBbox(mask_utils.encode(np.asfortranarray(mask)))]
        boxes.append({"image_id": image_id, "category_id": category, "bbox": bbox, "score": 0.7})
    assert evaluate(coco_files, boxes, iou_type="bbox").stats["AP"] == pytest.approx(1.0)


def test_evaluate_rejects_bad_inputs(coco_files: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="iou_type"):
        evaluate(coco_files, [], iou_type="keypoints")
    not_coco = tmp_path / "x.json"
    not_coco.write_text("[]", encoding="utf-8")
    with pytest.raises(ConfigError, match="annotations"):
        evaluate(not_coco, [])
    results = tmp_path / "r.json"
    results.write_text('{"a": 1}', encoding="utf-8")
    with pytest.raises(ConfigError, match="list of detections"):
        evaluate(coco_files, results)
