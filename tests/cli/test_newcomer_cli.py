"""A newcomer's first commands: batch init/schema, operations show, clear errors, no litter, no overwrites."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from masksmith.cli.main import run
from masksmith.journal.bulk import JournalReport, validate_projects, write_error_report
from masksmith.media import io as media_io


def _starter(tmp_path: Path) -> Path:
    folder = tmp_path / "starter"
    assert run(["batch", "init", str(folder)]) == 0
    return folder


def _create(folder: Path, projects: Path, *extra: str) -> int:
    args = ["--quiet", "batch", "create", "--specification", str(folder / "starter_spec.json")]
    variables = f"image_dir={folder / 'pool'},donor_dir={folder / 'donors'}"
    args += ["--projects", str(projects), "--global_variables", variables, "--seed", "1"]
    return run([*args, *extra])


def test_init_writes_spec_pool_and_side_files_and_keeps_an_existing_spec(tmp_path: Path, capsys) -> None:
    folder = _starter(tmp_path)
    assert sorted(p.name for p in (folder / "pool").glob("*.png")) == [
        "astronaut.png",
        "chelsea.png",
        "coffee.png",
        "rocket.png",
    ]
    assert len((folder / "pairs.csv").read_text().splitlines()) == 4
    assert len((folder / "external" / "arguments.csv").read_text().splitlines()) == 4
    spec = json.loads((folder / "starter_spec.json").read_text())
    capsys.readouterr()
    (folder / "starter_spec.json").write_text("{}")
    assert run(["batch", "init", str(folder)]) == 2
    assert "pass --force" in capsys.readouterr().err and (folder / "starter_spec.json").read_text() == "{}"
    assert run(["batch", "init", str(folder), "--force"]) == 0
    assert json.loads((folder / "starter_spec.json").read_text()) == spec


def test_starter_spec_runs_with_plugin_defaults_and_keeps_state_out_of_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _starter(tmp_path)
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    projects = tmp_path / "projects"
    assert _create(folder, projects, "--count", "2") == 0
    assert list(work.iterdir()) == []  # nothing dropped into the current folder
    state = projects / ".masksmith"
    assert (state / "images.txt").is_file() and (state / "masksmith.log").is_file()
    journals = [p for p in projects.iterdir() if not p.name.startswith(".")]
    assert len(journals) == 2
    for journal in journals:
        data = json.loads((journal / f"{journal.name}.json").read_text())
        resize = [e for e in data["links"] if e["op"] == "TransformResize"]
        # the spec gives no interpolation: Resize's own default is used, not a catalogue draw
        assert [e["arguments"]["interpolation"] for e in resize] == ["bilinear"]


def test_explicit_workdir_is_still_honoured(tmp_path: Path) -> None:
    folder = _starter(tmp_path)
    assert _create(folder, tmp_path / "projects", "--count", "1", "--workdir", str(tmp_path / "state")) == 0
    assert (tmp_path / "state" / "images.txt").is_file() and not (
        tmp_path / "projects" / ".masksmith"
    ).exists()


def test_exhausted_pool_is_named(tmp_path: Path, capsys) -> None:
    folder = _starter(tmp_path)
    small = tmp_path / "one-photo"
    small.mkdir()
    (folder / "pool" / "rocket.png").rename(small / "rocket.png")
    args = ["batch", "create", "--specification", str(folder / "starter_spec.json"), "--projects"]
    args += [str(tmp_path / "p"), "--global_variables", f"image_dir={small},donor_dir={folder / 'donors'}"]
    assert run([*args, "--count", "3"]) == 0
    err = capsys.readouterr().err
    assert "made 1, failed 0, skipped 2" in err
    assert "picklist 'images' is exhausted: all 1 files of the pool in " + str(small) in err


def test_missing_arguments_are_reported_together(tmp_path: Path, capsys) -> None:
    folder = _starter(tmp_path)
    spec = json.loads((folder / "starter_spec.json").read_text())
    for node in spec["nodes"]:
        if node["id"] == "resize":
            node["arguments"] = {}
        if node["id"] == "output":
            node.update(plugin="Resize", arguments={"width": 10})
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(spec))
    code = run(["batch", "create", "--specification", str(bad), "--projects", str(tmp_path / "p")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "node 'resize' (Resize): width, height" in err and "node 'output' (Resize): height" in err
    assert not (tmp_path / "p").exists() or not any((tmp_path / "p").iterdir())


def test_an_image_given_as_the_spec_is_one_clear_line(tmp_path: Path, capsys) -> None:
    png = tmp_path / "spec.png"
    media_io.write_image(png, __import__("numpy").full((8, 8, 3), 200, "uint8"))
    code = run(["batch", "create", "--specification", str(png), "--projects", str(tmp_path / "p")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "spec.png" in err and "not a JSON text file" in err


def test_schema_validates_the_starter_spec_and_refuses_a_bad_node(tmp_path: Path, capsys) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    assert run(["batch", "schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["title"] == "masksmith batch specification"
    spec = json.loads((_starter(tmp_path) / "starter_spec.json").read_text())
    jsonschema.validate(spec, schema)
    spec["nodes"][1] = {"id": "crop", "op_type": "PluginOperation", "arguments": {}}  # no 'plugin'
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(spec, schema)


def test_operations_show_lists_parameters_types_defaults_and_rules(capsys) -> None:
    assert run(["operations", "show", "PasteSplice"]) == 0
    out = capsys.readouterr().out
    assert "purpose (list), mandatory, one of remove, add, replace, blend" in out
    assert "donor flipped (yesno), mandatory, default 'no'" in out
    assert "mode (list), optional" in out and "required when purpose is blend" in out
    assert "plugins: PasteSplice" in out
    assert run(["operations", "show", "PasteSplice", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert {p["name"] for p in info["parameters"] if p["mandatory"]} >= {"purpose", "subject"}
    assert run(["operations", "show", "pastesplice"]) == 2
    assert "did you mean PasteSplice" in capsys.readouterr().err


def test_error_report_is_written_only_when_there_is_something_to_report(tmp_path: Path) -> None:
    assert write_error_report(tmp_path / "ErrorReport_1.csv", [JournalReport(tmp_path, "j.json", ())]) is None
    assert not (tmp_path / "ErrorReport_1.csv").exists()
    empty = tmp_path / "projects"
    empty.mkdir()
    summary = validate_projects(empty)
    assert summary.report is None and list(empty.iterdir()) == [] and "no report" in summary.line()


def test_models_list_names_are_accepted_by_the_anonymise_config() -> None:
    from masksmith.anonymise.config import DetectionConfig, DetectorName
    from masksmith.anonymise.pipeline import REGISTRY_NAMES

    for name in ("centerface", "hog-people", "haar-plates", "hog_people"):
        config = DetectionConfig(detectors=[name])
        assert REGISTRY_NAMES[config.detectors[0]] == name.replace("_", "-")
    assert DetectorName("yolo_seg") in REGISTRY_NAMES


def test_journal_view_does_not_overwrite_an_existing_page_without_force(tmp_path: Path, capsys) -> None:
    from masksmith.cli.demo import build_demo

    journal = build_demo(tmp_path / "demo")
    page = tmp_path / "report.html"
    page.write_text("somebody's report")
    assert run(["journal", "view", str(journal.directory), "--out", str(page)]) == 2
    assert "pass --force" in capsys.readouterr().err and page.read_text() == "somebody's report"
    assert run(["journal", "view", str(journal.directory), "--out", str(page), "--force"]) == 0
    assert "<svg" in page.read_text()


def test_demo_refuses_a_non_empty_folder(tmp_path: Path, capsys) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    assert run(["demo", "--out", str(tmp_path)]) == 2
    assert "not empty" in capsys.readouterr().err and [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_the_command_init_prints_works_as_printed(tmp_path: Path) -> None:
    import shlex
    import subprocess
    import sys

    init = subprocess.run(
        [sys.executable, "-m", "masksmith", "batch", "init", "starter"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    printed = init.stdout.strip().splitlines()[-1]
    done = subprocess.run(shlex.split(printed), cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    made = [p for p in (tmp_path / "starter" / "projects").iterdir() if not p.name.startswith(".")]
    assert len(made) == 2


def test_view_help_names_the_folders_each_view_writes(capsys) -> None:
    assert run(["batch", "view", "--help"]) == 0
    assert "<name>_journals/" in capsys.readouterr().out
    assert run(["journal", "view", "--help"]) == 0
    assert "<name>_assets/" in capsys.readouterr().out
