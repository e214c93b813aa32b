"""Journal extension: pick nodes of existing journals by rule and run a NodeAttachment spec from each.

Selection (seed §2.1, §5) happens in two layers, both over the journal as it was before the run:

1. **Structure.** A node is a candidate when it lies on the base's path (reachable from the base
   without crossing a donor edge), is not a root and is not final. ``donorpath`` admits nodes on
   donor paths, ``final`` (alias ``finalnode``) admits final nodes, ``finalpng`` only final ``.png``
   files, ``basenode`` admits the base (and, with ``donorpath``, donor roots).
2. **Operation.** Among candidates, the first matching rule decides: an *include*
   (``+cat:op`` — made by a matching operation; ``+$cat:op`` — the source of one; ``outputop`` =
   ``+Output:``; ``antiforensicop`` = ``+AntiForensic:``; ``outputsourceop`` = ``+$Output:``;
   ``antiforensicsourceop`` = ``+$AntiForensic:``) selects; an *exclude* (``~cat:op``; ``~:``
   excludes everything not explicitly included) drops; otherwise the default selects the node unless
   an Output (format change) or AntiForensic operation made it.

Either side of ``cat:op`` may be empty (any); names compare without case and ``op`` also matches
the edge's plugin name and the part before ``::`` of a variant. A token without a sign is an include.

Running (kill-safe, resumable): each project (a journal folder or a ``.tgz``) is extended in a
working copy next to it, ``.<item>.ext-<pid>.work``. A small state file ``.<item>.ext-<pid>.state``
says how far it got: ``working`` → ``ready`` (the extended copy is complete: the commit point) →
``swapped`` (it replaced the original: a folder by two renames, a ``.tgz`` by ``os.replace`` of a
re-made archive) → recorded in the completion file → cleaned up. A later run finishes what a
killed process committed and discards what it did not, so every journal is extended exactly once
and is never left half-written.
"""

from __future__ import annotations

import enum
import glob
import hashlib
import json
import logging
import os
import shutil
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from masksmith.batch.executor import LocalThreadExecutor
from masksmith.batch.inflight import pid_alive, recover_stale
from masksmith.batch.picks import SpecPicker
from masksmith.batch.project import CONTEXT_KEY, BatchProject, RunContext, create_global_state
from masksmith.batch.state import CompletionFile, ProjectClaims, atomic_write_text
from masksmith.errors import JournalError, MasksmithError, SpecError
from masksmith.executors import is_distributed
from masksmith.journal import paths, store
from masksmith.journal.model import DONOR_OP, JournalGraph
from masksmith.journal.project import Journal
from masksmith.operations import Catalogue, default_catalogue

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

_TAG = ".ext-"


# --------------------------------------------------------------------------------------------------
# Rules
# --------------------------------------------------------------------------------------------------


class Flag(enum.Enum):
    """Structural admissions: which kinds of node may be candidates at all."""

    DONORPATH = "donorpath"
    FINAL = "final"
    FINALPNG = "finalpng"
    BASENODE = "basenode"


_FLAG_TOKENS = {
    "donorpath": Flag.DONORPATH,
    "final": Flag.FINAL,
    "finalnode": Flag.FINAL,
    "finalpng": Flag.FINALPNG,
    "basenode": Flag.BASENODE,
}
_OP_TOKENS: dict[str, tuple[str, str]] = {
    # token -> (produced | source, category)
    "outputop": ("produced", "Output"),
    "antiforensicop": ("produced", "AntiForensic"),
    "antforensicop": ("produced", "AntiForensic"),  # the seed's spelling
    "outputsourceop": ("source", "Output"),
    "antiforensicsourceop": ("source", "AntiForensic"),
    "antforensicsourceop": ("source", "AntiForensic"),
}
_DEFAULT_EXCLUDED_CATEGORIES = ("output", "antiforensic")
TOKENS = (*_FLAG_TOKENS, *_OP_TOKENS, "+cat:op", "+$cat:op", "~cat:op", "~:")


@dataclass(frozen=True)
class OpPattern:
    """``category:operation``; an empty side matches anything (compared without case)."""

    category: str = ""
    operation: str = ""

    @classmethod
    def parse(cls, text: str, *, token: str) -> OpPattern:
        if ":" not in text:
            raise SpecError(
                f"extension rule {token!r}: expected category:operation (either may be empty)",
                argument="extensionRules",
            )
        category, operation = text.split(":", 1)
        return cls(category.strip().lower(), operation.strip().lower())

    def matches(self, op: _Op) -> bool:
        if self.category and self.category != op.category:
            return False
        return not self.operation or self.operation in op.names

    def __str__(self) -> str:
        return f"{self.category}:{self.operation}"


