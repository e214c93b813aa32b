"""Batch create on the process executor, relative paths made absolute by the driver, outputs checked."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from masksmith.batch.executor import BatchExecutor, BatchSummary, RunSummary
from masksmith.batch.project import BatchProject, ProjectOutcome
from masksmith.errors import SpecError
from masksmith.executors import Executor, LocalExecutor, ProcessExecutor
from masksmith.journal.project import Journal
from tests.batch import batch_fixtures as fx

fx.register()

# built-in plugins only: spawned worker processes load plugins from the installed package
CHAIN = fx.spec(
    [
        fx.base_node(),
        fx.plugin_node("png", "OutputPNG"),
        fx.plugin_node("median", "MedianBlur", {"kernelSize": {"type": "int[3:9]"}}),
    ],
    [("base", "png"), ("png", "median")],
)


class _Elsewhere:
    """A worker setup that first moves the worker into another working directory (as a Ray node is)."""

    def __init__(self, setup: Callable[[], Any], folder: str) -> None:
        self.setup, self.folder = setup, folder

    def __call__(self) -> Any:
        os.chdir(self.folder)
        return self.setup()


class ElsewhereProcesses(ProcessExecutor):
    """Worker processes that run in ``folder``, not in the driver's working directory."""

    def __init__(self, workers: int, folder: Path) -> None:
        super().__init__(workers)
        self.folder = str(folder)

    def pool(self, setup: Any, task: Any, *, name: str = "") -> Any:
        return super().pool(_Elsewhere(setup, self.folder), task, name=name)


def _journals(projects: Path) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for folder in sorted(projects.iterdir()):
        assert not folder.name.startswith("."), f"partial directory left: {folder.name}"
        journal = Journal.open(folder)
        out[folder.name] = {
            f"{a}->{b}": (data.get("arguments"), (folder / data["maskname"]).read_bytes())
            for a, b, data in journal.graph.edges()
        }
    return out


def _create(tag: str, executor: Executor, count: int = 4) -> BatchSummary:
    runner = BatchExecutor(
        f"rel/{tag}/projects",
        workdir=f"rel/{tag}/work",
        global_variables="pool=pool",
        seed=3,
        executor=executor,
        progress=False,
    )
    try:
        runner.run_project(BatchProject(CHAIN), count)
    finally:
        summary = runner.finish()
    return summary


def test_processes_in_other_directories_make_the_threads_journals_from_relative_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fx.make_pool(tmp_path / "pool", 5)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path)
    threads = _create("threads", LocalExecutor(2))
    processes = _create("processes", ElsewhereProcesses(2, tmp_path / "elsewhere"))
    assert (threads.made, threads.failed) == (4, 0), threads.failures
    assert (processes.made, processes.failed) == (4, 0), processes.failures
    assert all(Path(p).is_absolute() and Path(p).is_dir() for p in processes.projects)
    assert _journals(tmp_path / "rel/processes/projects") == _journals(tmp_path / "rel/threads/projects")
    assert not list((tmp_path / "elsewhere").iterdir()), "a worker wrote into its own directory"
    assert RunSummary is BatchSummary


class VanishingOutputs(LocalExecutor):
    def __init__(self, away: Path) -> None:
        super().__init__(1)
        self.away = away

    def pool(self, setup: Any, task: Any, *, name: str = "") -> Any:
        away = self.away

        def build_then_move(state: Any, item: Any) -> ProjectOutcome:
            outcome: ProjectOutcome = task(state, item)
            if outcome.directory is not None:
                shutil.move(str(outcome.directory), str(away / outcome.directory.name))
            return outcome

        return super().pool(setup, build_then_move, name=name)


def test_a_project_the_driver_cannot_see_counts_as_failed(tmp_path: Path) -> None:
    fx.make_pool(tmp_path / "pool", 2)
    (tmp_path / "away").mkdir()
    runner = BatchExecutor(
        tmp_path / "projects",
        workdir=tmp_path / "work",
        global_variables={"pool": str(tmp_path / "pool")},
        seed=1,
        executor=VanishingOutputs(tmp_path / "away"),
        progress=False,
    )
    runner.run_project(BatchProject(CHAIN), 2)
    summary = runner.finish()
    assert (summary.made, summary.failed, summary.projects) == (0, 2, [])
    for message in summary.failures:
        assert "\n" not in message and "may not share this filesystem" in message
        assert str(tmp_path / "projects") in message
    assert len(list((tmp_path / "work").glob("failures-*.txt"))) == 1


VARIABLE_GROUP = fx.spec(
    [
        fx.base_node(permutegroup="image"),
        {"id": "sel", "op_type": "InputMaskPluginOperation", "plugin": "TestBoxSelector", "arguments": {}},
        fx.plugin_node(
            "echo",
            "TestEcho",
            {"pos": {"type": "variable", "source": "sel", "name": "positions", "permutegroup": "image"}},
        ),
    ],
    [("base", "sel"), ("base", "echo"), ("sel", "echo")],
)


def test_variable_permute_groups_run_on_threads_and_are_refused_by_processes(tmp_path: Path) -> None:
    fx.make_pool(tmp_path / "pool", 2)
    globals_ = {"pool": str(tmp_path / "pool")}
    runner = BatchExecutor(
        tmp_path / "p", workdir=tmp_path / "w", global_variables=globals_, seed=1, executor=LocalExecutor(2)
    )
    summary = runner.run_project(BatchProject(VARIABLE_GROUP), 3)
    runner.finish()
    assert (summary.made, summary.failed) == (3, 0), summary.failures
    refused = BatchExecutor(
        tmp_path / "p2", workdir=tmp_path / "w2", global_variables=globals_, executor=ProcessExecutor(1)
    )
    with pytest.raises(SpecError, match="--executor threads"):
        refused.run_project(BatchProject(VARIABLE_GROUP), 1)
    refused.finish()


def test_cli_create_with_processes_and_relative_paths_equals_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from masksmith.cli.batch_cmds import batch

    fx.make_pool(tmp_path / "pool", 3)
    fx.write_spec(tmp_path / "spec.json", CHAIN)
    monkeypatch.chdir(tmp_path)
    for kind in ("threads", "processes"):
        result = CliRunner().invoke(
            batch,
            ["create", "--specification", "spec.json", "--projects", f"out/{kind}", "--workdir", f"w/{kind}",
             "--count", "3", "--seed", "5", "--global-variables", "pool=pool", "--threads", "2",
             "--executor", kind, "--quiet"],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
    assert len(_journals(tmp_path / "out/processes")) == 3
    assert _journals(tmp_path / "out/processes") == _journals(tmp_path / "out/threads")


def test_only_globals_naming_existing_relative_paths_become_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from masksmith.batch.executor import absolute_path_globals
    from masksmith.batch.project import CONTEXT_KEY

    (tmp_path / "pool").mkdir()
    (tmp_path / "rules.json").write_text("{}")
    monkeypatch.chdir(tmp_path)
    marker = object()
    values: dict[str, Any] = {
        "pool": "pool",
        "rules": "rules.json",
        "name": "not-here",
        "bucket": "s3://pool",
        "absolute": str(tmp_path / "pool"),
        "count": 3,
        CONTEXT_KEY: marker,
    }
    assert sorted(absolute_path_globals(values)) == ["pool", "rules"]
    assert values["pool"] == str(tmp_path / "pool") and values["rules"] == str(tmp_path / "rules.json")
    assert (values["name"], values["bucket"], values["count"]) == ("not-here", "s3://pool", 3)
    assert values[CONTEXT_KEY] is marker and values["absolute"] == str(tmp_path / "pool")
