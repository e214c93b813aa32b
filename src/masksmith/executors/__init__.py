"""Where work runs: local threads (default), local processes or a Ray cluster, behind one interface.

Every pipeline (batch, anonymise, facemask) hands its items to :func:`run_items` with a per-worker
``setup`` (models load there, once per worker) and a ``task(state, item)``; the driver settles each
result on its own thread. No pipeline makes a pool of its own. Ray is imported only when a Ray executor
is created.
"""

from __future__ import annotations

from masksmith.executors.base import (
    EXECUTOR_KINDS,
    Executor,
    LocalExecutor,
    RayOptions,
    WorkerPool,
    create_executor,
    is_distributed,
    usable_cpus,
)
from masksmith.executors.processes import ProcessExecutor
from masksmith.executors.runner import Finished, run_items

__all__ = [
    "EXECUTOR_KINDS",
    "Executor",
    "Finished",
    "LocalExecutor",
    "ProcessExecutor",
    "RayOptions",
    "WorkerPool",
    "create_executor",
    "is_distributed",
    "run_items",
    "usable_cpus",
]
