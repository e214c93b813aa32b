"""Small value helpers of node building: what goes on an edge, file-name-safe text, donor arguments."""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from masksmith.batch.spec import DonorArg, PluginNode, PreProcessedMediaOperation
from masksmith.errors import SpecError
from masksmith.journal.project import Journal
from masksmith.media import io as media_io
from masksmith.media import masks
from masksmith.plugins import Plugin

__all__ = [
    "csv_arguments",
    "donor_value",
    "is_recordable",
    "jsonable",
    "read_input_mask",
    "safe_name",
    "with_donor_arguments",
    "with_variant",
]


def safe_name(text: str) -> str:
    """``text`` with every character but letters, digits and ``-_.`` replaced by ``_``."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON data: numpy scalars and arrays, paths, mappings and sequences converted."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def is_recordable(value: object) -> bool:
    """Plain values go on the edge; arrays bigger than a matrix and objects stay in node state only."""
    if isinstance(value, np.ndarray):
        return bool(value.size <= 16)
    if isinstance(value, str | int | float | bool | np.generic | Path) or value is None:
        return True
    if isinstance(value, list | tuple):
        return len(value) <= 64 and all(is_recordable(v) for v in value)
    if isinstance(value, Mapping):
        return all(is_recordable(v) for v in value.values())
    return False


def with_variant(operation: str, variant: str | None) -> str:
    """``Op::Variant`` for a spec's ``Plugin::Variant`` (the catalogue falls back to ``Op`` for lookups)."""
    return f"{operation.split('::', 1)[0]}::{variant}" if variant else operation


def with_donor_arguments(plugin: Plugin, arguments: dict[str, Any], donor: Path | None) -> dict[str, Any]:
    """Fill the plugin's donor-typed arguments the spec left unset with the donor's file."""
    if donor is None:
        return arguments
    out = dict(arguments)
    for arg in plugin.arguments:
        if arg.type == "donor" and out.get(arg.name) in (None, ""):
            out[arg.name] = str(donor)
    return out


def donor_value(
    journal: Journal, value: Any, name: str, node: PluginNode | PreProcessedMediaOperation
) -> Any:
    """A donor argument's journal node id becomes the donor's file path for the plugin."""
    if isinstance(node.argument_specs.get(name), DonorArg):
        return str(journal.path_of(str(value)))
    return value


def read_input_mask(path: object) -> npt.NDArray[np.bool_]:
    """The boolean mask of an input-mask file (white = selected)."""
    return masks.from_input_mask(media_io.read_image(Path(str(path))).pixels)


def csv_arguments(path: Path, file_name: str, names: list[str], node_id: str) -> dict[str, str]:
    """The row of a pre-processed media argument file for ``file_name``: ``names`` zipped with its cells."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
    except OSError as exc:
        raise SpecError(
            f"cannot read argument file: {exc.strerror or exc}", file=path, node=node_id
        ) from None
    for row in rows:
        if row and (row[0].strip() == file_name or Path(row[0].strip()).stem == Path(file_name).stem):
            return {name: value.strip() for name, value in zip(names, row[1:], strict=False)}
    raise SpecError(f"argument file has no row for {file_name!r}", file=path, node=node_id)
