"""``masksmith anonymise``: detect people, faces, vehicles and plates in road images and hide them.

One run walks the input tree (:mod:`~masksmith.anonymise.walker`) on the driver, which skips images
already done and hands every other image to an executor (:func:`masksmith.executors.run_items`): local
threads by default (``detection_workers`` of them, one per CPU core up to eight; each thread detects
with its own models run single-threaded, so several images are detected at once), local processes or
Ray actors. A worker reads, detects, draws, encodes and writes one image
(:mod:`~masksmith.anonymise.image_work`); outputs are written under partial names and renamed into
place. The driver (:mod:`~masksmith.anonymise.driver`) checks every output a worker reports before the
image counts, and alone writes the summary, database rows (the injected sink), error outputs
(``<output>_error/<rel>/`` with ``<stem>_error.txt``; the run goes on) and messages (the injected
notifier). Paths are made absolute here, so workers started in other folders find them.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from masksmith.anonymise.config import AnonymiseConfig, check_startup, load_config
from masksmith.anonymise.detection import (
    REGISTRY_NAMES,
    AnonymisedImage,
    DetectFn,
    PerThreadDetect,
    anonymise_image,
    build_detectors,
    detection_pixel_cap,
    find_objects,
    load_models,
    make_detect,
)
from masksmith.anonymise.detector_setup import plan_detectors, uncovered_classes
from masksmith.anonymise.driver import (
    Notifier,
    NullNotifier,
    NullSink,
    RowNotWritten,
    RowSink,
    RunDriver,
    as_notifier,
    run_images,
)
from masksmith.anonymise.image_work import ImageWorker, Prebuilt, WorkerRecipe, local_worker
from masksmith.anonymise.summary import AnonymiseSummary, RunSummary
from masksmith.anonymise.walker import TreeWalker
from masksmith.detect import Detector
from masksmith.executors import Executor, LocalExecutor, create_executor, usable_cpus

__all__ = [
    "BASE_MB",
    "DETECTION_BYTES_PER_PIXEL",
    "IMAGE_BYTES_PER_PIXEL",
    "MAX_DEFAULT_WORKERS",
    "REGISTRY_NAMES",
    "AnonymiseSummary",
    "AnonymisedImage",
    "DetectFn",
    "Notifier",
    "NullNotifier",
    "NullSink",
    "PerThreadDetect",
    "RowNotWritten",
    "RowSink",
    "RunSummary",
    "anonymise",
    "anonymise_image",
    "build_detectors",
    "detection_pixel_cap",
    "detection_workers",
    "find_objects",
    "load_models",
    "make_detect",
    "memory_bound_mb",
]

_log = logging.getLogger("masksmith.anonymise")
_SEPARATOR = "-" * 150


#: Default cap on detection workers: each holds its own models and buffers (about 250 MB with
#: CenterFace on 1080p images), so a many-core machine gets fewer workers with more threads each.
MAX_DEFAULT_WORKERS = 8


def detection_workers(config: AnonymiseConfig) -> int:
    """How many images are detected at once: the configured number, else one per usable core (up to 8)."""
    return config.run.detection_workers or min(usable_cpus(), MAX_DEFAULT_WORKERS)


#: Memory model of a run (fitted to the runs in docs/benchmarks.md): the process with its models loaded;
#: what one detection worker keeps per pixel of its largest view (CenterFace ~160 B and the plate cascade
#: ~130 B, whose buffers outlive the call, plus copies); what one image in flight needs per pixel
#: (decoded, drawn copy, mask, encoded file).
BASE_MB = 700
DETECTION_BYTES_PER_PIXEL = 350
IMAGE_BYTES_PER_PIXEL = 12


def memory_bound_mb(config: AnonymiseConfig, *, image_pixels: int | None = None) -> int:
    """The documented peak-RSS bound of a run, in MB: a function of the worker counts and the caps.

    ``BASE_MB + workers × DETECTION_BYTES_PER_PIXEL × detection_max_pixels + images in flight ×
    IMAGE_BYTES_PER_PIXEL × pixels``, where an image has at most ``max_image_pixels`` (``image_pixels``
    when all images are known to be that small) and at most ``detection_workers + max_num_async_workers
    + 2`` images are in flight (one when a run has one image).
    """
    workers = detection_workers(config)
    pixels = config.run.max_image_pixels if image_pixels is None else image_pixels
    in_flight = 1 if image_pixels is not None else workers + config.run.max_num_async_workers + 2
    detect = workers * DETECTION_BYTES_PER_PIXEL * config.run.detection_max_pixels
    return BASE_MB + (detect + in_flight * IMAGE_BYTES_PER_PIXEL * pixels) // 2**20


class _OncePerRun(logging.Filter):
    """Lets the first record of each ``once_per_run`` message template through and counts the repeats
    (warnings about the Norwegian folder conventions would otherwise come once per image)."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: dict[str, int] = {}
        self.first: dict[str, str] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "once_per_run", False):
            return True
        key = str(record.msg)
        self.counts[key] = self.counts.get(key, 0) + 1
        if self.counts[key] == 1:
            self.first[key] = record.getMessage()
            return True
        return False

    def report(self) -> None:
        for key, count in self.counts.items():
            if count > 1:
                _log.warning("%s (and %d more images alike; shown once per run)", self.first[key], count - 1)


