"""Journal export to a folder and to a real S3-compatible server (moto server mode on loopback)."""

from __future__ import annotations

import logging
import os
import socket
import sys
import tarfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from masksmith.batch import export_targets
from masksmith.batch.export import (
    ArchiveDigest,
    ExportOptions,
    ExportStatus,
    FolderTarget,
    S3Target,
    digest_file,
    export_journal,
    export_projects,
    multipart_etag,
    redact,
    redaction_paths,
)
from masksmith.batch.state import CompletionFile
from masksmith.errors import ExportError, ModelUnavailable
from masksmith.journal import store
from masksmith.journal.project import Journal
from masksmith.journal.validate import has_errors, validate
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

NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


def _download_and_open(server: S3Server, bucket: str, key: str, into: Path) -> tuple[Journal, list[str]]:
    archive = into / Path(key).name
    server.client().download_file(bucket, key, str(archive))
    with tarfile.open(archive) as tar:
        members = tar.getnames()
    return Journal.open(store.safe_extract(archive, into / "x" / Path(key).stem)), members


def _projects(tmp_path: Path, rng: np.random.Generator, names: tuple[str, ...] = ("j1", "j2")) -> Path:
    projects = tmp_path / "projects"
    for name in names:
        make_journal(projects, name, rng)
    return projects


# --- S3 round trip --------------------------------------------------------------------------------


def test_s3_round_trip_folder_and_archive_sources(
    s3_server: S3Server, tmp_path: Path, rng: np.random.Generator
) -> None:
    projects = _projects(tmp_path, rng)
    make_journal(tmp_path / "elsewhere", "j3", rng).archive(projects)  # a .tgz source
    before = {name: snapshot(projects / name) for name in ("j1", "j2")}
    archive_before = (projects / "j3.tgz").read_bytes()
    bucket = s3_server.new_bucket()
    target = S3Target.from_url(f"s3://{bucket}/batch/run1", endpoint_url=s3_server.endpoint)
    options = ExportOptions(
        qa=True, username="quinn", update_name=True, organization="Test Org", redacted=("pastemask",)
    )

    summary = export_projects(projects, target, options, complete_file=tmp_path / "done.txt")

    assert summary.count(ExportStatus.EXPORTED) == 3 and summary.ok
    assert s3_server.keys(bucket) == [f"batch/run1/{n}.tgz" for n in ("j1", "j2", "j3")]
    for result in summary.results:
        assert result.digest is not None
        head = s3_server.client().head_object(Bucket=bucket, Key=f"batch/run1/{result.name}.tgz")
        assert head["ContentLength"] == result.digest.size
        assert head["ETag"].strip('"') == result.digest.md5
        assert head["Metadata"]["sha256"] == result.digest.sha256
        journal, members = _download_and_open(s3_server, bucket, f"batch/run1/{result.name}.tgz", tmp_path)
        assert all(m.startswith(f"{result.name}/") for m in members)
        assert not has_errors(validate(journal)), [str(f) for f in validate(journal)]
        attributes = journal.graph.attributes
        assert (attributes["username"], attributes["creator"]) == ("quinn", "quinn")
        assert attributes["organization"] == "Test Org"
        assert (attributes["validation"], attributes["validatedby"]) == ("yes", "quinn")
        datetime.strptime(attributes["validationdate"], "%m/%d/%Y")
        datetime.strptime(attributes["exporttime"], "%Y-%m-%d %H:%M:%S")
        # redacted: file gone from the archive and from edgeFilePaths; the argument still names it
        redacted = [
            data["arguments"]["pastemask"]
            for _, _, data in journal.graph.edges()
            if "pastemask" in data.get("arguments", {})
        ]
        assert len(redacted) == 1 and result.redacted_files == (redacted[0],)
        assert f"{result.name}/{redacted[0]}" not in members
        assert "arguments.pastemask" not in attributes["edgeFilePaths"]
        assert not (journal.directory / redacted[0]).exists()
    # the sources are untouched, redacted files included
    for name, files in before.items():
        assert snapshot(projects / name) == files
        assert any(f.endswith("_pastemask.png") for f in files)
    assert (projects / "j3.tgz").read_bytes() == archive_before
    assert len(CompletionFile(tmp_path / "done.txt").names()) == 3


