"""Writing report files (pages, pictures, CSV) through :mod:`masksmith.atomic_io`.

The builders of the report layer (layout, graph pictures, pages) return content; the functions here put
it on disk atomically and durably, turning an operating-system failure into :class:`ExportError`.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Mapping
from pathlib import Path

from masksmith import atomic_io
from masksmith.errors import ExportError
from masksmith.report.layout import Point, positions_csv

__all__ = ["export_positions_csv", "write_file"]


def write_file(path: str | os.PathLike[str], data: bytes) -> Path:
    """Replace ``path`` with ``data`` atomically; a failure is an :class:`ExportError` naming the file."""
    target = Path(path)
    try:
        atomic_io.write_bytes(target, data)
    except OSError as exc:
        raise ExportError(f"write failed ({exc.strerror or exc})", file=target) from exc
    return target


def export_positions_csv(positions: Mapping[Hashable, Point], path: str | os.PathLike[str]) -> Path:
    """Write one ``node id,x,y`` row per node (see :func:`~masksmith.report.layout.positions_csv`), atomically."""
    return write_file(path, positions_csv(positions).encode("utf-8"))
