"""A reader that expects the Journaling Tool's journal format, written from the documented facts (not from
masksmith's loader): networkx node-link JSON, links by node position, ``transform matrix`` as
``{"r": rows, "c": cols, "r0": [...], ...}``, ``linkcolor`` as ``"R G B"``, node ``xpos``/``ypos``."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

_COLOUR = re.compile(r"^\d{1,3} \d{1,3} \d{1,3}$")


class FormatError(ValueError):
    """The journal is not in the original's format."""


def deserialize_matrix(value: Any) -> np.ndarray:
    """The original's matrix form, and only it."""
    if not isinstance(value, dict) or not {"r", "c"} <= set(value):
        raise FormatError(f"transform matrix must be {{'r','c','r0',...}}, got {type(value).__name__}")
    rows, cols = int(value["r"]), int(value["c"])
    data = []
    for i in range(rows):
        row = value.get(f"r{i}")
        if not isinstance(row, list) or len(row) != cols:
            raise FormatError(f"transform matrix row r{i} must be a list of {cols} numbers")
        data.append([float(v) for v in row])
    return np.asarray(data)


@dataclass
class JTJournal:
    graph: dict[str, Any]
    nodes: dict[str, dict[str, Any]]
    links: list[tuple[str, str, dict[str, Any]]]
    matrices: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)


def read_jt_journal(path: Path) -> JTJournal:
    raw = json.loads(path.read_text(encoding="utf-8"))
    for key in ("directed", "multigraph", "graph", "nodes", "links"):
        if key not in raw:
            raise FormatError(f"missing top-level {key!r}")
    ids = [n["id"] for n in raw["nodes"]]
    nodes = {n["id"]: n for n in raw["nodes"]}
    for node in raw["nodes"]:
        for key in ("file", "nodetype", "xpos", "ypos"):
            if key not in node:
                raise FormatError(f"node {node['id']} lacks {key!r}")
        if not all(isinstance(node[k], int) for k in ("xpos", "ypos")):
            raise FormatError(f"node {node['id']}: xpos/ypos must be integers")
    for key, value in (raw["graph"].get("edgeFilePaths") or {}).items():
        if not isinstance(value, str):
            raise FormatError(f"edgeFilePaths[{key!r}] must be a string, got {value!r}")
    links = []
    matrices = {}
    for link in raw["links"]:
        if not (isinstance(link["source"], int) and isinstance(link["target"], int)):
            raise FormatError("link ends must be node positions")
        start, end = ids[link["source"]], ids[link["target"]]
        if link.get("op") != "Donor":
            if not _COLOUR.match(str(link.get("linkcolor", ""))):
                raise FormatError(f"link {start}->{end}: linkcolor must be 'R G B'")
            if not isinstance(link.get("exifdiff"), dict):
                raise FormatError(f"link {start}->{end}: exifdiff must be a dictionary")
            for tag, change in link["exifdiff"].items():
                if not (isinstance(change, list) and change and change[0] in ("change", "add", "delete")):
                    raise FormatError(
                        f"link {start}->{end}: exifdiff[{tag!r}] is not [change|add|delete, ...]"
                    )
        if "transform matrix" in link:
            matrices[(start, end)] = deserialize_matrix(link["transform matrix"])
        elif "transform matrix" in link.get("arguments", {}):
            matrices[(start, end)] = deserialize_matrix(link["arguments"]["transform matrix"])
        links.append((start, end, link))
    return JTJournal(raw["graph"], nodes, links, matrices)