def _setup_log_file(
    config: AnonymiseConfig, log_dir: Path | None
) -> tuple[Path | None, logging.Handler | None]:
    """With ``-l``: a log file at ``log_level`` and nothing echoed to the terminal (the summary still is)."""
    if log_dir is None:
        return None, None
    log_dir.mkdir(parents=True, exist_ok=True)
    name = config.logging.log_file_name.format(
        datetime=datetime.now().strftime("%Y-%m-%d_%H%M%S"), hostname=socket.gethostname()
    )
    path = log_dir / name
    handler = logging.FileHandler(path, encoding="utf-8")
    level = logging.getLevelNamesMapping()[config.logging.log_level.value]
    handler.setLevel(level)
    handler.setFormatter(
        logging.Formatter("[%(asctime)s %(levelname)s]: %(message)s", datefmt=config.logging.datetime_format)
    )
    _log.addHandler(handler)
    _log.setLevel(level)
    _log.propagate = False
    return path, handler


def _absolute(path: str | os.PathLike[str]) -> Path:
    """``path`` made absolute against the driver's working directory (symbolic links kept)."""
    return Path(os.path.abspath(os.fspath(path)))


def _absolute_config(config: AnonymiseConfig) -> AnonymiseConfig:
    """``config`` with its folder and model paths absolute: workers may run in another directory."""

    def fix(value: str | None) -> str | None:
        return os.fspath(_absolute(value)) if value else value

    det, out = config.detection, config.outputs
    yolo = det.yolo_model_paths
    detection = det.model_copy(
        update={
            "text_model_path": fix(det.text_model_path),
            "mask_rcnn_model_path": fix(det.mask_rcnn_model_path),
            "yolox_model_path": fix(det.yolox_model_path),
            "yolo_model_paths": yolo.model_copy(
                update={k: fix(v) for k, v in yolo.model_dump().items() if isinstance(v, str)}
            ),
        }
    )
    outputs = out.model_copy(update={"separate_preview_directory": fix(out.separate_preview_directory)})
    return config.model_copy(update={"detection": detection, "outputs": outputs})