@pytest.mark.parametrize("threads", [1, 3])
def test_rerun_with_completion_file_skips_everything(
    s3_server: S3Server, tmp_path: Path, rng: np.random.Generator, threads: int
) -> None:
    projects = _projects(tmp_path, rng, ("a1", "a2", "a3"))
    bucket = s3_server.new_bucket()
    target = S3Target(bucket, "p", endpoint_url=s3_server.endpoint)
    done = tmp_path / "state" / "complete.txt"
    first = export_projects(projects, target, complete_file=done, threads=threads)
    stamps = {k: s3_server.client().head_object(Bucket=bucket, Key=k)["ETag"] for k in s3_server.keys(bucket)}
    second = export_projects(projects, target, complete_file=done, threads=threads)
    assert first.count(ExportStatus.EXPORTED) == 3
    assert second.count(ExportStatus.SKIPPED) == 3 and second.count(ExportStatus.EXPORTED) == 0
    assert {
        k: s3_server.client().head_object(Bucket=bucket, Key=k)["ETag"] for k in s3_server.keys(bucket)
    } == stamps
    assert sorted(CompletionFile(done).names()) == sorted(
        str((projects / n).resolve()) for n in ("a1", "a2", "a3")
    )


def test_export_journal_to_an_s3_url_with_the_endpoint_from_the_environment(
    s3_server: S3Server, tmp_path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The form ``batch create --export s3://bucket/folder`` uses: one journal, a URL, boto3's own settings."""
    journal = make_journal(tmp_path / "projects", "one", rng)
    bucket = s3_server.new_bucket()
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint)
    result = export_journal(journal.directory, f"s3://{bucket}/made", ExportOptions(redacted=("pastemask",)))
    assert result.exported and result.location == f"s3://{bucket}/made/one.tgz"
    assert s3_server.keys(bucket) == ["made/one.tgz"]


# --- validation, refusal, --ignore ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ignore", "skip", "status", "rows"),
    [
        (False, False, ExportStatus.REFUSED, 1),
        (True, False, ExportStatus.EXPORTED, 1),
        (False, True, ExportStatus.EXPORTED, 0),
    ],
)
def test_validation_errors_refuse_unless_ignored(
    tmp_path: Path, rng: np.random.Generator, ignore: bool, skip: bool, status: ExportStatus, rows: int
) -> None:
    projects = tmp_path / "projects"
    make_journal(projects, "good", rng)
    make_journal(projects, "bad", rng, broken=True)
    out = tmp_path / "out"
    summary = export_projects(
        projects,
        out,
        ExportOptions(ignore_errors=ignore, skip_validation=skip),
        complete_file=tmp_path / "done.txt",
        report_dir=tmp_path / "reports",
    )
    by_name = {r.source.name: r for r in summary.results}
    assert by_name["good"].status is ExportStatus.EXPORTED
    assert by_name["bad"].status is status
    assert (out / "bad.tgz").exists() == (status is ExportStatus.EXPORTED)
    assert (str((projects / "bad").resolve()) in CompletionFile(tmp_path / "done.txt")) == (
        status is ExportStatus.EXPORTED
    )
    assert summary.ok == (status is ExportStatus.EXPORTED)
    if rows == 0:  # nothing to report: no ErrorReport at all
        assert summary.report is None and not list(tmp_path.glob("reports/ErrorReport_*.csv"))
        return
    assert summary.report == tmp_path / "reports" / f"ErrorReport_{os.getpid()}.csv"
    lines = summary.report.read_text().splitlines()
    assert len([line for line in lines if line.startswith("bad ERROR")]) == rows
    assert not [line for line in lines if line.startswith("good ")]
    assert summary.ok == (status is ExportStatus.EXPORTED)


