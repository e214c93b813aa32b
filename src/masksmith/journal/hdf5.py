"""Spatial video masks in the Journaling Tool's HDF5 layout (h5py).

A file ``<prefix>_mask_<starttime>.hdf5`` has file attributes ``fps``, ``prefix`` and
``mask_format`` (``framefirst``), and one group per contiguous run of frames, named after the
run's first frame, with attributes ``start_time``, ``start_frame``, ``end_time``, ``end_frame``
and a ``masks`` dataset (uint8, frames × rows × cols, gzip, chunked, growable): **0 = changed,
255 = unchanged**, as the edge mask PNGs. The original pre-allocated rows, so readers stop at
``end_frame``. The older layout — one ``masks`` dataset (or group) for the whole file — is read too.
String attributes may come back as bytes from files the original wrote.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from masksmith import atomic_io
from masksmith.errors import JournalError

PathLike = str | os.PathLike[str]
BoolFrames = NDArray[np.bool_]

CHANGED = 0
UNCHANGED = 255
DEFAULT_GZIP = 1  # level 1: 2-3× faster than 4 on dense masks, files ~20% larger
_GROW = 16


def _h5py() -> Any:
    try:
        import h5py
    except ImportError:  # pragma: no cover - only without the extra
        raise JournalError("HDF5 video masks need h5py; install masksmith[video]") from None
    return h5py


def mask_file_name(prefix: str, start_time_ms: float) -> str:
    """``<prefix>_mask_<starttime>.hdf5`` as the original named them."""
    return f"{prefix}_mask_{round(float(start_time_ms), 3)}.hdf5"


@dataclass(frozen=True)
class MaskRun:
    """One contiguous run of frames and its masks (True = changed)."""

    start_frame: int
    end_frame: int
    start_time: float
    end_time: float
    masks: BoolFrames

    @property
    def frames(self) -> int:
        return self.end_frame - self.start_frame + 1


class MaskWriter:
    """Write masks frame by frame; consecutive frames share a run (group), gaps start a new one.

    Written to a temporary file and renamed into place on :meth:`close` (:mod:`masksmith.atomic_io`,
    no fsync: masks are media); :meth:`abort` removes the temporary file.
    """

    def __init__(
        self,
        path: PathLike,
        *,
        fps: float,
        prefix: str = "",
        shape: tuple[int, int],
        gzip: int = DEFAULT_GZIP,
    ) -> None:
        h5py = _h5py()
        self.path = Path(path)
        with contextlib.ExitStack() as stack:
            self._tmp = stack.enter_context(atomic_io.atomic_path(self.path, durable=False))
            self._file = h5py.File(self._tmp, "w")
            self._pending = stack.pop_all()  # closed by close() (replace) or abort() (remove)
        self._file.attrs["fps"] = float(fps)
        self._file.attrs["prefix"] = prefix
        self._file.attrs["mask_format"] = "framefirst"
        self.shape = shape
        self.gzip = gzip
        self._group: Any = None
        self._rows = 0
        self._last_frame: int | None = None
        self.frames_written = 0

    def add(self, frame: int, time_ms: float, changed: NDArray[np.bool_]) -> None:
        """Append the mask of 1-based ``frame`` displayed at ``time_ms`` (True = changed)."""
        if changed.shape != self.shape:
            raise JournalError(f"mask of frame {frame} has shape {changed.shape}, expected {self.shape}")
        if self._group is None or self._last_frame is None or frame != self._last_frame + 1:
            self._finish_run()
            self._group = self._file.create_group(str(frame))
            self._group.attrs["start_frame"] = int(frame)
            self._group.attrs["start_time"] = float(time_ms)
            self._group.create_dataset(
                "masks",
                shape=(_GROW, *self.shape),
                maxshape=(None, *self.shape),
                dtype=np.uint8,
                chunks=(1, *self.shape),
                compression="gzip",
                compression_opts=self.gzip,
            )
            self._rows = 0
        data = self._group["masks"]
        if self._rows >= data.shape[0]:
            data.resize(data.shape[0] * 2, axis=0)
        # 255 where unchanged, 0 where changed (no int64 temporaries)
        data[self._rows] = np.multiply(~changed, np.uint8(UNCHANGED), dtype=np.uint8)
        self._rows += 1
        self._group.attrs["end_frame"] = int(frame)
        self._group.attrs["end_time"] = float(time_ms)
        self._last_frame = frame
        self.frames_written += 1

    def _finish_run(self) -> None:
        if self._group is not None:
            self._group["masks"].resize(self._rows, axis=0)

    def close(self) -> Path:
        self._finish_run()
        self._file.close()
        self._pending.close()
        return self.path

    def abort(self) -> None:
        try:
            self._file.close()
        finally:
            aborted = JournalError("mask writing aborted", file=self.path)
            self._pending.__exit__(type(aborted), aborted, None)

    def __enter__(self) -> MaskWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _attr(attrs: Any, name: str, default: float) -> float:
    value = attrs.get(name)
    if value is None:
        return default
    try:
        return float(_text(value) if isinstance(value, bytes) else value)
    except (TypeError, ValueError):
        return default


def read_attributes(path: PathLike) -> dict[str, Any]:
    """File attributes (``fps``, ``prefix``, ``mask_format``), strings decoded."""
    h5py = _h5py()
    with _open(h5py, path) as handle:
        return {k: (_text(v) if isinstance(v, bytes | str) else v) for k, v in handle.attrs.items()}


def _open(h5py: Any, path: PathLike) -> Any:
    source = Path(path)
    if not source.is_file():
        raise JournalError("HDF5 mask file not found", file=source)
    try:
        return h5py.File(source, "r")
    except OSError as exc:
        raise JournalError(f"not an HDF5 mask file: {exc}", file=source) from None


def _to_changed(block: NDArray[Any], fmt: str) -> BoolFrames:
    if fmt == "framelast" and block.ndim == 3:  # rows × cols × frames
        block = np.moveaxis(block, -1, 0)
    return np.asarray(block == CHANGED) if block.size else np.zeros(block.shape, bool)


def iter_runs(path: PathLike) -> Iterator[MaskRun]:
    """Every run of a mask file, in frame order; the older single-``masks`` layout included."""
    h5py = _h5py()
    with _open(h5py, path) as handle:
        fps = _attr(handle.attrs, "fps", 0.0)
        fmt = _text(handle.attrs.get("mask_format", "framefirst"))
        step = 1000.0 / fps if fps else 0.0
        if "masks" in handle:
            node = handle["masks"]
            dataset = node if isinstance(node, h5py.Dataset) else node.get("masks")
            attrs = node.attrs if not isinstance(node, h5py.Dataset) else handle.attrs
            if dataset is None:
                raise JournalError("old-layout 'masks' group holds no dataset", file=path)
            yield _run(dataset, attrs, fmt, step, default_start=1)
            return
        groups = [(name, node) for name, node in handle.items() if isinstance(node, h5py.Group)]
        groups.sort(key=lambda item: _attr(item[1].attrs, "start_frame", 0.0))
        for _name, group in groups:
            if "masks" not in group:
                continue
            yield _run(group["masks"], group.attrs, fmt, step, default_start=1)


def _run(dataset: Any, attrs: Any, fmt: str, step: float, *, default_start: int) -> MaskRun:
    start = int(_attr(attrs, "start_frame", default_start))
    rows = int(dataset.shape[-1] if fmt == "framelast" else dataset.shape[0])
    end = int(_attr(attrs, "end_frame", start + rows - 1))
    count = max(0, min(rows, end - start + 1))
    block = dataset[..., :count] if fmt == "framelast" else dataset[:count]
    start_time = _attr(attrs, "start_time", (start - 1) * step)
    end_time = _attr(attrs, "end_time", start_time + (count - 1) * step)
    return MaskRun(start, start + count - 1, start_time, end_time, _to_changed(np.asarray(block), fmt))


def read_runs(path: PathLike) -> list[MaskRun]:
    return list(iter_runs(path))


def frame_masks(path: PathLike) -> dict[int, NDArray[np.bool_]]:
    """Frame number → mask (True = changed), for the frames a file covers."""
    out: dict[int, NDArray[np.bool_]] = {}
    for run in iter_runs(path):
        for offset, mask in enumerate(run.masks):
            out[run.start_frame + offset] = mask
    return out


def mask_at(directory: PathLike, segments: Iterable[Any], frame: int) -> NDArray[np.bool_] | None:
    """The spatial mask of ``frame`` from whichever segment's HDF5 file covers it (None if none does).

    ``segments`` are :class:`~masksmith.journal.segments.Segment` values; their file names must be
    plain names inside ``directory`` (anything else is refused).
    """
    folder = Path(directory)
    for item in segments:
        name = getattr(item, "videosegment", None)
        if not name or not (item.startframe <= frame <= item.endframe):
            continue
        if Path(name).name != name or name in (".", ".."):
            raise JournalError(f"segment file {name!r} is not a plain file name", file=folder)
        for run in iter_runs(folder / name):
            if run.start_frame <= frame <= run.end_frame:
                return np.asarray(run.masks[frame - run.start_frame], dtype=bool)
    return None
