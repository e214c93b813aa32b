"""Where work runs: the local thread pool (default) or a Ray cluster, behind one small interface.

The pipelines (batch, anonymise, facemask) hand an :class:`Executor` either no-argument callables
(``submit``) or a *pool* of stateful workers (``pool(setup, task)``): ``setup`` runs once per worker
(models load there) and ``task(state, item)`` runs per item. Ray is imported only when a Ray executor
is created.
"""

from __future__ import annotations

from masksmith.executors.base import (
    EXECUTOR_KINDS,
    Executor,
    LocalExecutor,
    WorkerPool,
    create_executor,
    is_distributed,
    usable_cpus,
)

__all__ = [
    "EXECUTOR_KINDS",
    "Executor",
    "LocalExecutor",
    "WorkerPool",
    "create_executor",
    "is_distributed",
    "usable_cpus",
]
