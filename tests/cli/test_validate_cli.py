"""The validate / probes / batch validate commands through click's runner."""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np
from click.testing import CliRunner

from masksmith.cli.validate_cmds import batch_validate_command, probes_command, validate_command
from tests.journal.journal_builders import blur_then_output


def _group() -> click.Group:
    @click.group()
    def root() -> None:
        """test root"""

    root.add_command(validate_command)
    root.add_command(probes_command)
    batch = click.Group("batch")
    batch.add_command(batch_validate_command)
    root.add_command(batch)
    return root


def test_clean_journal_exits_zero(tmp_path: Path, rng: np.random.Generator) -> None:
    built = blur_then_output(tmp_path, rng)
    result = CliRunner().invoke(_group(), ["validate", str(built.journal.directory)])
    assert result.exit_code == 0, result.output
    assert "no findings" in result.output


def test_errors_exit_one_and_fix_repairs(tmp_path: Path, rng: np.random.Generator) -> None:
    built = blur_then_output(tmp_path, rng)
    built.mask_path().unlink()
    built.edge["shape change"] = "(3, 3)"
    built.journal.save()
    runner = CliRunner()
    result = runner.invoke(_group(), ["validate", str(built.journal.directory)])
    assert result.exit_code == 1
    assert "ERROR" in result.output and "edge_mask_missing" in result.output
    fixed = runner.invoke(_group(), ["validate", str(built.journal.directory), "--fix"])
    assert fixed.exit_code == 0, fixed.output
    assert "fixed: regenerated mask" in fixed.output and "fixed: set shape change=(0, 0)" in fixed.output
    assert built.mask_path().is_file()
    again = runner.invoke(_group(), ["validate", str(built.journal.directory)])
    assert again.exit_code == 0 and "no findings" in again.output


def test_probes_command_writes_masks_and_tables(tmp_path: Path, rng: np.random.Generator) -> None:
    built = blur_then_output(tmp_path / "j", rng)
    out = tmp_path / "probes"
    result = CliRunner().invoke(_group(), ["probes", str(built.journal.directory), "--out", str(out)])
    assert result.exit_code == 0, result.output
    document = json.loads((out / "probes.json").read_text())
    assert len(document["probes"]) == 1
    assert (out / document["probes"][0]["target_mask_file"]).is_file()
    assert (out / "probes.csv").read_text().count("\n") == 2
    assert any(p.name.endswith("_composite.png") for p in out.iterdir())


def test_batch_validate_exit_code_and_summary(tmp_path: Path, rng: np.random.Generator) -> None:
    projects = tmp_path / "projects"
    projects.mkdir()
    good = blur_then_output(tmp_path / "a", rng)
    good.journal.directory.rename(projects / "a")
    runner = CliRunner()
    result = runner.invoke(_group(), ["batch", "validate", "--projects", str(projects), "--threads", "2"])
    assert result.exit_code == 0, result.output
    assert "validated 1 journals" in result.output
    bad = blur_then_output(tmp_path / "b", rng)
    bad.edge["shape change"] = "(1, 1)"
    bad.journal.save()
    bad.journal.directory.rename(projects / "b")
    result = runner.invoke(_group(), ["batch", "validate", "--projects", str(projects)])
    assert result.exit_code == 1
    assert "validated 2 journals" in result.output and "1 error" in result.output
    assert list(projects.glob("ErrorReport_*.csv"))
