"""The journal graph: media nodes and operation edges with the Journaling Tool's attribute names.

``JournalGraph`` wraps a ``networkx.DiGraph`` and keeps its invariants (unique ids, an ``idcount``
shared by node and mask identifiers, node types, edge attributes). It is pure: no file access.
"""

from __future__ import annotations

import getpass
import platform
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePath
from typing import Any

import networkx as nx

from masksmith import __version__
from masksmith.errors import JournalError

NODE_TYPES = ("base", "donor", "interim", "final")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
DONOR_OP = "Donor"
CREATOR_TOOL = "masksmith"


def now_text(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).strftime(TIME_FORMAT)


def default_username() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "unknown"


def default_graph_attributes(
    name: str,
    *,
    username: str,
    organization: str = "",
    description: str = "",
    technical_summary: str = "",
    creator_tool: str = CREATOR_TOOL,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The project-level attributes a new journal starts with (the original's names)."""
    stamp = now_text(now)
    return {
        "name": name,
        "igversion": f"masksmith-{__version__}",
        "jt_upgrades": [],
        "idcount": 0,
        "creator": username,
        "creator_tool": creator_tool,
        "modifier_tools": [creator_tool],
        "username": username,
        "organization": organization,
        "createtime": stamp,
        "updatetime": stamp,
        "projecttype": "image",
        "projectdescription": description,
        "technicalsummary": technical_summary,
        "typespref": [
            ["png files", "*.png"],
            ["jpeg files", "*.jpg"],
            ["tiff files", "*.tiff"],
            ["all", "*.*"],
        ],
        "edgeFilePaths": {"maskname": "", "inputmaskname": "inputmaskownership", "selectmasks.mask": ""},
        "nodeFilePaths": {"proxyfile": "", "donors.*": "", "compositemaskname": ""},
        "graphFilePaths": {"projectfile": ""},
        "skipped_edges": [],
        "semanticgroups": [],
        "groups": {},
        "qadata": {},
        "validation": "no",
        "validatedby": "",
        "validationdate": "",
        "validationtime": "",
        "provenance": "no",
        "autopastecloneinputmask": "no",
    }


_TRAILING_NUMBER = re.compile(r"_\d+$")


def yes_no(value: object) -> str:
    """Normalise truthy values to the original's ``yes``/``no`` strings."""
    if isinstance(value, str):
        return "yes" if value.strip().lower() in ("yes", "true", "y", "1") else "no"
    return "yes" if value else "no"


@dataclass(frozen=True, slots=True)
class EdgeRef:
    start: str
    end: str

    def __str__(self) -> str:
        return f"{self.start}->{self.end}"


class JournalGraph:
    """A manipulation journal's provenance graph."""

    def __init__(self, graph: nx.DiGraph | None = None) -> None:
        self.graph: nx.DiGraph = graph if graph is not None else nx.DiGraph()
        self.graph.graph.setdefault("idcount", 0)

    @classmethod
    def create(
        cls,
        name: str,
        *,
        username: str | None = None,
        organization: str = "",
        description: str = "",
        technical_summary: str = "",
        creator_tool: str = CREATOR_TOOL,
        now: datetime | None = None,
    ) -> JournalGraph:
        if not name or any(ch in name for ch in "/\\\0"):
            raise JournalError(f"invalid journal name {name!r}")
        graph = nx.DiGraph()
        graph.graph.update(
            default_graph_attributes(
                name,
                username=username or default_username(),
                organization=organization,
                description=description,
                technical_summary=technical_summary,
                creator_tool=creator_tool,
                now=now,
            )
        )
        return cls(graph)

    # --- identity -------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return str(self.graph.graph.get("name", ""))

    @property
    def attributes(self) -> dict[str, Any]:
        return self.graph.graph  # type: ignore[no-any-return]

    def next_id(self) -> int:
        """Advance and return the graph's ``idcount`` (shared by node and mask identifiers)."""
        value = int(self.graph.graph.get("idcount", 0)) + 1
        self.graph.graph["idcount"] = value
        return value

    def new_node_id(self, file_name: str) -> str:
        """An id for media created from ``file_name``: ``<stem>_NN`` with NN from ``idcount``.

        A trailing ``_digits`` on the stem is replaced, as the original did.
        """
        stem = _TRAILING_NUMBER.sub("", PurePath(file_name).stem) or "media"
        while True:
            candidate = f"{stem}_{self.next_id():02d}"
            if candidate not in self.graph:
                return candidate

    def touch(self, *, tool: str = CREATOR_TOOL, now: datetime | None = None) -> None:
        self.graph.graph["updatetime"] = now_text(now)
        tools = self.graph.graph.setdefault("modifier_tools", [])
        if tool not in tools:
            tools.append(tool)

    # --- nodes ----------------------------------------------------------------------------------

    def add_media(
        self,
        node_id: str,
        file: str,
        *,
        nodetype: str = "interim",
        ownership: str = "yes",
        username: str | None = None,
        now: datetime | None = None,
        **attributes: Any,
    ) -> str:
        if node_id in self.graph:
            raise JournalError("node already exists", node=node_id)
        if nodetype not in NODE_TYPES:
            raise JournalError(f"unknown nodetype {nodetype!r}; expected one of {NODE_TYPES}", node=node_id)
        data: dict[str, Any] = {
            "file": file,
            "nodetype": nodetype,
            "seriesname": attributes.pop("seriesname", PurePath(file).stem),
            "ownership": ownership,
            "username": username or self.graph.graph.get("username", default_username()),
            "ctime": now_text(now),
            "filetype": "image",
        }
        data.update(attributes)
        self.graph.add_node(node_id, **data)
        return node_id

    def node(self, node_id: str) -> dict[str, Any]:
        if node_id not in self.graph:
            raise JournalError("no such node", node=node_id)
        return self.graph.nodes[node_id]  # type: ignore[no-any-return]

    def nodes(self) -> Iterator[tuple[str, dict[str, Any]]]:
        yield from self.graph.nodes(data=True)

    def nodes_of_type(self, nodetype: str) -> list[str]:
        return [n for n, d in self.graph.nodes(data=True) if d.get("nodetype") == nodetype]

    def base_node(self) -> str:
        bases = self.nodes_of_type("base")
        if len(bases) != 1:
            raise JournalError(f"expected exactly one base node, found {len(bases)}: {sorted(bases)}")
        return bases[0]

    def final_nodes(self) -> list[str]:
        return [n for n in self.graph.nodes if self.graph.out_degree(n) == 0 and not self.is_donor_only(n)]

    def is_donor_only(self, node_id: str) -> bool:
        """True for a node whose every outgoing edge is a donor edge (and that has one)."""
        out = list(self.graph.out_edges(node_id, data=True))
        return bool(out) and all(d.get("op") == DONOR_OP for _, _, d in out)

    def label_nodes(self) -> None:
        """Assign ``nodetype`` from structure: base stays base; other roots are donors; leaves are final."""
        for node_id, data in self.graph.nodes(data=True):
            if data.get("nodetype") == "base":
                continue
            preds = list(self.graph.predecessors(node_id))
            if not preds:
                data["nodetype"] = "donor"
            elif self.graph.out_degree(node_id) == 0:
                data["nodetype"] = "final"
            else:
                data["nodetype"] = "interim"

    # --- edges ----------------------------------------------------------------------------------

    def add_operation_edge(
        self,
        start: str,
        end: str,
        *,
        op: str,
        maskname: str,
        arguments: Mapping[str, Any] | None = None,
        software_name: str = "masksmith",
        software_version: str = __version__,
        record_in_composite: bool = False,
        analysis: Mapping[str, Any] | None = None,
        description: str = "",
        username: str | None = None,
        automated: bool = True,
        editable: bool = False,
        plugin_name: str | None = None,
        input_mask: str | None = None,
        errors: list[str] | None = None,
        now: datetime | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> EdgeRef:
        """Record an operation edge; the mask file must already have a name (the store writes it)."""
        for node_id in (start, end):
            if node_id not in self.graph:
                raise JournalError("edge endpoint does not exist", node=node_id)
        if start == end:
            raise JournalError("an edge cannot start and end at the same node", node=start)
        if self.graph.has_edge(start, end):
            raise JournalError(f"edge {start}->{end} already exists", node=end)
        self.graph.add_edge(start, end)
        if not nx.is_directed_acyclic_graph(self.graph):
            self.graph.remove_edge(start, end)
            raise JournalError(f"edge {start}->{end} would create a cycle", node=end)
        data: dict[str, Any] = {
            "op": op,
            "maskname": maskname,
            "description": description,
            "username": username or self.graph.graph.get("username", default_username()),
            "opsys": f"{platform.system()} {platform.release()}",
            "tool": CREATOR_TOOL,
            "ctime": now_text(now),
            "recordMaskInComposite": yes_no(record_in_composite),
            "editable": yes_no(editable),
            "softwareName": software_name,
            "softwareVersion": software_version,
            "automated": yes_no(automated),
            "semanticGroups": [],
            "errors": list(errors or []),
        }
        if arguments is not None:
            data["arguments"] = dict(arguments)
        if plugin_name is not None:
            data["plugin_name"] = plugin_name
        if input_mask is not None:
            data["inputmaskname"] = input_mask
            data["inputmaskownership"] = "yes"
        data.update(analysis or {})
        data.update(extra or {})
        self.graph.edges[start, end].update(data)
        return EdgeRef(start, end)

    def edge(self, start: str, end: str) -> dict[str, Any]:
        if not self.graph.has_edge(start, end):
            raise JournalError(f"no edge {start}->{end}", node=start)
        return self.graph.edges[start, end]  # type: ignore[no-any-return]

    def edges(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        yield from self.graph.edges(data=True)

    def donors_of(self, node_id: str) -> list[str]:
        return [s for s, _, d in self.graph.in_edges(node_id, data=True) if d.get("op") == DONOR_OP]

    def operation_predecessor(self, node_id: str) -> str | None:
        """The node an operation edge into ``node_id`` starts from (ignoring donor edges)."""
        for s, _, d in self.graph.in_edges(node_id, data=True):
            if d.get("op") != DONOR_OP:
                return str(s)
        return None

    def mask_file_name(self, start: str, end: str) -> str:
        """A mask file name in the original's scheme: ``<md5>_<initials>_<id>__mask.png``."""
        import hashlib

        joined = f"{start}_{end}"
        initials = "".join(part[0] + part[-1] for part in joined.split("_") if part)
        digest = hashlib.md5((joined + "_mask.png").encode("utf-8")).hexdigest()
        return f"{digest}_{initials}_{self.next_id()}__mask.png"
