"""Node building: one builder per spec node type, looked up in :data:`NODE_BUILDERS`.

A builder ``(run, node_id, node)`` adds what its node makes to the run's journal and notes it in
``run.local[node_id]``. :func:`run_node` dispatches by node type; an extension runs the same table.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from masksmith.batch.node_inputs import (
    connect_to,
    donor_nodes,
    edge_arguments,
    fill_operation_parameters,
    node_arguments,
    plugin_inputs,
    run_plugin,
)
from masksmith.batch.node_values import (
    csv_arguments,
    donor_value,
    is_recordable,
    jsonable,
    read_input_mask,
    safe_name,
    with_donor_arguments,
    with_variant,
)
from masksmith.batch.run_state import ProjectRun
from masksmith.batch.selectors import format_value
from masksmith.batch.spec import (
    ImageSelection,
    ImageSelectionPluginOperation,
    InputMaskPluginOperation,
    NodeAttachment,
    PluginOperation,
    PreProcessedMediaOperation,
    SpecNode,
)
from masksmith.errors import PluginError, SpecError
from masksmith.journal import paths
from masksmith.media import geometry, masks
from masksmith.media import io as media_io

__all__ = ["NODE_BUILDERS", "NodeBuilder", "builder_for", "run_node"]

NodeBuilder = Callable[[ProjectRun, str, Any], None]
"""Builds one spec node into the run's journal: ``(run, node_id, node)``."""


def build_image_selection(run: ProjectRun, node_id: str, node: ImageSelection) -> None:
    """A picked donor image: a new journal node."""
    journal = run.built()
    path = Path(run.picks[node_id])
    node_name = journal.add_image(path, nodetype="donor", **node.arguments)
    run.local[node_id] = {"node": node_name, "output": str(journal.path_of(node_name))}


def build_plugin_operation(run: ProjectRun, node_id: str, node: PluginOperation) -> None:
    """A plugin's manipulation: a new media node and the recorded operation edge (with its mask)."""
    journal = run.built()
    plugin, start, source, values = plugin_inputs(run, node_id, node)
    fill_operation_parameters(
        journal.catalogue, run.rng, run.drawn, node_id, plugin.operation, values, plugin
    )
    donors = donor_nodes(run, node_id, node, values)
    donor_path = journal.path_of(donors[0]) if donors else None
    input_mask_file = values.pop("inputmaskname", None)
    input_mask = read_input_mask(input_mask_file) if input_mask_file else None
    given = {k: donor_value(journal, v, k, node) for k, v in values.items()}
    arguments = plugin.resolve_arguments(with_donor_arguments(plugin, given, donor_path))
    passthrough = run.passthrough(node_id, node)
    suffix = source.suffix.lower() if passthrough else plugin.target_suffix(source, donor_path)
    end_id, target = journal.new_media_path(start, suffix)
    result = run_plugin(
        run,
        plugin,
        source,
        target,
        arguments,
        donor=donor_path,
        input_mask=input_mask,
        passthrough=passthrough,
        start=start,
    )
    if not target.is_file():
        raise PluginError(f"plugin {plugin.name!r} wrote no target image", file=target, node=node_id)
    donor_args = {a.name for a in plugin.arguments if a.type == "donor"}
    edge_args = edge_arguments(run, node, {k: v for k, v in arguments.items() if k not in donor_args}, end_id)
    edge_args.update({k: jsonable(v) for k, v in result.variables.items() if is_recordable(v)})
    description = str(format_value(node.description or "", run.ctx.globals, run.local, node=node_id))
    ref = journal.record(
        start,
        target,
        op=with_variant(result.operation or plugin.operation, node.variant),
        arguments=edge_args,
        donor=donors[0] if donors else None,
        input_mask=input_mask_file,
        target_pixels=result.target_pixels,
        changed=result.changed,
        plugin_name=node.plugin_name,
        software_name=plugin.software,
        software_version=plugin.version,
        description=description,
        save=False,
    )
    edge = journal.graph.edge(ref.start, ref.end)
    if node.experiment_id:
        edge["experiment_id"] = node.experiment_id
    if node.semanticGroups:
        edge["semanticGroups"] = list(node.semanticGroups)
    if result.transform_matrix is not None:
        edge["transform matrix"] = geometry.matrix_to_jt(np.asarray(result.transform_matrix, float))
    for extra in donors[1:]:
        journal.add_donor_edge(extra, ref.end, save=False)
    journal.save()
    run.local[node_id] = {
        **edge_args,
        **result.variables,
        "node": ref.end,
        "output": str(journal.path_of(ref.end)),
    }


def build_input_mask_operation(run: ProjectRun, node_id: str, node: InputMaskPluginOperation) -> None:
    """A plugin that makes an input mask (or a file) for later nodes; nothing enters the journal."""
    journal = run.built()
    plugin, start, source, values = plugin_inputs(run, node_id, node)
    donors = donor_nodes(run, node_id, node, values)
    donor_path = journal.path_of(donors[0]) if donors else None
    input_mask_file = values.get("inputmaskname")
    input_mask = read_input_mask(input_mask_file) if input_mask_file else None
    arguments = plugin.resolve_arguments({k: donor_value(journal, v, k, node) for k, v in values.items()})
    target = (
        run.scratch / f"{source.stem}_{safe_name(node.plugin)}_{safe_name(node_id)}{source.suffix.lower()}"
    )
    result = run_plugin(
        run,
        plugin,
        source,
        target,
        arguments,
        donor=donor_path,
        input_mask=input_mask,
        passthrough=run.passthrough(node_id, node),
        start=start,
    )
    output: Path | None = target if target.is_file() else None
    if result.mask is not None:
        output = run.scratch / f"{safe_name(node_id)}_inputmask.png"
        media_io.write_image(output, masks.to_input_mask(np.asarray(result.mask, bool)))
    variables = dict(result.variables)
    override = variables.pop("override_target", None)
    if override:
        output = Path(str(override))
    recordable = {k: jsonable(v) for k, v in arguments.items() if is_recordable(v)}
    run.local[node_id] = {
        **recordable,
        **variables,
        "node": start,
        "output": str(output) if output else None,
    }


