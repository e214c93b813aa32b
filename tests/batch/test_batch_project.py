"""BatchProject: every node type, donors, masks, post-processing, permutations and failures."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from masksmith.batch.executor import BatchExecutor
from masksmith.batch.project import BatchProject, ProjectOutcome, create_global_state, createGlobalState
from masksmith.batch.state import read_failures
from masksmith.journal.project import Journal
from masksmith.media import io as media_io
from masksmith.plugins import plugin_names
from tests.batch import batch_fixtures as fx

fx.register()


def _run(tmp_path: Path, raw: dict[str, Any], *, count: int = 1, pool_size: int = 3, **options: Any) -> Any:
    pool = tmp_path / "pool"
    if not pool.exists():
        fx.make_pool(pool, pool_size, suffix=options.pop("suffix", ".png"))
    globals_ = {"pool": str(pool), **options.pop("globals", {})}
    executor = BatchExecutor(
        tmp_path / "projects", workdir=tmp_path / "work", global_variables=globals_, seed=1, **options
    )
    try:
        return executor.run_project(BatchProject(raw), count)
    finally:
        executor.finish()


def _journal(summary: Any, index: int = 0) -> Journal:
    return Journal.open(summary.projects[index])


def _assert_complete(journal: Journal) -> None:
    for _, data in journal.graph.nodes():
        assert (journal.directory / data["file"]).is_file()
    for _, _, data in journal.graph.edges():
        assert (journal.directory / data["maskname"]).is_file()


def _edges(journal: Journal) -> dict[str, dict[str, Any]]:
    return {data.get("plugin_name", data["op"]): data for _, _, data in journal.graph.edges()}


CHAIN = fx.spec(
    [
        fx.base_node(),
        fx.plugin_node("png", "TestOutputPNG"),
        fx.plugin_node(
            "blur", "TestMedian", {"kernel": {"type": "int[3:7]"}, "extra": "{kernel used@blur}x"}
        ),
    ],
    [("base", "png"), ("png", "blur")],
)


def test_plugin_chain_makes_a_complete_journal_with_drawn_values_on_edges(tmp_path: Path) -> None:
    CHAIN["nodes"][2]["arguments"].pop("extra")
    summary = _run(tmp_path, CHAIN)
    assert (summary.made, summary.failed) == (1, 0)
    journal = _journal(summary)
    _assert_complete(journal)
    edges = _edges(journal)
    assert edges["TestOutputPNG"]["op"] == "OutputPng"
    blur = edges["TestMedian"]["arguments"]
    assert 3 <= blur["kernel"] <= 7
    # mandatory Blur parameters the spec left unset were drawn by catalogue type and recorded
    assert blur["Blur Type"] in journal.catalogue.get("Blur").mandatory["Blur Type"].values
    assert blur["Laundering"] in ("yes", "no")
    assert blur["kernel used"] in (3, 5, 7)
    (final,) = journal.graph.final_nodes()
    path = journal.path_of(final)
    assert path.name == hashlib.md5(path.read_bytes()).hexdigest() + ".png"
    assert journal.graph.attributes["batch specification name"] == "testspec"
    assert journal.graph.attributes["organization"] == "test"


def test_rename_false_keeps_final_names(tmp_path: Path) -> None:
    raw = json.loads(json.dumps(CHAIN))
    raw["graph"]["rename"] = False
    journal = _journal(_run(tmp_path, raw))
    (final,) = journal.graph.final_nodes()
    assert journal.path_of(final).stem.startswith(journal.graph.base_node())


NODE_TYPE_SPECS: dict[str, tuple[list[dict[str, Any]], list[Any]]] = {
    "ImageSelection+donor link": (
        [
            fx.base_node(),
            {"id": "donor", "op_type": "ImageSelection", "image_directory": "{pool}", "picklist": "pool"},
            fx.plugin_node("paste", "TestPaste"),
        ],
        [("base", "paste"), {"source": "donor", "target": "paste", "donor": True}],
    ),
    "donor argument with source": (
        [
            fx.base_node(),
            {"id": "d", "op_type": "ImageSelection", "files": ["{pool}/img02.png"]},
            fx.plugin_node("paste", "TestPaste", {"donor": {"type": "donor", "source": "d"}}),
        ],
        [("base", "paste"), ("d", "paste")],
    ),
    "InputMaskPluginOperation+input": (
        [
            fx.base_node(),
            {
                "id": "sel",
                "op_type": "InputMaskPluginOperation",
                "plugin": "TestBoxSelector",
                "arguments": {"size": 6},
            },
            fx.plugin_node("inv", "TestMaskedInvert", {"inputmaskname": {"type": "input", "source": "sel"}}),
        ],
        [("base", "sel"), ("sel", "inv"), ("base", "inv")],
    ),
    "mask argument inverted": (
        [
            fx.base_node(),
            fx.plugin_node(
                "first", "TestMaskedInvert", {"inputmaskname": {"type": "input", "source": "sel"}}
            ),
            {
                "id": "sel",
                "op_type": "InputMaskPluginOperation",
                "plugin": "TestBoxSelector",
                "arguments": {"size": 5},
            },
            fx.plugin_node(
                "second",
                "TestMaskedInvert",
                {"inputmaskname": {"type": "mask", "source": "first", "invert": True}},
            ),
        ],
        [("base", "sel"), ("sel", "first"), ("base", "first"), ("first", "second")],
    ),
    "ImageSelectionPluginOperation": (
        [
            fx.base_node(),
            {
                "id": "pick",
                "op_type": "ImageSelectionPluginOperation",
                "plugin": "TestPickFile",
                "arguments": {"file": "{pool}/img02.png"},
            },
            fx.plugin_node("paste", "TestPaste"),
        ],
        [("base", "pick"), ("base", "paste"), {"source": "pick", "target": "paste", "donor": True}],
    ),
    "InputSelectionPluginOperation alias": (
        [
            fx.base_node(),
            {
                "id": "pick",
                "op_type": "InputSelectionPluginOperation",
                "plugin": "TestPickFile",
                "arguments": {"file": "{pool}/img02.png"},
            },
            fx.plugin_node("paste", "TestPaste"),
        ],
        [("base", "pick"), ("base", "paste"), {"source": "pick", "target": "paste", "donor": True}],
    ),
    "imagefile + variable + substitution": (
        [
            fx.base_node(),
            {
                "id": "sel",
                "op_type": "InputMaskPluginOperation",
                "plugin": "TestBoxSelector",
                "arguments": {},
            },
            fx.plugin_node(
                "echo",
                "TestEcho",
                {
                    "picture": {"type": "imagefile", "source": "base"},
                    "bx": {"type": "variable", "source": "sel", "name": "box_x"},
                    "label": "size {size@sel} at {box_y@sel:03d}",
                    "g": {"type": "global", "name": "pool"},
                },
            ),
        ],
        [("base", "sel"), ("base", "echo"), ("sel", "echo")],
    ),
}


@pytest.mark.parametrize("case", list(NODE_TYPE_SPECS))
def test_node_types(tmp_path: Path, case: str) -> None:
    nodes, links = NODE_TYPE_SPECS[case]
    fx.Echo.seen.clear()
    summary = _run(tmp_path, fx.spec(nodes, links), pool_size=3)
    assert summary.failed == 0, summary.failures
    journal = _journal(summary)
    _assert_complete(journal)
    ops = [d["op"] for _, _, d in journal.graph.edges()]
    if "donor" in case.lower() or "Selection" in case:
        assert "Donor" in ops and "PasteSplice" in ops
        (donor,) = journal.graph.nodes_of_type("donor")
        assert journal.path_of(donor).is_file()
    if "InputMask" in case or "mask argument" in case:
        edges = [d for _, _, d in journal.graph.edges() if d.get("plugin_name") == "TestMaskedInvert"]
        assert edges and all((journal.directory / d["inputmaskname"]).is_file() for d in edges)
        expected = 36 if "InputMask" in case else 25
        assert edges[-1]["arguments"]["selected"] == expected
    if "imagefile" in case:
        (seen,) = fx.Echo.seen
        assert seen["bx"] == 0 and seen["label"] == "size 10 at 000" and seen["g"] == str(tmp_path / "pool")
        assert Path(seen["picture"]).name == journal.path_of(journal.graph.base_node()).name
        (edge,) = [d for _, _, d in journal.graph.edges()]
        assert (journal.directory / edge["arguments"]["picture"]).is_file()  # copied into the journal


def test_preprocessed_media_operation_takes_file_and_csv_arguments(tmp_path: Path) -> None:
    pool = tmp_path / "pool"
    (base,) = fx.make_pool(pool, 1)
    results = tmp_path / "results"
    results.mkdir()
    pixels = media_io.read_image(base).pixels.copy()
    pixels[:5] = 255 - pixels[:5]
    media_io.write_image(results / f"{base.stem}.png", pixels)
    (results / "arguments.csv").write_text(f"{base.stem}.png,yes,16\n", encoding="utf-8")
    node = {
        "id": "pre",
        "op_type": "PreProcessedMediaOperation",
        "argument file": "arguments.csv",
        "argument names": ["Image Rotated", "Bits per Channel"],
        "directory": "{results}",
        "op": "OutputPng",
        "category": "Output",
        "software": "opencv",
        "software version": "3.3.0",
        "description": "output png",
    }
    summary = _run(
        tmp_path, fx.spec([fx.base_node(), node], [("base", "pre")]), globals={"results": str(results)}
    )
    assert summary.failed == 0, summary.failures
    journal = _journal(summary)
    (edge,) = [d for _, _, d in journal.graph.edges()]
    assert (
        edge["op"] == "OutputPng" and edge["softwareName"] == "opencv" and edge["softwareVersion"] == "3.3.0"
    )
    assert edge["arguments"]["Image Rotated"] == "yes" and edge["arguments"]["Bits per Channel"] == "16"
    mask = journal.edge_mask(*next((s, e) for s, e, _ in journal.graph.edges()))
    assert mask[:5].mean() > 0.9 and not mask[8:].any()


@pytest.mark.parametrize("how", ["node id", "plugin name", "test mode"])
def test_passthru_copies_source(tmp_path: Path, how: str) -> None:
    raw = fx.spec([fx.base_node(), fx.plugin_node("fail", "TestFails")], [("base", "fail")])
    options: dict[str, Any] = (
        {"testMode": True}
        if how == "test mode"
        else {"passthrus": ["fail"] if how == "node id" else ["TestFails"]}
    )
    summary = _run(tmp_path, raw, **options)
    assert summary.failed == 0, summary.failures
    journal = _journal(summary)
    (final,) = journal.graph.final_nodes()
    base = journal.graph.base_node()
    assert np.array_equal(journal.pixels(final), journal.pixels(base))
    assert not journal.edge_mask(base, final).any()


@pytest.mark.skipif("CompressAs" not in plugin_names(), reason="CompressAs plugin not installed yet")
def test_recompress_adds_compress_as_for_jpeg_base(tmp_path: Path) -> None:
    raw = fx.spec([fx.base_node(), fx.plugin_node("blur", "TestMedian")], [("base", "blur")], recompress=True)
    summary = _run(tmp_path, raw, suffix=".jpg")
    assert summary.failed == 0, summary.failures
    journal = _journal(summary)
    base = journal.graph.base_node()
    (final,) = journal.graph.final_nodes()
    assert journal.graph.operation_predecessor(final) is not None
    last = journal.graph.edge(journal.graph.operation_predecessor(final), final)
    assert last["plugin_name"] == "CompressAs"
    assert base in journal.graph.donors_of(final)


def test_recompress_skipped_for_png_base(tmp_path: Path) -> None:
    raw = fx.spec([fx.base_node(), fx.plugin_node("blur", "TestMedian")], [("base", "blur")], recompress=True)
    journal = _journal(_run(tmp_path, raw))
    assert [d.get("plugin_name") for _, _, d in journal.graph.edges()] == ["TestMedian"]


def test_failure_removes_project_records_state_and_names_node(tmp_path: Path) -> None:
    raw = fx.spec(
        [
            fx.base_node(),
            fx.plugin_node("blur", "TestMedian", {"kernel": {"type": "int[3:9]"}}),
            fx.plugin_node("bad", "TestFails"),
        ],
        [("base", "blur"), ("blur", "bad")],
    )
    summary = _run(tmp_path, raw, count=2)
    assert (summary.made, summary.failed) == (0, 2)
    message = summary.failures[0]
    assert "project img0" in message and "spec node 'bad'" in message and "deliberate failure" in message
    assert [p.name for p in (tmp_path / "projects").iterdir()] == []
    (failure_file,) = (tmp_path / "work").glob("failures-*.txt")
    states = read_failures(failure_file)
    assert len(states) == 2
    assert {Path(s["__global__"]["base"]).name for s in states} == {
        p.name for p in (tmp_path / "pool").iterdir()
    } - {"img02.png"} or len({s["__global__"]["base"] for s in states}) == 2
    assert all(3 <= s["__global__"]["blur.kernel"] <= 9 for s in states)


def test_keep_failed_keeps_the_journal(tmp_path: Path) -> None:
    raw = fx.spec(
        [fx.base_node(), fx.plugin_node("blur", "TestMedian"), fx.plugin_node("bad", "TestFails")],
        [("base", "blur"), ("blur", "bad")],
    )
    summary = _run(tmp_path, raw, removeBadProjects=False)
    assert summary.failed == 1
    (kept,) = (tmp_path / "projects").iterdir()
    assert kept.name.endswith(".failed")
    assert len(Journal.open(kept).graph.graph.edges) == 1


def test_from_state_reruns_exactly_the_failed_states(tmp_path: Path) -> None:
    raw = fx.spec(
        [
            fx.base_node(),
            fx.plugin_node("blur", "TestMedian", {"kernel": {"type": "int[3:31]"}}),
            fx.plugin_node("bad", "TestFails"),
        ],
        [("base", "blur"), ("blur", "bad")],
    )
    _run(tmp_path, raw, count=2, pool_size=4)
    (failure_file,) = (tmp_path / "work").glob("failures-*.txt")
    states = read_failures(failure_file)
    raw["nodes"][2]["plugin"] = "TestEcho"
    fx.Median.seen.clear()
    summary = _run(tmp_path, raw, count=5, fromFailedStateFile=failure_file.name)
    assert (summary.made, summary.failed) == (2, 0), summary.failures  # --count is capped by the file's lines
    bases = sorted(Journal.open(p).graph.base_node() for p in summary.projects)
    assert bases == sorted(Path(s["__global__"]["base"]).stem for s in states)
    assert sorted(a["kernel"] for a in fx.Median.seen) == sorted(
        s["__global__"]["blur.kernel"] for s in states
    )


def _xy_spec(base_group: str | None = None) -> dict[str, Any]:
    base = fx.base_node(**({"permutegroup": base_group} if base_group else {}))
    arguments = {
        "x": {"permutegroup": "example_group", "type": "int[1:4]"},
        "y": {"permutegroup": " example_group ", "type": "list", "values": [1, 2, 3]},
    }
    return fx.spec([base, fx.plugin_node("echo", "TestEcho", arguments)], [("base", "echo")])


def _xy(summary: Any) -> list[tuple[int, int]]:
    out = []
    for path in summary.projects:
        (edge,) = [d for _, _, d in Journal.open(path).graph.edges()]
        out.append((edge["arguments"]["x"], edge["arguments"]["y"]))
    return out


SEED_SEQUENCE = [(x, y) for x in range(1, 5) for y in range(1, 4)] + [(1, 1)]


def test_permute_group_follows_the_seed_sequence_over_13_projects(tmp_path: Path) -> None:
    summary = _run(tmp_path, _xy_spec(), count=13, pool_size=13)
    assert summary.made == 13
    assert _xy(summary) == SEED_SEQUENCE


def test_restart_continues_from_saved_cursors(tmp_path: Path) -> None:
    first = _run(tmp_path, _xy_spec(), count=5, pool_size=13)
    second = _run(tmp_path, _xy_spec(), count=4)
    assert _xy(first) == SEED_SEQUENCE[:5]
    assert _xy(second) == SEED_SEQUENCE[5:9]


def test_image_in_permute_group_is_reused_until_the_group_exhausts_then_never_again(tmp_path: Path) -> None:
    raw = _xy_spec(base_group="example_group")
    raw["nodes"][1]["arguments"]["x"]["type"] = "int[1:2]"
    raw["nodes"][1]["arguments"]["y"]["values"] = [1]
    summary = _run(tmp_path, raw, count=6, pool_size=2)
    assert (summary.made, summary.skipped, summary.exhausted) == (4, 2, True)
    bases = [Journal.open(p).graph.base_node() for p in summary.projects]
    assert bases[0] == bases[1] != bases[2] == bases[3]
    assert _xy(summary) == [(1, 1), (2, 1), (1, 1), (2, 1)]


def test_python_api_execute_once_and_graph_image(tmp_path: Path) -> None:
    pool = tmp_path / "pool"
    fx.make_pool(pool, 2)
    project = BatchProject(fx.write_spec(tmp_path / "spec.json", CHAIN))
    assert create_global_state is createGlobalState
    state = createGlobalState(
        str(tmp_path / "out"), str(tmp_path / "work"), global_variables={"pool": str(pool)}
    )
    directory, name = project.executeOnce(state)
    assert directory is not None and name is not None and Path(directory).name == name
    _assert_complete(Journal.open(directory))
    png = project.saveGraphImage(tmp_path / "graph")
    assert png.name == "testspec.png" and media_io.read_image(png).pixels.shape[0] > 50
    rows = (tmp_path / "graph" / "testspec.csv").read_text().splitlines()
    assert sorted(r.split(",")[0] for r in rows) == ["base", "blur", "png"]


def test_run_returns_outcome_for_an_exhausted_pool(tmp_path: Path) -> None:
    (tmp_path / "pool").mkdir()
    project = BatchProject(CHAIN)
    state = create_global_state(
        tmp_path / "out", tmp_path / "work", global_variables={"pool": str(tmp_path / "pool")}
    )
    outcome = project.run(state["_batch_context"])
    assert isinstance(outcome, ProjectOutcome) and outcome.status == "exhausted"


def test_rule_triggered_optional_parameters_are_drawn_after_the_mandatory_ones() -> None:
    """PasteSplice's `mode` becomes mandatory when the drawn `purpose` is 'blend'; it must be drawn too."""
    import numpy as np

    from masksmith.batch.project import _ProjectRun
    from masksmith.operations import default_catalogue

    class _Stub:
        def __init__(self) -> None:
            self.rng = np.random.default_rng(0)
            self.drawn: dict[str, dict[str, object]] = {}

        def _j(self) -> object:
            class _J:
                catalogue = default_catalogue()

            return _J()

    stub = _Stub()
    seen_blend = False
    for _ in range(40):
        values: dict[str, object] = {}
        _ProjectRun._fill_operation_parameters(stub, "paste", "PasteSplice", values, None)  # type: ignore[arg-type]
        default_catalogue().get("PasteSplice").validate_arguments(values)  # raises if `mode` were missing
        seen_blend |= values["purpose"] == "blend"
    assert seen_blend
