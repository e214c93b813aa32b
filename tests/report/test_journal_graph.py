"""The journal graph PNG and the journal summary rows, both built in the report layer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from masksmith.report.graph_image import draw_graph
from masksmith.report.journal_graph import node_thumbnail, render_journal_graph
from masksmith.report.journal_summary import SUMMARY_ATTRIBUTES, journal_summary
from tests.report.viewer_journals import synthetic_journal


def test_render_journal_graph_writes_the_drawn_graph(tmp_path: Path) -> None:
    journal = synthetic_journal(tmp_path, np.random.default_rng(3), nodes=4, branches=2)
    out = render_journal_graph(journal, tmp_path / "graph.png")
    assert out == tmp_path / "graph.png"
    written = np.asarray(Image.open(out).convert("RGB"))
    thumbs = {n: node_thumbnail(journal, n, d) for n, d in journal.graph.nodes()}
    drawn = draw_graph(journal.graph.graph, thumbnails=thumbs, title=journal.name)
    assert written.shape == drawn.image.shape
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["graph.png"]


def test_a_node_thumbnail_is_its_file_inside_the_journal(tmp_path: Path) -> None:
    journal = synthetic_journal(tmp_path, np.random.default_rng(4), nodes=2, branches=1)
    base = journal.graph.base_node()
    data = dict(journal.graph.graph.nodes[base])
    assert node_thumbnail(journal, base, data) == journal.directory / data["file"]


def test_journal_summary_has_one_row_per_node_and_edge(tmp_path: Path) -> None:
    journal = synthetic_journal(tmp_path, np.random.default_rng(5), nodes=3, branches=1)
    summary = journal_summary(journal)
    assert summary.name == journal.name
    assert {row[0] for row in summary.nodes} == set(journal.graph.graph.nodes)
    assert len(summary.edges) == journal.graph.graph.number_of_edges() == 2
    for row in summary.edges:
        assert len(row) == len(summary.edge_header)
        assert row[3].endswith("%")
    attrs = journal.graph.attributes
    assert summary.attributes == tuple((k, str(attrs[k])) for k in SUMMARY_ATTRIBUTES if attrs.get(k))
    assert summary.attributes  # a new journal records at least its creation time