@dataclass(frozen=True)
class ExtensionRules:
    """Parsed extension rules (see the module docstring for what each token means)."""

    flags: frozenset[Flag] = frozenset()
    include_made_by: tuple[OpPattern, ...] = ()
    include_source_of: tuple[OpPattern, ...] = ()
    exclude_made_by: tuple[OpPattern, ...] = ()
    drop_default: bool = False
    text: str = ""

    @classmethod
    def parse(cls, text: str | Iterable[str] | None) -> ExtensionRules:
        """Parse comma-separated tokens; an unknown token raises SpecError naming the valid ones."""
        if text is None:
            tokens: list[str] = []
        elif isinstance(text, str):
            tokens = [t.strip() for t in text.split(",")]
        else:
            tokens = [str(t).strip() for t in text]
        tokens = [t for t in tokens if t]
        flags: set[Flag] = set()
        made: list[OpPattern] = []
        source: list[OpPattern] = []
        exclude: list[OpPattern] = []
        drop = False
        for token in tokens:
            lower = token.lower()
            if lower in _FLAG_TOKENS:
                flags.add(_FLAG_TOKENS[lower])
            elif lower in _OP_TOKENS:
                kind, category = _OP_TOKENS[lower]
                (made if kind == "produced" else source).append(OpPattern(category.lower(), ""))
            elif token.startswith("~"):
                pattern = OpPattern.parse(token[1:], token=token)
                if pattern == OpPattern():
                    drop = True
                else:
                    exclude.append(pattern)
            elif token.startswith("+$") or token.startswith("$"):
                source.append(OpPattern.parse(token.lstrip("+").removeprefix("$"), token=token))
            elif token.startswith("+") or ":" in token:
                made.append(OpPattern.parse(token.removeprefix("+"), token=token))
            else:
                raise SpecError(
                    f"unknown extension rule {token!r}; expected one of {', '.join(TOKENS)}",
                    argument="extensionRules",
                )
        return cls(frozenset(flags), tuple(made), tuple(source), tuple(exclude), drop, ",".join(tokens))

    def __str__(self) -> str:
        return self.text or "(default)"


def parse_rules(text: str | Iterable[str] | None) -> ExtensionRules:
    """``ExtensionRules.parse``: ``"antiforensicsourceop,~:"`` → rules."""
    return ExtensionRules.parse(text)


@dataclass(frozen=True)
class _Op:
    category: str
    names: frozenset[str]


@dataclass(frozen=True)
class _NodeFacts:
    node: str
    root: bool
    base: bool
    on_base_path: bool
    final: bool
    png: bool
    made_by: tuple[_Op, ...]
    source_of: tuple[_Op, ...]


def _category(op: str, catalogue: Catalogue) -> str:
    operation = catalogue.find(op)
    if operation is not None:
        return str(operation.category).lower()
    for prefix in ("AntiForensic", "Output"):  # unknown subclasses still name their family
        if op.startswith(prefix):
            return prefix.lower()
    return ""


def _op(data: Mapping[str, Any], catalogue: Catalogue) -> _Op:
    name = str(data.get("op", ""))
    names = {name.lower(), name.split("::", 1)[0].lower()}
    if data.get("plugin_name"):
        names.add(str(data["plugin_name"]).lower())
    return _Op(_category(name, catalogue), frozenset(n for n in names if n))


def _facts(graph: JournalGraph, catalogue: Catalogue) -> list[_NodeFacts]:
    g = graph.graph
    base = graph.base_node()
    operation_edges = [(a, b) for a, b, d in g.edges(data=True) if d.get("op") != DONOR_OP]
    reachable = {base}
    frontier = [base]
    successors: dict[str, list[str]] = {}
    for a, b in operation_edges:
        successors.setdefault(a, []).append(b)
    while frontier:
        for nxt in successors.get(frontier.pop(), []):
            if nxt not in reachable:
                reachable.add(nxt)
                frontier.append(nxt)
    out = []
    for node in _topological(graph):
        data = g.nodes[node]
        made = tuple(_op(d, catalogue) for _, _, d in g.in_edges(node, data=True) if d.get("op") != DONOR_OP)
        used = tuple(_op(d, catalogue) for _, _, d in g.out_edges(node, data=True) if d.get("op") != DONOR_OP)
        root = g.in_degree(node) == 0
        out.append(
            _NodeFacts(
                node=node,
                root=root,
                base=node == base,
                on_base_path=node in reachable,
                final=not root and g.out_degree(node) == 0,
                png=str(data.get("file", "")).lower().endswith(".png"),
                made_by=made,
                source_of=used,
            )
        )
    return out


