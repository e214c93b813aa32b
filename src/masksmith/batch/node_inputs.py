"""What a node builder starts from and records: source and donor nodes, masks, arguments, plugin runs.

Functions of a :class:`~masksmith.batch.run_state.ProjectRun`; node builders (creation and
extension alike) call them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import numpy.typing as npt

from masksmith.batch.node_values import is_recordable, jsonable, safe_name
from masksmith.batch.run_state import ProjectRun
from masksmith.batch.selection import register_permuted
from masksmith.batch.selectors import ArgumentContext, draw_parameter, resolve_argument
from masksmith.batch.spec import (
    DonorArg,
    ImageFileArg,
    InputArg,
    InputMaskPluginOperation,
    MaskArg,
    PluginNode,
    PreProcessedMediaOperation,
)
from masksmith.errors import PluginError, SpecError
from masksmith.media import io as media_io
from masksmith.media import masks
from masksmith.operations import Catalogue
from masksmith.plugins import Plugin, PluginContext, PluginResult, get_plugin

__all__ = [
    "FILE_KINDS",
    "OperationNode",
    "connect_to",
    "donor_nodes",
    "edge_arguments",
    "fill_operation_parameters",
    "node_arguments",
    "plugin_inputs",
    "run_plugin",
]

FILE_KINDS = (ImageFileArg, InputArg, MaskArg)
"""Argument kinds whose values are files (copied into the journal folder when recorded)."""

OperationNode = PluginNode | PreProcessedMediaOperation
"""A spec node that starts from a journal node and makes (or records) an operation."""


def _made(run: ProjectRun, spec_node: str, node_id: str, what: str) -> str:
    """The journal node spec node ``spec_node`` made; a SpecError naming ``what`` when it made none."""
    state = run.local.get(spec_node)
    if state is None or "node" not in state:
        raise SpecError(f"{what} {spec_node!r} produced no image", node=node_id)
    return str(state["node"])


def connect_to(run: ProjectRun, node_id: str, node: OperationNode) -> str:
    """Journal node the operation starts from: ``source``, else the first connect-to predecessor."""
    if node.usebaseimage:
        return run.built().graph.base_node()
    return _made(run, _connect_to_spec(run, node_id, node), node_id, "source node")


def _connect_to_spec(run: ProjectRun, node_id: str, node: OperationNode) -> str:
    """Spec node the operation starts from. Among several candidates, one on the base's path wins
    (a donor branch joined without a ``donor`` flag is then the node's other predecessor)."""
    candidates = run.spec.connect_to_candidates(node_id)
    if node.source is not None and node.source in run.local:
        return node.source
    if len(candidates) > 1:
        on_base_path = [c for c in candidates if _on_base_path(run, c)]
        return (on_base_path or candidates)[0]
    if candidates:
        return candidates[0]
    preds = run.spec.predecessors(node_id)
    if not preds:
        raise SpecError("no predecessor to take the source image from", node=node_id)
    return preds[0]


def _on_base_path(run: ProjectRun, spec_node: str) -> bool:
    state = run.local.get(spec_node)
    if state is None or "node" not in state:
        return False
    graph = run.built().graph
    return bool(nx.has_path(graph.graph, graph.base_node(), str(state["node"])))


def _donor_node(run: ProjectRun, node_id: str, source: str | None) -> str:
    journal = run.built()
    if source == "base":
        return journal.graph.base_node()
    if source is not None:
        return _made(run, source, node_id, "donor source")
    donors = [p for p in run.spec.predecessors(node_id) if run.spec.link(p, node_id).get("donor")]
    if not donors:
        # as the original: without a donor link, the donor is the node's other predecessor
        node = run.spec.node(node_id)
        start = _connect_to_spec(run, node_id, node) if isinstance(node, PluginNode) else None
        donors = [
            p
            for p in run.spec.predecessors(node_id)
            if p != start
            and not isinstance(run.spec.node(p), InputMaskPluginOperation)
            and "node" in run.local.get(p, {})
        ]
    if len(donors) != 1:
        raise SpecError(
            "donor argument without 'source' needs one donor link or exactly one predecessor besides"
            f" the source image, found {len(donors)}" + (f" ({', '.join(donors)})" if donors else ""),
            node=node_id,
        )
    return str(run.local[donors[0]]["node"])


def _mask_file(run: ProjectRun, node_id: str, source: str, target: str | None, invert: bool) -> str:
    journal = run.built()
    end_spec = target or source
    state = run.local.get(end_spec)
    if state is None or "node" not in state:
        raise SpecError(f"mask source {end_spec!r} produced no journal node", node=node_id)
    end = str(state["node"])
    start = journal.graph.operation_predecessor(end)
    if start is None:
        raise SpecError(f"node {end_spec!r} has no operation edge to take a mask from", node=node_id)
    path = journal.mask_path(start, end)
    if not invert:
        return str(path)
    changed = masks.from_edge_file(media_io.read_image(path).pixels)
    out = run.scratch / f"{start}_{end}_inverted_mask.png"
    media_io.write_image(out, masks.to_input_mask(changed))
    return str(out)


def _image_file(run: ProjectRun, node_id: str, source: str) -> str:
    return str(run.built().path_of(_made(run, source, node_id, "imagefile source")))


def node_arguments(run: ProjectRun, node_id: str, node: OperationNode) -> dict[str, Any]:
    """The node's spec arguments resolved (or replayed from a failure state); random draws recorded."""
    ctx = ArgumentContext(
        node=node_id,
        rng=run.rng,
        globals=run.ctx.globals,
        local=run.local,
        permuted=run.permuted,
        register_permuted=lambda group, element, values: register_permuted(run, group, element, values),
        image_file=lambda source: _image_file(run, node_id, source),
        mask_file=lambda source, target, invert: _mask_file(run, node_id, source, target, invert),
        donor_node=lambda source: _donor_node(run, node_id, source),
        function_state=run.function_state,
    )
    values: dict[str, Any] = {}
    for name, arg in node.argument_specs.items():
        element = f"{node_id}.{name}"
        if element in run.given and not isinstance(arg, (*FILE_KINDS, DonorArg)):
            values[name] = run.given[element]
        else:
            values[name] = resolve_argument(name, arg, ctx)
        random_kind = arg.kind in ("list", "int", "float", "yesno", "plugin")
        if (random_kind or element in run.permuted) and is_recordable(values[name]):
            run.drawn.setdefault(node_id, {})[name] = jsonable(values[name])
    return values


def fill_operation_parameters(
    catalogue: Catalogue,
    rng: np.random.Generator,
    drawn: dict[str, dict[str, Any]],
    node_id: str,
    op_name: str,
    values: dict[str, Any],
    plugin: Plugin | None,
) -> None:
    """Draw, by catalogue type, the mandatory parameters the spec left unset (as the original did).

    Each draw is noted in ``drawn[node_id]`` (the project's failure state).
    """
    operation = catalogue.find(op_name)
    params = dict(operation.mandatory) if operation is not None else {}
    # the plugin's own default comes before a random draw from the catalogue's wider value list
    defaults = {a.name: a.default for a in plugin.arguments if a.default is not None} if plugin else {}
    for pname in params:
        if values.get(pname) in (None, "") and pname in defaults:
            values[pname] = defaults[pname]
    if plugin is not None:
        for arg in plugin.arguments:
            if arg.required and arg.default is None and arg.name not in params:
                with contextlib.suppress(Exception):
                    params[arg.name] = arg.parameter()
    # optional parameters made mandatory by a `rule` depend on values drawn here (e.g. a
    # PasteSplice purpose of 'blend' needs a mode), so draw until nothing new is required
    while params:
        for pname, param in params.items():
            if values.get(pname) not in (None, "") or not param.applies_to("image"):
                continue
            value = draw_parameter(param, rng)
            if value is not None:
                values[pname] = value
                drawn.setdefault(node_id, {})[pname] = jsonable(value)
        if operation is None:
            break
        params = {
            k: p
            for k, p in operation.optional.items()
            if p.required_by(values) and values.get(k) in (None, "") and p.applies_to("image")
        }


def run_plugin(
    run: ProjectRun,
    plugin: Plugin,
    source: Path,
    target: Path,
    arguments: dict[str, Any],
    *,
    donor: Path | None,
    input_mask: npt.NDArray[np.bool_] | None,
    passthrough: bool,
    start: str | None = None,
) -> PluginResult:
    """Run ``plugin`` from ``source`` to ``target`` (a copy when ``passthrough``); its result checked."""
    if passthrough:
        run.passed_through = True
        shutil.copyfile(source, target)
        return PluginResult()
    journal = run.built()
    context = PluginContext(
        source=source,
        target=target,
        arguments=arguments,
        rng=run.rng,
        workdir=run.scratch,
        donor=donor,
        input_mask=input_mask,
        _pixels=journal.cached_pixels(start) if start is not None else None,
    )
    result = plugin.transform(context)
    decoded = context.decoded_pixels
    if start is not None and decoded is not None:
        # the plugin decoded the source: the journal's comparison reuses it instead of decoding again
        journal.cache_pixels(start, decoded)
    if not isinstance(result, PluginResult):
        raise PluginError(f"plugin {plugin.name!r} returned {type(result).__name__}, not a PluginResult")
    return result


def plugin_inputs(
    run: ProjectRun, node_id: str, node: PluginNode
) -> tuple[Plugin, str, Path, dict[str, Any]]:
    """What every plugin-running node starts from: the plugin, its source node and file, its arguments."""
    plugin = get_plugin(node.plugin_name)
    start = connect_to(run, node_id, node)
    return plugin, start, run.built().path_of(start), node_arguments(run, node_id, node)


def donor_nodes(run: ProjectRun, node_id: str, node: OperationNode, values: dict[str, Any]) -> list[str]:
    """Journal nodes donating to this operation: donor arguments, then predecessors over donor links."""
    donors: list[str] = []
    for name, arg in node.argument_specs.items():
        if isinstance(arg, DonorArg) and values.get(name):
            donors.append(str(values[name]))
    for pred in run.spec.predecessors(node_id):
        if run.spec.link(pred, node_id).get("donor") and pred in run.local:
            candidate = str(run.local[pred].get("node"))
            if candidate not in donors:
                donors.append(candidate)
    return donors


def edge_arguments(
    run: ProjectRun, node: OperationNode, arguments: Mapping[str, Any], end_id: str
) -> dict[str, Any]:
    """Recordable arguments; files (imagefile, input, mask) are copied into the journal folder."""
    journal = run.built()
    specs = node.argument_specs
    declared = journal.graph.attributes.get("edgeFilePaths") or {}  # the spec's own file arguments too
    out: dict[str, Any] = {}
    for name, value in arguments.items():
        spec = specs.get(name)
        if isinstance(spec, DonorArg):
            continue
        is_file = isinstance(spec, FILE_KINDS) or f"arguments.{name}" in declared
        if is_file and isinstance(value, str | os.PathLike):
            path = Path(value)
            if path.is_file() and path.resolve().parent != journal.directory.resolve():
                copy = journal.directory / f"{end_id}_{safe_name(name)}{path.suffix.lower()}"
                shutil.copyfile(path, copy)
                path = copy
            out[name] = path.name
            file_paths = journal.graph.attributes.setdefault("edgeFilePaths", {})
            if isinstance(file_paths, dict):
                file_paths.setdefault(f"arguments.{name}", "")
        elif is_recordable(value):
            out[name] = jsonable(value)
    return out
