"""Argument selection: every argument type, substitutions, post-processors and the allow-list."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from masksmith.batch.selectors import (
    ArgumentContext,
    apply_function,
    check_function_name,
    draw_parameter,
    format_value,
    register_spec_function,
    resolve_argument,
)
from masksmith.batch.spec import load_spec
from masksmith.errors import SpecError
from masksmith.operations import default_catalogue

GLOBALS = {"subject": "person", "kernel": "7", "coco.index": {"a": 1}, "ratio": 2331.234}
LOCAL = {"sel": {"box_x": 12, "output": "/tmp/mask.png", "positions": {"type": "list", "values": [4, 5]}}}


def _ctx(**extra: Any) -> ArgumentContext:
    values: dict[str, Any] = {
        "node": "n",
        "rng": np.random.default_rng(0),
        "globals": GLOBALS,
        "local": LOCAL,
        "image_file": lambda source: f"/img/{source}.png",
        "mask_file": lambda source, target, invert: f"/mask/{source}-{target}-{invert}.png",
        "donor_node": lambda source: f"journal-{source}",
    }
    values.update(extra)
    return ArgumentContext(**values)


register_spec_function("test_kernel_builder", lambda params: int(params["kernel_size"]) * 2)
register_spec_function("test_counter", lambda params, state: state.setdefault("n", len(state)) + 1)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("plain", "plain"),
        (5, 5),
        ({"type": "value", "value": "yes"}, "yes"),
        ({"type": "value", "value": "{subject}"}, "person"),
        ({"type": "value", "value": "{box_x@sel}"}, "12"),
        ({"type": "value", "value": "{ratio:,.2f}"}, "2,331.23"),
        ({"type": "value", "value": "{box_x@sel:04d}"}, "0012"),
        (
            {"type": "value", "value": {"name": "{subject}", "where": ["{kernel}", 3]}},
            {"name": "person", "where": ["7", 3]},
        ),
        ({"type": "value", "value": "{kernel}", "function": "numpy.int"}, 7),
        ({"type": "value", "value": "{kernel}", "function": "float"}, 7.0),
        ({"type": "global", "name": "coco.index"}, {"a": 1}),
        ({"type": "value", "value": "{coco.index}"}, "{'a': 1}"),
        ({"type": "variable", "source": "sel", "name": "box_x"}, 12),
        ({"type": "input", "source": "sel"}, "/tmp/mask.png"),
        ({"type": "imagefile", "source": "4"}, "/img/4.png"),
        ({"type": "mask", "source": "4", "invert": True}, "/mask/4-None-True.png"),
        ({"type": "mask", "source": "3", "target": "4"}, "/mask/3-4-False.png"),
        ({"type": "donor", "source": "3"}, "journal-3"),
        ({"type": "donor"}, "journal-None"),
        ({"type": "plugin", "name": "test_kernel_builder", "parameters": {"kernel_size": "{kernel}"}}, 14),
    ],
)
def test_fixed_argument_types(raw: Any, expected: Any) -> None:
    assert resolve_argument("arg", raw, _ctx()) == expected


@pytest.mark.parametrize(
    ("raw", "allowed"),
    [
        ({"type": "int[1:4]"}, set(range(1, 5))),
        ({"type": "int[10:20:5]"}, {10, 15, 20}),
        ({"type": "int[1:2,8:9]"}, {1, 2, 8, 9}),
        ({"type": "float[0.04:0.2:0.04]"}, {0.04, 0.08, 0.12, 0.16, 0.2}),
        ({"type": "yesno"}, {"yes", "no"}),
        ({"type": "list", "values": ["other", "landscape"]}, {"other", "landscape"}),
        ({"type": "list", "values": ["{subject}", "x"]}, {"person", "x"}),
    ],
)
def test_random_types_stay_in_range_and_cover_it(raw: dict[str, Any], allowed: set[Any]) -> None:
    ctx = _ctx(rng=np.random.default_rng(11))
    seen = {resolve_argument("a", raw, ctx) for _ in range(300)}
    assert seen == allowed


def test_unstepped_float_is_uniform_within_bounds() -> None:
    ctx = _ctx(rng=np.random.default_rng(2))
    draws = [resolve_argument("a", {"type": "float[0.5:1.5]"}, ctx) for _ in range(500)]
    assert all(0.5 <= d <= 1.5 for d in draws)
    assert np.std(draws) > 0.2  # uniform spread, not a point


def test_same_seed_same_choices() -> None:
    raw = {"type": "int[1:1000]"}
    first_ctx, again_ctx = _ctx(rng=np.random.default_rng(9)), _ctx(rng=np.random.default_rng(9))
    first = [resolve_argument("a", raw, first_ctx) for _ in range(20)]
    again = [resolve_argument("a", raw, again_ctx) for _ in range(20)]
    assert first == again and len(set(first)) > 10


def test_permuted_value_wins_over_random_draw() -> None:
    ctx = _ctx(permuted={"n.x": 3})
    assert resolve_argument("x", {"type": "int[1:100]", "permutegroup": "g"}, ctx) == 3


def test_permuted_variable_registers_plugin_values() -> None:
    calls: list[tuple[str, str, list[Any]]] = []

    def register(group: str, element: str, values: list[Any]) -> Any:
        calls.append((group, element, values))
        return values[0]

    ctx = _ctx(register_permuted=register)
    raw = {"type": "variable", "source": "sel", "name": "positions", "permutegroup": "image"}
    assert resolve_argument("crop_x", raw, ctx) == 4
    assert calls == [("image", "n.crop_x", [4, 5])]


def test_plugin_function_with_state_keeps_state_per_project() -> None:
    ctx = _ctx()
    raw = {"type": "plugin", "name": "test_counter", "state_name": "s"}
    assert resolve_argument("a", raw, ctx) == 1
    assert ctx.function_state["s"] == {"n": 0}


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ({"type": "value", "value": "{nope}"}, "no global variable 'nope'"),
        ({"type": "value", "value": "{x@ghost}"}, "node 'ghost' has not run"),
        ({"type": "value", "value": "{missing@sel}"}, "has no variable 'missing'"),
        ({"type": "variable", "source": "sel", "name": "nothing"}, "missing variable 'nothing'"),
        ({"type": "global", "name": "nope"}, "no global variable 'nope'"),
        ({"type": "plugin", "name": "not_registered"}, "not registered"),
        ({"type": "value", "value": "1", "function": "math.sqrt"}, "not allowed"),
        ({"type": "value", "value": "x", "function": "int"}, "failed on 'x'"),
    ],
)
def test_resolution_errors_name_node_and_argument(raw: dict[str, Any], fragment: str) -> None:
    with pytest.raises(SpecError) as info:
        resolve_argument("arg", raw, _ctx())
    assert fragment in str(info.value)
    assert info.value.node == "n" and info.value.argument == "arg"


def test_format_fields_cannot_reach_attributes() -> None:
    # A dotted field is one key: '{subject.__class__}' is looked up as a name and is not found.
    with pytest.raises(SpecError, match="no global variable"):
        format_value("{subject.__class__}", GLOBALS, {}, node="n")


@pytest.mark.parametrize(
    "name", ["os.system", "subprocess.run", "builtins.eval", "eval", "numpy.load", "math.sqrt"]
)
def test_functions_outside_the_allow_list_are_refused(name: str) -> None:
    with pytest.raises(SpecError, match="not allowed"):
        check_function_name(name, node="n", argument="a")
    with pytest.raises(SpecError):
        apply_function(name, "1")


def test_spec_naming_os_system_is_refused_before_anything_runs(tmp_path: Any) -> None:
    from masksmith.batch.project import BatchProject

    raw = {
        "graph": {"name": "x"},
        "nodes": [
            {"id": "b", "op_type": "BaseSelection", "image_directory": str(tmp_path)},
            {
                "id": "p",
                "op_type": "PluginOperation",
                "plugin": "X",
                "arguments": {"a": {"type": "value", "value": "rm -rf /", "function": "os.system"}},
            },
        ],
        "links": [{"source": "b", "target": "p"}],
    }
    with pytest.raises(SpecError) as info:
        BatchProject(raw, known_plugins=["X"])
    assert info.value.node == "p"
    raw["nodes"][1]["arguments"]["a"]["function"] = "numpy.fromfile"
    with pytest.raises(SpecError, match="not allowed"):
        BatchProject(raw, known_plugins=["X"])
    assert load_spec(raw, require_project_fields=False).node("p")  # the loader itself only checks syntax


@pytest.mark.parametrize(
    ("op", "param"), [("Blur", "Blur Type"), ("OutputPng", "Image Rotated"), ("PasteSplice", "purpose")]
)
def test_draw_parameter_uses_catalogue_type(op: str, param: str) -> None:
    definition = default_catalogue().get(op).mandatory[param]
    rng = np.random.default_rng(4)
    values = {draw_parameter(definition, rng) for _ in range(60)}
    options = set(definition.values) or {"yes", "no"}
    assert values <= options and len(values) > 1
