"""What a project (or a journal extension) hands back: its outcome, and a selected project in flight."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from masksmith.errors import MasksmithError

__all__ = [
    "ExtensionResult",
    "FailureState",
    "NodeFailure",
    "ProjectOutcome",
    "SelectedProject",
    "describe_error",
]

FailureState = dict[str, dict[str, Any]]
"""A project's choices as a failure-file line: ``{group: {element: value}}`` (``__global__`` for the rest)."""


@dataclass
class ProjectOutcome:
    """How one project ended: ``made``, ``failed`` or ``exhausted`` (a pool ran out before it started)."""

    status: str
    name: str | None = None
    directory: Path | None = None
    error: str | None = None
    node: str | None = None
    state: FailureState = field(default_factory=dict)


@dataclass
class SelectedProject:
    """A project whose images the coordinator chose: everything a worker needs to build it (picklable)."""

    index: int
    rng: np.random.Generator
    record_path: Path
    record_data: dict[str, Any]
    given: dict[str, Any] = field(default_factory=dict)
    from_state: bool = False
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    permuted: dict[str, Any] = field(default_factory=dict)
    picks: dict[str, str] = field(default_factory=dict)


@dataclass
class ExtensionResult:
    """How the extension of one journal ended: ``extended`` or ``failed``; what it added."""

    status: str
    name: str
    attachments: list[str] = field(default_factory=list)
    new_nodes: list[str] = field(default_factory=list)
    new_edges: list[tuple[str, str]] = field(default_factory=list)
    error: str | None = None
    node: str | None = None


class NodeFailure(Exception):
    """Spec node ``node`` failed with ``cause`` (``(post-processing)`` after every node ran)."""

    def __init__(self, node: str, cause: BaseException) -> None:
        super().__init__(node, cause)
        self.node = node
        self.cause = cause


def describe_error(exc: BaseException) -> str:
    """One line for a log or an outcome: a masksmith error's own line, else ``Type: message``."""
    if isinstance(exc, MasksmithError):
        return exc.one_line()
    return f"{type(exc).__name__}: {exc}"
