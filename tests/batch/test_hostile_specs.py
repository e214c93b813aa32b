"""Hostile batch specifications: exit 2 with one line naming the node, nothing written outside the workdir."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from masksmith.batch.selectors import MAX_FORMAT_WIDTH, format_value
from masksmith.cli.batch_cmds import batch
from masksmith.cli.runner import run_group as run
from masksmith.errors import SpecError
from masksmith.media import io as media_io
from tests.batch import batch_fixtures as fx

fx.register()


def _chain(arguments: dict[str, Any], **graph: Any) -> dict[str, Any]:
    return fx.spec(
        [fx.base_node(), fx.plugin_node("blur", "TestMedian", arguments)], [("base", "blur")], **graph
    )


def _create(tmp_path: Path, spec_path: Path, *extra: str) -> int:
    fx.make_pool(tmp_path / "pool", 2)
    args = [
        "create", "--specification", str(spec_path), "--projects", str(tmp_path / "in" / "projects"),
        "--workdir", str(tmp_path / "in" / "work"), "--global_variables", f"pool={tmp_path / 'pool'}", *extra,
    ]  # fmt: skip
    return run(batch, args, prog_name="masksmith batch")


BAD_FILES = {
    "binary": (b"\x89PNG\r\n\x1a\n\xff\xfe\x00\x01", "not a JSON text file"),
    "deep-array": (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    "deep-inside-nodes": (b'{"nodes": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", "nested too deeply"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_unreadable_spec_files_exit_two_with_one_line(tmp_path: Path, case: str, capsys: Any) -> None:
    payload, message = BAD_FILES[case]
    spec_path = tmp_path / "spec.json"
    spec_path.write_bytes(payload)
    assert _create(tmp_path, spec_path) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "spec.json" in err


BAD_ARGUMENTS = {
    "permuted-huge-range": (
        {"kernel": {"type": "int[1:999999999999]", "permutegroup": "g"}},
        "too many to permute",
    ),
    "permuted-huge-float-range": (
        {"kernel": {"type": "float[0:1000000:0.0001]", "permutegroup": "g"}},
        "too many to permute",
    ),
    "beyond-64-bit": ({"kernel": {"type": "int[1:99999999999999999999]"}}, "64-bit"),
    "infinite-float": ({"kernel": {"type": "float[0:1e400]"}}, "finite"),
    "empty-function": ({"kernel": {"type": "int[1:3]", "function": ""}}, "function"),
}


@pytest.mark.parametrize("case", list(BAD_ARGUMENTS))
def test_bad_arguments_exit_two_naming_the_node(tmp_path: Path, case: str, capsys: Any) -> None:
    arguments, message = BAD_ARGUMENTS[case]
    spec_path = fx.write_spec(tmp_path / "spec.json", _chain(arguments))
    assert _create(tmp_path, spec_path) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "node 'blur'" in err and message in err
    assert not (tmp_path / "in" / "projects").exists() or not list((tmp_path / "in" / "projects").iterdir())


def test_permuted_ranges_within_the_limit_still_load(tmp_path: Path) -> None:
    spec_path = fx.write_spec(
        tmp_path / "spec.json", _chain({"kernel": {"type": "int[3:31:2]", "permutegroup": "g"}})
    )
    assert _create(tmp_path, spec_path, "--count", "1") == 0


@pytest.mark.parametrize("name", ["../../outside", "/tmp/masksmith-escape-test", "a/b"])
def test_graph_name_never_names_a_path(tmp_path: Path, name: str, capsys: Any) -> None:
    raw = _chain({}, name=name)
    spec_path = fx.write_spec(tmp_path / "spec.json", raw)
    before = {p for p in tmp_path.rglob("*")}
    assert _create(tmp_path, spec_path, "--graph", "--count", "0") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "graph.name" in err and "node 'graph'" in err
    created = {p for p in tmp_path.rglob("*")} - before
    assert all(p.is_relative_to(tmp_path / "in") or p.is_relative_to(tmp_path / "pool") for p in created), (
        created
    )
    assert not Path("/tmp/masksmith-escape-test.png").exists()


def test_format_widths_are_bounded() -> None:
    assert format_value("{x:>5}", {"x": "a"}) == "    a"
    assert len(format_value(f"{{x:>{MAX_FORMAT_WIDTH}}}", {"x": "a"})) == MAX_FORMAT_WIDTH
    for text in ("{x:>1999999999}", "{x:.99999999}", "{x:{w}}"):
        with pytest.raises(SpecError, match="format width"):
            format_value(text, {"x": "a", "w": "1999999999"}, node="n", argument="a")


def test_a_huge_format_width_fails_the_project_not_the_machine(tmp_path: Path, capsys: Any) -> None:
    raw = _chain({"kernel": {"type": "value", "value": "{pool:>1999999999}"}})
    spec_path = fx.write_spec(tmp_path / "spec.json", raw)
    assert _create(tmp_path, spec_path, "--count", "1") == 1
    assert "format width" in capsys.readouterr().err


def test_from_state_refuses_a_base_outside_the_pool(tmp_path: Path, capsys: Any) -> None:
    secret = tmp_path / "outside" / "secret.png"
    fx.make_pool(secret.parent, 1)
    (secret.parent / "img00.png").rename(secret)
    spec_path = fx.write_spec(tmp_path / "spec.json", _chain({"kernel": {"type": "int[3:5]"}}))
    state = tmp_path / "in" / "work" / "failures-x.txt"
    state.parent.mkdir(parents=True)
    state.write_text(json.dumps({"__global__": {"base": str(secret), "blur.kernel": 3}}) + "\n")
    code = _create(tmp_path, spec_path, "--from_state", str(state))
    err = capsys.readouterr().err
    assert code == 1, err
    assert "not in this node's pool" in err and "secret.png" in err
    projects = tmp_path / "in" / "projects"
    assert not projects.exists() or not [p for p in projects.iterdir() if not p.name.endswith(".failed")]


def test_from_state_accepts_a_base_from_the_pool(tmp_path: Path, capsys: Any) -> None:
    spec_path = fx.write_spec(tmp_path / "spec.json", _chain({"kernel": {"type": "int[3:5]"}}))
    state = tmp_path / "in" / "work" / "failures-x.txt"
    state.parent.mkdir(parents=True)
    state.write_text(
        json.dumps({"__global__": {"base": str(tmp_path / "pool" / "img01.png"), "blur.kernel": 3}}) + "\n"
    )
    assert _create(tmp_path, spec_path, "--from_state", str(state)) == 0, capsys.readouterr().err
    assert [p.name for p in (tmp_path / "in" / "projects").iterdir()] == ["img01"]


def test_a_preprocessed_argument_file_outside_its_directory_is_refused(tmp_path: Path, capsys: Any) -> None:
    fx.make_pool(tmp_path / "pool", 2)
    results = tmp_path / "in" / "results"
    results.mkdir(parents=True)
    for name in ("img00.png", "img01.png"):  # the project picks either
        media_io.write_image(results / name, 255 - media_io.read_image(tmp_path / "pool" / name).pixels)
    (tmp_path / "secret.csv").write_text("img00.png,yes,16\nimg01.png,yes,16\n", encoding="utf-8")
    node = {
        "id": "pre",
        "op_type": "PreProcessedMediaOperation",
        "argument file": "../../secret.csv",
        "argument names": ["Image Rotated", "Bits per Channel"],
        "directory": str(results),
        "op": "OutputPng",
        "software": "opencv",
        "software version": "3.3.0",
    }
    spec_path = fx.write_spec(tmp_path / "spec.json", fx.spec([fx.base_node(), node], [("base", "pre")]))
    assert _create(tmp_path, spec_path, "--count", "1") == 1
    err = capsys.readouterr().err
    assert "node 'pre'" in err and "argument file '../../secret.csv' climbs out" in err
