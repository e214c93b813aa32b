"""Masks handed to an operation (input, substitute) found for the viewer, and only inside the journal."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from masksmith.cli.demo import build_demo
from masksmith.media import io as media_io
from masksmith.report.viewer import _given_masks, build_report


def test_input_and_substitute_masks_inside_the_journal_only(tmp_path: Path) -> None:
    journal = build_demo(tmp_path / "demo")
    blur = next(d for _, _, d in journal.graph.edges() if d["op"] == "Blur")
    found = _given_masks(journal, blur)
    assert [(kind, name) for kind, name, _ in found] == [("input mask", "inputmaskname")]
    substitute = journal.directory / "neighbours.png"
    media_io.write_image(substitute, np.full((8, 8), 255, np.uint8))
    outside = tmp_path / "secret.png"
    media_io.write_image(outside, np.zeros((8, 8), np.uint8))
    carving = {
        "op": "TransformSeamCarving",
        "inputmaskname": "../../secret.png",  # a journal path must not reach outside its folder
        "arguments": {"neighbor mask": "neighbours.png", "inputmaskname": str(outside)},
    }
    found = _given_masks(journal, carving)
    assert [(kind, name, path.name) for kind, name, path in found] == [
        ("substitute mask", "neighbor mask", "neighbours.png")
    ]


def test_page_payload_carries_given_masks_and_findings(tmp_path: Path) -> None:
    journal = build_demo(tmp_path / "demo")
    page = build_report(journal, tmp_path / "page.html")
    html = page.html.read_text(encoding="utf-8")
    payload = json.loads(re.search(r'id="journal-data">(.*?)</script>', html, re.S).group(1))  # type: ignore[union-attr]
    blur = next(e for e in payload["edges"] if e["op"] == "Blur")
    assert [(g["kind"], g["name"]) for g in blur["given"]] == [("input mask", "inputmaskname")]
    assert (page.html.parent / blur["given"][0]["image"]).is_file()
    assert payload["findingsStatus"] == "1 warning(s)"
    assert [f["rule"] for f in payload["findings"]] == ["check_local_warn"]
