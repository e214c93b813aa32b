"""Journal extension: pick nodes of existing journals by rule and run a NodeAttachment spec from each.

Which nodes are picked is :mod:`masksmith.batch.extension_rules`; how a journal is extended in a
kill-safe working copy (and what a killed run left is finished or discarded) is
:mod:`masksmith.batch.extension_slots`. This module finds the journals, extends one
(:func:`extend_project`) and drives many through :func:`masksmith.executors.run_items`
(:func:`extend_projects`), on local threads, processes or Ray alike.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import stat
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from masksmith.batch.driver import error_line, executor_for, not_seen
from masksmith.batch.extension_rules import ExtensionRules, OpPattern, parse_rules, select_nodes
from masksmith.batch.extension_slots import (
    Recovery,
    Slot,
    dead_slots,
    finish_slot,
    recover_extensions,
    recover_slot,
    slot_key,
)
from masksmith.batch.inflight import recover_stale
from masksmith.batch.picks import SpecPicker
from masksmith.batch.project import BatchProject, RunContext, context_of, create_global_state
from masksmith.batch.state import CompletionFile, ProjectClaims
from masksmith.errors import JournalError, MasksmithError, SpecError
from masksmith.executors import Executor, Finished, run_items
from masksmith.journal import paths, store
from masksmith.journal.project import Journal

__all__ = [
    "ExtensionOutcome",
    "ExtensionRules",
    "ExtensionSummary",
    "OpPattern",
    "Recovery",
    "extend_project",
    "extend_projects",
    "find_projects",
    "parse_rules",
    "recover_extensions",
    "select_nodes",
]

log = logging.getLogger("masksmith.batch")


# --------------------------------------------------------------------------------------------------
# Finding projects
# --------------------------------------------------------------------------------------------------


def _is_journal_folder(path: Path) -> bool:
    return path.is_dir() and any(p.is_file() for p in path.glob("*.json"))


def find_projects(projects: str | os.PathLike[str]) -> list[Path]:
    """The journals to extend: a folder of journal folders and ``.tgz`` files (hidden names skipped),
    one journal folder or ``.tgz``, or a text file listing them (journal JSON paths allowed)."""
    root = Path(projects)
    if root.is_file() and root.name.lower().endswith((".tgz", ".tar.gz")):
        return [root]
    if root.is_file():
        items: list[Path] = []
        for line in root.read_text(encoding="utf-8").splitlines():
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            path = Path(text) if Path(text).is_absolute() else root.parent / text
            items.append(path.parent if path.suffix.lower() == ".json" else path)
        missing = [str(p) for p in items if not p.exists()]
        if missing:
            raise JournalError(f"listed projects do not exist: {', '.join(missing[:5])}", file=root)
        return items
    if not root.is_dir():
        raise JournalError("projects folder does not exist", file=root)
    if _is_journal_folder(root):
        return [root]
    found: list[Path] = []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if (entry.is_file() and entry.name.lower().endswith((".tgz", ".tar.gz"))) or _is_journal_folder(
            entry
        ):
            found.append(entry)
    return found


# --------------------------------------------------------------------------------------------------
# Outcomes
# --------------------------------------------------------------------------------------------------


@dataclass
class ExtensionOutcome:
    """One project: ``extended``, ``unchanged`` (no node selected), ``skipped`` (already complete or
    being extended by another process) or ``failed``."""

    item: Path
    status: str
    nodes: list[str] = field(default_factory=list)
    new_edges: list[tuple[str, str]] = field(default_factory=list)
    error: str | None = None


@dataclass
class ExtensionSummary:
    """Counts of an extension run."""

    extended: int = 0
    unchanged: int = 0
    skipped: int = 0
    failed: int = 0
    nodes: int = 0
    seconds: float = 0.0
    recovered: list[str] = field(default_factory=list)
    outcomes: list[ExtensionOutcome] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failed == 0

    @property
    def failures(self) -> list[str]:
        return [f"{o.item}: {o.error}" for o in self.outcomes if o.status == "failed"]

    def add(self, outcome: ExtensionOutcome) -> None:
        self.outcomes.append(outcome)
        if outcome.status == "extended":
            self.extended += 1
            self.nodes += len(outcome.nodes)
        elif outcome.status == "unchanged":
            self.unchanged += 1
        elif outcome.status == "skipped":
            self.skipped += 1
        else:
            self.failed += 1

    def line(self) -> str:
        return (
            f"extended {self.extended} journal(s) at {self.nodes} node(s), nothing to extend in "
            f"{self.unchanged}, skipped {self.skipped}, failed {self.failed} in {self.seconds:.1f} s"
        )


def extend_project(
    item: str | os.PathLike[str],
    project: BatchProject,
    ctx: RunContext,
    rules: ExtensionRules | str | None = None,
    *,
    completion: CompletionFile | None = None,
    username: str | None = None,
    organization: str | None = None,
    index: int | None = None,
) -> ExtensionOutcome:
    """Extend one journal folder or ``.tgz`` in place (atomically; see the module docstring).

    ``index`` chooses the extension's random generator (see :meth:`BatchProject.extend`)."""
    path = Path(item)
    parsed = rules if isinstance(rules, ExtensionRules) else ExtensionRules.parse(rules)
    if completion is not None and slot_key(path) in completion:
        return ExtensionOutcome(path, "skipped")
    claims = ProjectClaims(ctx.workdir / "claims")
    claim = "ext-" + hashlib.md5(slot_key(path).encode("utf-8")).hexdigest()[:16]
    with claims.holding(claim) as got:
        if not got:
            return ExtensionOutcome(path, "skipped", error="being extended by another process")
        if completion is not None and slot_key(path) in completion:  # finished while we waited
            return ExtensionOutcome(path, "skipped")
        return _extend_claimed(path, project, ctx, parsed, completion, username, organization, index)