def build_image_selection_plugin(run: ProjectRun, node_id: str, node: ImageSelectionPluginOperation) -> None:
    """A plugin that chooses a donor file: the chosen file becomes a new journal node."""
    journal = run.built()
    plugin, _start, source, values = plugin_inputs(run, node_id, node)
    arguments = plugin.resolve_arguments(values)
    target = run.scratch / f"{safe_name(node_id)}_selected{source.suffix.lower()}"
    passthrough = run.passthrough(node_id, node)
    result = run_plugin(
        run, plugin, source, target, arguments, donor=None, input_mask=None, passthrough=passthrough
    )
    chosen = Path(result.file) if result.file is not None else (target if passthrough else None)
    if chosen is None:
        raise PluginError(f"plugin {plugin.name!r} returned no 'file'", node=node_id)
    if not chosen.is_file():
        raise PluginError(
            f"plugin {plugin.name!r} chose a file that does not exist", file=chosen, node=node_id
        )
    new = journal.add_image(chosen, nodetype="donor")
    run.local[node_id] = {
        **result.variables,
        "node": new,
        "output": str(journal.path_of(new)),
        "file": str(chosen),
    }


def _preprocessed_media(
    run: ProjectRun, node_id: str, node: PreProcessedMediaOperation, source: Path, directory: Path
) -> Path:
    """The one file of ``directory`` made from ``source`` (or from the project, by name)."""
    if node.copy_:
        return source
    matches = sorted(p for p in directory.glob(f"{source.stem}*") if p.is_file() and p.suffix != ".csv")
    if not matches:
        matches = sorted(p for p in directory.glob(f"{run.name}*") if p.is_file() and p.suffix != ".csv")
    if len(matches) != 1:
        raise SpecError(
            f"expected exactly one media file for {source.stem!r} in {directory}, found {len(matches)}",
            node=node_id,
        )
    return matches[0]


def build_preprocessed(run: ProjectRun, node_id: str, node: PreProcessedMediaOperation) -> None:
    """Media made elsewhere (a folder of results): copied in and recorded as the node's operation."""
    journal = run.built()
    start = connect_to(run, node_id, node)
    source = journal.path_of(start)
    directory = Path(str(format_value(node.directory, run.ctx.globals, run.local, node=node_id)))
    media = _preprocessed_media(run, node_id, node, source, directory)
    values = node_arguments(run, node_id, node)
    if node.argument_file:
        argument_file = str(format_value(node.argument_file, run.ctx.globals))
        try:  # the spec's argument file lives in the node's directory, not elsewhere
            csv_path = paths.resolve(directory, argument_file, attribute="argument file", node=node_id)
        except paths.PathEscapeError as exc:
            raise SpecError(exc.message, node=node_id, argument="argument file") from None
        values.update(csv_arguments(csv_path, media.name, node.argument_names, node_id))
    fill_operation_parameters(journal.catalogue, run.rng, run.drawn, node_id, node.op, values, None)
    donors = donor_nodes(run, node_id, node, values)
    end_id, target = journal.new_media_path(start, media.suffix.lower())
    edge_args = edge_arguments(run, node, values, end_id)
    shutil.copyfile(media, target)
    ref = journal.record(
        start,
        target,
        op=node.op,
        arguments=edge_args,
        donor=donors[0] if donors else None,
        software_name=node.software or "unknown",
        software_version=node.software_version or "",
        description=str(format_value(node.description or "", run.ctx.globals, run.local, node=node_id)),
        save=False,
    )
    edge = journal.graph.edge(ref.start, ref.end)
    edge["automated"] = "yes"
    if node.experiment_id:
        edge["experiment_id"] = node.experiment_id
    journal.save()
    run.local[node_id] = {**edge_args, "node": ref.end, "output": str(journal.path_of(ref.end))}


def _refuse_attachment(run: ProjectRun, node_id: str, node: NodeAttachment) -> None:
    raise SpecError("NodeAttachment belongs to extension specs (batch extend)", node=node_id)


NODE_BUILDERS: dict[type[SpecNode], NodeBuilder] = {
    ImageSelection: build_image_selection,
    PluginOperation: build_plugin_operation,
    InputMaskPluginOperation: build_input_mask_operation,
    ImageSelectionPluginOperation: build_image_selection_plugin,
    PreProcessedMediaOperation: build_preprocessed,
    NodeAttachment: _refuse_attachment,
}
"""Builder per spec node type. BaseSelection has none: the journal starts from it (``journal_start``)."""


def builder_for(node: SpecNode, builders: dict[type[SpecNode], NodeBuilder] = NODE_BUILDERS) -> NodeBuilder:
    """The builder of ``node``'s type (or its nearest base class) in ``builders``."""
    for kind in type(node).__mro__:
        if kind in builders:
            return builders[kind]
    raise SpecError(f"unexpected {node.op_type} node", node=node.id)


def run_node(
    run: ProjectRun, node_id: str, builders: dict[type[SpecNode], NodeBuilder] = NODE_BUILDERS
) -> None:
    """Build spec node ``node_id`` with the builder its type has in ``builders``."""
    node = run.spec.node(node_id)
    builder_for(node, builders)(run, node_id, node)
