"""Loading, modelling and rejecting batch specifications (masksmith.batch.spec)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from masksmith.batch import spec as S
from masksmith.errors import SpecError

GRAPH = {
    "name": "sample",
    "username": "tester",
    "organization": "ACME",
    "projectdescription": "test",
    "technicalsummary": "Automated",
    "recompress": False,
}


def make_spec(
    nodes: list[dict[str, Any]], links: list[dict[str, Any]], graph: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "directed": True,
        "multigraph": False,
        "graph": dict(GRAPH if graph is None else graph),
        "nodes": nodes,
        "links": links,
    }


def base(node_id: str = "0", **extra: Any) -> dict[str, Any]:
    return {
        "op_type": "BaseSelection",
        "image_directory": "{image_dir}",
        "picklist": "imageset",
        "id": node_id,
    } | extra


def plugin(node_id: str, name: str = "OutputPNG", op_type: str = "PluginOperation", **arguments: Any) -> dict:
    return {"op_type": op_type, "plugin": name, "id": node_id, "arguments": arguments}


def chain(*nodes: dict[str, Any]) -> dict[str, Any]:
    """Spec where each node depends on the one before it (links by list position)."""
    return make_spec(list(nodes), [{"source": i, "target": i + 1} for i in range(len(nodes) - 1)])


# ---------------------------------------------------------------------------------------------------
# node types
# ---------------------------------------------------------------------------------------------------

NODE_CASES = [
    (
        {
            "op_type": "ImageSelection",
            "image_directory": "/pool",
            "filetypes": ["JPG", ".png"],
            "permutegroup": "g",
        },
        S.ImageSelection,
        {"image_directory": "/pool", "filetypes": ["jpg", "png"], "permutegroup": "g", "picklist_name": "n"},
    ),
    (
        {"op_type": "ImageSelection", "files": ["{base}/a.jpg", "{base}/b.jpg"], "picklist": "donors"},
        S.ImageSelection,
        {"files": ["{base}/a.jpg", "{base}/b.jpg"], "picklist_name": "donors"},
    ),
    (
        {"op_type": "PluginOperation", "plugin": "Blur", "experiment_id": 7, "arguments": {"k": 3}},
        S.PluginOperation,
        {"plugin": "Blur", "experiment_id": "7"},
    ),
    (
        {"op_type": "InputMaskPluginOperation", "plugin": "SmartMaskSelector", "usebaseimage": True},
        S.InputMaskPluginOperation,
        {"plugin": "SmartMaskSelector", "usebaseimage": True},
    ),
    (
        {"op_type": "ImageSelectionPluginOperation", "plugin": "PickPairedImage"},
        S.ImageSelectionPluginOperation,
        {"plugin": "PickPairedImage"},
    ),
    (
        {"op_type": "InputSelectionPluginOperation", "plugin": "PickPairedImage"},
        S.ImageSelectionPluginOperation,
        {"plugin": "PickPairedImage", "op_type": "InputSelectionPluginOperation"},
    ),
    (
        {
            "op_type": "PreProcessedMediaOperation",
            "argument file": "arguments.csv",
            "argument names": ["Image Rotated", "Bits per Channel"],
            "directory": "results",
            "op": "OutputPng",
            "category": "Output",
            "software": "opencv",
            "software version": "3.3.0",
            "description": "output png",
        },
        S.PreProcessedMediaOperation,
        {
            "argument_file": "arguments.csv",
            "argument_names": ["Image Rotated", "Bits per Channel"],
            "directory": "results",
            "op": "OutputPng",
            "category": "Output",
            "software": "opencv",
            "software_version": "3.3.0",
            "description": "output png",
        },
    ),
]


@pytest.mark.parametrize(("raw", "cls", "fields"), NODE_CASES)
def test_each_node_type_parses_into_its_model(raw: dict[str, Any], cls: type, fields: dict[str, Any]) -> None:
    node_raw = {**raw, "id": "n"}
    # Selection nodes take no predecessor; every other node hangs off the base.
    is_selection = raw["op_type"] in S.SELECTION_OP_TYPES
    spec = S.load_spec(make_spec([base(), node_raw], [] if is_selection else [{"source": 0, "target": 1}]))
    node = spec.node("n")
    assert type(node) is cls
    for key, value in fields.items():
        assert getattr(node, key) == value, key


def test_base_selection_and_node_attachment_models() -> None:
    spec = S.load_spec(chain(base(**{"timestamp name": True, "arguments": {"isgan": "yes"}}), plugin("1")))
    node = spec.node("0")
    assert isinstance(node, S.BaseSelection)
    assert node.timestamp_name is True
    assert node.arguments == {"isgan": "yes"}  # selection arguments stay plain attributes
    assert node.picklist_name == "imageset"
    ext = S.load_spec(chain({"op_type": "NodeAttachment", "id": "a"}, plugin("1")), extension=True)
    assert isinstance(ext.node("a"), S.NodeAttachment)
    assert ext.base_node() == "a"
    assert ext.is_extension


# ---------------------------------------------------------------------------------------------------
# argument types
# ---------------------------------------------------------------------------------------------------

ARG_CASES = [
    ({"type": "value", "value": "yes"}, S.ValueArg, {"value": "yes"}),
    ("person", S.ValueArg, {"value": "person", "type": "value"}),
    (0.2, S.ValueArg, {"value": 0.2}),
    (
        {"type": "value", "value": {"name": "{foo}"}, "function": "numpy.int"},
        S.ValueArg,
        {"function": "numpy.int"},
    ),
    ({"type": "imagefile", "source": "0"}, S.ImageFileArg, {"source": "0"}),
    ({"type": "global", "name": "coco"}, S.GlobalArg, {"name": "coco"}),
    (
        {"type": "mask", "source": "0", "invert": True},
        S.MaskArg,
        {"source": "0", "invert": True, "target": None},
    ),
    ({"type": "mask", "source": "0", "target": "1"}, S.MaskArg, {"invert": False, "target": "1"}),
    ({"type": "donor"}, S.DonorArg, {"source": None}),
    ({"type": "donor", "source": "base"}, S.DonorArg, {"source": "base"}),
    ({"type": "list", "values": ["other", "landscape"]}, S.ListArg, {}),
    ({"type": "variable", "name": "box_altered", "source": "0"}, S.VariableArg, {"name": "box_altered"}),
    ({"type": "input", "source": "0"}, S.InputArg, {"source": "0"}),
    (
        {"type": "plugin", "name": "kernel_builder", "parameters": {"kernel_size": "{kernel_size@0}"}},
        S.PluginArg,
        {"name": "kernel_builder", "parameters": {"kernel_size": "{kernel_size@0}"}},
    ),
    ({"type": "plugin", "name": "kernelSpecs", "parameters": [2, 5]}, S.PluginArg, {"parameters": [2, 5]}),
    ({"type": "int[1:100]"}, S.IntRangeArg, {"low": 1, "high": 100, "step": 1}),
    ({"type": "int[0:64:8]"}, S.IntRangeArg, {"low": 0, "high": 64, "step": 8}),
    ({"type": "float[0.0:1.0]"}, S.FloatRangeArg, {"low": 0.0, "high": 1.0, "step": None}),
    ({"type": "float[0.04:0.2:0.02]"}, S.FloatRangeArg, {"low": 0.04, "high": 0.2, "step": 0.02}),
    ({"type": "yesno"}, S.YesNoArg, {}),
    ({"type": "list", "values": [1, 2], "permute_group": " grp "}, S.ListArg, {"permutegroup": "grp"}),
]


@pytest.mark.parametrize(("raw", "cls", "fields"), ARG_CASES)
def test_each_argument_type_parses_into_its_model(raw: Any, cls: type, fields: dict[str, Any]) -> None:
    spec = S.load_spec(chain(base(), plugin("1", x=raw)))
    arg = spec.node("1").argument_specs["x"]
    assert type(arg) is cls
    for key, value in fields.items():
        assert getattr(arg, key) == value, key


@pytest.mark.parametrize(
    ("type_", "expected"),
    [
        ("int[1:4]", [1, 2, 3, 4]),  # seed §3.6: inclusive
        ("int[0:10:5]", [0, 5, 10]),
        ("int[1:2,7:8]", [1, 2, 7, 8]),
        ("float[5.1:7:0.5]", [5.1, 5.6, 6.1, 6.6]),  # the original's test data
        (
            "float[0.04:0.2:0.02]",
            [0.04, 0.06, 0.08, 0.1, 0.12, 0.14, 0.16, 0.18, 0.2],
        ),  # seed §4.1.2: 4%..20%
    ],
)
def test_range_values(type_: str, expected: list[float]) -> None:
    arg = S.parse_argument({"type": type_})
    assert arg.values() == pytest.approx(expected)


def test_unknown_keys_are_kept() -> None:
    raw = chain(base(autojt_meta={"a": 1}), plugin("1", x={"type": "yesno", "note": "kept"}))
    spec = S.load_spec(raw)
    assert spec.node("0").model_extra == {"autojt_meta": {"a": 1}}
    assert spec.graph.nodes["0"]["autojt_meta"] == {"a": 1}
    assert spec.node("1").argument_specs["x"].model_extra == {"note": "kept"}


# ---------------------------------------------------------------------------------------------------
# links, graph section, sources of the spec
# ---------------------------------------------------------------------------------------------------


def test_links_by_id_string_are_remapped_like_positions() -> None:
    nodes = [
        base("base selection"),
        plugin("output PNG for base"),
        plugin("blur", "GaussianBlur"),
    ]
    by_id = make_spec(
        nodes,
        [
            {"source": "base selection", "target": "output PNG for base"},
            {"source": "output PNG for base", "target": "blur", "donor": True},
        ],
    )
    by_position = make_spec(nodes, [{"source": 0, "target": 1}, {"source": 1, "target": 2, "donor": True}])
    a, b = S.load_spec(by_id), S.load_spec(by_position)
    expected = {("base selection", "output PNG for base"), ("output PNG for base", "blur")}
    assert set(a.graph.edges) == set(b.graph.edges) == expected
    assert a.graph.edges["output PNG for base", "blur"]["donor"] is True
    assert a.topological_order() == ["base selection", "output PNG for base", "blur"]


def test_node_link_edges_key_and_graph_round_trip(tmp_path: Path) -> None:
    raw = chain(base(), plugin("1"), plugin("2"))
    raw["edges"] = raw.pop("links")
    spec = S.load_spec(raw)
    again = S.load_spec(spec.graph)
    assert set(again.graph.edges) == {("0", "1"), ("1", "2")}
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec.to_dict()))
    from_file = S.load_spec(path)
    assert from_file.node_ids() == ["0", "1", "2"]
    assert isinstance(from_file.graph.nodes["1"][S.MODEL_KEY], S.PluginOperation)


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        (
            {
                "name": "n",
                "organization": "o",
                "projectDescription": "d",
                "technicalSummary": "t",
                "semanticGroups": ["g"],
                "recompress": True,
                "rename": False,
            },
            {
                "projectdescription": "d",
                "technicalsummary": "t",
                "semanticgroups": ["g"],
                "recompress": True,
                "rename": False,
            },
        ),
        (
            {
                "name": "n",
                "organization": "o",
                "projectdescription": "d",
                "technicalsummary": "t",
                "edgeFilePaths": ["arguments.extra mask"],
            },
            {
                "projectdescription": "d",
                "recompress": False,
                "rename": True,
                "edgeFilePaths": ["arguments.extra mask"],
            },
        ),
    ],
)
def test_graph_section_aliases(graph: dict[str, Any], expected: dict[str, Any]) -> None:
    spec = S.load_spec(make_spec([base(), plugin("1")], [{"source": 0, "target": 1}], graph))
    for key, value in expected.items():
        assert getattr(spec.graph_section, key) == value, key
    assert spec.name == "n"
    props = spec.graph_section.project_properties()
    assert "name" not in props and "recompress" not in props
    assert props["organization"] == "o"


def test_donor_predecessors_and_connect_candidates() -> None:
    nodes = [
        base(),
        {"op_type": "ImageSelection", "image_directory": "/d", "id": "1"},
        plugin("2"),
        plugin("3", "SmartMaskSelector", "InputMaskPluginOperation"),
        plugin("4", "PasteSplice", donor={"type": "donor"}),
        plugin("5", "CompressAs", donor={"type": "donor", "source": "base"}),
    ]
    links = [
        {"source": "0", "target": "2"},
        {"source": "2", "target": "3"},
        {"source": "2", "target": "4"},
        {"source": "3", "target": "4"},
        {"source": "1", "target": "4", "donor": True},
        {"source": "4", "target": "5"},
    ]
    spec = S.load_spec(make_spec(nodes, links))
    assert spec.donor_predecessors("4") == ["1"]
    assert spec.donor_predecessors("5") == ["0"]
    assert spec.connect_to_candidates("4") == ["2"]


def test_permute_groups_in_definition_order() -> None:
    nodes = [
        base(permutegroup="image"),
        plugin(
            "1",
            x={"permutegroup": "example_group", "type": "int[1:4]"},
            y={"permutegroup": " example_group ", "type": "list", "values": [1, 2, 3]},
        ),
        plugin(
            "2",
            "Crop",
            h={"permute_group": "image", "type": "float[0.04:0.2:0.02]"},
            cx={"permutegroup": "image", "type": "variable", "source": "1", "name": "crop_x"},
            c={"permutegroup": "image", "type": "value", "value": 3},
        ),
    ]
    spec = S.load_spec(make_spec(nodes, [{"source": 0, "target": 1}, {"source": 1, "target": 2}]))
    groups = spec.permute_groups()
    assert {k: [m.element for m in v] for k, v in groups.items()} == {
        "image": ["0", "2.h", "2.cx"],
        "example_group": ["1.x", "1.y"],
    }
    assert [m.deferred for m in groups["image"]] == [False, False, True]


def test_json_schema_covers_node_and_argument_types() -> None:
    schema = S.load_spec(chain(base(), plugin("1"))).to_json_schema()
    defs = set(schema["$defs"])
    for name in (
        "BaseSelection",
        "ImageSelection",
        "PluginOperation",
        "InputMaskPluginOperation",
        "ImageSelectionPluginOperation",
        "NodeAttachment",
        "PreProcessedMediaOperation",
        "ValueArg",
        "MaskArg",
        "IntRangeArg",
        "FloatRangeArg",
        "YesNoArg",
        "PluginArg",
    ):
        assert name in defs, name
    json.dumps(schema)


# ---------------------------------------------------------------------------------------------------
# rejections
# ---------------------------------------------------------------------------------------------------


def _without(raw: dict[str, Any], key: str) -> dict[str, Any]:
    out = copy.deepcopy(raw)
    out["graph"].pop(key)
    return out


REJECTIONS = [
    ("no base", make_spec([plugin("1")], []), {}, None, "nodes:"),
    ("two bases", make_spec([base("a"), base("b")], []), {}, "b", "nodes[1].op_type"),
    (
        "attachment in creation",
        chain(base(), {"op_type": "NodeAttachment", "id": "x"}),
        {},
        "x",
        "nodes[1].op_type",
    ),
    ("no attachment", chain(base(), plugin("1")), {"extension": True}, None, "nodes:"),
    (
        "selection with predecessor",
        make_spec(
            [base(), plugin("1"), {"op_type": "ImageSelection", "image_directory": "/d", "id": "sel"}],
            [{"source": 0, "target": 1}, {"source": 1, "target": 2}],
        ),
        {},
        "sel",
        "links[1]",
    ),
    (
        "cycle",
        make_spec(
            [base(), plugin("p"), plugin("q"), plugin("r")],
            [
                {"source": 0, "target": 1},
                {"source": 1, "target": 2},
                {"source": 2, "target": 3},
                {"source": 3, "target": 1},
            ],
        ),
        {},
        None,
        "links:",
    ),
    ("unknown op_type", chain(base(), {"op_type": "Teleport", "id": "t"}), {}, "t", "nodes[1].op_type"),
    (
        "unknown argument type",
        chain(base(), plugin("1"), plugin("2"), plugin("k", kernelsize={"type": "gauss"})),
        {},
        "k",
        "nodes[3].arguments.kernelsize.type",
    ),
    (
        "argument without type",
        chain(base(), plugin("k", size={"plugin": "SmartMaskSelector"})),
        {},
        "k",
        "nodes[1].arguments.size.type",
    ),
    (
        "bad int range",
        chain(base(), plugin("k", size={"type": "int[9:1]"})),
        {},
        "k",
        "nodes[1].arguments.size.type",
    ),
    (
        "bad float range",
        chain(base(), plugin("k", f={"type": "float[0.5:0.1:0.1]"})),
        {},
        "k",
        "nodes[1].arguments.f.type",
    ),
    (
        "missing source node",
        chain(base(), plugin("k", m={"type": "input", "source": "99"})),
        {},
        "k",
        "nodes[1].arguments.m.source",
    ),
    (
        "missing mask target",
        chain(base(), plugin("k", m={"type": "mask", "source": "0", "target": "zz"})),
        {},
        "k",
        "nodes[1].arguments.m.target",
    ),
    (
        "variable without name",
        chain(base(), plugin("k", v={"type": "variable", "source": "0"})),
        {},
        "k",
        "nodes[1].arguments.v.name",
    ),
    (
        "unsafe function",
        chain(base(), plugin("k", v={"type": "value", "value": 1, "function": "os.system"})),
        {},
        "k",
        "nodes[1].arguments.v.function",
    ),
    (
        "dunder function",
        chain(base(), plugin("k", v={"type": "value", "value": 1, "function": "x.__class__"})),
        {},
        "k",
        "nodes[1].arguments.v.function",
    ),
    (
        "link to missing id",
        make_spec([base(), plugin("1")], [{"source": "0", "target": "nope"}]),
        {},
        None,
        "links[0].target",
    ),
    (
        "link position out of range",
        make_spec([base(), plugin("1")], [{"source": 0, "target": 5}]),
        {},
        None,
        "links[0].target",
    ),
    (
        "node-level source missing",
        chain(base(), plugin("1") | {"source": "ghost"}),
        {},
        "1",
        "nodes[1].source",
    ),
    (
        "unknown plugin",
        chain(base(), plugin("1", "NoSuchPlugin")),
        {"known_plugins": {"OutputPNG"}},
        "1",
        "nodes[1].plugin",
    ),
    ("plugin without predecessor", make_spec([base(), plugin("lonely")], []), {}, "lonely", "nodes[1]"),
    (
        "selection without pool",
        chain({"op_type": "BaseSelection", "id": "0"}, plugin("1")),
        {},
        "0",
        "nodes[0]",
    ),
    (
        "missing technicalsummary",
        _without(chain(base(), plugin("1")), "technicalsummary"),
        {},
        None,
        "graph.technicalsummary",
    ),
    ("duplicate id", chain(base(), plugin("1"), plugin("1")), {}, "1", "nodes[2].id"),
]


@pytest.mark.parametrize(
    ("label", "raw", "kwargs", "node", "path"), REJECTIONS, ids=[r[0] for r in REJECTIONS]
)
def test_rejections_name_node_and_json_path(
    label: str, raw: dict[str, Any], kwargs: dict[str, Any], node: str | None, path: str
) -> None:
    with pytest.raises(SpecError) as info:
        S.load_spec(raw, **kwargs)
    err = info.value
    assert path in str(err)
    assert str(err).count("\n") == 0
    if node is not None:
        assert err.node == node
        assert repr(node) in str(err)


def test_cycle_error_lists_its_nodes() -> None:
    raw = make_spec(
        [base(), plugin("p"), plugin("q"), plugin("r")],
        [
            {"source": 0, "target": 1},
            {"source": 1, "target": 2},
            {"source": 2, "target": 3},
            {"source": 3, "target": 1},
        ],
    )
    with pytest.raises(SpecError) as info:
        S.load_spec(raw)
    assert set(info.value.context["cycle"]) == {"p", "q", "r"}
    for node in ("p", "q", "r"):
        assert node in str(info.value)


def test_errors_from_a_file_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(chain(base(), {"op_type": "Teleport", "id": "t"})))
    with pytest.raises(SpecError) as info:
        S.load_spec(path)
    assert str(path) in str(info.value) and "nodes[1].op_type" in str(info.value)
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{nodes: ")
    with pytest.raises(SpecError, match="not valid JSON"):
        S.load_spec(bad_json)


def test_extension_auto_detection() -> None:
    spec = S.load_spec(chain({"op_type": "NodeAttachment", "id": "0"}, plugin("1")), extension=None)
    assert spec.is_extension and spec.base_node() == "0"
    with pytest.raises(SpecError, match="BaseSelection is not allowed"):
        S.load_spec(make_spec([{"op_type": "NodeAttachment", "id": "0"}, base("1")], []), extension=True)
