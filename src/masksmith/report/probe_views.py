"""Probes as the journal page shows them: any probe object (dataclass, mapping or plain object, with the
original's or masksmith's field names) normalised into a :class:`ProbeView` with boolean masks."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from masksmith.media import io as media_io
from masksmith.media import masks
from masksmith.report.page_assets import contained_file, jsonable

__all__ = ["ProbeSet", "ProbeView", "probe_view"]


@dataclass(frozen=True)
class ProbeView:
    """What the page shows of one probe, whatever the probe module's field names are."""

    final: str
    edge: tuple[str, str] | None
    target_mask: NDArray[np.bool_] | None
    donor_node: str | None
    donor_mask: NDArray[np.bool_] | None
    fields: dict[str, Any]


@dataclass(frozen=True)
class ProbeSet:
    """Probes for a journal, or why there are none to show (``status``: ``ok``, ``unavailable``, ``failed``)."""

    status: str
    message: str
    probes: tuple[ProbeView, ...] = ()


def _fields_of(obj: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): v for k, v in obj.items()}
    return {k: v for k, v in vars(obj).items() if not k.startswith("_")}


def _norm(name: str) -> str:
    return re.sub(r"[^a-z]", "", name.lower())


def _pick(fields: Mapping[str, Any], *names: str) -> Any:
    wanted = {_norm(n) for n in names}
    for key, value in fields.items():
        if _norm(key) in wanted and value is not None:
            return value
    return None


def _edge_tuple(value: Any) -> tuple[str, str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        for sep in ("->", "|", ","):
            if sep in value:
                a, b = value.split(sep, 1)
                return (a.strip(), b.strip())
        return None
    if hasattr(value, "start") and hasattr(value, "end"):
        return (str(value.start), str(value.end))
    if isinstance(value, Sequence) and len(value) == 2:
        return (str(value[0]), str(value[1]))
    return None


def _mask_of(value: Any, directory: Path, *, probe_file: bool) -> NDArray[np.bool_] | None:
    """A boolean mask from an array or a file name (probe files: 255 = manipulated)."""
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        if value.dtype == np.bool_:
            return np.asarray(value)
        return masks.from_probe_file(value)
    if isinstance(value, str | os.PathLike):
        # a probe's own mask file (an absolute path it wrote) or a name inside the journal folder
        path = Path(value) if Path(value).is_absolute() else contained_file(directory, os.fspath(value))
        if path is None or not path.is_file():
            return None
        pixels = media_io.read_image(path).pixels
        return masks.from_probe_file(pixels) if probe_file else masks.from_edge_file(pixels)
    return None


def probe_view(probe: Any, directory: Path) -> ProbeView | None:
    """Normalise a probe object (dataclass, mapping or plain object) into a :class:`ProbeView`."""
    fields = _fields_of(probe)
    final = _pick(fields, "final_node", "final_node_id", "finalNodeId", "final")
    if final is None:
        return None
    edge = _edge_tuple(_pick(fields, "edge_id", "edgeId", "edge"))
    target = _pick(fields, "target_mask", "targetMaskImage", "target_mask_image", "target")
    if target is None:
        target = _pick(fields, "target_mask_file", "targetMaskFileName", "target_mask_file_name")
    donor_mask = _pick(fields, "donor_mask", "donorMaskImage", "donor_mask_image")
    if donor_mask is None:
        donor_mask = _pick(fields, "donor_mask_file", "donorMaskFileName", "donor_mask_file_name")
    donor_node = _pick(fields, "donor_base", "donorBaseNodeId", "donor_base_node_id", "donor_base_node")
    plain = {
        k: jsonable(v)
        for k, v in fields.items()
        if not isinstance(v, np.ndarray) and not isinstance(v, bytes | bytearray)
    }
    return ProbeView(
        final=str(final),
        edge=edge,
        target_mask=_mask_of(target, directory, probe_file=True),
        donor_node=str(donor_node) if donor_node is not None else None,
        donor_mask=_mask_of(donor_mask, directory, probe_file=True),
        fields=plain,
    )
