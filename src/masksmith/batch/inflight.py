"""In-flight project records: what a running project has taken, so a kill -9 can be undone.

Before a pool image goes onto a picklist, the project writes it into its record
``<workdir>/inflight/<host>-<pid>-<token>.json`` (atomically), so at every moment each picklist entry
belongs to a finished project, a recorded failure, or a record. A later run finds the records of dead
processes and puts their images back (:func:`recover_stale`), removes their partial directories and
leaves no image taken by nobody.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import socket
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

import numpy as np

from masksmith import atomic_io
from masksmith.batch.state import (
    FailureLog,
    Picklist,
    atomic_write_text,
    dumps,
    locked,
    read_failures,
    read_lines,
)

__all__ = [
    "INFLIGHT_DIR",
    "OWNER_FILE",
    "PARTIAL_MARK",
    "InflightRecord",
    "Pick",
    "RecoveryReport",
    "claim_pick",
    "folder_owner_dead",
    "partial_dir_name",
    "pid_alive",
    "process_start",
    "recover_stale",
    "release_names",
    "write_owner",
]

log = logging.getLogger(__name__)

INFLIGHT_DIR = "inflight"
PARTIAL_MARK = ".partial-"
_HOST = socket.gethostname()


def partial_dir_name(name: str, pid: int | None = None) -> str:
    """``.<name>.partial-<pid>``: where a project is built before it is renamed into place."""
    return f".{name}{PARTIAL_MARK}{os.getpid() if pid is None else pid}"


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


OWNER_FILE = ".masksmith-owner.json"
"""Written into a partial project folder or an export staging folder: host, pid and process start."""


def process_start(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot, from ``/proc``), None where unknown.

    Together with the pid it names one process for good: a pid reused later has another start.
    """
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    fields = text.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


def write_owner(folder: str | os.PathLike[str]) -> Path:
    """Mark ``folder`` as this process's (host, pid, start time), atomically."""
    path = Path(folder) / OWNER_FILE
    owner = {"host": _HOST, "pid": os.getpid(), "start": process_start(os.getpid())}
    atomic_write_text(path, dumps(owner) + "\n")
    return path


def _owner_dead(host: object, pid: object, start: object) -> bool:
    if host != _HOST or not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False  # another machine's, or unreadable: not provably dead
    if not pid_alive(pid):
        return True
    now = process_start(pid)
    return isinstance(start, str) and now is not None and now != start  # the pid was reused


def folder_owner_dead(folder: str | os.PathLike[str], *, name_pid: int | None = None) -> bool:
    """True only when the process that made ``folder`` is provably gone.

    The folder's owner file (host, pid, start time) decides; without one, ``name_pid`` (the pid in
    the folder's name, on this host) counts as the owner when it is not alive. Anything else — an
    owner file being written, another host, a live pid with its start time — keeps the folder.
    """
    path = Path(folder) / OWNER_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return name_pid is not None and not pid_alive(name_pid)
    except (OSError, ValueError):
        return False
    if not isinstance(data, dict):
        return False
    return _owner_dead(data.get("host"), data.get("pid"), data.get("start"))


def partial_owner_dead(partial: str | os.PathLike[str]) -> bool:
    """Whether a ``.<name>.partial-<pid>`` folder was left by a process that is provably dead."""
    pid_text = Path(partial).name.rsplit(PARTIAL_MARK, 1)[-1]
    return folder_owner_dead(partial, name_pid=int(pid_text) if pid_text.isdigit() else None)


class Pick(TypedDict):
    """One image a project took: its picklist, its file name, and the permute group holding it (or None)."""

    picklist: str
    name: str
    group: str | None


