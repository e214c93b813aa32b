"""Export to a real S3-compatible server (moto) of tampered journals: nothing from outside is uploaded."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from masksmith.batch.export import ExportOptions, S3Target, export_projects
from tests.batch.export_fixtures import S3Server, s3_process, s3_server
from tests.cli import hostile_corpus as hc

__all__ = ["s3_process", "s3_server"]  # fixtures used below


@pytest.mark.parametrize("ignore", [False, True], ids=["refused", "ignore"])
@pytest.mark.parametrize("tamper", ["file-symlink-out", "mask-absolute-existing", "argument-file-outside"])
def test_s3_export_uploads_nothing_from_outside(
    s3_server: S3Server, tmp_path: Path, tamper: str, ignore: bool
) -> None:
    case = hc.make_case(tmp_path)
    hc.good_journal(case)
    hc.hostile_journal(case, tamper)
    bucket = s3_server.new_bucket()
    target = S3Target(bucket, "run", endpoint_url=s3_server.endpoint)
    guard = case.guard
    with guard.watching() as hits:
        summary = export_projects(
            case.projects,
            target,
            ExportOptions(ignore_errors=ignore, work_dir=case.inside / "work"),
            report_dir=case.out,
        )
    assert hits == [] and guard.changes() == []
    keys = s3_server.keys(bucket)
    assert "run/good.tgz" in keys
    assert ("run/evil.tgz" in keys) == ignore
    evil = next(r for r in summary.results if r.source.name == "evil")
    assert evil.exported == ignore and (ignore or "validation error" in evil.message)
    for key in keys:
        payload = s3_server.client().get_object(Bucket=bucket, Key=key)["Body"].read()
        with tarfile.open(fileobj=io.BytesIO(payload)) as tar:
            for member in tar.getmembers():
                handle = tar.extractfile(member) if member.isfile() else None
                content = handle.read() if handle is not None else b""
                assert case.secret_bytes not in content and hc.SECRET_TOKEN.encode() not in content
                assert not member.issym() or not member.linkname.startswith("/")
