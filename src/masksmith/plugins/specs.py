"""Spec functions for the batch argument type ``plugin`` (registered under entry point group ``masksmith.specs``).

A spec argument ``{"type": "plugin", "name": "kernelSpecs", "parameters": [2, 5]}`` makes the batch call
the function registered under that name as ``function(parameters, state=..., rng=...)``: ``parameters``
is the spec's (formatted) list or dict, ``state`` the per-project dict named by ``state_name`` (only when
given) and ``rng`` the project's generator. The return value becomes the argument's value.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from masksmith.errors import PluginError

SPEC_ENTRY_POINT_GROUP = "masksmith.specs"


def _number(value: Any, name: str) -> int:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        raise PluginError(f"expected a whole number, got {value!r}", argument=name) from None


def _odd_between(rng: np.random.Generator, low: int, high: int) -> int:
    low, high = max(1, low), max(1, high)
    if low > high:
        low, high = high, low
    first = low if low % 2 else low + 1
    choices = list(range(first, high + 1, 2)) or [first]
    return int(choices[int(rng.integers(len(choices)))])


def _fallback_rng(parameters: Any) -> np.random.Generator:
    # Called without the project's generator: a fixed seed from the parameters keeps the run repeatable.
    return np.random.default_rng(zlib.crc32(repr(parameters).encode("utf-8")))


def kernel_specs(
    parameters: Sequence[Any] | Mapping[str, Any] | int | str | None,
    *,
    state: dict[str, Any] | None = None,
    rng: np.random.Generator | None = None,
) -> int:
    """An odd kernel size. ``[low, high]`` (or ``{"low": a, "high": b}``) draws one of the odd sizes in
    that inclusive range; ``{"kernel_size": k}`` or a bare number gives ``k`` made odd (k + 1 when even)."""
    if parameters is None:
        raise PluginError("kernelSpecs needs [low, high] or {'kernel_size': k}", argument="parameters")
    generator = rng if rng is not None else _fallback_rng(parameters)
    if isinstance(parameters, Mapping):
        if "kernel_size" in parameters:
            size = _number(parameters["kernel_size"], "kernel_size")
            return size if size % 2 else size + 1
        if "low" in parameters and "high" in parameters:
            low, high = _number(parameters["low"], "low"), _number(parameters["high"], "high")
            return _odd_between(generator, low, high)
        raise PluginError("kernelSpecs takes 'kernel_size' or 'low'/'high'", argument="parameters")
    if isinstance(parameters, str | int | float):
        size = _number(parameters, "parameters")
        return size if size % 2 else size + 1
    values = list(parameters)
    if len(values) != 2:
        raise PluginError(f"kernelSpecs takes [low, high], got {values!r}", argument="parameters")
    return _odd_between(generator, _number(values[0], "low"), _number(values[1], "high"))
