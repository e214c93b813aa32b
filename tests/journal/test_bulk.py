"""Bulk validation: folders and archives, regenerated masks, the ErrorReport, the summary."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from masksmith.batch import bulk_validate
from masksmith.errors import MasksmithError
from masksmith.journal import bulk
from masksmith.journal.bulk import find_journals, validate_projects
from tests.journal.journal_builders import blur_then_output


def _projects(tmp_path: Path, rng: np.random.Generator) -> Path:
    projects = tmp_path / "projects"
    good = blur_then_output(tmp_path / "good", rng)
    good.journal.directory.rename(projects / "good" if projects.exists() else _mk(projects) / "good")
    broken = blur_then_output(tmp_path / "broken", rng)
    broken.mask_path().unlink()  # regenerated from the media
    broken.edge["shape change"] = "(9, 9)"  # an ERROR that stays
    broken.journal.save()
    broken.journal.directory.rename(projects / "broken")
    archived = blur_then_output(tmp_path / "archived", rng)
    archived.journal.archive(projects)
    (projects / "junk.tgz").write_bytes(b"not an archive")
    return projects


def _mk(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


def _rows(path: Path) -> list[list[str]]:
    with path.open(newline="") as handle:
        return list(csv.reader(handle, delimiter=" ", quotechar="|"))


@pytest.mark.parametrize("threads", [1, 2])
def test_bulk_validation_reports_every_journal(tmp_path: Path, rng, threads: int) -> None:
    projects = _projects(tmp_path, rng)
    assert [p.name for p in find_journals(projects)] == ["broken", "good", "journal.tgz", "junk.tgz"]
    seen = []
    summary = bulk_validate.validate_projects(projects, threads=threads, progress=seen.append)
    assert summary.journals == 4 and len(seen) == 4
    assert [r.source.name for r in seen] == ["broken", "good", "journal.tgz", "junk.tgz"]  # in order
    assert summary.regenerated == 1
    assert (projects / "broken" / "journal.json").is_file()
    rows = _rows(summary.report)
    assert summary.report.name.startswith("ErrorReport_") and summary.report.parent == projects
    assert all(len(row) == 5 for row in rows)
    errors = [r for r in rows if r[1] == "ERROR"]
    assert any("shape change" in r[4] and r[0] == "journal.json" for r in errors)
    critical = [r for r in rows if r[1] == "CRITICAL"]
    assert [r[0] for r in critical] == ["junk.tgz"]
    assert summary.has_errors and summary.failures
    assert "validated 4 journals" in summary.line()
    assert 0.0 <= summary.mask_share <= 1.0


def test_regenerated_mask_is_written_into_the_folder(tmp_path: Path, rng) -> None:
    projects = _mk(tmp_path / "projects")
    built = blur_then_output(tmp_path / "one", rng)
    mask = built.mask_path()
    original = mask.read_bytes()
    mask.unlink()
    built.journal.directory.rename(projects / "one")
    summary = validate_projects(projects)
    assert (projects / "one" / mask.name).is_file()
    assert not summary.has_errors, summary.counts
    assert len((projects / "one" / mask.name).read_bytes()) > 0 and original


def test_missing_projects_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(MasksmithError, match="projects folder"):
        validate_projects(tmp_path / "nowhere")


def test_a_runner_decides_where_each_journal_is_validated(tmp_path: Path, rng) -> None:
    projects = _projects(tmp_path, rng)
    ran: list[str] = []

    def backwards(sources, validate, record) -> None:  # finishes last to first
        for source in reversed(sources):
            ran.append(source.name)
            record(validate(source))

    seen = []
    summary = validate_projects(projects, progress=seen.append, runner=backwards)
    assert ran == ["junk.tgz", "journal.tgz", "good", "broken"]
    assert [r.source.name for r in seen] == ["broken", "good", "journal.tgz", "junk.tgz"]
    assert summary.journals == 4 and summary.regenerated == 1


def test_a_regenerated_mask_this_process_cannot_see_is_critical(tmp_path: Path, rng) -> None:
    projects = _projects(tmp_path, rng)

    def elsewhere(sources, validate, record) -> None:  # a worker whose folder is not ours
        for source in sources:
            report = validate(source)
            for name in report.regenerated_files:
                (source / name).unlink()
            record(report)

    summary = validate_projects(projects, runner=elsewhere)
    broken = next(r for r in summary.reports if r.source.name == "broken")
    assert broken.regenerated_files and bulk.unseen_outputs(broken)
    assert any("may not share this filesystem" in f.message for f in broken.findings)
    assert any(f.startswith("broken: regenerated mask") for f in summary.failures)
    good = next(r for r in summary.reports if r.source.name == "good")
    assert not bulk.unseen_outputs(good) and good.failure is None
