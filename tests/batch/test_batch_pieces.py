"""The pieces a batch project is composed of: the one picklist claim, the node-builder table, the
commit steps, and a project made by composing them by hand (as an extension composes them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from masksmith.batch.commit import commit, error_findings, post_process, validation_error
from masksmith.batch.context import RunContext
from masksmith.batch.inflight import InflightRecord, claim_pick
from masksmith.batch.journal_start import start_journal
from masksmith.batch.node_builders import (
    NODE_BUILDERS,
    build_image_selection,
    build_plugin_operation,
    builder_for,
    run_node,
)
from masksmith.batch.node_inputs import fill_operation_parameters
from masksmith.batch.project import BatchProject
from masksmith.batch.run_state import ProjectRun
from masksmith.batch.selection import select_images
from masksmith.batch.spec import BaseSelection, ImageSelection, PluginOperation, SpecNode
from masksmith.batch.state import Picklist, PoolExhausted
from masksmith.errors import JournalError, SpecError
from masksmith.journal.project import Journal
from masksmith.journal.rules_base import Finding, Severity
from masksmith.operations import default_catalogue
from tests.batch import batch_fixtures as fx

fx.register()

POOL = [f"/data/pool/image{i:02d}.jpg" for i in range(3)]

CHAIN = fx.spec(
    [fx.base_node(), fx.plugin_node("png", "TestOutputPNG"), fx.plugin_node("blur", "TestMedian")],
    [("base", "png"), ("png", "blur")],
)


def _run(tmp_path: Path, pool_size: int = 2) -> ProjectRun:
    pool = tmp_path / "pool"
    fx.make_pool(pool, pool_size)
    ctx = RunContext(tmp_path / "projects", tmp_path / "work", globals={"pool": str(pool)}, seed=3)
    return ProjectRun(BatchProject(CHAIN), ctx)


def test_picklist_pick_notes_the_name_before_it_is_on_the_picklist(tmp_path: Path) -> None:
    picklist = Picklist(tmp_path, "images")
    noted: list[tuple[str, bool]] = []
    chosen = picklist.pick(
        POOL, np.random.default_rng(0), on_pick=lambda n: noted.append((n, n in picklist.used()))
    )
    assert noted == [(Path(chosen).name, False)]
    assert picklist.used() == {Path(chosen).name}


def test_an_exhausted_pool_names_its_folder(tmp_path: Path) -> None:
    picklist = Picklist(tmp_path, "images")
    picklist.add(*POOL)
    with pytest.raises(PoolExhausted, match=r"all 3 files of the pool in /data/pool are used"):
        picklist.pick(POOL)


def test_claim_pick_writes_the_record_and_the_picklist_through_one_claim(tmp_path: Path) -> None:
    record = InflightRecord.create(tmp_path)
    picklist = Picklist(tmp_path, "images")
    first = claim_pick(picklist, POOL, None, record, group="g")
    second = claim_pick(picklist, POOL, None, record)
    assert (first, second) == (POOL[0], POOL[1])
    assert [(p["name"], p["group"]) for p in record.picks] == [("image00.jpg", "g"), ("image01.jpg", None)]
    assert picklist.used() == {"image00.jpg", "image01.jpg"}


@pytest.mark.parametrize(
    ("node", "builder"),
    [
        (ImageSelection(id="d", files=["a.png"]), build_image_selection),
        (PluginOperation(id="p", plugin="TestMedian"), build_plugin_operation),
    ],
)
def test_the_builder_table_picks_by_node_type(node: SpecNode, builder: Any) -> None:
    assert builder_for(node) is builder
    assert NODE_BUILDERS[type(node)] is builder


def test_a_node_type_without_a_builder_is_refused() -> None:
    with pytest.raises(SpecError, match="unexpected BaseSelection node"):
        builder_for(BaseSelection(id="base", files=["a.png"]))


def test_a_subclass_takes_its_base_class_builder_and_a_table_can_be_composed(tmp_path: Path) -> None:
    class Special(PluginOperation):
        pass

    assert builder_for(Special(id="s", plugin="TestMedian")) is build_plugin_operation
    run = _run(tmp_path)
    seen: list[tuple[str, str]] = []
    table = {**NODE_BUILDERS, PluginOperation: lambda r, node_id, node: seen.append((node_id, node.plugin))}
    run_node(run, "blur", table)
    assert seen == [("blur", "TestMedian")]


def test_a_project_composed_from_the_pieces_is_committed(tmp_path: Path) -> None:
    run = _run(tmp_path)
    run.record = InflightRecord.create(run.ctx.workdir)
    select_images(run)
    assert Path(run.picks["base"]).parent == tmp_path / "pool"
    start_journal(run)
    for node_id in run.spec.topological_order():
        if node_id not in run.local:
            run_node(run, node_id)
    post_process(run)
    outcome = commit(run)
    assert outcome.status == "made" and outcome.directory == run.ctx.projects / str(run.name)
    journal = Journal.open(outcome.directory)
    assert [data["op"] for _, _, data in journal.graph.edges()] == ["OutputPng", "Blur"]
    assert not list(run.ctx.projects.glob(".*partial*"))


def test_fill_operation_parameters_draws_what_the_spec_left_unset_and_notes_it() -> None:
    drawn: dict[str, dict[str, Any]] = {}
    values: dict[str, Any] = {}
    fill_operation_parameters(default_catalogue(), np.random.default_rng(1), drawn, "n", "Blur", values, None)
    assert values["Blur Type"] in default_catalogue().get("Blur").mandatory["Blur Type"].values
    assert drawn == {"n": values}


def test_validation_error_names_the_first_error_and_counts_the_rest() -> None:
    findings = [
        Finding(Severity.WARNING, "a", None, "just a warning", "r0"),
        Finding(Severity.ERROR, "a", "b", "empty mask", "r1"),
        Finding(Severity.CRITICAL, None, None, "no base", "r2"),
    ]
    errors = error_findings(findings)
    assert [f.rule for f in errors] == ["r1", "r2"]
    error = validation_error(errors, file=Path("/j"))
    assert isinstance(error, JournalError)
    assert "validation: empty mask at a->b (and 1 more)" in str(error)
