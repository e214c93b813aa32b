"""A real local Ray cluster for the Ray tests: two CPUs on loopback, no dashboard, no usage reporting.

Test modules import :func:`ray_cluster` (session scoped; the first one to run starts Ray, and Ray is shut
down at the end of the session).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
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
            address="local",  # never a cluster another process started on this machine
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


def _free_ports(count: int) -> list[int]:
    """``count`` distinct free TCP ports on loopback (held open together so they differ)."""
    held = []
    for _ in range(count):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        held.append(sock)
    ports = [s.getsockname()[1] for s in held]
    for sock in held:
        sock.close()
    return ports


def _alive_nodes(address: str, env: dict[str, str]) -> int:
    probe = (
        f"import ray; ray.init(address={address!r}, log_to_driver=False, configure_logging=False);"
        "print(sum(1 for n in ray.nodes() if n['Alive']))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    lines = done.stdout.strip().splitlines()
    return int(lines[-1]) if done.returncode == 0 and lines and lines[-1].isdigit() else 0


def _log(cwd: Path) -> str:
    path = cwd / "ray-start.log"
    return path.read_text(errors="replace") if path.exists() else ""


def _start_node(args: list[str], *, cwd: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    ports = _free_ports(5)
    command = [
        str(Path(sys.executable).with_name("ray")),
        "start",
        "--block",
        "--node-ip-address=127.0.0.1",
        "--num-cpus=1",
        "--disable-usage-stats",
        f"--dashboard-agent-listen-port={ports[0]}",
        f"--dashboard-agent-grpc-port={ports[1]}",
        f"--runtime-env-agent-port={ports[2]}",
        f"--metrics-export-port={ports[3]}",
        *args,
    ]
    log = (cwd / "ray-start.log").open("wb")
    return subprocess.Popen(
        command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


@pytest.fixture(scope="module", name="ray_address")
def ray_two_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real two-node Ray cluster on loopback: a head and a second node joined to it, each started with
    ``ray start`` from its own working directory (unlike any driver's). Yields the head's address
    (request it as ``ray_address``)."""
    pytest.importorskip("ray")
    base = tmp_path_factory.mktemp("ray-two-nodes")
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "1"  # "0" makes "ray start --address" refuse to join
    (gcs,) = _free_ports(1)
    address = f"127.0.0.1:{gcs}"
    nodes: list[subprocess.Popen[bytes]] = []
    try:
        (base / "head").mkdir()
        nodes.append(
            _start_node(
                ["--head", f"--port={gcs}", "--include-dashboard=false"],
                cwd=base / "head",
                env=env,
            )
        )
        deadline = time.monotonic() + 120
        while "Ray runtime started" not in _log(base / "head") or _alive_nodes(address, env) < 1:
            if time.monotonic() > deadline or nodes[0].poll() is not None:
                pytest.fail(f"the Ray head did not start: {_log(base / 'head')[-2000:]}")
            time.sleep(1)
        (base / "node").mkdir()
        nodes.append(_start_node([f"--address={address}"], cwd=base / "node", env=env))
        while _alive_nodes(address, env) < 2:
            if time.monotonic() > deadline or nodes[1].poll() is not None:
                pytest.fail(f"the second node did not join: {_log(base / 'node')[-2000:]}")
            time.sleep(1)
        yield address
    finally:
        for node in reversed(nodes):
            if node.poll() is None:
                os.killpg(node.pid, signal.SIGTERM)
        for node in reversed(nodes):
            try:
                node.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(node.pid, signal.SIGKILL)
                node.wait(timeout=30)
