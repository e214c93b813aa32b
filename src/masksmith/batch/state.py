"""Workdir state files: picklists, failure files, completion file and project claims.

Every file is updated under a file lock (safe across threads and processes) and written whole to a
temporary name then ``os.replace``d, so a kill at any moment leaves either the old or the new content.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import socket
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock, Timeout

from masksmith import atomic_io
from masksmith.errors import MasksmithError

__all__ = [
    "CompletionFile",
    "FailureLog",
    "Picklist",
    "PoolExhausted",
    "ProjectClaims",
    "StateError",
    "atomic_write_text",
    "dumps",
    "failure_file_name",
    "list_pool",
    "locked",
    "pick",
    "read_failures",
    "read_lines",
]

LOCK_TIMEOUT_S = 120.0
"""How long to wait for another thread or process holding a state file lock."""


class StateError(MasksmithError):
    """A workdir state file cannot be read, written or locked."""


class PoolExhausted(StateError):
    """Every file of a selection pool is already on its picklist."""


# --------------------------------------------------------------------------------------------------
# Locking and atomic writes
# --------------------------------------------------------------------------------------------------

_LOCKS: dict[str, tuple[threading.RLock, FileLock]] = {}
_LOCKS_GUARD = threading.Lock()


def _locks_for(key: str) -> tuple[threading.RLock, FileLock]:
    # One FileLock object per path, so a thread re-entering the lock counts up instead of deadlocking.
    with _LOCKS_GUARD:
        if key not in _LOCKS:
            _LOCKS[key] = (threading.RLock(), FileLock(key + ".lock", thread_local=False))
        return _LOCKS[key]


@contextlib.contextmanager
def locked(path: str | os.PathLike[str], *, timeout: float = LOCK_TIMEOUT_S) -> Iterator[Path]:
    """Hold the lock of state file ``path`` (``<path>.lock``) against other threads and processes."""
    target = Path(path).absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    thread_lock, file_lock = _locks_for(str(target))
    # The thread lock serialises this process's threads; the file lock serialises processes.
    with thread_lock:
        try:
            file_lock.acquire(timeout=timeout)
        except Timeout:
            raise StateError(f"timed out after {timeout:g} s waiting for the lock", file=target) from None
        try:
            yield target
        finally:
            file_lock.release()


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same directory and ``os.replace``."""
    atomic_io.write_text(path, text, make_parents=True)


