"""``masksmith demo``: the three jobs on bundled photos, one index page, commands that work as printed."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest

from masksmith.cli.main import run

pytest.importorskip("dlib")
pytest.importorskip("jinja2")
pytestmark = pytest.mark.slow


def test_demo_runs_every_job_and_links_the_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    assert run(["demo", "--out", "demo-output"]) == 0
    printed = capsys.readouterr().out
    out = tmp_path / "demo-output"
    index = (out / "index.html").read_text(encoding="utf-8")
    links = re.findall(r'href="([^"]+)"', index)
    assert links == ["batch/index.html", "anonymise/report.html", "facemask/report.html", "journal.html"]
    assert all((out / link).is_file() for link in links)
    journals = [p for p in (out / "batch" / "projects").iterdir() if not p.name.startswith(".")]
    assert len(journals) == 3
    batch_index = (out / "batch" / "index.html").read_text(encoding="utf-8")
    assert all(j.name in batch_index for j in journals)
    assert sorted(p.name for p in (out / "anonymise" / "output").glob("*.png")) == [
        "astronaut.png",
        "chelsea.png",
        "coffee.png",
    ]
    crops = sorted(p.name for p in (out / "facemask" / "output").glob("astronaut_face0_aug*_buffalo.png"))
    assert crops == ["astronaut_face0_aug0_buffalo.png", "astronaut_face0_aug1_buffalo.png"]
    assert (out / "journals" / "demo" / "_overview_.png").is_file()
    commands = [line[2:] for line in printed.splitlines() if line.startswith("$ ")]
    assert len(commands) == 6
    # a printed command works as printed, from the folder the demo ran in
    view = next(c for c in commands if " batch view " in c)
    done = subprocess.run(shlex.split(view), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "journal view" in printed.splitlines()[-1] and "--serve" in printed.splitlines()[-1]
