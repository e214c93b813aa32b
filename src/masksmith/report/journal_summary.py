"""A journal's summary as plain rows: project attributes, nodes and edges (what ``journal show`` prints)."""

from __future__ import annotations

from dataclasses import dataclass

from masksmith.journal.project import Journal

__all__ = ["SUMMARY_ATTRIBUTES", "JournalSummary", "journal_summary"]

SUMMARY_ATTRIBUTES = ("creator", "organization", "createtime", "updatetime", "projectdescription")
NODE_HEADER = ("id", "type", "file")
EDGE_HEADER = ("edge", "op", "empty", "changed", "mask")


@dataclass(frozen=True)
class JournalSummary:
    """Text cells describing a journal: its set project attributes, one row per node and per edge."""

    name: str
    attributes: tuple[tuple[str, str], ...]
    nodes: tuple[tuple[str, ...], ...]
    edges: tuple[tuple[str, ...], ...]
    node_header: tuple[str, ...] = NODE_HEADER
    edge_header: tuple[str, ...] = EDGE_HEADER


def journal_summary(journal: Journal) -> JournalSummary:
    """The attributes of :data:`SUMMARY_ATTRIBUTES` that are set, the nodes and the edges of ``journal``."""
    attrs = journal.graph.attributes
    attributes = tuple((key, str(attrs[key])) for key in SUMMARY_ATTRIBUTES if attrs.get(key))
    nodes = tuple((n, str(d.get("nodetype", "")), str(d.get("file", ""))) for n, d in journal.graph.nodes())
    edges = tuple(
        (
            f"{s} -> {t}",
            str(d.get("op", "")),
            str(d.get("empty mask", "")),
            f"{float(d.get('change size ratio', 0.0)):.1%}" if "change size ratio" in d else "",
            str(d.get("maskname", "")),
        )
        for s, t, d in journal.graph.edges()
    )
    return JournalSummary(journal.name, attributes, nodes, edges)
