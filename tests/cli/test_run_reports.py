"""``--report`` on anonymise and facemask: an offline page with input, output and masks per image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from skimage import data

from masksmith.cli.main import run
from masksmith.media import io as media_io
from masksmith.report.index import journal_run_rows


def _inputs(folder: Path) -> None:
    (folder / "sub").mkdir(parents=True)
    media_io.write_image(folder / "sub" / "astro.jpg", data.astronaut(), quality=90)
    media_io.write_image(folder / "coffee.jpg", data.coffee(), quality=90)


def test_anonymise_report_shows_each_image_with_its_hidden_region(tmp_path: Path) -> None:
    _inputs(tmp_path / "in")
    page = tmp_path / "report.html"
    code = run(
        ["-q", "anonymise", "-i", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--report", str(page)]
    )
    assert code == 0
    rows = {r.name: r for r in journal_run_rows(tmp_path / "out_journal")}
    assert set(rows) == {"coffee", "sub/astro"}
    astro_mask = media_io.read_image(rows["sub/astro"].masks[0]).pixels
    assert (astro_mask == 0).any()  # the face was hidden (0 = changed in edge masks)
    coffee_mask = media_io.read_image(rows["coffee"].masks[0]).pixels
    assert not (coffee_mask == 0).any()
    html = page.read_text()
    assert "sub/astro" in html and "coffee" in html
    previews = sorted(a.name for a in (tmp_path / "report_assets").iterdir() if a.name.startswith("r"))
    assert len(previews) == 6, previews  # input, output and mask preview per image


def test_facemask_report_lists_the_drawn_masks(tmp_path: Path) -> None:
    _inputs(tmp_path / "in")
    page = tmp_path / "faces.html"
    code = run(["facemask", "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"), "--no_crop",
                "--seed", "3", "--report", str(page)])  # fmt: skip
    assert code == 0
    rows = journal_run_rows(tmp_path / "out")
    assert [r.status for r in rows] == ["ok"]  # coffee has no face, so no journal
    changed = media_io.read_image(rows[0].masks[0]).pixels == 0
    assert 0 < np.count_nonzero(changed) < changed.size // 10
    assert page.is_file() and "astro" in page.read_text()
