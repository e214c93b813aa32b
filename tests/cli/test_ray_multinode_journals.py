"""Batch extend, validate and export on a real two-node Ray cluster, given RELATIVE paths.

The nodes run in their own working directories (see ``tests/ray_cluster.py``), so a path the driver
did not make absolute would be resolved in the wrong place by the workers. Each command must extend,
validate and export every journal where the user looks, and equal the local run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from masksmith.journal.project import Journal
from tests.batch import batch_fixtures as fx
from tests.batch import extend_fixtures as ef
from tests.ray_cluster import ray_two_nodes  # noqa: F401  (the module fixture)

pytestmark = pytest.mark.slow

MASKSMITH = str(Path(sys.executable).with_name("masksmith"))


def _run(case: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "1", "RAY_AUTH_MODE": "disabled"}
    env.pop("RAY_ADDRESS", None)
    return subprocess.run(
        [MASKSMITH, *args], cwd=case, env=env, capture_output=True, text=True, timeout=600, check=False
    )


def _edges(projects: Path) -> dict[str, list[str]]:
    # operations and their drawn arguments: the driver numbers the journals, so a seed draws the same
    # values whichever worker extends which journal
    return {
        folder.name: sorted(
            json.dumps([s, t, d.get("op"), d.get("arguments")], sort_keys=True)
            for s, t, d in Journal.open(folder).graph.edges()
        )
        for folder in sorted(p for p in projects.iterdir() if p.is_dir() and not p.name.startswith("."))
    }


def test_extend_validate_export_with_relative_paths(ray_address: str, tmp_path: Path) -> None:
    fx.write_spec(tmp_path / "ext.json", ef.median_spec())
    seen = {}
    for kind, extra in (("local", []), ("ray", ["--ray-address", ray_address])):
        for i in range(3):
            ef.simple_journal(tmp_path / "rayj" / kind / "pr" / f"j{i}", seed=i)
        where = f"rayj/{kind}"
        done = _run(
            tmp_path, "batch", "extend", "--projects", f"{where}/pr", "--specification", "ext.json",
            "--workdir", f"{where}/wr", "--complete-file", f"{where}/done.txt", "--seed", "7",
            "--executor", kind, *extra,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        assert "extended 3 journal(s)" in done.stderr
        done = _run(tmp_path, "batch", "validate", "--projects", f"{where}/pr", "--executor", kind, *extra)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        assert "validated 3 journals" in done.stdout
        done = _run(
            tmp_path, "batch", "export", "--projects", f"{where}/pr", "--to", f"{where}/out",
            "--workdir", f"{where}/stage", "--executor", kind, *extra,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        out = tmp_path / "rayj" / kind / "out"
        seen[kind] = (_edges(tmp_path / "rayj" / kind / "pr"), sorted(p.name for p in out.glob("*.tgz")))
    assert seen["ray"][1] == ["j0.tgz", "j1.tgz", "j2.tgz"]
    assert all(len(edges) == 3 for edges in seen["ray"][0].values())
    assert seen["ray"] == seen["local"]
