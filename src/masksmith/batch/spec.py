"""Batch specifications: load, validate and model the JT batch spec (networkx node-link JSON).

A spec is a DAG of operation nodes. Loading accepts a file path, a node-link dict or a networkx graph,
remaps links that name nodes by id string (integers stay list positions, as networkx 1.x wrote them),
parses every node and argument into a pydantic model and rejects broken specs with a ``SpecError``
naming the node id and the JSON path of the offending value.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

import networkx as nx
from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from masksmith.batch.jt_plugins import unknown_plugin_reason
from masksmith.errors import SpecError

__all__ = [
    "ARGUMENT_KINDS",
    "GLOBAL_GROUP",
    "MODEL_KEY",
    "OP_TYPES",
    "SELECTION_OP_TYPES",
    "ArgumentBase",
    "ArgumentSpec",
    "BaseSelection",
    "BatchSpec",
    "DonorArg",
    "FloatRangeArg",
    "GlobalArg",
    "GraphSection",
    "ImageFileArg",
    "ImageSelection",
    "ImageSelectionPluginOperation",
    "InputArg",
    "InputMaskPluginOperation",
    "IntRange",
    "IntRangeArg",
    "ListArg",
    "MaskArg",
    "NodeAttachment",
    "NodeSpec",
    "PermuteMember",
    "PluginArg",
    "PluginNode",
    "PluginOperation",
    "PreProcessedMediaOperation",
    "SelectionNode",
    "SpecDocument",
    "SpecLink",
    "SpecNode",
    "ValueArg",
    "VariableArg",
    "YesNoArg",
    "argument_kind",
    "load_spec",
    "parse_argument",
]

MODEL_KEY = "spec_model"
"""Node attribute of ``BatchSpec.graph`` holding the parsed node model (the others are the raw dict)."""

GLOBAL_GROUP = "__global__"
"""Name the original gave to elements outside any named permute group."""

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_DOTTED = re.compile(rf"^{_IDENT}(\.{_IDENT})*$")
# Modules and callables a post-processing `function` may never name, whatever the allow-list says later.
_UNSAFE_ROOTS = frozenset(
    {
        *("os", "sys", "subprocess", "shutil", "builtins", "importlib", "pickle", "marshal", "socket"),
        *("ctypes", "pty", "posix", "nt", "io", "code", "codeop", "runpy", "pathlib", "tempfile"),
        *("multiprocessing", "threading", "signal", "eval", "exec", "compile", "open", "input"),
        *("getattr", "setattr", "delattr", "globals", "locals", "vars", "breakpoint"),
    }
)
_INT_TYPE = re.compile(r"^int\[(?P<body>[^\]]+)\]$")
_FLOAT_TYPE = re.compile(r"^float\[(?P<body>[^\]]+)\]$")
_NUMBER = r"\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\s*"
_FLOAT_BODY = re.compile(rf"^(?P<lo>{_NUMBER}):(?P<hi>{_NUMBER})(?::(?P<step>{_NUMBER}))?$")
_INT_PART = re.compile(r"^\s*(?P<lo>[-+]?\d+)\s*:\s*(?P<hi>[-+]?\d+)\s*(?::\s*(?P<step>[-+]?\d+)\s*)?$")


# --------------------------------------------------------------------------------------------------
# Argument specifications (§3.6)
# --------------------------------------------------------------------------------------------------


def _strip_group(value: Any) -> Any:
    """Permute group names are compared stripped: the seed's own example writes " example_group "."""
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def _check_function_name(value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, str) or not _DOTTED.match(value):
        raise ValueError(f"function must be a dotted name such as 'numpy.int', got {value!r}")
    parts = value.split(".")
    if any(part.startswith("_") for part in parts) or parts[0] in _UNSAFE_ROOTS or parts[-1] in _UNSAFE_ROOTS:
        raise ValueError(f"function {value!r} is not allowed as a post-processor")
    return value


