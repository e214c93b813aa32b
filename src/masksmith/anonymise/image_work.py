"""The work on one image, run by a worker: read, detect, draw, encode and write every output.

A worker (a thread sharing one :class:`ImageWorker`, a process or a Ray actor that each built their own
from a :class:`WorkerRecipe`) runs :class:`ImageTask` per image and hands back an :class:`ImageDone`: the
metadata row, the outputs it wrote, its stage times, or why it failed. Outputs are written under partial
names and renamed into place, the published image last, so a task retried after its worker died writes
the same bytes again and an interrupted image is redone, never half-published. Everything run-wide
(counts, rows, error outputs, notifications, the progress bar) belongs to the driver
(:mod:`~masksmith.anonymise.driver`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from masksmith.anonymise.config import AnonymiseConfig, DrawMode
from masksmith.anonymise.cutouts import MapFn, MaskedObjects
from masksmith.anonymise.detection import (
    DetectFn,
    DetectorSlots,
    PerThreadDetect,
    find_objects,
    load_models,
    timed_detect,
)
from masksmith.anonymise.draw import blur_kernel, draw_objects
from masksmith.anonymise.encoding import (
    detection_view,
    encode_output,
    preview_pixels,
    refuse_animated,
    wants_lossless,
)
from masksmith.anonymise.metadata import build_metadata
from masksmith.anonymise.previews import preview_crop
from masksmith.anonymise.summary import StageTimes
from masksmith.anonymise.walker import (
    ImagePaths,
    PathNotReachableError,
    TreeWalker,
    partial_path,
    remove_path,
    wait_for_path,
)
from masksmith.detect import Detector
from masksmith.errors import MasksmithError, MediaError
from masksmith.media.io import LoadedImage, decode_image, encode_image, read_bytes

__all__ = [
    "FORMATS",
    "ImageDone",
    "ImageTask",
    "ImageWorker",
    "InputUnreachable",
    "LoadedInput",
    "Prebuilt",
    "RemoteImageError",
    "WorkerRecipe",
    "encode_format",
    "row_record",
]

_log = logging.getLogger("masksmith.anonymise")

_JOURNAL_DRAW_MODE = {
    DrawMode.BLUR: "blur",
    DrawMode.GRAY_BLUR: "gray",
    DrawMode.NORMALIZED_GRAY_BLUR: "gray",
    DrawMode.MASK_COLOR: "fill",
}
FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG"}

BoolArray = npt.NDArray[np.bool_]


class InputUnreachable(PathNotReachableError):
    """The input folder vanished: the run stops instead of failing every image."""


class RemoteImageError(MasksmithError):
    """An image failed on a worker in another process; the message is the worker's one-line description."""

    def one_line(self) -> str:
        return self.message


def encode_format(path: Path) -> str:
    """The format an output named ``path`` is encoded in."""
    return FORMATS.get(path.suffix.lower(), "JPEG")


@dataclass
class LoadedInput:
    """One decoded input image with what its outputs need from the file."""

    paths: ImagePaths
    image: LoadedImage
    file_time: datetime
    size: int
    original: bytes | None = None  # the input file's bytes, kept for lossless JPEG output

    @property
    def view(self) -> np.ndarray:
        """The pixels as 8-bit RGB for the detectors."""
        return detection_view(self.image.pixels)


@dataclass
class ImageDone:
    """What a worker hands back for one image (it pickles: plain values only, or a local exception).

    ``row`` is the metadata row when every output was written and verified by the worker; ``outputs``
    names them (the driver checks they exist before the image counts). Else ``error`` says why it failed
    (``failure`` is the exception itself when the worker shares the driver's process) and ``abort`` that
    a shared folder vanished, so the run stops.
    """

    row: dict[str, Any] | None
    outputs: list[str] = field(default_factory=list)
    input_size: int | None = None
    timings: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    abort: bool = False
    failure: BaseException | None = None


