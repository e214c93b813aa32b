"""Batch specifications: load, validate and model the JT batch spec (networkx node-link JSON).

A spec is a DAG of operation nodes. Loading accepts a file path, a node-link dict or a networkx graph,
remaps links that name nodes by id string (integers stay list positions, as networkx 1.x wrote them),
parses every node and argument into a pydantic model and rejects broken specs with a ``SpecError``
naming the node id and the JSON path of the offending value.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import networkx as nx
from pydantic import ValidationError

from masksmith.batch.spec_arguments import (
    ARGUMENT_KINDS,
    ArgumentBase,
    ArgumentSpec,
    DonorArg,
    FloatRangeArg,
    GlobalArg,
    ImageFileArg,
    InputArg,
    IntRange,
    IntRangeArg,
    ListArg,
    MaskArg,
    PluginArg,
    ValueArg,
    VariableArg,
    YesNoArg,
    argument_kind,
    parse_argument,
    spec_error_from,
)
from masksmith.batch.spec_nodes import (
    OP_TYPES,
    SELECTION_OP_TYPES,
    BaseSelection,
    GraphSection,
    ImageSelection,
    ImageSelectionPluginOperation,
    InputMaskPluginOperation,
    NodeAttachment,
    NodeSpec,
    PluginNode,
    PluginOperation,
    PreProcessedMediaOperation,
    SelectionNode,
    SpecDocument,
    SpecLink,
    SpecNode,
    parse_node,
)
from masksmith.batch.spec_validation import validate_spec
from masksmith.errors import SpecError

__all__ = [
    "ARGUMENT_KINDS",
    "GLOBAL_GROUP",
    "MODEL_KEY",
    "OP_TYPES",
    "SELECTION_OP_TYPES",
    "ArgumentBase",
    "ArgumentSpec",
    "BaseSelection",
    "BatchSpec",
    "DonorArg",
    "FloatRangeArg",
    "GlobalArg",
    "GraphSection",
    "ImageFileArg",
    "ImageSelection",
    "ImageSelectionPluginOperation",
    "InputArg",
    "InputMaskPluginOperation",
    "IntRange",
    "IntRangeArg",
    "ListArg",
    "MaskArg",
    "NodeAttachment",
    "NodeSpec",
    "PermuteMember",
    "PluginArg",
    "PluginNode",
    "PluginOperation",
    "PreProcessedMediaOperation",
    "SelectionNode",
    "SpecDocument",
    "SpecLink",
    "SpecNode",
    "ValueArg",
    "VariableArg",
    "YesNoArg",
    "argument_kind",
    "load_spec",
    "parse_argument",
]

MODEL_KEY = "spec_model"
"""Node attribute of ``BatchSpec.graph`` holding the parsed node model (the others are the raw dict)."""

GLOBAL_GROUP = "__global__"
"""Name the original gave to elements outside any named permute group."""


# --------------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------------


def _load_raw(
    source: str | os.PathLike[str] | Mapping[str, Any] | nx.Graph,
) -> tuple[dict[str, Any], str | None]:
    if isinstance(source, nx.Graph):
        return graph_to_raw(source), None
    if isinstance(source, Mapping):
        return json.loads(json.dumps(source, default=str)), None
    path = os.fspath(source)
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except OSError as exc:
        raise SpecError(f"cannot read specification: {exc.strerror or exc}", file=path) from None
    except json.JSONDecodeError as exc:
        raise SpecError(
            f"not valid JSON (line {exc.lineno} column {exc.colno}): {exc.msg}", file=path
        ) from None
    except UnicodeDecodeError as exc:
        raise SpecError(
            f"not a JSON text file (byte {exc.start} is not UTF-8: {exc.reason})", file=path
        ) from None
    except RecursionError:
        raise SpecError("JSON is nested too deeply to be a specification", file=path) from None
    if not isinstance(data, dict):
        raise SpecError("a specification is a JSON object with 'nodes' and 'links'", file=path)
    return data, path


def graph_to_raw(graph: nx.Graph) -> dict[str, Any]:
    nodes = []
    for node_id, attrs in graph.nodes(data=True):
        raw = {k: v for k, v in attrs.items() if k != MODEL_KEY}
        raw.setdefault("id", str(node_id))
        nodes.append(raw)
    ids = {node_id: str(raw["id"]) for node_id, raw in zip(graph.nodes, nodes, strict=True)}
    links = [{**attrs, "source": ids[u], "target": ids[v]} for u, v, attrs in graph.edges(data=True)]
    return {
        "directed": graph.is_directed(),
        "multigraph": False,
        "graph": dict(graph.graph),
        "nodes": nodes,
        "links": links,
    }


def _remap_endpoint(value: Any, ids: Sequence[str], id_set: set[str], *, path: str) -> str:
    """Links name nodes by id string, or by integer position in ``nodes`` as networkx 1.x wrote them."""
    if isinstance(value, bool):
        pass
    elif isinstance(value, int):
        if 0 <= value < len(ids):
            return ids[value]
        raise SpecError(f"{path}: node position {value} is outside 'nodes' (0..{len(ids) - 1})", path=path)
    elif isinstance(value, str):
        if value in id_set:
            return value
        raise SpecError(f"{path}: no node has id {value!r}", path=path)
    raise SpecError(f"{path}: expected a node id string or position, got {value!r}", path=path)


def load_spec(
    source: str | os.PathLike[str] | Mapping[str, Any] | nx.Graph,
    *,
    extension: bool | None = False,
    known_plugins: Iterable[str] | None = None,
    require_project_fields: bool = True,
) -> BatchSpec:
    """Load and validate a batch specification.

    ``extension=True`` expects exactly one NodeAttachment (no BaseSelection); ``None`` decides from the
    spec. ``known_plugins`` also rejects plugin names outside the set. ``require_project_fields``
    demands ``name``, ``organization``, ``projectdescription`` and ``technicalsummary`` in the graph
    section, as the original did.
    """
    raw, file = _load_raw(source)
    try:
        return _build(raw, extension=extension, known_plugins=known_plugins, require=require_project_fields)
    except RecursionError:
        raise SpecError("specification is nested too deeply", file=file) from None
    except SpecError as exc:
        if file is not None and exc.file is None:
            raise SpecError(exc.message, file=file, node=exc.node, **exc.context) from None
        raise


def _build(
    raw: dict[str, Any], *, extension: bool | None, known_plugins: Iterable[str] | None, require: bool
) -> BatchSpec:
    if "picks" in raw and "nodes" not in raw:
        raise SpecError(
            "project-picker specs ('picks' by file suffix) must be resolved to one spec first", path="picks"
        )
    raw_nodes = raw.get("nodes")
    if not isinstance(raw_nodes, list):
        raise SpecError("nodes: a specification needs a 'nodes' list", path="nodes")
    raw_links = raw.get("links", raw.get("edges", []))
    if not isinstance(raw_links, list):
        raise SpecError("links: must be a list", path="links")

    try:
        graph_section = GraphSection.model_validate(raw.get("graph") or {})
    except ValidationError as exc:
        raise spec_error_from(exc, node=None, prefix="graph") from None
    if require:
        for key in GraphSection.REQUIRED:
            if not getattr(graph_section, key):
                raise SpecError(f"graph.{key}: the graph section needs {key!r}", path=f"graph.{key}")

    nodes: list[SpecNode] = []
    seen: dict[str, int] = {}
    for index, raw_node in enumerate(raw_nodes):
        nodes.append(parse_node(raw_node, index))
        if nodes[-1].id in seen:
            raise SpecError(
                f"nodes[{index}].id: duplicate id (also nodes[{seen[nodes[-1].id]}])",
                node=nodes[-1].id,
                path=f"nodes[{index}].id",
            )
        seen[nodes[-1].id] = index

    ids = [node.id for node in nodes]
    id_set = set(ids)
    links: list[SpecLink] = []
    for index, raw_link in enumerate(raw_links):
        if not isinstance(raw_link, dict):
            raise SpecError(
                f"links[{index}]: a link is an object with 'source' and 'target'", path=f"links[{index}]"
            )
        ends = {}
        for end in ("source", "target"):
            if end not in raw_link:
                raise SpecError(f"links[{index}].{end}: missing", path=f"links[{index}].{end}")
            ends[end] = _remap_endpoint(raw_link[end], ids, id_set, path=f"links[{index}].{end}")
        try:
            links.append(SpecLink.model_validate({**raw_link, **ends}))
        except ValidationError as exc:
            raise spec_error_from(exc, node=None, prefix=f"links[{index}]") from None

    graph = nx.DiGraph()
    graph.graph.update(raw.get("graph") or {})
    for raw_node, node in zip(raw_nodes, nodes, strict=True):
        graph.add_node(node.id, **{**raw_node, "id": node.id, MODEL_KEY: node})
    for link in links:
        attrs = link.model_dump(exclude={"source", "target"})
        graph.add_edge(link.source, link.target, **attrs)

    spec = BatchSpec(graph, graph_section, ids, links)
    validate_spec(spec, extension=extension, known_plugins=known_plugins)
    return spec


# --------------------------------------------------------------------------------------------------
# The loaded spec
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PermuteMember:
    """One element of a permute group: a selection node (``argument`` None) or one node argument.

    ``deferred`` members (type ``variable``) get their values from a plugin at run time.
    """

    group: str
    node: str
    argument: str | None
    spec: ArgumentBase | SelectionNode

    @property
    def element(self) -> str:
        """Element name as the original wrote it: ``<node>`` or ``<node>.<argument>``."""
        return self.node if self.argument is None else f"{self.node}.{self.argument}"

    @property
    def deferred(self) -> bool:
        return isinstance(self.spec, VariableArg)


class BatchSpec:
    """A validated batch specification over a ``networkx.DiGraph`` keyed by node id."""

    def __init__(
        self, graph: nx.DiGraph, graph_section: GraphSection, order: Sequence[str], links: Sequence[SpecLink]
    ) -> None:
        self.graph = graph
        self.graph_section = graph_section
        self._order = list(order)
        self._position = {node_id: i for i, node_id in enumerate(order)}
        self._links = list(links)

    # construction helpers --------------------------------------------------------------------------
    @classmethod
    def load(
        cls,
        source: str | os.PathLike[str] | Mapping[str, Any] | nx.Graph,
        *,
        extension: bool | None = False,
        known_plugins: Iterable[str] | None = None,
        require_project_fields: bool = True,
    ) -> BatchSpec:
        """Same as :func:`load_spec`."""
        return load_spec(
            source,
            extension=extension,
            known_plugins=known_plugins,
            require_project_fields=require_project_fields,
        )

    @staticmethod
    def json_schema() -> dict[str, Any]:
        """JSON Schema of a specification document (nodes per op_type, arguments per type)."""
        return SpecDocument.model_json_schema(by_alias=True)

    def to_json_schema(self) -> dict[str, Any]:
        """JSON Schema of a specification document."""
        return self.json_schema()

    # access ----------------------------------------------------------------------------------------
    @property
    def name(self) -> str | None:
        return self.graph_section.name

    @property
    def is_extension(self) -> bool:
        return any(isinstance(self.node(n), NodeAttachment) for n in self._order)

    def node_ids(self) -> list[str]:
        """Node ids in the order the spec lists them."""
        return list(self._order)

    def node(self, node_id: str) -> SpecNode:
        try:
            model: SpecNode = self.graph.nodes[node_id][MODEL_KEY]
        except KeyError:
            raise SpecError(f"no node with id {node_id!r}", node=node_id) from None
        return model

    def position(self, node_id: str) -> int:
        """Index of the node in the spec's ``nodes`` list."""
        return self._position[node_id]

    def topological_order(self) -> list[str]:
        """Dependencies first; ties broken by the order nodes appear in the spec."""
        return list(nx.lexicographical_topological_sort(self.graph, key=self._position.__getitem__))

    def base_node(self) -> str:
        """Id of the BaseSelection (creation) or NodeAttachment (extension) node."""
        for node_id in self._order:
            if isinstance(self.node(node_id), BaseSelection | NodeAttachment):
                return node_id
        raise SpecError("specification has neither BaseSelection nor NodeAttachment")

    def predecessors(self, node_id: str) -> list[str]:
        return sorted(self.graph.predecessors(node_id), key=self._position.__getitem__)

    def successors(self, node_id: str) -> list[str]:
        return sorted(self.graph.successors(node_id), key=self._position.__getitem__)

    def link(self, source: str, target: str) -> dict[str, Any]:
        """Attributes of the link source→target (``donor``, ``connect``, ``split``, extras)."""
        return dict(self.graph.edges[source, target])

    def donor_predecessors(self, node_id: str) -> list[str]:
        """Nodes donating to ``node_id``: links marked ``donor`` plus ``donor`` arguments naming a ``source``.

        A donor argument's source may be any ancestor (not only a direct predecessor); ``"base"`` means
        the base node.
        """
        donors = [p for p in self.predecessors(node_id) if self.graph.edges[p, node_id].get("donor")]
        for arg in self.node(node_id).argument_specs.values():
            if isinstance(arg, DonorArg) and arg.source is not None:
                source = self.base_node() if arg.source == "base" else arg.source
                if source not in donors:
                    donors.append(source)
        return donors

    def connect_to_candidates(self, node_id: str) -> list[str]:
        """Predecessors a node may operate on: not donor links, not ``connect: false``, not input masks."""
        out = []
        for pred in self.predecessors(node_id):
            attrs = self.graph.edges[pred, node_id]
            if attrs.get("donor") or not attrs.get("connect", True):
                continue
            if isinstance(self.node(pred), InputMaskPluginOperation):
                continue
            out.append(pred)
        return out

    def permute_groups(self) -> dict[str, list[PermuteMember]]:
        """Named permute groups with their members in spec order (nodes, then arguments as written).

        Selection nodes join with their node-level ``permutegroup``; arguments of type ``value`` never
        join (a constant does not permute). Elements outside named groups are not listed.
        """
        groups: dict[str, list[PermuteMember]] = {}
        for node_id in self._order:
            node = self.node(node_id)
            if isinstance(node, SelectionNode) and node.permutegroup:
                groups.setdefault(node.permutegroup, []).append(
                    PermuteMember(node.permutegroup, node_id, None, node)
                )
            for name, arg in node.argument_specs.items():
                if arg.permutegroup and not isinstance(arg, ValueArg):
                    groups.setdefault(arg.permutegroup, []).append(
                        PermuteMember(arg.permutegroup, node_id, name, arg)
                    )
        return groups

    def to_dict(self) -> dict[str, Any]:
        """Node-link dict with links naming nodes by id string (the raw node attributes, no models)."""
        return graph_to_raw(self.graph) | {"graph": dict(self.graph.graph)}

    def links(self) -> list[SpecLink]:
        """The links as the spec lists them (ends remapped to node ids)."""
        return list(self._links)

    def __repr__(self) -> str:
        return f"BatchSpec(name={self.name!r}, nodes={self._order!r})"
