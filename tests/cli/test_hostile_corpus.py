"""Every command that touches a journal, run on tampered journals and crafted archives.

For each case: nothing outside the case's ``inside`` folder is created, changed or read (a sentinel
snapshot plus an audit hook on every file the process opens, links, copies, renames or removes); the
command exits 1 or 2 with one line naming what is wrong; the good journal beside the hostile one is
still processed by the batch commands.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from masksmith.cli.main import run
from masksmith.journal.project import Journal
from masksmith.media import io as media_io
from tests.batch import batch_fixtures as fx
from tests.batch import extend_fixtures as ef
from tests.cli import hostile_corpus as hc

fx.register()


def _run(case: hc.Case, args: list[str], capsys: Any) -> tuple[int, str, str, list[tuple[str, str]]]:
    guard = case.guard
    with guard.watching() as hits:
        code = run(args)
    out, err = capsys.readouterr()
    assert guard.changes() == [], f"{args}: files outside changed: {guard.changes()}"
    assert hits == [], f"{args}: touched files outside: {hits[:5]}"
    for where, payload in hc.all_output_bytes(case.inside):
        assert case.secret_bytes not in payload, f"{args}: outside image content in {where}"
        assert hc.SECRET_TOKEN.encode() not in payload, f"{args}: outside file content in {where}"
    assert hc.SECRET_TOKEN not in out + err
    return code, out, err, hits


def _one_line_error(code: int, err: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "internal error" not in err and "interrupted" not in err


def _journal_commands(case: hc.Case, target: Path) -> dict[str, list[str]]:
    out = case.out
    media_io.write_image(
        case.inside / "new.png", media_io.read_image(case.projects / "good" / "m.png").pixels
    )
    return {
        "show": ["journal", "show", str(target)],
        "validate": ["journal", "validate", str(target)],
        "validate-fix": ["journal", "validate", "--fix", str(target)],
        "probes": ["journal", "probes", str(target), "--out", str(out / "probes")],
        "view": ["journal", "view", str(target), "--out", str(out / "view" / "report.html")],
        "graph": ["journal", "graph", str(target), "--out", str(out / "graph.png")],
        "archive": ["journal", "archive", str(target), "--out", str(out / "archive")],
        "add": [
            "journal",
            "add",
            str(target),
            "--from",
            "base",
            "--image",
            str(case.inside / "new.png"),
            "--op",
            "Blur",
            "-a",
            "Blur Type=Gaussian",
            "-a",
            "Laundering=no",
        ],
    }


JOURNAL_COMMANDS = ["show", "validate", "validate-fix", "probes", "view", "graph", "archive", "add"]
ARCHIVE_COMMANDS = ["show", "validate", "probes", "view", "graph", "archive"]


@pytest.mark.parametrize("command", JOURNAL_COMMANDS)
@pytest.mark.parametrize("tamper", list(hc.TAMPERS))
def test_journal_commands_on_tampered_folders(tmp_path: Path, tamper: str, command: str, capsys: Any) -> None:
    case = hc.make_case(tmp_path)
    hc.good_journal(case)
    folder = hc.hostile_journal(case, tamper)
    args = _journal_commands(case, folder)[command]
    code, out, err, _ = _run(case, args, capsys)
    attribute = hc.TAMPERS[tamper][1]
    if command.startswith("validate"):
        assert code == 1, out + err
        lines = [line for line in out.splitlines() if "paths_contained" in line]
        assert lines and any(attribute in line for line in lines), out
        assert "regenerated" not in out and "fixed: regenerated" not in out
    else:
        assert code == 2, out + err
        _one_line_error(code, err)
        assert attribute in err and "refused" in err, err


@pytest.mark.parametrize("command", ARCHIVE_COMMANDS)
@pytest.mark.parametrize("crafted", list(hc.ARCHIVES))
def test_journal_commands_on_crafted_archives(
    tmp_path: Path, crafted: str, command: str, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = hc.make_case(tmp_path)
    hc.good_journal(case)
    builder, env = hc.ARCHIVES[crafted]
    archive = builder(case)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    args = _journal_commands(case, archive)[command]
    code, out, err, _ = _run(case, args, capsys)
    if command == "validate" and crafted in ("tgz-hostile-json", "tgz-absolute-file"):
        assert code == 1, out + err  # it opens; the finding says what leads out
        assert "paths_contained" in out
    else:
        assert code == 2, out + err
        _one_line_error(code, err)
        assert archive.name in err, err


# --- batch commands: the hostile journal fails alone, the good one is processed --------------------


def _batch_commands(case: hc.Case) -> dict[str, list[str]]:
    spec = fx.write_spec(case.inside / "extend.json", ef.median_spec())
    out = case.out
    return {
        "validate": ["batch", "validate", "--projects", str(case.projects), "--report-dir", str(out)],
        "export": [
            "batch",
            "export",
            "--projects",
            str(case.projects),
            "--to",
            str(out / "export"),
            "--report-dir",
            str(out),
            "--workdir",
            str(case.inside / "work"),
        ],
        "export-ignore": [
            "batch",
            "export",
            "--projects",
            str(case.projects),
            "--to",
            str(out / "export"),
            "--report-dir",
            str(out),
            "--workdir",
            str(case.inside / "work"),
            "--ignore",
            "yes",
        ],
        "extend": [
            "batch",
            "extend",
            "--projects",
            str(case.projects),
            "--specification",
            str(spec),
            "--workdir",
            str(case.inside / "work"),
            "--seed",
            "1",
        ],
        "view": ["batch", "view", "--projects", str(case.projects), "--out", str(out / "index.html")],
    }


def _good_processed(case: hc.Case, command: str, out: str, err: str) -> None:
    if command == "validate":
        assert "validated 2 journals" in out
    elif command.startswith("export"):
        assert (case.out / "export" / "good.tgz").is_file(), out + err
    elif command == "extend":
        assert len(Journal.open(case.projects / "good").graph.graph) > 3, err
    elif command == "view":
        assert (case.out / "index_journals" / "good.html").is_file(), out + err


BATCH_COMMANDS = ["validate", "export", "export-ignore", "extend", "view"]
BATCH_TAMPERS = [
    "mask-absolute-existing",
    "mask-dotdot-new",
    "file-symlink-out",
    "mask-through-linked-folder",
    "argument-file-outside",
    "journal-name-escapes",
]


@pytest.mark.parametrize("command", BATCH_COMMANDS)
@pytest.mark.parametrize("tamper", BATCH_TAMPERS)
def test_batch_commands_on_tampered_folders(tmp_path: Path, tamper: str, command: str, capsys: Any) -> None:
    case = hc.make_case(tmp_path)
    hc.good_journal(case)
    hc.hostile_journal(case, tamper)
    code, out, err, _ = _run(case, _batch_commands(case)[command], capsys)
    _good_processed(case, command, out, err)
    if command == "export-ignore":
        assert code in (0, 1), out + err  # --ignore exports what is inside; the outside file never goes
        return
    assert code == 1, out + err
    assert "regenerated" not in out or "0 masks regenerated" in out
    assert "internal error" not in err and "interrupted" not in err


BATCH_ARCHIVES = [
    "tgz-hostile-json",
    "tgz-truncated",
    "tgz-member-dotdot",
    "tgz-symlink-chain",
    "tgz-bomb",
    "tgz-binary-json",
]


@pytest.mark.parametrize("command", BATCH_COMMANDS)
@pytest.mark.parametrize("crafted", BATCH_ARCHIVES)
def test_batch_commands_on_crafted_archives(
    tmp_path: Path, crafted: str, command: str, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = hc.make_case(tmp_path)
    hc.good_journal(case)
    builder, env = hc.ARCHIVES[crafted]
    archive = builder(case)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    code, out, err, _ = _run(case, _batch_commands(case)[command], capsys)
    _good_processed(case, command, out, err)
    assert "internal error" not in err and "interrupted" not in err
    if command == "export-ignore" and crafted == "tgz-hostile-json":
        assert code in (0, 1)
        return
    assert code == 1, out + err
    assert archive.name in out + err or command == "validate"


def test_batch_validate_reports_the_archive_it_could_not_open(tmp_path: Path, capsys: Any) -> None:
    case = hc.make_case(tmp_path)
    hc.good_journal(case)
    archive = hc.ARCHIVES["tgz-truncated"][0](case)
    code, _out, err, _ = _run(case, _batch_commands(case)["validate"], capsys)
    assert code == 1
    report = next(case.out.glob("ErrorReport_*.csv")).read_text(encoding="utf-8")
    assert "CRITICAL" in report and "not a readable archive" in report
    assert f"failed: {archive.name}" in err


def test_exporting_with_ignore_leaves_the_outside_file_out_and_keeps_the_rest(
    tmp_path: Path, capsys: Any
) -> None:
    case = hc.make_case(tmp_path)
    hc.good_journal(case)
    hc.hostile_journal(case, "proxyfile-outside")
    code, out, err, _ = _run(case, _batch_commands(case)["export-ignore"], capsys)
    assert code == 0, out + err
    import tarfile

    with tarfile.open(case.out / "export" / "evil.tgz") as tar:
        names = tar.getnames()
    assert sorted(n.split("/", 1)[1] for n in names if n.endswith(".png") and "mask" not in n) == [
        "base.png",
        "final.png",
        "m.png",
    ]
    report = next(case.out.glob("ErrorReport_*.csv")).read_text(encoding="utf-8")
    assert "proxyfile" in report and "ERROR" in report


def test_a_fixed_journal_never_gets_a_mask_written_outside(tmp_path: Path, capsys: Any) -> None:
    """Issue 13 finding 1: validate --fix and batch validate regenerated masks wherever maskname pointed."""
    case = hc.make_case(tmp_path)
    folder = hc.hostile_journal(case, "mask-absolute-existing")
    (folder / "m.png").unlink(missing_ok=False)  # nothing to regenerate from either way
    before = case.victim_png.read_bytes()
    code, _out, _, _ = _run(case, ["journal", "validate", "--fix", str(folder)], capsys)
    assert code == 1 and case.victim_png.read_bytes() == before
    saved = json.loads((folder / "evil.json").read_text(encoding="utf-8"))
    assert any(link.get("maskname") == str(case.victim_png) for link in saved["links"])


@pytest.mark.parametrize("command", ["validate", "probes", "view", "graph", "archive"])
def test_hostile_node_ids_never_name_files_outside(tmp_path: Path, command: str, capsys: Any) -> None:
    """Node ids are not paths, but probe and mask file names are made from them."""
    case = hc.make_case(tmp_path)
    hc.good_journal(case)
    folder = ef.simple_journal(case.projects / "ids", seed=6).directory
    hc._edit(folder, lambda data, f: hc._relabel(data, "final", "../../../outside/planted"))
    code, out, err, _ = _run(case, _journal_commands(case, folder)[command], capsys)
    assert code in (0, 1), out + err
    assert not list(case.outside.glob("planted*")) and not list(case.root.glob("planted*"))
