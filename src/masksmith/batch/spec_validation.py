"""Structural checks of a loaded batch specification: one start node, no cycle, links and names that resolve."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import networkx as nx

from masksmith.batch.jt_plugins import unknown_plugin_reason
from masksmith.batch.spec_arguments import DonorArg
from masksmith.batch.spec_nodes import (
    BaseSelection,
    ImageSelection,
    NodeAttachment,
    PluginNode,
    PreProcessedMediaOperation,
    SelectionNode,
)
from masksmith.errors import SpecError

if TYPE_CHECKING:
    from masksmith.batch.spec import BatchSpec

__all__ = ["validate_spec"]


def validate_spec(spec: BatchSpec, *, extension: bool | None, known_plugins: Iterable[str] | None) -> None:
    """Raise a SpecError naming the node and JSON path of the first structural problem of ``spec``.

    ``extension`` True wants one NodeAttachment (no BaseSelection), False one BaseSelection, None
    decides from the spec; ``known_plugins`` also refuses plugin names outside the set.
    """
    _check_start_node(spec, extension=extension)
    _check_roots(spec)
    if not nx.is_directed_acyclic_graph(spec.graph):
        cycle = [u for u, _ in nx.find_cycle(spec.graph)]
        raise SpecError(
            f"links: the dependencies form a cycle through {' -> '.join([*cycle, cycle[0]])}",
            node=cycle[0],
            path="links",
            cycle=cycle,
        )
    _check_references(spec, known_plugins)


def _where(spec: BatchSpec, node_id: str) -> str:
    return f"nodes[{spec.position(node_id)}]"


def _check_start_node(spec: BatchSpec, *, extension: bool | None) -> None:
    """Exactly one BaseSelection (creation) or NodeAttachment (extension), and none of the other."""
    order = spec.node_ids()
    attachments = [n for n in order if isinstance(spec.node(n), NodeAttachment)]
    bases = [n for n in order if isinstance(spec.node(n), BaseSelection)]
    if extension is None:
        extension = bool(attachments)
    starts, wanted, other = (
        (attachments, "NodeAttachment", bases) if extension else (bases, "BaseSelection", attachments)
    )
    kind = "an extension" if extension else "a creation"
    if len(starts) != 1:
        extra = starts[1] if len(starts) > 1 else None
        path = f"{_where(spec, starts[1])}.op_type" if len(starts) > 1 else "nodes"
        raise SpecError(
            f"{path}: {kind} spec needs exactly one {wanted} node, found {len(starts)}"
            + (f" ({', '.join(starts)})" if starts else ""),
            node=extra,
            path=path,
        )
    if other:
        path = f"{_where(spec, other[0])}.op_type"
        raise SpecError(
            f"{path}: {spec.node(other[0]).op_type} is not allowed in {kind} spec",
            node=other[0],
            path=path,
        )


def _check_roots(spec: BatchSpec) -> None:
    """Selection and attachment nodes have no predecessor (a ``connect: false`` link aside)."""
    link_index = {(link.source, link.target): i for i, link in enumerate(spec.links())}
    for node_id in spec.node_ids():
        node = spec.node(node_id)
        preds = spec.predecessors(node_id)
        if isinstance(node, ImageSelection):
            # a "connect": false link only orders execution and passes state (the original allows it)
            preds = [p for p in preds if spec.graph.edges[p, node_id].get("connect", True)]
        if isinstance(node, SelectionNode | NodeAttachment) and preds:
            path = f"links[{link_index[(preds[0], node_id)]}]"
            raise SpecError(
                f"{path}: {node.op_type} node {node_id!r} must have no predecessor, has {', '.join(preds)}",
                node=node_id,
                path=path,
            )


def _check_references(spec: BatchSpec, known_plugins: Iterable[str] | None) -> None:
    """Every ``source``/``target`` names a node, operations have a predecessor, plugins are known."""
    plugins = set(known_plugins) if known_plugins is not None else None
    for node_id in spec.node_ids():
        node = spec.node(node_id)
        where = _where(spec, node_id)
        if node.source is not None and node.source not in spec.graph:
            raise SpecError(
                f"{where}.source: no node has id {node.source!r}", node=node_id, path=f"{where}.source"
            )
        if isinstance(node, PluginNode | PreProcessedMediaOperation) and not spec.predecessors(node_id):
            raise SpecError(
                f"{where}: {node.op_type} has no predecessor to take its image from",
                node=node_id,
                path=where,
            )
        if plugins is not None and isinstance(node, PluginNode) and node.plugin_name not in plugins:
            reason = unknown_plugin_reason(node.plugin_name) or f"unknown plugin {node.plugin!r}"
            raise SpecError(f"{where}.plugin: {reason}", node=node_id, path=f"{where}.plugin")
        for name, arg in node.argument_specs.items():
            for key in ("source", "target"):
                ref = getattr(arg, key, None)
                if ref is None or (isinstance(arg, DonorArg) and ref == "base"):
                    continue
                if ref not in spec.graph:
                    path = f"{where}.arguments.{name}.{key}"
                    raise SpecError(f"{path}: no node has id {ref!r}", node=node_id, argument=name, path=path)