def _topological(graph: JournalGraph) -> list[str]:
    import networkx as nx

    return [str(n) for n in nx.lexicographical_topological_sort(graph.graph, key=str)]


def _selected(facts: _NodeFacts, rules: ExtensionRules) -> bool:
    flags = rules.flags
    if facts.root:
        if Flag.BASENODE not in flags or (not facts.base and Flag.DONORPATH not in flags):
            return False
    elif not facts.on_base_path and Flag.DONORPATH not in flags:
        return False
    if facts.final and not (Flag.FINAL in flags or (Flag.FINALPNG in flags and facts.png)):
        return False
    if any(p.matches(op) for p in rules.include_made_by for op in facts.made_by):
        return True
    if any(p.matches(op) for p in rules.include_source_of for op in facts.source_of):
        return True
    if rules.drop_default or any(p.matches(op) for p in rules.exclude_made_by for op in facts.made_by):
        return False
    return not any(op.category in _DEFAULT_EXCLUDED_CATEGORIES for op in facts.made_by)


def select_nodes(
    journal: Journal | JournalGraph,
    rules: ExtensionRules | str | Iterable[str] | None = None,
    *,
    catalogue: Catalogue | None = None,
) -> list[str]:
    """Ids of the nodes to extend, in topological order (ties by id)."""
    parsed = rules if isinstance(rules, ExtensionRules) else ExtensionRules.parse(rules)
    if isinstance(journal, Journal):
        graph, catalogue = journal.graph, catalogue or journal.catalogue
    else:
        graph = journal
    catalogue = catalogue or default_catalogue()
    return [f.node for f in _facts(graph, catalogue) if _selected(f, parsed)]


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


# --------------------------------------------------------------------------------------------------
# One project, kill-safe
# --------------------------------------------------------------------------------------------------


def _key(item: Path) -> str:
    return str(item.resolve())


@dataclass
class _Slot:
    """The working names of one item for process ``pid`` (all in the item's own folder)."""

    item: Path
    pid: int
    archive: bool

    @property
    def stem(self) -> str:
        return f".{self.item.name}{_TAG}{self.pid}"

    def _sibling(self, suffix: str) -> Path:
        return self.item.parent / f"{self.stem}{suffix}"

    @property
    def state(self) -> Path:
        return self._sibling(".state")

    @property
    def work(self) -> Path:
        return self._sibling(".work")

    @property
    def ready(self) -> Path:
        return self._sibling(".ready.tgz" if self.archive else ".ready")

    @property
    def old(self) -> Path:
        return self._sibling(".old")

    def stage(self) -> str | None:
        try:
            info = json.loads(self.state.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, json.JSONDecodeError):
            return "working"
        return str(info.get("stage", "working"))

    def write(self, stage: str) -> None:
        atomic_write_text(
            self.state, json.dumps({"item": self.item.name, "stage": stage, "archive": self.archive}) + "\n"
        )

    def cleanup(self) -> None:
        for path in (self.work, self.old, self.ready):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            elif path.exists():
                path.unlink(missing_ok=True)
        self.state.unlink(missing_ok=True)  # last: while it exists, a later run can finish the job


def _swap(slot: _Slot) -> None:
    """Put the ready copy in place of the item; safe to repeat after a kill at any point."""
    if slot.archive:
        if slot.ready.is_file():
            os.replace(slot.ready, slot.item)
        return
    if slot.ready.is_dir():
        if slot.item.exists() and not slot.old.exists():
            os.rename(slot.item, slot.old)
        os.rename(slot.ready, slot.item)


def _finish(slot: _Slot, completion: CompletionFile | None) -> None:
    _swap(slot)
    slot.write("swapped")
    if completion is not None:
        completion.add(_key(slot.item))
    slot.cleanup()