class ImageWorker:
    """What one worker holds for a run: the configuration, its detectors and the tree's paths."""

    def __init__(
        self,
        walker: TreeWalker,
        config: AnonymiseConfig,
        *,
        detect: DetectFn,
        detector_names: Sequence[str],
        journal: bool,
        times: StageTimes,
        map_views: MapFn = map,
    ) -> None:
        self.walker = walker
        self.config = config
        self.detect = detect
        self.detector_names = list(detector_names)
        self.journal = journal
        self.times = times
        self.map_views = map_views
        self.retry = config.run.file_access_retry_seconds
        self.timeout = config.run.file_access_timeout_seconds

    def process(self, paths: ImagePaths) -> ImageDone:
        """Read, detect, draw and write one image; raises what went wrong."""
        item = self.read(paths)
        objects = find_objects(item.view, self.detect, config=self.config, map_views=self.map_views)
        row = self.write(item, objects)
        targets = paths.expected_outputs(self.config, journal=self.journal)
        return ImageDone(row, [os.fspath(t) for t in targets], item.size)

    # --- reading ----------------------------------------------------------------------------

    def read(self, paths: ImagePaths) -> LoadedInput:
        source = paths.input_file
        if not source.exists():
            try:
                wait_for_path(source, retry_seconds=self.retry, timeout_seconds=self.timeout)
            except PathNotReachableError:
                if not self.walker.input_dir.exists():
                    raise InputUnreachable(
                        "the input folder is not reachable", file=self.walker.input_dir
                    ) from None
                raise MediaError(source, "not found", f"not reachable for {self.timeout:g} s") from None
        with self.times.stage("decode"):
            data = read_bytes(source)
            refuse_animated(data, source=os.fspath(source))
            loaded = decode_image(data, source=os.fspath(source), max_pixels=self.config.run.max_image_pixels)
            if loaded.pixels.ndim == 2:  # gray is drawn and written as RGB (16-bit kept)
                loaded = dataclasses.replace(loaded, pixels=np.repeat(loaded.pixels[:, :, None], 3, axis=2))
        expected = FORMATS.get(source.suffix.lower())
        if expected is not None and loaded.info.format != expected:
            raise MediaError(
                source,
                "wrong extension",
                f"the content is {loaded.info.format}, the name says {source.suffix}",
            )
        stat = source.stat()
        keep = data if wants_lossless(self.config, loaded.info, encode_format(paths.output_file)) else None
        when = datetime.fromtimestamp(min(stat.st_mtime, stat.st_ctime))
        return LoadedInput(paths, loaded, when, stat.st_size, keep)

    # --- writing ----------------------------------------------------------------------------

    def _journal_arguments(self, objects: MaskedObjects, width: int) -> dict[str, Any]:
        draw = self.config.draw
        mode = draw.effective_mode
        counts = Counter(objects.class_labels)
        labels = sorted(counts)
        args: dict[str, Any] = {
            "detector": self.detector_names[0] if self.detector_names else "manual",
            "draw mode": _JOURNAL_DRAW_MODE[mode],
            "classes": ",".join(labels) if labels else "none",
            "counts": ",".join(f"{label}:{counts[label]}" for label in labels) or "none",
            "score threshold": self.config.detection.score_threshold,
        }
        dilation = self.config.detection.mask_dilation_pixels
        if dilation <= 500:
            args["dilation"] = dilation
        if mode is not DrawMode.MASK_COLOR and draw.blur is not None:
            strength = blur_kernel(width, draw.blur)
            if strength <= 255:
                args["strength"] = strength
        elif draw.mask_color is not None:
            args["fill color"] = "#{:02X}{:02X}{:02X}".format(*draw.mask_color)
        return args

    def _write_journal(
        self, item: LoadedInput, folder: Path, encoded: bytes, changed: BoolArray, objects: MaskedObjects
    ) -> None:
        from masksmith.journal.project import Journal

        remove_path(folder)
        paths = item.paths
        journal = Journal.create(paths.input_file, folder, name=paths.stem)
        target = folder / f"{paths.stem}_anonymised{paths.output_file.suffix.lower()}"
        target.write_bytes(encoded)
        journal.record(
            paths.stem,
            target,
            op="AnonymiseRegion",
            arguments=self._journal_arguments(objects, item.image.pixels.shape[1]),
            description="detectors: " + ", ".join(self.detector_names),
            changed=changed,
        )

    def write(self, item: LoadedInput, objects: MaskedObjects) -> dict[str, Any]:
        """Draw, encode and write every output of one image; returns its metadata row."""
        paths, config = item.paths, self.config
        info = item.image.info
        with self.times.stage("draw"):
            pixels, changed = draw_objects(item.image.pixels, objects, config=config.draw)
        with self.times.stage("metadata"):
            stored = (info.height, info.width) if info.orientation >= 5 and info.orientation_applied else None
            size = stored or (info.width, info.height)
            row = build_metadata(
                paths.input_file,
                info.exif,
                config=config,
                image_size=size,
                detected=objects.class_labels,
                file_time=item.file_time,
            )
            json_text = json.dumps(row, indent=4, ensure_ascii=False).encode("utf-8")
        with self.times.stage("encode"):
            encoded = encode_output(
                pixels,
                changed,
                info=info,
                original=item.original,
                output_format=encode_format(paths.output_file),
                config=config,
                name=os.fspath(paths.output_file),
            ).data
        preview_bytes = None
        previews = paths.preview_targets(config)
        dim = config.outputs.preview_dim
        if previews and dim is not None:
            with self.times.stage("preview"):
                crop = preview_pixels(preview_crop(pixels, dim=dim, center=config.outputs.preview_center))
                preview_bytes = encode_image(crop, format="JPEG", quality=config.outputs.jpeg_quality)
        targets = paths.expected_outputs(config, journal=self.journal)
        with self.times.stage("write"):
            self._check_output_reachable()
            self.walker.mark_inflight(paths, targets)
            if self.walker.rows:
                self.walker.owe_row(paths, row_record(size, objects.class_labels, item.file_time))
            try:
                writes: list[tuple[Path, Callable[[Path], None]]] = []
                for target in paths.json_targets(config):
                    writes.append((target, _bytes_writer(json_text)))
                if preview_bytes is not None:
                    for target in previews:
                        writes.append((target, _bytes_writer(preview_bytes)))
                if paths.archive_file is not None:
                    writes.append((paths.archive_file, _copier(paths.input_file)))
                if self.journal:
                    writes.append(
                        (
                            paths.journal_dir,
                            lambda folder: self._write_journal(item, folder, encoded, changed, objects),
                        )
                    )
                writes.append((paths.output_file, _bytes_writer(encoded)))  # published image last
                for target, writer in writes:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    writer(partial_path(target))
                for target, _ in writes:
                    if target.is_dir():
                        remove_path(target)  # a folder is only replaced when gone
                    os.replace(partial_path(target), target)
                self._verify(item, targets)
            except BaseException:
                for target in targets:
                    remove_path(partial_path(target))
                    remove_path(target)
                self.walker.row_written(paths)  # nothing published: the whole image is redone
                self.walker.clear_inflight(paths)
                raise
            self.walker.clear_inflight(paths)
        return row

    def _check_output_reachable(self) -> None:
        base = self.walker.output_dir
        if not base.exists():
            wait_for_path(base, retry_seconds=self.retry, timeout_seconds=self.timeout)

    def _verify(self, item: LoadedInput, targets: list[Path]) -> None:
        for target in targets:
            if target.is_dir():
                if not any(target.iterdir()):
                    raise MediaError(target, "write failed", "journal folder is empty")
                continue
            try:
                size = target.stat().st_size
            except FileNotFoundError:
                raise MediaError(target, "write failed", "output missing after writing") from None
            if size == 0:
                raise MediaError(target, "write failed", "output is empty")
        archive = item.paths.archive_file
        if archive is not None and archive.stat().st_size != item.size:
            raise MediaError(archive, "write failed", "archive copy differs in size from the input")


