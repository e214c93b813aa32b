"""Find plugins: the entry point group ``masksmith.plugins`` maps names to Plugin classes."""

from __future__ import annotations

import difflib
import importlib.metadata
from functools import cache

from masksmith.errors import PluginError
from masksmith.plugins.base import Plugin

ENTRY_POINT_GROUP = "masksmith.plugins"


@cache
def available_plugins() -> dict[str, type[Plugin]]:
    """Every installed plugin class by name (entry points are imported here, once).

    A plugin that fails to import, or is not a :class:`Plugin` class, raises :class:`PluginError` naming
    its entry point: a broken installation is reported, never silently left out.
    """
    found: dict[str, type[Plugin]] = {}
    for entry in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        try:
            cls = entry.load()
        except Exception as exc:  # any import failure becomes one PluginError naming the entry point
            raise PluginError(f"plugin entry point {entry.name!r} failed to load: {exc}") from exc
        if not (isinstance(cls, type) and issubclass(cls, Plugin)):
            raise PluginError(f"plugin entry point {entry.name!r} is not a masksmith Plugin class")
        found[entry.name] = cls
    return found


_registered: dict[str, type[Plugin]] = {}


def register_plugin(cls: type[Plugin], *, name: str | None = None) -> type[Plugin]:
    """Register a plugin class at run time (for the Python API and tests); usable as a decorator."""
    if not (isinstance(cls, type) and issubclass(cls, Plugin)):
        raise PluginError(f"{cls!r} is not a masksmith Plugin class")
    _registered[name or cls.name] = cls
    return cls


def all_plugins() -> dict[str, type[Plugin]]:
    """Installed plugins plus those registered at run time (which win on a name clash)."""
    return {**available_plugins(), **_registered}


def plugin_names() -> list[str]:
    return sorted(all_plugins())


def get_plugin(name: str) -> Plugin:
    """A fresh instance of the named plugin; an unknown name suggests close ones."""
    plugins = all_plugins()
    if name not in plugins:
        close = difflib.get_close_matches(name, plugins, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise PluginError(f"unknown plugin {name!r}{hint}", argument="plugin")
    return plugins[name]()