# --- journal fields --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (
            ExportOptions(),
            {"username": "maker", "creator": "maker", "organization": "lab", "validation": "no"},
        ),
        (
            ExportOptions(username="olga", update_name=True, organization="Org B"),
            {"username": "olga", "creator": "olga", "organization": "Org B", "validation": "no"},
        ),
        (
            ExportOptions(qa=True, username="qa1"),
            {
                "username": "maker",
                "validation": "yes",
                "validatedby": "qa1",
                "validationdate": "03/04/2026",
                "validationtime": "05:06:07",
            },
        ),
    ],
)
def test_exported_fields(
    tmp_path: Path, rng: np.random.Generator, options: ExportOptions, expected: dict[str, str]
) -> None:
    journal = make_journal(tmp_path / "projects", "fields", rng)
    result = export_journal(journal.directory, FolderTarget(tmp_path / "out"), options, now=NOW)
    exported = store.read_archive_json(tmp_path / "out" / "fields.tgz").attributes
    assert result.status is ExportStatus.EXPORTED
    assert {k: exported[k] for k in expected} == expected
    assert exported["exporttime"] == "2026-03-04 05:06:07"
    assert Journal.open(journal.directory).graph.attributes.get("exporttime") is None


@pytest.mark.parametrize(("stamp", "kept"), [("01/01/2020", False), ("12/31/2099", True)])
def test_stale_quality_stamp_is_cleared(
    tmp_path: Path, rng: np.random.Generator, stamp: str, kept: bool
) -> None:
    journal = make_journal(tmp_path / "projects", "qa", rng)
    journal.graph.attributes.update(
        validation="yes", validatedby="earlier", validationdate=stamp, validationtime="10:00:00"
    )
    journal.save()
    export_journal(journal.directory, tmp_path / "out", ExportOptions(), now=NOW)
    exported = store.read_archive_json(tmp_path / "out" / "qa.tgz").attributes
    assert exported["validation"] == ("yes" if kept else "no")
    assert exported["validatedby"] == ("earlier" if kept else "")


@pytest.mark.parametrize(
    ("names", "paths"),
    [
        (("pastemask",), ("arguments.pastemask",)),
        (("arguments.pastemask", "pastemask"), ("arguments.pastemask",)),
        (("inputmaskname", "selectmasks.mask"), ("inputmaskname", "selectmasks.mask")),
        (("", "none", " donor "), ("arguments.donor",)),
    ],
)
def test_redaction_paths(names: tuple[str, ...], paths: tuple[str, ...]) -> None:
    assert redaction_paths(names) == paths


def test_change_masks_cannot_be_redacted(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="maskname"):
        export_projects(tmp_path, tmp_path / "out", ExportOptions(redacted=("maskname",)))


def test_same_journal_name_twice_fails_the_second(tmp_path: Path, rng: np.random.Generator) -> None:
    projects = tmp_path / "projects"
    make_journal(projects, "twin", rng).archive(projects)  # folder twin/ and twin.tgz, one name
    summary = export_projects(projects, tmp_path / "out")
    statuses = sorted(r.status.value for r in summary.results)
    assert statuses == ["exported", "failed"]
    failed = next(r for r in summary.results if r.status is ExportStatus.FAILED)
    assert "also exported" in failed.message
    assert "CRITICAL" in summary.report.read_text()


# --- verification of what was stored -------------------------------------------------------------------


def test_folder_target_rejects_a_bad_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = tmp_path / "a.tgz"
    archive.write_bytes(os.urandom(4096))
    digest = digest_file(archive)

    def truncating_copy(source: Path, target: Path) -> None:
        Path(target).write_bytes(Path(source).read_bytes()[:-1])

    monkeypatch.setattr(export_targets.shutil, "copyfile", truncating_copy)
    target = FolderTarget(tmp_path / "out")
    target.check()
    with pytest.raises(ExportError, match="does not match"):
        target.put(archive, "a.tgz", digest)
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("size", [3000, 11 * 1024 * 1024 + 17])
def test_s3_put_single_and_multipart_verified(s3_server: S3Server, tmp_path: Path, size: int) -> None:
    archive = tmp_path / "blob.tgz"
    archive.write_bytes(np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes())
    digest = digest_file(archive)
    bucket = s3_server.new_bucket()
    part = 5 * 1024 * 1024
    target = S3Target(bucket, "x", endpoint_url=s3_server.endpoint, multipart_threshold=part, part_size=part)
    assert target.put(archive, "blob.tgz", digest) == f"s3://{bucket}/x/blob.tgz"
    head = s3_server.client().head_object(Bucket=bucket, Key="x/blob.tgz")
    expected = digest.md5 if size <= part else multipart_etag(archive, part)
    assert head["ETag"].strip('"') == expected
    assert ("-" in expected) == (size > part)
    fetched = tmp_path / "back.tgz"
    s3_server.client().download_file(bucket, "x/blob.tgz", str(fetched))
    assert digest_file(fetched) == digest


