"""What an anonymisation run did (:class:`AnonymiseSummary`) and the per-stage time sums it reports."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["AnonymiseSummary", "RunSummary", "StageTimes"]


@dataclass
class AnonymiseSummary:
    """What a run did. ``timings`` sums seconds per stage over all images."""

    identified: int = 0
    skipped: int = 0
    failed: int = 0
    masked: int = 0
    rows: int = 0
    seconds: float = 0.0
    cleaned: int = 0
    errors: list[str] = field(default_factory=list)
    database: str | None = None  # where rows went (the SQLite file's path); None: no database
    skipped_names: list[str] = field(default_factory=list)  # files whose extension is not accepted
    timings: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    hidden: dict[str, int] = field(default_factory=dict)  # objects hidden per class over the run
    not_detected: list[str] = field(default_factory=list)  # kept classes no detector looked for

    def count_hidden(self, row: Mapping[str, Any]) -> None:
        """Add one image's ``detekterte_objekter`` (class -> count) to the per-class totals."""
        for name, count in (row.get("detekterte_objekter") or {}).items():
            self.hidden[name] = self.hidden.get(name, 0) + int(count)

    def add_timings(self, timings: Mapping[str, float]) -> None:
        """Add seconds per stage (what a worker measured) to the run's sums."""
        for stage, seconds in timings.items():
            self.timings[stage] = self.timings.get(stage, 0.0) + seconds

    @property
    def exit_code(self) -> int:
        """0 when every image succeeded, 1 when any failed."""
        return 1 if self.failed else 0

    def lines(self) -> list[str]:
        lines = [
            f"Identified images: {self.identified}",
            f"Skipped (already done): {self.skipped}",
            f"Failed: {self.failed}",
            f"Masked images: {self.masked}",
            "Hidden per class: " + (", ".join(f"{k} {v}" for k, v in self.hidden.items()) or "none"),
            *(
                [f"NOT HIDDEN (no detector for them): {', '.join(self.not_detected)}"]
                if self.not_detected
                else []
            ),
            *(
                ["Detector time: " + ", ".join(f"{k[6:]} {v:.1f} s" for k, v in per_detector.items())]
                if (per_detector := {k: v for k, v in self.timings.items() if k.startswith("model:")})
                else []
            ),
        ]
        if self.database is not None:
            lines.append(f"Rows written: {self.rows} (to {self.database})")
        if self.skipped_names:
            shown = ", ".join(self.skipped_names[:10])
            more = f" and {len(self.skipped_names) - 10} more" if len(self.skipped_names) > 10 else ""
            lines.append(f"Not images by extension (skipped): {len(self.skipped_names)}: {shown}{more}")
        lines.append(f"Total time: {self.seconds:.1f} s")
        return lines


#: The former name (three pipelines had a ``RunSummary``); kept so existing imports work.
RunSummary = AnonymiseSummary


class StageTimes:
    """Thread-safe per-stage time sums of one worker; :meth:`take` hands them over and starts afresh."""

    def __init__(self, into: dict[str, float] | None = None) -> None:
        self._into: dict[str, float] = into if into is not None else {}
        self._lock = threading.Lock()

    def add(self, stage: str, seconds: float) -> None:
        with self._lock:
            self._into[stage] = self._into.get(stage, 0.0) + seconds

    def take(self) -> dict[str, float]:
        """The sums since the last ``take`` (threads sharing a worker may hand over each other's: the run's
        totals are the same)."""
        with self._lock:
            taken = dict(self._into)
            self._into.clear()
        return taken

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - start)
