"""Operation parameter types: parsing, value checking and random drawing.

A parameter type is written as a short string in the catalogue (``int[0:100]``, ``list``,
``file:image`` …). :meth:`ParamType.parse` turns it into a small typed object so validation
and the batch selectors work from one definition.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

import numpy as np

from masksmith.errors import OperationError

__all__ = [
    "MEDIA_TYPES",
    "NumRange",
    "ParamKind",
    "ParamType",
    "Parameter",
    "convert_value",
    "draw_random",
    "format_boxpair",
    "format_coordinates",
    "iter_values",
    "parse_boxpair",
    "parse_coordinates",
]

MEDIA_TYPES: frozenset[str] = frozenset({"image", "video", "audio", "zip", "collection"})

YES_WORDS = frozenset({"yes", "true", "y", "1"})
NO_WORDS = frozenset({"no", "false", "n", "0"})


class ParamKind(StrEnum):
    """The base kinds a catalogue parameter type can have."""

    INT = "int"
    FLOAT = "float"
    LIST = "list"
    YESNO = "yesno"
    TEXT = "text"
    STRING = "string"
    FILE = "file"
    FILESET = "fileset"
    FOLDER = "folder"
    LISTFROMFILE = "listfromfile"
    COORDINATES = "coordinates"
    BOXPAIR = "boxpair"
    TIME = "time"
    FRAME_OR_TIME = "frame_or_time"
    URLS = "urls"


# kinds written as ``kind:<qualifier>``; the qualifier may be empty (``fileset:``)
_QUALIFIED = frozenset({ParamKind.FILE, ParamKind.FILESET, ParamKind.FOLDER, ParamKind.LISTFROMFILE})
_NUMERIC = frozenset({ParamKind.INT, ParamKind.FLOAT})
_NUMERIC_RE = re.compile(r"^(?P<kind>int|float)(?:\[(?P<ranges>[^\]]*)\])?(?::(?P<hint>[A-Za-z_]+))?$")
_TIME_RE = re.compile(r"^\d{1,2}:\d{2}:\d{2}(?:[.:]\d+)?$")
_NUMBER = r"\s*(-?\d+(?:\.\d+)?)\s*"
_COORD_RE = re.compile(rf"^\s*[\(\[]?{_NUMBER},{_NUMBER}[\)\]]?\s*$")
_BOX_RE = re.compile(rf"\(\s*{_NUMBER},{_NUMBER},{_NUMBER},{_NUMBER}\)")


@dataclass(frozen=True)
class NumRange:
    """An inclusive numeric range ``lo:hi`` with an optional step (batch syntax ``lo:hi:step``)."""

    lo: float
    hi: float
    step: float | None = None

    def contains(self, value: float, *, integral: bool) -> bool:
        """Whether ``value`` lies in the range (and on the step grid for stepped int ranges)."""
        if not self.lo <= value <= self.hi:
            return False
        if integral and self.step is not None:
            return (value - self.lo) % self.step == 0
        return True

    def __str__(self) -> str:
        parts = [_fmt_number(self.lo), _fmt_number(self.hi)]
        if self.step is not None:
            parts.append(_fmt_number(self.step))
        return ":".join(parts)


def _fmt_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


@dataclass(frozen=True)
class ParamType:
    """A parsed parameter type: kind, numeric ranges, qualifier (``file:<qualifier>``), display hint."""

    kind: ParamKind
    ranges: tuple[NumRange, ...] = ()
    qualifier: str | None = None
    hint: str | None = None

    @classmethod
    def parse(cls, text: str) -> ParamType:
        """Parse a catalogue type string such as ``int[0:100]``, ``float[0:1:0.1]`` or ``file:image``."""
        if not isinstance(text, str) or not text.strip():
            raise OperationError(f"parameter type must be a non-empty string, got {text!r}")
        text = text.strip()
        numeric = _NUMERIC_RE.match(text)
        if numeric:
            kind = ParamKind(numeric["kind"])
            ranges = _parse_ranges(numeric["ranges"], kind=kind, text=text) if numeric["ranges"] else ()
            return cls(kind, ranges=ranges, hint=numeric["hint"])
        head, sep, tail = text.partition(":")
        try:
            kind = ParamKind(head)
        except ValueError:
            raise OperationError(f"unknown parameter type {text!r}") from None
        if kind in _QUALIFIED:
            if not sep:
                raise OperationError(f"parameter type {text!r} needs a qualifier, e.g. '{head}:image'")
            return cls(kind, qualifier=tail)
        if sep:
            raise OperationError(f"parameter type {head!r} takes no qualifier (got {text!r})")
        return cls(kind)

    @property
    def is_drawable(self) -> bool:
        """Whether :func:`draw_random` can pick a value of this type."""
        return self.kind in _NUMERIC | {ParamKind.LIST, ParamKind.YESNO}

    def __str__(self) -> str:
        if self.kind in _NUMERIC:
            text = self.kind.value
            if self.ranges:
                text += "[" + ",".join(str(r) for r in self.ranges) + "]"
            return text + (f":{self.hint}" if self.hint else "")
        if self.kind in _QUALIFIED:
            return f"{self.kind.value}:{self.qualifier or ''}"
        return self.kind.value


def _parse_ranges(body: str, *, kind: ParamKind, text: str) -> tuple[NumRange, ...]:
    number: Callable[[str], float] = int if kind is ParamKind.INT else float
    ranges = []
    for chunk in body.split(","):
        parts = chunk.strip().split(":")
        if len(parts) not in (2, 3):
            raise OperationError(f"parameter type {text!r}: range {chunk!r} must be lo:hi or lo:hi:step")
        try:
            values = [number(p.strip()) for p in parts]
        except ValueError:
            raise OperationError(f"parameter type {text!r}: range {chunk!r} is not numeric") from None
        lo, hi = values[0], values[1]
        step = values[2] if len(values) == 3 else None
        if lo > hi:
            raise OperationError(f"parameter type {text!r}: range {chunk!r} has lo > hi")
        if step is not None and step <= 0:
            raise OperationError(f"parameter type {text!r}: range {chunk!r} needs a positive step")
        ranges.append(NumRange(lo, hi, step))
    return tuple(ranges)


@dataclass(frozen=True)
class Parameter:
    """One mandatory or optional operation parameter as declared in the catalogue."""

    name: str
    type: ParamType
    description: str = ""
    values: tuple[str, ...] = ()
    values_by_source: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))
    default: Any = None
    source: str | None = None
    rule: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))
    trigger_mask: bool = False
    use_as_composite: bool = False

    def __hash__(self) -> int:
        return hash((self.name, self.type))

    @classmethod
    def from_dict(cls, name: str, spec: Mapping[str, Any]) -> Parameter:
        """Build from a catalogue parameter entry (``type``, ``values``, ``<ftype>:values``, ``rule`` …)."""
        by_source = {
            key.split(":", 1)[0]: tuple(str(v) for v in vals)
            for key, vals in spec.items()
            if key.endswith(":values")
        }
        rule = {key: tuple(str(v) for v in vals) for key, vals in (spec.get("rule") or {}).items()}
        default = spec.get("defaultvalue", spec.get("defaultValue"))
        return cls(
            name=name,
            type=ParamType.parse(spec["type"]),
            description=str(spec.get("description", "")),
            values=tuple(str(v) for v in spec.get("values") or ()),
            values_by_source=MappingProxyType(by_source),
            default=default,
            source=spec.get("source"),
            rule=MappingProxyType(rule),
            trigger_mask=bool(spec.get("trigger mask", False)),
            use_as_composite=bool(spec.get("use as composite", False)),
        )

    def applies_to(self, media_type: str) -> bool:
        """Whether the parameter is collected for media of ``media_type`` (``source`` restriction)."""
        return self.source is None or self.source == media_type

    def values_for(self, media_type: str | None = None) -> tuple[str, ...]:
        """The list values for ``media_type``: a ``<ftype>:values`` override, else ``values``."""
        if media_type is not None and media_type in self.values_by_source:
            return self.values_by_source[media_type]
        return self.values

    def required_by(self, arguments: Mapping[str, Any]) -> bool:
        """Whether this parameter's ``rule`` makes it mandatory given the other arguments."""
        for other, triggers in self.rule.items():
            value = arguments.get(other)
            if value is not None and _as_text(value) in triggers:
                return True
        return False


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _fail(param: Parameter, operation: str | None, message: str) -> OperationError:
    where = f" for operation {operation!r}" if operation else ""
    return OperationError(f"{message}{where}", argument=param.name, operation=operation)


