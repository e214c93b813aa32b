"""Containment costs and savings: an archive bomb refused before extraction; link checks in bulk validation.

1. A 256 MiB all-zero member packed into a ~250 KB ``.tgz``: the previous behaviour (tarfile's ``data``
   filter, no size limit: what ``safe_extract`` did before) against ``safe_extract`` with its default
   limits, which refuses it from the member headers.
2. Bulk validation of 100 copies of a small two-link journal (2 threads): with the full containment
   check (``realpath`` of every journal file name, so links leading out are caught) against a
   text-only check (absolute paths and ``..`` only), to show what following links costs.
"""

from __future__ import annotations

import io
import shutil
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import table
from masksmith.batch.bulk_validate import validate_projects
from masksmith.errors import ArchiveError
from masksmith.journal import paths, store
from masksmith.journal.project import Journal
from masksmith.media import io as media_io

BOMB_BYTES = 256 << 20


def _bomb(folder: Path) -> Path:
    target = folder / "bomb.tgz"
    with tarfile.open(target, "w:gz", compresslevel=9) as tar:
        journal = b'{"nodes": [], "links": [], "graph": {"name": "bomb"}}'
        info = tarfile.TarInfo("bomb/bomb.json")
        info.size = len(journal)
        tar.addfile(info, io.BytesIO(journal))
        info = tarfile.TarInfo("bomb/zeros.bin")
        info.size = BOMB_BYTES
        tar.addfile(info, _Zeros(BOMB_BYTES))
    return target


class _Zeros(io.RawIOBase):
    def __init__(self, size: int) -> None:
        self.left = size

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), self.left)
        buffer[:n] = bytes(n)
        self.left -= n
        return n

    def readable(self) -> bool:
        return True


def _bomb_rows(folder: Path) -> list[tuple[object, ...]]:
    archive = _bomb(folder)
    began = time.perf_counter()
    with tarfile.open(archive) as tar:
        tar.extractall(folder / "plain", filter="data")
    plain = time.perf_counter() - began
    written = sum(p.stat().st_size for p in (folder / "plain").rglob("*") if p.is_file())
    shutil.rmtree(folder / "plain")
    began = time.perf_counter()
    try:
        store.safe_extract(archive, folder / "safe")
        outcome = "extracted"
    except ArchiveError:
        outcome = "refused"
    safe = time.perf_counter() - began
    kept = sum(p.stat().st_size for p in (folder / "safe").rglob("*") if p.is_file())
    size = f"{archive.stat().st_size / 1e3:.0f} KB → {BOMB_BYTES >> 20} MiB"
    return [
        (
            "tarfile data filter (before)",
            size,
            f"{plain * 1000:.0f} ms",
            f"{written >> 20} MiB written",
            "extracted",
        ),
        ("safe_extract (limits)", size, f"{safe * 1000:.1f} ms", f"{kept} bytes written", outcome),
    ]


def _journals(folder: Path, count: int) -> Path:
    rng = np.random.default_rng(3)
    base = rng.integers(0, 256, size=(240, 320, 3), dtype=np.uint8)
    media_io.write_image(folder / "base.png", base)
    journal = Journal.create(folder / "base.png", folder / "one" / "j", username="bench")
    changed = base.copy()
    changed[20:60, 30:90] = 255 - changed[20:60, 30:90]
    media_io.write_image(folder / "blur.png", changed)
    end = journal.record(
        journal.graph.base_node(),
        folder / "blur.png",
        op="Blur",
        arguments={"Blur Type": "Gaussian", "Laundering": "no"},
    )
    media_io.write_image(folder / "final.png", changed)
    journal.record(end.end, folder / "final.png", op="OutputPng", arguments={"Image Rotated": "no"})
    projects = folder / "projects"
    for i in range(count):
        shutil.copytree(journal.directory, projects / f"j{i:03d}")
    return projects


def _validation_rows(folder: Path, count: int = 100) -> list[tuple[object, ...]]:
    projects = _journals(folder, count)
    rows = []
    full = paths.problem
    for label, check in (
        ("text only (absolute, ..)", lambda f, n: paths.lexical_problem(n)),
        ("full (links followed)", full),
    ):
        paths.problem = check  # type: ignore[assignment]
        try:
            times = []
            for _ in range(3):
                began = time.perf_counter()
                summary = validate_projects(projects, threads=2, report_dir=folder)
                times.append(time.perf_counter() - began)
        finally:
            paths.problem = full  # type: ignore[assignment]
        best = min(times)
        rows.append((label, count, f"{best:.2f} s", f"{summary.journals / best:.0f} journals/s"))
    return rows


def run() -> str:
    with tempfile.TemporaryDirectory(prefix="masksmith-bench-") as tmp:
        folder = Path(tmp)
        bomb = table(("extraction", "archive", "time", "disk", "outcome"), _bomb_rows(folder))
        (folder / "bomb").mkdir()
        validation = table(
            ("containment check", "journals", "best of 3", "rate"), _validation_rows(folder / "bomb")
        )
    return f"Archive bomb\n\n{bomb}\n\nBulk validation\n\n{validation}"


if __name__ == "__main__":
    print(run())
