"""Export test parts: a real S3-compatible server (moto's server mode on loopback) and small journals.

The server runs as a subprocess (``python -m moto.server``) on a free loopback port; tests reach it
over HTTP with boto3 and dummy credentials set in the environment, exactly as a user would.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from masksmith.journal.project import Journal
from masksmith.media import io as media_io
from tests.journal.journal_builders import blurred
from tests.synthetic import textured

boto3 = pytest.importorskip("boto3")
pytest.importorskip("moto.server")

ACCESS_KEY = "AKIAEXPORTTEST7Q3Z"
SECRET_KEY = "s3cr3t/Export+Key/abcdefghijklmnopqrstu"
SESSION_TOKEN = "FwoGZXIvYXdzEXPORTTOKENqwertyuiop1234567890"
CREDENTIALS = (ACCESS_KEY, SECRET_KEY, SESSION_TOKEN)
ROWS, COLS = 64, 80


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class S3Server:
    endpoint: str
    process: subprocess.Popen[bytes]

    def client(self) -> Any:
        return boto3.session.Session().client("s3", endpoint_url=self.endpoint)

    def new_bucket(self) -> str:
        name = f"exports-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str) -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


def _wait_for(port: int, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("moto server did not start")


def dummy_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Dummy credentials in the environment; no user AWS config files are read."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def s3_process() -> Iterator[S3Server]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        _wait_for(port, process)
        yield S3Server(f"http://127.0.0.1:{port}", process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def s3_server(s3_process: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> S3Server:
    dummy_credentials(monkeypatch, tmp_path)
    return s3_process


def make_journal(
    projects: Path,
    name: str,
    rng: np.random.Generator,
    *,
    pastemask: bool = True,
    broken: bool = False,
) -> Journal:
    """``projects/name``: base → Blur → interim → OutputPng → final, optionally with an argument file.

    ``pastemask`` adds ``arguments.pastemask`` (a file in the folder, declared in ``edgeFilePaths``)
    to the blur link; ``broken`` gives that link a wrong ``shape change`` (an ERROR finding).
    """
    scratch = projects.parent / f"{projects.name}-scratch" / name
    scratch.mkdir(parents=True, exist_ok=True)
    base_path = scratch / "base.png"
    media_io.write_image(base_path, textured(rng, ROWS, COLS))
    journal = Journal.create(base_path, projects / name, username="maker", organization="lab")
    start = journal.graph.base_node()
    interim_path = scratch / "interim.png"
    media_io.write_image(interim_path, blurred(journal.pixels(start)))
    edge = journal.record(
        start, interim_path, op="Blur", arguments={"Blur Type": "Gaussian", "Laundering": "no"}
    )
    data = journal.graph.edge(edge.start, edge.end)
    data["recordMaskInComposite"] = "yes"
    final_path = scratch / "final.png"
    media_io.write_image(final_path, journal.pixels(edge.end))
    journal.record(edge.end, final_path, op="OutputPng", arguments={"Image Rotated": "no"})
    if pastemask:
        mask = np.zeros((ROWS, COLS), np.uint8)
        mask[10:30, 12:40] = 255
        media_io.write_image(journal.directory / f"{edge.end}_pastemask.png", mask)
        data["arguments"]["pastemask"] = f"{edge.end}_pastemask.png"
        journal.graph.attributes["edgeFilePaths"]["arguments.pastemask"] = ""
    if broken:
        data["shape change"] = "(3, 3)"
    journal.save()
    return journal


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under a folder with its bytes (to prove a source journal was not touched)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
