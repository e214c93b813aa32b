"""Graph- and node-level validation rules: structure, files, names."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import networkx as nx

from masksmith import __version__
from masksmith.journal import paths
from masksmith.journal.model import DONOR_OP
from masksmith.journal.rules_base import (
    Finding,
    RuleOutcome,
    Severity,
    graph_rule,
    inspect,
    node_rule,
)

if TYPE_CHECKING:
    from masksmith.journal.project import Journal

INVALID_NAME_CHARACTERS = "|'\"(),$?"
_MD5 = re.compile(r"^[0-9a-f]{32}$")


def _operation_edges(journal: Journal) -> list[tuple[str, str]]:
    return [(s, e) for s, e, d in journal.graph.edges() if d.get("op") != DONOR_OP]


# --- graph rules ----------------------------------------------------------------------------------


def _fix_version(journal: Journal, start: str | None, end: str | None) -> str:
    journal.graph.attributes["igversion"] = f"masksmith-{__version__}"
    return f"set igversion to masksmith-{__version__}"


@graph_rule("graph_version", Severity.ERROR)
def graph_version(journal: Journal) -> Iterator[RuleOutcome]:
    """The journal records the tool version that wrote it (``igversion``)."""
    if not str(journal.graph.attributes.get("igversion") or "").strip():
        yield (Severity.ERROR, "journal has no igversion: not upgraded to a known version", _fix_version)


@graph_rule("graph_one_base", Severity.ERROR)
def graph_one_base(journal: Journal) -> Iterator[RuleOutcome]:
    """Exactly one base node (several only when the project is marked ``provenance``)."""
    bases = journal.graph.nodes_of_type("base")
    provenance = str(journal.graph.attributes.get("provenance", "no")).lower() == "yes"
    if not bases:
        yield (Severity.ERROR, "journal has no base node")
    elif len(bases) > 1 and not provenance:
        yield (Severity.ERROR, f"journal has {len(bases)} base nodes: {', '.join(sorted(bases))}")


@graph_rule("graph_cycle", Severity.ERROR)
def graph_cycle(journal: Journal) -> Iterator[RuleOutcome]:
    """The graph has no cycle."""
    try:
        cycle = nx.find_cycle(journal.graph.graph)
    except nx.NetworkXNoCycle:
        return
    nodes = " -> ".join(str(s) for s, _ in cycle)
    yield Finding(Severity.ERROR, str(cycle[0][0]), None, f"journal has a cycle: {nodes}", "graph_cycle")


@graph_rule("graph_no_operations", Severity.WARNING)
def graph_no_operations(journal: Journal) -> Iterator[RuleOutcome]:
    """The journal records at least one operation."""
    if not _operation_edges(journal):
        yield (Severity.WARNING, "journal records no operations")


@graph_rule("graph_isolated_node", Severity.ERROR)
def graph_isolated_node(journal: Journal) -> Iterator[RuleOutcome]:
    """Every node has a neighbour (in a journal of more than one node)."""
    g = journal.graph.graph
    if g.number_of_nodes() < 2:
        return
    for node in sorted(nx.isolates(g)):
        yield Finding(Severity.ERROR, node, None, "node has no links", "graph_isolated_node")


@graph_rule("graph_unconnected", Severity.ERROR)
def graph_unconnected(journal: Journal) -> Iterator[RuleOutcome]:
    """The graph is one connected piece (isolated nodes are reported by graph_isolated_node)."""
    g = journal.graph.graph
    parts = [p for p in nx.weakly_connected_components(g) if len(p) > 1]
    if len(parts) > 1:
        sizes = ", ".join(str(len(p)) for p in parts)
        yield (Severity.ERROR, f"journal has {len(parts)} unconnected parts (sizes {sizes})")


@graph_rule("graph_final_reachable", Severity.ERROR)
def graph_final_reachable(journal: Journal) -> Iterator[RuleOutcome]:
    """Every final node is reachable from the base through operation links."""
    bases = journal.graph.nodes_of_type("base")
    if len(bases) != 1:
        return
    ops = nx.DiGraph()
    ops.add_nodes_from(journal.graph.graph.nodes)
    ops.add_edges_from(_operation_edges(journal))
    reachable = nx.descendants(ops, bases[0]) | {bases[0]}
    for final in sorted(journal.graph.final_nodes()):
        if final not in reachable and journal.graph.graph.in_degree(final) > 0:
            roots = {n for n in nx.ancestors(ops, final) if ops.in_degree(n) == 0}
            if roots:  # an extension of a donor path (the original accepts it)
                yield Finding(
                    Severity.WARNING,
                    final,
                    None,
                    f"final node is on the donor path of {', '.join(sorted(roots))}, not reachable from the base",
                    "graph_final_reachable",
                )
                continue
            yield Finding(
                Severity.ERROR,
                final,
                None,
                "final node is not reachable from the base",
                "graph_final_reachable",
            )


@graph_rule("graph_donor_only_predecessor", Severity.ERROR)
def graph_donor_only_predecessor(journal: Journal) -> Iterator[RuleOutcome]:
    """No node is created by a donor link alone."""
    for node in sorted(journal.graph.graph.nodes):
        incoming = list(journal.graph.graph.in_edges(node, data=True))
        if incoming and all(d.get("op") == DONOR_OP for _, _, d in incoming):
            yield Finding(
                Severity.ERROR,
                node,
                None,
                "node's only incoming links are donor links (no operation made it)",
                "graph_donor_only_predecessor",
            )


@graph_rule("graph_duplicate_final_files", Severity.ERROR)
def graph_duplicate_final_files(journal: Journal) -> Iterator[RuleOutcome]:
    """Final nodes have distinct file names."""
    seen: dict[str, str] = {}
    for final in sorted(journal.graph.final_nodes()):
        name = str(journal.graph.node(final).get("file", ""))
        if name in seen:
            yield Finding(
                Severity.ERROR,
                final,
                None,
                f"final node shares its file {name!r} with {seen[name]}",
                "graph_duplicate_final_files",
            )
        else:
            seen[name] = final


def _fix_project_type(journal: Journal, start: str | None, end: str | None) -> str:
    kind = _final_type(journal)
    journal.graph.attributes["projecttype"] = kind
    return f"set projecttype to {kind}"


def _final_type(journal: Journal) -> str:
    kinds = {str(journal.graph.node(f).get("filetype", "image")) for f in journal.graph.final_nodes()}
    return kinds.pop() if len(kinds) == 1 else "image"


@graph_rule("graph_project_type", Severity.WARNING)
def graph_project_type(journal: Journal) -> Iterator[RuleOutcome]:
    """The project type agrees with the media type of the final nodes."""
    if not journal.graph.final_nodes():
        return
    expected = _final_type(journal)
    actual = journal.graph.attributes.get("projecttype")
    if actual != expected:
        yield (
            Severity.WARNING,
            f"projecttype is {actual!r} but the finals are {expected}",
            _fix_project_type,
        )


@graph_rule("graph_required_attributes", Severity.ERROR)
def graph_required_attributes(journal: Journal) -> Iterator[RuleOutcome]:
    """The journal names itself and its creator (``name``, ``username``, ``creator``)."""
    missing = [k for k in ("name", "username", "creator") if not str(journal.graph.attributes.get(k) or "")]
    if missing:
        yield (Severity.ERROR, f"journal lacks {', '.join(missing)}")


# rules of their own report these attributes when their files are missing
_OWN_MISSING_RULES = ("file", "maskname", "inputmaskname")


@graph_rule("paths_contained", Severity.ERROR)
def paths_contained(journal: Journal) -> Iterator[Finding]:
    """Every file name in the journal stays inside its folder (no absolute path, ``..`` or outward link).

    Such a name is never opened, created, archived, uploaded or copied; this finding names the
    attribute and the node or link. The journal's ``name`` must be a plain file name.
    """
    name = journal.graph.attributes.get("name")
    if name:  # a missing name is graph_required_attributes' finding
        try:
            paths.plain_name(name, attribute="name", node="graph")
        except paths.PathEscapeError as exc:
            yield Finding(Severity.ERROR, None, None, exc.message, "paths_contained")
    file_arguments = paths.catalogue_file_arguments(journal.catalogue)
    for ref in paths.references(journal.graph, file_arguments=file_arguments):
        reason = paths.problem(journal.directory, ref.name)
        if reason is not None:
            where = f"node {ref.node!r}" if ref.start is None else f"link {ref.where}"
            message = f"{ref.attribute} {ref.name!r} of {where} {reason}; it is never opened or archived"
            yield Finding(Severity.ERROR, ref.start or ref.node, ref.end, message, "paths_contained")


@graph_rule("referenced_file_missing", Severity.ERROR)
def referenced_file_missing(journal: Journal) -> Iterator[Finding]:
    """Every other file the journal names (``proxyfile``, ``donors``, file arguments …) is in its folder."""
    info = inspect(journal)
    file_arguments = paths.catalogue_file_arguments(journal.catalogue)
    for ref in paths.references(journal.graph, file_arguments=file_arguments):
        if ref.attribute in _OWN_MISSING_RULES or not info.contained(ref.name) or info.exists(ref.name):
            continue
        message = f"{ref.attribute} {ref.name!r} is missing"
        yield Finding(Severity.ERROR, ref.start or ref.node, ref.end, message, "referenced_file_missing")


# --- node rules -----------------------------------------------------------------------------------


@node_rule("node_no_file", Severity.ERROR)
def node_no_file(journal: Journal, node: str) -> RuleOutcome:
    """Every node names its media file."""
    if not str(journal.graph.node(node).get("file") or ""):
        return "node has no 'file'"
    return None


@node_rule("node_file_missing", Severity.ERROR)
def node_file_missing(journal: Journal, node: str) -> RuleOutcome:
    """Every node's media file is in the journal folder."""
    name = journal.graph.node(node).get("file")
    if name and inspect(journal).contained(name) and not inspect(journal).exists(name):
        return f"media file {name!r} is missing"
    return None


