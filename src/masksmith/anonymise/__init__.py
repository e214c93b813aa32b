"""masksmith.anonymise: road-image anonymisation of a folder tree.

The package itself is callable, ``masksmith.anonymise(input_dir, output_dir, ...)`` runs
:func:`masksmith.anonymise.pipeline.anonymise`. Importing a submodule (``masksmith.anonymise.config``)
binds this package as the ``anonymise`` attribute of ``masksmith``, so the package — not a lazily
exported function that the import would shadow — is the public entry point.
"""

from __future__ import annotations

import sys
import types
from typing import Any


class _CallablePackage(types.ModuleType):
    """This package's module type: calling it runs the anonymisation pipeline (imported on first call)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from masksmith.anonymise.pipeline import anonymise

        return anonymise(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