def convert_value(
    param: Parameter,
    value: Any,
    *,
    media_type: str = "image",
    operation: str | None = None,
    file_exists: Callable[[str], bool] | None = None,
) -> Any:
    """Check ``value`` against ``param``'s type and return its normalised form.

    ints and floats become numbers, yesno becomes ``'yes'``/``'no'``, list values the catalogue
    string, coordinates ``'(x, y)'`` and box pairs ``'(x0, y0, x1, y1):(…)'`` (the journal's text
    forms). ``file_exists`` (a predicate, so this module never touches the disk) checks file values.
    Raises OperationError naming the argument and operation.
    """
    kind = param.type.kind
    try:
        if kind is ParamKind.INT:
            return _convert_int(param, value)
        if kind is ParamKind.FLOAT:
            return _convert_float(param, value)
        if kind is ParamKind.LIST:
            return _convert_list(param, value, media_type)
        if kind is ParamKind.YESNO:
            return _convert_yesno(value)
        if kind is ParamKind.COORDINATES:
            return format_coordinates(parse_coordinates(value))
        if kind is ParamKind.BOXPAIR:
            return format_boxpair(parse_boxpair(value))
        if kind is ParamKind.TIME:
            return _convert_time(value)
        if kind is ParamKind.FRAME_OR_TIME:
            return _convert_frame_or_time(value)
        if kind is ParamKind.URLS:
            return _convert_urls(value)
        if kind is ParamKind.FILE:
            text = _convert_text(value)
            if file_exists is not None and not file_exists(text):
                raise ValueError(f"file {text!r} does not exist")
            return text
        return _convert_text(value)
    except (ValueError, TypeError) as exc:
        raise _fail(param, operation, f"{value!r} is not a valid {param.type}: {exc}") from None


