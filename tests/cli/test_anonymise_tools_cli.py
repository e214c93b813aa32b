"""Tests of masksmith.cli.anonymise_tools_cmds: the helper subcommands of ``masksmith anonymise``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import numpy as np
import pytest
import yaml
from click.testing import CliRunner, Result
from PIL import Image

from masksmith.cli import anonymise_cmds
from masksmith.cli.anonymise_tools_cmds import attach
from masksmith.errors import ConfigError
from tests.anonymise.rows import record
from tests.pg import PASSWORD, PostgresServer, postgres

__all__ = ["postgres"]


@click.group()
@click.pass_context
def group(ctx: click.Context) -> None:
    """A stand-in for the anonymise group."""
    ctx.ensure_object(dict)


attach(group)


def invoke(*args: Any, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(group, [str(a) for a in args], env=env, catch_exceptions=True)


def write_config(tmp_path: Path, **keys: Any) -> Path:
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(keys), encoding="utf-8")
    return path


def image_tree(root: Path, names: list[str], rng: np.random.Generator) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)).save(path)


def test_attach_adds_every_command() -> None:
    assert set(group.commands) == {"check-folders", "create-json", "create-preview", "evaluate", "db"}
    db = group.commands["db"]
    assert isinstance(db, click.Group)
    assert set(db.commands) == {"create-table", "json-to-db", "execute-sql"}


def test_check_folders_table_and_exit_codes(tmp_path: Path, rng: np.random.Generator) -> None:
    inp, out = tmp_path / "in", tmp_path / "out"
    image_tree(inp, ["v/a.jpg", "v/b.jpg"], rng)
    (out / "v").mkdir(parents=True)
    for name in ("a.jpg", "a.json", "b.jpg"):
        (out / "v" / name).write_bytes(b"x")
    config = write_config(tmp_path)
    result = invoke("check-folders", "-i", inp, "-o", out, "-k", config, "--details")
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["folder", "images", "complete", "image", "json", "extra"]
    assert lines[1].split() == ["v", "2", "1", "2/2", "1/2", "0"]
    assert lines[2].split() == ["TOTAL", "2", "1", "2/2", "1/2", "0"]
    assert f"missing: {out / 'v' / 'b.json'}" in result.output
    (out / "v" / "b.json").write_text("{}")
    assert invoke("check-folders", "-i", inp, "-o", out, "-k", config).exit_code == 0


def test_folder_flags_are_required(tmp_path: Path) -> None:
    result = invoke("check-folders", "-o", tmp_path)
    assert result.exit_code == 2 and "-i/--input-folder" in result.output


def test_create_json_and_create_preview(tmp_path: Path, rng: np.random.Generator) -> None:
    inp, out = tmp_path / "in", tmp_path / "out"
    image_tree(inp, ["r/x.jpg"], rng)
    config = write_config(tmp_path, remote_preview=True, preview_dim=[20, 10])
    result = invoke("create-json", "-i", inp, "-o", out, "-k", config)
    assert result.exit_code == 0, result.output
    assert "written: 1 file(s)" in result.output
    assert (
        json.loads((out / "r" / "x.json").read_text(encoding="utf-8"))["exif_preview_filnavn"]
        == "x_preview.jpg"
    )

    waiting = invoke("create-preview", "-i", inp, "-o", out, "-k", config)
    assert waiting.exit_code == 0 and "not anonymised yet: 1" in waiting.output
    image_tree(out, ["r/x.jpg"], rng)
    done = invoke("create-preview", "-i", inp, "-o", out, "-k", config)
    assert done.exit_code == 0 and "written: 1 preview(s)" in done.output
    assert Image.open(out / "r" / "x_preview.jpg").size == (20, 10)


def test_bad_config_raises_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    result = invoke(
        "create-json",
        "-i",
        tmp_path / "in",
        "-o",
        tmp_path / "o",
        "-k",
        write_config(tmp_path, remote_jsn=True),
    )
    assert isinstance(result.exception, ConfigError) and result.exception.argument == "remote_jsn"


def _coco(tmp_path: Path) -> tuple[Path, Path]:
    from pycocotools import mask as mask_utils

    mask = np.zeros((20, 30), dtype=np.uint8)
    mask[4:15, 6:22] = 1
    rle = mask_utils.encode(np.asfortranarray(mask))
    rle["counts"] = rle["counts"].decode()
    annotations = {
        "images": [{"id": 7, "file_name": "s.jpg", "height": 20, "width": 30}],
        "categories": [{"id": 1, "name": "person"}],
        "annotations": [{"id": 1, "image_id": 7, "category_id": 1, "segmentation": rle, "iscrowd": 0,
                         "area": float(mask.sum()), "bbox": [6.0, 4.0, 16.0, 11.0]}],
    }  # fmt: skip
    ann_path, res_path = tmp_path / "ann.json", tmp_path / "res.json"
    ann_path.write_text(json.dumps(annotations))
    res_path.write_text(json.dumps([{"image_id": 7, "category_id": 1, "segmentation": rle, "score": 0.5}]))
    return ann_path, res_path


def test_evaluate_prints_the_ap_table(tmp_path: Path) -> None:
    ann, res = _coco(tmp_path)
    result = invoke("evaluate", "-a", ann, "-r", res)
    assert result.exit_code == 0, result.output
    rows = dict(line.split() for line in result.output.splitlines()[2:])
    assert rows["AP"] == "1.0000" and rows["AP[person]"] == "1.0000" and rows["AP_large"] == "-1.0000"
    as_json = json.loads(invoke("evaluate", "-a", ann, "-r", res, "--json").output)
    assert as_json["AP"] == pytest.approx(1.0) and as_json["detections"] == 1
    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    assert json.loads(invoke("evaluate", "-a", ann, "-r", empty, "--json").output)["AP"] == 0.0


def test_db_commands_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'rows.sqlite'}"
    created = invoke("db", "create-table", "--url", url)
    assert created.exit_code == 0, created.output
    assert created.output.startswith("\nCREATE TABLE vegbilder") or "CREATE TABLE vegbilder" in created.output

    src, arch = tmp_path / "json", tmp_path / "arkiv"
    (src / "d").mkdir(parents=True)
    for key in ("a", "b"):
        (src / "d" / f"{key}.json").write_text(json.dumps(record(key)), encoding="utf-8")
    loaded = invoke("db", "json-to-db", "--url", url, "-i", src, "-a", arch, "-l", tmp_path / "cache")
    assert loaded.exit_code == 0, loaded.output
    assert "rows written: 2 (inserted 2, updated 0)" in loaded.output and "moved: 2" in loaded.output
    assert sorted(p.name for p in arch.rglob("*.json")) == ["a.json", "b.json"]

    selected = invoke(
        "db", "execute-sql", "--url", url, "--sql", "SELECT id, vegnummer FROM vegbilder ORDER BY id"
    )
    assert selected.exit_code == 0, selected.output
    assert [line.split() for line in selected.output.splitlines() if line and not line.startswith("(")] == [
        ["id", "vegnummer"], ["a", "6"], ["b", "6"],
    ]  # fmt: skip
    sql_file = tmp_path / "q.sql"
    sql_file.write_text("DELETE FROM vegbilder WHERE id = 'a'")
    deleted = invoke("db", "execute-sql", "--url", url, "--file", sql_file)
    assert deleted.exit_code == 0 and "1 row(s) affected" in deleted.output
    both = invoke("db", "execute-sql", "--url", url, "--sql", "SELECT 1", "--file", sql_file)
    assert both.exit_code == 2 and "exactly one of --sql and --file" in both.output


def test_db_default_is_the_embedded_sqlite_in_the_log_folder(tmp_path: Path) -> None:
    result = invoke("db", "create-table", "-l", tmp_path, "-t", "VEGBILDER_V1")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "masksmith-vegbilder_v1.sqlite").is_file()
    assert "CREATE TABLE vegbilder_v1" in result.output


def test_db_commands_on_postgis(tmp_path: Path, postgres: PostgresServer) -> None:
    postgres.psql("DROP TABLE IF EXISTS vegbilder", database="masksmith_test")
    env = {"MASKSMITH_DB_PASSWORD": PASSWORD}
    config = write_config(tmp_path, db_url=postgres.url())
    created = invoke("db", "create-table", "-k", config, env=env)
    assert created.exit_code == 0, created.output
    assert "geometry(PointZ, 4326)" in created.output and PASSWORD not in created.output
    src = tmp_path / "json"
    src.mkdir()
    (src / "a.json").write_text(json.dumps(record("a")), encoding="utf-8")
    loaded = invoke("db", "json-to-db", "-k", config, "-i", src, "-l", tmp_path / "cache", env=env)
    assert loaded.exit_code == 0, loaded.output
    query = "SELECT id, ST_AsText(posisjon) FROM vegbilder"
    selected = invoke("db", "execute-sql", "-k", config, "--sql", query, env=env)
    assert selected.exit_code == 0, selected.output
    assert "a   POINT Z (10.3951 63.4305 45.3)" in selected.output
    wrong = invoke(
        "db", "execute-sql", "-k", config, "--sql", "SELECT 1", env={"MASKSMITH_DB_PASSWORD": "nope"}
    )
    assert wrong.exception is not None and "password authentication failed" in str(wrong.exception)
    assert "nope" not in str(wrong.exception)


def test_parent_group_folder_flags_are_used(tmp_path: Path, rng: np.random.Generator) -> None:
    attach(anonymise_cmds.anonymise_group)
    inp, out = tmp_path / "in", tmp_path / "out"
    image_tree(inp, ["a.jpg"], rng)
    result = CliRunner().invoke(
        anonymise_cmds.anonymise_group, ["-i", str(inp), "-o", str(out), "check-folders"], obj={}
    )
    assert result.exit_code == 1, result.output
    assert "missing files: 2" in result.output
