"""Shapes found running the Journaling Tool's own specifications unchanged (written here, not copied)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from masksmith.journal.project import Journal
from masksmith.journal.validate import has_errors, validate
from masksmith.media import io as media_io
from masksmith.plugins.seams import carve, insert_vertical, restore_size
from tests.batch.jt_specs import base, media_pools, plugin, run_spec, spec, value
from tests.plugins.plugin_cases import box_mask, photo


@pytest.fixture(scope="module")
def pools(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return media_pools(tmp_path_factory.mktemp("media"))


def _ops(journal: Journal) -> list[str]:
    return sorted(str(d["op"]) for _a, _b, d in journal.graph.edges())


def test_save_as_png_runs_as_the_original_older_output_plugin(pools: dict[str, str], tmp_path: Path) -> None:
    """The original's simplest example names 'SaveAsPNG' (its older PNG output plugin), then a median blur."""
    data = spec(
        [base(), plugin("1", "SaveAsPNG", {"Image Rotated": value("yes")}),
         plugin("2", "MedianBlur", {"kernelSize": {"type": "plugin", "name": "kernelSpecs", "parameters": [2, 5]}})],
        [(0, 1), (1, 2)],
        recompress=True,
    )  # fmt: skip
    summary = run_spec(tmp_path, data, pools)
    assert (summary.made, summary.failed) == (1, 0), summary.failures
    journal = Journal.open(summary.projects[0])
    assert "OutputPng" in _ops(journal) and "Blur" in " ".join(_ops(journal))
    png = next(b for _a, b, d in journal.graph.edges() if d["op"] == "OutputPng")
    assert journal.path_of(png).suffix == ".png"
    assert not has_errors(validate(journal))


def test_face_crop_filemap_global_may_name_the_json_file(pools: dict[str, str], tmp_path: Path) -> None:
    """Given as NAME=PATH on the command line, the face map global is the file's path; FaceCrop reads it."""
    faces: list[dict[str, Any]] = [
        {"file_name": f"{stem}.jpg", "faces": [{"chin_x": 168, "right_eye_y": 130, "face_width": 40}]}
        for stem in ("coffee0", "chelsea1", "astronaut2", "rocket3")
    ]
    face_file = tmp_path / "faces.json"
    face_file.write_text(json.dumps(faces), encoding="utf-8")
    data = spec(
        [{**base("Base"), "arguments": {"isgan": "yes"}},
         plugin("ToPNG", "OutputPNG"),
         plugin("Cropped", "FaceCrop", {"crop dimensions": value("96,96"),
                                        "filemap": {"type": "global", "name": "faces.json"},
                                        "donor": {"type": "donor", "source": "Base"}})],
        [{"source": "Base", "target": "ToPNG"}, {"source": "ToPNG", "target": "Cropped"}],
    )  # fmt: skip
    summary = run_spec(tmp_path, data, {**pools, "faces.json": str(face_file)})
    assert (summary.made, summary.failed) == (1, 0), summary.failures
    journal = Journal.open(summary.projects[0])
    source, cropped, edge = next((a, b, d) for a, b, d in journal.graph.edges() if d["op"] == "TransformCrop")
    assert (edge["arguments"]["left"], edge["arguments"]["top"]) == (120, 80)  # (168-48, 130-48) down to 8s
    assert (journal.pixels(cropped) == journal.pixels(source)[80:176, 120:216]).all()
    assert not has_errors(validate(journal))


def test_face_crop_filemap_file_that_is_not_json_is_one_clear_failure(
    pools: dict[str, str], tmp_path: Path
) -> None:
    bad = tmp_path / "faces.json"
    bad.write_text("not json", encoding="utf-8")
    data = spec(
        [base(), plugin("1", "FaceCrop", {"crop dimensions": value("96,96"),
                                          "filemap": {"type": "global", "name": "faces.json"}})],
        [(0, 1)],
    )  # fmt: skip
    summary = run_spec(tmp_path, data, {**pools, "faces.json": str(bad)})
    assert summary.failed == 1
    assert "filemap" in str(summary.failures) and "face metadata" in str(summary.failures)


# --- SeamCarve keepSize: object removal, then seams added back to the source size --------------------


def test_inserted_seams_double_least_energy_pixels_and_keep_the_rest_in_order() -> None:
    image = photo("coffee", 96, 128)
    out, inserted = insert_vertical(image, 12)
    assert out.shape == (96, 140, 3) and (inserted.sum(axis=1) == 12).all()
    assert np.array_equal(out[~inserted].reshape(96, 128, 3), image)  # the source, in order, around them
    # each added pixel averages its seam's source pixel (the last original one before it) and the next one
    for r, c in zip(*np.nonzero(inserted), strict=True):
        seam = np.count_nonzero(~inserted[r, :c]) - 1
        expected = (image[r, seam].astype(float) + image[r, min(seam + 1, 127)]) / 2
        assert np.abs(out[r, c] - expected).max() <= 0.5


def test_keep_size_restores_the_source_size_and_marks_removed_and_added_pixels(tmp_path: Path) -> None:
    image = photo("chelsea", 96, 128)
    remove = np.zeros((96, 128), bool)
    remove[30:60, 40:46] = True
    small, removed = carve(image, (90, 116), remove=remove)
    back, added = restore_size(small, (96, 128))
    assert back.shape == image.shape and added.shape == (96, 128)
    assert added.sum() == 12 * 90 + 6 * 128  # 12 seams down the 90 carved rows, then 6 full rows
    assert removed[remove].all()  # the object's pixels went first