@node_rule("node_media_unreadable", Severity.ERROR)
def node_media_unreadable(journal: Journal, node: str) -> RuleOutcome:
    """Every node's media file can be read as an image."""
    info = inspect(journal)
    name = journal.graph.node(node).get("file")
    if journal.graph.node(node).get("filetype") in ("video", "audio"):
        return None  # rules_video.node_stream_unreadable reads these
    if info.exists(name) and info.size(node) is None:
        return f"media file {name!r} cannot be read as an image"
    return None


def _rename_file(journal: Journal, node: str, new_name: str) -> str:
    data = journal.graph.node(node)
    old = str(data["file"])
    source = journal.file_path(old, attribute="file", node=node)
    target = journal.file_path(new_name, attribute="file", node=node)
    if source.resolve() != target.resolve():
        if target.exists():
            raise FileExistsError(f"cannot rename {old} to {new_name}: the name is taken")
        source.rename(target)
    data["file"] = new_name
    inspect(journal).clear()
    return f"renamed {old} to {new_name} (node {node})"


def _fix_characters(journal: Journal, start: str | None, end: str | None) -> str:
    assert start is not None
    old = str(journal.graph.node(start)["file"])
    clean = "".join("_" if ch in INVALID_NAME_CHARACTERS else ch for ch in old)
    return _rename_file(journal, start, clean)