def anonymise(
    input: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    archive: str | os.PathLike[str] | None = None,
    config: AnonymiseConfig | None = None,
    log_dir: str | os.PathLike[str] | None = None,
    journal: bool = False,
    sink: RowSink | None = None,
    notifier: Notifier | Callable[..., Any] | None = None,
    progress: bool = True,
    clear_cache: bool = True,
    detectors: Sequence[Detector] | None = None,
    executor: Executor | None = None,
) -> AnonymiseSummary:
    """Anonymise every image below ``input`` into ``output`` (mirrored tree); see the module docstring.

    ``config`` defaults to the shipped planar configuration (``load_config(None)``).

    ``detectors`` replaces the configured ones (tests, benchmarks). ``executor`` runs the images: None
    is a :class:`~masksmith.executors.LocalExecutor` with ``detection_workers`` threads (one when
    ``detectors`` are given: they may not be thread-safe); a process or Ray executor builds the
    detectors once per worker (given ``detectors`` must then pickle). ``clear_cache`` False is
    ``--skip-clear-cache``: outputs of images interrupted earlier are not deleted first (such images are
    still redone). Raises ConfigError (bad configuration or folders), ModelUnavailable (a detector cannot
    load) or PathNotReachableError (a folder vanished); per-image problems are counted, not raised.
    """
    started = time.perf_counter()
    summary = AnonymiseSummary()
    if config is None:
        config = load_config(None)
    journal = journal or config.run.write_journal
    check_startup(config, input_dir=input, output_dir=output, archive_dir=archive, log_dir=log_dir)
    config = _absolute_config(config)
    input_dir, output_dir = _absolute(input), _absolute(output)
    archive_dir = _absolute(archive) if archive is not None else None
    saved_level, saved_propagate = _log.level, _log.propagate
    once = _OncePerRun()
    folder_log = logging.getLogger("masksmith.anonymise.metadata")
    folder_log.addFilter(once)
    log_file, handler = _setup_log_file(config, _absolute(log_dir) if log_dir is not None else None)
    rows_sink: RowSink = sink if sink is not None else NullSink()
    note = as_notifier(notifier)
    owned = executor is None
    # given detectors are one set (they may not be thread-safe); one thread more than detector sets
    # reads and writes images while the others detect
    detecting = detection_workers(config) if detectors is None else 1
    if executor is None:
        executor = LocalExecutor(detecting + 1)
    window_pool: Executor | None = None
    try:
        _log.info("Call: %s", " ".join(sys.argv))
        _log.info("#### CONFIG START ####\n%s#### CONFIG END ####", config.redacted_yaml())
        walker = TreeWalker(input_dir, output_dir, archive_dir, config=config, journal=journal)
        walker.rows = bool(getattr(rows_sink, "takes_rows", True))
        if walker.rows:
            summary.database = str(getattr(rows_sink, "location", type(rows_sink).__name__))
        if detectors is None:
            summary.not_detected = uncovered_classes(config, plan_detectors(config))
        remote = bool(executor.distributed)
        driver = RunDriver(
            walker, config, sink=rows_sink, notifier=note, summary=summary, log_file=log_file, remote=remote
        )
        window: int | None = None
        setup: Callable[[], ImageWorker]
        if remote:  # each worker builds its own detectors
            setup = WorkerRecipe(
                walker, config, journal=journal, detectors=detectors,
                model_threads=max(1, usable_cpus() // max(1, executor.workers)),
            )  # fmt: skip
            window = 4 * max(1, executor.workers)
        else:  # built here, so a model that cannot load stops the run before any image
            slots = max(1, min(detecting, executor.workers))
            # an image has many windows with cutouts: window threads share each image's windows
            windows = config.detection.use_cutouts and slots > 1 and detectors is None
            worker = local_worker(
                walker, config, journal=journal, detectors=detectors, slots=slots,
                model_threads=max(1, usable_cpus() // slots), per_thread=windows,
            )  # fmt: skip
            if windows:  # two images at a time, their windows on ``slots`` threads of their own
                window_pool = create_executor("threads", workers=slots)
                worker.map_views = window_pool.map
                window = 2
            setup = Prebuilt(worker)
        try:
            run_images(
                driver, executor, setup=setup, progress=progress, clear_cache=clear_cache, window=window
            )
        except BaseException as exc:
            if config.email.uncaught_exception_email and not isinstance(exc, KeyboardInterrupt):
                driver.notify(
                    "critical", f"Execution stopped due to uncaught {type(exc).__name__}.", repr(exc)
                )
            raise
        summary.seconds = time.perf_counter() - started
        summary.skipped_names = [os.fspath(p) for p in walker.not_accepted]
        _log.info(_SEPARATOR)
        _log.info("Anonymisation finished.")
        _log.info("Input folder: %s", input)
        _log.info("Output folder: %s", output)
        _log.info("Archive folder: %s", archive)
        for line in summary.lines():
            _log.info(line)
        if config.email.finished_email:
            driver.notify("finished", "Anonymisation finished.", "\n".join(summary.lines()))
        return summary
    finally:
        if window_pool is not None:
            window_pool.shutdown()
        if owned:
            executor.shutdown()
        folder_log.removeFilter(once)
        once.report()
        if handler is not None:
            _log.removeHandler(handler)
            handler.close()
        _log.setLevel(saved_level)
        _log.propagate = saved_propagate
