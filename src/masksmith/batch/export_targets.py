"""Where exported archives go: the :class:`ExportTarget` interface, a folder, or S3 (:mod:`.export_s3`)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Protocol

from masksmith.atomic_io import atomic_path
from masksmith.batch.export_model import ArchiveDigest, digest_file
from masksmith.batch.export_s3 import S3Target
from masksmith.errors import ExportError

__all__ = ["ExportTarget", "FolderTarget", "open_target"]


class ExportTarget(Protocol):
    """Where archives go. ``put`` stores the complete archive under ``key`` and verifies it."""

    def describe(self, key: str = "") -> str: ...

    def check(self) -> None: ...

    def put(self, archive: Path, key: str, digest: ArchiveDigest) -> str: ...


class FolderTarget:
    """A local (or mounted) folder: the archive is copied to a temporary name, re-hashed, renamed."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def describe(self, key: str = "") -> str:
        return str(self.directory / key) if key else str(self.directory)

    def check(self) -> None:
        if self.directory.exists() and not self.directory.is_dir():
            raise ExportError("export target is not a folder", file=self.directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def put(self, archive: Path, key: str, digest: ArchiveDigest) -> str:
        final = self.directory / key
        with atomic_path(final, make_parents=True) as tmp:  # durable: fsynced before the rename
            shutil.copyfile(archive, tmp)
            copied = digest_file(tmp)
            if copied != digest:
                raise ExportError(
                    f"copy does not match the archive (size {copied.size} vs {digest.size}, "
                    f"sha256 {copied.sha256[:12]} vs {digest.sha256[:12]})",
                    file=final,
                )
        return str(final)


def open_target(
    location: str | os.PathLike[str] | ExportTarget,
    *,
    endpoint_url: str | None = None,
    profile: str | None = None,
    region: str | None = None,
) -> ExportTarget:
    """A target from ``s3://bucket/folder`` or a folder path (targets pass through unchanged)."""
    if isinstance(location, FolderTarget | S3Target):
        return location
    if isinstance(location, str | os.PathLike):
        text = os.fspath(location)
        if text.lower().startswith("s3://"):
            return S3Target.from_url(text, endpoint_url=endpoint_url, profile=profile, region=region)
        return FolderTarget(text)
    return location
