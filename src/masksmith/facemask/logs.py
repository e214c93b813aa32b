"""The facemask run's record: ``logs.csv`` (one row per output or per skipped image) and ``missed_images.txt``.

Both files are started afresh (atomically) when a run begins and then appended to image by image: each
image's rows go out in one ``os.write`` on an ``O_APPEND`` descriptor, so a run killed at any moment leaves
a CSV whose every line is a complete row.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from masksmith.media.io import atomic_write_bytes

__all__ = ["LOG_COLUMNS", "LOG_NAME", "MISSED_NAME", "RunLog", "read_log"]

LOG_NAME = "logs.csv"
MISSED_NAME = "missed_images.txt"

#: Column order of logs.csv. ``error`` is empty for a written output, else ``no_face``, ``unreadable``,
#: ``failed``, ``skipped: pose`` or ``skipped: fit`` (``detail`` says why). ``mask_colors`` lists every
#: colour drawn (``#rrggbb``, space-separated); yaw, pitch and roll are degrees. ``output_path`` is relative to the output folder. Boxes and landmarks
#: are in the input image's (upright) pixels.
LOG_COLUMNS: tuple[str, ...] = (
    "image_path",
    "face_index",
    "augmentation_index",
    "mask_type",
    "mask_color",
    "mask_color_name",
    "mask_pattern",
    "mask_color2",
    "mask_colors",
    "mask_fit",
    "crop_style",
    "error",
    "output_path",
    "detail",
    "face_score",
    "face_box",
    "landmarks5",
    "yaw",
    "pitch",
    "roll",
)


def _csv_text(rows: Iterable[Mapping[str, Any]], *, header: bool = False) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=LOG_COLUMNS, lineterminator="\n", extrasaction="raise")
    if header:
        writer.writeheader()
    for row in rows:
        writer.writerow({key: "" if row.get(key) is None else row.get(key) for key in LOG_COLUMNS})
    return buffer.getvalue()


class RunLog:
    """Appends image results to ``logs.csv`` and ``missed_images.txt`` in ``folder`` (created)."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.log_path = self.folder / LOG_NAME
        self.missed_path = self.folder / MISSED_NAME
        atomic_write_bytes(self.log_path, _csv_text([], header=True).encode("utf-8"))
        atomic_write_bytes(self.missed_path, b"")
        flags = os.O_WRONLY | os.O_APPEND
        self._log_fd: int | None = os.open(self.log_path, flags)
        self._missed_fd: int | None = os.open(self.missed_path, flags)

    def add(self, rows: Iterable[Mapping[str, Any]], *, missed: str | None = None) -> None:
        """Append one image's rows (and its path to the missed list when given)."""
        if self._log_fd is None or self._missed_fd is None:
            raise ValueError("the run log is closed")
        text = _csv_text(rows)
        if text:
            os.write(self._log_fd, text.encode("utf-8"))
        if missed is not None:
            os.write(self._missed_fd, (missed.replace("\n", " ") + "\n").encode("utf-8"))

    def close(self) -> None:
        for fd in (self._log_fd, self._missed_fd):
            if fd is not None:
                os.close(fd)
        self._log_fd = self._missed_fd = None

    def __enter__(self) -> RunLog:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def read_log(path: str | os.PathLike[str]) -> list[dict[str, str]]:
    """The rows of a ``logs.csv`` as dictionaries (column → text)."""
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))