class ArgumentBase(BaseModel):
    """Fields every argument type shares; unknown keys are kept for forward compatibility."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)
    kind: ClassVar[str]
    iterable: ClassVar[bool] = False

    type: str
    permutegroup: Annotated[str | None, BeforeValidator(_strip_group)] = Field(
        default=None, validation_alias=AliasChoices("permutegroup", "permute_group")
    )
    function: Annotated[str | None, BeforeValidator(_check_function_name)] = None
    description: str | None = None

    def values(self) -> list[Any]:
        """Every value this argument can take, in iteration order (for permute groups)."""
        raise TypeError(f"argument type {self.type!r} has no fixed list of values")


class ValueArg(ArgumentBase):
    """A fixed value; strings (also inside dicts) are formatted with substitutions later."""

    kind: ClassVar[str] = "value"
    type: Literal["value"] = "value"
    value: Any = None

    def values(self) -> list[Any]:
        return [self.value]


class ImageFileArg(ArgumentBase):
    """The image file produced by spec node ``source``."""

    kind: ClassVar[str] = "imagefile"
    type: Literal["imagefile"]
    source: str


class GlobalArg(ArgumentBase):
    """A value from the global state (``--global_variables``, initialisers)."""

    kind: ClassVar[str] = "global"
    type: Annotated[str, Field(pattern=r"^global")]
    name: str


class MaskArg(ArgumentBase):
    """Change mask of the edge into spec node ``target`` (from ``source``); ``invert``: 255 = changed."""

    kind: ClassVar[str] = "mask"
    type: Literal["mask"]
    source: str
    target: str | None = None
    invert: bool = False


class DonorArg(ArgumentBase):
    """The image of a predecessor node used as donor; ``source`` optional, ``"base"`` = the base node."""

    kind: ClassVar[str] = "donor"
    type: Literal["donor"]
    source: str | None = None


class ListArg(ArgumentBase):
    """A random pick from ``values``, or ordered iteration inside a permute group."""

    kind: ClassVar[str] = "list"
    iterable: ClassVar[bool] = True
    type: Literal["list"]
    values_: list[Any] = Field(alias="values", min_length=1)

    def values(self) -> list[Any]:
        return list(self.values_)


class VariableArg(ArgumentBase):
    """Name/value pair ``name`` from the local state of spec node ``source``."""

    kind: ClassVar[str] = "variable"
    type: Literal["variable"]
    source: str
    name: str


class InputArg(ArgumentBase):
    """The output file (e.g. input mask) of spec node ``source``."""

    kind: ClassVar[str] = "input"
    type: Literal["input"]
    source: str


class PluginArg(ArgumentBase):
    """Value computed by a registered spec function ``name`` called with ``parameters``."""

    kind: ClassVar[str] = "plugin"
    type: Literal["plugin"]
    name: str
    parameters: dict[str, Any] | list[Any] | None = None
    state_name: str | None = None


_INT64_MAX = 2**63 - 1
MAX_PERMUTED_VALUES = 1_000_000
"""The most values one argument of a permute group may iterate over (the odometer lists them)."""


def _check_permuted_count(arg: ArgumentBase, count: int) -> None:
    if arg.permutegroup and count > MAX_PERMUTED_VALUES:
        raise ValueError(
            f"{arg.type!r} has {count} values, too many to permute (at most {MAX_PERMUTED_VALUES})"
        )


class IntRange(BaseModel):
    """One inclusive integer range ``low..high`` by ``step``."""

    model_config = ConfigDict(frozen=True)
    low: int
    high: int
    step: int = 1

    def values(self) -> list[int]:
        return list(range(self.low, self.high + 1, self.step))

    def count(self) -> int:
        return (self.high - self.low) // self.step + 1


def _parse_int_ranges(type_: str) -> list[dict[str, int]]:
    match = _INT_TYPE.match(type_)
    if match is None:
        raise ValueError(f"expected int[low:high] or int[low:high:step], got {type_!r}")
    ranges = []
    for part in match.group("body").split(","):
        bounds = _INT_PART.match(part)
        if bounds is None:
            raise ValueError(f"bad integer range {part!r} in {type_!r}")
        low, high = int(bounds.group("lo")), int(bounds.group("hi"))
        step = int(bounds.group("step")) if bounds.group("step") else 1
        if step <= 0 or low > high:
            raise ValueError(f"integer range {part!r} needs low <= high and step > 0")
        if max(abs(low), abs(high), step) > _INT64_MAX:
            raise ValueError(f"integer range {part!r} goes beyond 64-bit integers")
        ranges.append({"low": low, "high": high, "step": step})
    return ranges


def _parse_float_range(type_: str) -> tuple[float, float, float | None]:
    match = _FLOAT_TYPE.match(type_)
    body = _FLOAT_BODY.match(match.group("body")) if match else None
    if body is None:
        raise ValueError(f"expected float[low:high] or float[low:high:step], got {type_!r}")
    low, high = float(body.group("lo")), float(body.group("hi"))
    step = float(body.group("step")) if body.group("step") else None
    if not all(math.isfinite(v) for v in (low, high, step if step is not None else 0.0)):
        raise ValueError(f"float range {type_!r} needs finite bounds and step")
    if low > high or (step is not None and step <= 0):
        raise ValueError(f"float range {type_!r} needs low <= high and step > 0")
    return low, high, step


class IntRangeArg(ArgumentBase):
    """``int[a:b]``, ``int[a:b:step]`` or several ranges ``int[a:b,c:d]``; bounds inclusive."""

    kind: ClassVar[str] = "int"
    iterable: ClassVar[bool] = True
    type: Annotated[str, Field(pattern=r"^int\[[^\]]+\]$")]
    ranges: tuple[IntRange, ...] = ()

    @field_validator("type")
    @classmethod
    def _check_type(cls, value: str) -> str:
        _parse_int_ranges(value)
        return value

    @model_validator(mode="before")
    @classmethod
    def _parse_type(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        try:
            return {**data, "ranges": _parse_int_ranges(str(data.get("type", "")))}
        except ValueError:
            return data  # reported against "type" by _check_type

    @property
    def low(self) -> int:
        return self.ranges[0].low

    @property
    def high(self) -> int:
        return self.ranges[-1].high

    @property
    def step(self) -> int:
        return self.ranges[0].step

    @model_validator(mode="after")
    def _check_permuted(self) -> IntRangeArg:
        _check_permuted_count(self, sum(r.count() for r in self.ranges))
        return self

    def values(self) -> list[Any]:
        return [v for r in self.ranges for v in r.values()]


class FloatRangeArg(ArgumentBase):
    """``float[a:b]`` or ``float[a:b:step]``; iteration includes ``b`` when a step lands on it."""

    kind: ClassVar[str] = "float"
    iterable: ClassVar[bool] = True
    type: Annotated[str, Field(pattern=r"^float\[[^\]]+\]$")]
    low: float = 0.0
    high: float = 0.0
    step: float | None = None

    @field_validator("type")
    @classmethod
    def _check_type(cls, value: str) -> str:
        _parse_float_range(value)
        return value

    @model_validator(mode="before")
    @classmethod
    def _parse_type(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        try:
            low, high, step = _parse_float_range(str(data.get("type", "")))
        except ValueError:
            return data  # reported against "type" by _check_type
        return {**data, "low": low, "high": high, "step": step}

    @model_validator(mode="after")
    def _check_permuted(self) -> FloatRangeArg:
        _check_permuted_count(self, self.count())
        return self

    def count(self) -> int:
        step = 1.0 if self.step is None else self.step
        try:
            return math.floor((self.high - self.low) / step + 1e-9) + 1
        except (OverflowError, ValueError):
            return MAX_PERMUTED_VALUES + 1  # infinite or not a number: never iterable

    def values(self) -> list[Any]:
        step = 1.0 if self.step is None else self.step
        count = self.count()
        # Rounding removes float noise such as 0.04 + 3 * 0.02 = 0.09999999999999999.
        return [round(self.low + k * step, 12) for k in range(count)]


class YesNoArg(ArgumentBase):
    """``yes`` or ``no``."""

    kind: ClassVar[str] = "yesno"
    iterable: ClassVar[bool] = True
    type: Literal["yesno"]

    def values(self) -> list[Any]:
        return ["yes", "no"]


_ARG_CLASSES: dict[str, type[ArgumentBase]] = {
    cls.kind: cls
    for cls in (
        ValueArg,
        ImageFileArg,
        GlobalArg,
        MaskArg,
        DonorArg,
        ListArg,
        VariableArg,
        InputArg,
        PluginArg,
        IntRangeArg,
        FloatRangeArg,
        YesNoArg,
    )
}
ARGUMENT_KINDS: tuple[str, ...] = tuple(_ARG_CLASSES)


def _shorthand(value: Any) -> Any:
    """A bare (non-dict) argument is shorthand for ``{"type": "value", "value": X}``."""
    if isinstance(value, BaseModel) or (isinstance(value, dict) and "type" in value):
        return value
    if isinstance(value, dict):
        return value  # a dict without "type" is an error reported by the discriminator
    return {"type": "value", "value": value}


def argument_kind(spec: Any) -> str | None:
    """The kind (``value``, ``int``, ``float``, ``list`` ...) of a raw or parsed argument; None if unknown."""
    if isinstance(spec, ArgumentBase):
        return spec.kind
    if not isinstance(spec, dict):
        return "value"
    type_ = spec.get("type")
    if not isinstance(type_, str):
        return None
    if type_ in _ARG_CLASSES and type_ not in ("int", "float"):
        return type_
    if type_.startswith("global"):
        return "global"
    if type_.startswith("int["):
        return "int"
    if type_.startswith("float["):
        return "float"
    return None


ArgumentSpec = Annotated[
    Annotated[
        Annotated[ValueArg, Tag("value")]
        | Annotated[ImageFileArg, Tag("imagefile")]
        | Annotated[GlobalArg, Tag("global")]
        | Annotated[MaskArg, Tag("mask")]
        | Annotated[DonorArg, Tag("donor")]
        | Annotated[ListArg, Tag("list")]
        | Annotated[VariableArg, Tag("variable")]
        | Annotated[InputArg, Tag("input")]
        | Annotated[PluginArg, Tag("plugin")]
        | Annotated[IntRangeArg, Tag("int")]
        | Annotated[FloatRangeArg, Tag("float")]
        | Annotated[YesNoArg, Tag("yesno")],
        Discriminator(argument_kind),
    ],
    BeforeValidator(_shorthand),
]
_ARGUMENT_ADAPTER: TypeAdapter[Any] = TypeAdapter(ArgumentSpec)


def parse_argument(raw: Any, *, node: str | None = None, path: str = "argument") -> ArgumentBase:
    """Parse one raw argument spec (dict or bare value) into its typed model; SpecError when invalid."""
    kind = argument_kind(raw)
    if kind is None:
        _raise_unknown_argument(raw, node=node, path=path)
    try:
        parsed: ArgumentBase = _ARGUMENT_ADAPTER.validate_python(raw)
    except ValidationError as exc:
        raise _spec_error_from(exc, node=node, prefix=path, strip_tag_at=0) from None
    return parsed


def _raise_unknown_argument(raw: Any, *, node: str | None, path: str) -> None:
    type_ = raw.get("type") if isinstance(raw, dict) else None
    what = "missing 'type'" if type_ is None else f"unknown argument type {type_!r}"
    known = ", ".join([*(k for k in ARGUMENT_KINDS if k not in ("int", "float")), "int[a:b]", "float[a:b]"])
    raise SpecError(f"{path}.type: {what} (known: {known})", node=node, path=f"{path}.type")


# --------------------------------------------------------------------------------------------------
# Nodes (§3.3)
# --------------------------------------------------------------------------------------------------


def _as_str(value: Any) -> Any:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class SpecNode(BaseModel):
    """Fields every node may carry; unknown keys are kept."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)
    op_type: str
    id: Annotated[str, BeforeValidator(_as_str)]
    description: str | None = None
    source: Annotated[str | None, BeforeValidator(_as_str)] = None
    global_: bool = Field(default=False, alias="global")
    permutegroup: Annotated[str | None, BeforeValidator(_strip_group)] = Field(
        default=None, validation_alias=AliasChoices("permutegroup", "permute_group")
    )

    @property
    def argument_specs(self) -> dict[str, ArgumentBase]:
        """Typed argument specs (empty for node types whose arguments are plain attributes)."""
        return {}