def _recover_slot(slot: _Slot, completion: CompletionFile | None) -> bool:
    """Finish committed work (True) or discard the rest (False)."""
    if slot.stage() in ("ready", "swapped"):
        _finish(slot, completion)
        log.warning("finished the interrupted extension of %s", slot.item)
        return True
    slot.cleanup()
    log.warning("discarded the interrupted extension of %s", slot.item)
    return False


@dataclass
class Recovery:
    """What :func:`recover_extensions` did: items whose extension it finished or discarded."""

    finished: list[Path] = field(default_factory=list)
    discarded: list[Path] = field(default_factory=list)


def _dead_slots(item: Path) -> list[_Slot]:
    """Slots of ``item`` whose state file names a process (on this host) that no longer runs."""
    prefix = f".{item.name}{_TAG}"
    slots = []
    for state in sorted(item.parent.glob(f"{glob.escape(prefix)}*.state")):
        pid_text = state.name[len(prefix) : -len(".state")]
        if not pid_text.isdigit() or int(pid_text) == os.getpid() or pid_alive(int(pid_text)):
            continue
        archive = item.is_file() or item.parent.joinpath(f"{prefix}{pid_text}.ready.tgz").exists()
        slots.append(_Slot(item, int(pid_text), archive))
    return slots


def recover_extensions(
    directory: str | os.PathLike[str], completion: CompletionFile | None = None
) -> Recovery:
    """Finish or discard what killed extension processes left in ``directory``.

    Work that reached ``ready`` is put in place and recorded as complete; earlier stages are
    discarded, leaving the item as it was. Live processes' work is left alone.
    """
    folder = Path(directory)
    report = Recovery()
    if not folder.is_dir():
        return report
    for entry in sorted(folder.iterdir()):
        name = entry.name
        if not name.startswith(".") or _TAG not in name:
            continue
        head, _, tail = name[1:].rpartition(_TAG)
        pid_text = tail.split(".", 1)[0]
        if not head or not pid_text.isdigit() or pid_alive(int(pid_text)):
            continue
        item = folder / head
        archive = (folder / f".{head}{_TAG}{pid_text}.ready.tgz").exists() or item.is_file()
        slot = _Slot(item, int(pid_text), archive)
        if entry != slot.state:
            if not slot.state.exists() and entry.exists():  # left by an interrupted cleanup
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
            continue
        (report.finished if _recover_slot(slot, completion) else report.discarded).append(item)
    return report


def extend_project(
    item: str | os.PathLike[str],
    project: BatchProject,
    ctx: RunContext,
    rules: ExtensionRules | str | None = None,
    *,
    completion: CompletionFile | None = None,
    username: str | None = None,
    organization: str | None = None,
) -> ExtensionOutcome:
    """Extend one journal folder or ``.tgz`` in place (atomically; see the module docstring)."""
    path = Path(item)
    parsed = rules if isinstance(rules, ExtensionRules) else ExtensionRules.parse(rules)
    if completion is not None and _key(path) in completion:
        return ExtensionOutcome(path, "skipped")
    claims = ProjectClaims(ctx.workdir / "claims")
    claim = "ext-" + hashlib.md5(_key(path).encode("utf-8")).hexdigest()[:16]
    with claims.holding(claim) as got:
        if not got:
            return ExtensionOutcome(path, "skipped", error="being extended by another process")
        if completion is not None and _key(path) in completion:  # finished while we waited
            return ExtensionOutcome(path, "skipped")
        return _extend_claimed(path, project, ctx, parsed, completion, username, organization)


