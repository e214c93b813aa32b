"""A real local Ray cluster for the Ray tests: two CPUs on loopback, no dashboard, no usage reporting.

Test modules import :func:`ray_cluster` (session scoped; the first one to run starts Ray, and Ray is shut
down at the end of the session).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_DISABLE_USAGE_STATS", "1")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
# without this Ray registers its processes on the default route's interface address, not loopback
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Any]:
    ray = pytest.importorskip("ray")
    owned = False
    if not ray.is_initialized():
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            log_to_driver=False,
            configure_logging=False,
        )
        owned = True
    yield ray
    if owned:
        ray.shutdown()
