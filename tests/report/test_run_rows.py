"""Image-run rows: every output, masks labelled by class and count, images where nothing was found."""

from __future__ import annotations

from pathlib import Path

import pytest
from skimage import data

from masksmith.media import io as media_io
from masksmith.report.index import edge_label, journal_run_rows


def test_edge_label_reads_counts_classes_and_mask_kinds() -> None:
    assert edge_label("AnonymiseRegion", {"classes": "face,person", "counts": "face:1,person:2"}) == (
        "AnonymiseRegion: face ×1, person ×2"
    )
    assert (
        edge_label("AnonymiseRegion", {"classes": "none", "counts": "none"})
        == "AnonymiseRegion: nothing found"
    )
    assert (
        edge_label("OverlayFaceMask", {"mask_type": "n95", "pattern": "valve"})
        == "OverlayFaceMask: n95 valve"
    )
    assert edge_label("Blur", {}) == "Blur"


def test_anonymise_rows_name_classes_and_counts_and_the_empty_images(tmp_path: Path) -> None:
    pytest.importorskip("dlib")
    from masksmith.anonymise.pipeline import anonymise

    photos = tmp_path / "in"
    photos.mkdir()
    media_io.write_image(photos / "astronaut.png", data.astronaut())
    media_io.write_image(photos / "coffee.png", data.coffee())
    summary = anonymise(photos, tmp_path / "out", journal=True, progress=False)
    assert summary.failed == 0
    rows = {row.name: row for row in journal_run_rows(tmp_path / "out_journal")}
    assert set(rows) == {"astronaut", "coffee"}
    assert rows["coffee"].status == "nothing found"
    assert rows["astronaut"].status == "ok"
    (label,) = rows["astronaut"].mask_labels
    assert label.startswith("AnonymiseRegion: ") and "face ×1" in label