def _extend_claimed(
    path: Path,
    project: BatchProject,
    ctx: RunContext,
    rules: ExtensionRules,
    completion: CompletionFile | None,
    username: str | None,
    organization: str | None,
) -> ExtensionOutcome:
    # Holding the claim, any other process's slot for this item is left by one that died: a retried
    # distributed task, say, whose first attempt was killed. Work it committed is finished, not redone.
    for earlier in _dead_slots(path):
        if _recover_slot(earlier, completion):
            return ExtensionOutcome(path, "extended", error=None)
    archive = path.is_file()
    slot = _Slot(path, os.getpid(), archive)
    if slot.state.exists():  # left by an earlier process with our pid
        _recover_slot(slot, completion)
        if completion is not None and _key(path) in completion:
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
                completion.add(_key(path))
            return ExtensionOutcome(path, "unchanged")
        result = project.extend(ctx, journal, nodes, username=username, organization=organization)
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
        _finish(slot, completion)
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
    executor: Any = None,
) -> ExtensionSummary:
    """Extend every journal under ``projects`` with ``specification`` (a NodeAttachment spec).

    Interrupted work of dead processes is finished or discarded first; journals in the completion
    file are skipped; ``threads`` journals run at once, or one task per journal on a distributed
    ``executor`` (Ray; the journals must sit on a filesystem every node sees).
    """
    handler = _log_to(Path(workdir), loglevel)
    try:
        return _extend_projects(
            projects,
            specification,
            rules=rules,
            complete_file=complete_file,
            username=username,
            organization=organization,
            threads=threads,
            skip_validation=skip_validation,
            test_mode=test_mode,
            passthrus=passthrus,
            global_variables=global_variables,
            initializers=initializers,
            workdir=workdir,
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


def _extend_projects(
    projects: str | os.PathLike[str],
    specification: str | os.PathLike[str] | Mapping[str, Any] | BatchProject,
    *,
    rules: ExtensionRules | str | Iterable[str] | None,
    complete_file: str | os.PathLike[str] | None,
    username: str | None,
    organization: str | None,
    threads: int,
    skip_validation: bool,
    test_mode: bool,
    passthrus: Iterable[str],
    global_variables: str | Mapping[str, Any] | None,
    initializers: str | Iterable[str | Callable[..., Any]] | None,
    workdir: str | os.PathLike[str],
    seed: int | None,
    progress: bool | None,
    executor: Any = None,
) -> ExtensionSummary:
    started = time.perf_counter()
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
    parsed = rules if isinstance(rules, ExtensionRules) else ExtensionRules.parse(rules)
    items = find_projects(projects)
    completion = CompletionFile(complete_file) if complete_file else None
    summary = ExtensionSummary()
    finished: set[str] = set()
    for directory in dict.fromkeys(p.parent for p in items):
        recovery = recover_extensions(directory, completion)
        finished.update(_key(p) for p in recovery.finished)
        summary.recovered += [str(p) for p in recovery.finished + recovery.discarded]
    # a journal whose interrupted extension was just finished is not extended again
    items = list(dict.fromkeys(p for p in find_projects(projects) if _key(p) not in finished))
    state = create_global_state(
        Path(projects) if Path(projects).is_dir() else Path(projects).parent,
        workdir,
        global_variables=global_variables,
        initializers=initializers,
        seed=seed,
        passthrus=passthrus,
        test_mode=test_mode,
        skip_validation=skip_validation,
    )
    ctx: RunContext = state[CONTEXT_KEY]
    recover_stale(ctx.workdir, ctx.projects)  # image picks of killed runs go back to their pools
    bar = _progress_bar(len(items), progress)
    lock = threading.Lock()

    extend_one = _ExtendOne(project, ctx, parsed, completion, username, organization, picker=picker)

    def one(item: Path) -> ExtensionOutcome:
        outcome = extend_one(item)
        with lock:
            summary.add(outcome)
            if bar is not None:
                if outcome.status == "failed":
                    bar.write(f"failed: {outcome.item}: {outcome.error}", file=sys.stderr)
                bar.update(1)
        return outcome

    if is_distributed(executor):
        try:
            for item, outcome in zip(items, executor.map(extend_one, items), strict=True):
                with lock:
                    summary.add(outcome)
                    if bar is not None:
                        if outcome.status == "failed":
                            bar.write(f"failed: {item}: {outcome.error}", file=sys.stderr)
                        bar.update(1)
        finally:
            if bar is not None:
                bar.close()
        summary.outcomes.sort(key=lambda o: str(o.item))
        summary.seconds = time.perf_counter() - started
        return summary
    pool = LocalThreadExecutor(threads)
    try:
        futures: Sequence[Future[ExtensionOutcome]] = [pool.submit(partial(one, item)) for item in items]
        for future in futures:
            future.result()
    finally:
        pool.shutdown(wait=True)
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

    def __call__(self, item: Path) -> ExtensionOutcome:
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
        )


def _progress_bar(total: int, progress: bool | None) -> Any:
    show = progress if progress is not None else sys.stderr.isatty()
    if not show or total == 0:
        return None
    from tqdm import tqdm

    return tqdm(total=total, file=sys.stderr, unit="journal", dynamic_ncols=True, desc="extend")