class SelectionNode(SpecNode):
    image_directory: str | None = None
    filetypes: list[str] | None = None
    files: list[str] | None = None
    picklist: Annotated[str | None, BeforeValidator(_as_str)] = None
    timestamp_name: bool = Field(
        default=False, validation_alias=AliasChoices("timestamp name", "timestamp_name")
    )
    prnu: Any = None
    cgi: Any = None
    # Selection arguments are copied onto the journal's media node as attributes, not resolved.
    arguments: dict[str, Any] = Field(default_factory=dict)

    @field_validator("filetypes", mode="before")
    @classmethod
    def _filetypes_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list):
            return [str(v).lstrip(".").lower() for v in value]
        return value

    @model_validator(mode="after")
    def _has_pool(self) -> SelectionNode:
        if not self.image_directory and not self.files:
            raise ValueError("needs 'image_directory' or 'files' to select from")
        return self

    @property
    def picklist_name(self) -> str:
        """The picklist file stem; defaults to the node id, making the picklist private to this node."""
        return self.picklist or self.id


class BaseSelection(SelectionNode):
    """Picks the base image that starts (and names) a project; exactly one per creation spec."""

    op_type: Literal["BaseSelection"] = "BaseSelection"


class ImageSelection(SelectionNode):
    """Picks a further (usually donor) image from a pool or from ``files``."""

    op_type: Literal["ImageSelection"] = "ImageSelection"