def _extend_claimed(
    path: Path,
    project: BatchProject,
    ctx: RunContext,
    rules: ExtensionRules,
    completion: CompletionFile | None,
    username: str | None,
    organization: str | None,
    index: int | None,
) -> ExtensionOutcome:
    # Holding the claim, any other process's slot for this item is left by one that died: a retried
    # distributed task, say, whose first attempt was killed. Work it committed is finished, not redone.
    for earlier in dead_slots(path):
        if recover_slot(earlier, completion):
            return ExtensionOutcome(path, "extended", error=None)
    archive = path.is_file()
    slot = Slot(path, os.getpid(), archive)
    if slot.state.exists():  # left by an earlier process with our pid
        recover_slot(slot, completion)
        if completion is not None and slot_key(path) in completion:
            return ExtensionOutcome(path, "skipped")
    slot.write("working")
    try:
        if archive:
            folder = store.safe_extract(path, slot.work)
        else:
            Journal.open(path).check_contained()  # a journal naming files outside is not even copied
            shutil.copytree(path, slot.work, symlinks=True)
            # the copy keeps the original's modes; a read-only journal folder must still take new files
            slot.work.chmod(slot.work.stat().st_mode | stat.S_IWUSR | stat.S_IXUSR)
            folder = slot.work
        journal = Journal.open(folder)
        file_arguments = paths.catalogue_file_arguments(journal.catalogue)
        for ref, reason in paths.refused(folder, journal.graph, file_arguments=file_arguments):
            # a journal naming files outside its folder is not extended (nor re-archived)
            raise paths.PathEscapeError(ref.name, reason, file=path, attribute=ref.attribute, node=ref.where)
        # files the journal names but the archive already lacked (e.g. proxies) do not block re-archiving
        names = store.journal_files(journal.graph, file_arguments=file_arguments)
        absent = [f for f in names if not paths.resolve(folder, f).is_file()]
        nodes = select_nodes(journal, rules)
        if not nodes:
            slot.cleanup()
            if completion is not None:
                completion.add(slot_key(path))
            return ExtensionOutcome(path, "unchanged")
        result = project.extend(
            ctx, journal, nodes, username=username, organization=organization, index=index
        )
        if result.status != "extended":
            slot.cleanup()
            return ExtensionOutcome(path, "failed", nodes=nodes, error=result.error)
        if archive:
            staging = slot.work / ".archive"
            made = store.create_archive(folder, staging, journal=journal.graph, exclude=absent)
            made.chmod(stat.S_IMODE(path.stat().st_mode))  # the archive keeps its permissions
            os.replace(made, slot.ready)
        else:
            os.rename(slot.work, slot.ready)
        slot.write("ready")  # the commit point
        finish_slot(slot, completion)
        return ExtensionOutcome(path, "extended", nodes=nodes, new_edges=result.new_edges)
    except MasksmithError as exc:
        slot.cleanup()
        return ExtensionOutcome(path, "failed", error=exc.one_line())
    except Exception as exc:
        log.error("extension of %s failed", path, exc_info=True)
        slot.cleanup()
        return ExtensionOutcome(path, "failed", error=f"{type(exc).__name__}: {exc}")


# --------------------------------------------------------------------------------------------------
# Many projects
# --------------------------------------------------------------------------------------------------


