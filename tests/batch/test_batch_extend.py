"""Journal extension: rule language, NodeAttachment runs, folders and .tgz, completion, kill safety."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from masksmith.batch.extend import (
    ExtensionRules,
    extend_project,
    extend_projects,
    find_projects,
    recover_extensions,
    select_nodes,
)
from masksmith.batch.project import CONTEXT_KEY, BatchProject, create_global_state
from masksmith.batch.state import CompletionFile, read_lines
from masksmith.errors import SpecError
from masksmith.journal.project import Journal
from masksmith.journal.store import read_archive_json, safe_extract
from masksmith.journal.validate import Severity, validate
from masksmith.media import io as media_io
from masksmith.plugins import Plugin, PluginContext, PluginResult, register_plugin
from tests.batch import batch_fixtures as fx
from tests.batch import extend_fixtures as ef

fx.register()
REPO = Path(__file__).resolve().parents[2]


class Grow(Plugin):
    """Claims to crop but makes the image bigger (a validation error the extension adds)."""

    name = "TestGrowCrop"
    operation = "TransformCrop"

    def transform(self, context: PluginContext) -> PluginResult:
        pixels = np.pad(context.pixels(), ((0, 4), (0, 4), (0, 0)), mode="edge")
        media_io.write_image(context.target, pixels)
        return PluginResult(target_pixels=pixels)


register_plugin(Grow)

# rule string -> nodes of extend_fixtures.build_journal it selects (see that module's picture)
DEFAULT = {"p1", "b1", "c1"}
RULES: list[tuple[str, set[str]]] = [
    ("", DEFAULT),
    ("~:", set()),
    ("donorpath", DEFAULT | {"d1", "d2"}),
    ("final", DEFAULT),  # both finals are made by Output / AntiForensic operations
    ("final,outputop", DEFAULT | {"o1", "f1"}),
    ("final,antiforensicop", DEFAULT | {"a1", "f2"}),
    ("finalnode,antiforensicop", DEFAULT | {"a1", "f2"}),
    ("finalpng,outputop", DEFAULT | {"o1", "f1"}),
    ("finalpng,antiforensicop", DEFAULT | {"a1"}),  # f2 is a .jpg
    ("outputop", DEFAULT | {"o1"}),
    ("antiforensicop", DEFAULT | {"a1"}),
    ("antforensicop", DEFAULT | {"a1"}),  # the seed's spelling
    ("outputsourceop,~:", {"b1"}),  # B is also an Output source, but the base needs basenode
    ("basenode,outputsourceop,~:", {"B", "b1"}),
    ("antiforensicsourceop,~:", {"b1", "c1"}),
    ("antforensicsourceop,~:", {"b1", "c1"}),
    ("+Paste:PasteSplice,~:", {"p1"}),
    ("Paste:PasteSplice,~:", {"p1"}),  # the seed's example, without '+'
    ("+Output:", DEFAULT | {"o1"}),
    ("+Output:OutputPng", DEFAULT | {"o1"}),
    ("+:outputpng", DEFAULT | {"o1"}),
    ("+Output:OutputTif", DEFAULT),
    ("~Filter:", {"p1", "c1"}),
    ("~:Blur", {"p1", "c1"}),
    ("~Filter:,+Filter:Blur", DEFAULT),  # an include beats an exclude
    ("+$Filter:,~:", {"p1"}),
    ("+$Output:,+Color:,~:", {"b1", "c1"}),
    ("donorpath,~Transform:", {"p1", "b1", "c1", "d1"}),
    ("donorpath,+Select:,~:", {"d1"}),
    ("basenode", DEFAULT | {"B"}),
    ("basenode,donorpath,+$Select:,~:", {"D"}),
    (" Final , OUTPUTOP ", DEFAULT | {"o1", "f1"}),
]


@pytest.fixture(scope="module")
def rich(tmp_path_factory: pytest.TempPathFactory) -> Journal:
    return ef.build_journal(tmp_path_factory.mktemp("rich") / "j")


@pytest.mark.parametrize(("rules", "expected"), RULES, ids=[r or "default" for r, _ in RULES])
def test_rules_select_exactly_the_nodes_they_imply(rich: Journal, rules: str, expected: set[str]) -> None:
    assert set(select_nodes(rich, rules)) == expected
    assert set(select_nodes(rich.graph, ExtensionRules.parse(rules.split(",")))) == expected


def test_selection_is_in_dependency_order(rich: Journal) -> None:
    order = select_nodes(rich, "donorpath,final,outputop,antiforensicop,basenode")
    positions = {node: i for i, node in enumerate(order)}
    for start, end, _ in rich.graph.edges():
        if start in positions and end in positions:
            assert positions[start] < positions[end]


@pytest.mark.parametrize("bad", ["bogus", "+Output", "~Output", "final,+$Output"])
def test_bad_rules_are_refused_naming_the_token(bad: str) -> None:
    with pytest.raises(SpecError) as info:
        ExtensionRules.parse(bad)
    assert bad.split(",")[-1] in str(info.value)
    assert info.value.argument == "extensionRules"


# --------------------------------------------------------------------------------------------------
# running extensions
# --------------------------------------------------------------------------------------------------


def _snapshot(journal: Journal) -> tuple[dict[str, dict[str, Any]], dict[tuple[str, str], dict[str, Any]]]:
    nodes = {n: {k: v for k, v in d.items() if k != "nodetype"} for n, d in journal.graph.nodes()}
    edges = {(a, b): dict(d) for a, b, d in journal.graph.edges()}
    return nodes, edges


def _open(item: Path, into: Path) -> Journal:
    if item.is_file():
        return Journal.open(safe_extract(item, into))
    return Journal.open(item)


def _write(tmp_path: Path, raw: dict[str, Any], name: str = "spec.json") -> Path:
    return fx.write_spec(tmp_path / name, raw)


EXTEND_RULES = ["", "donorpath", "final,antiforensicop", "outputsourceop,~:", "Paste:PasteSplice,~:", "~:"]


@pytest.mark.parametrize("archive", [False, True], ids=["folder", "tgz"])
@pytest.mark.parametrize("rules", EXTEND_RULES, ids=[r or "default" for r in EXTEND_RULES])
def test_each_selected_node_gets_the_spec_edge_with_a_mask(tmp_path: Path, rules: str, archive: bool) -> None:
    projects = tmp_path / "projects"
    item = ef.build_archive(projects / "j") if archive else ef.build_journal(projects / "j").directory
    before = _open(item, tmp_path / "before")
    mode = item.stat().st_mode
    old_nodes, old_edges = _snapshot(before)
    expected = dict(RULES)[rules]
    # extending a donor path makes finals off the base path: valid, with a warning (as the original)
    summary = extend_projects(
        projects,
        _write(tmp_path, ef.median_spec()),
        rules=rules,
        workdir=tmp_path / "w",
    )
    assert summary.failures == []
    assert (summary.extended, summary.unchanged) == ((1, 0) if expected else (0, 1))
    assert find_projects(projects) == [item]  # in place, nothing left beside it
    assert item.stat().st_mode == mode
    after = _open(item, tmp_path / "after")
    new = [(a, b, d) for a, b, d in after.graph.edges() if d.get("plugin_name") == "MedianBlur"]
    assert sorted(a for a, _, _ in new) == sorted(expected)  # exactly once per selected node
    for start, end, data in new:
        assert data["op"] == "Blur" and data["arguments"]["kernelSize"] in (3, 5)
        changed = after.edge_mask(start, end)
        assert changed.shape == after.pixels(start).shape[:2]
        assert changed.any()
        assert not np.array_equal(after.pixels(start), after.pixels(end))
        assert after.graph.node(end)["nodetype"] == "final"
    nodes, edges = _snapshot(after)
    assert {n: nodes[n] for n in old_nodes} == old_nodes  # existing nodes and edges unchanged
    assert {e: edges[e] for e in old_edges} == old_edges


def test_seed_section_5_spec_blurs_the_selected_region(tmp_path: Path) -> None:
    projects = tmp_path / "projects"
    ef.simple_journal(projects / "s")
    summary = extend_projects(projects, _write(tmp_path, ef.seed_spec()), workdir=tmp_path / "w", seed=4)
    assert summary.extended == 1 and summary.nodes == 1
    journal = Journal.open(projects / "s")
    ((start, end, data),) = [
        (a, b, d) for a, b, d in journal.graph.edges() if d.get("plugin_name") == "GaussianLocalBlur"
    ]
    assert start == "m" and data["op"] == "Blur" and data["arguments"]["kernelsize"] == 7
    selected = media_io.read_image(journal.directory / data["inputmaskname"]).pixels > 127
    changed = journal.edge_mask(start, end)
    assert changed.any() and selected.any() and not selected.all()
    assert not (changed & ~selected).any()  # the blur stays inside the region the selector chose


def test_username_and_organization_go_on_new_edges_and_the_spec_entry(tmp_path: Path) -> None:
    projects = tmp_path / "projects"
    ef.simple_journal(projects / "s")
    extend_projects(
        projects,
        _write(tmp_path, ef.median_spec()),
        workdir=tmp_path / "w",
        username="ext-user",
        organization="ext-org",
    )
    journal = Journal.open(projects / "s")
    for _, end, data in journal.graph.edges():
        new = data.get("plugin_name") == "MedianBlur"
        assert data["username"] == ("ext-user" if new else "builder")
        assert data.get("organization") == ("ext-org" if new else None)
        if new:
            assert journal.graph.node(end)["username"] == "ext-user"
    (entry,) = journal.graph.attributes["specifications"]
    assert (entry["username"], entry["organization"], entry["attachments"]) == ("ext-user", "ext-org", ["m"])


def test_global_selection_node_runs_once_per_journal(tmp_path: Path) -> None:
    pool = fx.make_pool(tmp_path / "pool", 6, rows=ef.ROWS, cols=ef.COLS)
    results = {}
    for is_global in (True, False):
        projects = tmp_path / f"projects-{is_global}"
        ef.build_journal(projects / "j")
        nodes = [
            {"id": "0", "op_type": "NodeAttachment"},
            {
                "id": "donor",
                "op_type": "ImageSelection",
                "image_directory": str(pool[0].parent),
                "picklist": f"donors-{is_global}",
                "global": is_global,
            },
            fx.plugin_node("paste", "TestPaste", {"purpose": "add"}),
        ]
        links = [("0", "paste"), {"source": "donor", "target": "paste", "donor": True}]
        spec = _write(tmp_path, fx.spec(nodes, links), f"spec-{is_global}.json")
        summary = extend_projects(projects, spec, workdir=tmp_path / "w", seed=2)
        assert summary.failures == [] and summary.nodes == 3
        journal = Journal.open(projects / "j")
        pastes = [(a, b) for a, b, d in journal.graph.edges() if d.get("plugin_name") == "TestPaste"]
        donors = {journal.graph.donors_of(b)[0] for _, b in pastes}
        results[is_global] = (
            len(pastes),
            len(donors),
            len(read_lines(tmp_path / "w" / f"donors-{is_global}.txt")),
        )
    assert results[True] == (3, 1, 1)  # one donor image shared by the three attachment points
    assert results[False] == (3, 3, 3)


def test_existing_errors_are_tolerated_but_errors_the_extension_adds_fail_it(tmp_path: Path) -> None:
    projects = tmp_path / "projects"
    journal = ef.build_journal(projects / "j")
    assert any(f.severity >= Severity.ERROR for f in validate(journal))  # it starts with errors
    text = (projects / "j" / "j.json").read_bytes()
    grow = _write(tmp_path, ef.attachment_spec(fx.plugin_node("grow", "TestGrowCrop")))
    summary = extend_projects(projects, grow, rules="+Paste:,~:", workdir=tmp_path / "w")
    assert (
        summary.failed == 1 and "validation" in summary.failures[0] and "crop" in summary.failures[0].lower()
    )
    assert (projects / "j" / "j.json").read_bytes() == text
    assert [p.name for p in projects.iterdir()] == ["j"]
    summary = extend_projects(
        projects, grow, rules="+Paste:,~:", workdir=tmp_path / "w", skip_validation=True
    )
    assert summary.extended == 1


def test_donor_path_extension_validates_with_a_warning_for_its_donor_path_finals(tmp_path: Path) -> None:
    projects = tmp_path / "projects"
    ef.build_journal(projects / "j")
    spec = _write(tmp_path, ef.median_spec())
    summary = extend_projects(projects, spec, rules="donorpath,+Select:,~:", workdir=tmp_path / "w")
    assert (summary.failed, summary.extended) == (0, 1)
    journal = Journal.open(projects / "j")
    warnings = [f for f in validate(journal) if f.rule == "graph_final_reachable"]
    assert warnings and all(f.severity.name == "WARNING" and "donor path of D" in f.message for f in warnings)


@pytest.mark.parametrize("archive", [False, True], ids=["folder", "tgz"])
def test_a_failing_plugin_leaves_the_project_as_it_was(tmp_path: Path, archive: bool) -> None:
    projects = tmp_path / "projects"
    item = ef.build_archive(projects / "j") if archive else ef.build_journal(projects / "j").directory
    before = item.read_bytes() if archive else (item / "j.json").read_bytes()
    done = tmp_path / "done.txt"
    spec = _write(tmp_path, ef.attachment_spec(fx.plugin_node("x", "TestFails")))
    summary = extend_projects(projects, spec, complete_file=done, workdir=tmp_path / "w")
    assert (
        summary.failed == 1 and "deliberate failure" in summary.failures[0] and "'x'" in summary.failures[0]
    )
    assert (item.read_bytes() if archive else (item / "j.json").read_bytes()) == before
    assert sorted(p.name for p in projects.iterdir()) == [item.name]
    assert read_lines(done) == []


def test_completion_file_skips_finished_journals(tmp_path: Path) -> None:
    projects = tmp_path / "projects"
    for i in range(3):
        ef.simple_journal(projects / f"s{i}", seed=i)
    ef.build_archive(projects / "t")
    done = tmp_path / "done.txt"
    spec = _write(tmp_path, ef.median_spec())
    first = extend_projects(projects, spec, complete_file=done, workdir=tmp_path / "w", threads=2)
    assert (first.extended, first.skipped) == (4, 0)
    assert sorted(read_lines(done)) == sorted(str(p.resolve()) for p in find_projects(projects))
    second = extend_projects(projects, spec, complete_file=done, workdir=tmp_path / "w", threads=2)
    assert (second.extended, second.skipped) == (0, 4)
    for i in range(3):
        journal = Journal.open(projects / f"s{i}")
        assert sum(d.get("plugin_name") == "MedianBlur" for _, _, d in journal.graph.edges()) == 1
    graph = read_archive_json(projects / "t.tgz")
    assert sum(d.get("plugin_name") == "MedianBlur" for _, _, d in graph.edges()) == 3


def test_projects_may_be_listed_in_a_text_file(tmp_path: Path) -> None:
    a = ef.simple_journal(tmp_path / "a").directory
    b = ef.build_archive(tmp_path / "b")
    listing = tmp_path / "list.txt"
    listing.write_text(f"{a / 'a.json'}\n# a comment\nb.tgz\n")
    assert find_projects(listing) == [a, b]
    assert find_projects(a) == [a] and find_projects(b) == [b]


# --------------------------------------------------------------------------------------------------
# recovery and kills
# --------------------------------------------------------------------------------------------------


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _extended_copy(source: Path, into: Path) -> None:
    """A copy of a journal folder with one more (marker) graph attribute."""
    shutil.copytree(source, into)
    data = json.loads((into / f"{source.name}.json").read_text())
    data["graph"]["marker"] = "extended"
    (into / f"{source.name}.json").write_text(json.dumps(data))


@pytest.mark.parametrize(
    ("stage", "moved", "archive", "finished"),
    [
        ("working", False, False, False),
        ("working", False, True, False),
        ("ready", False, False, True),
        ("ready", True, False, True),  # killed between the two renames of the swap
        ("swapped", False, False, True),  # killed before the completion file was written
        ("ready", False, True, True),
    ],
)
def test_recovery_finishes_committed_work_and_discards_the_rest(
    tmp_path: Path, stage: str, moved: bool, archive: bool, finished: bool
) -> None:
    projects = tmp_path / "projects"
    folder = ef.simple_journal(projects / "s").directory
    pid = _dead_pid()
    stem = projects / f".{'s.tgz' if archive else 's'}.ext-{pid}"
    extended = tmp_path / "extended" / "s"
    _extended_copy(folder, extended)
    if archive:
        item = projects / "s.tgz"
        with tarfile.open(item, "w:gz") as tar:
            tar.add(folder, arcname="s")
        shutil.rmtree(folder)
        with tarfile.open(f"{stem}.ready.tgz" if stage != "working" else tmp_path / "x.tgz", "w:gz") as tar:
            tar.add(extended, arcname="s")
        shutil.copytree(extended, f"{stem}.work")
    else:
        item = folder
        if stage == "working":
            shutil.copytree(extended, f"{stem}.work")
        elif stage == "ready":
            shutil.copytree(extended, f"{stem}.ready")
            if moved:
                os.rename(folder, f"{stem}.old")
        else:  # swapped: the new folder is in place, the old one still beside it
            os.rename(folder, f"{stem}.old")
            shutil.copytree(extended, folder)
    Path(f"{stem}.state").write_text(json.dumps({"item": item.name, "stage": stage, "archive": archive}))
    done = CompletionFile(tmp_path / "done.txt")
    report = recover_extensions(projects, done)
    assert (report.finished if finished else report.discarded) == [item]
    assert sorted(p.name for p in projects.iterdir()) == [item.name]  # no leftovers
    graph = read_archive_json(item) if archive else Journal.open(item).graph
    assert (graph.attributes.get("marker") == "extended") is finished
    assert (str(item.resolve()) in done) is finished
    assert recover_extensions(projects, done).finished == []  # idempotent


@pytest.mark.parametrize("stage", ["ready", "swapped", "working"])
def test_a_retried_extension_finishes_a_dead_attempt_instead_of_extending_twice(
    tmp_path: Path, stage: str
) -> None:
    """A distributed task retried after its worker died between the commit and reporting back."""
    projects = tmp_path / "projects"
    folder = ef.simple_journal(projects / "s").directory
    spec = _write(tmp_path, ef.median_spec())
    pid = _dead_pid()
    stem = projects / f".s.ext-{pid}"
    once = tmp_path / "once"
    shutil.copytree(folder, once / "s")
    assert extend_projects(once, spec, workdir=tmp_path / "w1").extended == 1  # what one extension gives
    if stage == "swapped":
        os.rename(folder, f"{stem}.old")
        shutil.copytree(once / "s", folder)
    else:
        shutil.copytree(once / "s", f"{stem}.{'ready' if stage == 'ready' else 'work'}")
    Path(f"{stem}.state").write_text(json.dumps({"item": "s", "stage": stage, "archive": False}))
    done = CompletionFile(tmp_path / "done.txt")
    ctx = create_global_state(projects, tmp_path / "w2")[CONTEXT_KEY]
    outcome = extend_project(folder, BatchProject(spec), ctx, completion=done)  # the retry
    assert outcome.status == "extended"
    assert sorted(p.name for p in projects.iterdir()) == ["s"]  # no slot left behind
    blurs = sum(d.get("plugin_name") == "MedianBlur" for _, _, d in Journal.open(folder).graph.edges())
    assert blurs == 1  # committed work is finished; uncommitted work is discarded and done once
    assert str(folder.resolve()) in done


def test_live_processes_work_is_left_alone(tmp_path: Path) -> None:
    projects = tmp_path / "projects"
    ef.simple_journal(projects / "s")
    state = projects / f".s.ext-{os.getpid()}.state"
    state.write_text(json.dumps({"item": "s", "stage": "ready", "archive": False}))
    report = recover_extensions(projects)
    assert report.finished == report.discarded == [] and state.exists()


RUNNER = (
    "import sys; from tests.batch import batch_fixtures as f; f.register(); "
    "from masksmith.cli.extend_cmds import main; main()"
)


def test_kill_minus_nine_during_extension_then_rerun_extends_each_journal_once(tmp_path: Path) -> None:
    projects = tmp_path / "projects"
    expected = {}
    for i in range(8):
        ef.simple_journal(projects / f"s{i}", seed=i)
        expected[f"s{i}"] = 1
    for i in range(2):
        ef.build_archive(projects / f"t{i}", seed=10 + i)
        expected[f"t{i}.tgz"] = 3
    reference = ef.build_journal(tmp_path / "reference" / "t")
    known_errors = {(f.rule, f.start, f.end) for f in validate(reference) if f.severity >= Severity.ERROR}
    spec = _write(tmp_path, ef.attachment_spec(fx.plugin_node("slow", "TestSlow")))
    command = [
        sys.executable, "-c", RUNNER, "--projects", str(projects), "--specification", str(spec),
        "--completeFile", str(tmp_path / "done.txt"), "--workdir", str(tmp_path / "w"),
        "--threads", "2", "--quiet",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    rng = np.random.default_rng(11)
    kills = 0
    for _ in range(4):
        child = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(float(rng.uniform(1.2, 2.2)))
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
            kills += 1
        child.wait()
    final = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr
    assert kills >= 2
    assert sorted(p.name for p in projects.iterdir()) == sorted(expected)  # no working copies left
    done = read_lines(tmp_path / "done.txt")
    assert sorted(done) == sorted(str((projects / name).resolve()) for name in expected)
    for name, count in expected.items():
        item = projects / name
        journal = _open(item, tmp_path / "check" / name)
        slow = [d for _, _, d in journal.graph.edges() if d.get("plugin_name") == "TestSlow"]
        assert len(slow) == count, name  # extended exactly once
        errors = {(f.rule, f.start, f.end) for f in validate(journal) if f.severity >= Severity.ERROR}
        assert errors <= known_errors, name  # loads and validates: no error beyond those it started with
        for _, data in journal.graph.nodes():
            assert (journal.directory / data["file"]).is_file()
