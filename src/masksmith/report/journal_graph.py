"""A journal's graph as a PNG: thumbnails of its media, edges coloured by operation category."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from masksmith.errors import MasksmithError
from masksmith.journal import paths
from masksmith.journal.model import DONOR_OP
from masksmith.journal.project import Journal
from masksmith.media import video as media_video
from masksmith.report.graph_image import ThumbnailSource, render_graph_png

__all__ = ["node_thumbnail", "render_journal_graph"]


def render_journal_graph(journal: Journal, out: str | os.PathLike[str]) -> Path:
    """Draw ``journal``'s graph with thumbnails of its media to the PNG ``out`` (written atomically).

    Only media inside the journal folder are drawn (a name leading out is never opened).
    """
    thumbnails = {
        node: node_thumbnail(journal, node, data)
        for node, data in journal.graph.nodes()
        if paths.contained(journal.directory, data.get("file"))
    }

    def category_of(op: str) -> str:
        operation = journal.catalogue.find(op)
        return operation.category if operation is not None else (DONOR_OP if op == DONOR_OP else "")

    return render_graph_png(
        journal.graph.graph, out, thumbnails=thumbnails, title=journal.name, category_of=category_of
    )


def node_thumbnail(journal: Journal, node: str, data: Mapping[str, object]) -> ThumbnailSource:
    """A node's picture for the graph: its image file, or a video's first frame (the file if unreadable)."""
    path = journal.file_path(data.get("file"), node=node)
    if data.get("filetype") == "video":
        try:
            return media_video.read_frame(path, 1)
        except MasksmithError:
            return path
    return path