def row_record(size: tuple[int, int], detected: Sequence[str], file_time: datetime) -> dict[str, object]:
    """What rebuilds an image's database row without detecting it again."""
    return {"image_size": list(size), "detected": list(detected), "file_time": file_time.isoformat()}


def _bytes_writer(data: bytes) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        with open(path, "wb") as handle:
            handle.write(data)

    return write


def _copier(source: Path) -> Callable[[Path], None]:
    def copy(path: Path) -> None:
        shutil.copy2(source, path)

    return copy


class WorkerRecipe:
    """Setup of a worker in another process (a process pool or a Ray actor): builds its own detectors
    once and its :class:`ImageWorker`. Picklable: paths (absolute), the config, names."""

    def __init__(
        self,
        walker: TreeWalker,
        config: AnonymiseConfig,
        *,
        journal: bool,
        detectors: Sequence[Detector] | None = None,
        model_threads: int | None = None,
    ) -> None:
        self.input = os.fspath(walker.input_dir)
        self.output = os.fspath(walker.output_dir)
        self.archive = os.fspath(walker.archive_dir) if walker.archive_dir is not None else None
        self.rows = walker.rows  # a database takes a row per image: workers record the owed row first
        self.config = config
        self.journal = journal
        self.detectors = list(detectors) if detectors is not None else None
        self.model_threads = model_threads

    def __call__(self) -> ImageWorker:
        times = StageTimes()
        # Ray sets OMP_NUM_THREADS to the CPUs the actor reserved: the models keep to them too
        threads = os.environ.get("OMP_NUM_THREADS", "")
        models, names = load_models(
            self.config,
            self.detectors,
            model_threads=int(threads) if threads.isdigit() else self.model_threads,
        )
        walker = TreeWalker(self.input, self.output, self.archive, config=self.config, journal=self.journal)
        walker.rows = self.rows
        return ImageWorker(
            walker, self.config, detect=timed_detect(self.config, models, times), detector_names=names,
            journal=self.journal, times=times,
        )  # fmt: skip


