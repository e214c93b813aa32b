"""``masksmith batch create`` and ``jtbatch create``: flags, exit codes, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from masksmith.cli.batch_cmds import batch
from masksmith.cli.jtbatch import jtbatch
from masksmith.cli.runner import run_group as run
from masksmith.journal.project import Journal
from tests.batch import batch_fixtures as fx

fx.register()

CHAIN = fx.spec(
    [fx.base_node(), fx.plugin_node("png", "TestOutputPNG"), fx.plugin_node("blur", "TestMedian")],
    [("base", "png"), ("png", "blur")],
)


def _args(tmp_path: Path, spec_path: Path, *extra: str) -> list[str]:
    return [
        "create", "--specification", str(spec_path), "--projects", str(tmp_path / "projects"),
        "--workdir", str(tmp_path / "work"), "--global_variables", f"pool={tmp_path / 'pool'}", *extra,
    ]  # fmt: skip


@pytest.mark.parametrize("group", [batch, jtbatch], ids=["masksmith batch", "jtbatch"])
def test_create_makes_projects_and_prints_a_summary(tmp_path: Path, group: Any, capsys: Any) -> None:
    fx.make_pool(tmp_path / "pool", 3)
    spec_path = fx.write_spec(tmp_path / "spec.json", CHAIN)
    code = run(
        group,
        _args(tmp_path, spec_path, "--count", "2", "--threads", "2", "--seed", "4", "--graph"),
        prog_name="x",
    )
    assert code == 0
    made = sorted((tmp_path / "projects").iterdir())
    assert len(made) == 2 and all(Journal.open(p).graph.final_nodes() for p in made)
    assert "made 2, failed 0, skipped 0" in capsys.readouterr().err
    assert (tmp_path / "work" / "testspec.png").is_file() and (tmp_path / "work" / "testspec.csv").is_file()


def test_failures_exit_one_and_name_project_node_and_cause(tmp_path: Path, capsys: Any) -> None:
    fx.make_pool(tmp_path / "pool", 2)
    raw = fx.spec([fx.base_node(), fx.plugin_node("bad", "TestFails")], [("base", "bad")])
    spec_path = fx.write_spec(tmp_path / "spec.json", raw)
    code = run(batch, _args(tmp_path, spec_path, "--count", "2", "--keep_failed"), prog_name="x")
    err = capsys.readouterr().err
    assert code == 1
    assert "spec node 'bad'" in err and "deliberate failure" in err and "made 0, failed 2" in err
    assert len(list((tmp_path / "projects").glob("*.failed"))) == 2


def test_quiet_prints_nothing_on_success(tmp_path: Path, capsys: Any) -> None:
    fx.make_pool(tmp_path / "pool", 1)
    spec_path = fx.write_spec(tmp_path / "spec.json", CHAIN)
    assert run(batch, _args(tmp_path, spec_path, "--quiet"), prog_name="x") == 0
    assert capsys.readouterr().err == ""


def test_test_and_passthru_flags(tmp_path: Path) -> None:
    fx.make_pool(tmp_path / "pool", 2)
    raw = fx.spec([fx.base_node(), fx.plugin_node("bad", "TestFails")], [("base", "bad")])
    spec_path = fx.write_spec(tmp_path / "spec.json", raw)
    assert run(batch, _args(tmp_path, spec_path, "--test", "--quiet"), prog_name="x") == 0
    assert run(batch, _args(tmp_path, spec_path, "--passthru", "TestFails", "--quiet"), prog_name="x") == 0


def _bad(nodes: list[dict[str, Any]], links: list[Any]) -> dict[str, Any]:
    return fx.spec(nodes, links)


BAD_SPECS = {
    "two BaseSelection": (_bad([fx.base_node(), {**fx.base_node(), "id": "b2"}], []), "b2"),
    "selection with predecessor": (
        _bad(
            [
                fx.base_node(),
                fx.plugin_node("p", "TestEcho"),
                {"id": "img", "op_type": "ImageSelection", "image_directory": "x"},
            ],
            [("base", "p"), ("p", "img")],
        ),
        "img",
    ),
    "cycle": (
        _bad(
            [fx.base_node(), fx.plugin_node("a", "TestEcho"), fx.plugin_node("b", "TestEcho")],
            [("base", "a"), ("a", "b"), ("b", "a")],
        ),
        "a",
    ),
    "unknown plugin": (_bad([fx.base_node(), fx.plugin_node("p", "NoSuchPlugin")], [("base", "p")]), "p"),
    "unknown op_type": (_bad([fx.base_node(), {"id": "q", "op_type": "Nope"}], []), "q"),
    "unknown argument type": (
        _bad([fx.base_node(), fx.plugin_node("p", "TestEcho", {"a": {"type": "bogus"}})], [("base", "p")]),
        "p",
    ),
    "missing source node": (
        _bad(
            [fx.base_node(), fx.plugin_node("p", "TestEcho", {"a": {"type": "input", "source": "ghost"}})],
            [("base", "p")],
        ),
        "p",
    ),
    "function not allowed": (
        _bad(
            [
                fx.base_node(),
                fx.plugin_node(
                    "p", "TestEcho", {"a": {"type": "value", "value": 1, "function": "os.system"}}
                ),
            ],
            [("base", "p")],
        ),
        "p",
    ),
}


@pytest.mark.parametrize("case", list(BAD_SPECS))
def test_bad_specification_prints_one_line_naming_the_node_and_exits_two(
    tmp_path: Path, case: str, capsys: Any
) -> None:
    raw, node = BAD_SPECS[case]
    spec_path = fx.write_spec(tmp_path / "spec.json", raw)
    code = run(batch, _args(tmp_path, spec_path), prog_name="masksmith batch")
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert f"node '{node}'" in err and err.startswith("masksmith batch: error:")
    assert not (tmp_path / "projects").exists() or not list((tmp_path / "projects").iterdir())


def test_export_writes_each_finished_journal_to_a_folder(tmp_path: Path, capsys: Any) -> None:
    import tarfile

    fx.make_pool(tmp_path / "pool", 2)
    spec_path = fx.write_spec(tmp_path / "spec.json", CHAIN)
    out = tmp_path / "exports"
    out.mkdir()
    code = run(
        batch,
        _args(tmp_path, spec_path, "--count", "2", "--export", str(out), "--skip_validation"),
        prog_name="x",
    )
    assert code == 0, capsys.readouterr().err
    archives = sorted(out.glob("*.tgz"))
    made = sorted(p.name for p in (tmp_path / "projects").iterdir())
    assert [a.name for a in archives] == [f"{name}.tgz" for name in made]
    with tarfile.open(archives[0]) as tar:
        assert all(n.startswith(made[0] + "/") for n in tar.getnames())


def test_missing_from_state_file_is_bad_input(tmp_path: Path, capsys: Any) -> None:
    spec_path = fx.write_spec(tmp_path / "spec.json", CHAIN)
    assert run(batch, _args(tmp_path, spec_path, "--from_state", "nope.txt"), prog_name="x") == 2
    assert "from_state" in capsys.readouterr().err


def test_module_entry_point_runs(tmp_path: Path) -> None:
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps({"nodes": [{"id": "x", "op_type": "Nope"}]}))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "masksmith.cli.batch_cmds",
            "create",
            "--specification",
            str(spec_path),
            "--projects",
            str(tmp_path / "p"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "unknown op_type 'Nope'" in result.stderr and len(result.stderr.strip().splitlines()) == 1
