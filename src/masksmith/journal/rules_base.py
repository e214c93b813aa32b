"""Validation building blocks: severities, findings, rule outcomes, rule tables and a per-journal cache.

A rule looks at a journal and returns nothing when all is well, or an outcome: a message (an ERROR),
a tuple ``(Severity, message[, fix])`` or a :class:`Finding`. A fix is a function
``fix(journal, start, end) -> str`` that repairs the journal in memory (and the files it owns) and
says what it changed. Graph rules take ``(journal)`` and may return several outcomes; node rules
take ``(journal, node)``; edge and operation rules take ``(operation, journal, start, end)`` as in
the Journaling Tool.
"""

from __future__ import annotations

import enum
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

from masksmith.errors import MasksmithError
from masksmith.journal import paths
from masksmith.journal.compare import Comparison, analyse, compare, donor_mask
from masksmith.journal.model import DONOR_OP
from masksmith.media import io as media_io
from masksmith.media import masks
from masksmith.media.masks import BoolMask
from masksmith.operations import Operation

if TYPE_CHECKING:
    from masksmith.journal.project import Journal

__all__ = [
    "EDGE_RULES",
    "GRAPH_RULES",
    "NODE_RULES",
    "Finding",
    "FixFunction",
    "Inspector",
    "RuleInfo",
    "RuleOutcome",
    "Severity",
    "edge_rule",
    "graph_rule",
    "inspect",
    "node_rule",
    "outcome_to_finding",
    "recompare",
    "regenerate_mask",
]


class Severity(enum.IntEnum):
    """How bad a finding is (the Journaling Tool's values)."""

    INFO = 1
    WARNING = 2
    ERROR = 3
    CRITICAL = 4


FixFunction: TypeAlias = "Callable[[Journal, str | None, str | None], str]"


@dataclass(frozen=True)
class Finding:
    """One validation finding: where (``start``/``end`` node ids, either may be None), what, and a fix."""

    severity: Severity
    start: str | None
    end: str | None
    message: str
    rule: str
    fix: Callable[[Journal, str | None, str | None], str] | None = field(default=None, compare=False)

    @property
    def where(self) -> str:
        if self.start and self.end:
            return f"{self.start}->{self.end}"
        return self.start or self.end or ""

    def __str__(self) -> str:
        where = f" {self.where}" if self.where else ""
        return f"{self.severity.name}{where}: {self.message} [{self.rule}]"


RuleOutcome: TypeAlias = "str | Finding | tuple[Any, ...] | None"


def outcome_to_finding(outcome: object, *, rule: str, start: str | None, end: str | None) -> Finding | None:
    """Normalise what a rule returned into a Finding (None when the rule passed)."""
    if outcome is None:
        return None
    if isinstance(outcome, Finding):
        return outcome
    if isinstance(outcome, str):
        return Finding(Severity.ERROR, start, end, outcome, rule)
    if isinstance(outcome, tuple) and len(outcome) in (2, 3):
        severity = outcome[0]
        if not isinstance(severity, Severity):
            severity = (
                Severity[str(severity).upper()] if isinstance(severity, str) else Severity(int(severity))
            )
        fix = outcome[2] if len(outcome) == 3 else None
        return Finding(severity, start, end, str(outcome[1]), rule, fix)
    raise TypeError(f"rule {rule!r} returned {type(outcome).__name__}; expected None, str, tuple or Finding")


# --- rule tables --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleInfo:
    """A built-in graph, node or edge rule with its level and usual severity."""

    name: str
    level: str
    severity: Severity
    function: Callable[..., Any]
    doc: str


GRAPH_RULES: list[RuleInfo] = []
NODE_RULES: list[RuleInfo] = []
EDGE_RULES: list[RuleInfo] = []

_F = Callable[..., Any]


def _adder(table: list[RuleInfo], level: str) -> Callable[[str, Severity], Callable[[_F], _F]]:
    def decorator_factory(name: str, severity: Severity) -> Callable[[_F], _F]:
        def decorate(function: _F) -> _F:
            doc = (function.__doc__ or "").strip().splitlines()[0] if function.__doc__ else ""
            table.append(RuleInfo(name, level, severity, function, doc))
            return function

        return decorate

    return decorator_factory


graph_rule = _adder(GRAPH_RULES, "graph")
node_rule = _adder(NODE_RULES, "node")
edge_rule = _adder(EDGE_RULES, "edge")


# --- per-journal cache of what rules read -------------------------------------------------------


