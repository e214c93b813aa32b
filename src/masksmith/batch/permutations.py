"""Permute groups (§3.9): odometers over argument values and image selections, with persisted cursors.

Elements of a group are iterated as an odometer: the element defined first varies slowest and the one
defined last fastest. When every element has run through its values the group wraps round to its
first combination. A selection element (an image pool) is never reset: it keeps its image while the
other elements run through their values, then takes a new unused image from its picklist; when the
pool is exhausted the group is too (``PermutationExhausted``).

Cursors live in ``<workdir>/permutegroup-<group>.json``. ``PermutationManager.advance`` re-reads the
file, steps and writes it back atomically under a file lock, so threads, processes and later runs
continue the same sequence instead of repeating it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from masksmith.batch.spec import BatchSpec, PermuteMember, SelectionNode
from masksmith.batch.state import (
    Picklist,
    PoolExhausted,
    StateError,
    atomic_write_text,
    dumps,
    locked,
)
from masksmith.errors import MasksmithError

__all__ = [
    "Element",
    "PermutationExhausted",
    "PermutationGroup",
    "PermutationManager",
    "SelectionElement",
    "SequenceElement",
    "group_file_name",
]


class PermutationExhausted(MasksmithError):
    """A permute group cannot produce another combination (its image pool is used up)."""


def _plain(value: Any) -> Any:
    """The value as plain JSON data (numpy scalars, tuples converted), to compare with saved cursors."""
    return json.loads(dumps(value))


class Element(ABC):
    """One iterable member of a permute group."""

    resettable: bool = True

    def __init__(self, name: str) -> None:
        self.name = name

    @property
    @abstractmethod
    def started(self) -> bool:
        """Whether the element holds a current value."""

    @property
    @abstractmethod
    def current(self) -> Any:
        """The current value (None before the first ``start``)."""

    @abstractmethod
    def start(self) -> None:
        """Move to the first value (a selection element takes a new image)."""

    @abstractmethod
    def can_step(self) -> bool:
        """Whether ``step`` would succeed."""

    @abstractmethod
    def step(self) -> bool:
        """Move to the next value; False (cursor unchanged) when there is none."""

    @abstractmethod
    def cursor(self) -> dict[str, Any]:
        """JSON-able cursor for the state file."""

    @abstractmethod
    def restore(self, cursor: Mapping[str, Any]) -> None:
        """Position the element from a saved cursor."""


class SequenceElement(Element):
    """Ordered values: an int/float range with step, a list, yes/no, or values a plugin returned."""

    def __init__(self, name: str, values: Iterable[Any]) -> None:
        super().__init__(name)
        self.values = list(values)
        if not self.values:
            raise StateError(f"permute element {name!r} has no values")
        self.index: int | None = None

    @property
    def started(self) -> bool:
        return self.index is not None

    @property
    def current(self) -> Any:
        return None if self.index is None else self.values[self.index]

    def start(self) -> None:
        self.index = 0

    def can_step(self) -> bool:
        return self.index is not None and self.index + 1 < len(self.values)

    def step(self) -> bool:
        if not self.can_step():
            return False
        assert self.index is not None
        self.index += 1
        return True

    def cursor(self) -> dict[str, Any]:
        return {"index": self.index, "value": _plain(self.current)}

    def restore(self, cursor: Mapping[str, Any]) -> None:
        index, value = cursor.get("index"), cursor.get("value")
        plain = [_plain(v) for v in self.values]
        if isinstance(index, int) and 0 <= index < len(plain) and plain[index] == value:
            self.index = index
        elif index is not None and value in plain:
            # The value list changed (spec edited): continue from the saved value.
            self.index = plain.index(value)
        else:
            self.index = None if index is None else 0


class SelectionElement(Element):
    """An image pool: keeps its current image until the group carries into it, then picks a new one.

    Picks go through a ``Picklist`` (shared by nodes naming the same picklist) so images are never
    reused across projects, threads or processes. It never resets.
    """

    resettable = False

    def __init__(
        self,
        name: str,
        pool: Sequence[str] | Callable[[], Sequence[str]],
        picklist: Picklist,
        *,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__(name)
        self._pool = pool
        self.picklist = picklist
        self.rng = rng
        self.file: str | None = None

    def pool(self) -> Sequence[str]:
        return self._pool() if callable(self._pool) else self._pool

    @property
    def started(self) -> bool:
        return self.file is not None

    @property
    def current(self) -> Any:
        return self.file

    def start(self) -> None:
        if not self.step():
            raise PermutationExhausted(
                f"permute element {self.name!r}: picklist {self.picklist.name!r} has no unused file",
                file=self.picklist.path,
            )

    def can_step(self) -> bool:
        used = self.picklist.used()
        return any(os.path.basename(f) not in used for f in self.pool())

    def step(self) -> bool:
        try:
            self.file = self.picklist.pick(self.pool(), self.rng)
        except PoolExhausted:
            return False
        return True

    def cursor(self) -> dict[str, Any]:
        return {"file": self.file}

    def restore(self, cursor: Mapping[str, Any]) -> None:
        file = cursor.get("file")
        self.file = file if isinstance(file, str) else None
        if self.file is not None:
            self.picklist.add(self.file)


class PermutationGroup:
    """Elements iterated as an odometer; the last added varies fastest."""

    def __init__(self, name: str, elements: Iterable[Element] = ()) -> None:
        self.name = name
        self.elements: list[Element] = []
        self.started = False
        for element in elements:
            self.add(element)

    def add(self, element: Element) -> None:
        """Append an element (it becomes the fastest varying); in a running group it starts at once."""
        if any(e.name == element.name for e in self.elements):
            raise StateError(f"permute group {self.name!r} already has element {element.name!r}")
        self.elements.append(element)
        if self.started and not element.started:
            element.start()

    def element(self, name: str) -> Element:
        for element in self.elements:
            if element.name == name:
                return element
        raise StateError(f"permute group {self.name!r} has no element {name!r}")

    def __contains__(self, name: object) -> bool:
        return any(e.name == name for e in self.elements)

    def current(self) -> dict[str, Any]:
        """``{element name: current value}``."""
        return {e.name: e.current for e in self.elements}

    def next(self) -> dict[str, Any]:
        """Advance to the next combination and return it."""
        if not self.elements:
            raise StateError(f"permute group {self.name!r} has no elements")
        if not self.started or not all(e.started for e in self.elements):
            for element in self.elements:
                if not element.started:
                    element.start()
            self.started = True
            return self.current()
        for position in range(len(self.elements) - 1, -1, -1):
            element = self.elements[position]
            if element.can_step() and element.step():
                for inner in self.elements[position + 1 :]:
                    inner.start()
                return self.current()
            if not element.resettable:
                raise PermutationExhausted(
                    f"permute group {self.name!r} is exhausted: element {element.name!r} has nothing left"
                )
        # Every element ran through its values: wrap round to the first combination.
        for element in self.elements:
            element.start()
        return self.current()

    def state(self) -> dict[str, Any]:
        return {
            "group": self.name,
            "started": self.started,
            "elements": {e.name: e.cursor() for e in self.elements},
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        cursors = state.get("elements") or {}
        for element in self.elements:
            if element.name in cursors:
                element.restore(cursors[element.name])
        self.started = bool(state.get("started")) and any(e.started for e in self.elements)

    def __repr__(self) -> str:
        return f"PermutationGroup({self.name!r}, {[e.name for e in self.elements]!r})"


_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def group_file_name(group: str) -> str:
    """State file name of a group; unusual characters are replaced and a short hash keeps names apart."""
    safe = _SAFE.sub("_", group)
    if safe != group or not safe.strip("._"):
        safe = f"{safe}-{hashlib.sha1(group.encode()).hexdigest()[:8]}"
    return f"permutegroup-{safe}.json"


class PermutationManager:
    """All permute groups of a run, their cursors persisted in ``workdir``."""

    def __init__(self, workdir: str | os.PathLike[str], *, rng: np.random.Generator | None = None) -> None:
        self.workdir = Path(workdir)
        self.rng = rng
        self.groups: dict[str, PermutationGroup] = {}
        self._lock = threading.RLock()

    # building ------------------------------------------------------------------------------------
    @classmethod
    def from_spec(
        cls,
        spec: BatchSpec,
        workdir: str | os.PathLike[str],
        *,
        pools: Mapping[str, Sequence[str]] | Callable[[str], Sequence[str]],
        rng: np.random.Generator | None = None,
    ) -> PermutationManager:
        """Groups of ``spec.permute_groups()``; ``pools`` gives a selection node's files by node id.

        Deferred members (``variable`` arguments whose values a plugin returns) are left out: add them
        with ``register`` when their values are known.
        """
        manager = cls(workdir, rng=rng)
        for name, members in spec.permute_groups().items():
            for member in members:
                element = manager._element_for(member, pools)
                if element is not None:
                    manager.register(name, element)
        manager.load()
        return manager

    def _element_for(
        self, member: PermuteMember, pools: Mapping[str, Sequence[str]] | Callable[[str], Sequence[str]]
    ) -> Element | None:
        spec = member.spec
        if isinstance(spec, SelectionNode):
            picklist = Picklist(self.workdir, spec.picklist_name)
            node_id = member.node

            def pool() -> Sequence[str]:
                return pools(node_id) if callable(pools) else pools[node_id]

            return SelectionElement(member.element, pool, picklist, rng=self.rng)
        if member.deferred:
            return None
        return SequenceElement(member.element, spec.values())

    @property
    def lock(self) -> threading.RLock:
        """The manager's re-entrant lock: hold it to register, advance and save as one step."""
        return self._lock

    def register(self, group: str, element: Element) -> Element:
        """Add ``element`` to ``group`` (created if new); a saved cursor for it is restored.

        Registering an element name that is already present returns the existing element, so
        values returned by a plugin are fixed on first use (as the original did).
        """
        with self._lock:
            target = self.groups.setdefault(group, PermutationGroup(group))
            if element.name in target:
                return target.element(element.name)
            saved = self._read(group)
            if saved is not None and element.name in (saved.get("elements") or {}):
                element.restore(saved["elements"][element.name])
            target.add(element)
            return element

    def group(self, name: str) -> PermutationGroup:
        try:
            return self.groups[name]
        except KeyError:
            raise StateError(f"no permute group {name!r}") from None

    # stepping ------------------------------------------------------------------------------------
    def advance(self, group: str) -> dict[str, Any]:
        """Next combination of ``group``: reload its cursors, step, persist; safe across processes."""
        target = self.group(group)
        with self._lock, locked(self.path(group)):
            saved = self._read(group)
            if saved is not None:
                target.restore(saved)
            values = target.next()
            self._write(target)
            return values

    def advance_all(self) -> dict[str, dict[str, Any]]:
        """Advance every group (the start of one project)."""
        return {name: self.advance(name) for name in list(self.groups)}

    def current(self, group: str, element: str) -> Any:
        """Current value of one element."""
        return self.group(group).element(element).current

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """``{group: {element: value}}`` for a failure file."""
        return {name: group.current() for name, group in self.groups.items()}

    # persistence ---------------------------------------------------------------------------------
    def path(self, group: str) -> Path:
        return self.workdir / group_file_name(group)

    def save(self) -> None:
        """Write every group's cursors."""
        with self._lock:
            for group in self.groups.values():
                with locked(self.path(group.name)):
                    self._write(group)

    def load(self) -> None:
        """Restore every registered group from its state file, where one exists."""
        with self._lock:
            for name, group in self.groups.items():
                saved = self._read(name)
                if saved is not None:
                    group.restore(saved)

    def _read(self, group: str) -> dict[str, Any] | None:
        path = self.path(group)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, json.JSONDecodeError) as exc:
            raise StateError(f"cannot read permutation state: {exc}", file=path) from None
        if not isinstance(data, dict):
            raise StateError("permutation state is not a JSON object", file=path)
        return data

    def _write(self, group: PermutationGroup) -> None:
        atomic_write_text(self.path(group.name), dumps(group.state()) + "\n")