class PluginNode(SpecNode):
    plugin: str
    arguments: dict[str, ArgumentSpec] = Field(default_factory=dict)
    experiment_id: Annotated[str | None, BeforeValidator(_as_str)] = None
    semanticGroups: list[str] | None = Field(
        default=None, validation_alias=AliasChoices("semanticGroups", "semanticgroups")
    )
    usebaseimage: bool = False
    skip_donor_analysis: bool = False

    @property
    def argument_specs(self) -> dict[str, ArgumentBase]:
        return dict(self.arguments)

    @property
    def plugin_name(self) -> str:
        """The plugin to run: ``plugin`` without a ``::Variant`` suffix."""
        return self.plugin.split("::", 1)[0]

    @property
    def variant(self) -> str | None:
        """``Variant`` of ``Plugin::Variant``: the operation is recorded as ``<catalogue name>::Variant``."""
        return self.plugin.split("::", 1)[1] if "::" in self.plugin else None


class PluginOperation(PluginNode):
    """Runs a plugin on the connect-to predecessor's image, adding a media node and an edge."""

    op_type: Literal["PluginOperation"] = "PluginOperation"


class InputMaskPluginOperation(PluginNode):
    """Runs a selector plugin producing an input mask and name/value pairs; adds no media node."""

    op_type: Literal["InputMaskPluginOperation"] = "InputMaskPluginOperation"


class ImageSelectionPluginOperation(PluginNode):
    """Runs a plugin that returns ``{'file': path}``, an image added to the journal."""

    op_type: Literal["ImageSelectionPluginOperation", "InputSelectionPluginOperation"] = (
        "ImageSelectionPluginOperation"
    )


class NodeAttachment(SpecNode):
    """The attachment point of an extension spec: one existing journal node at a time."""

    op_type: Literal["NodeAttachment"] = "NodeAttachment"


class PreProcessedMediaOperation(SpecNode):
    """Media made outside the tool: a file in ``directory`` matched by name, arguments from a CSV."""

    op_type: Literal["PreProcessedMediaOperation"] = "PreProcessedMediaOperation"
    directory: str
    op: str
    category: str | None = None
    software: str | None = None
    software_version: Annotated[str | None, BeforeValidator(_as_str)] = Field(
        default=None, validation_alias=AliasChoices("software version", "softwareversion", "software_version")
    )
    argument_file: str | None = Field(
        default=None, validation_alias=AliasChoices("argument file", "argumentfile", "argument_file")
    )
    argument_names: list[str] = Field(
        default_factory=list,
        validation_alias=AliasChoices("argument names", "argumentnames", "argument_names"),
    )
    arguments: dict[str, ArgumentSpec] = Field(default_factory=dict)
    experiment_id: Annotated[str | None, BeforeValidator(_as_str)] = None
    semanticGroups: list[str] | None = Field(
        default=None, validation_alias=AliasChoices("semanticGroups", "semanticgroups")
    )
    usebaseimage: bool = False
    skip_donor_analysis: bool = False
    copy_: bool = Field(default=False, alias="copy")
    recordMaskInComposite: str | None = None

    @property
    def argument_specs(self) -> dict[str, ArgumentBase]:
        return dict(self.arguments)


_NODE_CLASSES: dict[str, type[SpecNode]] = {
    "BaseSelection": BaseSelection,
    "ImageSelection": ImageSelection,
    "PluginOperation": PluginOperation,
    "InputMaskPluginOperation": InputMaskPluginOperation,
    "ImageSelectionPluginOperation": ImageSelectionPluginOperation,
    "InputSelectionPluginOperation": ImageSelectionPluginOperation,
    "NodeAttachment": NodeAttachment,
    "PreProcessedMediaOperation": PreProcessedMediaOperation,
}
OP_TYPES: tuple[str, ...] = tuple(_NODE_CLASSES)
SELECTION_OP_TYPES: frozenset[str] = frozenset({"BaseSelection", "ImageSelection"})
_PLUGIN_CLASSES = (PluginOperation, InputMaskPluginOperation, ImageSelectionPluginOperation)


