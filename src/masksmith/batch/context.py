"""The run context a batch run shares between its projects: folders, options, seed, permute groups.

``create_global_state`` builds the global state dict a project runs with (globals from
``--global-variables``, initializer results and the :class:`RunContext` under :data:`CONTEXT_KEY`).
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from masksmith.batch.permutations import PermutationManager
from masksmith.batch.state import FailureLog, ProjectClaims
from masksmith.errors import SpecError

__all__ = [
    "CONTEXT_KEY",
    "ManagerSource",
    "RunContext",
    "context_of",
    "createGlobalState",
    "create_global_state",
    "load_global_variables",
    "run_initializers",
]

log = logging.getLogger("masksmith.batch")

CONTEXT_KEY = "_batch_context"
"""Key of the :class:`RunContext` inside a global state dict."""

Initializer = Callable[[dict[str, Any]], Mapping[str, Any] | None]
"""Called with the global state; what it returns is merged into the state."""


class ManagerSource(Protocol):
    """What owns a permute-group manager: a batch project (its spec's named groups)."""

    def build_manager(self, ctx: RunContext) -> PermutationManager: ...


@dataclass
class RunContext:
    """Shared by every project of a run: folders, options, the seed and the permutation managers."""

    projects: Path
    workdir: Path
    globals: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    passthrus: frozenset[str] = frozenset()
    test_mode: bool = False
    skip_validation: bool = False
    keep_failed: bool = False
    failure_log: FailureLog | None = None
    _seeds: np.random.SeedSequence | None = field(default=None, repr=False)
    _managers: dict[int, PermutationManager] = field(default_factory=dict, repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _index: int = field(default=0, repr=False)

    def __post_init__(self) -> None:
        self.projects = Path(self.projects)
        self.workdir = Path(self.workdir)
        self.projects.mkdir(parents=True, exist_ok=True)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._seeds = np.random.SeedSequence(self.seed)
        if self.seed is None:
            log.info("batch run entropy %d (pass --seed to repeat)", self._seeds.entropy)
        if self.failure_log is None:
            self.failure_log = FailureLog(self.workdir)

    def next_index(self) -> int:
        """The next project index of this run (0, 1, …): what a project's generator derives from."""
        with self._lock:
            index = self._index
            self._index += 1
        return index

    def rng_for(self, index: int) -> np.random.Generator:
        """Project ``index``'s generator: the seed's ``index``-th child, whichever worker runs the project."""
        assert self._seeds is not None
        return np.random.default_rng(np.random.SeedSequence(self._seeds.entropy, spawn_key=(int(index),)))

    def __getstate__(self) -> dict[str, Any]:
        # Sent to remote workers: locks and permutation managers stay with the coordinator.
        state = dict(self.__dict__)
        state["_lock"] = None
        state["_managers"] = {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()

    @property
    def claims(self) -> ProjectClaims:
        return ProjectClaims(self.workdir / "claims")

    def manager(self, project: ManagerSource) -> PermutationManager:
        """The permute-group manager of ``project``'s spec (built on first use, cursors restored)."""
        with self._lock:
            key = id(project)
            if key not in self._managers:
                self._managers[key] = project.build_manager(self)
            return self._managers[key]


def load_global_variables(text: str | Mapping[str, Any] | None) -> dict[str, Any]:
    """``a=1,b=2`` (or a dict) → globals; a name ending ``.json.load`` loads that JSON file."""
    if text is None or text == "":
        return {}
    if isinstance(text, Mapping):
        pairs = dict(text)
    else:
        pairs = {}
        for item in str(text).split(","):
            if not item.strip():
                continue
            if "=" not in item:
                raise SpecError(
                    f"global variable {item.strip()!r} must be NAME=VALUE", argument="global_variables"
                )
            key, value = item.split("=", 1)
            pairs[key.strip()] = value.strip().strip("'\"")
    out: dict[str, Any] = {}
    for key, value in pairs.items():
        if key.endswith(".json.load"):
            try:
                out[key.removesuffix(".load")] = json.loads(Path(str(value)).read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise SpecError(f"cannot load JSON global {key!r}: {exc}", file=str(value)) from None
        else:
            out[key] = value
    return out


def run_initializers(names: str | Iterable[str | Initializer] | None, state: dict[str, Any]) -> None:
    """Call each initializer (qualified name ``pkg.mod.func`` or callable) with the globals; merge results.

    Initializers are named by the person running the command (never by a spec), so any installed
    function may be used.
    """
    if not names:
        return
    items = [n.strip() for n in names.split(",") if n.strip()] if isinstance(names, str) else list(names)
    for item in items:
        function = _import_function(item) if isinstance(item, str) else item
        added = function(state)
        if added:
            if not isinstance(added, Mapping):
                raise SpecError(f"initializer {item!r} must return a dict, got {type(added).__name__}")
            state.update(added)


def _import_function(qualified: str) -> Initializer:
    module_name, _, attribute = qualified.rpartition(".")
    if not module_name:
        raise SpecError(
            f"initializer {qualified!r} must be a qualified name such as 'package.module.function'"
        )
    try:
        function = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise SpecError(f"cannot import initializer {qualified!r}: {exc}", argument="initializers") from None
    if not callable(function):
        raise SpecError(f"initializer {qualified!r} is not callable", argument="initializers")
    return function  # type: ignore[no-any-return]


def create_global_state(
    results: str | os.PathLike[str],
    workdir: str | os.PathLike[str] = ".",
    *,
    global_variables: str | Mapping[str, Any] | None = None,
    initializers: str | Iterable[str | Initializer] | None = None,
    seed: int | None = None,
    passthrus: Iterable[str] = (),
    test_mode: bool = False,
    skip_validation: bool = False,
    keep_failed: bool = False,
) -> dict[str, Any]:
    """The global state a project runs with: globals, initializer results, and the run context."""
    state: dict[str, Any] = {"projects": str(results), "workdir": str(workdir)}
    state.update(load_global_variables(global_variables))
    run_initializers(initializers, state)
    state[CONTEXT_KEY] = RunContext(
        Path(results),
        Path(workdir),
        globals={k: v for k, v in state.items() if k != CONTEXT_KEY},
        seed=seed,
        passthrus=frozenset(p for p in passthrus if p and p.lower() != "none"),
        test_mode=test_mode,
        skip_validation=skip_validation,
        keep_failed=keep_failed,
    )
    return state


createGlobalState = create_global_state


def context_of(global_state: Mapping[str, Any]) -> RunContext:
    """The run context inside ``global_state``; a fresh one (with its globals) when it has none."""
    ctx = global_state.get(CONTEXT_KEY)
    if isinstance(ctx, RunContext):
        return ctx
    fresh = create_global_state(global_state.get("projects", "."), global_state.get("workdir", "."))
    made: RunContext = fresh[CONTEXT_KEY]
    made.globals.update({k: v for k, v in global_state.items() if k != CONTEXT_KEY})
    return made
