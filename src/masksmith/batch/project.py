"""BatchProject: build one journal from a batch specification (seed §3, §6.1).

A project picks its images (claimed in an in-flight record before they go on a picklist), builds the
journal in ``<projects>/.<name>.partial-<pid>``, runs every spec node in dependency order, post-
processes (recompress, rename finals to ``<md5>.<ext>``, validation) and only then renames the folder
into place. A failure removes the folder (or keeps it as ``<name>.failed``) and appends the project's
permutation state to the dated failure file, so ``--from_state`` can redo exactly that project.

The pieces live in their own modules: ``context`` (run context, global state), ``selection``
(permute groups, picks), ``journal_start``, ``node_builders`` (one builder per node type, on
``node_inputs``), ``commit`` (post-process, rename into place, fail) and ``extension_run``; this
module composes them into the coordinator's :meth:`BatchProject.select`, the worker's
:meth:`BatchProject.build` and :meth:`BatchProject.settle`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import networkx as nx

from masksmith.batch.commit import OVERVIEW_FILE, commit, fail, post_process, write_overview
from masksmith.batch.context import (
    CONTEXT_KEY,
    RunContext,
    context_of,
    create_global_state,
    createGlobalState,
    load_global_variables,
    run_initializers,
)
from masksmith.batch.extension_run import ExtensionRun
from masksmith.batch.inflight import InflightRecord
from masksmith.batch.journal_start import start_journal
from masksmith.batch.node_builders import run_node
from masksmith.batch.node_inputs import fill_operation_parameters
from masksmith.batch.outcome import (
    ExtensionResult,
    NodeFailure,
    ProjectOutcome,
    SelectedProject,
    describe_error,
)
from masksmith.batch.permutations import PermutationExhausted, PermutationManager
from masksmith.batch.run_state import SCRATCH, ProjectRun
from masksmith.batch.selection import permutation_manager, pool_files, release_picks, select_images
from masksmith.batch.selectors import check_function_name, spec_function
from masksmith.batch.spec import BatchSpec, PluginArg, SelectionNode, load_spec
from masksmith.batch.spec_check import check_required_arguments
from masksmith.batch.state import PoolExhausted
from masksmith.errors import MasksmithError, SpecError
from masksmith.journal import paths
from masksmith.journal.project import Journal
from masksmith.plugins import Plugin, plugin_names

__all__ = [
    "CONTEXT_KEY",
    "OVERVIEW_FILE",
    "SCRATCH",
    "BatchProject",
    "ExtensionResult",
    "ProjectOutcome",
    "RunContext",
    "SelectedProject",
    "context_of",
    "createGlobalState",
    "create_global_state",
    "load_global_variables",
    "run_initializers",
    "write_overview",
]

log = logging.getLogger("masksmith.batch")


class BatchProject:
    """A loaded batch specification that can make projects (journals)."""

    def __init__(
        self,
        spec: str | os.PathLike[str] | Mapping[str, Any] | nx.Graph | BatchSpec,
        *,
        known_plugins: Iterable[str] | None = None,
        require_project_fields: bool = False,
    ) -> None:
        if known_plugins is None:
            known_plugins = plugin_names()
        self.spec = (
            spec
            if isinstance(spec, BatchSpec)
            else load_spec(
                spec,
                extension=None,
                known_plugins=known_plugins,
                require_project_fields=require_project_fields,
            )
        )
        self.filename = os.fspath(spec) if isinstance(spec, str | os.PathLike) else None
        self._check_functions()
        check_required_arguments(self.spec, file=self.filename)

    @property
    def name(self) -> str:
        return self.spec.name or (Path(self.filename).stem if self.filename else "batch")

    def _check_functions(self) -> None:
        """Refuse, at load time, post-processors and spec functions a spec may not call."""
        for node_id in self.spec.node_ids():
            for arg_name, arg in self.spec.node(node_id).argument_specs.items():
                if arg.function:
                    check_function_name(arg.function, node=node_id, argument=arg_name)
                if isinstance(arg, PluginArg):
                    spec_function(arg.name, node=node_id, argument=arg_name)

    # --- graph picture ----------------------------------------------------------------------------

    def display_graph(self) -> nx.DiGraph:
        """The spec as a graph the report module can draw (labels: plugin or op_type; donor links dashed)."""
        graph = nx.DiGraph()
        for node_id in self.spec.node_ids():
            node = self.spec.node(node_id)
            label = getattr(node, "plugin", None) or getattr(node, "op", None) or node.op_type
            graph.add_node(node_id, nodetype=label)
        for source, target, data in self.spec.graph.edges(data=True):
            graph.add_edge(source, target, op="Donor" if data.get("donor") else "")
        return graph

    def save_graph_image(self, directory: str | os.PathLike[str]) -> Path:
        """Write ``<name>.png`` (the spec graph) and ``<name>.csv`` (node id and position) into ``directory``."""
        from masksmith.report.files import export_positions_csv
        from masksmith.report.graph_image import render_graph_png
        from masksmith.report.layout import compute_layout

        try:  # graph.name comes from the spec: it names files in ``directory``, never a path
            name = paths.plain_name(self.name, attribute="graph.name", node="graph")
        except paths.PathEscapeError as exc:
            raise SpecError(exc.message, file=self.filename, node="graph", path="graph.name") from None
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        graph = self.display_graph()
        png = render_graph_png(graph, folder / f"{name}.png", title=name)
        export_positions_csv(compute_layout(graph).positions, folder / f"{name}.csv")
        return png

    saveGraphImage = save_graph_image

    # --- permutations -----------------------------------------------------------------------------

    def pool(self, node: SelectionNode, globals_: Mapping[str, Any]) -> list[str]:
        """The files a selection node picks from (``image_directory`` formatted with the globals)."""
        return pool_files(node, globals_)

    def build_manager(self, ctx: RunContext) -> PermutationManager:
        """Named permute groups of the spec; selection pools claim their images in the project record."""
        return permutation_manager(self.spec, ctx)

    # --- running ----------------------------------------------------------------------------------

    def execute_once(self, global_state: Mapping[str, Any]) -> tuple[str | None, str | None]:
        """Make one project in this thread: ``(project directory, name)``, or ``(None, name)`` on failure."""
        outcome = self.run(context_of(global_state))
        return (str(outcome.directory) if outcome.status == "made" else None), outcome.name

    executeOnce = execute_once

    def run(self, ctx: RunContext, *, state: Mapping[str, Mapping[str, Any]] | None = None) -> ProjectOutcome:
        """Make one project; ``state`` (a failure-file line) repeats a failed project's choices."""
        selected = self.select(ctx, state=state)
        if isinstance(selected, ProjectOutcome):
            return selected
        outcome = self.build(ctx, selected)
        self.settle(ctx, selected, outcome)
        return outcome

    def select(
        self, ctx: RunContext, *, state: Mapping[str, Mapping[str, Any]] | None = None
    ) -> SelectedProject | ProjectOutcome:
        """The coordinator's half of a project: take the next index, advance the permute groups and claim
        the images (in an in-flight record). Returns what :meth:`build` needs, or the outcome when the
        project ends here (``exhausted``, or ``failed`` while selecting)."""
        return _ProjectRun(self, ctx, state).select_phase()

    def build(self, ctx: RunContext, selected: SelectedProject) -> ProjectOutcome:
        """The worker's half: build, post-process and commit the journal of a selected project.

        Touches no picklist, cursor or failure file; safe to run again after a worker died mid-way.
        """
        return _ProjectRun.from_selected(self, ctx, selected).build_phase()

    def settle(self, ctx: RunContext, selected: SelectedProject, outcome: ProjectOutcome) -> None:
        """The coordinator records a built project: its failure line (if it failed), then drops its record."""
        if outcome.status == "failed" and outcome.state and ctx.failure_log is not None:
            ctx.failure_log.append(outcome.state)
        with contextlib.suppress(FileNotFoundError):
            selected.record_path.unlink()

    def extend(
        self,
        ctx: RunContext,
        journal: Journal,
        nodes: Iterable[str],
        *,
        username: str | None = None,
        organization: str | None = None,
        index: int | None = None,
    ) -> ExtensionResult:
        """Extend ``journal`` (changed in place and saved) from the spec's NodeAttachment at each node.

        ``index`` picks the extension's random generator (the seed's ``index``-th child); the driver
        assigns it in journal order so a seed draws the same values on any executor. None takes the
        context's next index.

        The caller owns the journal folder: on failure it is left half-extended, so extend a working
        copy (``masksmith.batch.extend`` does). Validation errors the extension did not add are ignored.
        """
        if not self.spec.is_extension:
            raise SpecError("extending a journal needs a specification with a NodeAttachment node")
        return ExtensionRun(
            self, ctx, journal, nodes, username=username, organization=organization, index=index
        ).execute()


