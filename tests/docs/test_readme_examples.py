"""The README's runnable journal example works as written and the journal it makes validates."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from masksmith.cli.main import run
from masksmith.media import io as media_io

ROOT = Path(__file__).resolve().parents[2]


def _journal_block() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    after = text[text.index("Journals (a runnable example") :]
    body = re.search(r"```sh\n(.*?)```", after, re.S)
    assert body is not None
    return [line for line in body.group(1).strip().splitlines() if line.strip()]


def test_readme_journal_example_runs_and_validates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    photo = data.astronaut()
    crop = np.ascontiguousarray(photo[20:480, 30:490])
    region = np.zeros(crop.shape[:2], np.uint8)
    cv2.circle(region, (200, 150), 60, 255, -1)
    blur = crop.copy()
    blur[region > 0] = cv2.GaussianBlur(crop, (31, 31), 0)[region > 0]
    for name, pixels in {"base.png": photo, "crop.png": crop, "region.png": region, "blur.png": blur}.items():
        media_io.write_image(tmp_path / name, pixels)
    lines = _journal_block()
    assert lines[-1].split()[1:3] == ["journal", "validate"]
    for line in lines:
        words = shlex.split(line)
        assert words[0] == "masksmith"
        assert run(words[1:]) == 0, f"{line}\n{capsys.readouterr().err}"
    out = capsys.readouterr().out
    assert "ERROR" not in out and "check_file_type_change" not in out  # validate also exits 0
