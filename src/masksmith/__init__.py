"""masksmith: mask-centred image work at dataset scale, with every change journaled.

The public API is imported on first use, so ``import masksmith`` stays light:

* ``Journal`` — a journal folder: create, record operations, validate, archive;
* ``BatchProject`` / ``BatchExecutor`` — journals from a batch specification (Journaling Tool compatible);
* ``anonymise`` — road-image anonymisation of a folder tree (the callable ``masksmith.anonymise`` package, so
  importing ``masksmith.anonymise.config`` cannot shadow it);
* ``augment_faces`` — surgical/N95/cloth masks on faces and aligned face crops.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "Journal": "masksmith.journal.project",
    "BatchProject": "masksmith.batch.project",
    "BatchExecutor": "masksmith.batch.executor",
    "anonymise": "masksmith.anonymise",
    "augment_faces": "masksmith.facemask.pipeline",
}

__all__ = ["BatchExecutor", "BatchProject", "Journal", "__version__", "anonymise", "augment_faces"]


def __getattr__(name: str) -> Any:
    if name == "anonymise":
        return importlib.import_module(_LAZY[name])  # the package itself is callable
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'masksmith' has no attribute {name!r}")