def test_s3_put_mismatch_removes_the_object(s3_server: S3Server, tmp_path: Path) -> None:
    archive = tmp_path / "m.tgz"
    archive.write_bytes(os.urandom(2048))
    bucket = s3_server.new_bucket()
    target = S3Target(bucket, "", endpoint_url=s3_server.endpoint)
    wrong = ArchiveDigest(2048, digest_file(archive).md5, "0" * 64)  # the metadata will disagree on re-read
    real_head = target.client.head_object

    def head_with_other_sha(**kwargs: object) -> dict[str, object]:
        head = dict(real_head(**kwargs))
        head["Metadata"] = {"sha256": "f" * 64}
        return head

    target.client.head_object = head_with_other_sha
    with pytest.raises(ExportError, match="does not match"):
        target.put(archive, "m.tgz", wrong)
    assert s3_server.keys(bucket) == []


# --- credentials ------------------------------------------------------------------------------------


def test_credentials_never_logged(
    s3_server: S3Server, tmp_path: Path, rng: np.random.Generator, caplog: pytest.LogCaptureFixture
) -> None:
    projects = _projects(tmp_path, rng, ("c1",))
    bucket = s3_server.new_bucket()
    caplog.set_level(logging.DEBUG)
    summary = export_projects(projects, S3Target(bucket, "logs", endpoint_url=s3_server.endpoint))
    assert summary.count(ExportStatus.EXPORTED) == 1
    text = caplog.text
    assert any(r.name.startswith("botocore") for r in caplog.records)  # the request logs were captured
    assert "Credential=***" in text  # … and they did carry the credential, redacted
    for secret in CREDENTIALS:
        assert secret not in text


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("userinfo", [False, True])
def test_wrong_endpoint_error_carries_no_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, userinfo: bool
) -> None:
    dummy_credentials(monkeypatch, tmp_path)
    access, secret, _ = CREDENTIALS
    prefix = f"{access}:{secret}@" if userinfo else ""
    endpoint = f"http://{prefix}127.0.0.1:{_closed_port()}"
    caplog.set_level(logging.DEBUG)
    target = S3Target("nobucket-here", "x", endpoint_url=endpoint)
    with pytest.raises(ExportError) as caught:
        export_projects(tmp_path, target)
    message = str(caught.value)
    assert "failed" in message or "cannot set up" in message
    for text in (message, caplog.text):
        for value in CREDENTIALS:
            assert value not in text


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        (
            "Authorization: AWS4-HMAC-SHA256 Credential=AKIAXYZ123/20260101/us-east-1/s3/aws4_request",
            "AKIAXYZ123",
        ),
        ("x-amz-security-token:TOKENVALUE123", "TOKENVALUE123"),
        ("'X-Amz-Security-Token': b'TOKENVALUE456'", "TOKENVALUE456"),
        ("https://user:hunter22@minio.local:9000/bucket", "hunter22"),
        ("?AWSAccessKeyId=AKIAQQQ&Signature=abc", "AKIAQQQ"),
    ],
)
def test_redact_patterns(text: str, leak: str) -> None:
    assert leak not in redact(text)
    assert "***" in redact(text)


def test_missing_boto3_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(ModelUnavailable, match=r"masksmith\[s3\]"):
        S3Target("some-bucket").check()


def test_no_credentials_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dummy_credentials(monkeypatch, tmp_path)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(ExportError, match="no AWS credentials"):
        S3Target("some-bucket", endpoint_url="http://127.0.0.1:9").check()
