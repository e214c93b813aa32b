"""Small value helpers of the metadata record: text, decimals, paths and EXIF rationals."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = [
    "decimal_or_none",
    "decimal_text",
    "float_text",
    "gps_ref",
    "number_text",
    "rational",
    "split_path",
    "strip_zeros",
    "text_or_none",
]


def text_or_none(value: Any) -> str | None:
    """A stripped string, or None for empty/NaN."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    text = str(value).replace("\x00", "").strip()
    return None if text == "" or text.lower() == "nan" else text


def decimal_or_none(value: Any) -> Decimal | None:
    text = text_or_none(value)
    if text is None:
        return None
    try:
        number = Decimal(text.replace(",", "."))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def decimal_text(number: Decimal) -> str:
    """Plain decimal text: integral values without a point, never an exponent."""
    if number == number.to_integral_value():
        return str(int(number))
    return format(number.normalize(), "f")


def float_text(value: float, places: int = 8) -> str:
    return decimal_text(Decimal(repr(round(value, places))))


def number_text(value: Any) -> str | None:
    """Numbers as plain decimal text (comma decimals fixed); other text as is; NaN/empty → None."""
    number = decimal_or_none(value)
    return decimal_text(number) if number is not None else text_or_none(value)


def strip_zeros(digits: str) -> str:
    return digits.lstrip("0") or "0"


def split_path(path: str) -> list[str]:
    # Both separators: the XML holds Windows paths whatever the platform we run on.
    return [p for p in re.split(r"[\\/]+", path) if p]


def rational(value: Any) -> float | None:
    try:
        if isinstance(value, tuple | list) and len(value) == 2 and all(isinstance(v, int) for v in value):
            return value[0] / value[1] if value[1] else None
        result = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return result if result == result and abs(result) != float("inf") else None


def gps_ref(value: Any) -> str:
    text = text_or_none(value.decode("latin-1") if isinstance(value, bytes) else value)
    return (text or "").upper()
