"""BatchProject: build one journal from a batch specification (seed §3, §6.1).

A project picks its images (claimed in an in-flight record before they go on a picklist), builds the
journal in ``<projects>/.<name>.partial-<pid>``, runs every spec node in dependency order, post-
processes (recompress, rename finals to ``<md5>.<ext>``, validation) and only then renames the folder
into place. A failure removes the folder (or keeps it as ``<name>.failed``) and appends the project's
permutation state to the dated failure file, so ``--from_state`` can redo exactly that project.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import importlib
import json
import logging
import os
import shutil
import threading
from collections.abc import Callable, Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from masksmith.batch.inflight import (
    OWNER_FILE,
    PARTIAL_MARK,
    InflightRecord,
    claim_pick,
    partial_dir_name,
    partial_owner_dead,
    write_owner,
)
from masksmith.batch.permutations import (
    PermutationExhausted,
    PermutationManager,
    SelectionElement,
    SequenceElement,
)
from masksmith.batch.selectors import (
    ArgumentContext,
    check_function_name,
    draw_parameter,
    format_value,
    resolve_argument,
    spec_function,
)
from masksmith.batch.spec import (
    GLOBAL_GROUP,
    BaseSelection,
    BatchSpec,
    DonorArg,
    ImageFileArg,
    ImageSelection,
    ImageSelectionPluginOperation,
    InputArg,
    InputMaskPluginOperation,
    MaskArg,
    NodeAttachment,
    PluginArg,
    PluginNode,
    PluginOperation,
    PreProcessedMediaOperation,
    SelectionNode,
    load_spec,
)
from masksmith.batch.spec_check import check_required_arguments
from masksmith.batch.state import FailureLog, Picklist, PoolExhausted, ProjectClaims, dumps, list_pool
from masksmith.errors import JournalError, MasksmithError, PluginError, SpecError
from masksmith.journal import paths
from masksmith.journal.path_analysis import set_path_analysis
from masksmith.journal.project import Journal
from masksmith.journal.validate import Finding
from masksmith.journal.validate import validate as validate_journal
from masksmith.media import geometry, masks
from masksmith.media import io as media_io
from masksmith.plugins import Plugin, PluginContext, PluginResult, get_plugin, plugin_names
from masksmith.report.graph_image import render_graph_png

OVERVIEW_FILE = "_overview_.png"

__all__ = [
    "BatchProject",
    "ExtensionResult",
    "ProjectOutcome",
    "RunContext",
    "SelectedProject",
    "createGlobalState",
    "create_global_state",
    "load_global_variables",
]

log = logging.getLogger("masksmith.batch")

CONTEXT_KEY = "_batch_context"
"""Key of the :class:`RunContext` inside a global state dict."""

SCRATCH = ".batch-scratch"
_FILE_KINDS = (ImageFileArg, InputArg, MaskArg)
_ANTI_FORENSIC_EXIF = "AntiForensicExif"
_RECOMPRESS_SUFFIXES = frozenset({".jpg", ".jpeg", ".tif", ".tiff"})


# --------------------------------------------------------------------------------------------------
# Run context and global state
# --------------------------------------------------------------------------------------------------


@dataclass
class RunContext:
    """Shared by every project of a run: folders, options, the seed and the permutation managers."""

    projects: Path
    workdir: Path
    globals: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    passthrus: frozenset[str] = frozenset()
    test_mode: bool = False
    skip_validation: bool = False
    keep_failed: bool = False
    failure_log: FailureLog | None = None
    _seeds: np.random.SeedSequence | None = field(default=None, repr=False)
    _managers: dict[int, PermutationManager] = field(default_factory=dict, repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _index: int = field(default=0, repr=False)

    def __post_init__(self) -> None:
        self.projects = Path(self.projects)
        self.workdir = Path(self.workdir)
        self.projects.mkdir(parents=True, exist_ok=True)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._seeds = np.random.SeedSequence(self.seed)
        if self.seed is None:
            log.info("batch run entropy %d (pass --seed to repeat)", self._seeds.entropy)
        if self.failure_log is None:
            self.failure_log = FailureLog(self.workdir)

    def next_index(self) -> int:
        """The next project index of this run (0, 1, …): what a project's generator derives from."""
        with self._lock:
            index = self._index
            self._index += 1
        return index

    def rng_for(self, index: int) -> np.random.Generator:
        """Project ``index``'s generator: the seed's ``index``-th child, whichever worker runs the project."""
        assert self._seeds is not None
        return np.random.default_rng(np.random.SeedSequence(self._seeds.entropy, spawn_key=(int(index),)))

    def next_rng(self) -> np.random.Generator:
        """An independent generator per project, in a sequence fixed by the seed."""
        return self.rng_for(self.next_index())

    def __getstate__(self) -> dict[str, Any]:
        # Sent to remote workers: locks and permutation managers stay with the coordinator.
        state = dict(self.__dict__)
        state["_lock"] = None
        state["_managers"] = {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()

    @property
    def claims(self) -> ProjectClaims:
        return ProjectClaims(self.workdir / "claims")

    def manager(self, project: BatchProject) -> PermutationManager:
        """The permute-group manager of ``project``'s spec (built on first use, cursors restored)."""
        with self._lock:
            key = id(project)
            if key not in self._managers:
                self._managers[key] = project.build_manager(self)
            return self._managers[key]


def load_global_variables(text: str | Mapping[str, Any] | None) -> dict[str, Any]:
    """``a=1,b=2`` (or a dict) → globals; a name ending ``.json.load`` loads that JSON file."""
    if text is None or text == "":
        return {}
    if isinstance(text, Mapping):
        pairs = dict(text)
    else:
        pairs = {}
        for item in str(text).split(","):
            if not item.strip():
                continue
            if "=" not in item:
                raise SpecError(
                    f"global variable {item.strip()!r} must be NAME=VALUE", argument="global_variables"
                )
            key, value = item.split("=", 1)
            pairs[key.strip()] = value.strip().strip("'\"")
    out: dict[str, Any] = {}
    for key, value in pairs.items():
        if key.endswith(".json.load"):
            import json

            try:
                out[key.removesuffix(".load")] = json.loads(Path(str(value)).read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise SpecError(f"cannot load JSON global {key!r}: {exc}", file=str(value)) from None
        else:
            out[key] = value
    return out


def run_initializers(names: str | Iterable[str | Callable[..., Any]] | None, state: dict[str, Any]) -> None:
    """Call each initializer (qualified name ``pkg.mod.func`` or callable) with the globals; merge results.

    Initializers are named by the person running the command (never by a spec), so any installed
    function may be used.
    """
    if not names:
        return
    items = [n.strip() for n in names.split(",") if n.strip()] if isinstance(names, str) else list(names)
    for item in items:
        function = _import_function(item) if isinstance(item, str) else item
        added = function(state)
        if added:
            if not isinstance(added, Mapping):
                raise SpecError(f"initializer {item!r} must return a dict, got {type(added).__name__}")
            state.update(added)


def _import_function(qualified: str) -> Callable[..., Any]:
    module_name, _, attribute = qualified.rpartition(".")
    if not module_name:
        raise SpecError(
            f"initializer {qualified!r} must be a qualified name such as 'package.module.function'"
        )
    try:
        function = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise SpecError(f"cannot import initializer {qualified!r}: {exc}", argument="initializers") from None
    if not callable(function):
        raise SpecError(f"initializer {qualified!r} is not callable", argument="initializers")
    return function  # type: ignore[no-any-return]


def create_global_state(
    results: str | os.PathLike[str],
    workdir: str | os.PathLike[str] = ".",
    *,
    global_variables: str | Mapping[str, Any] | None = None,
    initializers: str | Iterable[str | Callable[..., Any]] | None = None,
    seed: int | None = None,
    passthrus: Iterable[str] = (),
    test_mode: bool = False,
    skip_validation: bool = False,
    keep_failed: bool = False,
) -> dict[str, Any]:
    """The global state a project runs with: globals, initializer results, and the run context."""
    state: dict[str, Any] = {"projects": str(results), "workdir": str(workdir)}
    state.update(load_global_variables(global_variables))
    run_initializers(initializers, state)
    state[CONTEXT_KEY] = RunContext(
        Path(results),
        Path(workdir),
        globals={k: v for k, v in state.items() if k != CONTEXT_KEY},
        seed=seed,
        passthrus=frozenset(p for p in passthrus if p and p.lower() != "none"),
        test_mode=test_mode,
        skip_validation=skip_validation,
        keep_failed=keep_failed,
    )
    return state


createGlobalState = create_global_state


def context_of(global_state: Mapping[str, Any]) -> RunContext:
    ctx = global_state.get(CONTEXT_KEY)
    if isinstance(ctx, RunContext):
        return ctx
    fresh = create_global_state(global_state.get("projects", "."), global_state.get("workdir", "."))
    ctx = fresh[CONTEXT_KEY]
    ctx.globals.update({k: v for k, v in global_state.items() if k != CONTEXT_KEY})
    return ctx  # type: ignore[no-any-return]


# --------------------------------------------------------------------------------------------------
# Outcome
# --------------------------------------------------------------------------------------------------


@dataclass
class ProjectOutcome:
    """How one project ended: ``made``, ``failed`` or ``exhausted`` (a pool ran out before it started)."""

    status: str
    name: str | None = None
    directory: Path | None = None
    error: str | None = None
    node: str | None = None
    state: dict[str, Any] = field(default_factory=dict)


@dataclass
class SelectedProject:
    """A project whose images the coordinator chose: everything a worker needs to build it (picklable)."""

    index: int
    rng: np.random.Generator
    record_path: Path
    record_data: dict[str, Any]
    given: dict[str, Any] = field(default_factory=dict)
    from_state: bool = False
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    permuted: dict[str, Any] = field(default_factory=dict)
    picks: dict[str, str] = field(default_factory=dict)


class _NodeFailure(Exception):
    def __init__(self, node: str, cause: BaseException) -> None:
        super().__init__(node, cause)
        self.node = node
        self.cause = cause


def _describe(exc: BaseException) -> str:
    if isinstance(exc, MasksmithError):
        return exc.one_line()
    return f"{type(exc).__name__}: {exc}"


# --------------------------------------------------------------------------------------------------
# Selection elements that claim their images in the in-flight record
# --------------------------------------------------------------------------------------------------

_current = threading.local()


class _ClaimingSelection(SelectionElement):
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


# --------------------------------------------------------------------------------------------------
# BatchProject
# --------------------------------------------------------------------------------------------------


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
        from masksmith.report.graph_image import render_graph_png
        from masksmith.report.layout import compute_layout, export_positions_csv

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
        directory = format_value(node.image_directory, globals_, node=node.id)
        return list_pool(str(directory), node.filetypes)

    def build_manager(self, ctx: RunContext) -> PermutationManager:
        """Named permute groups of the spec; selection pools claim their images in the project record."""
        manager = PermutationManager(ctx.workdir)
        for group, members in self.spec.permute_groups().items():
            for member in members:
                if isinstance(member.spec, SelectionNode):
                    node = member.spec

                    def pool(node: SelectionNode = node) -> list[str]:
                        return self.pool(node, ctx.globals)

                    picklist = Picklist(ctx.workdir, node.picklist_name)
                    manager.register(group, _ClaimingSelection(member.element, pool, picklist, group))
                elif not member.deferred:
                    manager.register(group, SequenceElement(member.element, member.spec.values()))
        manager.load()
        return manager

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
    ) -> ExtensionResult:
        """Extend ``journal`` (changed in place and saved) from the spec's NodeAttachment at each node.

        The caller owns the journal folder: on failure it is left half-extended, so extend a working
        copy (``masksmith.batch.extend`` does). Validation errors the extension did not add are ignored.
        """
        if not self.spec.is_extension:
            raise SpecError("extending a journal needs a specification with a NodeAttachment node")
        return _ExtensionRun(
            self, ctx, journal, nodes, username=username, organization=organization
        ).execute_extension()


# --------------------------------------------------------------------------------------------------
# One project
# --------------------------------------------------------------------------------------------------


class _ProjectRun:
    def __init__(
        self,
        project: BatchProject,
        ctx: RunContext,
        state: Mapping[str, Mapping[str, Any]] | None,
        *,
        index: int | None = None,
    ):
        self.project = project
        self.spec = project.spec
        self.ctx = ctx
        self.index = ctx.next_index() if index is None else index
        self.rng = ctx.rng_for(self.index)
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

    # --- state for failure files ---------------------------------------------------------------------

    def failure_state(self) -> dict[str, dict[str, Any]]:
        """``{group: {element: value}}``: named groups, then picks and random draws under ``__global__``."""
        state: dict[str, dict[str, Any]] = {g: dict(v) for g, v in self.groups.items()}
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

    # --- driver ---------------------------------------------------------------------------------------

    def execute(self) -> ProjectOutcome:
        selected = self.select_phase()
        if isinstance(selected, ProjectOutcome):
            return selected
        outcome = self.build_phase()
        self.project.settle(self.ctx, selected, outcome)
        return outcome

    def select_phase(self) -> SelectedProject | ProjectOutcome:
        self.record = InflightRecord.create(self.ctx.workdir)
        try:
            self._select_images()
        except (PermutationExhausted, PoolExhausted) as exc:
            self._release_picks()
            self.record.remove()
            return ProjectOutcome("exhausted", error=_describe(exc))
        except MasksmithError as exc:
            self._release_picks()
            outcome = self._fail(_NodeFailure(self.spec.base_node(), exc))
            if outcome.state and self.ctx.failure_log is not None:
                self.ctx.failure_log.append(outcome.state)
            self.record.remove()
            return outcome
        except BaseException:
            self.record.remove()
            raise
        self.record.update(status="selected")
        return SelectedProject(
            self.index,
            self.rng,
            self.record.path,
            dict(self.record.data),
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
        assert self.record is not None
        try:
            data = json.loads(self.record.path.read_text(encoding="utf-8"))
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
            self._start_journal()
            for node_id in self.spec.topological_order():
                if node_id in self.local:
                    continue
                try:
                    self._run_node(node_id)
                except Exception as exc:
                    raise _NodeFailure(node_id, exc) from exc
            self._post_process()
            return self._commit()
        except _NodeFailure as failure:
            return self._fail(failure)
        except Exception as exc:
            return self._fail(_NodeFailure("(post-processing)", exc))
        finally:
            if self.claimed_name is not None:
                self.ctx.claims.release(self.claimed_name)

    # --- selection ------------------------------------------------------------------------------------

    def _select_images(self, keep: AbstractSet[str] = frozenset()) -> None:
        """Advance the permute groups (or replay a failed state) and pick the selection nodes' images.

        Nodes in ``keep`` keep their earlier pick (an extension's global nodes).
        """
        assert self.record is not None
        _current.record, _current.rng = self.record, self.rng
        try:
            if self.from_state:
                self._groups_from_state()
            else:
                manager = self.ctx.manager(self.project)
                if manager.groups:
                    self.groups = manager.advance_all()
            for values in self.groups.values():
                self.permuted.update(values)
            for node_id in self.spec.node_ids():
                node = self.spec.node(node_id)
                if isinstance(node, SelectionNode) and node_id not in keep:
                    self.picks[node_id] = self._pick(node_id, node)
        finally:
            _current.record = _current.rng = None

    def _groups_from_state(self) -> None:
        named = self.spec.permute_groups()
        for group, members in named.items():
            self.groups[group] = {
                m.element: self.given[m.element] for m in members if m.element in self.given
            }

    def _in_pool(self, node_id: str, node: SelectionNode, value: object) -> str:
        """A file named by a ``--from_state`` line, accepted only when it is in the node's pool."""
        path = str(value)
        if node.image_directory:
            pool = self.project.pool(node, self.ctx.globals)
        else:
            pool = [str(format_value(f, self.ctx.globals, node=node_id)) for f in node.files or ()]
        real = os.path.realpath(path)
        if not any(real == os.path.realpath(candidate) for candidate in pool):
            raise SpecError(
                f"--from_state names {path!r}, which is not in this node's pool; refused",
                node=node_id,
                argument="from_state",
            )
        return path

    def _pick(self, node_id: str, node: SelectionNode) -> str:
        if node_id in self.permuted:
            if self.from_state and node_id in self.given:
                return self._in_pool(node_id, node, self.permuted[node_id])
            return str(self.permuted[node_id])
        if node_id in self.given:
            path = self._in_pool(node_id, node, self.given[node_id])
            if node.image_directory:
                Picklist(self.ctx.workdir, node.picklist_name).add(path)
            return path
        if node.files:
            files = [str(format_value(f, self.ctx.globals, node=node_id)) for f in node.files]
            return files[int(self.rng.integers(len(files)))]
        picklist = Picklist(self.ctx.workdir, node.picklist_name)
        return claim_pick(picklist, self.project.pool(node, self.ctx.globals), self.rng, self.record)

    def _release_picks(self) -> None:
        from masksmith.batch.inflight import release_names

        assert self.record is not None
        by_list: dict[str, list[str]] = {}
        for pick in self.record.picks:
            if not pick.get("group"):
                by_list.setdefault(pick["picklist"], []).append(pick["name"])
        for picklist, names in by_list.items():
            release_names(self.ctx.workdir / f"{picklist}.txt", names)

    # --- journal --------------------------------------------------------------------------------------

    def _project_name(self, base: str) -> str:
        node = self.spec.node(self.spec.base_node())
        stem = Path(base).name.split(".", 1)[0] or "project"
        candidates = [stem] if not getattr(node, "timestamp_name", False) else []
        claims = self.ctx.claims
        for _ in range(20):
            name = candidates.pop(0) if candidates else f"{stem}_{_dt.datetime.now():%Y%m%d-%H%M%S-%f}"
            if (self.ctx.projects / name).exists() or (self.ctx.projects / f"{name}.failed").exists():
                continue
            if claims.claim(name):
                self.claimed_name = name
                # another run (its own workdir, so its own claims) may build this name right now: a
                # partial folder is removed only when its owner is provably dead, else the name is taken
                live = False
                for stale in self.ctx.projects.glob(f".{name}{PARTIAL_MARK}*"):
                    if partial_owner_dead(stale):
                        shutil.rmtree(stale, ignore_errors=True)
                    else:
                        live = True
                if live:
                    claims.release(name)
                    self.claimed_name = None
                    continue
                return name
        raise JournalError(f"no free project name for base {stem!r}", file=self.ctx.projects)

    def _start_journal(self) -> None:
        assert self.record is not None
        base_id = self.spec.base_node()
        base_node = self.spec.node(base_id)
        if not isinstance(base_node, BaseSelection):
            raise _NodeFailure(
                base_id, SpecError("creating projects needs a BaseSelection node", node=base_id)
            )
        base_file = self.picks[base_id]
        self.name = self._project_name(base_file)
        self.partial = self.ctx.projects / partial_dir_name(self.name)
        section = self.spec.graph_section
        try:
            journal = Journal.create(
                base_file,
                self.partial,
                name=self.name,
                username=section.username,
                organization=section.organization or "",
                description=section.projectdescription or "",
                technical_summary=section.technicalsummary or "",
                creator_tool="masksmith batch",
            )
        except Exception as exc:
            raise _NodeFailure(base_id, exc) from exc
        write_owner(self.partial)
        self.journal = journal
        journal.graph.attributes.update(section.project_properties())
        journal.graph.attributes["batch specification name"] = self.project.name
        if section.edgeFilePaths:
            paths = journal.graph.attributes.setdefault("edgeFilePaths", {})
            if isinstance(paths, dict):
                paths.update({p: "" for p in section.edgeFilePaths})
        base = journal.graph.base_node()
        journal.graph.node(base).update(base_node.arguments)
        self.local[base_id] = {"node": base, "output": str(journal.path_of(base))}
        (self.partial / SCRATCH).mkdir(exist_ok=True)

    @property
    def scratch(self) -> Path:
        assert self.partial is not None
        return self.partial / SCRATCH

    def _j(self) -> Journal:
        assert self.journal is not None
        return self.journal

    # --- nodes ----------------------------------------------------------------------------------------

    def _run_node(self, node_id: str) -> None:
        node = self.spec.node(node_id)
        if isinstance(node, ImageSelection):
            self._image_selection(node_id, node)
        elif isinstance(node, PluginOperation):
            self._plugin_operation(node_id, node)
        elif isinstance(node, InputMaskPluginOperation):
            self._input_mask_operation(node_id, node)
        elif isinstance(node, ImageSelectionPluginOperation):
            self._image_selection_plugin(node_id, node)
        elif isinstance(node, PreProcessedMediaOperation):
            self._preprocessed(node_id, node)
        elif isinstance(node, NodeAttachment):
            raise SpecError("NodeAttachment belongs to extension specs (batch extend)", node=node_id)
        else:  # BaseSelection ran first; the loader admits exactly one
            raise SpecError(f"unexpected {node.op_type} node", node=node_id)

    def _image_selection(self, node_id: str, node: ImageSelection) -> None:
        journal = self._j()
        path = Path(self.picks[node_id])
        node_name = journal.add_image(path, nodetype="donor", **node.arguments)
        self.local[node_id] = {"node": node_name, "output": str(journal.path_of(node_name))}

    def _connect_to(self, node_id: str, node: PluginNode | PreProcessedMediaOperation) -> str:
        """Journal node the operation starts from: ``source``, else the first connect-to predecessor."""
        if node.usebaseimage:
            return self._j().graph.base_node()
        chosen = self._connect_to_spec(node_id, node)
        state = self.local.get(chosen)
        if state is None or "node" not in state:
            raise SpecError(f"source node {chosen!r} produced no image", node=node_id)
        return str(state["node"])

    def _connect_to_spec(self, node_id: str, node: PluginNode | PreProcessedMediaOperation) -> str:
        """Spec node the operation starts from. Among several candidates, one on the base's path wins
        (a donor branch joined without a ``donor`` flag is then the node's other predecessor)."""
        candidates = self.spec.connect_to_candidates(node_id)
        if node.source is not None and node.source in self.local:
            return node.source
        if len(candidates) > 1:
            on_base_path = [c for c in candidates if self._on_base_path(c)]
            return (on_base_path or candidates)[0]
        if candidates:
            return candidates[0]
        preds = self.spec.predecessors(node_id)
        if not preds:
            raise SpecError("no predecessor to take the source image from", node=node_id)
        return preds[0]

    def _on_base_path(self, spec_node: str) -> bool:
        state = self.local.get(spec_node)
        if state is None or "node" not in state:
            return False
        graph = self._j().graph
        return bool(nx.has_path(graph.graph, graph.base_node(), str(state["node"])))

    def _donor_node(self, node_id: str, source: str | None) -> str:
        journal = self._j()
        if source == "base":
            return journal.graph.base_node()
        if source is not None:
            state = self.local.get(source)
            if state is None or "node" not in state:
                raise SpecError(f"donor source {source!r} produced no image", node=node_id)
            return str(state["node"])
        donors = [p for p in self.spec.predecessors(node_id) if self.spec.link(p, node_id).get("donor")]
        if not donors:
            # as the original: without a donor link, the donor is the node's other predecessor
            node = self.spec.node(node_id)
            start = self._connect_to_spec(node_id, node) if isinstance(node, PluginNode) else None
            donors = [
                p
                for p in self.spec.predecessors(node_id)
                if p != start
                and not isinstance(self.spec.node(p), InputMaskPluginOperation)
                and "node" in self.local.get(p, {})
            ]
        if len(donors) != 1:
            raise SpecError(
                "donor argument without 'source' needs one donor link or exactly one predecessor besides"
                f" the source image, found {len(donors)}" + (f" ({', '.join(donors)})" if donors else ""),
                node=node_id,
            )
        return str(self.local[donors[0]]["node"])

    def _mask_file(self, node_id: str, source: str, target: str | None, invert: bool) -> str:
        journal = self._j()
        end_spec = target or source
        state = self.local.get(end_spec)
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
        out = self.scratch / f"{start}_{end}_inverted_mask.png"
        media_io.write_image(out, masks.to_input_mask(changed))
        return str(out)

    def _image_file(self, node_id: str, source: str) -> str:
        state = self.local.get(source)
        if state is None or "node" not in state:
            raise SpecError(f"imagefile source {source!r} produced no image", node=node_id)
        return str(self._j().path_of(str(state["node"])))

    def _arguments(self, node_id: str, node: PluginNode | PreProcessedMediaOperation) -> dict[str, Any]:
        ctx = ArgumentContext(
            node=node_id,
            rng=self.rng,
            globals=self.ctx.globals,
            local=self.local,
            permuted=self.permuted,
            register_permuted=self._register_permuted,
            image_file=lambda source: self._image_file(node_id, source),
            mask_file=lambda source, target, invert: self._mask_file(node_id, source, target, invert),
            donor_node=lambda source: self._donor_node(node_id, source),
            function_state=self.function_state,
        )
        values: dict[str, Any] = {}
        for name, arg in node.argument_specs.items():
            element = f"{node_id}.{name}"
            if element in self.given and not isinstance(arg, (*_FILE_KINDS, DonorArg)):
                values[name] = self.given[element]
            else:
                values[name] = resolve_argument(name, arg, ctx)
            random_kind = arg.kind in ("list", "int", "float", "yesno", "plugin")
            if (random_kind or element in self.permuted) and _is_recordable(values[name]):
                self.drawn.setdefault(node_id, {})[name] = _jsonable(values[name])
        return values

    def _register_permuted(self, group: str, element: str, values: list[Any]) -> Any:
        if self.from_state and element in self.given:
            return self.given[element]
        manager = self.ctx.manager(self.project)
        with manager._lock:
            registered = manager.register(group, SequenceElement(element, values))
            if not registered.started:
                registered.start()
            value = registered.current
            manager.save()
        self.groups.setdefault(group, {})[element] = value
        self.permuted[element] = value
        return value

    def _fill_operation_parameters(
        self, node_id: str, op_name: str, values: dict[str, Any], plugin: Plugin | None
    ) -> None:
        """Draw, by catalogue type, the mandatory parameters the spec left unset (as the original did)."""
        journal = self._j()
        operation = journal.catalogue.find(op_name)
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
                drawn = draw_parameter(param, self.rng)
                if drawn is not None:
                    values[pname] = drawn
                    self.drawn.setdefault(node_id, {})[pname] = _jsonable(drawn)
            if operation is None:
                break
            params = {
                k: p
                for k, p in operation.optional.items()
                if p.required_by(values) and values.get(k) in (None, "") and p.applies_to("image")
            }

    def _passthrough(self, node_id: str, node: PluginNode) -> bool:
        return self.ctx.test_mode or node_id in self.ctx.passthrus or node.plugin_name in self.ctx.passthrus

    def _run_plugin(
        self,
        plugin: Plugin,
        source: Path,
        target: Path,
        arguments: dict[str, Any],
        *,
        donor: Path | None,
        input_mask: NDArrayBool | None,
        passthrough: bool,
        start: str | None = None,
    ) -> PluginResult:
        if passthrough:
            self.passed_through = True
            shutil.copyfile(source, target)
            return PluginResult()
        journal = self._j()
        context = PluginContext(
            source=source,
            target=target,
            arguments=arguments,
            rng=self.rng,
            workdir=self.scratch,
            donor=donor,
            input_mask=input_mask,
            _pixels=journal.cached_pixels(start) if start is not None else None,
        )
        result = plugin.transform(context)
        if start is not None and context._pixels is not None:
            # the plugin decoded the source: the journal's comparison reuses it instead of decoding again
            journal.cache_pixels(start, context._pixels)
        if not isinstance(result, PluginResult):
            raise PluginError(f"plugin {plugin.name!r} returned {type(result).__name__}, not a PluginResult")
        return result

    def _plugin_inputs(self, node_id: str, node: Any) -> tuple[Plugin, str, Path, dict[str, Any]]:
        """What every plugin-running node starts from: the plugin, its source node and file, its arguments."""
        plugin = get_plugin(node.plugin_name)
        start = self._connect_to(node_id, node)
        return plugin, start, self._j().path_of(start), self._arguments(node_id, node)

    def _plugin_operation(self, node_id: str, node: PluginOperation) -> None:
        journal = self._j()
        plugin, start, source, values = self._plugin_inputs(node_id, node)
        self._fill_operation_parameters(node_id, plugin.operation, values, plugin)
        donors = self._donors(node_id, node, values)
        donor_path = journal.path_of(donors[0]) if donors else None
        input_mask_file = values.pop("inputmaskname", None)
        input_mask = _read_input_mask(input_mask_file) if input_mask_file else None
        given = {k: _donor_value(journal, v, k, node) for k, v in values.items()}
        arguments = plugin.resolve_arguments(_with_donor_arguments(plugin, given, donor_path))
        passthrough = self._passthrough(node_id, node)
        suffix = source.suffix.lower() if passthrough else plugin.target_suffix(source, donor_path)
        end_id, target = journal.new_media_path(start, suffix)
        result = self._run_plugin(
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
        edge_args = self._edge_arguments(
            node, {k: v for k, v in arguments.items() if k not in donor_args}, end_id
        )
        edge_args.update({k: _jsonable(v) for k, v in result.variables.items() if _is_recordable(v)})
        description = str(format_value(node.description or "", self.ctx.globals, self.local, node=node_id))
        ref = journal.record(
            start,
            target,
            op=_with_variant(result.operation or plugin.operation, node.variant),
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
        self.local[node_id] = {
            **edge_args,
            **result.variables,
            "node": ref.end,
            "output": str(journal.path_of(ref.end)),
        }

    def _donors(
        self, node_id: str, node: PluginNode | PreProcessedMediaOperation, values: dict[str, Any]
    ) -> list[str]:
        donors: list[str] = []
        for name, arg in node.argument_specs.items():
            if isinstance(arg, DonorArg) and values.get(name):
                donors.append(str(values[name]))
        for pred in self.spec.predecessors(node_id):
            if self.spec.link(pred, node_id).get("donor") and pred in self.local:
                candidate = str(self.local[pred].get("node"))
                if candidate not in donors:
                    donors.append(candidate)
        return donors

    def _edge_arguments(
        self, node: PluginNode | PreProcessedMediaOperation, arguments: Mapping[str, Any], end_id: str
    ) -> dict[str, Any]:
        """Recordable arguments; files (imagefile, input, mask) are copied into the journal folder."""
        journal = self._j()
        specs = node.argument_specs
        declared = journal.graph.attributes.get("edgeFilePaths") or {}  # the spec's own file arguments too
        out: dict[str, Any] = {}
        for name, value in arguments.items():
            spec = specs.get(name)
            if isinstance(spec, DonorArg):
                continue
            is_file = isinstance(spec, _FILE_KINDS) or f"arguments.{name}" in declared
            if is_file and isinstance(value, str | os.PathLike):
                path = Path(value)
                if path.is_file() and path.resolve().parent != journal.directory.resolve():
                    copy = journal.directory / f"{end_id}_{_safe(name)}{path.suffix.lower()}"
                    shutil.copyfile(path, copy)
                    path = copy
                out[name] = path.name
                paths = journal.graph.attributes.setdefault("edgeFilePaths", {})
                if isinstance(paths, dict):
                    paths.setdefault(f"arguments.{name}", "")
            elif _is_recordable(value):
                out[name] = _jsonable(value)
        return out

    def _input_mask_operation(self, node_id: str, node: InputMaskPluginOperation) -> None:
        journal = self._j()
        plugin, start, source, values = self._plugin_inputs(node_id, node)
        donors = self._donors(node_id, node, values)
        donor_path = journal.path_of(donors[0]) if donors else None
        input_mask_file = values.get("inputmaskname")
        input_mask = _read_input_mask(input_mask_file) if input_mask_file else None
        arguments = plugin.resolve_arguments(
            {k: _donor_value(journal, v, k, node) for k, v in values.items()}
        )
        target = self.scratch / f"{source.stem}_{_safe(node.plugin)}_{_safe(node_id)}{source.suffix.lower()}"
        result = self._run_plugin(
            plugin,
            source,
            target,
            arguments,
            donor=donor_path,
            input_mask=input_mask,
            passthrough=self._passthrough(node_id, node),
            start=start,
        )
        output: Path | None = target if target.is_file() else None
        if result.mask is not None:
            output = self.scratch / f"{_safe(node_id)}_inputmask.png"
            media_io.write_image(output, masks.to_input_mask(np.asarray(result.mask, bool)))
        variables = dict(result.variables)
        override = variables.pop("override_target", None)
        if override:
            output = Path(str(override))
        recordable = {k: _jsonable(v) for k, v in arguments.items() if _is_recordable(v)}
        self.local[node_id] = {
            **recordable,
            **variables,
            "node": start,
            "output": str(output) if output else None,
        }

    def _image_selection_plugin(self, node_id: str, node: ImageSelectionPluginOperation) -> None:
        journal = self._j()
        plugin, _start, source, values = self._plugin_inputs(node_id, node)
        arguments = plugin.resolve_arguments(values)
        target = self.scratch / f"{_safe(node_id)}_selected{source.suffix.lower()}"
        passthrough = self._passthrough(node_id, node)
        result = self._run_plugin(
            plugin, source, target, arguments, donor=None, input_mask=None, passthrough=passthrough
        )
        chosen = Path(result.file) if result.file is not None else (target if passthrough else None)
        if chosen is None:
            raise PluginError(f"plugin {plugin.name!r} returned no 'file'", node=node_id)
        if not chosen.is_file():
            raise PluginError(
                f"plugin {plugin.name!r} chose a file that does not exist", file=chosen, node=node_id
            )
        new = journal.add_image(chosen, nodetype="donor")
        self.local[node_id] = {
            **result.variables,
            "node": new,
            "output": str(journal.path_of(new)),
            "file": str(chosen),
        }

    def _preprocessed(self, node_id: str, node: PreProcessedMediaOperation) -> None:
        journal = self._j()
        start = self._connect_to(node_id, node)
        source = journal.path_of(start)
        directory = Path(str(format_value(node.directory, self.ctx.globals, self.local, node=node_id)))
        if node.copy_:
            matches = [source]
        else:
            matches = sorted(
                p for p in directory.glob(f"{source.stem}*") if p.is_file() and p.suffix != ".csv"
            )
            if not matches:
                matches = sorted(
                    p for p in directory.glob(f"{self.name}*") if p.is_file() and p.suffix != ".csv"
                )
        if len(matches) != 1:
            raise SpecError(
                f"expected exactly one media file for {source.stem!r} in {directory}, found {len(matches)}",
                node=node_id,
            )
        values = self._arguments(node_id, node)
        if node.argument_file:
            argument_file = str(format_value(node.argument_file, self.ctx.globals))
            try:  # the spec's argument file lives in the node's directory, not elsewhere
                csv_path = paths.resolve(directory, argument_file, attribute="argument file", node=node_id)
            except paths.PathEscapeError as exc:
                raise SpecError(exc.message, node=node_id, argument="argument file") from None
            values.update(
                _csv_arguments(
                    csv_path,
                    matches[0].name,
                    node.argument_names,
                    node_id,
                )
            )
        self._fill_operation_parameters(node_id, node.op, values, None)
        donors = self._donors(node_id, node, values)
        end_id, target = journal.new_media_path(start, matches[0].suffix.lower())
        edge_args = self._edge_arguments(node, values, end_id)
        shutil.copyfile(matches[0], target)
        ref = journal.record(
            start,
            target,
            op=node.op,
            arguments=edge_args,
            donor=donors[0] if donors else None,
            software_name=node.software or "unknown",
            software_version=node.software_version or "",
            description=str(format_value(node.description or "", self.ctx.globals, self.local, node=node_id)),
            save=False,
        )
        edge = journal.graph.edge(ref.start, ref.end)
        edge["automated"] = "yes"
        if node.experiment_id:
            edge["experiment_id"] = node.experiment_id
        journal.save()
        self.local[node_id] = {**edge_args, "node": ref.end, "output": str(journal.path_of(ref.end))}

    # --- post-processing ------------------------------------------------------------------------------

    def _post_process(self) -> None:
        journal = self._j()
        section = self.spec.graph_section
        if section.recompress:
            self._recompress()
        if section.rename:
            _rename_finals(journal)
        journal.graph.label_nodes()
        set_path_analysis(journal.graph, journal.catalogue)
        journal.save()
        write_overview(journal)
        if not self.ctx.skip_validation:
            # Passed-through plugins leave empty masks on purpose: report, do not fail, those projects.
            _validate(journal, strict=not self.passed_through, name=self.name)

    def _recompress(self, only: set[str] | None = None) -> None:
        """Re-save each final as its own root was saved (as the original paired terminals with their
        bases): the project base for the base path, a donor image for a final on a donor path."""
        journal = self._j()
        try:
            plugin = get_plugin("CompressAs")
        except PluginError:
            raise PluginError(
                "recompress needs the CompressAs plugin, which is not installed", argument="recompress"
            ) from None
        for final in journal.graph.final_nodes():
            if only is not None and final not in only:
                continue
            base = _operation_root(journal, final)
            if final == base:
                continue
            base_path = journal.path_of(base)
            if base_path.suffix.lower() not in _RECOMPRESS_SUFFIXES:
                log.warning(
                    "project %s: recompress of %s skipped, its root %s is not JPEG or TIFF",
                    self.name,
                    final,
                    base_path.name,
                )
                continue
            last = journal.graph.operation_predecessor(final)
            if last is not None and str(journal.graph.edge(last, final).get("op", "")).startswith(
                _ANTI_FORENSIC_EXIF
            ):
                continue
            source = journal.path_of(final)
            _, target = journal.new_media_path(final, plugin.target_suffix(source, base_path))
            passthrough = self.ctx.test_mode or "CompressAs" in self.ctx.passthrus
            arguments = plugin.resolve_arguments(_with_donor_arguments(plugin, {}, base_path))
            result = self._run_plugin(
                plugin, source, target, arguments, donor=base_path, input_mask=None, passthrough=passthrough
            )
            donor_args = {a.name for a in plugin.arguments if a.type == "donor"}
            values = {
                k: _jsonable(v)
                for k, v in {**arguments, **result.variables}.items()
                if _is_recordable(v) and k not in donor_args
            }
            self._fill_operation_parameters(
                "recompress", result.operation or plugin.operation, values, plugin
            )
            journal.record(
                final,
                target,
                op=result.operation or plugin.operation,
                arguments=values,
                donor=base,
                target_pixels=result.target_pixels,
                plugin_name="CompressAs",
                software_name=plugin.software,
                software_version=plugin.version,
                save=False,
            )

    # --- ending ---------------------------------------------------------------------------------------

    def _commit(self) -> ProjectOutcome:
        assert self.partial is not None and self.name is not None and self.record is not None
        shutil.rmtree(self.scratch, ignore_errors=True)
        (self.partial / OWNER_FILE).unlink(missing_ok=True)
        final = self.ctx.projects / self.name
        self.record.update(status="committing", final=self.name, partial=self.partial.name)
        os.rename(self.partial, final)
        log.info("project %s made", self.name)
        return ProjectOutcome("made", self.name, final, state=self.failure_state())

    def _fail(self, failure: _NodeFailure) -> ProjectOutcome:
        assert self.record is not None
        node = self.spec.node(failure.node) if failure.node in self.spec.graph else None
        what = f"{node.op_type}{' ' + node.plugin if isinstance(node, PluginNode) else ''}" if node else ""
        message = (
            f"project {self.name or '(unnamed)'}: spec node {failure.node!r}"
            f"{' (' + what + ')' if what else ''}: {_describe(failure.cause)}"
        )
        log.error("%s", message, exc_info=not isinstance(failure.cause, MasksmithError))
        state = self.failure_state()
        # the coordinator appends the failure line (settle); the record keeps it should the coordinator die
        self.record.update(status="failing", state=state)
        directory: Path | None = None
        if self.partial is not None and self.partial.exists():
            if self.ctx.keep_failed and self.name is not None:
                if self.journal is not None:
                    with contextlib.suppress(Exception):
                        self.journal.save()
                directory = self.ctx.projects / f"{self.name}.failed"
                shutil.rmtree(self.scratch, ignore_errors=True)
                (self.partial / OWNER_FILE).unlink(missing_ok=True)
                os.rename(self.partial, directory)
            else:
                shutil.rmtree(self.partial, ignore_errors=True)
        return ProjectOutcome("failed", self.name, directory, error=message, node=failure.node, state=state)


# --------------------------------------------------------------------------------------------------
# Extension: one existing journal, run from its NodeAttachment once per selected node (seed §2.1, §5)
# --------------------------------------------------------------------------------------------------


@dataclass
class ExtensionResult:
    """How the extension of one journal ended: ``extended`` or ``failed``; what it added."""

    status: str
    name: str
    attachments: list[str] = field(default_factory=list)
    new_nodes: list[str] = field(default_factory=list)
    new_edges: list[tuple[str, str]] = field(default_factory=list)
    error: str | None = None
    node: str | None = None


class _ExtensionRun(_ProjectRun):
    """Extend an opened journal in place (its folder is a working copy the caller owns).

    For each attachment node the spec's NodeAttachment stands for that node and every other spec node
    runs in dependency order; nodes marked ``global: true`` run once per journal and keep their state
    between attachment points. Only what the extension adds is post-processed: new finals are
    recompressed and renamed, existing nodes, edges and files are left as they were.
    """

    def __init__(
        self,
        project: BatchProject,
        ctx: RunContext,
        journal: Journal,
        attachments: Iterable[str],
        *,
        username: str | None = None,
        organization: str | None = None,
    ) -> None:
        super().__init__(project, ctx, None)
        self.journal = journal
        self.name = journal.name
        self.partial = journal.directory
        self.attachments = list(attachments)
        self.username = username
        self.organization = organization
        self.current: str | None = None

    def execute_extension(self) -> ExtensionResult:
        journal = self._j()
        attach_id = self.spec.base_node()
        for node in self.attachments:
            journal.graph.node(node)  # a missing node is an error before anything changes
        before_nodes = {n for n, _ in journal.graph.nodes()}
        before_edges = {(a, b) for a, b, _ in journal.graph.edges()}
        known = set() if self.ctx.skip_validation else _finding_keys(_findings(journal))
        self.record = InflightRecord.create(self.ctx.workdir)
        self.record.update(status="extending", journal=str(journal.directory))
        try:
            self.scratch.mkdir(exist_ok=True)
            for node in self.attachments:
                self.current = node
                self._run_attachment(attach_id, node)
            self.current = None
            self._post_process_extension(before_nodes, before_edges, known)
        except _NodeFailure as failure:
            return self._extension_failed(failure)
        except Exception as exc:
            return self._extension_failed(_NodeFailure("(post-processing)", exc))
        finally:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.record.remove()
        new_edges = [(a, b) for a, b, _ in journal.graph.edges() if (a, b) not in before_edges]
        log.info("journal %s extended at %d node(s)", self.name, len(self.attachments))
        return ExtensionResult(
            "extended",
            journal.name,
            attachments=list(self.attachments),
            new_nodes=[n for n, _ in journal.graph.nodes() if n not in before_nodes],
            new_edges=new_edges,
        )

    def _run_attachment(self, attach_id: str, node: str) -> None:
        keep = {n for n in self.local if n != attach_id and getattr(self.spec.node(n), "global_", False)}
        self.local = {n: v for n, v in self.local.items() if n in keep}
        try:
            self._select_images(keep)
        except (PermutationExhausted, PoolExhausted, MasksmithError) as exc:
            raise _NodeFailure(attach_id, exc) from exc
        self.local[attach_id] = {"node": node, "output": str(self._j().path_of(node))}
        for node_id in self.spec.topological_order():
            if node_id in self.local:
                continue
            try:
                self._run_node(node_id)
            except Exception as exc:
                raise _NodeFailure(node_id, exc) from exc

    def _post_process_extension(
        self, before_nodes: set[str], before_edges: set[tuple[str, str]], known: set[tuple[str, ...]]
    ) -> None:
        journal = self._j()
        section = self.spec.graph_section
        if section.recompress:
            self._recompress(only={n for n in journal.graph.final_nodes() if n not in before_nodes})
        new_nodes = {n for n, _ in journal.graph.nodes() if n not in before_nodes}
        if section.rename:
            _rename_finals(journal, only=new_nodes, keep_duplicates=True)
        for node_id, data in journal.graph.nodes():
            if node_id in new_nodes and self.username:
                data["username"] = self.username
        for start, end, data in journal.graph.edges():
            if (start, end) in before_edges:
                continue
            if self.username:
                data["username"] = self.username
            if self.organization:
                data["organization"] = self.organization
        journal.graph.label_nodes()
        journal.graph.touch()
        specs = journal.graph.attributes.setdefault("specifications", [])
        if isinstance(specs, list):
            specs.append(
                {
                    "filename": Path(self.project.filename).name if self.project.filename else None,
                    "name": self.project.name,
                    "description": section.projectdescription or "",
                    "technicalsummary": section.technicalsummary or "",
                    "username": self.username or "",
                    "organization": self.organization or "",
                    "attachments": list(self.attachments),
                }
            )
        # existing nodes stay as they were: only the finals this extension made get a path analysis
        set_path_analysis(journal.graph, journal.catalogue, only=new_nodes)
        journal.save()
        write_overview(journal)
        if self.ctx.skip_validation:
            return
        fresh = [f for f in _findings(journal) if _finding_key(f) not in known]
        errors = [
            f for f in fresh if getattr(getattr(f, "severity", None), "name", "") in ("ERROR", "CRITICAL")
        ]
        if errors and self.passed_through:
            log.warning(
                "journal %s: %d new validation error(s) after pass-through, kept", self.name, len(errors)
            )
        elif errors:
            first = errors[0]
            where = getattr(first, "where", None)
            raise JournalError(
                f"validation: {getattr(first, 'message', first)}"
                + (f" at {where}" if where else "")
                + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""),
                file=journal.directory,
            )

    def _extension_failed(self, failure: _NodeFailure) -> ExtensionResult:
        node = self.spec.node(failure.node) if failure.node in self.spec.graph else None
        what = f"{node.op_type}{' ' + node.plugin if isinstance(node, PluginNode) else ''}" if node else ""
        at = f" at journal node {self.current!r}" if self.current else ""
        message = (
            f"journal {self.name}{at}: spec node {failure.node!r}"
            f"{' (' + what + ')' if what else ''}: {_describe(failure.cause)}"
        )
        log.error("%s", message, exc_info=not isinstance(failure.cause, MasksmithError))
        return ExtensionResult(
            "failed", self.name or "", attachments=list(self.attachments), error=message, node=failure.node
        )


def _findings(journal: Journal) -> list[Finding]:
    return validate_journal(journal)


def _finding_key(finding: Any) -> tuple[str, ...]:
    severity = str(getattr(getattr(finding, "severity", None), "name", ""))
    return (severity, *(str(getattr(finding, key, "")) for key in ("rule", "start", "end", "message")))


def _finding_keys(findings: Iterable[Any]) -> set[tuple[str, ...]]:
    return {_finding_key(f) for f in findings}


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------

NDArrayBool = np.ndarray


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _is_recordable(value: Any) -> bool:
    """Plain values go on the edge; arrays bigger than a matrix and objects stay in node state only."""
    if isinstance(value, np.ndarray):
        return value.size <= 16
    if isinstance(value, str | int | float | bool | np.generic | Path) or value is None:
        return True
    if isinstance(value, list | tuple):
        return len(value) <= 64 and all(_is_recordable(v) for v in value)
    if isinstance(value, Mapping):
        return all(_is_recordable(v) for v in value.values())
    return False


def _operation_root(journal: Journal, node: str) -> str:
    """The root a node descends from through operation links (not donor links)."""
    current = node
    while (previous := journal.graph.operation_predecessor(current)) is not None:
        current = previous
    return current


def write_overview(journal: Journal) -> Path | None:
    """``_overview_.png``: the journal's graph drawn into its folder, as the original left with every project."""

    def category_of(op: str) -> str:
        operation = journal.catalogue.find(op)
        return operation.category if operation is not None else ("Donor" if op == "Donor" else "")

    try:
        return render_graph_png(
            journal.graph.graph,
            journal.directory / OVERVIEW_FILE,
            title=journal.name,
            category_of=category_of,
        )
    except (OSError, ValueError) as exc:  # a picture must not cost the journal
        log.warning("journal %s: no %s: %s", journal.name, OVERVIEW_FILE, exc)
        return None


def _with_variant(operation: str, variant: str | None) -> str:
    """``Op::Variant`` for a spec's ``Plugin::Variant`` (the catalogue falls back to ``Op`` for lookups)."""
    return f"{operation.split('::', 1)[0]}::{variant}" if variant else operation


def _with_donor_arguments(plugin: Plugin, arguments: dict[str, Any], donor: Path | None) -> dict[str, Any]:
    """Fill the plugin's donor-typed arguments the spec left unset with the donor's file."""
    if donor is None:
        return arguments
    out = dict(arguments)
    for arg in plugin.arguments:
        if arg.type == "donor" and out.get(arg.name) in (None, ""):
            out[arg.name] = str(donor)
    return out


def _donor_value(
    journal: Journal, value: Any, name: str, node: PluginNode | PreProcessedMediaOperation
) -> Any:
    """A donor argument's journal node id becomes the donor's file path for the plugin."""
    if isinstance(node.argument_specs.get(name), DonorArg):
        return str(journal.path_of(str(value)))
    return value


def _read_input_mask(path: Any) -> np.ndarray:
    return masks.from_input_mask(media_io.read_image(Path(str(path))).pixels)


def _csv_arguments(path: Path, file_name: str, names: list[str], node_id: str) -> dict[str, Any]:
    import csv

    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
    except OSError as exc:
        raise SpecError(
            f"cannot read argument file: {exc.strerror or exc}", file=path, node=node_id
        ) from None
    for row in rows:
        if row and (row[0].strip() == file_name or Path(row[0].strip()).stem == Path(file_name).stem):
            return {name: value.strip() for name, value in zip(names, row[1:], strict=False)}
    raise SpecError(f"argument file has no row for {file_name!r}", file=path, node=node_id)


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _rename_finals(journal: Journal, only: set[str] | None = None, *, keep_duplicates: bool = False) -> None:
    """Rename each final node's file (of ``only``, when given) to ``<md5>.<suffix>``; node ids stay.

    Two finals with the same content are an error, unless ``keep_duplicates`` (extension: the same
    seeded operation applied again) keeps the later one's name.
    """
    base = journal.graph.base_node()
    for final in journal.graph.final_nodes():
        if final == base or (only is not None and final not in only):
            continue
        path = journal.path_of(final)
        new_name = f"{_md5(path)}{path.suffix.lower()}"
        if path.name == new_name:
            continue
        destination = journal.directory / new_name
        if destination.exists() and keep_duplicates:
            log.warning("final %s has the same content as %s; its file keeps its name", final, new_name)
            continue
        if destination.exists():
            raise JournalError("two final images have the same content", file=destination, node=final)
        os.rename(path, destination)
        journal.graph.node(final)["file"] = new_name


def _validate(journal: Journal, *, strict: bool = True, name: str | None = None) -> None:
    """Validate ``journal`` (``masksmith.journal.validate``); error findings fail the project."""
    findings = validate_journal(journal)
    errors = [
        f for f in findings if getattr(getattr(f, "severity", None), "name", "") in ("ERROR", "CRITICAL")
    ]
    if errors and not strict:
        log.warning("project %s: %d validation error(s) after pass-through, kept", name, len(errors))
    elif errors:
        first = errors[0]
        where = getattr(first, "where", None)
        raise JournalError(
            f"validation: {getattr(first, 'message', first)}"
            + (f" at {where}" if where else "")
            + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""),
        )


def describe_state(state: Mapping[str, Any]) -> str:
    """One-line JSON of a project state (for logs)."""
    return dumps(state)
