"""Parameter types: parsing, value validation table, random draws and iteration."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from masksmith.errors import OperationError
from masksmith.operations import (
    NumRange,
    Parameter,
    ParamKind,
    ParamType,
    convert_value,
    draw_random,
    iter_values,
    parse_boxpair,
    parse_coordinates,
)


@pytest.mark.parametrize(
    ("text", "kind", "ranges", "qualifier", "hint"),
    [
        ("int[0:100]", ParamKind.INT, (NumRange(0, 100),), None, None),
        ("int[-360:360]", ParamKind.INT, (NumRange(-360, 360),), None, None),
        ("int[0:10:2]", ParamKind.INT, (NumRange(0, 10, 2),), None, None),
        ("int[1:3,7:9]", ParamKind.INT, (NumRange(1, 3), NumRange(7, 9)), None, None),
        ("int[0:255]:slider", ParamKind.INT, (NumRange(0, 255),), None, "slider"),
        ("float[0:1]", ParamKind.FLOAT, (NumRange(0.0, 1.0),), None, None),
        ("float[5.1:7:0.5]", ParamKind.FLOAT, (NumRange(5.1, 7.0, 0.5),), None, None),
        ("float", ParamKind.FLOAT, (), None, None),
        ("list", ParamKind.LIST, (), None, None),
        ("yesno", ParamKind.YESNO, (), None, None),
        ("file:image", ParamKind.FILE, (), "image", None),
        ("file:xmp", ParamKind.FILE, (), "xmp", None),
        ("fileset:", ParamKind.FILESET, (), "", None),
        ("folder:plugins/tables", ParamKind.FOLDER, (), "plugins/tables", None),
        ("listfromfile:names.txt", ParamKind.LISTFROMFILE, (), "names.txt", None),
        ("coordinates", ParamKind.COORDINATES, (), None, None),
        ("boxpair", ParamKind.BOXPAIR, (), None, None),
        ("frame_or_time", ParamKind.FRAME_OR_TIME, (), None, None),
        ("time", ParamKind.TIME, (), None, None),
        ("urls", ParamKind.URLS, (), None, None),
        ("text", ParamKind.TEXT, (), None, None),
        ("string", ParamKind.STRING, (), None, None),
    ],
)
def test_parse(
    text: str, kind: ParamKind, ranges: tuple[NumRange, ...], qualifier: str | None, hint: str | None
) -> None:
    parsed = ParamType.parse(text)
    assert (parsed.kind, parsed.ranges, parsed.qualifier, parsed.hint) == (kind, ranges, qualifier, hint)
    assert ParamType.parse(str(parsed)) == parsed


@pytest.mark.parametrize(
    "text", ["", "integer", "int[5:1]", "int[a:b]", "int[1]", "float[0:1:0]", "file", "yesno:x", "list:foo"]
)
def test_parse_rejects(text: str) -> None:
    with pytest.raises(OperationError):
        ParamType.parse(text)


def _param(type_text: str, **kw: Any) -> Parameter:
    return Parameter(name="arg", type=ParamType.parse(type_text), **kw)


LIST_VALUES = ("8", "16", "remove")

GOOD = [
    ("int[0:100]", 5, 5),
    ("int[0:100]", "100", 100),
    ("int[0:100]", 7.0, 7),
    ("int[-360:360]", -90, -90),
    ("int[0:10:2]", 4, 4),
    ("int[1:3,7:9]", 8, 8),
    ("float[0:1]", 0.25, 0.25),
    ("float[0:1]", "1", 1.0),
    ("float[0:1]", 0, 0.0),
    ("list", "remove", "remove"),
    ("list", 16, "16"),
    ("yesno", "yes", "yes"),
    ("yesno", "No", "no"),
    ("yesno", True, "yes"),
    ("yesno", "False", "no"),
    ("coordinates", "(10,20)", "(10, 20)"),
    ("coordinates", " ( 3 , 4 ) ", "(3, 4)"),
    ("coordinates", (5, 6), "(5, 6)"),
    ("coordinates", [7, 8], "(7, 8)"),
    ("boxpair", "(0,0,10,10):(5,5,15,15)", "(0, 0, 10, 10):(5, 5, 15, 15)"),
    ("boxpair", [(0, 0, 1, 1), [2, 2, 3, 3]], "(0, 0, 1, 1):(2, 2, 3, 3)"),
    ("frame_or_time", 12, 12),
    ("frame_or_time", "12", 12),
    ("frame_or_time", "00:00:01.500", "00:00:01.500"),
    ("time", "01:02:03", "01:02:03"),
    ("text", "hello", "hello"),
    ("string", 1920, "1920"),
    ("file:image", "mask.png", "mask.png"),
    ("urls", ["http://a", "http://b"], ["http://a", "http://b"]),
]

BAD = [
    ("int[0:100]", 101),
    ("int[0:100]", -1),
    ("int[0:100]", 2.5),
    ("int[0:100]", "ten"),
    ("int[0:100]", True),
    ("int[0:10:2]", 3),
    ("int[1:3,7:9]", 5),
    ("float[0:1]", 1.5),
    ("float[0:1]", "nan"),
    ("float[0:1]", [0.5]),
    ("list", "add"),
    ("list", ["8"]),
    ("yesno", "maybe"),
    ("coordinates", "(1,2,3)"),
    ("coordinates", "(1.5, 2)"),
    ("coordinates", 5),
    ("boxpair", "(0,0,10,10)"),
    ("boxpair", [(0, 0, 1), (0, 0, 1, 1)]),
    ("frame_or_time", -3),
    ("frame_or_time", "soon"),
    ("time", "1:2"),
    ("text", ["a"]),
    ("urls", [1, 2]),
]


@pytest.mark.parametrize(("type_text", "value", "expected"), GOOD)
def test_good_values_normalise(type_text: str, value: Any, expected: Any) -> None:
    assert convert_value(_param(type_text, values=LIST_VALUES), value) == expected


@pytest.mark.parametrize(("type_text", "value"), BAD)
def test_bad_values_name_the_argument(type_text: str, value: Any) -> None:
    with pytest.raises(OperationError) as info:
        convert_value(_param(type_text, values=LIST_VALUES), value, operation="SomeOp")
    assert info.value.argument == "arg"
    assert "argument 'arg'" in str(info.value)
    assert "SomeOp" in str(info.value)


def test_source_specific_values_override() -> None:
    param = Parameter.from_dict("purpose", {"type": "list", "values": ["a", "b"], "video:values": ["a"]})
    assert convert_value(param, "b", media_type="image") == "b"
    with pytest.raises(OperationError, match="purpose"):
        convert_value(param, "b", media_type="video")


def test_parse_helpers_return_tuples() -> None:
    assert parse_coordinates("(3, -4)") == (3, -4)
    assert parse_boxpair("(1,2,3,4):(5,6,7,8)") == ((1, 2, 3, 4), (5, 6, 7, 8))


DRAWABLE = [
    ("int[0:100]", None),
    ("int[-5:5]", None),
    ("int[10:20:5]", None),
    ("int[1:3,100:102]", None),
    ("float[0:1]", None),
    ("float[5.1:7:0.5]", None),
    ("list", ("a", "b", "c")),
    ("yesno", None),
]


@pytest.mark.parametrize(("type_text", "values"), DRAWABLE)
def test_draw_random_in_range_and_deterministic(type_text: str, values: tuple[str, ...] | None) -> None:
    ptype = ParamType.parse(type_text)
    first = [draw_random(ptype, np.random.default_rng(7), values=values) for _ in range(3)]
    rng_a, rng_b = np.random.default_rng(123), np.random.default_rng(123)
    seq_a = [draw_random(ptype, rng_a, values=values) for _ in range(200)]
    seq_b = [draw_random(ptype, rng_b, values=values) for _ in range(200)]
    assert seq_a == seq_b
    assert len(set(first)) == 1
    param = Parameter(name="arg", type=ptype, values=values or ())
    for value in seq_a:
        assert convert_value(param, value) == value  # every draw is a valid value of the type
    allowed = iter_values(ptype, values=values)
    assert allowed is not None
    assert all(v in allowed or (ptype.kind is ParamKind.FLOAT and not ptype.ranges[0].step) for v in seq_a)
    assert len(set(seq_a)) > 1


def test_draw_random_float_without_step_stays_in_half_open_range() -> None:
    rng = np.random.default_rng(0)
    draws = [draw_random(ParamType.parse("float[2:3]"), rng) for _ in range(500)]
    assert all(isinstance(d, float) and 2.0 <= d < 3.0 for d in draws)


def test_draw_random_uses_media_specific_values() -> None:
    param = Parameter.from_dict("purpose", {"type": "list", "values": ["a", "b"], "video:values": ["a"]})
    rng = np.random.default_rng(5)
    assert {draw_random(param, rng, media_type="video") for _ in range(20)} == {"a"}


@pytest.mark.parametrize("type_text", ["text", "file:image", "coordinates", "frame_or_time"])
def test_undrawable_types_give_none(type_text: str) -> None:
    ptype = ParamType.parse(type_text)
    assert not ptype.is_drawable
    assert draw_random(ptype, np.random.default_rng(0)) is None


def test_iter_values_follows_batch_semantics() -> None:
    assert list(iter_values(ParamType.parse("int[1:5:2]")) or []) == [1, 3, 5]  # inclusive
    assert iter_values(ParamType.parse("float[5.1:7:0.5]")) == pytest.approx(
        [5.1, 5.6, 6.1, 6.6]
    )  # exclusive
    assert iter_values(ParamType.parse("yesno")) == ("yes", "no")
    assert iter_values(ParamType.parse("text")) is None
