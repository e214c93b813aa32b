"""Validation rule registry: rule name → function.

Built-in rules register with the ``@rule("name")`` decorator where they are defined; rules from
other packages come from the entry point group ``masksmith.rules`` (entry point name = rule name)
and are imported on first use. The catalogue names rules; a ``donor:`` prefix marks rules that
only run in full validation, and is not part of the registered name.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from importlib import metadata
from typing import Any, TypeAlias, TypeVar

from masksmith.errors import OperationError, PluginError

__all__ = [
    "RULE_ENTRY_POINT_GROUP",
    "RuleFunction",
    "RuleRegistry",
    "RuleWarning",
    "find_rule",
    "get_rule",
    "registry",
    "rule",
    "split_rule_name",
]

RULE_ENTRY_POINT_GROUP = "masksmith.rules"
DONOR_PREFIX = "donor:"

RuleFunction: TypeAlias = Callable[..., Any]
F = TypeVar("F", bound=RuleFunction)


class RuleWarning(UserWarning):
    """Two different functions claim the same rule name."""


def split_rule_name(name: str) -> tuple[str, bool]:
    """``'donor:check_x'`` → ``('check_x', True)``; ``'check_x'`` → ``('check_x', False)``."""
    if name.startswith(DONOR_PREFIX):
        return name[len(DONOR_PREFIX) :], True
    return name, False


class RuleRegistry:
    """Rule functions by name: explicit registrations first, then entry points loaded lazily."""

    def __init__(self, *, group: str = RULE_ENTRY_POINT_GROUP) -> None:
        self.group = group
        self._functions: dict[str, RuleFunction] = {}
        self._entry_points: dict[str, metadata.EntryPoint] | None = None

    def register(self, name: str, function: RuleFunction) -> RuleFunction:
        """Register ``function`` under ``name``; a different function under a taken name is an error."""
        bare, donor_only = split_rule_name(name)
        if donor_only or not bare.isidentifier():
            raise OperationError(f"rule name {name!r} must be a plain identifier (no 'donor:' prefix)")
        existing = self._functions.get(bare)
        if existing is not None and existing is not function:
            raise OperationError(f"rule {bare!r} is already registered to {_qualname(existing)}")
        self._functions[bare] = function
        return function

    def rule(self, name: str) -> Callable[[F], F]:
        """Decorator registering a built-in rule: ``@rule("check_size")``."""

        def decorate(function: F) -> F:
            self.register(name, function)
            return function

        return decorate

    def _discovered(self) -> dict[str, metadata.EntryPoint]:
        if self._entry_points is None:
            self._entry_points = {}
            for ep in sorted(metadata.entry_points(group=self.group), key=lambda e: e.name):
                if ep.name in self._entry_points:
                    warnings.warn(f"rule {ep.name!r} declared by two entry points", RuleWarning, stacklevel=3)
                self._entry_points[ep.name] = ep
        return self._entry_points

    def refresh(self) -> None:
        """Forget discovered entry points (e.g. after installing a package)."""
        self._entry_points = None

    def find(self, name: str) -> RuleFunction | None:
        """The function for ``name`` (``donor:`` prefix allowed), or None when unknown."""
        bare, _ = split_rule_name(name)
        if bare in self._functions:
            return self._functions[bare]
        ep = self._discovered().get(bare)
        if ep is None:
            return None
        try:
            function: RuleFunction = ep.load()
        except Exception as exc:
            raise PluginError(f"rule {bare!r} from entry point {ep.value!r} failed to load: {exc}") from exc
        if not callable(function):
            raise PluginError(f"rule {bare!r} from entry point {ep.value!r} is not callable")
        self._functions[bare] = function
        return function

    def get(self, name: str) -> RuleFunction:
        """Like :meth:`find`, but an unknown rule raises OperationError."""
        function = self.find(name)
        if function is None:
            raise OperationError(f"unknown validation rule {name!r}")
        return function

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        bare, _ = split_rule_name(name)
        return bare in self._functions or bare in self._discovered()

    def names(self) -> list[str]:
        """Sorted names of registered and discoverable rules."""
        return sorted(set(self._functions) | set(self._discovered()))


def _qualname(function: RuleFunction) -> str:
    return f"{getattr(function, '__module__', '?')}.{getattr(function, '__qualname__', repr(function))}"


registry = RuleRegistry()
rule = registry.rule


def get_rule(name: str) -> RuleFunction:
    """The rule function for ``name`` from the default registry (raises OperationError if unknown)."""
    return registry.get(name)


def find_rule(name: str) -> RuleFunction | None:
    """The rule function for ``name`` from the default registry, or None."""
    return registry.find(name)
