"""The executors: local pool semantics, and the Ray actor pool on a real local cluster (restarts, retries)."""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import pytest

from masksmith.errors import ConfigError
from masksmith.executors import LocalExecutor, create_executor, is_distributed
from tests.ray_cluster import ray_cluster  # noqa: F401  (the session fixture)


def _token() -> str:
    """Setup: one token per worker (per actor life)."""
    return f"{os.getpid()}-{uuid.uuid4().hex}"


def _square(token: str, item: int) -> tuple[str, int]:
    return token, item * item


def _fail_on_three(token: str, item: int) -> int:
    if item == 3:
        raise ValueError(f"item {item} is bad")
    return item


class _DieOnce:
    """Task that kills its own worker process the first time it sees ``item`` (a marker file says so)."""

    def __init__(self, marker: Path, item: int) -> None:
        self.marker, self.item = marker, item

    def __call__(self, token: str, item: int) -> tuple[str, int]:
        if item == self.item and not self.marker.exists():
            self.marker.write_text(str(os.getpid()))
            os._exit(1)  # the worker dies mid-task, without cleanup
        return token, item * item


@pytest.fixture(autouse=True)
def _pickle_this_module_by_value() -> None:
    """Ray workers cannot import the tests package: ship this module's functions by value."""
    ray = pytest.importorskip("ray")
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.mark.parametrize(("kind", "expected"), [("local", LocalExecutor), ("LOCAL", LocalExecutor)])
def test_create_executor_local(kind: str, expected: type[LocalExecutor]) -> None:
    executor = create_executor(kind, workers=3)
    assert isinstance(executor, expected) and executor.workers == 3 and not is_distributed(executor)
    executor.shutdown()


@pytest.mark.parametrize(("kind", "address"), [("spark", None), ("local", "auto")])
def test_create_executor_refuses_unknown_kinds_and_addresses_without_ray(
    kind: str, address: str | None
) -> None:
    with pytest.raises(ConfigError):
        create_executor(kind, address=address)


def test_local_pool_runs_setup_once_and_map_keeps_order() -> None:
    with LocalExecutor(2) as executor:
        pool = executor.pool(_token, _square)
        results = [f.result() for f in [pool.submit(i) for i in range(20)]]
        assert [r[1] for r in results] == [i * i for i in range(20)]
        assert len({r[0] for r in results}) == 1
        assert list(executor.map(abs, [-3, 2, -1])) == [3, 2, 1]


@pytest.mark.usefixtures("ray_cluster")
def test_ray_pool_runs_setup_once_per_actor_and_returns_every_result() -> None:
    from masksmith.executors.ray_pool import RayExecutor

    with RayExecutor(2) as executor:
        assert is_distributed(executor) and executor.workers == 2
        pool = executor.pool(_token, _square, name="squares")
        results = [f.result() for f in [pool.submit(i) for i in range(40)]]
        assert [r[1] for r in results] == [i * i for i in range(40)]
        assert len({r[0] for r in results}) == 2  # two actors, each set up once
        assert len(set(executor.worker_pids())) == 2
        pool.close()
        assert list(executor.map(abs, [-3, 2, -1])) == [3, 2, 1]
        assert executor.submit(lambda: 6 * 7).result() == 42


@pytest.mark.usefixtures("ray_cluster")
def test_a_task_error_comes_back_as_the_original_exception() -> None:
    from masksmith.executors.ray_pool import RayExecutor

    with RayExecutor(2) as executor:
        pool = executor.pool(_token, _fail_on_three)
        futures = [pool.submit(i) for i in range(6)]
        with pytest.raises(ValueError, match="item 3 is bad"):
            futures[3].result()
        assert [f.result() for i, f in enumerate(futures) if i != 3] == [0, 1, 2, 4, 5]


@pytest.mark.usefixtures("ray_cluster")
def test_a_worker_that_dies_mid_task_is_restarted_and_the_task_retried(tmp_path: Path) -> None:
    from masksmith.executors.ray_pool import RayExecutor

    marker = tmp_path / "died"
    with RayExecutor(2) as executor:
        pool = executor.pool(_token, _DieOnce(marker, 7))
        results = [f.result() for f in [pool.submit(i) for i in range(20)]]
    assert marker.exists()  # the worker did die
    assert [r[1] for r in results] == [i * i for i in range(20)]  # every item exactly once, in order
    tokens = {r[0] for r in results}
    assert len(tokens) == 3  # two actors set up, plus the restarted one
    assert not any(t.startswith(marker.read_text() + "-") for t in {results[7][0]})
