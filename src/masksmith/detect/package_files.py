"""Find an installed package, and a data file inside it, without importing the package."""

from __future__ import annotations

import importlib.util
from importlib.machinery import ModuleSpec
from pathlib import Path


def installed_spec(name: str) -> ModuleSpec | None:
    """The import spec of ``name``; None when it is not installed (or blocked in ``sys.modules``)."""
    try:
        return importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None


def package_file(spec: ModuleSpec, relative: str) -> Path | None:
    """The first existing ``relative`` file in the package folder(s) of ``spec``, else None."""
    for location in spec.submodule_search_locations or ():
        path = Path(location) / relative
        if path.is_file():
            return path
    return None
