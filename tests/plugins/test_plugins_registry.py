"""The plugin registry: a broken entry point is reported by name, never silently left out."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterator

import pytest

from masksmith.errors import PluginError
from masksmith.plugins import registry


class _Entry:
    def __init__(self, name: str, target: object) -> None:
        self.name = name
        self._target = target

    def load(self) -> object:
        if isinstance(self._target, Exception):
            raise self._target
        return self._target


@pytest.fixture
def fresh_cache() -> Iterator[None]:
    registry.available_plugins.cache_clear()
    yield
    registry.available_plugins.cache_clear()


def _install(monkeypatch: pytest.MonkeyPatch, *entries: _Entry) -> None:
    def entry_points(*, group: str) -> list[_Entry]:
        assert group == registry.ENTRY_POINT_GROUP
        return list(entries)

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)


@pytest.mark.usefixtures("fresh_cache")
def test_a_plugin_that_fails_to_import_raises_naming_its_entry_point(monkeypatch: pytest.MonkeyPatch) -> None:
    _install(monkeypatch, _Entry("Broken", ImportError("no module named nowhere")))
    with pytest.raises(PluginError, match="'Broken' failed to load: no module named nowhere"):
        registry.available_plugins()


@pytest.mark.usefixtures("fresh_cache")
def test_an_entry_point_that_is_not_a_plugin_class_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    _install(monkeypatch, _Entry("Odd", object()))
    with pytest.raises(PluginError, match="'Odd' is not a masksmith Plugin class"):
        registry.available_plugins()
