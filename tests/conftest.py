"""Shared fixtures: seeded synthetic images."""

from __future__ import annotations

import os

import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261122)


@pytest.fixture(autouse=True, scope="session")
def _private_model_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Prepared models go to a folder of this test session, not the user's cache."""
    os.environ["MASKSMITH_CACHE_DIR"] = str(tmp_path_factory.mktemp("model-cache"))
