"""Journal commands read archives and other JSON names; exports with --ignore keep going past missing files."""

from __future__ import annotations

import tarfile
from pathlib import Path
from typing import Any

from masksmith.batch.export import ExportOptions, export_journal
from masksmith.cli.main import run
from masksmith.journal import store
from tests.batch import extend_fixtures as ef


def test_validate_and_show_read_an_archive_like_its_folder(tmp_path: Path, capsys: Any) -> None:
    journal = ef.simple_journal(tmp_path / "j", seed=1)
    folder_code = run(["journal", "validate", str(journal.directory)])
    folder_out = capsys.readouterr().out
    archive = store.create_archive(journal.directory, tmp_path / "out")
    assert run(["journal", "validate", str(archive)]) == folder_code
    archive_out = capsys.readouterr().out
    assert archive_out.splitlines()[-1] == folder_out.splitlines()[-1]  # "j: <counts>"
    assert run(["journal", "show", str(archive)]) == 0
    shown = capsys.readouterr().out
    assert f"({archive})" in shown and "3 nodes" in shown


def test_validate_fix_refuses_an_archive(tmp_path: Path, capsys: Any) -> None:
    journal = ef.simple_journal(tmp_path / "j", seed=1)
    archive = store.create_archive(journal.directory, tmp_path / "out")
    assert run(["journal", "validate", "--fix", str(archive)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "extract the archive first" in err


def test_show_prints_the_json_file_it_read(tmp_path: Path, capsys: Any) -> None:
    journal = ef.simple_journal(tmp_path / "j", seed=1)
    other = journal.directory / "other.json"
    journal.json_path.rename(other)
    assert run(["journal", "show", str(other)]) == 0
    assert f"({other})" in capsys.readouterr().out
    assert run(["journal", "show", str(journal.directory)]) == 0
    assert f"({other})" in capsys.readouterr().out


def test_export_with_ignore_records_a_missing_proxy_and_still_exports(tmp_path: Path) -> None:
    journal = ef.simple_journal(tmp_path / "j", seed=1)
    journal.graph.node("m")["proxyfile"] = "m_proxy.png"  # named, never written
    journal.save()
    refused = export_journal(journal.directory, tmp_path / "out")
    assert not refused.exported
    assert any(f.rule == "referenced_file_missing" and "proxyfile" in f.message for f in refused.findings)
    result = export_journal(journal.directory, tmp_path / "out", ExportOptions(ignore_errors=True))
    assert result.exported, result.message
    assert any(f.rule == "referenced_file_missing" and f.where == "m" for f in result.findings)
    with tarfile.open(tmp_path / "out" / "j.tgz") as tar:
        names = tar.getnames()
    assert "j/m.png" in names and "j/m_proxy.png" not in names
    assert store.read_archive_json(tmp_path / "out" / "j.tgz").node("m")["proxyfile"] == "m_proxy.png"


def test_exports_carry_argument_files(tmp_path: Path) -> None:
    journal = ef.simple_journal(tmp_path / "j", seed=1)
    (journal.directory / "rows.png").write_bytes((journal.directory / "m.png").read_bytes())
    data = journal.graph.edge("m", "final")
    data["op"] = "TransformSeamCarving"
    data["arguments"] = {"row adjuster": "rows.png"}
    journal.save()
    result = export_journal(journal.directory, tmp_path / "out", ExportOptions(skip_validation=True))
    assert result.exported
    with tarfile.open(tmp_path / "out" / "j.tgz") as tar:
        assert "j/rows.png" in tar.getnames()