def _node_tag(value: Any) -> str | None:
    op_type = value.get("op_type") if isinstance(value, dict) else getattr(value, "op_type", None)
    if op_type == "InputSelectionPluginOperation":
        return "ImageSelectionPluginOperation"
    return op_type if op_type in _NODE_CLASSES else None


NodeSpec = Annotated[
    Annotated[BaseSelection, Tag("BaseSelection")]
    | Annotated[ImageSelection, Tag("ImageSelection")]
    | Annotated[PluginOperation, Tag("PluginOperation")]
    | Annotated[InputMaskPluginOperation, Tag("InputMaskPluginOperation")]
    | Annotated[ImageSelectionPluginOperation, Tag("ImageSelectionPluginOperation")]
    | Annotated[NodeAttachment, Tag("NodeAttachment")]
    | Annotated[PreProcessedMediaOperation, Tag("PreProcessedMediaOperation")],
    Discriminator(_node_tag),
]


# --------------------------------------------------------------------------------------------------
# Graph section and links (§3.1, §3.1.2)
# --------------------------------------------------------------------------------------------------


class GraphSection(BaseModel):
    """Project-wide properties; all but ``recompress``, ``name``, ``edgeFilePaths`` go to each journal."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)
    name: str | None = None
    username: str | None = None
    organization: str | None = None
    projectdescription: str | None = Field(
        default=None, validation_alias=AliasChoices("projectdescription", "projectDescription")
    )
    technicalsummary: str | None = Field(
        default=None, validation_alias=AliasChoices("technicalsummary", "technicalSummary")
    )
    semanticgroups: list[str] | None = Field(
        default=None, validation_alias=AliasChoices("semanticgroups", "semanticGroups")
    )
    recompress: bool = False
    rename: bool = True
    edgeFilePaths: list[str] = Field(
        default_factory=list, validation_alias=AliasChoices("edgeFilePaths", "edgefilepaths")
    )

    REQUIRED: ClassVar[tuple[str, ...]] = ("name", "organization", "projectdescription", "technicalsummary")

    def project_properties(self) -> dict[str, Any]:
        """Properties copied into every created journal's graph (original keys, as written in the spec)."""
        data = self.model_dump(exclude_none=True)
        for key in ("recompress", "name", "edgeFilePaths", "rename"):
            data.pop(key, None)
        return data


class SpecLink(BaseModel):
    """A dependency edge; ``donor`` marks a donor link, ``connect: false`` keeps it off connect-to."""

    model_config = ConfigDict(extra="allow", frozen=True)
    source: str
    target: str
    donor: bool = False
    connect: bool = True
    split: bool = False


class SpecDocument(BaseModel):
    """The whole specification file, for JSON Schema export."""

    model_config = ConfigDict(extra="allow")
    directed: bool = True
    multigraph: bool = False
    graph: GraphSection = Field(default_factory=GraphSection)
    nodes: list[NodeSpec]
    links: list[dict[str, Any]] = Field(
        default_factory=list,
        description="source/target name nodes by id string or by position in 'nodes' (networkx 1.x)",
    )


# --------------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------------


