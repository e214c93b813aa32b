"""The folder-backed Journal: media copied in, edges compared, masks written, JSON saved."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from masksmith.errors import JournalError, MediaError, OperationError
from masksmith.journal import store
from masksmith.journal.project import Journal
from masksmith.media import io as media_io
from masksmith.media import masks
from tests.synthetic import textured


@pytest.fixture
def base_file(tmp_path: Path, rng) -> Path:
    path = tmp_path / "pool" / "Base_Image.PNG"
    path.parent.mkdir()
    media_io.write_image(path, textured(rng, 120, 160))
    return path


def _write(tmp_path: Path, name: str, pixels: np.ndarray) -> Path:
    path = tmp_path / "work" / name
    path.parent.mkdir(exist_ok=True)
    media_io.write_image(path, pixels)
    return path


def test_create_copies_the_base_and_saves_a_loadable_journal(tmp_path: Path, base_file: Path):
    j = Journal.create(base_file, tmp_path / "proj", username="ann", organization="org")
    assert j.name == "proj"
    assert (tmp_path / "proj" / "Base_Image.png").is_file()  # suffix lower-cased
    assert j.graph.base_node() == "Base_Image"
    data = json.loads(j.json_path.read_text())
    assert data["graph"]["creator"] == "ann" and data["graph"]["organization"] == "org"
    assert data["nodes"][0]["nodetype"] == "base" and data["nodes"][0]["file"] == "Base_Image.png"


def test_create_refuses_a_non_empty_folder_and_a_broken_base(tmp_path: Path, base_file: Path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("x")
    with pytest.raises(JournalError, match="not empty"):
        Journal.create(base_file, tmp_path / "busy")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"")
    with pytest.raises(MediaError, match=r"broken\.png"):
        Journal.create(broken, tmp_path / "new")
    assert not (tmp_path / "new").exists()


def test_record_crop_blur_and_paste_with_donor(tmp_path: Path, base_file: Path, rng):
    j = Journal.create(base_file, tmp_path / "proj")
    base = j.graph.base_node()
    src = j.pixels(base)

    crop = j.record(base, _write(tmp_path, "crop.png", src[10:110, 20:140]), op="TransformCrop")
    edge = j.graph.edge(crop.start, crop.end)
    assert edge["location"] == "(10, 20)" and edge["shape change"] == "(-20, -40)"
    assert crop.end == "crop_01"  # <stem>_NN from idcount
    mask_file = media_io.read_image(j.directory / edge["maskname"]).pixels
    assert mask_file.dtype == np.uint8 and mask_file.ndim == 2 and mask_file.shape == src.shape[:2]
    assert mask_file[0, 0] == 0 and mask_file[50, 50] == 255  # 0 = changed (cropped away)

    cropped = j.pixels(crop.end)
    region = np.zeros(cropped.shape[:2], bool)
    region[20:60, 30:90] = True
    blurred = cropped.copy()
    blurred[region] = cv2.GaussianBlur(cropped, (9, 9), 0)[region]
    blur = j.record(
        crop.end,
        _write(tmp_path, "blur.png", blurred),
        op="Blur",
        arguments={"Blur Type": "Gaussian", "Laundering": "no"},
        input_mask=region.astype(np.uint8) * 255,
    )
    data = j.graph.edge(blur.start, blur.end)
    assert data["recordMaskInComposite"] == "no"  # Blur is not a probe operation for images
    assert data["inputmaskname"] and (j.directory / data["inputmaskname"]).is_file()
    assert masks.iou(j.edge_mask(blur.start, blur.end), region) >= 0.95

    donor = np.zeros((40, 50, 4), np.uint8)
    donor[..., :3] = 250
    cv2.circle(donor, (25, 20), 15, (250, 0, 0, 255), -1)
    donor_file = _write(tmp_path, "donor.png", donor)
    pasted = blurred.copy()
    alpha = donor[..., 3] > 0
    pasted[30:70, 60:110][alpha] = donor[..., :3][alpha]
    paste = j.record(
        blur.end,
        _write(tmp_path, "pasted.png", pasted),
        op="PasteSplice",
        donor=donor_file,
        arguments={
            "donor rotated": "no",
            "donor resized": "no",
            "donor cropped": "no",
            "donor flipped": "no",
            "purpose": "add",
            "subject": "other",
            "paste_x": 60,
            "paste_y": 30,
        },
    )
    truth = np.zeros(pasted.shape[:2], bool)
    truth[30:70, 60:110] = alpha
    assert masks.iou(j.edge_mask(paste.start, paste.end), truth) >= 0.99
    assert j.graph.edge(paste.start, paste.end)["recordMaskInComposite"] == "yes"
    donors = j.graph.donors_of(paste.end)
    assert len(donors) == 1
    donor_edge = j.graph.edge(donors[0], paste.end)
    assert donor_edge["op"] == "Donor"
    assert np.array_equal(j.edge_mask(donors[0], paste.end), alpha)
    j.graph.label_nodes()
    types = {n: d["nodetype"] for n, d in j.graph.nodes()}
    assert types[base] == "base" and types[donors[0]] == "donor" and types[paste.end] == "final"
    assert types[crop.end] == "interim"

    reopened = Journal.open(j.directory)
    assert reopened.graph.graph.number_of_edges() == 4
    assert reopened.warnings == []
    assert store.dumps(reopened.graph) == j.json_path.read_text()


@pytest.mark.parametrize(
    ("op", "arguments", "message"),
    [
        ("NoSuchOperation", {}, "NoSuchOperation"),
        ("TransformResize", {}, "interpolation"),
        ("TransformResize", {"interpolation": "sideways"}, "interpolation"),
        ("TransformRotate", {"rotation": 999, "local": "no"}, "rotation"),
        ("TransformShear", {}, "deprecated"),
    ],
)
def test_bad_operations_and_arguments_are_refused_before_anything_is_written(
    tmp_path: Path, base_file: Path, op, arguments, message
):
    j = Journal.create(base_file, tmp_path / "proj")
    before = sorted(p.name for p in j.directory.iterdir())
    target = _write(tmp_path, "t.png", j.pixels(j.graph.base_node()))
    with pytest.raises(OperationError, match=message):
        j.record(j.graph.base_node(), target, op=op, arguments=arguments)
    assert sorted(p.name for p in j.directory.iterdir()) == before


def test_unknown_operation_in_a_loaded_journal_is_a_warning(tmp_path: Path, base_file: Path):
    j = Journal.create(base_file, tmp_path / "proj")
    base = j.graph.base_node()
    j.record(
        base, _write(tmp_path, "same.png", j.pixels(base)), op="OutputPng", arguments={"Image Rotated": "no"}
    )
    data = json.loads(j.json_path.read_text())
    data["links"][0]["op"] = "LegacyOperation"
    j.json_path.write_text(json.dumps(data))
    reopened = Journal.open(j.json_path)
    assert any("LegacyOperation" in w for w in reopened.warnings)


def test_jpeg_resave_edge_is_an_empty_mask(tmp_path: Path, base_file: Path):
    from skimage import data as skdata

    photo = tmp_path / "photo.png"
    media_io.write_image(photo, skdata.coffee())
    j = Journal.create(photo, tmp_path / "proj")
    base = j.graph.base_node()
    jpeg = tmp_path / "work" / "photo.jpg"
    jpeg.parent.mkdir(exist_ok=True)
    media_io.write_image(jpeg, j.pixels(base), quality=90)
    edge = j.record(base, jpeg, op="OutputJpg", arguments={})
    assert j.graph.edge(edge.start, edge.end)["empty mask"] == "yes"


def test_archive_round_trip_and_new_edges_after_extraction(tmp_path: Path, base_file: Path):
    j = Journal.create(base_file, tmp_path / "proj")
    base = j.graph.base_node()
    j.record(
        base,
        _write(tmp_path, "flip.png", np.ascontiguousarray(j.pixels(base)[:, ::-1])),
        op="TransformFlip",
        arguments={"flip direction": "horizontal"},
    )
    archive = j.archive(tmp_path / "out")
    again = Journal.open_archive(archive, tmp_path / "extracted")
    assert again.graph.graph.number_of_edges() == 1
    final = again.graph.final_nodes()[0]
    target = _write(tmp_path, "final_crop.png", again.pixels(final)[5:, 5:])
    again.record(final, target, op="TransformCrop")
    assert Journal.open(again.directory).graph.graph.number_of_edges() == 2