# --------------------------------------------------------------------------------------------------
# One project: the selection and build phases over a ProjectRun
# --------------------------------------------------------------------------------------------------


class _ProjectRun(ProjectRun):
    """A project's two phases: selection on the coordinator, build (start, nodes, commit) on a worker."""

    def execute(self) -> ProjectOutcome:
        selected = self.select_phase()
        if isinstance(selected, ProjectOutcome):
            return selected
        outcome = self.build_phase()
        self.project.settle(self.ctx, selected, outcome)
        return outcome

    def select_phase(self) -> SelectedProject | ProjectOutcome:
        self.record = record = InflightRecord.create(self.ctx.workdir)
        try:
            select_images(self)
        except (PermutationExhausted, PoolExhausted) as exc:
            release_picks(self)
            record.remove()
            return ProjectOutcome("exhausted", error=describe_error(exc))
        except MasksmithError as exc:
            release_picks(self)
            outcome = fail(self, NodeFailure(self.spec.base_node(), exc))
            if outcome.state and self.ctx.failure_log is not None:
                self.ctx.failure_log.append(outcome.state)
            record.remove()
            return outcome
        except BaseException:
            record.remove()
            raise
        record.update(status="selected")
        return SelectedProject(
            self.index,
            self.rng,
            record.path,
            dict(record.data),
            given=dict(self.given),
            from_state=self.from_state,
            groups={g: dict(v) for g, v in self.groups.items()},
            permuted=dict(self.permuted),
            picks=dict(self.picks),
        )

    @classmethod
    def from_selected(cls, project: BatchProject, ctx: RunContext, selected: SelectedProject) -> _ProjectRun:
        run = cls(project, ctx, None, index=selected.index)
        run.rng = selected.rng
        run.given = dict(selected.given)
        run.from_state = selected.from_state
        run.groups = {g: dict(v) for g, v in selected.groups.items()}
        run.permuted = dict(selected.permuted)
        run.picks = dict(selected.picks)
        run.record = InflightRecord(selected.record_path, dict(selected.record_data))
        return run

    def _committed_earlier(self) -> ProjectOutcome | None:
        """The outcome of an earlier attempt of this build that renamed its project into place but died
        before reporting (a distributed task retried after its worker was killed), else None."""
        try:
            data = json.loads(self.record_or_raise().path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        name, partial = data.get("final"), data.get("partial")
        if data.get("status") != "committing" or not name or not partial:
            return None
        final = self.ctx.projects / str(name)
        if not final.is_dir() or (self.ctx.projects / str(partial)).exists():
            return None  # the rename did not happen: build again
        log.info("project %s was made by an earlier attempt of this task", name)
        return ProjectOutcome("made", str(name), final, state=self.failure_state())

    def build_phase(self) -> ProjectOutcome:
        earlier = self._committed_earlier()
        if earlier is not None:
            return earlier
        try:
            start_journal(self)
            for node_id in self.spec.topological_order():
                if node_id in self.local:
                    continue
                try:
                    run_node(self, node_id)
                except Exception as exc:
                    raise NodeFailure(node_id, exc) from exc
            post_process(self)
            return commit(self)
        except NodeFailure as failure:
            return fail(self, failure)
        except Exception as exc:
            return fail(self, NodeFailure("(post-processing)", exc))
        finally:
            if self.claimed_name is not None:
                self.ctx.claims.release(self.claimed_name)

    def _fill_operation_parameters(
        self, node_id: str, op_name: str, values: dict[str, Any], plugin: Plugin | None
    ) -> None:
        """``node_inputs.fill_operation_parameters`` with this run's catalogue, generator and draws."""
        fill_operation_parameters(self._j().catalogue, self.rng, self.drawn, node_id, op_name, values, plugin)