def _format_loc(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _spec_error_from(
    exc: ValidationError, *, node: str | None, prefix: str, strip_tag_at: int | None = None
) -> SpecError:
    """The first pydantic error as a SpecError whose message starts with the JSON path."""
    error = exc.errors()[0]
    loc = list(error["loc"])
    # Tagged unions put the tag into the location (arguments.<name>.<tag>.field); drop it.
    if strip_tag_at is not None and len(loc) > strip_tag_at and loc[strip_tag_at] in _ARG_CLASSES:
        del loc[strip_tag_at]
    if len(loc) > 2 and loc[0] == "arguments" and loc[2] in _ARG_CLASSES:
        del loc[2]
    path = prefix + _format_loc(loc)
    message = str(error["msg"]).removeprefix("Value error, ")
    return SpecError(f"{path}: {message}", node=node, path=path)


def _load_raw(
    source: str | os.PathLike[str] | Mapping[str, Any] | nx.Graph,
) -> tuple[dict[str, Any], str | None]:
    if isinstance(source, nx.Graph):
        return _graph_to_raw(source), None
    if isinstance(source, Mapping):
        return json.loads(json.dumps(source, default=str)), None
    path = os.fspath(source)
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except OSError as exc:
        raise SpecError(f"cannot read specification: {exc.strerror or exc}", file=path) from None
    except json.JSONDecodeError as exc:
        raise SpecError(
            f"not valid JSON (line {exc.lineno} column {exc.colno}): {exc.msg}", file=path
        ) from None
    except UnicodeDecodeError as exc:
        raise SpecError(
            f"not a JSON text file (byte {exc.start} is not UTF-8: {exc.reason})", file=path
        ) from None
    except RecursionError:
        raise SpecError("JSON is nested too deeply to be a specification", file=path) from None
    if not isinstance(data, dict):
        raise SpecError("a specification is a JSON object with 'nodes' and 'links'", file=path)
    return data, path


def _graph_to_raw(graph: nx.Graph) -> dict[str, Any]:
    nodes = []
    for node_id, attrs in graph.nodes(data=True):
        raw = {k: v for k, v in attrs.items() if k != MODEL_KEY}
        raw.setdefault("id", str(node_id))
        nodes.append(raw)
    ids = {node_id: str(raw["id"]) for node_id, raw in zip(graph.nodes, nodes, strict=True)}
    links = [{**attrs, "source": ids[u], "target": ids[v]} for u, v, attrs in graph.edges(data=True)]
    return {
        "directed": graph.is_directed(),
        "multigraph": False,
        "graph": dict(graph.graph),
        "nodes": nodes,
        "links": links,
    }


def _remap_endpoint(value: Any, ids: Sequence[str], id_set: set[str], *, path: str) -> str:
    """Links name nodes by id string, or by integer position in ``nodes`` as networkx 1.x wrote them."""
    if isinstance(value, bool):
        pass
    elif isinstance(value, int):
        if 0 <= value < len(ids):
            return ids[value]
        raise SpecError(f"{path}: node position {value} is outside 'nodes' (0..{len(ids) - 1})", path=path)
    elif isinstance(value, str):
        if value in id_set:
            return value
        raise SpecError(f"{path}: no node has id {value!r}", path=path)
    raise SpecError(f"{path}: expected a node id string or position, got {value!r}", path=path)


def load_spec(
    source: str | os.PathLike[str] | Mapping[str, Any] | nx.Graph,
    *,
    extension: bool | None = False,
    known_plugins: Iterable[str] | None = None,
    require_project_fields: bool = True,
) -> BatchSpec:
    """Load and validate a batch specification.

    ``extension=True`` expects exactly one NodeAttachment (no BaseSelection); ``None`` decides from the
    spec. ``known_plugins`` also rejects plugin names outside the set. ``require_project_fields``
    demands ``name``, ``organization``, ``projectdescription`` and ``technicalsummary`` in the graph
    section, as the original did.
    """
    raw, file = _load_raw(source)
    try:
        return _build(raw, extension=extension, known_plugins=known_plugins, require=require_project_fields)
    except RecursionError:
        raise SpecError("specification is nested too deeply", file=file) from None
    except SpecError as exc:
        if file is not None and exc.file is None:
            raise SpecError(exc.message, file=file, node=exc.node, **exc.context) from None
        raise


def _build(
    raw: dict[str, Any], *, extension: bool | None, known_plugins: Iterable[str] | None, require: bool
) -> BatchSpec:
    if "picks" in raw and "nodes" not in raw:
        raise SpecError(
            "project-picker specs ('picks' by file suffix) must be resolved to one spec first", path="picks"
        )
    raw_nodes = raw.get("nodes")
    if not isinstance(raw_nodes, list):
        raise SpecError("nodes: a specification needs a 'nodes' list", path="nodes")
    raw_links = raw.get("links", raw.get("edges", []))
    if not isinstance(raw_links, list):
        raise SpecError("links: must be a list", path="links")

    try:
        graph_section = GraphSection.model_validate(raw.get("graph") or {})
    except ValidationError as exc:
        raise _spec_error_from(exc, node=None, prefix="graph") from None
    if require:
        for key in GraphSection.REQUIRED:
            if not getattr(graph_section, key):
                raise SpecError(f"graph.{key}: the graph section needs {key!r}", path=f"graph.{key}")

    nodes: list[SpecNode] = []
    seen: dict[str, int] = {}
    for index, raw_node in enumerate(raw_nodes):
        nodes.append(_parse_node(raw_node, index))
        if nodes[-1].id in seen:
            raise SpecError(
                f"nodes[{index}].id: duplicate id (also nodes[{seen[nodes[-1].id]}])",
                node=nodes[-1].id,
                path=f"nodes[{index}].id",
            )
        seen[nodes[-1].id] = index

    ids = [node.id for node in nodes]
    id_set = set(ids)
    links: list[SpecLink] = []
    for index, raw_link in enumerate(raw_links):
        if not isinstance(raw_link, dict):
            raise SpecError(
                f"links[{index}]: a link is an object with 'source' and 'target'", path=f"links[{index}]"
            )
        ends = {}
        for end in ("source", "target"):
            if end not in raw_link:
                raise SpecError(f"links[{index}].{end}: missing", path=f"links[{index}].{end}")
            ends[end] = _remap_endpoint(raw_link[end], ids, id_set, path=f"links[{index}].{end}")
        try:
            links.append(SpecLink.model_validate({**raw_link, **ends}))
        except ValidationError as exc:
            raise _spec_error_from(exc, node=None, prefix=f"links[{index}]") from None

    graph = nx.DiGraph()
    graph.graph.update(raw.get("graph") or {})
    for raw_node, node in zip(raw_nodes, nodes, strict=True):
        graph.add_node(node.id, **{**raw_node, "id": node.id, MODEL_KEY: node})
    for link in links:
        attrs = link.model_dump(exclude={"source", "target"})
        graph.add_edge(link.source, link.target, **attrs)

    spec = BatchSpec(graph, graph_section, ids, links)
    spec._validate(extension=extension, known_plugins=known_plugins)
    return spec


def _parse_node(raw_node: Any, index: int) -> SpecNode:
    where = f"nodes[{index}]"
    if not isinstance(raw_node, dict):
        raise SpecError(f"{where}: a node is a JSON object", path=where)
    node_id = _as_str(raw_node.get("id"))
    if not isinstance(node_id, str) or not node_id:
        raise SpecError(f"{where}.id: every node needs an id string", path=f"{where}.id")
    op_type = raw_node.get("op_type")
    if op_type not in _NODE_CLASSES:
        what = "missing op_type" if op_type is None else f"unknown op_type {op_type!r}"
        raise SpecError(
            f"{where}.op_type: {what} (known: {', '.join(OP_TYPES)})", node=node_id, path=f"{where}.op_type"
        )
    cls = _NODE_CLASSES[op_type]
    if issubclass(cls, PluginNode | PreProcessedMediaOperation):
        arguments = raw_node.get("arguments") or {}
        if not isinstance(arguments, dict):
            raise SpecError(f"{where}.arguments: must be an object", node=node_id, path=f"{where}.arguments")
        for name, arg in arguments.items():
            if argument_kind(arg) is None:
                _raise_unknown_argument(arg, node=node_id, path=f"{where}.arguments.{name}")
    try:
        return cls.model_validate({**raw_node, "id": node_id})
    except ValidationError as exc:
        raise _spec_error_from(exc, node=node_id, prefix=where) from None


# --------------------------------------------------------------------------------------------------
# The loaded spec
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PermuteMember:
    """One element of a permute group: a selection node (``argument`` None) or one node argument.

    ``deferred`` members (type ``variable``) get their values from a plugin at run time.
    """

    group: str
    node: str
    argument: str | None
    spec: ArgumentBase | SelectionNode

    @property
    def element(self) -> str:
        """Element name as the original wrote it: ``<node>`` or ``<node>.<argument>``."""
        return self.node if self.argument is None else f"{self.node}.{self.argument}"

    @property
    def deferred(self) -> bool:
        return isinstance(self.spec, VariableArg)


class BatchSpec:
    """A validated batch specification over a ``networkx.DiGraph`` keyed by node id."""

    def __init__(
        self, graph: nx.DiGraph, graph_section: GraphSection, order: Sequence[str], links: Sequence[SpecLink]
    ) -> None:
        self.graph = graph
        self.graph_section = graph_section
        self._order = list(order)
        self._position = {node_id: i for i, node_id in enumerate(order)}
        self._links = list(links)

    # construction helpers --------------------------------------------------------------------------
    @classmethod
    def load(
        cls,
        source: str | os.PathLike[str] | Mapping[str, Any] | nx.Graph,
        *,
        extension: bool | None = False,
        known_plugins: Iterable[str] | None = None,
        require_project_fields: bool = True,
    ) -> BatchSpec:
        """Same as :func:`load_spec`."""
        return load_spec(
            source,
            extension=extension,
            known_plugins=known_plugins,
            require_project_fields=require_project_fields,
        )

    @staticmethod
    def json_schema() -> dict[str, Any]:
        """JSON Schema of a specification document (nodes per op_type, arguments per type)."""
        return SpecDocument.model_json_schema(by_alias=True)

    def to_json_schema(self) -> dict[str, Any]:
        """JSON Schema of a specification document."""
        return self.json_schema()

    # access ----------------------------------------------------------------------------------------
    @property
    def name(self) -> str | None:
        return self.graph_section.name

    @property
    def is_extension(self) -> bool:
        return any(isinstance(self.node(n), NodeAttachment) for n in self._order)

    def node_ids(self) -> list[str]:
        """Node ids in the order the spec lists them."""
        return list(self._order)

    def node(self, node_id: str) -> SpecNode:
        try:
            model: SpecNode = self.graph.nodes[node_id][MODEL_KEY]
        except KeyError:
            raise SpecError(f"no node with id {node_id!r}", node=node_id) from None
        return model

    def position(self, node_id: str) -> int:
        """Index of the node in the spec's ``nodes`` list."""
        return self._position[node_id]

    def topological_order(self) -> list[str]:
        """Dependencies first; ties broken by the order nodes appear in the spec."""
        return list(nx.lexicographical_topological_sort(self.graph, key=self._position.__getitem__))

    def base_node(self) -> str:
        """Id of the BaseSelection (creation) or NodeAttachment (extension) node."""
        for node_id in self._order:
            if isinstance(self.node(node_id), BaseSelection | NodeAttachment):
                return node_id
        raise SpecError("specification has neither BaseSelection nor NodeAttachment")

    def predecessors(self, node_id: str) -> list[str]:
        return sorted(self.graph.predecessors(node_id), key=self._position.__getitem__)

    def successors(self, node_id: str) -> list[str]:
        return sorted(self.graph.successors(node_id), key=self._position.__getitem__)

    def link(self, source: str, target: str) -> dict[str, Any]:
        """Attributes of the link source→target (``donor``, ``connect``, ``split``, extras)."""
        return dict(self.graph.edges[source, target])

    def donor_predecessors(self, node_id: str) -> list[str]:
        """Nodes donating to ``node_id``: links marked ``donor`` plus ``donor`` arguments naming a ``source``.

        A donor argument's source may be any ancestor (not only a direct predecessor); ``"base"`` means
        the base node.
        """
        donors = [p for p in self.predecessors(node_id) if self.graph.edges[p, node_id].get("donor")]
        for arg in self.node(node_id).argument_specs.values():
            if isinstance(arg, DonorArg) and arg.source is not None:
                source = self.base_node() if arg.source == "base" else arg.source
                if source not in donors:
                    donors.append(source)
        return donors

    def connect_to_candidates(self, node_id: str) -> list[str]:
        """Predecessors a node may operate on: not donor links, not ``connect: false``, not input masks."""
        out = []
        for pred in self.predecessors(node_id):
            attrs = self.graph.edges[pred, node_id]
            if attrs.get("donor") or not attrs.get("connect", True):
                continue
            if isinstance(self.node(pred), InputMaskPluginOperation):
                continue
            out.append(pred)
        return out

    def permute_groups(self) -> dict[str, list[PermuteMember]]:
        """Named permute groups with their members in spec order (nodes, then arguments as written).

        Selection nodes join with their node-level ``permutegroup``; arguments of type ``value`` never
        join (a constant does not permute). Elements outside named groups are not listed.
        """
        groups: dict[str, list[PermuteMember]] = {}
        for node_id in self._order:
            node = self.node(node_id)
            if isinstance(node, SelectionNode) and node.permutegroup:
                groups.setdefault(node.permutegroup, []).append(
                    PermuteMember(node.permutegroup, node_id, None, node)
                )
            for name, arg in node.argument_specs.items():
                if arg.permutegroup and not isinstance(arg, ValueArg):
                    groups.setdefault(arg.permutegroup, []).append(
                        PermuteMember(arg.permutegroup, node_id, name, arg)
                    )
        return groups

    def to_dict(self) -> dict[str, Any]:
        """Node-link dict with links naming nodes by id string (the raw node attributes, no models)."""
        return _graph_to_raw(self.graph) | {"graph": dict(self.graph.graph)}

    # validation ------------------------------------------------------------------------------------
    def _where(self, node_id: str) -> str:
        return f"nodes[{self._position[node_id]}]"

    def _validate(self, *, extension: bool | None, known_plugins: Iterable[str] | None) -> None:
        attachments = [n for n in self._order if isinstance(self.node(n), NodeAttachment)]
        bases = [n for n in self._order if isinstance(self.node(n), BaseSelection)]
        if extension is None:
            extension = bool(attachments)
        starts, wanted, other = (
            (attachments, "NodeAttachment", bases) if extension else (bases, "BaseSelection", attachments)
        )
        kind = "an extension" if extension else "a creation"
        if len(starts) != 1:
            extra = starts[1] if len(starts) > 1 else None
            path = f"{self._where(starts[1])}.op_type" if len(starts) > 1 else "nodes"
            raise SpecError(
                f"{path}: {kind} spec needs exactly one {wanted} node, found {len(starts)}"
                + (f" ({', '.join(starts)})" if starts else ""),
                node=extra,
                path=path,
            )
        if other:
            path = f"{self._where(other[0])}.op_type"
            raise SpecError(
                f"{path}: {self.node(other[0]).op_type} is not allowed in {kind} spec",
                node=other[0],
                path=path,
            )

        link_index = {(link.source, link.target): i for i, link in enumerate(self._links)}
        for node_id in self._order:
            node = self.node(node_id)
            preds = self.predecessors(node_id)
            if isinstance(node, ImageSelection):
                # a "connect": false link only orders execution and passes state (the original allows it)
                preds = [p for p in preds if self.graph.edges[p, node_id].get("connect", True)]
            if isinstance(node, SelectionNode | NodeAttachment) and preds:
                path = f"links[{link_index[(preds[0], node_id)]}]"
                raise SpecError(
                    f"{path}: {node.op_type} node {node_id!r} must have no predecessor,"
                    f" has {', '.join(preds)}",
                    node=node_id,
                    path=path,
                )

        if not nx.is_directed_acyclic_graph(self.graph):
            cycle = [u for u, _ in nx.find_cycle(self.graph)]
            raise SpecError(
                f"links: the dependencies form a cycle through {' -> '.join([*cycle, cycle[0]])}",
                node=cycle[0],
                path="links",
                cycle=cycle,
            )

        plugins = set(known_plugins) if known_plugins is not None else None
        for node_id in self._order:
            node = self.node(node_id)
            where = self._where(node_id)
            if node.source is not None and node.source not in self.graph:
                raise SpecError(
                    f"{where}.source: no node has id {node.source!r}", node=node_id, path=f"{where}.source"
                )
            if isinstance(node, PluginNode | PreProcessedMediaOperation) and not self.predecessors(node_id):
                raise SpecError(
                    f"{where}: {node.op_type} has no predecessor to take its image from",
                    node=node_id,
                    path=where,
                )
            if plugins is not None and isinstance(node, PluginNode) and node.plugin_name not in plugins:
                reason = unknown_plugin_reason(node.plugin_name) or f"unknown plugin {node.plugin!r}"
                raise SpecError(f"{where}.plugin: {reason}", node=node_id, path=f"{where}.plugin")
            for name, arg in node.argument_specs.items():
                for key in ("source", "target"):
                    ref = getattr(arg, key, None)
                    if ref is None or (isinstance(arg, DonorArg) and ref == "base"):
                        continue
                    if ref not in self.graph:
                        path = f"{where}.arguments.{name}.{key}"
                        raise SpecError(
                            f"{path}: no node has id {ref!r}", node=node_id, argument=name, path=path
                        )

    def __repr__(self) -> str:
        return f"BatchSpec(name={self.name!r}, nodes={self._order!r})"
