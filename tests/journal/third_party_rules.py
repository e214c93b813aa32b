"""A rule as a third-party package would ship it (loaded through a ``masksmith.rules`` entry point in tests)."""

from __future__ import annotations

from masksmith.journal.rules_base import Severity


def always_info(operation, journal, start, end):
    return (Severity.INFO, f"third-party rule saw {start}->{end}")
