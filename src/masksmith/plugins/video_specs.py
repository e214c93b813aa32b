"""Frame arithmetic for specifications: the original's ``maskgen.tool_set.addOneFrame`` and friends.

Registered under ``masksmith.specs`` with the original's dotted names, so its video specifications'
``"function": "maskgen.tool_set.addOneFrame"`` post-processors run unchanged. A value is a frame
number (``11``, ``"11"``) or a time ``HH:MM:SS.ffffff`` with an optional ``:N`` frame offset.
"""

from __future__ import annotations

import re
from typing import Any

from masksmith.errors import PluginError

_TIME = re.compile(r"^(\d+:\d+:\d+(?:\.\d*)?)(?::(-?\d+))?$")


def _shift(value: Any, frames: int) -> Any:
    if isinstance(value, bool):
        raise PluginError(f"not a frame number or time: {value!r}")
    if isinstance(value, int | float):
        return max(1, int(value) + frames)
    text = str(value).strip()
    if re.fullmatch(r"-?\d+", text):
        return str(max(1, int(text) + frames))
    match = _TIME.match(text)
    if not match:
        raise PluginError(f"not a frame number or time: {value!r}")
    offset = int(match.group(2) or 0) + frames
    return match.group(1) if offset == 0 else f"{match.group(1)}:{offset}"


def add_one_frame(value: Any) -> Any:
    """One frame later."""
    return _shift(value, 1)


def subtract_one_frame(value: Any) -> Any:
    """One frame earlier (never before frame 1)."""
    return _shift(value, -1)


def add_two(value: Any) -> Any:
    """A number plus two (the original used it to copy a few more frames than were dropped)."""
    if isinstance(value, bool):
        raise PluginError(f"not a number: {value!r}")
    return int(float(value)) + 2
