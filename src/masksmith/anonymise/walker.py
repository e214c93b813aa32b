"""Input, output and archive trees: which images to do, where their files go, and crash recovery.

An image is *done* when every output the configuration asks for exists. Outputs are first written under
deterministic partial names (``.<name>.partial`` next to the target) and then renamed into place, the
published image last. Before the first partial is written, an in-flight marker listing every target goes
to ``<output>/.masksmith_inflight/``; it is removed once all outputs are verified. On the next start each
leftover marker's files (partial and final) are deleted, so an image interrupted by a crash is redone from
scratch and nothing half-written survives. The input is deleted (``delete_input``) only after the marker
is gone, so recovery never removes the outputs of an image whose input no longer exists.

File selection: names ending in ``.jpg``, ``.jpeg`` or ``.png`` in any letter case (the original took
only lower-case ``jpg``); hidden files and our own ``<stem>_preview`` files are ignored. Order is sorted,
so runs are repeatable.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from masksmith import atomic_io
from masksmith.anonymise.config import AnonymiseConfig
from masksmith.anonymise.metadata import relative_input_dir
from masksmith.errors import MasksmithError

__all__ = [
    "IMAGE_SUFFIXES",
    "INFLIGHT_DIR",
    "ROWS_DIR",
    "ImagePaths",
    "PathNotReachableError",
    "TreeWalker",
    "partial_path",
    "remove_empty_parents",
    "wait_for_path",
]

_log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
INFLIGHT_DIR = ".masksmith_inflight"
ROWS_DIR = ".masksmith_rows"
PREVIEW_SUFFIX = "_preview.jpg"


class PathNotReachableError(MasksmithError):
    """A file or folder stayed unreachable past ``file_access_timeout_seconds``."""


def partial_path(target: Path) -> Path:
    """Where ``target`` is written before it is renamed into place."""
    return target.with_name(f".{target.name}.partial")


def wait_for_path(
    path: Path,
    *,
    retry_seconds: float,
    timeout_seconds: float,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Return once ``path`` exists; poll every ``retry_seconds`` and give up after ``timeout_seconds``."""
    waited = 0.0
    while not path.exists():
        if waited >= timeout_seconds:
            raise PathNotReachableError(
                f"not reachable after {waited:g} s (file_access_timeout_seconds = {timeout_seconds:g})",
                file=path,
            )
        pause = max(0.01, min(retry_seconds, timeout_seconds - waited))
        _log.warning("%s is not reachable; retrying in %g s", path, pause)
        sleep(pause)
        waited += pause


def remove_empty_parents(start: Path, stop: Path) -> None:
    """Remove ``start`` and its parents while they are empty, never ``stop`` or anything above it."""
    stop = stop.resolve()
    current = start.resolve()
    while current != stop and stop in current.parents:
        try:
            current.rmdir()
        except OSError:
            return
        current = current.parent


@dataclass(frozen=True)
class ImagePaths:
    """Every path that belongs to one input image."""

    input_file: Path
    relative_dir: Path  # folder of the input below the input base ("." at the top)
    output_file: Path
    output_json: Path
    output_preview: Path
    input_json: Path
    input_preview: Path
    archive_file: Path | None
    archive_json: Path | None
    archive_preview: Path | None
    separate_preview: Path | None
    error_file: Path
    error_text: Path
    journal_dir: Path

    @property
    def stem(self) -> str:
        return self.input_file.stem

    def json_targets(self, config: AnonymiseConfig) -> list[Path]:
        """Where the metadata JSON goes (remote, local, archive)."""
        out = config.outputs
        targets = []
        if out.remote_json:
            targets.append(self.output_json)
        if out.local_json:
            targets.append(self.input_json)
        if out.archive_json and self.archive_json is not None:
            targets.append(self.archive_json)
        return targets

    def preview_targets(self, config: AnonymiseConfig) -> list[Path]:
        """Where the preview goes (output, input, archive, separate folder), as the flags name."""
        out = config.outputs
        targets = []
        if out.remote_preview:
            targets.append(self.output_preview)
        if out.local_preview:
            targets.append(self.input_preview)
        if out.archive_preview and self.archive_preview is not None:
            targets.append(self.archive_preview)
        if self.separate_preview is not None:
            targets.append(self.separate_preview)
        return targets

    def expected_outputs(self, config: AnonymiseConfig, *, journal: bool = False) -> list[Path]:
        """Every file (or journal folder) that must exist for this image to count as done."""
        files = [self.output_file, *self.json_targets(config), *self.preview_targets(config)]
        if self.archive_file is not None:
            files.append(self.archive_file)
        if journal:
            files.append(self.journal_dir)
        return files