@node_rule("node_invalid_characters", Severity.ERROR)
def node_invalid_characters(journal: Journal, node: str) -> RuleOutcome:
    """Media file names avoid ``|'"(),$?`` (interim names are fixed by renaming)."""
    name = str(journal.graph.node(node).get("file") or "")
    bad = sorted({ch for ch in name if ch in INVALID_NAME_CHARACTERS})
    if not bad:
        return None
    fixable = journal.graph.node(node).get("nodetype") == "interim" and inspect(journal).exists(name)
    message = f"file name {name!r} contains {''.join(bad)!r}"
    return (Severity.ERROR, message, _fix_characters) if fixable else (Severity.ERROR, message)


def _md5_of(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fix_md5(journal: Journal, start: str | None, end: str | None) -> str:
    assert start is not None
    old = Path(str(journal.graph.node(start)["file"]))
    digest = _md5_of(journal.path_of(start))
    return _rename_file(journal, start, digest + old.suffix.lower())


def _rename_on(journal: Journal) -> bool:
    value = journal.graph.attributes.get("rename", "no")
    return value is True or str(value).lower() in ("yes", "true")


@node_rule("node_final_md5", Severity.WARNING)
def node_final_md5(journal: Journal, node: str) -> RuleOutcome:
    """With ``rename`` on, final media are named by the MD5 of their content."""
    data = journal.graph.node(node)
    if (
        data.get("nodetype") != "final"
        or not _rename_on(journal)
        or not inspect(journal).exists(data.get("file"))
    ):
        return None
    path = journal.path_of(node)
    if path.stem != _md5_of(path):
        return (Severity.WARNING, f"final file {path.name!r} is not named by its MD5", _fix_md5)
    return None


@node_rule("node_final_proxy", Severity.ERROR)
def node_final_proxy(journal: Journal, node: str) -> RuleOutcome:
    """Final nodes have no proxy file."""
    data = journal.graph.node(node)
    if data.get("nodetype") == "final" and data.get("proxyfile"):
        return f"final node has a proxy file {data['proxyfile']!r}"
    return None


def _fix_suffix(journal: Journal, start: str | None, end: str | None) -> str:
    assert start is not None
    old = Path(str(journal.graph.node(start)["file"]))
    return _rename_file(journal, start, old.stem + old.suffix.lower())


@node_rule("node_suffix_case", Severity.ERROR)
def node_suffix_case(journal: Journal, node: str) -> RuleOutcome:
    """Base, donor and final media have lower-case suffixes."""
    data = journal.graph.node(node)
    suffix = Path(str(data.get("file") or "")).suffix
    if data.get("nodetype") in ("base", "donor", "final") and suffix != suffix.lower():
        fix = _fix_suffix if inspect(journal).exists(data.get("file")) else None
        message = f"file suffix {suffix!r} is not lower case"
        return (Severity.ERROR, message, fix) if fix else (Severity.ERROR, message)
    return None


def _expected_type(journal: Journal, node: str) -> str | None:
    data = journal.graph.node(node)
    g = journal.graph.graph
    if data.get("nodetype") == "base":
        return None
    if g.in_degree(node) == 0:
        return "donor"
    if g.out_degree(node) == 0:
        return "final"
    return "interim"


def _fix_types(journal: Journal, start: str | None, end: str | None) -> str:
    journal.graph.label_nodes()
    return "relabelled node types from the graph structure"


@node_rule("node_type", Severity.WARNING)
def node_type(journal: Journal, node: str) -> RuleOutcome:
    """A node's ``nodetype`` matches its place in the graph (root donor, interim, leaf final)."""
    expected = _expected_type(journal, node)
    actual = journal.graph.node(node).get("nodetype")
    if expected is not None and actual != expected:
        return (
            Severity.WARNING,
            f"nodetype is {actual!r}, its place in the graph makes it {expected!r}",
            _fix_types,
        )
    if actual == "base" and journal.graph.graph.in_degree(node) > 0:
        return (Severity.ERROR, "base node has incoming links")
    return None