class Inspector:
    """Reads media facts and edge masks once per journal; counts the seconds spent on masks."""

    def __init__(self, journal: Journal) -> None:
        self._journal = weakref.ref(journal)
        self._lock = threading.Lock()
        self._sizes: dict[str, tuple[int, int] | None] = {}
        self._formats: dict[str, str | None] = {}
        self._masks: dict[tuple[str, str], BoolMask | None] = {}
        self._paths: dict[str, Path | None] = {}
        self.mask_seconds = 0.0
        self.masks_read = 0

    @property
    def journal(self) -> Journal:
        journal = self._journal()
        if journal is None:  # pragma: no cover - the journal outlives its validation
            raise RuntimeError("journal was released")
        return journal

    def clear(self) -> None:
        with self._lock:
            self._sizes.clear()
            self._formats.clear()
            self._masks.clear()
            self._paths.clear()

    def contained(self, name: object) -> bool:
        """True when ``name`` resolves inside the journal folder (see :mod:`masksmith.journal.paths`).

        Remembered per validation (``clear`` forgets): rules ask about the same names many times.
        """
        return self._path(name) is not None

    def _path(self, name: object) -> Path | None:
        if not isinstance(name, str):
            return None
        if name not in self._paths:
            folder = self.journal.directory
            self._paths[name] = paths.resolve(folder, name) if paths.contained(folder, name) else None
        return self._paths[name]

    def exists(self, name: object) -> bool:
        """True when ``name`` is a file inside the journal folder; a name leading out is never looked at."""
        path = self._path(name) if isinstance(name, str) and name else None
        return path is not None and path.is_file()

    def size(self, node: str) -> tuple[int, int] | None:
        """``(rows, cols)`` of a node's media as decoded (EXIF orientation applied), None if unreadable."""
        if node not in self._sizes:
            file = self.journal.graph.node(node).get("file")
            value: tuple[int, int] | None = None
            if self.exists(file):
                try:
                    width, height = media_io.read_image_size(self.journal.path_of(node), oriented=True)
                    value = (height, width)
                except MasksmithError:
                    value = None
            self._sizes[node] = value
        return self._sizes[node]

    def format(self, node: str) -> str | None:
        """The node media's true format (``'JPEG'``, ``'PNG'`` …), None if unreadable."""
        if node not in self._formats:
            file = self.journal.graph.node(node).get("file")
            value: str | None = None
            if self.exists(file):
                try:
                    value = media_io.image_format(self.journal.path_of(node))
                except MasksmithError:
                    value = None
            self._formats[node] = value
        return self._formats[node]

    def channels(self, node: str) -> int | None:
        try:
            pixels = self.journal.pixels(node)
        except MasksmithError:
            return None
        return 1 if pixels.ndim == 2 else int(pixels.shape[2])

    def edge_mask(self, start: str, end: str) -> BoolMask | None:
        """The edge's change mask (True = changed), None when the file is missing or unreadable."""
        key = (start, end)
        if key not in self._masks:
            name = self.journal.graph.edge(start, end).get("maskname")
            value: BoolMask | None = None
            if self.exists(name) and (value := self.journal.cached_edge_mask(start, end)) is not None:
                pass  # recorded moments ago by this journal; the file was written atomically
            elif self.exists(name):
                began = time.perf_counter()
                try:
                    pixels = media_io.read_image(self.journal.mask_path(start, end)).pixels
                    value = masks.from_edge_file(pixels)
                except MasksmithError:
                    value = None
                with self._lock:
                    self.mask_seconds += time.perf_counter() - began
                    self.masks_read += 1
            self._masks[key] = value
        return self._masks[key]

    def forget_edge(self, start: str, end: str) -> None:
        self._masks.pop((start, end), None)


_INSPECTORS: weakref.WeakKeyDictionary[Journal, Inspector] = weakref.WeakKeyDictionary()
_INSPECTORS_LOCK = threading.Lock()


def inspect(journal: Journal) -> Inspector:
    """The journal's :class:`Inspector` (created on first use, released with the journal)."""
    with _INSPECTORS_LOCK:
        found = _INSPECTORS.get(journal)
        if found is None:
            found = Inspector(journal)
            _INSPECTORS[journal] = found
        return found


# --- comparisons from the media ------------------------------------------------------------------


def recompare(journal: Journal, start: str, end: str) -> Comparison:
    """Run the edge's comparison again from the media files (as :meth:`Journal.record` did)."""
    data = journal.graph.edge(start, end)
    op_name = str(data.get("op", ""))
    if op_name == DONOR_OP:
        changed = donor_mask(journal.pixels(start))
        return Comparison(changed, analyse(changed, changed.shape, changed.shape))
    operation: Operation | None = journal.catalogue.find(op_name)
    arguments = dict(data.get("arguments") or {})
    method: str | None = None
    compare_args: dict[str, Any] = dict(arguments)
    donors = journal.graph.donors_of(end)
    donor_pixels = journal.pixels(donors[0]) if donors else None
    if operation is not None:
        method = operation.compare_function("image") or operation.convert_function
        if donor_pixels is not None and operation.category == "Paste" and not method:
            method = "paste"
        compare_args = {**operation.compare_arguments, **arguments}
    tolerance = compare_args.get("tolerance")
    return compare(
        method,
        journal.pixels(start),
        journal.pixels(end),
        compare_args,
        donor=donor_pixels,
        tolerance=float(tolerance) if tolerance is not None else None,
    )


def regenerate_mask(journal: Journal, start: str, end: str) -> str:
    """Rebuild an edge's mask file from its media; keeps the recorded name (or assigns one).

    A recorded name that leads out of the journal folder raises PathEscapeError before anything is
    read or written.
    """
    data = journal.graph.edge(start, end)
    name = data.get("maskname")
    if not isinstance(name, str) or not name:
        name = journal.graph.mask_file_name(start, end)
    target = journal.file_path(name, attribute="maskname", node=f"{start}->{end}")
    result = recompare(journal, start, end)
    data["maskname"] = name
    media_io.write_image(target, masks.to_edge_file(result.changed), png_compression=1)
    data["empty mask"] = result.analysis["empty mask"]
    inspect(journal).forget_edge(start, end)
    return f"regenerated mask {name} for {start}->{end} from the media"


def findings_from(
    outcomes: Iterable[object], *, rule: str, start: str | None = None, end: str | None = None
) -> list[Finding]:
    out = []
    for outcome in outcomes:
        finding = outcome_to_finding(outcome, rule=rule, start=start, end=end)
        if finding is not None:
            out.append(finding)
    return out


def mask_ratio(mask: BoolMask) -> float:
    return float(np.count_nonzero(mask)) / max(1, mask.size)
