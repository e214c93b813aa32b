"""Fixtures for the anonymise tests: a throwaway PostgreSQL + PostGIS server (session scope, see tests/pg.py)."""

from __future__ import annotations

from tests.pg import postgres

__all__ = ["postgres"]