def extend_projects(
    projects: str | os.PathLike[str],
    specification: str | os.PathLike[str] | Mapping[str, Any] | BatchProject,
    *,
    rules: ExtensionRules | str | Iterable[str] | None = None,
    complete_file: str | os.PathLike[str] | None = None,
    username: str | None = None,
    organization: str | None = None,
    threads: int = 1,
    skip_validation: bool = False,
    test_mode: bool = False,
    passthrus: Iterable[str] = (),
    global_variables: str | Mapping[str, Any] | None = None,
    initializers: str | Iterable[str | Callable[..., Any]] | None = None,
    workdir: str | os.PathLike[str] = ".",
    seed: int | None = None,
    progress: bool | None = None,
    loglevel: int | str | None = logging.WARNING,
    executor: Executor | None = None,
) -> ExtensionSummary:
    """Extend every journal under ``projects`` with ``specification`` (a NodeAttachment spec).

    Interrupted work of dead processes is finished or discarded first; journals in the completion
    file are skipped. One task per journal runs on ``executor`` (default: ``threads`` local threads;
    processes or Ray alike, where the journals must sit on a filesystem every worker sees). Paths are
    made absolute here, and a journal a worker reports extended counts only when this process sees it.
    """
    run_dir = Path(workdir).absolute()
    handler = _log_to(run_dir, loglevel)
    try:
        return _extend_projects(
            Path(projects).absolute(),
            specification
            if isinstance(specification, BatchProject | Mapping)
            else Path(specification).absolute(),
            rules=rules,
            complete_file=Path(complete_file).absolute() if complete_file else None,
            username=username,
            organization=organization,
            threads=threads,
            skip_validation=skip_validation,
            test_mode=test_mode,
            passthrus=passthrus,
            global_variables=global_variables,
            initializers=initializers,
            workdir=run_dir,
            seed=seed,
            progress=progress,
            executor=executor,
        )
    finally:
        log.removeHandler(handler)
        handler.close()


def _log_to(workdir: Path, loglevel: int | str | None) -> logging.Handler:
    """Log into ``<workdir>/masksmith.log`` (as batch create does) instead of onto the terminal."""
    if loglevel is None:
        level = logging.CRITICAL
    elif isinstance(loglevel, int) or str(loglevel).strip().lstrip("-").isdigit():
        level = int(loglevel)
    else:
        named = logging.getLevelName(str(loglevel).upper())
        if not isinstance(named, int):
            raise SpecError(f"unknown log level {loglevel!r}", argument="loglevel")
        level = named
    workdir.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(workdir / "masksmith.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(threadName)s %(message)s"))
    handler.setLevel(level)
    log.addHandler(handler)
    if log.level == logging.NOTSET or log.level > level:
        log.setLevel(level)
    return handler


def _extension_projects(
    specification: Path | Mapping[str, Any] | BatchProject,
) -> tuple[BatchProject, SpecPicker | None]:
    """The specification to extend with (or a picker choosing one per base media); each must attach."""
    picker = None if isinstance(specification, BatchProject) else SpecPicker.load(specification)
    if picker is not None:  # one specification per base media suffix or type
        project = next(iter(picker.projects.values()))
    else:
        project = specification if isinstance(specification, BatchProject) else BatchProject(specification)
    for candidate in picker.projects.values() if picker is not None else [project]:
        if not candidate.spec.is_extension:
            raise SpecError(
                "an extension specification needs a NodeAttachment node",
                file=candidate.filename,
                path="nodes",
            )
    return project, picker


