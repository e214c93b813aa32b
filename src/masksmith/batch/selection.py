"""Selection: advance the permute groups, pick each selection node's image, claim it in the record.

Every pool image is taken through ``Picklist.pick`` (the one picklist claim, reached through
``inflight.claim_pick``): the project's in-flight record notes the pick before it reaches the
picklist, so a killed run can give it back.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from typing import Any

import numpy as np

from masksmith.batch.context import RunContext
from masksmith.batch.inflight import InflightRecord, claim_pick, release_names
from masksmith.batch.permutations import PermutationManager, SelectionElement, SequenceElement
from masksmith.batch.run_state import ProjectRun
from masksmith.batch.selectors import format_value
from masksmith.batch.spec import BatchSpec, SelectionNode
from masksmith.batch.state import Picklist, PoolExhausted, list_pool
from masksmith.errors import SpecError

__all__ = [
    "ClaimingSelection",
    "permutation_manager",
    "pool_files",
    "register_permuted",
    "release_picks",
    "select_images",
]

_current = threading.local()
"""The record and generator of the project selecting on this thread (read by ``ClaimingSelection``)."""


class ClaimingSelection(SelectionElement):
    """A permute-group image pool whose new picks are written into the running project's record."""

    def __init__(self, name: str, pool: Callable[[], list[str]], picklist: Picklist, group: str) -> None:
        super().__init__(name, pool, picklist, rng=None)
        self.group = group

    def step(self) -> bool:
        record: InflightRecord | None = getattr(_current, "record", None)
        rng: np.random.Generator | None = getattr(_current, "rng", None)
        try:
            self.file = claim_pick(self.picklist, self.pool(), rng, record, group=self.group)
        except PoolExhausted:
            return False
        return True


def pool_files(node: SelectionNode, globals_: Mapping[str, Any]) -> list[str]:
    """The files a selection node picks from (``image_directory`` formatted with the globals)."""
    directory = format_value(node.image_directory, globals_, node=node.id)
    return list_pool(str(directory), node.filetypes)


def permutation_manager(spec: BatchSpec, ctx: RunContext) -> PermutationManager:
    """Named permute groups of ``spec``; selection pools claim their images in the project record."""
    manager = PermutationManager(ctx.workdir)
    for group, members in spec.permute_groups().items():
        for member in members:
            if isinstance(member.spec, SelectionNode):
                node = member.spec

                def pool(node: SelectionNode = node) -> list[str]:
                    return pool_files(node, ctx.globals)

                picklist = Picklist(ctx.workdir, node.picklist_name)
                manager.register(group, ClaimingSelection(member.element, pool, picklist, group))
            elif not member.deferred:
                manager.register(group, SequenceElement(member.element, member.spec.values()))
    manager.load()
    return manager


def select_images(run: ProjectRun, keep: AbstractSet[str] = frozenset()) -> None:
    """Advance the permute groups (or replay a failed state) and pick the selection nodes' images.

    Nodes in ``keep`` keep their earlier pick (an extension's global nodes).
    """
    _current.record, _current.rng = run.record_or_raise(), run.rng
    try:
        if run.from_state:
            _groups_from_state(run)
        else:
            manager = run.ctx.manager(run.project)
            if manager.groups:
                run.groups = manager.advance_all()
        for values in run.groups.values():
            run.permuted.update(values)
        for node_id in run.spec.node_ids():
            node = run.spec.node(node_id)
            if isinstance(node, SelectionNode) and node_id not in keep:
                run.picks[node_id] = _pick(run, node_id, node)
    finally:
        _current.record = _current.rng = None


def _groups_from_state(run: ProjectRun) -> None:
    for group, members in run.spec.permute_groups().items():
        run.groups[group] = {m.element: run.given[m.element] for m in members if m.element in run.given}


def _in_pool(run: ProjectRun, node_id: str, node: SelectionNode, value: object) -> str:
    """A file named by a ``--from_state`` line, accepted only when it is in the node's pool."""
    path = str(value)
    if node.image_directory:
        pool = pool_files(node, run.ctx.globals)
    else:
        pool = [str(format_value(f, run.ctx.globals, node=node_id)) for f in node.files or ()]
    real = os.path.realpath(path)
    if not any(real == os.path.realpath(candidate) for candidate in pool):
        raise SpecError(
            f"--from_state names {path!r}, which is not in this node's pool; refused",
            node=node_id,
            argument="from_state",
        )
    return path


def _pick(run: ProjectRun, node_id: str, node: SelectionNode) -> str:
    if node_id in run.permuted:
        if run.from_state and node_id in run.given:
            return _in_pool(run, node_id, node, run.permuted[node_id])
        return str(run.permuted[node_id])
    if node_id in run.given:
        path = _in_pool(run, node_id, node, run.given[node_id])
        if node.image_directory:
            Picklist(run.ctx.workdir, node.picklist_name).add(path)
        return path
    if node.files:
        files = [str(format_value(f, run.ctx.globals, node=node_id)) for f in node.files]
        return files[int(run.rng.integers(len(files)))]
    picklist = Picklist(run.ctx.workdir, node.picklist_name)
    return claim_pick(picklist, pool_files(node, run.ctx.globals), run.rng, run.record)


def release_picks(run: ProjectRun) -> None:
    """Put the pool images this project took (outside permute groups) back on their pools."""
    by_list: dict[str, list[str]] = {}
    for pick in run.record_or_raise().picks:
        if not pick.get("group"):
            by_list.setdefault(pick["picklist"], []).append(pick["name"])
    for picklist, names in by_list.items():
        release_names(run.ctx.workdir / f"{picklist}.txt", names)


def register_permuted(run: ProjectRun, group: str, element: str, values: list[Any]) -> Any:
    """The current value of a permute-group element an argument declares while the project runs."""
    if run.from_state and element in run.given:
        return run.given[element]
    manager = run.ctx.manager(run.project)
    with manager.lock:
        registered = manager.register(group, SequenceElement(element, values))
        if not registered.started:
            registered.start()
        value = registered.current
        manager.save()
    run.groups.setdefault(group, {})[element] = value
    run.permuted[element] = value
    return value
