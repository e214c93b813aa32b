"""The state of one project while it runs: its choices, the journal being built, what each node made.

A :class:`ProjectRun` is plain state; the phases work on it: ``selection`` (permute groups, picks),
``journal_start`` (name, partial folder, base node), ``node_builders`` (one builder per node type),
``commit`` (post-process, rename into place, or fail). A journal extension composes the same pieces.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from masksmith.batch.context import RunContext
from masksmith.batch.inflight import InflightRecord
from masksmith.batch.outcome import FailureState
from masksmith.batch.spec import GLOBAL_GROUP, BatchSpec, PluginNode
from masksmith.journal.project import Journal

if TYPE_CHECKING:
    from masksmith.batch.project import BatchProject

__all__ = ["SCRATCH", "ProjectRun"]

SCRATCH = ".batch-scratch"
"""Folder inside a project being built for a run's intermediate files (removed before the commit)."""


class ProjectRun:
    """One project's state: index and generator, choices (groups, picks, draws), journal and folders.

    ``local`` maps each spec node that ran to what it made (``node``: journal node id, ``output``: its
    file, and the values it recorded), which later nodes' arguments refer to.
    """

    def __init__(
        self,
        project: BatchProject,
        ctx: RunContext,
        state: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        index: int | None = None,
    ) -> None:
        self.project = project
        self.spec: BatchSpec = project.spec
        self.ctx = ctx
        self.index = ctx.next_index() if index is None else index
        self.rng: np.random.Generator = ctx.rng_for(self.index)
        self.given: dict[str, Any] = {}
        for values in (state or {}).values():
            if isinstance(values, Mapping):
                self.given.update(values)
        self.from_state = state is not None
        self.permuted: dict[str, Any] = {}
        self.groups: dict[str, dict[str, Any]] = {}
        self.picks: dict[str, str] = {}
        self.local: dict[str, dict[str, Any]] = {}
        self.drawn: dict[str, dict[str, Any]] = {}
        self.function_state: dict[str, dict[str, Any]] = {}
        self.record: InflightRecord | None = None
        self.journal: Journal | None = None
        self.name: str | None = None
        self.partial: Path | None = None
        self.claimed_name: str | None = None
        self.passed_through = False

    def failure_state(self) -> FailureState:
        """``{group: {element: value}}``: named groups, then picks and random draws under ``__global__``."""
        state: FailureState = {g: dict(v) for g, v in self.groups.items()}
        glob = state.setdefault(GLOBAL_GROUP, {})
        for node_id, path in self.picks.items():
            if not any(node_id in values for values in self.groups.values()):
                glob[node_id] = path
        for node_id, values in self.drawn.items():
            for arg_name, value in values.items():
                element = f"{node_id}.{arg_name}"
                if not any(element in v for v in self.groups.values()):
                    glob[element] = value
        return {g: v for g, v in state.items() if v}

    def built(self) -> Journal:
        """The journal being built (after ``journal_start.start_journal``)."""
        assert self.journal is not None
        return self.journal

    def _j(self) -> Journal:
        return self.built()

    @property
    def scratch(self) -> Path:
        """The project's scratch folder (inside the partial folder)."""
        assert self.partial is not None
        return self.partial / SCRATCH

    def passthrough(self, node_id: str, node: PluginNode) -> bool:
        """Whether ``node``'s plugin is skipped (its source copied): test mode or a ``--passthrus`` entry."""
        return self.ctx.test_mode or node_id in self.ctx.passthrus or node.plugin_name in self.ctx.passthrus

    def record_or_raise(self) -> InflightRecord:
        """The project's in-flight record (made when selection starts)."""
        assert self.record is not None
        return self.record
