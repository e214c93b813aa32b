"""Extend, export and validate run each journal through ``executors.run_items`` on every executor kind.

The driver makes paths absolute (workers may run elsewhere) and counts an output a worker reports only
when it sees it: a worker that wrote to a filesystem the driver does not share is a failure naming the
path, not a success.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from masksmith.batch.export import ExportStatus, export_projects
from masksmith.batch.extend import extend_projects
from masksmith.cli.batch_cmds import batch
from masksmith.executors import LocalExecutor, WorkerPool
from masksmith.journal import store
from masksmith.journal.project import Journal
from tests.batch import batch_fixtures as fx
from tests.batch import extend_fixtures as ef
from tests.batch.export_fixtures import make_journal

fx.register()


class _Elsewhere(LocalExecutor):
    """Local threads whose results come back after ``hide(result)`` ran: as if written on another host."""

    def __init__(self, hide: Callable[[Any], None]) -> None:
        super().__init__(1)
        self.hide = hide

    def pool(
        self, setup: Callable[[], Any], task: Callable[[Any, Any], Any], *, name: str = ""
    ) -> WorkerPool[Any, Any]:
        def hidden(state: Any, item: Any) -> Any:
            result = task(state, item)
            self.hide(result)
            return result

        return super().pool(setup, hidden, name=name)


def _journals(projects: Path, count: int) -> None:
    for i in range(count):
        ef.simple_journal(projects / f"j{i}", seed=i)


def _edges(projects: Path) -> dict[str, int]:
    return {
        p.name: len(list(Journal.open(p).graph.edges())) for p in sorted(projects.iterdir()) if p.is_dir()
    }


def test_an_extended_journal_the_driver_cannot_see_is_a_failure(tmp_path: Path) -> None:
    projects = tmp_path / "projects"
    _journals(projects, 2)
    originals = {p.name: store.find_journal_json(p).read_text() for p in projects.iterdir()}

    def put_back(outcome: Any) -> None:  # the driver's copy stays as it was
        json_file = store.find_journal_json(outcome.item)
        json_file.write_text(originals[outcome.item.name])

    spec = fx.write_spec(tmp_path / "ext.json", ef.median_spec())
    done = tmp_path / "done.txt"
    with _Elsewhere(put_back) as executor:
        summary = extend_projects(
            projects, spec, workdir=tmp_path / "w", executor=executor, complete_file=done
        )
    assert summary.failed == 2 and summary.extended == 0
    assert all("workers may not share this filesystem" in f for f in summary.failures)
    assert all(str(projects / f"j{i}") in "\n".join(summary.failures) for i in range(2))


def test_an_exported_archive_the_driver_cannot_see_is_a_failure(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    projects = tmp_path / "projects"
    for name in ("a1", "a2"):
        make_journal(projects, name, rng, pastemask=False)

    def remove(result: Any) -> None:
        if result.location:
            Path(result.location).unlink()

    done = tmp_path / "done.txt"
    with _Elsewhere(remove) as executor:
        summary = export_projects(projects, tmp_path / "out", complete_file=done, executor=executor)
    assert [r.status for r in summary.results] == [ExportStatus.FAILED, ExportStatus.FAILED]
    assert all("workers may not share this filesystem" in r.message for r in summary.results)
    assert str(tmp_path / "out" / "a1.tgz") in summary.results[0].message
    assert not summary.ok
    assert not done.exists() or done.read_text().strip() == ""  # nothing counted as exported


def test_export_relative_paths_are_made_absolute_in_the_driver(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(2)
    make_journal(tmp_path / "projects", "r1", rng, pastemask=False)
    monkeypatch.chdir(tmp_path)
    summary = export_projects("projects", "out", complete_file="done.txt")
    assert summary.ok and summary.target == str(tmp_path / "out")
    assert summary.results[0].location == str(tmp_path / "out" / "r1.tgz")
    assert (tmp_path / "done.txt").read_text().split() == [str((tmp_path / "projects" / "r1").resolve())]


def _invoke(*args: str) -> str:
    result = CliRunner().invoke(batch, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["threads", "processes"])
def test_extend_validate_export_on_each_local_executor_match_the_default(
    tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fx.write_spec(tmp_path / "ext.json", ef.median_spec())
    results = {}
    monkeypatch.chdir(tmp_path)
    for run in ("local", kind):
        projects = tmp_path / run / "projects"
        _journals(projects, 3)
        _invoke(
            "extend", "--projects", f"{run}/projects", "--specification", "ext.json", "--workdir",
            f"{run}/w", "--threads", "2", "--seed", "3", "--quiet", "--executor", run,
        )  # fmt: skip
        line = _invoke(
            "validate", "--projects", f"{run}/projects", "--quiet", "--threads", "2", "--executor", run
        )
        assert "validated 3 journals" in line
        _invoke(
            "export", "--projects", f"{run}/projects", "--to", f"{run}/out", "--quiet", "--threads", "2",
            "--executor", run,
        )  # fmt: skip
        results[run] = (_edges(projects), sorted(p.name for p in (tmp_path / run / "out").glob("*.tgz")))
    assert results[kind] == results["local"]
    assert results[kind][0] == {"j0": 3, "j1": 3, "j2": 3}
    assert results[kind][1] == ["j0.tgz", "j1.tgz", "j2.tgz"]
