"""``batch extend`` / ``jtbatch extend`` command line: flags, exit codes, messages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from masksmith.batch.state import read_lines
from masksmith.cli.extend_cmds import main
from masksmith.journal.project import Journal
from tests.batch import batch_fixtures as fx
from tests.batch import extend_fixtures as ef

fx.register()


def init_tag(state: dict[str, Any]) -> dict[str, Any]:
    """An initializer (named on the command line) that adds a global."""
    return {"tag": f"init-{state.get('base', 'none')}"}


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as info:
        main(list(args))
    return int(info.value.code or 0), capsys.readouterr().err


def _setup(tmp_path: Path, raw: dict[str, Any] | None = None, count: int = 1) -> tuple[Path, Path]:
    projects = tmp_path / "projects"
    for i in range(count):
        ef.simple_journal(projects / f"s{i}", seed=i)
    spec = fx.write_spec(tmp_path / "spec.json", raw or ef.median_spec())
    return projects, spec


def _new_edges(journal: Journal, plugin: str) -> list[tuple[str, str, dict[str, Any]]]:
    return [(a, b, d) for a, b, d in journal.graph.edges() if d.get("plugin_name") == plugin]


def _base_args(tmp_path: Path, projects: Path, spec: Path) -> list[str]:
    return ["--projects", str(projects), "--specification", str(spec), "--workdir", str(tmp_path / "w")]


def test_extend_records_user_and_organization_and_reports_a_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    projects, spec = _setup(tmp_path, count=3)
    code, err = _run(
        capsys,
        *_base_args(tmp_path, projects, spec),
        "--username", "u1", "--organization", "o1", "--threads", "2", "--completeFile", str(tmp_path / "done"),
    )  # fmt: skip
    assert code == 0, err
    assert "extended 3 journal(s) at 3 node(s)" in err
    for i in range(3):
        ((_, _, data),) = _new_edges(Journal.open(projects / f"s{i}"), "MedianBlur")
        assert (data["username"], data["organization"]) == ("u1", "o1")
    assert len(read_lines(tmp_path / "done")) == 3
    code, err = _run(capsys, *_base_args(tmp_path, projects, spec), "--completeFile", str(tmp_path / "done"))
    assert code == 0 and "extended 0" in err and "skipped 3" in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--extensionRules", "final,bogus"], "unknown extension rule 'bogus'"),
        (["--extensionRules", "+Output"], "expected category:operation"),
        (["--loglevel", "LOUD"], "unknown log level"),
    ],
)
def test_bad_input_exits_2_before_touching_journals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    projects, spec = _setup(tmp_path)
    before = (projects / "s0" / "s0.json").read_bytes()
    code, err = _run(capsys, *_base_args(tmp_path, projects, spec), *extra)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert (projects / "s0" / "s0.json").read_bytes() == before


def test_a_creation_spec_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    projects, _ = _setup(tmp_path)
    creation = fx.write_spec(
        tmp_path / "create.json",
        fx.spec([fx.base_node(), fx.plugin_node("b", "MedianBlur")], [("base", "b")]),
    )
    code, err = _run(capsys, *_base_args(tmp_path, projects, creation))
    assert code == 2 and "NodeAttachment" in err


def test_a_failed_journal_exits_1_and_says_where(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    projects, spec = _setup(tmp_path, ef.attachment_spec(fx.plugin_node("boom", "TestFails")))
    code, err = _run(capsys, *_base_args(tmp_path, projects, spec))
    assert code == 1
    assert "failed:" in err and "'boom'" in err and "deliberate failure" in err and "journal node 'm'" in err


@pytest.mark.parametrize("flag", [["--test"], ["--passthru", "blur"], ["--passthru", "MedianBlur"]])
def test_test_mode_and_passthru_copy_the_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: list[str]
) -> None:
    projects, spec = _setup(tmp_path)
    code, err = _run(capsys, *_base_args(tmp_path, projects, spec), *flag)
    assert code == 0, err
    journal = Journal.open(projects / "s0")
    ((start, end, _),) = _new_edges(journal, "MedianBlur")
    assert np.array_equal(journal.pixels(start), journal.pixels(end))


def test_global_variables_and_initializers_reach_the_spec(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = ef.attachment_spec(fx.plugin_node("blur", "MedianBlur", description="{tag} on {base}"))
    projects, spec = _setup(tmp_path, raw)
    code, err = _run(
        capsys,
        *_base_args(tmp_path, projects, spec),
        "--global_variables", "base=b7", "--initializers", "tests.cli.test_extend_cli.init_tag",
    )  # fmt: skip
    assert code == 0, err
    ((_, _, data),) = _new_edges(Journal.open(projects / "s0"), "MedianBlur")
    assert data["description"] == "init-b7 on b7"


def test_rules_choose_the_attachment_points(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    projects, spec = _setup(tmp_path)
    code, err = _run(capsys, *_base_args(tmp_path, projects, spec), "--extensionRules", "final,basenode")
    assert code == 0, err
    starts = sorted(a for a, _, _ in _new_edges(Journal.open(projects / "s0"), "MedianBlur"))
    assert starts == ["base", "final", "m"]
