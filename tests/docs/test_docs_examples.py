"""Every example in docs/batch-spec.md runs as written: shell lines in order, then every specification.

A JSON block preceded by ``<!-- file: NAME.json -->`` is saved under that name in the working folder
first; ``sh`` blocks run line by line (each a ``masksmith`` command) in document order; then every
creation spec is run with the command the page gives, and every extension spec extends journals.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from masksmith.cli.main import run

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "batch-spec.md"
BLOCK = re.compile(r"(?:<!-- file: (?P<file>[\w.-]+) -->\n)?```(?P<lang>\w+)\n(?P<body>.*?)```", re.S)
GLOBALS = "image_dir=ex/pool,donor_dir=ex/donors,pairs=ex/pairs.csv,external_dir=ex/external,kernel=9"


def _blocks() -> list[tuple[str, str | None, str]]:
    return [(m["lang"], m["file"], m["body"]) for m in BLOCK.finditer(PAGE.read_text(encoding="utf-8"))]


def _specs() -> dict[str, dict[str, object]]:
    return {name: json.loads(body) for lang, name, body in _blocks() if lang == "json" and name}


def test_page_names_every_node_and_argument_type_in_a_runnable_example() -> None:
    from masksmith.batch.spec import ARGUMENT_KINDS, OP_TYPES

    specs = _specs()
    used_ops = {n["op_type"] for s in specs.values() for n in s["nodes"]}  # type: ignore[index,union-attr]
    assert set(OP_TYPES) - {"InputSelectionPluginOperation"} <= used_ops
    kinds = set()
    for spec in specs.values():
        for node in spec["nodes"]:  # type: ignore[union-attr]
            for arg in node.get("arguments", {}).values():
                kinds.add("value" if not isinstance(arg, dict) else re.sub(r"\[.*", "", arg["type"]))
    assert set(ARGUMENT_KINDS) <= kinds


def test_every_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    blocks = _blocks()
    for lang, name, body in blocks:
        if lang == "json" and name:
            (tmp_path / name).write_text(body, encoding="utf-8")
    for lang, _, body in blocks:
        if lang != "sh":
            continue
        for line in body.strip().splitlines():
            words = shlex.split(line)
            assert words[0] == "masksmith", line
            code = run(words[1:])
            assert code == 0, f"{line}\n{capsys.readouterr().err}"
    for name, spec in _specs().items():
        if any(n["op_type"] == "NodeAttachment" for n in spec["nodes"]):  # type: ignore[union-attr]
            continue  # run by the page's own sh block
        projects = tmp_path / "runs" / Path(name).stem
        args = ["--quiet", "batch", "create", "--specification", name, "--projects", str(projects)]
        assert run([*args, "--count", "1", "--global_variables", GLOBALS, "--seed", "1"]) == 0, (
            f"{name}: {capsys.readouterr().err}"
        )
        made = [p for p in projects.iterdir() if not p.name.startswith(".")]
        assert len(made) == 1 and (made[0] / f"{made[0].name}.json").is_file(), name
    extended = json.loads(next((tmp_path / "out_ext").glob("*/*.json")).read_text())
    assert [e["op"] for e in extended["links"]].count("Blur") == 2  # the base spec's blur + the extension's
