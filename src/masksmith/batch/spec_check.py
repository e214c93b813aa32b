"""Checks a loaded specification against the plugins it names, before any project is made.

Every plugin argument that is required, has no default, is not given by the spec and is not one the
engine fills itself (donor files; catalogue parameters drawn at random as the original did) is
reported, all of them in one error, so a spec is fixed in one pass.
"""

from __future__ import annotations

from masksmith.batch.spec import BatchSpec, PluginNode
from masksmith.errors import MasksmithError, SpecError
from masksmith.operations import default_catalogue
from masksmith.plugins import get_plugin

#: Argument types the engine fills from the spec's links (the donor link's image).
_FILLED_BY_ENGINE = frozenset({"donor"})


def missing_arguments(spec: BatchSpec) -> list[str]:
    """``node 'id' (Plugin): name, name`` for each plugin node that leaves required arguments unset."""
    catalogue = default_catalogue()
    problems = []
    for node_id in spec.node_ids():
        node = spec.node(node_id)
        if not isinstance(node, PluginNode):
            continue
        try:
            plugin = get_plugin(node.plugin)
        except MasksmithError:
            continue  # an unknown plugin is reported by the loader
        operation = catalogue.find(plugin.operation)
        drawn = set(operation.mandatory) if operation is not None else set()
        missing = [
            arg.name
            for arg in plugin.arguments
            if arg.required
            and arg.default is None
            and arg.type not in _FILLED_BY_ENGINE
            and arg.name not in node.arguments
            and not any(alias in node.arguments for alias in plugin.argument_aliases.get(arg.name, ()))
            and arg.name not in drawn
        ]
        if missing:
            problems.append(f"node {node_id!r} ({node.plugin}): {', '.join(missing)}")
    return problems


def check_required_arguments(spec: BatchSpec, *, file: str | None = None) -> None:
    """Raise one SpecError listing every required plugin argument the spec leaves unset."""
    problems = missing_arguments(spec)
    if problems:
        raise SpecError(
            "missing required arguments (see 'masksmith plugins show NAME'): " + "; ".join(problems),
            file=file,
        )
