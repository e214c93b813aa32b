"""Every ``sh`` block of the other docs pages runs as written, in a folder holding the demo's photos.

Blocks in other languages (``text`` usage synopses, cluster set-up in docs/ray.md) are not run.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from skimage import data

from masksmith.cli.main import run
from masksmith.media import io as media_io

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted(p for p in (ROOT / "docs").glob("*.md") if p.name != "batch-spec.md")
BLOCK = re.compile(r"```sh\n(.*?)```", re.S)


def _lines(page: Path) -> list[str]:
    """The commands of a page's ``sh`` blocks, a trailing backslash joining a line to the next."""
    text = "\n".join(BLOCK.findall(page.read_text(encoding="utf-8")))
    return [line.strip() for line in text.replace("\\\n", " ").splitlines() if line.strip()]


def _video_clips(folder: Path) -> None:
    """docs/video.md's clip.mp4 and edited.mp4 (frames 20-39 repainted), made with PyAV."""
    pytest.importorskip("av")
    from tests import media_clips

    clip = media_clips.frames()
    media_clips.write(folder / "clip.mp4", clip)
    media_clips.write(folder / "edited.mp4", media_clips.painted(clip, 20, 39))


def test_the_pages_with_runnable_examples_have_some() -> None:
    assert _lines(ROOT / "docs" / "anonymise.md") and _lines(ROOT / "docs" / "facemask.md")


@pytest.mark.parametrize("page", [p for p in PAGES if _lines(p)], ids=lambda p: p.name)
def test_every_shell_line_runs(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    pytest.importorskip("dlib")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "photos").mkdir()
    for name in ("astronaut", "coffee", "chelsea"):
        media_io.write_image(tmp_path / "photos" / f"{name}.png", getattr(data, name)())
    if page.name == "video.md":
        _video_clips(tmp_path)
    for line in _lines(page):
        words = shlex.split(line, comments=True)
        if words[0] == "generate_masked_images":
            from masksmith.cli.facemask_cmds import generate_masked_images

            code = generate_masked_images.main(args=words[1:], standalone_mode=False) or 0
        else:
            assert words[0] == "masksmith", line
            code = run(words[1:])
        assert code == 0, f"{page.name}: {line}\n{capsys.readouterr().err}"
