"""Probes: accuracy on synthetic chains against analytic truth, transforms, substitutes, composites, files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from masksmith.journal.probes import (
    TransformStep,
    build_composites,
    carry_back,
    carry_forward,
    generate_probes,
    is_edge_localized,
    write_probe_set,
)
from masksmith.media import geometry, masks
from masksmith.media import io as media_io
from tests.journal.journal_builders import Built, blur_then_output, blurred, local_box, one_edge
from tests.journal.probe_chains import PASTE_ARGS, paste_chain


@pytest.mark.parametrize("degrees", [30, 90, -45])
def test_paste_crop_resize_rotate_jpeg_chain_matches_truth(tmp_path: Path, rng, degrees) -> None:
    chain = paste_chain(tmp_path, rng, degrees=degrees)
    probes = [p for p in generate_probes(chain.journal) if p.edge_id == chain.paste_edge]
    assert len(probes) == 1
    probe = probes[0]
    assert probe.final_node == chain.final
    assert probe.target_mask.dtype == np.uint8 and set(np.unique(probe.target_mask)) <= {0, 255}
    assert masks.iou(probe.target_mask > 0, chain.final_truth) >= 0.98
    assert probe.donor_base_node == chain.donor_base
    assert probe.donor_mask is not None
    assert masks.iou(probe.donor_mask > 0, chain.donor_truth) >= 0.98
    assert probe.operation == "PasteSplice" and probe.level == 1 and not probe.uses_substitute
    final_shape = chain.final_truth.shape
    assert probe.target_mask.shape == final_shape


def test_geometry_links_are_not_probes_by_default(tmp_path: Path, rng) -> None:
    chain = paste_chain(tmp_path, rng)
    ops = {p.operation for p in generate_probes(chain.journal)}
    assert ops == {"PasteSplice"}  # crops, resizes, rotations, output and selections are not localised


def _step(
    edge: dict, src: tuple[int, int], tgt: tuple[int, int], own: np.ndarray | None = None
) -> TransformStep:
    return TransformStep(edge=edge, source_shape=src, target_shape=tgt, edge_mask=lambda: own)


def test_crop_forward_then_back_restores_the_window() -> None:
    mask = np.zeros((50, 60), bool)
    mask[10:20, 30:50] = True
    step = _step({"location": "(5, 25)"}, (50, 60), (30, 30))
    forward = carry_forward("crop", mask, step)
    assert forward.shape == (30, 30) and masks.count(forward) == 10 * 20
    back = carry_back("crop", forward, step)
    assert np.array_equal(back, mask)


@pytest.mark.parametrize("direction", ["horizontal", "vertical", "both"])
def test_flip_without_matrix_uses_its_argument(direction) -> None:
    mask = np.zeros((40, 50), bool)
    mask[2:10, 3:20] = True
    step = _step({"arguments": {"flip direction": direction}}, (40, 50), (40, 50))
    code = {"horizontal": 1, "vertical": 0, "both": -1}[direction]
    expected = cv2.flip(mask.astype(np.uint8), code).astype(bool)
    assert np.array_equal(carry_forward("flip", mask, step), expected)
    assert np.array_equal(carry_back("flip", expected, step), mask)


def test_affine_warp_follows_the_transform_matrix() -> None:
    matrix = np.array([[1.0, 0.0, 7.0], [0.0, 1.0, -3.0], [0.0, 0.0, 1.0]])
    mask = np.zeros((40, 50), bool)
    mask[10:20, 10:20] = True
    step = _step({"transform matrix": geometry.matrix_to_jt(matrix)}, (40, 50), (40, 50))
    moved = carry_forward("affine", mask, step)
    assert np.array_equal(np.argwhere(moved).min(0), [7, 17])
    assert np.array_equal(carry_back("affine", moved, step), mask)


@pytest.mark.parametrize(("purpose", "kept"), [("add", 0), ("blend", 100)])
def test_later_paste_hides_what_it_covers_unless_blending(purpose, kept) -> None:
    mask = np.zeros((30, 30), bool)
    mask[0:10, 0:10] = True
    covering = np.zeros((30, 30), bool)
    covering[0:10, 0:10] = True
    step = _step({"arguments": {"purpose": purpose}}, (30, 30), (30, 30), covering)
    assert masks.count(carry_forward("paste_splice", mask, step)) == kept


def test_format_changes_pass_masks_through() -> None:
    mask = np.zeros((30, 30), bool)
    mask[3:9, 4:8] = True
    step = _step({}, (30, 30), (30, 30))
    for name in ("output", "copy", "exif", "unknown-transform"):
        assert np.array_equal(carry_forward(name, mask, step), mask)


def test_blur_probe_and_composite_files(tmp_path: Path, rng) -> None:
    built = blur_then_output(tmp_path / "j", rng)
    probes = generate_probes(built.journal)
    assert [p.edge_id for p in probes] == [(built.start, built.end)]
    probe = probes[0]
    assert masks.iou(probe.target_mask > 0, local_box(probe.target_mask.shape)) >= 0.9
    composites = build_composites(built.journal, probes)
    files = write_probe_set(built.journal, probes, composites, tmp_path / "out")
    written = media_io.read_image(files.folder / probe.target_mask_file).pixels
    assert np.array_equal(written, probe.target_mask)
    rows = list(csv.DictReader((files.csv).open()))
    assert rows[0]["start"] == built.start and rows[0]["final_node"] == probe.final_node
    assert int(rows[0]["pixels"]) == probe.pixels
    document = json.loads(files.json.read_text())
    assert document["probes"][0]["edge"] == [built.start, built.end]
    composite = media_io.read_image(files.composites[0]).pixels
    assert set(np.unique(composite)) == {0, 1}


def test_composite_numbers_manipulations_by_level(tmp_path: Path, rng) -> None:
    built = blur_then_output(tmp_path, rng)
    journal = built.journal
    final = journal.graph.final_nodes()[0]
    pixels = journal.pixels(final).copy()
    pixels[40:60, 50:75] = 255 - pixels[40:60, 50:75]
    media_io.write_image(tmp_path / "second.png", pixels)
    journal.record(final, tmp_path / "second.png", op="AddNoise", arguments={"Noise Type": "uniform"})
    probes = generate_probes(journal)
    levels = sorted((p.level, p.operation) for p in probes)
    assert levels == [(1, "Blur"), (3, "AddNoise")]
    (composite,) = build_composites(journal, probes).values()
    assert composite.image[20, 20] == 1 and composite.image[50, 60] == 3
    assert composite.levels[3] == tuple(p.edge_id for p in probes if p.operation == "AddNoise")


def test_each_final_gets_its_own_probe(tmp_path: Path, rng) -> None:
    built = blur_then_output(tmp_path, rng)
    journal = built.journal
    media_io.write_image(tmp_path / "small.png", journal.pixels(built.end)[0:48, 0:64].copy())
    journal.record(built.end, tmp_path / "small.png", op="TransformCrop")
    probes = generate_probes(journal)
    assert len({p.final_node for p in probes}) == 2
    by_shape = {p.target_mask.shape: p for p in probes}
    assert set(by_shape) == {(64, 80), (48, 64)}
    assert by_shape[(48, 64)].change_size == (-16, -16)


def test_substitute_mask_replaces_the_computed_one(tmp_path: Path, rng) -> None:
    built = one_edge(
        tmp_path,
        rng,
        "TransformSeamCarving",
        lambda b: b[:, :70].copy(),
        arguments={"inputmasktype": "remove", "apply mask": "no"},
    )
    substitute = np.full((64, 80), 255, np.uint8)
    substitute[5:15, 5:25] = 0  # edge-mask convention: 0 = changed
    media_io.write_image(built.journal.directory / "neighbours.png", substitute)
    built.edge["arguments"]["neighbor mask"] = "neighbours.png"
    (probe,) = generate_probes(built.journal)
    assert probe.uses_substitute
    assert masks.count(probe.target_mask > 0) == 10 * 20


def test_inclusion_follows_the_localised_rule(tmp_path: Path, rng) -> None:
    built = one_edge(tmp_path, rng, "Blur", blurred, arguments={"Blur Type": "Gaussian", "Laundering": "no"})
    journal = built.journal
    assert is_edge_localized(journal, built.start, built.end)  # local and not empty, even if not blue
    built.edge["global"] = "yes"
    assert not is_edge_localized(journal, built.start, built.end)
    built.edge["recordMaskInComposite"] = "yes"
    assert is_edge_localized(journal, built.start, built.end)
    built.edge["op"] = "OutputPng"
    assert not is_edge_localized(journal, built.start, built.end)


def test_donor_masks_of_an_unmoved_donor_are_the_alpha(tmp_path: Path, rng) -> None:
    donor = np.zeros((64, 80, 4), np.uint8)
    cv2.circle(donor, (40, 30), 15, (200, 10, 10, 255), -1)

    def paste(base):
        out = base.copy()
        alpha = donor[:, :, 3] > 0
        out[alpha] = donor[:, :, :3][alpha]
        return out

    built: Built = one_edge(
        tmp_path, rng, "PasteSplice", paste, arguments={**PASTE_ARGS, "donor resized": "no"}, donor=donor
    )
    (probe,) = generate_probes(built.journal)
    assert probe.donor_mask is not None
    assert np.array_equal(probe.donor_mask > 0, donor[:, :, 3] > 0)
    assert np.array_equal(probe.target_mask > 0, donor[:, :, 3] > 0)
