"""Argument selection: spec argument types → concrete values for one project (seed §3.6, §3.6.1).

Random choices come only from the injected ``numpy.random.Generator``. Strings are formatted with
substitutions (``{name}`` from the global state, ``{name@node}`` from a node's local state, full
format-spec syntax, nested dicts and lists). The ``function`` post-processor and ``plugin`` argument
type resolve names only from an allow-list of converters plus functions registered under the entry
point group ``masksmith.specs`` (or with :func:`register_spec_function`): a specification can never
name arbitrary code.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import json
import math
import re
import string
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np

from masksmith.batch.spec import (
    ArgumentBase,
    DonorArg,
    FloatRangeArg,
    GlobalArg,
    ImageFileArg,
    InputArg,
    IntRangeArg,
    ListArg,
    MaskArg,
    PluginArg,
    ValueArg,
    VariableArg,
    YesNoArg,
    parse_argument,
)
from masksmith.errors import OperationError, SpecError
from masksmith.operations import Parameter, draw_random

__all__ = [
    "CONVERTERS",
    "SPEC_FUNCTION_GROUP",
    "ArgumentContext",
    "SubstitutionFormatter",
    "apply_function",
    "check_function_name",
    "draw_parameter",
    "format_value",
    "register_spec_function",
    "resolve_argument",
    "spec_function",
    "spec_functions",
]

SPEC_FUNCTION_GROUP = "masksmith.specs"
"""Entry point group of functions a spec may call (``plugin`` type and ``function`` post-processor)."""


def _yes_no(value: Any) -> str:
    text = str(value).strip().lower()
    if text in ("yes", "true", "y", "1"):
        return "yes"
    if text in ("no", "false", "n", "0", ""):
        return "no"
    raise ValueError(f"{value!r} is not yes or no")


def _to_bool(value: Any) -> bool:
    return _yes_no(value) == "yes"


def _to_int(value: Any) -> int:
    if isinstance(value, str):
        value = value.strip()
        return int(float(value)) if any(c in value for c in ".eE") else int(value)
    return int(value)


CONVERTERS: Mapping[str, Callable[[Any], Any]] = {
    "int": _to_int,
    "float": float,
    "str": str,
    "bool": _to_bool,
    "yesno": _yes_no,
    "round": round,
    "abs": abs,
    "math.floor": math.floor,
    "math.ceil": math.ceil,
    "json.loads": json.loads,
    "numpy.int": _to_int,
    "numpy.float": float,
    "numpy.bool": _to_bool,
    "numpy.str": str,
    **{f"numpy.{n}": (lambda t: lambda v: t(_to_int(v)).item())(getattr(np, n)) for n in (
        "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"
    )},
    **{f"numpy.{n}": (lambda t: lambda v: t(float(v)).item())(getattr(np, n)) for n in (
        "float16", "float32", "float64"
    )},
}  # fmt: skip
"""Converters a spec's ``function`` may name without registration (the original's ``numpy.int`` etc.)."""

_registered: dict[str, Callable[..., Any]] = {}
_registered_lock = threading.Lock()


def register_spec_function(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """Allow ``name`` in specs (``plugin`` arguments and ``function``); for the Python API and tests."""
    if not callable(function):
        raise SpecError(f"spec function {name!r} is not callable")
    with _registered_lock:
        _registered[name] = function
    return function


@cache
def _entry_point_functions() -> dict[str, Callable[..., Any]]:
    found: dict[str, Callable[..., Any]] = {}
    for entry in importlib.metadata.entry_points(group=SPEC_FUNCTION_GROUP):
        try:
            found[entry.name] = entry.load()
        except Exception as exc:  # a broken third-party package must name itself
            raise SpecError(f"spec function entry point {entry.name!r} failed to load: {exc}") from exc
    return found


def spec_functions() -> dict[str, Callable[..., Any]]:
    """Registered spec functions: entry points of ``masksmith.specs`` plus run-time registrations."""
    with _registered_lock:
        return {**_entry_point_functions(), **_registered}


def spec_function(name: str, *, node: str | None = None, argument: str | None = None) -> Callable[..., Any]:
    """The registered function ``name``; SpecError when it is not registered."""
    functions = spec_functions()
    if name not in functions:
        raise SpecError(
            f"spec function {name!r} is not registered (entry point group {SPEC_FUNCTION_GROUP!r})",
            node=node,
            argument=argument,
        )
    return functions[name]


def check_function_name(name: str, *, node: str | None = None, argument: str | None = None) -> None:
    """Refuse a ``function`` post-processor that is neither an allowed converter nor registered."""
    if name in CONVERTERS or name in spec_functions():
        return
    raise SpecError(
        f"function {name!r} is not allowed: use one of {', '.join(sorted(CONVERTERS))} "
        f"or a function registered under {SPEC_FUNCTION_GROUP!r}",
        node=node,
        argument=argument,
    )


def apply_function(name: str, value: Any, *, node: str | None = None, argument: str | None = None) -> Any:
    """Apply the post-processor ``name`` (allow-listed converter or registered function) to ``value``."""
    check_function_name(name, node=node, argument=argument)
    function = CONVERTERS.get(name) or spec_functions()[name]
    try:
        return function(value)
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise SpecError(
            f"function {name!r} failed on {value!r}: {exc}", node=node, argument=argument
        ) from None


MAX_FORMAT_WIDTH = 1000
"""The largest width or precision a substitution's format spec may ask for."""


