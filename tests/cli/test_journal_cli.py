"""``masksmith journal …`` end to end through the real entry point (a subprocess for exit codes)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from masksmith import __version__
from masksmith.cli.main import run
from masksmith.media import io as media_io
from tests.synthetic import textured


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from masksmith.cli.main import main; main()", *args],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture
def images(tmp_path: Path, rng) -> dict[str, Path]:
    base = textured(rng, 80, 100)
    paths = {"base": tmp_path / "base.png", "crop": tmp_path / "crop.png"}
    media_io.write_image(paths["base"], base)
    media_io.write_image(paths["crop"], base[5:75, 10:90])
    return paths


def test_version():
    result = _cli("--version")
    assert result.returncode == 0 and __version__ in result.stdout


def test_new_add_show_archive_graph(tmp_path: Path, images, capsys):
    journal = tmp_path / "j1"
    assert run(["journal", "new", str(images["base"]), "--dir", str(journal), "--organization", "org"]) == 0
    assert (
        run(
            [
                "journal",
                "add",
                str(journal),
                "--from",
                "base",
                "--image",
                str(images["crop"]),
                "--op",
                "TransformCrop",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "base->crop_01: TransformCrop" in out
    assert run(["journal", "show", str(journal)]) == 0
    shown = capsys.readouterr().out
    assert "2 nodes" in shown and "1 edges" in shown and "TransformCrop" in shown
    assert run(["journal", "archive", str(journal), "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "j1.tgz").is_file()
    assert run(["journal", "graph", str(journal), "--out", str(tmp_path / "g.png")]) == 0
    graph = media_io.read_image(tmp_path / "g.png").pixels
    assert graph.ndim == 3 and graph.shape[0] > 100
    data = json.loads((journal / "j1.json").read_text())
    assert data["links"][0]["location"] == "(5, 10)"


def test_arguments_are_parsed_as_json_when_they_parse(tmp_path: Path, images):
    journal = tmp_path / "j"
    run(["journal", "new", str(images["base"]), "--dir", str(journal)])
    rotated = tmp_path / "rot.png"
    media_io.write_image(rotated, np.ascontiguousarray(np.rot90(media_io.read_image(images["base"]).pixels)))
    code = run(
        [
            "journal",
            "add",
            str(journal),
            "--from",
            "base",
            "--image",
            str(rotated),
            "--op",
            "TransformRotate",
            "-a",
            "rotation=90",
            "-a",
            "local=no",
        ]
    )
    assert code == 0
    edge = json.loads((journal / "j.json").read_text())["links"][0]
    assert edge["arguments"]["rotation"] == 90 and edge["empty mask"] == "yes"


@pytest.mark.parametrize(
    ("setup", "args", "expected"),
    [
        ("empty-image", ["journal", "new", "{empty}", "--dir", "{tmp}/x"], "empty.png: empty"),
        ("none", ["journal", "show", "{tmp}/nowhere"], "does not exist"),
        (
            "journal",
            ["journal", "add", "{journal}", "--from", "base", "--image", "{crop}", "--op", "Nope"],
            "unknown operation 'Nope'",
        ),
        (
            "journal",
            ["journal", "add", "{journal}", "--from", "ghost", "--image", "{crop}", "--op", "TransformCrop"],
            "ghost",
        ),
        (
            "journal",
            [
                "journal",
                "add",
                "{journal}",
                "--from",
                "base",
                "--image",
                "{crop}",
                "--op",
                "TransformResize",
                "-a",
                "interpolation=sideways",
            ],
            "interpolation",
        ),
        ("broken-json", ["journal", "show", "{tmp}/bad"], "invalid JSON"),
    ],
)
def test_bad_input_prints_one_line_and_exits_2(tmp_path: Path, images, setup, args, expected):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    journal = tmp_path / "jj"
    if setup == "journal":
        assert run(["journal", "new", str(images["base"]), "--dir", str(journal)]) == 0
    if setup == "broken-json":
        (tmp_path / "bad").mkdir()
        (tmp_path / "bad" / "bad.json").write_text("{")
    values = {"empty": str(empty), "tmp": str(tmp_path), "journal": str(journal), "crop": str(images["crop"])}
    result = _cli(*[a.format(**values) for a in args])
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert expected in lines[0]
    assert "Traceback" not in result.stderr


def test_verbose_shows_the_traceback(tmp_path: Path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    result = _cli("--verbose", "journal", "new", str(empty), "--dir", str(tmp_path / "x"))
    assert result.returncode == 2 and "Traceback" in result.stderr


@pytest.mark.parametrize(
    ("name", "content", "env", "reason"),
    [
        ("empty.png", b"", {}, "empty"),
        ("text.jpg", b"this is not an image at all\n" * 4, {}, "not an image"),
        ("cut.png", None, {}, "truncated"),
        ("big.png", None, {"MASKSMITH_MAX_PIXELS": "100"}, "too large"),
    ],
)
def test_each_bad_media_case_is_one_line_naming_file_and_reason(
    tmp_path: Path, images, name, content, env, reason
):
    import os

    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    elif name == "cut.png":
        data = images["base"].read_bytes()
        path.write_bytes(data[: len(data) // 2])
    else:
        path.write_bytes(images["base"].read_bytes())
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from masksmith.cli.main import main; main()",
            "journal",
            "new",
            str(path),
            "--dir",
            str(tmp_path / "j"),
        ],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **env},
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and name in lines[0] and reason in lines[0], result.stderr
    assert not (tmp_path / "j").exists()
