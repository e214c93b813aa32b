"""Extension rules: which nodes of an existing journal a NodeAttachment spec is run from (seed §2.1, §5).

Selection happens in two layers, both over the journal as it was before the run:

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
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import networkx as nx

from masksmith.errors import SpecError
from masksmith.journal.model import DONOR_OP, JournalGraph
from masksmith.journal.project import Journal
from masksmith.operations import Catalogue, default_catalogue

__all__ = ["TOKENS", "ExtensionRules", "Flag", "OpPattern", "parse_rules", "select_nodes"]


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