class SubstitutionFormatter(string.Formatter):
    """``{name}`` from globals, ``{name@node}`` from a node's local state (split at the last ``@``).

    A field name is always one key: dots and brackets are part of the name (``{coco.index}``), never
    attribute or item access, so a format string cannot reach into objects.
    """

    def __init__(self, globals_: Mapping[str, Any], local: Mapping[str, Mapping[str, Any]]) -> None:
        super().__init__()
        self.globals = globals_
        self.local = local

    def get_field(self, field_name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        return self.get_value(field_name, args, kwargs), field_name

    def format_field(self, value: Any, format_spec: str) -> Any:
        # a width or precision such as {x:>1999999999} would build a string of that size
        for digits in re.findall(r"\d+", format_spec):
            if len(digits) > 6 or int(digits) > MAX_FORMAT_WIDTH:
                raise ValueError(
                    f"format width or precision {digits} in {format_spec!r} is over {MAX_FORMAT_WIDTH}"
                )
        return super().format_field(value, format_spec)

    def get_value(self, key: int | str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        name = str(key)
        if "@" in name:
            variable, node = name.rsplit("@", 1)
            state = self.local.get(node)
            if state is None:
                raise KeyError(f"{{{name}}}: node {node!r} has not run (no local state)")
            if variable not in state:
                raise KeyError(f"{{{name}}}: node {node!r} has no variable {variable!r}")
            return state[variable]
        if name not in self.globals:
            raise KeyError(f"{{{name}}}: no global variable {name!r}")
        return self.globals[name]


def format_value(
    value: Any,
    globals_: Mapping[str, Any],
    local: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    node: str | None = None,
    argument: str | None = None,
) -> Any:
    """Format every string in ``value`` (recursing into dicts and lists); other values pass unchanged."""
    formatter = SubstitutionFormatter(globals_, local or {})

    def walk(item: Any) -> Any:
        if isinstance(item, str):
            if "{" not in item:
                return item
            try:
                return formatter.vformat(item, (), {})
            except KeyError as exc:
                raise SpecError(f"substitution failed: {exc.args[0]}", node=node, argument=argument) from None
            except (ValueError, IndexError, TypeError) as exc:
                raise SpecError(
                    f"bad substitution in {item!r}: {exc}", node=node, argument=argument
                ) from None
        if isinstance(item, Mapping):
            return {k: walk(v) for k, v in item.items()}
        if isinstance(item, list | tuple):
            return [walk(v) for v in item]
        return item

    return walk(value)


@dataclass
class ArgumentContext:
    """Everything the selector needs from the running project.

    ``permuted`` maps ``<node>.<argument>`` to the value the argument's permute group holds for this
    project. ``register_permuted(group, element, values)`` adds a plugin-returned list to a group and
    returns its current value. The file callbacks give paths of what earlier spec nodes produced.
    """

    node: str
    rng: np.random.Generator
    globals: Mapping[str, Any]
    local: Mapping[str, Mapping[str, Any]]
    permuted: Mapping[str, Any] = field(default_factory=dict)
    register_permuted: Callable[[str, str, list[Any]], Any] | None = None
    image_file: Callable[[str], str] | None = None
    mask_file: Callable[[str, str | None, bool], str] | None = None
    donor_node: Callable[[str | None], str] | None = None
    function_state: dict[str, dict[str, Any]] = field(default_factory=dict)


def _need(
    callback: Callable[..., Any] | None, what: str, ctx: ArgumentContext, name: str
) -> Callable[..., Any]:
    if callback is None:
        raise SpecError(f"{what} arguments are not available here", node=ctx.node, argument=name)
    return callback


def _draw_int(arg: IntRangeArg, rng: np.random.Generator) -> int:
    chosen = arg.ranges[int(rng.integers(len(arg.ranges)))] if len(arg.ranges) > 1 else arg.ranges[0]
    if chosen.step == 1:
        return int(rng.integers(chosen.low, chosen.high + 1))
    grid = range(chosen.low, chosen.high + 1, chosen.step)
    return int(grid[int(rng.integers(len(grid)))])


def _draw_float(arg: FloatRangeArg, rng: np.random.Generator) -> float:
    if arg.step is None:
        return float(arg.low + rng.random() * (arg.high - arg.low))
    values = arg.values()
    return float(values[int(rng.integers(len(values)))])


def _state_of(ctx: ArgumentContext, source: str, name: str) -> Mapping[str, Any]:
    state = ctx.local.get(source)
    if state is None:
        raise SpecError(f"source node {source!r} has not run before this node", node=ctx.node, argument=name)
    return state


def resolve_argument(name: str, raw: ArgumentBase | object, ctx: ArgumentContext) -> Any:
    """The concrete value of argument ``name`` of node ``ctx.node`` for this project.

    ``donor`` arguments give the donor's journal node id (the project turns it into a file);
    ``imagefile``, ``input`` and ``mask`` give file paths.
    """
    arg = (
        raw if isinstance(raw, ArgumentBase) else parse_argument(raw, node=ctx.node, path=f"arguments.{name}")
    )
    element = f"{ctx.node}.{name}"
    value: Any
    if arg.permutegroup and element in ctx.permuted and not isinstance(arg, ValueArg | VariableArg):
        value = ctx.permuted[element]
        if isinstance(value, str):
            value = format_value(value, ctx.globals, None, node=ctx.node, argument=name)
    elif isinstance(arg, ValueArg):
        value = format_value(arg.value, ctx.globals, ctx.local, node=ctx.node, argument=name)
    elif isinstance(arg, GlobalArg):
        if arg.name not in ctx.globals:
            raise SpecError(f"no global variable {arg.name!r}", node=ctx.node, argument=name)
        value = ctx.globals[arg.name]
    elif isinstance(arg, VariableArg):
        value = _variable(name, arg, ctx)
    elif isinstance(arg, InputArg):
        state = _state_of(ctx, arg.source, name)
        if state.get("output") is None:
            raise SpecError(f"node {arg.source!r} produced no output file", node=ctx.node, argument=name)
        value = state["output"]
    elif isinstance(arg, ImageFileArg):
        value = _need(ctx.image_file, "imagefile", ctx, name)(arg.source)
    elif isinstance(arg, MaskArg):
        value = _need(ctx.mask_file, "mask", ctx, name)(arg.source, arg.target, arg.invert)
    elif isinstance(arg, DonorArg):
        value = _need(ctx.donor_node, "donor", ctx, name)(arg.source)
    elif isinstance(arg, ListArg):
        values = arg.values()
        value = format_value(values[int(ctx.rng.integers(len(values)))], ctx.globals, None, node=ctx.node)
    elif isinstance(arg, IntRangeArg):
        value = _draw_int(arg, ctx.rng)
    elif isinstance(arg, FloatRangeArg):
        value = _draw_float(arg, ctx.rng)
    elif isinstance(arg, YesNoArg):
        value = ("yes", "no")[int(ctx.rng.integers(2))]
    elif isinstance(arg, PluginArg):
        value = _call_spec_function(name, arg, ctx)
    else:  # pragma: no cover - the spec loader knows every kind
        raise SpecError(f"argument type {arg.type!r} cannot be selected", node=ctx.node, argument=name)
    if arg.function:
        value = apply_function(arg.function, value, node=ctx.node, argument=name)
    return value


def _variable(name: str, arg: VariableArg, ctx: ArgumentContext) -> Any:
    state = _state_of(ctx, arg.source, name)
    value = state.get(arg.name)
    if value is None:
        raise SpecError(
            f"missing variable {arg.name!r} from node {arg.source!r}", node=ctx.node, argument=name
        )
    if not arg.permutegroup:
        return value
    # A plugin returned the values to permute over: an argument spec ({"type": "list", ...}) or a list.
    if isinstance(value, Mapping) and "type" in value:
        values = parse_argument(dict(value), node=ctx.node, path=f"arguments.{name}").values()
    elif isinstance(value, list | tuple):
        values = list(value)
    else:
        values = [value]
    register = _need(ctx.register_permuted, "permuted variable", ctx, name)
    return register(arg.permutegroup, f"{ctx.node}.{name}", values)


def _call_spec_function(name: str, arg: PluginArg, ctx: ArgumentContext) -> Any:
    function = spec_function(arg.name, node=ctx.node, argument=name)
    parameters = format_value(arg.parameters or {}, ctx.globals, ctx.local, node=ctx.node, argument=name)
    extra: dict[str, Any] = {"rng": ctx.rng} if _accepts_rng(function) else {}
    if arg.state_name:
        return function(parameters, state=ctx.function_state.setdefault(arg.state_name, {}), **extra)
    return function(parameters, **extra)


def _accepts_rng(function: Callable[..., Any]) -> bool:
    """Whether a spec function takes the project's generator as ``rng=`` (so its draws are seeded)."""
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
    return "rng" in parameters or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())


def draw_parameter(param: Parameter, rng: np.random.Generator) -> Any:
    """A random value for an operation parameter the spec left unset; its default when not drawable."""
    if param.type.is_drawable and (param.type.ranges or param.type.kind.value not in ("int", "float")):
        try:
            return draw_random(param, rng, media_type="image")
        except OperationError:  # an undrawable declaration (e.g. an empty list) falls back to the default
            return param.default
    return param.default