def _convert_int(param: Parameter, value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError("booleans are not integers")
    if isinstance(value, str):
        value = float(value.strip()) if "." in value or "e" in value.lower() else int(value.strip())
    if isinstance(value, float | np.floating):
        if not float(value).is_integer():
            raise ValueError("not a whole number")
        value = int(value)
    if not isinstance(value, int | np.integer):
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    number = int(value)
    _check_ranges(param, number, integral=True)
    return number


def _convert_float(param: Parameter, value: Any) -> float:
    if isinstance(value, bool):
        raise TypeError("booleans are not numbers")
    if isinstance(value, str):
        value = float(value.strip())
    if not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"expected a number, got {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError("not a finite number")
    _check_ranges(param, number, integral=False)
    return number


def _check_ranges(param: Parameter, number: float, *, integral: bool) -> None:
    ranges = param.type.ranges
    if ranges and not any(r.contains(number, integral=integral) for r in ranges):
        raise ValueError("out of range")


def _convert_list(param: Parameter, value: Any, media_type: str) -> str:
    if isinstance(value, list | tuple | dict | set):
        raise TypeError("expected one value")
    text = _as_text(value)
    allowed = param.values_for(media_type)
    if allowed and text not in allowed:
        raise ValueError(f"must be one of {', '.join(map(repr, allowed))}")
    return text


def _convert_yesno(value: Any) -> str:
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    text = str(value).strip().lower()
    if text in YES_WORDS:
        return "yes"
    if text in NO_WORDS:
        return "no"
    raise ValueError("must be yes or no")


def _convert_text(value: Any) -> str:
    if isinstance(value, list | tuple | dict | set | bytes) or value is None:
        raise TypeError(f"expected text, got {type(value).__name__}")
    return str(value)


def _convert_time(value: Any) -> str | float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value < 0:
            raise ValueError("negative time")
        return float(value)
    text = _convert_text(value).strip()
    if not _TIME_RE.match(text):
        raise ValueError("expected HH:MM:SS[.micro]")
    return text


def _convert_frame_or_time(value: Any) -> int | str:
    if isinstance(value, bool):
        raise TypeError("booleans are not frames")
    if isinstance(value, int | np.integer):
        if value < 0:
            raise ValueError("negative frame number")
        return int(value)
    text = _convert_text(value).strip()
    if text.isdigit():
        return int(text)
    if not _TIME_RE.match(text):
        raise ValueError("expected a frame number or HH:MM:SS[.micro]")
    return text


def _convert_urls(value: Any) -> str | list[str]:
    if isinstance(value, list | tuple):
        if not all(isinstance(v, str) and v for v in value):
            raise TypeError("expected a list of URL strings")
        return list(value)
    return _convert_text(value)


def parse_coordinates(value: Any) -> tuple[int, int]:
    """Parse ``'(x, y)'``, ``'x,y'`` or a 2-sequence into integer ``(x, y)``."""
    if isinstance(value, str):
        match = _COORD_RE.match(value)
        if not match:
            raise ValueError("expected '(x, y)'")
        numbers: Sequence[Any] = [float(match[1]), float(match[2])]
    elif isinstance(value, list | tuple | np.ndarray) and len(value) == 2:
        numbers = list(value)
    else:
        raise ValueError("expected '(x, y)' or a pair of numbers")
    x, y = (_whole(n) for n in numbers)
    return x, y


def format_coordinates(xy: tuple[int, int]) -> str:
    """The journal text form ``'(x, y)'``."""
    return f"({xy[0]}, {xy[1]})"


def parse_boxpair(value: Any) -> tuple[tuple[int, int, int, int], tuple[int, int, int, int]]:
    """Parse two boxes ``'(x0, y0, x1, y1):(x0, y0, x1, y1)'`` or a pair of 4-sequences."""
    boxes: list[Sequence[Any]]
    if isinstance(value, str):
        boxes = [[float(g) for g in m.groups()] for m in _BOX_RE.finditer(value)]
        if len(boxes) != 2 or not re.fullmatch(r"\s*\([^)]*\)\s*:\s*\([^)]*\)\s*", value):
            raise ValueError("expected '(x0, y0, x1, y1):(x0, y0, x1, y1)'")
    elif isinstance(value, list | tuple) and len(value) == 2:
        boxes = [list(b) for b in value]
        if any(len(b) != 4 for b in boxes):
            raise ValueError("each box needs four numbers")
    else:
        raise ValueError("expected two boxes")
    first, second = (tuple(_whole(n) for n in box) for box in boxes)
    return (first[0], first[1], first[2], first[3]), (second[0], second[1], second[2], second[3])


def format_boxpair(boxes: tuple[tuple[int, int, int, int], tuple[int, int, int, int]]) -> str:
    """The journal text form of two boxes."""
    return ":".join("(" + ", ".join(str(v) for v in box) + ")" for box in boxes)


def _whole(number: Any) -> int:
    if isinstance(number, bool):
        raise TypeError("booleans are not coordinates")
    as_float = float(number)
    if not as_float.is_integer():
        raise ValueError(f"{number!r} is not a whole number")
    return int(as_float)


def _as_param(param: Parameter | ParamType, values: Sequence[str] | None) -> Parameter:
    if isinstance(param, Parameter):
        return param
    return Parameter(name="value", type=param, values=tuple(values or ()))


def draw_random(
    param: Parameter | ParamType,
    rng: np.random.Generator,
    *,
    values: Sequence[str] | None = None,
    media_type: str | None = None,
) -> int | float | str | None:
    """Draw one value of ``param``'s type from ``rng``; None for types that cannot be drawn.

    ints are uniform over the inclusive range (or its step grid); floats uniform in ``[lo, hi)``
    (or a choice over ``arange(lo, hi, step)``, end exclusive as in JT batch specs); several
    comma-separated ranges pick one range first. ``values`` supplies list values for a bare ParamType.
    """
    p = _as_param(param, values)
    ptype = p.type
    if ptype.kind in _NUMERIC:
        if not ptype.ranges:
            raise OperationError(f"cannot draw from unbounded type {ptype}", argument=p.name)
        chosen = (
            ptype.ranges[int(rng.integers(len(ptype.ranges)))] if len(ptype.ranges) > 1 else ptype.ranges[0]
        )
        if ptype.kind is ParamKind.INT:
            lo, hi = int(chosen.lo), int(chosen.hi)
            if chosen.step is None:
                return int(rng.integers(lo, hi + 1))
            grid = range(lo, hi + 1, int(chosen.step))
            return int(grid[int(rng.integers(len(grid)))])
        if chosen.step is None:
            return float(chosen.lo + rng.random() * (chosen.hi - chosen.lo))
        grid_f = np.arange(chosen.lo, chosen.hi, chosen.step)
        if grid_f.size == 0:
            return float(chosen.lo)
        return float(grid_f[int(rng.integers(grid_f.size))])
    if ptype.kind is ParamKind.LIST:
        options = p.values_for(media_type)
        if not options:
            raise OperationError("list parameter has no values to draw from", argument=p.name)
        return options[int(rng.integers(len(options)))]
    if ptype.kind is ParamKind.YESNO:
        return ("yes", "no")[int(rng.integers(2))]
    return None


def iter_values(
    param: Parameter | ParamType,
    *,
    values: Sequence[str] | None = None,
    media_type: str | None = None,
) -> Sequence[int | float | str] | None:
    """All values of a drawable type in order (for permutation groups); None otherwise.

    int ranges are inclusive and returned lazily as ``range``; float ranges follow ``arange``
    (end exclusive, step 1.0 unless given). Several ranges are concatenated.
    """
    p = _as_param(param, values)
    ptype = p.type
    if ptype.kind is ParamKind.INT and ptype.ranges:
        if len(ptype.ranges) == 1:
            r = ptype.ranges[0]
            return range(int(r.lo), int(r.hi) + 1, int(r.step or 1))
        return [v for r in ptype.ranges for v in range(int(r.lo), int(r.hi) + 1, int(r.step or 1))]
    if ptype.kind is ParamKind.FLOAT and ptype.ranges:
        return [float(v) for r in ptype.ranges for v in np.arange(r.lo, r.hi, r.step or 1.0)]
    if ptype.kind is ParamKind.LIST:
        return p.values_for(media_type)
    if ptype.kind is ParamKind.YESNO:
        return ("yes", "no")
    return None