class Prebuilt:
    """Setup of the local threads: the :class:`ImageWorker` the driver built (so a model that cannot
    load stops the run at startup), shared by the threads."""

    def __init__(self, worker: ImageWorker) -> None:
        self.worker = worker

    def __call__(self) -> ImageWorker:
        return self.worker


def local_worker(
    walker: TreeWalker,
    config: AnonymiseConfig,
    *,
    journal: bool,
    detectors: Sequence[Detector] | None,
    slots: int,
    model_threads: int,
    per_thread: bool = False,
) -> ImageWorker:
    """The worker the local threads share: its detectors built now, ``slots`` sets of them at most in use
    at once (each built on first need, run single-threaded side by side); given ``detectors`` are one
    set, used by one thread at a time (they may not be thread-safe). ``per_thread`` gives each calling
    thread its own set instead (the window threads of cutouts)."""
    times = StageTimes()
    models, names = load_models(config, detectors, model_threads=model_threads)
    detect = timed_detect(config, models, times)

    def more() -> DetectFn:
        return timed_detect(config, load_models(config, None, model_threads=model_threads)[0], times)

    if per_thread and detectors is None:
        detect = PerThreadDetect(detect, more)
    else:
        detect = DetectorSlots(detect, more if detectors is None else None, slots=slots)
    return ImageWorker(walker, config, detect=detect, detector_names=names, journal=journal, times=times)


class ImageTask:
    """The task each worker runs per image: :meth:`ImageWorker.process`, its outcome as an ImageDone.

    ``remote`` workers (other processes) hand back messages, not exceptions (not every exception
    pickles); a set ``stop`` (local threads only) makes images not yet started end at once.
    """

    def __init__(self, *, remote: bool, stop: threading.Event | None = None) -> None:
        self.remote = remote
        self.stop = stop

    def __call__(self, worker: ImageWorker, paths: ImagePaths) -> ImageDone:
        if self.stop is not None and self.stop.is_set():
            return ImageDone(None, error="not started: the run stopped")
        try:
            done = worker.process(paths)
        except PathNotReachableError as exc:
            return self._failed(worker, exc, abort=True)  # a shared folder vanished
        except Exception as exc:
            if self.remote and not isinstance(exc, MasksmithError):
                _log.error("%s failed", paths.input_file, exc_info=True)
            return self._failed(worker, exc, abort=False)
        done.timings = worker.times.take()
        return done

    def _failed(self, worker: ImageWorker, exc: BaseException, *, abort: bool) -> ImageDone:
        message = exc.one_line() if isinstance(exc, MasksmithError) else f"{type(exc).__name__}: {exc}"
        return ImageDone(
            None, timings=worker.times.take(), error=message, abort=abort,
            failure=None if self.remote else exc,
        )  # fmt: skip
