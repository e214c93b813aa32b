"""Journals and probes the viewer tests build: the demo journal, wide synthetic journals, fake probes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from masksmith.journal.project import Journal
from masksmith.media import io as media_io
from masksmith.media import masks

LOCAL_OPS = ("Blur", "Contrast", "Hue", "AddNoise", "Sharpening", "Levels")


@dataclass(frozen=True)
class FakeProbe:
    """Shaped like the probe module's Probe: final node, edge, target mask (255 = manipulated)."""

    edge_id: tuple[str, str]
    final_node_id: str
    target_base_node_id: str
    target_mask: np.ndarray
    level: int
    donor_base_node_id: str | None = None
    donor_mask: np.ndarray | None = None


def synthetic_journal(
    folder: Path, rng: np.random.Generator, *, nodes: int, branches: int = 10, name: str = "synthetic"
) -> Journal:
    """A base with ``branches`` chains of local edits (small squares repainted), ``nodes`` nodes in all."""
    work = folder / f"{name}_work"
    work.mkdir(parents=True)
    base = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    media_io.write_image(work / "base.png", base)
    journal = Journal.create(work / "base.png", folder / name, name=name)
    tips = [journal.graph.base_node()] * branches
    pixels = {journal.graph.base_node(): base}
    for i in range(1, nodes):
        branch = i % branches
        image = pixels[tips[branch]].copy()
        y, x = int(rng.integers(0, 40)), int(rng.integers(0, 56))
        image[y : y + 8, x : x + 8] = rng.integers(0, 256, 3, dtype=np.uint8)
        path = work / f"img{i}.png"
        media_io.write_image(path, image)
        edge = journal.record(
            tips[branch], path, op=LOCAL_OPS[i % len(LOCAL_OPS)], check_arguments=False, save=False
        )
        pixels[edge.end] = image
        tips[branch] = edge.end
    journal.save()
    return journal


def probes_for_finals(journal: Journal) -> list[FakeProbe]:
    """One probe per non-donor edge into each final node: the edge mask itself (255 = manipulated).

    Only edges whose source has the final's size qualify, so the mask is in the final's frame.
    """
    out = []
    base = journal.graph.base_node()
    for final in journal.graph.final_nodes():
        final_shape = journal.pixels(final).shape[:2]
        for start, end, data in journal.graph.edges():
            if end != final or data.get("op") == "Donor":
                continue
            changed = journal.edge_mask(start, end)
            if changed.shape != final_shape:
                continue
            donors = journal.graph.donors_of(final)
            donor_mask = journal.edge_mask(donors[0], final) if donors else None
            out.append(
                FakeProbe(
                    edge_id=(start, end),
                    final_node_id=final,
                    target_base_node_id=base,
                    target_mask=masks.to_probe_file(changed),
                    level=1,
                    donor_base_node_id=donors[0] if donors else None,
                    donor_mask=masks.to_probe_file(donor_mask) if donor_mask is not None else None,
                )
            )
    return out
