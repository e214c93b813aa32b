"""Synthetic journals with known geometry for probe tests and benchmarks.

``paste_chain`` builds: donor base → crop → resize → SelectRegion (alpha circle) → Donor → PasteSplice
into the base → crop → resize → rotate → JPEG re-save, and returns the analytic ground truth of the
pasted region in the final frame and of the donated region in the donor base frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from masksmith.journal.project import Journal
from masksmith.media import geometry
from masksmith.media import io as media_io
from tests.synthetic import smooth_textured, textured

PASTE_ARGS = {
    "donor rotated": "no",
    "donor resized": "yes",
    "donor cropped": "yes",
    "donor flipped": "no",
    "purpose": "add",
    "subject": "natural object",
}


@dataclass
class PasteChain:
    journal: Journal
    paste_edge: tuple[str, str]
    final: str
    donor_base: str
    final_truth: np.ndarray
    donor_truth: np.ndarray


def _sample(truth: np.ndarray, matrix_to_truth: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """For every pixel of ``shape``, map its centre with ``matrix_to_truth`` and look ``truth`` up (nearest)."""
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    pts = np.stack([cols.ravel(), rows.ravel()], axis=1).astype(float)
    mapped = geometry.transform_points(matrix_to_truth, pts)
    x = np.rint(mapped[:, 0]).astype(int)
    y = np.rint(mapped[:, 1]).astype(int)
    inside = (x >= 0) & (x < truth.shape[1]) & (y >= 0) & (y < truth.shape[0])
    out = np.zeros(len(pts), bool)
    out[inside] = truth[y[inside], x[inside]]
    return out.reshape(shape)


def paste_chain(folder: Path, rng: np.random.Generator, *, degrees: float = 30.0) -> PasteChain:
    folder.mkdir(parents=True, exist_ok=True)
    base = textured(rng, 480, 640)
    media_io.write_image(folder / "base.png", base)
    journal = Journal.create(folder / "base.png", folder / "journal", username="tester")
    base_id = journal.graph.base_node()

    # donor history: crop, resize, select a circle
    donor_base = smooth_textured(rng, 400, 560)
    media_io.write_image(folder / "donorbase.png", donor_base)
    donor_id = journal.add_image(folder / "donorbase.png", nodetype="donor")
    d_crop = donor_base[40:360, 60:500].copy()
    media_io.write_image(folder / "d1.png", d_crop)
    e = journal.record(donor_id, folder / "d1.png", op="TransformCrop")
    d_small = cv2.resize(d_crop, (220, 160), interpolation=cv2.INTER_LINEAR)
    media_io.write_image(folder / "d2.png", d_small)
    e = journal.record(
        e.end, folder / "d2.png", op="TransformResize", arguments={"interpolation": "bilinear"}
    )
    alpha = np.zeros((160, 220), np.uint8)
    cv2.circle(alpha, (110, 80), 70, 255, -1)
    selected = np.dstack([d_small, alpha])
    media_io.write_image(folder / "d3.png", selected)
    e = journal.record(
        e.end,
        folder / "d3.png",
        op="SelectRegion",
        arguments={"subject": "natural object", "location change": "no"},
    )
    donor_node = e.end

    # paste into the base, then crop, resize, rotate, JPEG
    px, py = 200, 120
    pasted = base.copy()
    region = alpha > 0
    pasted[py : py + 160, px : px + 220][region] = d_small[region]
    media_io.write_image(folder / "t1.png", pasted)
    paste = journal.record(
        base_id,
        folder / "t1.png",
        op="PasteSplice",
        donor=donor_node,
        arguments={**PASTE_ARGS, "paste_x": px, "paste_y": py},
    )
    cropped = pasted[60:420, 100:600].copy()
    media_io.write_image(folder / "t2.png", cropped)
    e = journal.record(paste.end, folder / "t2.png", op="TransformCrop")
    resized = cv2.resize(cropped, (375, 270), interpolation=cv2.INTER_LINEAR)
    media_io.write_image(folder / "t3.png", resized)
    e = journal.record(
        e.end, folder / "t3.png", op="TransformResize", arguments={"interpolation": "bilinear"}
    )
    rot, rot_shape = geometry.rotation_matrix((270, 375), degrees, expand=True)
    rotated = geometry.warp_image(resized, rot, rot_shape, interpolation=cv2.INTER_LINEAR)
    media_io.write_image(folder / "t4.png", rotated)
    e = journal.record(
        e.end, folder / "t4.png", op="TransformRotate", arguments={"rotation": degrees, "local": "no"}
    )
    media_io.write_image(folder / "final.jpg", rotated, quality=90)
    e = journal.record(e.end, folder / "final.jpg", op="OutputJpg")

    base_truth = np.zeros((480, 640), bool)
    base_truth[py : py + 160, px : px + 220] = region
    to_final = rot @ geometry.resize_matrix((360, 500), (270, 375)) @ geometry.translation(-100, -60)
    final_truth = _sample(base_truth, np.linalg.inv(to_final), rot_shape)
    donor_to_select = geometry.resize_matrix((320, 440), (160, 220)) @ geometry.translation(-60, -40)
    donor_truth = _sample(region, donor_to_select, (400, 560))
    return PasteChain(journal, (paste.start, paste.end), e.end, donor_id, final_truth, donor_truth)
