"""Anonymisation on every executor kind: one path (executors.run_items), paths made absolute by the
driver, every output a worker reports checked by the driver, detector sets shared by slots."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from masksmith.anonymise.config import load_config
from masksmith.anonymise.detection import DetectorSlots
from masksmith.anonymise.image_work import ImageDone, WorkerRecipe
from masksmith.anonymise.pipeline import AnonymiseSummary, RunSummary, anonymise
from masksmith.detect import Detections
from masksmith.executors import LocalExecutor, ProcessExecutor, WorkerPool
from masksmith.media.io import write_image
from tests.anonymise.road_scenes import street
from tests.anonymise.test_anonymise_pipeline import BoxDetector, _write_config


class _ElsewhereExecutor(LocalExecutor):
    """Threads posing as workers in other processes (``distributed``): the run hands them a picklable
    setup and gets messages back; ``after`` may change what a task reports (e.g. remove its outputs,
    as when a worker wrote to a disk the driver does not see)."""

    kind = "elsewhere"
    distributed = True

    def __init__(self, workers: int, after: Callable[[ImageDone], ImageDone] | None = None) -> None:
        super().__init__(workers)
        self.setups: list[object] = []
        self.after = after

    def pool(
        self, setup: Callable[[], Any], task: Callable[[Any, Any], Any], *, name: str = ""
    ) -> WorkerPool[Any, Any]:
        self.setups.append(setup)
        after = self.after
        if after is None:
            return super().pool(setup, task, name=name)
        return super().pool(setup, lambda state, item: after(task(state, item)), name=name)


def _inputs(folder: Path, count: int = 4) -> list[Path]:
    rng = np.random.default_rng(5)
    made = []
    for i in range(count):
        path = folder / f"set{i % 2}" / f"img_{i}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_image(path, street(rng, 120, 160))
        made.append(path)
    return made


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_relative_paths_reach_the_workers_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _inputs(tmp_path / "in")
    config = load_config(
        _write_config(tmp_path / "c.yml", separate_preview_directory="prev", preview_dim=[40, 30])
    )
    monkeypatch.chdir(tmp_path)
    executor = _ElsewhereExecutor(2)
    with executor:
        summary = anonymise(
            "in",
            "out",
            archive="arch",
            config=config,
            detectors=[BoxDetector()],
            progress=False,
            executor=executor,
        )
    assert (summary.identified, summary.masked, summary.failed) == (4, 4, 0), summary.errors
    (setup,) = executor.setups
    assert isinstance(setup, WorkerRecipe)
    assert setup.input == os.fspath(tmp_path / "in") and setup.output == os.fspath(tmp_path / "out")
    assert setup.archive == os.fspath(tmp_path / "arch")
    assert setup.config.outputs.separate_preview_directory == os.fspath(tmp_path / "prev")
    assert len([name for name in _files(tmp_path / "out") if name.endswith(".jpg")]) == 4
    assert len(list((tmp_path / "prev").rglob("*_preview.jpg"))) == 4


def test_an_output_the_driver_cannot_see_fails_the_image_with_one_clear_line(tmp_path: Path) -> None:
    _inputs(tmp_path / "in", 3)
    config = load_config(_write_config(tmp_path / "c.yml"))

    def written_elsewhere(done: ImageDone) -> ImageDone:
        Path(done.outputs[0]).unlink()  # as if the worker's disk were not the driver's
        return done

    with _ElsewhereExecutor(2, after=written_elsewhere) as executor:
        summary = anonymise(
            tmp_path / "in", tmp_path / "out", config=config, detectors=[BoxDetector()], progress=False,
            executor=executor,
        )  # fmt: skip
    assert (summary.identified, summary.masked, summary.failed) == (3, 0, 3)
    for error in summary.errors:
        assert "\n" not in error
        assert str(tmp_path / "out") in error and "may not share this filesystem" in error
    assert summary.exit_code == 1
    assert len(list((tmp_path / "out_error").rglob("*_error.txt"))) == 3


def test_a_remote_worker_failure_is_counted_with_the_workers_message(tmp_path: Path) -> None:
    inputs = _inputs(tmp_path / "in", 2)
    inputs[0].write_bytes(b"not a jpeg")
    config = load_config(_write_config(tmp_path / "c.yml"))
    with _ElsewhereExecutor(2) as executor:
        summary = anonymise(
            tmp_path / "in",
            tmp_path / "out",
            config=config,
            detectors=[BoxDetector()],
            progress=False,
            executor=executor,
        )
    assert (summary.masked, summary.failed) == (1, 1)
    assert summary.errors[0].startswith(f"{inputs[0]}: ")
    assert summary.timings.get("decode", 0.0) > 0.0  # the workers' stage times reach the summary


@pytest.mark.slow
def test_process_executor_writes_what_the_threads_write(tmp_path: Path) -> None:
    _inputs(tmp_path / "in", 4)
    config = load_config(_write_config(tmp_path / "c.yml"))
    local = anonymise(
        tmp_path / "in", tmp_path / "local", config=config, detectors=[BoxDetector()], progress=False
    )
    with ProcessExecutor(2) as executor:
        spread = anonymise(
            tmp_path / "in", tmp_path / "proc", config=config, detectors=[BoxDetector()], progress=False,
            executor=executor,
        )  # fmt: skip
    assert (local.masked, spread.masked, spread.failed) == (4, 4, 0), spread.errors
    assert _files(tmp_path / "proc") == _files(tmp_path / "local")


def test_detector_slots_never_share_a_set_and_build_at_most_slots() -> None:
    made: list[object] = []
    busy: set[int] = set()
    clashes: list[int] = []
    lock = threading.Lock()

    def make() -> Callable[[np.ndarray], list[Detections]]:
        def detect(image: np.ndarray) -> list[Detections]:
            with lock:
                if id(detect) in busy:
                    clashes.append(id(detect))
                busy.add(id(detect))
            time.sleep(0.01)
            with lock:
                busy.discard(id(detect))
            return []

        made.append(detect)
        return detect

    slots = DetectorSlots(make(), make, slots=2)
    threads = [
        threading.Thread(target=lambda: [slots(np.zeros((2, 2, 3), np.uint8)) for _ in range(5)])
        for _ in range(5)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(made) == 2
    assert not clashes


def test_anonymise_summary_keeps_its_old_name() -> None:
    assert RunSummary is AnonymiseSummary
    summary = RunSummary(failed=1)
    assert summary.exit_code == 1 and "Failed: 1" in summary.lines()
