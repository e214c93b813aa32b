"""Shapes found running the Journaling Tool's own specifications unchanged (written here, not copied)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from masksmith.journal.project import Journal
from masksmith.journal.validate import has_errors, validate
from tests.batch.jt_specs import base, media_pools, plugin, run_spec, spec, value


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
    png = [b for _a, b, d in journal.graph.edges() if d["op"] == "OutputPng"][0]
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
