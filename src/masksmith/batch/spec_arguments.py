"""Argument specifications of batch spec nodes (§3.6): one pydantic model per argument type.

``parse_argument`` turns a raw argument (a dict, or a bare value as shorthand for ``value``) into its
model; :func:`spec_error_from` turns a pydantic error into a ``SpecError`` naming the JSON path.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Annotated, Any, ClassVar, Literal

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

from masksmith.errors import SpecError

__all__ = [
    "ARGUMENT_KINDS",
    "MAX_PERMUTED_VALUES",
    "ArgumentBase",
    "ArgumentSpec",
    "DonorArg",
    "FloatRangeArg",
    "GlobalArg",
    "ImageFileArg",
    "InputArg",
    "IntRange",
    "IntRangeArg",
    "ListArg",
    "MaskArg",
    "PluginArg",
    "ValueArg",
    "VariableArg",
    "YesNoArg",
    "argument_kind",
    "parse_argument",
    "raise_unknown_argument",
    "spec_error_from",
    "strip_group",
]

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


def strip_group(value: object) -> object:
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
    permutegroup: Annotated[str | None, BeforeValidator(strip_group)] = Field(
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


def argument_kind(spec: object) -> str | None:
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


def parse_argument(raw: object, *, node: str | None = None, path: str = "argument") -> ArgumentBase:
    """Parse one raw argument spec (dict or bare value) into its typed model; SpecError when invalid."""
    kind = argument_kind(raw)
    if kind is None:
        raise_unknown_argument(raw, node=node, path=path)
    try:
        parsed: ArgumentBase = _ARGUMENT_ADAPTER.validate_python(raw)
    except ValidationError as exc:
        raise spec_error_from(exc, node=node, prefix=path, strip_tag_at=0) from None
    return parsed


def raise_unknown_argument(raw: object, *, node: str | None, path: str) -> None:
    type_ = raw.get("type") if isinstance(raw, dict) else None
    what = "missing 'type'" if type_ is None else f"unknown argument type {type_!r}"
    known = ", ".join([*(k for k in ARGUMENT_KINDS if k not in ("int", "float")), "int[a:b]", "float[a:b]"])
    raise SpecError(f"{path}.type: {what} (known: {known})", node=node, path=f"{path}.type")


def _format_loc(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def spec_error_from(
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
