"""Manipulation plugins: the contract (``base``), the registry and the built-in plugins."""

from __future__ import annotations

from masksmith.plugins.base import Argument, Plugin, PluginContext, PluginKind, PluginResult
from masksmith.plugins.registry import (
    ENTRY_POINT_GROUP,
    all_plugins,
    get_plugin,
    plugin_names,
    register_plugin,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "Argument",
    "Plugin",
    "PluginContext",
    "PluginKind",
    "PluginResult",
    "all_plugins",
    "get_plugin",
    "plugin_names",
    "register_plugin",
]