def _extend_projects(
    projects: Path,
    specification: Path | Mapping[str, Any] | BatchProject,
    *,
    rules: ExtensionRules | str | Iterable[str] | None,
    complete_file: Path | None,
    username: str | None,
    organization: str | None,
    threads: int,
    skip_validation: bool,
    test_mode: bool,
    passthrus: Iterable[str],
    global_variables: str | Mapping[str, Any] | None,
    initializers: str | Iterable[str | Callable[..., Any]] | None,
    workdir: Path,
    seed: int | None,
    progress: bool | None,
    executor: Executor | None,
) -> ExtensionSummary:
    started = time.perf_counter()
    project, picker = _extension_projects(specification)
    parsed = rules if isinstance(rules, ExtensionRules) else ExtensionRules.parse(rules)
    items = find_projects(projects)
    completion = CompletionFile(complete_file) if complete_file else None
    summary = ExtensionSummary()
    finished: set[str] = set()
    for directory in dict.fromkeys(p.parent for p in items):
        recovery = recover_extensions(directory, completion)
        finished.update(slot_key(p) for p in recovery.finished)
        summary.recovered += [str(p) for p in recovery.finished + recovery.discarded]
    # a journal whose interrupted extension was just finished is not extended again
    items = list(dict.fromkeys(p for p in find_projects(projects) if slot_key(p) not in finished))
    ctx = context_of(
        create_global_state(
            projects if projects.is_dir() else projects.parent,
            workdir,
            global_variables=global_variables,
            initializers=initializers,
            seed=seed,
            passthrus=passthrus,
            test_mode=test_mode,
            skip_validation=skip_validation,
        )
    )
    recover_stale(ctx.workdir, ctx.projects)  # image picks of killed runs go back to their pools
    extender = _ExtendOne(project, ctx, parsed, completion, username, organization, picker=picker)
    bar = _progress_bar(len(items), progress)

    def settle(done: Finished[tuple[int, Path], ExtensionOutcome]) -> None:
        outcome = _confirmed(done.result) if done.result is not None else _task_failed(done)
        summary.add(outcome)
        if bar is not None:
            if outcome.status == "failed":
                bar.write(f"failed: {outcome.item}: {outcome.error}", file=sys.stderr)
            bar.update(1)

    with executor_for(executor, threads) as runner:
        try:
            run_items(
                runner,
                # the driver numbers the journals in order: a seed draws the same on every executor
                ((ctx.next_index(), item) for item in items),
                setup=partial(_worker_state, extender),
                task=_extend_item,
                settle=settle,
                name="extend",
            )
        finally:
            if bar is not None:
                bar.close()
    summary.outcomes.sort(key=lambda o: str(o.item))
    summary.seconds = time.perf_counter() - started
    return summary


class _ExtendOne:
    """Extend one journal, here or on a remote worker (picklable: the spec, the run context, the rules)."""

    def __init__(
        self,
        project: BatchProject,
        ctx: RunContext,
        rules: ExtensionRules,
        completion: CompletionFile | None,
        username: str | None,
        organization: str | None,
        *,
        picker: SpecPicker | None = None,
    ) -> None:
        self.project, self.ctx, self.rules, self.completion = project, ctx, rules, completion
        self.username, self.organization = username, organization
        self.picker = picker

    def __call__(self, item: Path, index: int | None = None) -> ExtensionOutcome:
        project = self.project
        if self.picker is not None:
            try:
                project = self.picker.project_for_journal(item)
            except MasksmithError as exc:
                return ExtensionOutcome(Path(item), "failed", error=str(exc))
        return extend_project(
            item,
            project,
            self.ctx,
            self.rules,
            completion=self.completion,
            username=self.username,
            organization=self.organization,
            index=index,
        )


def _worker_state(extender: _ExtendOne) -> _ExtendOne:
    """A worker's setup: the extender it was handed (one per worker; threads share it)."""
    return extender


def _extend_item(extender: _ExtendOne, item: tuple[int, Path]) -> ExtensionOutcome:
    index, path = item
    return extender(path, index)


def _task_failed(done: Finished[tuple[int, Path], ExtensionOutcome]) -> ExtensionOutcome:
    """An outcome for a task that raised (or whose worker was lost)."""
    return ExtensionOutcome(done.item[1], "failed", error=error_line(done.error))


def _confirmed(outcome: ExtensionOutcome) -> ExtensionOutcome:
    """An ``extended`` outcome as this process sees it: the journal is there and holds the new nodes."""
    if outcome.status != "extended":
        return outcome
    item = outcome.item
    expected = {node for edge in outcome.new_edges for node in edge}
    try:
        graph = (
            store.read_archive_json(item)
            if item.is_file()
            else store.load_json(store.find_journal_json(item))
        )
        missing = sorted(expected - {str(node) for node, _ in graph.nodes()})
    except MasksmithError:
        missing = sorted(expected) or ["(the journal)"]
    if not missing:
        return outcome
    shown = ", ".join(missing[:3]) + (" …" if len(missing) > 3 else "")
    error = f"{not_seen('extended journal', item)} (missing {shown})"
    log.error("%s", error)
    return ExtensionOutcome(item, "failed", nodes=outcome.nodes, error=error)


def _progress_bar(total: int, progress: bool | None) -> Any:
    show = progress if progress is not None else sys.stderr.isatty()
    if not show or total == 0:
        return None
    from tqdm import tqdm

    return tqdm(total=total, file=sys.stderr, unit="journal", dynamic_ncols=True, desc="extend")
