"""``batch export`` through click, to a folder and to a real S3-compatible server; kill -9 and resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tarfile
import textwrap
import time
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner

from masksmith.batch.state import CompletionFile
from masksmith.cli.export_cmds import batch_export_command
from masksmith.errors import ExportError
from masksmith.journal import store
from tests.batch.export_fixtures import (
    CREDENTIALS,
    S3Server,
    dummy_credentials,
    make_journal,
    s3_process,
    s3_server,
    snapshot,
)

__all__ = ["s3_process", "s3_server"]  # fixtures used below


def _group() -> click.Group:
    @click.group()
    def root() -> None:
        """test root"""

    batch = click.Group("batch")
    batch.add_command(batch_export_command)
    root.add_command(batch)
    return root


def _invoke(*args: str) -> click.testing.Result:
    return CliRunner().invoke(_group(), ["batch", "export", *args])


def test_export_to_folder_with_every_edit(tmp_path: Path, rng: np.random.Generator) -> None:
    projects = tmp_path / "projects"
    make_journal(projects, "k1", rng)
    make_journal(projects, "k2", rng)
    before = snapshot(projects / "k1")
    out, done = tmp_path / "out", tmp_path / "done.txt"
    result = _invoke(
        "--projects", str(projects), "--to", str(out), "--qa", "-u", "alice", "--updatename",
        "--organization", "Acme", "--redacted", "pastemask", "--completeFile", str(done), "--quiet",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "2 exported" in result.output
    for name in ("k1", "k2"):
        attributes = store.read_archive_json(out / f"{name}.tgz").attributes
        assert (attributes["creator"], attributes["validatedby"], attributes["organization"]) == (
            "alice",
            "alice",
            "Acme",
        )
        with tarfile.open(out / f"{name}.tgz") as tar:
            assert not [m for m in tar.getnames() if m.endswith("_pastemask.png")]
    assert snapshot(projects / "k1") == before
    assert len(CompletionFile(done).names()) == 2
    again = _invoke("--projects", str(projects), "--to", str(out), "--completeFile", str(done))
    assert again.exit_code == 0 and "2 skipped" in again.output


@pytest.mark.parametrize(
    ("flags", "code"),
    [([], 1), (["--ignore"], 0), (["--ignore", "yes"], 0), (["-i", "no"], 1), (["--skipValidation"], 0)],
)
def test_ignore_flag_and_exit_codes(
    tmp_path: Path, rng: np.random.Generator, flags: list[str], code: int
) -> None:
    projects = tmp_path / "projects"
    make_journal(projects, "broken", rng, broken=True)
    result = _invoke("--projects", str(projects), "--to", str(tmp_path / "out"), *flags)
    assert result.exit_code == code, result.output
    assert (tmp_path / "out" / "broken.tgz").exists() == (code == 0)
    reports = list(projects.glob("ErrorReport_*.csv"))
    # one report per run; none when validation was skipped and there is nothing to report
    assert len(reports) == (0 if "--skipValidation" in flags else 1)
    assert all("ERROR" in report.read_text() for report in reports)


@pytest.mark.parametrize(
    "flags",
    [[], ["--s3", "bucket-x/f", "--to", "out"], ["--to", "out", "--endpoint-url", "http://127.0.0.1:1"]],
)
def test_usage_errors(tmp_path: Path, flags: list[str]) -> None:
    result = _invoke("--projects", str(tmp_path), *flags)
    assert result.exit_code == 2
    assert "--s3" in result.output or "--endpoint-url" in result.output


def test_export_to_s3_with_endpoint(s3_server: S3Server, tmp_path: Path, rng: np.random.Generator) -> None:
    projects = tmp_path / "projects"
    make_journal(projects, "s1", rng)
    bucket = s3_server.new_bucket()
    result = _invoke(
        "--projects", str(projects), "--s3", f"{bucket}/exports", "--endpoint-url", s3_server.endpoint
    )
    assert result.exit_code == 0, result.output
    assert f"s3://{bucket}/exports" in result.output
    assert s3_server.keys(bucket) == ["exports/s1.tgz"]


def test_wrong_endpoint_is_one_line_without_credentials(
    tmp_path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    dummy_credentials(monkeypatch, tmp_path)
    projects = tmp_path / "projects"
    make_journal(projects, "w1", rng)
    result = _invoke(
        "--projects", str(projects), "--s3", "bucket-y/f", "--endpoint-url", "http://127.0.0.1:9"
    )
    assert isinstance(result.exception, ExportError)
    message = str(result.exception)
    assert "\n" not in message and "127.0.0.1:9" in message
    for value in CREDENTIALS:
        assert value not in message and value not in result.output


_SLOW_EXPORT = textwrap.dedent(
    """
    import sys, time
    from masksmith.batch import export

    real_put = export.S3Target.put
    calls = []

    def put_then_stall(self, *args, **kwargs):
        location = real_put(self, *args, **kwargs)
        calls.append(location)
        if len(calls) == 2:
            time.sleep(600)  # killed here: uploaded, not yet in the completion file
        return location

    export.S3Target.put = put_then_stall
    from masksmith.cli.export_cmds import batch_export_command
    batch_export_command.main(args=sys.argv[1:], prog_name="export")
    """
)


def test_kill_during_export_resumes_without_duplicates(
    s3_server: S3Server, tmp_path: Path, rng: np.random.Generator
) -> None:
    projects = tmp_path / "projects"
    names = ("e1", "e2", "e3", "e4")
    for name in names:
        make_journal(projects, name, rng, pastemask=False)
    bucket = s3_server.new_bucket()
    done = tmp_path / "done.txt"
    args = ["--projects", str(projects), "--s3", f"{bucket}/run", "--endpoint-url", s3_server.endpoint]
    args += ["--completeFile", str(done), "--quiet"]
    process = subprocess.Popen([sys.executable, "-c", _SLOW_EXPORT, *args], env=dict(os.environ))
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            if len(CompletionFile(done).names()) == 1 and len(s3_server.keys(bucket)) == 2:
                break
            time.sleep(0.1)
        assert process.poll() is None, "the export ended before it could be killed"
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == -signal.SIGKILL
    assert CompletionFile(done).names() == [str((projects / "e1").resolve())]
    assert s3_server.keys(bucket) == ["run/e1.tgz", "run/e2.tgz"]

    resumed = _invoke(*args[:-1])
    assert resumed.exit_code == 0, resumed.output
    assert "1 skipped" in resumed.output and "3 exported" in resumed.output
    assert "skipped: e1" in resumed.output
    assert s3_server.keys(bucket) == [f"run/{n}.tgz" for n in names]
    completed = CompletionFile(done).names()
    assert sorted(completed) == sorted(str((projects / n).resolve()) for n in names)
    assert len(completed) == len(set(completed))
