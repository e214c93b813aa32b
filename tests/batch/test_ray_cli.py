"""``--executor ray`` on batch create, extend, export and validate (a real local Ray cluster)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from masksmith.cli.batch_cmds import batch
from masksmith.journal.project import Journal
from tests.batch import batch_fixtures as fx
from tests.batch import extend_fixtures as ex
from tests.ray_cluster import ray_cluster  # noqa: F401  (the session fixture)

SPEC = fx.spec(
    [
        fx.base_node(),
        fx.plugin_node("png", "OutputPNG"),
        fx.plugin_node("blur", "GaussianBlur", {"kernelsize": {"type": "int[3:15]"}}),
    ],
    [("base", "png"), ("png", "blur")],
)


def _invoke(*args: str) -> str:
    result = CliRunner().invoke(batch, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def _arguments(projects: Path) -> dict[str, list[str]]:
    out = {}
    for folder in sorted(projects.iterdir()):
        journal = Journal.open(folder)
        out[folder.name] = sorted(
            json.dumps(d.get("arguments"), sort_keys=True) for _, _, d in journal.graph.edges()
        )
    return out


@pytest.mark.usefixtures("ray_cluster")
def test_create_validate_export_on_ray_match_the_local_commands(tmp_path: Path) -> None:
    fx.make_pool(tmp_path / "pool", 6)
    spec = fx.write_spec(tmp_path / "spec.json", SPEC)
    runs = {}
    for kind in ("local", "ray"):
        root = tmp_path / kind
        common = ["--specification", str(spec), "--projects", str(root / "p"), "--workdir", str(root / "w")]
        _invoke(
            "create", *common, "--count", "4", "--threads", "2", "--seed", "3", "--quiet",
            "--global_variables", f"pool={tmp_path / 'pool'}", "--executor", kind,
        )  # fmt: skip
        runs[kind] = _arguments(root / "p")
        line = _invoke("validate", "--projects", str(root / "p"), "--quiet", "--executor", kind)
        assert "4 journal" in line
        _invoke(
            "export", "--projects", str(root / "p"), "--to", str(root / "out"), "--quiet", "--executor", kind
        )
        assert len(list((root / "out").glob("*.tgz"))) == 4
    assert runs["ray"] == runs["local"]
    assert len(runs["ray"]) == 4


@pytest.mark.usefixtures("ray_cluster")
def test_extend_on_ray_extends_every_journal_once(tmp_path: Path) -> None:
    projects = tmp_path / "projects"
    for i in range(4):
        ex.simple_journal(projects / f"j{i}", seed=i)
    spec = fx.write_spec(tmp_path / "ext.json", ex.median_spec())
    complete = tmp_path / "complete.txt"
    args = [
        "extend",
        "--projects",
        str(projects),
        "--specification",
        str(spec),
        "--workdir",
        str(tmp_path / "w"),
    ]
    _invoke(*args, "--completeFile", str(complete), "--executor", "ray", "--quiet")
    for i in range(4):
        journal = Journal.open(projects / f"j{i}")
        assert len(list(journal.graph.edges())) == 3
    assert sorted(complete.read_text().split()) == sorted(str(projects / f"j{i}") for i in range(4))
    _invoke(*args, "--completeFile", str(complete), "--executor", "ray", "--quiet")  # all skipped
    assert all(len(list(Journal.open(projects / f"j{i}").graph.edges())) == 3 for i in range(4))


def test_ray_address_without_the_ray_executor_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(batch, ["validate", "--projects", str(tmp_path), "--ray-address", "auto"])
    assert result.exit_code == 2
    assert "--ray-address needs --executor ray" in result.output
