"""Small journals built from synthetic images, one or two links each, that validate cleanly."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from masksmith.journal.project import Journal
from masksmith.media import io as media_io
from tests.synthetic import textured

ROWS, COLS = 64, 80
Pixels = np.ndarray


@dataclass
class Built:
    journal: Journal
    start: str
    end: str
    folder: Path

    @property
    def edge(self) -> dict[str, Any]:
        return self.journal.graph.edge(self.start, self.end)

    def path(self, node: str) -> Path:
        return self.journal.path_of(node)

    def mask_path(self, start: str | None = None, end: str | None = None) -> Path:
        data = self.journal.graph.edge(start or self.start, end or self.end)
        return self.journal.directory / str(data["maskname"])


def local_box(shape: tuple[int, ...]) -> np.ndarray:
    box = np.zeros(shape[:2], bool)
    box[10:30, 12:40] = True
    return box


def blurred(base: Pixels) -> Pixels:
    out = base.copy()
    out[10:30, 12:40] = cv2.GaussianBlur(base[10:30, 12:40], (7, 7), 0)
    return out


def one_edge(
    folder: Path,
    rng: np.random.Generator,
    op: str,
    target: Callable[[Pixels], Pixels],
    *,
    arguments: dict[str, Any] | None = None,
    base_suffix: str = ".png",
    target_suffix: str = ".png",
    donor: Pixels | None = None,
    donor_suffix: str = ".png",
    input_mask: Pixels | None = None,
    record_yes: bool = False,
    check_arguments: bool = True,
) -> Built:
    """base → ``op`` → target, recorded through :meth:`Journal.record`."""
    folder.mkdir(parents=True, exist_ok=True)
    base = textured(rng, ROWS, COLS)
    base_path = folder / f"base{base_suffix}"
    media_io.write_image(base_path, base, quality=95)
    journal = Journal.create(base_path, folder / "journal", username="tester")
    start = journal.graph.base_node()
    pixels = journal.pixels(start)
    target_path = folder / f"target{target_suffix}"
    media_io.write_image(target_path, target(pixels), quality=95)
    donor_path = None
    if donor is not None:
        donor_path = folder / f"donor{donor_suffix}"
        media_io.write_image(donor_path, donor, quality=95)
    edge = journal.record(
        start,
        target_path,
        op=op,
        arguments=arguments,
        donor=donor_path,
        input_mask=input_mask,
        check_arguments=check_arguments,
    )
    if record_yes:
        journal.graph.edge(edge.start, edge.end)["recordMaskInComposite"] = "yes"
        journal.save()
    return Built(journal, edge.start, edge.end, folder)


def blur_then_output(folder: Path, rng: np.random.Generator) -> Built:
    """base → Blur (local, included in the composite) → interim → OutputPng → final; validates cleanly."""
    built = one_edge(
        folder,
        rng,
        "Blur",
        blurred,
        arguments={"Blur Type": "Gaussian", "Laundering": "no"},
        record_yes=True,
    )
    journal = built.journal
    final_path = folder / "final.png"
    media_io.write_image(final_path, journal.pixels(built.end))
    journal.record(built.end, final_path, op="OutputPng", arguments={"Image Rotated": "no"})
    return built