class TreeWalker:
    """Finds the input images and maps each onto the output, archive and error trees."""

    def __init__(
        self,
        input_dir: str | os.PathLike[str],
        output_dir: str | os.PathLike[str],
        archive_dir: str | os.PathLike[str] | None = None,
        *,
        config: AnonymiseConfig,
        journal: bool = False,
    ) -> None:
        self.input_dir = Path(input_dir)
        self.output_dir = Path(output_dir)
        self.archive_dir = Path(archive_dir) if archive_dir is not None else None
        self.error_dir = self.output_dir.with_name(self.output_dir.name + "_error")
        self.journal_root = self.output_dir.with_name(self.output_dir.name + "_journal")
        self.config = config
        self.journal = journal
        self.rows = False  # set when a database takes one row per image: the row is part of "done"
        self.not_accepted: list[Path] = []  # files met by walk() whose extension is not accepted

    # --- selection --------------------------------------------------------------------------

    @staticmethod
    def is_candidate(name: str) -> bool:
        """True for image names the run processes."""
        lower = name.lower()
        if name.startswith(".") or not lower.endswith(IMAGE_SUFFIXES):
            return False
        return not lower.rsplit(".", 1)[0].endswith("_preview")

    @staticmethod
    def is_ours(name: str) -> bool:
        """Hidden files and what a run itself writes into the input tree (JSON, previews, partials)."""
        lower = name.lower()
        stem = lower.rsplit(".", 1)[0]
        return name.startswith(".") or lower.endswith((".json", ".partial")) or stem.endswith("_preview")

    def walk(self) -> Iterator[ImagePaths]:
        """The images below the input folder, in sorted order; other files go to ``not_accepted``."""
        self.not_accepted = []
        for root, dirs, files in os.walk(self.input_dir):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                if self.is_candidate(name):
                    yield self.paths_for(Path(root) / name)
                elif not self.is_ours(name):
                    self.not_accepted.append((Path(root) / name).relative_to(self.input_dir))

    def paths_for(self, input_file: Path) -> ImagePaths:
        """The paths of one input image."""
        rel = input_file.parent.relative_to(self.input_dir)
        name, stem = input_file.name, input_file.stem
        out_dir = self.output_dir / rel
        arch_dir = self.archive_dir / rel if self.archive_dir is not None else None
        separate = None
        folder = self.config.outputs.separate_preview_directory
        if folder is not None:
            below = relative_input_dir(input_file, self.config.metadata.exif_top_dir)
            separate = Path(folder) / (below or "") / f"{stem}{PREVIEW_SUFFIX}"
        err_dir = self.error_dir / rel
        return ImagePaths(
            input_file=input_file,
            relative_dir=rel,
            output_file=out_dir / name,
            output_json=out_dir / f"{stem}.json",
            output_preview=out_dir / f"{stem}{PREVIEW_SUFFIX}",
            input_json=input_file.parent / f"{stem}.json",
            input_preview=input_file.parent / f"{stem}{PREVIEW_SUFFIX}",
            archive_file=arch_dir / name if arch_dir is not None else None,
            archive_json=arch_dir / f"{stem}.json" if arch_dir is not None else None,
            archive_preview=arch_dir / f"{stem}{PREVIEW_SUFFIX}" if arch_dir is not None else None,
            separate_preview=separate,
            error_file=err_dir / name,
            error_text=err_dir / f"{stem}_error.txt",
            journal_dir=self.journal_root / rel / stem,
        )

    def is_done(self, paths: ImagePaths) -> bool:
        """True when every expected output exists, no in-flight marker says otherwise and no row is owed."""
        return self.state(paths) == "done"

    def state(self, paths: ImagePaths) -> str:
        """``"done"``, ``"row"`` (files complete, the database row still owed) or ``"todo"``."""
        if self.marker_path(paths).exists():
            return "todo"
        if not all(p.exists() for p in paths.expected_outputs(self.config, journal=self.journal)):
            return "todo"
        if self.rows and self.row_marker_path(paths).exists():
            return "row"
        return "done"

    # --- owed database rows -----------------------------------------------------------------

    def row_marker_path(self, paths: ImagePaths) -> Path:
        return self.output_dir / ROWS_DIR / self.marker_path(paths).name

    def owe_row(self, paths: ImagePaths, record: dict[str, object]) -> None:
        """Record (atomically, before the outputs are published) what rebuilds this image's row."""
        record = {"input": os.fspath(paths.input_file), **record}
        atomic_io.write_text(self.row_marker_path(paths), json.dumps(record), make_parents=True)

    def owed_row(self, paths: ImagePaths) -> dict[str, object] | None:
        """The record :meth:`owe_row` wrote, or None (none, or unreadable)."""
        try:
            record = json.loads(self.row_marker_path(paths).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) else None

    def row_written(self, paths: ImagePaths) -> None:
        """The image's row is in the database: drop its marker."""
        self.row_marker_path(paths).unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            (self.output_dir / ROWS_DIR).rmdir()

    # --- in-flight markers ------------------------------------------------------------------

    @property
    def inflight_dir(self) -> Path:
        return self.output_dir / INFLIGHT_DIR

    def marker_path(self, paths: ImagePaths) -> Path:
        key = hashlib.sha1(os.fsencode(paths.input_file.resolve())).hexdigest()[:20]
        return self.inflight_dir / f"{key}.json"

    def mark_inflight(self, paths: ImagePaths, targets: list[Path]) -> None:
        """Record (atomically) that ``targets`` of this image are about to be written."""
        record = {"input": os.fspath(paths.input_file), "targets": [os.fspath(t) for t in targets]}
        # per-image state, like the outputs it guards: atomic, without a disk flush per image
        text = json.dumps(record, ensure_ascii=False)
        atomic_io.write_text(self.marker_path(paths), text, durable=False, make_parents=True)

    def clear_inflight(self, paths: ImagePaths) -> None:
        """The image's outputs are complete: drop its marker."""
        self.marker_path(paths).unlink(missing_ok=True)

    def clear_cache(self) -> int:
        """Delete the outputs of images interrupted earlier (partial and final); returns how many."""
        folder = self.inflight_dir
        if not folder.is_dir():
            return 0
        count = 0
        for marker in sorted(folder.iterdir()):
            if marker.suffix == ".tmp":
                marker.unlink(missing_ok=True)
                continue
            try:
                record = json.loads(marker.read_text(encoding="utf-8"))
                targets = [Path(t) for t in record["targets"]]
            except (OSError, ValueError, KeyError, TypeError):
                _log.warning("unreadable in-flight marker %s removed", marker)
                marker.unlink(missing_ok=True)
                continue
            for target in targets:
                for path in (partial_path(target), target):
                    remove_path(path)
            marker.unlink(missing_ok=True)
            count += 1
            _log.info("cleaned up the interrupted image %s", record.get("input"))
        with contextlib.suppress(OSError):
            folder.rmdir()
        return count


def remove_path(path: Path) -> None:
    """Remove a file or a folder tree if it exists."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def start_walk(
    walker: TreeWalker, *, lazy_paths: bool, retry_seconds: float, timeout_seconds: float, clear_cache: bool
) -> tuple[Iterator[ImagePaths] | list[ImagePaths], int | None, int]:
    """Wait for the input, prepare the output, clear interrupted work: the jobs, their count, images cleaned.

    With ``lazy_paths`` the jobs are an iterator (no count), as the original walked huge trees.
    """
    wait_for_path(walker.input_dir, retry_seconds=retry_seconds, timeout_seconds=timeout_seconds)
    walker.output_dir.mkdir(parents=True, exist_ok=True)
    cleaned = walker.clear_cache() if clear_cache else 0
    jobs: Iterator[ImagePaths] | list[ImagePaths] = walker.walk() if lazy_paths else list(walker.walk())
    return jobs, (None if isinstance(jobs, Iterator) else len(jobs)), cleaned
