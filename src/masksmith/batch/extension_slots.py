"""Kill-safe working copies of journals being extended, and recovery of what killed runs left.

Each project (a journal folder or a ``.tgz``) is extended in a working copy next to it,
``.<item>.ext-<pid>.work``. A small state file ``.<item>.ext-<pid>.state`` says how far it got:
``working`` → ``ready`` (the extended copy is complete: the commit point) → ``swapped`` (it replaced
the original: a folder by two renames, a ``.tgz`` by ``os.replace`` of a re-made archive) → recorded
in the completion file → cleaned up. A later run finishes what a killed process committed and
discards what it did not, so every journal is extended exactly once and is never left half-written.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from masksmith.batch.inflight import pid_alive
from masksmith.batch.state import CompletionFile, atomic_write_text

__all__ = ["Recovery", "Slot", "dead_slots", "finish_slot", "recover_extensions", "recover_slot", "slot_key"]

log = logging.getLogger("masksmith.batch")

_TAG = ".ext-"


def slot_key(item: Path) -> str:
    return str(item.resolve())


@dataclass
class Slot:
    """The working names of one item for process ``pid`` (all in the item's own folder)."""

    item: Path
    pid: int
    archive: bool

    @property
    def stem(self) -> str:
        return f".{self.item.name}{_TAG}{self.pid}"

    def _sibling(self, suffix: str) -> Path:
        return self.item.parent / f"{self.stem}{suffix}"

    @property
    def state(self) -> Path:
        return self._sibling(".state")

    @property
    def work(self) -> Path:
        return self._sibling(".work")

    @property
    def ready(self) -> Path:
        return self._sibling(".ready.tgz" if self.archive else ".ready")

    @property
    def old(self) -> Path:
        return self._sibling(".old")

    def stage(self) -> str | None:
        try:
            info = json.loads(self.state.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, json.JSONDecodeError):
            return "working"
        return str(info.get("stage", "working"))

    def write(self, stage: str) -> None:
        atomic_write_text(
            self.state, json.dumps({"item": self.item.name, "stage": stage, "archive": self.archive}) + "\n"
        )

    def cleanup(self) -> None:
        for path in (self.work, self.old, self.ready):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            elif path.exists():
                path.unlink(missing_ok=True)
        self.state.unlink(missing_ok=True)  # last: while it exists, a later run can finish the job


def _swap(slot: Slot) -> None:
    """Put the ready copy in place of the item; safe to repeat after a kill at any point."""
    if slot.archive:
        if slot.ready.is_file():
            os.replace(slot.ready, slot.item)
        return
    if slot.ready.is_dir():
        if slot.item.exists() and not slot.old.exists():
            os.rename(slot.item, slot.old)
        os.rename(slot.ready, slot.item)


def finish_slot(slot: Slot, completion: CompletionFile | None) -> None:
    _swap(slot)
    slot.write("swapped")
    if completion is not None:
        completion.add(slot_key(slot.item))
    slot.cleanup()


def recover_slot(slot: Slot, completion: CompletionFile | None) -> bool:
    """Finish committed work (True) or discard the rest (False)."""
    if slot.stage() in ("ready", "swapped"):
        finish_slot(slot, completion)
        log.warning("finished the interrupted extension of %s", slot.item)
        return True
    slot.cleanup()
    log.warning("discarded the interrupted extension of %s", slot.item)
    return False


@dataclass
class Recovery:
    """What :func:`recover_extensions` did: items whose extension it finished or discarded."""

    finished: list[Path] = field(default_factory=list)
    discarded: list[Path] = field(default_factory=list)


def dead_slots(item: Path) -> list[Slot]:
    """Slots of ``item`` whose state file names a process (on this host) that no longer runs."""
    prefix = f".{item.name}{_TAG}"
    slots = []
    for state in sorted(item.parent.glob(f"{glob.escape(prefix)}*.state")):
        pid_text = state.name[len(prefix) : -len(".state")]
        if not pid_text.isdigit() or int(pid_text) == os.getpid() or pid_alive(int(pid_text)):
            continue
        archive = item.is_file() or item.parent.joinpath(f"{prefix}{pid_text}.ready.tgz").exists()
        slots.append(Slot(item, int(pid_text), archive))
    return slots


def recover_extensions(
    directory: str | os.PathLike[str], completion: CompletionFile | None = None
) -> Recovery:
    """Finish or discard what killed extension processes left in ``directory``.

    Work that reached ``ready`` is put in place and recorded as complete; earlier stages are
    discarded, leaving the item as it was. Live processes' work is left alone.
    """
    folder = Path(directory)
    report = Recovery()
    if not folder.is_dir():
        return report
    for entry in sorted(folder.iterdir()):
        name = entry.name
        if not name.startswith(".") or _TAG not in name:
            continue
        head, _, tail = name[1:].rpartition(_TAG)
        pid_text = tail.split(".", 1)[0]
        if not head or not pid_text.isdigit() or pid_alive(int(pid_text)):
            continue
        item = folder / head
        archive = (folder / f".{head}{_TAG}{pid_text}.ready.tgz").exists() or item.is_file()
        slot = Slot(item, int(pid_text), archive)
        if entry != slot.state:
            if not slot.state.exists() and entry.exists():  # left by an interrupted cleanup
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
            continue
        (report.finished if recover_slot(slot, completion) else report.discarded).append(item)
    return report