def read_lines(path: str | os.PathLike[str]) -> list[str]:
    """Non-empty, stripped lines of a text file; empty list when it does not exist."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise StateError(f"cannot read state file: {exc.strerror or exc}", file=path) from None
    return [line.strip() for line in text.splitlines() if line.strip()]


def _append_lines(path: Path, lines: Sequence[str]) -> None:
    """Append lines atomically: the caller holds the lock; the file is rewritten whole."""
    atomic_io.append_lines(path, lines)


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(value: object) -> str:
    """One-line JSON, converting numpy scalars/arrays, paths, sets and tuples."""
    return json.dumps(value, default=_jsonable, sort_keys=False)


# --------------------------------------------------------------------------------------------------
# Picklists
# --------------------------------------------------------------------------------------------------


def list_pool(directory: str | os.PathLike[str], filetypes: Sequence[str] | None = None) -> list[str]:
    """Files of a selection pool, sorted by name; ``filetypes`` are suffixes without the dot."""
    root = Path(directory)
    if not root.is_dir():
        raise StateError("image directory does not exist", file=root)
    wanted = {t.lower().lstrip(".") for t in filetypes} if filetypes else None
    files = []
    for entry in sorted(root.iterdir()):
        if not entry.is_file() or entry.name.startswith("."):
            continue
        if wanted is not None and entry.suffix.lower().lstrip(".") not in wanted:
            continue
        files.append(str(entry))
    return files


class Picklist:
    """Names already picked from a pool: ``<workdir>/<name>.txt``, one file name per line.

    Nodes naming the same picklist share it, so one image is never used twice across nodes, threads,
    processes or runs.
    """

    def __init__(self, workdir: str | os.PathLike[str], name: str) -> None:
        if not name or os.sep in name or (os.altsep and os.altsep in name) or name in (".", ".."):
            raise StateError(f"picklist name {name!r} must be a plain file stem")
        self.name = name
        self.path = Path(workdir) / f"{name}.txt"

    def used(self) -> set[str]:
        """Names already taken."""
        return set(read_lines(self.path))

    def add(self, *names: str) -> None:
        """Record names as used (e.g. files chosen elsewhere or restored from a failure file)."""
        with locked(self.path):
            used = self.used()
            new = [os.path.basename(n) for n in names if os.path.basename(n) not in used]
            if new:
                _append_lines(self.path, new)

    def pick(
        self,
        pool_files: Sequence[str],
        rng: np.random.Generator | None = None,
        *,
        on_pick: Callable[[str], None] | None = None,
    ) -> str:
        """Take an unused file of ``pool_files`` and record it before returning it: the one picklist claim.

        With ``rng`` the file is drawn at random among the unused ones; without, the first unused in
        pool order. ``on_pick(file name)`` runs under the picklist's lock before the name is written
        (a project's in-flight record notes it there first). Raises PoolExhausted when every file is used.
        """
        with locked(self.path):
            used = self.used()
            unused = [f for f in pool_files if os.path.basename(f) not in used]
            if not unused:
                where = f" in {os.path.dirname(pool_files[0]) or '.'}" if pool_files else ""
                raise PoolExhausted(
                    f"picklist {self.name!r} is exhausted: all {len(pool_files)} files of the pool{where}"
                    " are used",
                    file=self.path,
                )
            choice = unused[int(rng.integers(len(unused)))] if rng is not None else unused[0]
            if on_pick is not None:
                on_pick(os.path.basename(choice))
            _append_lines(self.path, [os.path.basename(choice)])
            return choice

    def __repr__(self) -> str:
        return f"Picklist({self.path!s})"


def pick(pool_files: Sequence[str], picklist: Picklist, rng: np.random.Generator | None = None) -> str:
    """Pick an unused file from ``pool_files`` and record it on ``picklist`` (see ``Picklist.pick``)."""
    return picklist.pick(pool_files, rng)


# --------------------------------------------------------------------------------------------------
# Failure files
# --------------------------------------------------------------------------------------------------


def failure_file_name(when: _dt.datetime | None = None) -> str:
    """``failures-YYYY_MM_DD_HH_MM_SS.txt`` (the original code's name; its doc drops the seconds)."""
    return (when or _dt.datetime.now()).strftime("failures-%Y_%m_%d_%H_%M_%S.txt")


class FailureLog:
    """A dated file in the workdir with one JSON line per failed project's permutation state.

    Each line maps group name to ``{element: value}``, e.g. ``{"__global__": {"0": "/pool/a.jpg"}}``;
    the file can be handed back to a run to redo exactly those projects.
    """

    def __init__(self, workdir: str | os.PathLike[str], *, when: _dt.datetime | None = None) -> None:
        self.path = Path(workdir) / failure_file_name(when)

    def append(self, state: Mapping[str, Any]) -> None:
        """Append one failed state (None values are dropped, as the original did)."""
        cleaned = {group: _drop_none(values) for group, values in state.items()}
        with locked(self.path):
            _append_lines(self.path, [dumps(cleaned)])

    def read(self) -> list[dict[str, Any]]:
        return read_failures(self.path)


def _drop_none(values: Any) -> Any:
    return {k: v for k, v in values.items() if v is not None} if isinstance(values, Mapping) else values


def read_failures(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The failed states of a failure file, in order."""
    states = []
    for number, line in enumerate(read_lines(path), start=1):
        try:
            state = json.loads(line)
        except json.JSONDecodeError as exc:
            raise StateError(f"line {number} is not JSON: {exc.msg}", file=path) from None
        if not isinstance(state, dict):
            raise StateError(f"line {number} is not a JSON object", file=path)
        states.append(state)
    return states


# --------------------------------------------------------------------------------------------------
# Completion file
# --------------------------------------------------------------------------------------------------


class CompletionFile:
    """Names of finished journals (one per line), so an interrupted extend/export run can skip them."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def names(self) -> list[str]:
        """Finished names in completion order."""
        return read_lines(self.path)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.strip() in set(self.names())

    def add(self, name: str) -> None:
        """Record ``name`` as finished (idempotent)."""
        if "\n" in name or not name.strip():
            raise StateError(f"completion entry {name!r} must be one non-empty line", file=self.path)
        with locked(self.path):
            if name.strip() not in set(self.names()):
                _append_lines(self.path, [name.strip()])


# --------------------------------------------------------------------------------------------------
# Project claims
# --------------------------------------------------------------------------------------------------


class ProjectClaims:
    """Exclusive claims on project names: ``<directory>/<name>.claim`` created with O_EXCL.

    A worker claims a project name before building it and releases it when the project succeeded or
    failed; a claim left by a killed process on this host is stale and may be reclaimed.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def _path(self, name: str) -> Path:
        if not name or os.sep in name or name in (".", ".."):
            raise StateError(f"project name {name!r} must be a plain directory name")
        return self.directory / f"{name}.claim"

    def claim(self, name: str, *, reclaim_stale: bool = True) -> bool:
        """True when this process now holds ``name``; False when someone else holds it."""
        path = self._path(name)
        self.directory.mkdir(parents=True, exist_ok=True)
        payload = dumps({"pid": os.getpid(), "host": socket.gethostname(), "thread": threading.get_ident()})
        for _ in range(2):
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                if reclaim_stale and self._is_stale(path):
                    with contextlib.suppress(FileNotFoundError):
                        path.unlink()
                    continue
                return False
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(payload)
            return True
        return False

    def release(self, name: str) -> None:
        """Drop the claim (no error if it is already gone)."""
        with contextlib.suppress(FileNotFoundError):
            self._path(name).unlink()

    def claimed(self) -> list[str]:
        """Names currently claimed."""
        if not self.directory.is_dir():
            return []
        return sorted(p.name.removesuffix(".claim") for p in self.directory.glob("*.claim"))

    @contextlib.contextmanager
    def holding(self, name: str) -> Iterator[bool]:
        """Claim for the duration of a ``with`` block; yields whether the claim succeeded."""
        got = self.claim(name)
        try:
            yield got
        finally:
            if got:
                self.release(name)

    @staticmethod
    def _is_stale(path: Path) -> bool:
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return False  # being written right now, or unreadable: leave it
        if info.get("host") != socket.gethostname() or not isinstance(info.get("pid"), int):
            return False
        try:
            os.kill(info["pid"], 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False