def test_seam_carve_with_keep_size_makes_a_valid_same_size_journal(
    pools: dict[str, str], tmp_path: Path
) -> None:
    """The original's PRNU example's seam step, without its PRNU nodes: keepSize with drawn percentages."""
    data = spec(
        [base(), plugin("1", "OutputPNG"),
         plugin("2", "SeamCarve", {"keepSize": value("yes"), "percentage_width": {"type": "float[0.9:0.95]"},
                                   "percentage_height": {"type": "float[0.9:0.97]"}, "energy": value("Scharr")}),
         plugin("3", "CompressAs", {"donor": {"type": "donor", "source": "0"}, "rotate": value("yes")})],
        [(0, 1), (1, 2), (2, 3)],
    )  # fmt: skip
    summary = run_spec(tmp_path, data, pools, seed=2)
    assert (summary.made, summary.failed) == (1, 0), summary.failures
    journal = Journal.open(summary.projects[0])
    start, end, edge = next(
        (a, b, d) for a, b, d in journal.graph.edges() if d["op"] == "TransformSeamCarving"
    )
    assert journal.pixels(end).shape == journal.pixels(start).shape
    assert edge["arguments"]["keepSize"] == "yes"
    assert not has_errors(validate(journal))


# --- Resize under the original's argument spellings ------------------------------------------------


def test_resize_takes_width_and_height_variables_under_the_original_spelling(
    pools: dict[str, str], tmp_path: Path
) -> None:
    """The JPEG extension example's shape: DetermineImageParameters picks a size, Resize gets WIDTH/HEIGHT."""
    data = spec(
        [base(), plugin("1", "OutputPNG"),
         {"op_type": "InputMaskPluginOperation", "plugin": "DetermineImageParameters", "id": "2",
          "arguments": {"percentage_width": value(0.5), "percentage_height": value(0.5),
                        "donor": {"type": "donor", "source": "0"}}},
         plugin("3", "Resize", {"WIDTH": {"type": "variable", "source": "2", "name": "selected_width"},
                                "HEIGHT": {"type": "variable", "source": "2", "name": "selected_height"},
                                "interpolation": value("bilinear")})],
        [(0, 1), (1, 3), {"source": 1, "target": 2, "connect": False}, {"source": 2, "target": 3, "connect": False}],
    )  # fmt: skip
    summary = run_spec(tmp_path, data, pools)
    assert (summary.made, summary.failed) == (1, 0), summary.failures
    journal = Journal.open(summary.projects[0])
    start, end, edge = next((a, b, d) for a, b, d in journal.graph.edges() if d["op"] == "TransformResize")
    rows, cols = journal.pixels(start).shape[:2]
    expected = (rows // 2 + 8 - (rows // 2) % 8, cols // 2 + 8 - (cols // 2) % 8)
    assert journal.pixels(end).shape[:2] == expected
    assert (edge["arguments"]["width"], edge["arguments"]["height"]) == (expected[1], expected[0])
    assert not has_errors(validate(journal))


def test_resize_takes_the_imagemagick_size_string(pools: dict[str, str], tmp_path: Path) -> None:
    data = spec([base(), plugin("1", "Resize", {"WIDTHxHEIGHT": value("200x150")})], [(0, 1)])
    summary = run_spec(tmp_path, data, pools)
    assert (summary.made, summary.failed) == (1, 0), summary.failures
    journal = Journal.open(summary.projects[0])
    end = next(b for _a, b, d in journal.graph.edges() if d["op"] == "TransformResize")
    assert journal.pixels(end).shape[:2] == (150, 200)


def test_resize_without_any_size_spelling_is_refused_up_front(tmp_path: Path) -> None:
    from masksmith.batch.project import BatchProject
    from masksmith.errors import SpecError

    with pytest.raises(SpecError, match=r"Resize.*width, height"):
        BatchProject(spec([base(), plugin("1", "Resize", {"interpolation": value("bilinear")})], [(0, 1)]))


# --- a spec's own edgeFilePaths: the files its arguments name are copied into the journal --------------


def test_file_named_by_a_declared_edge_file_path_is_copied_into_the_journal(
    pools: dict[str, str], tmp_path: Path
) -> None:
    """The external-image example: images made elsewhere, plus a per-image side file its edgeFilePaths names."""
    results, side = tmp_path / "results", tmp_path / "side"
    results.mkdir()
    side.mkdir()
    rows = []
    for image in sorted(Path(pools["image_dir"]).glob("*.jpg")):
        media_io.write_image(results / f"{image.stem}.png", media_io.read_image(image).pixels)
        media_io.write_image(side / f"{image.stem}.png", box_mask(120, 160).astype(np.uint8) * 255)
        rows.append(f"{image.stem}.png,no,8")
    (results / "arguments.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    data = spec(
        [base(),
         {"op_type": "PreProcessedMediaOperation", "argument file": "arguments.csv",
          "argument names": ["Image Rotated", "Bits per Channel"],
          "arguments": {"extra mask": value("{sidedir}/{node@0}.png")}, "directory": str(results),
          "op": "OutputPng", "category": "Output", "software": "opencv", "software version": "4",
          "description": "made elsewhere", "id": "1"}],
        [(0, 1)],
        edgeFilePaths=["arguments.extra mask"],
    )  # fmt: skip
    summary = run_spec(tmp_path, data, {**pools, "sidedir": str(side)})
    assert (summary.made, summary.failed) == (1, 0), summary.failures
    journal = Journal.open(summary.projects[0])
    _start, _end, edge = next(iter(journal.graph.edges()))
    recorded = edge["arguments"]["extra mask"]
    assert "/" not in recorded and (journal.directory / recorded).is_file()
    stem = Path(journal.path_of(journal.graph.base_node())).stem
    assert (journal.directory / recorded).read_bytes() == (side / f"{stem}.png").read_bytes()
    assert not has_errors(validate(journal))