@dataclass
class InflightRecord:
    """One running project's record (status, picks, names, permutation state), rewritten atomically."""

    path: Path
    data: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def create(cls, workdir: str | os.PathLike[str]) -> InflightRecord:
        folder = Path(workdir) / INFLIGHT_DIR
        folder.mkdir(parents=True, exist_ok=True)
        token = uuid.uuid4().hex[:12]
        record = cls(
            folder / f"{_HOST}-{os.getpid()}-{token}.json",
            {"pid": os.getpid(), "host": _HOST, "status": "picking", "picks": []},
        )
        record.save()
        return record

    def save(self) -> None:
        # Atomic against kills; not durable: a record only has to survive the process, and syncing
        # three times per project would cost more than the journal itself.
        atomic_io.write_text(self.path, dumps(self.data) + "\n", durable=False)

    def update(self, **values: object) -> None:
        with self._lock:
            self.data.update(values)
            self.save()

    def add_pick(self, picklist: str, name: str, *, group: str | None = None) -> None:
        with self._lock:
            pick: Pick = {"picklist": picklist, "name": name, "group": group}
            self.data["picks"].append(pick)
            self.save()

    @property
    def picks(self) -> list[Pick]:
        return list(self.data.get("picks", []))

    def remove(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def claim_pick(
    picklist: Picklist,
    pool: Sequence[str],
    rng: np.random.Generator | None,
    record: InflightRecord | None,
    *,
    group: str | None = None,
) -> str:
    """Pick an unused pool file: written to ``record`` first, then to the picklist (``Picklist.pick``)."""

    def note(name: str) -> None:
        if record is not None:
            record.add_pick(picklist.name, name, group=group)

    return picklist.pick(pool, rng, on_pick=note)


def release_names(picklist_path: Path, names: Sequence[str]) -> list[str]:
    """Take ``names`` off a picklist file (they go back to the pool); returns those removed."""
    wanted = set(names)
    with locked(picklist_path):
        lines = read_lines(picklist_path)
        removed = [line for line in lines if line in wanted]
        if removed:
            kept = [line for line in lines if line not in wanted]
            atomic_write_text(picklist_path, "".join(f"{line}\n" for line in kept))
        return removed


@dataclass
class RecoveryReport:
    """What :func:`recover_stale` cleaned up."""

    records: int = 0
    partial_dirs: list[str] = field(default_factory=list)
    released: list[str] = field(default_factory=list)
    committed: list[str] = field(default_factory=list)
    failures_recorded: int = 0


def _iter_records(workdir: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    folder = workdir / INFLIGHT_DIR
    if not folder.is_dir():
        return
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue  # half-written by a live process, or unreadable: not ours to judge
        if isinstance(data, dict):
            yield path, data


def _held_by_groups(workdir: Path) -> set[str]:
    """Files currently held by a permute group's selection cursor (they stay taken)."""
    held: set[str] = set()
    for path in workdir.glob("permutegroup-*.json"):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        for cursor in (data.get("elements") or {}).values():
            if isinstance(cursor, Mapping) and isinstance(cursor.get("file"), str):
                held.add(os.path.basename(cursor["file"]))
    return held


def _recorded(workdir: Path, state: Mapping[str, Any]) -> bool:
    line = dumps({g: {k: v for k, v in vals.items() if v is not None} for g, vals in state.items()})
    for path in workdir.glob("failures-*.txt"):
        with contextlib.suppress(Exception):
            if any(dumps(s) == line for s in read_failures(path)):
                return True
    return False


def recover_stale(workdir: str | os.PathLike[str], projects: str | os.PathLike[str]) -> RecoveryReport:
    """Undo what killed processes left: partial directories, their picks, their in-flight records.

    A record of a dead process on this host is resolved by its status: ``committing`` with the final
    directory in place counts as made; ``failing`` keeps its picks and makes sure its state is in a
    failure file; anything else puts its picks back on the pool (unless a permute group still holds
    the image) and removes its partial directory. Partial directories of dead processes without a
    record are removed too.
    """
    work, results = Path(workdir), Path(projects)
    report = RecoveryReport()
    held: set[str] | None = None
    for path, data in _iter_records(work):
        pid = data.get("pid")
        if data.get("host") != _HOST or not isinstance(pid, int) or pid_alive(pid):
            continue
        report.records += 1
        status = data.get("status")
        final = data.get("final")
        partial = data.get("partial")
        if (
            status == "committing"
            and final
            and (results / final).is_dir()
            and not (partial and (results / partial).exists())
        ):
            report.committed.append(str(final))
        elif status == "failing":
            state = data.get("state") or {}
            if state and not _recorded(work, state):
                FailureLog(work).append(state)
                report.failures_recorded += 1
        else:
            if held is None:
                held = _held_by_groups(work)
            by_list: dict[str, list[str]] = {}
            for pick in data.get("picks", []):
                if pick.get("group") and pick.get("name") in held:
                    continue
                by_list.setdefault(str(pick["picklist"]), []).append(str(pick["name"]))
            for picklist, names in by_list.items():
                report.released += release_names(work / f"{picklist}.txt", names)
        leftover = results / str(partial) if partial else None
        if (
            leftover is not None
            and PARTIAL_MARK in leftover.name
            and leftover.parent == results
            and leftover.exists()
            and status != "failing"
            and partial_owner_dead(leftover)
        ):
            shutil.rmtree(leftover, ignore_errors=True)
            report.partial_dirs.append(str(partial))
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    folder = work / INFLIGHT_DIR
    if folder.is_dir():
        for tmp in folder.glob(".*.tmp"):
            parts = tmp.name[1:].split(".json.", 1)[0].rsplit("-", 2)
            if len(parts) == 3 and parts[0] == _HOST and parts[1].isdigit() and not pid_alive(int(parts[1])):
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
    if results.is_dir():
        for entry in results.iterdir():
            if not entry.is_dir() or not entry.name.startswith(".") or PARTIAL_MARK not in entry.name:
                continue
            if partial_owner_dead(entry):
                shutil.rmtree(entry, ignore_errors=True)
                report.partial_dirs.append(entry.name)
    if report.records or report.partial_dirs:
        log.warning(
            "recovered from an interrupted run: %d in-flight record(s), %d partial dir(s) removed, "
            "%d image(s) back in the pool",
            report.records,
            len(report.partial_dirs),
            len(report.released),
        )
    return report
