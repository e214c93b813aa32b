"""``masksmith anonymise``: detect people, faces, vehicles and plates in road images and hide them.

One run walks the input tree (:mod:`~masksmith.anonymise.walker`), skips images already done, and for
each remaining image: decodes it (prefetched on a reader thread), detects it on one of
``detection_workers`` threads (one per CPU core by default; each loads its models once and runs them
single-threaded, so several images are detected at once instead of one image on several threads), then
hands drawing, encoding and writing to a bounded pool of ``max_num_async_workers`` writer threads. Outputs are written under partial names and renamed into
place; an image counts as done only when all of them are verified. A failed image is copied to
``<output>_error/<rel>/`` with ``<stem>_error.txt`` and the run goes on. Rows go to the injected sink,
messages to the injected notifier (both no-ops by default).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import logging
import os
import shutil
import socket
import sys
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from masksmith.anonymise.config import AnonymiseConfig, DetectorName, DrawMode, check_startup, load_config
from masksmith.anonymise.cutouts import MapFn, MaskedObjects, detect_tiled, detect_with_cutouts
from masksmith.anonymise.detector_setup import (
    DETECTOR_CLASSES,
    detector_options,
    plan_detectors,
    refine,
    uncovered_classes,
    warn_uncovered_once,
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
from masksmith.anonymise.walker import (
    ImagePaths,
    PathNotReachableError,
    TreeWalker,
    partial_path,
    remove_empty_parents,
    remove_path,
    start_walk,
    wait_for_path,
)
from masksmith.detect import Detections, Detector, create_detector, detect_downscaled
from masksmith.detect.registry import face_detector_name
from masksmith.errors import MasksmithError, MediaError
from masksmith.executors import is_distributed, usable_cpus
from masksmith.media.io import LoadedImage, decode_image, encode_image, read_bytes, read_exif, read_image_size

__all__ = [
    "REGISTRY_NAMES",
    "AnonymisedImage",
    "Notifier",
    "NullNotifier",
    "NullSink",
    "RowSink",
    "RunSummary",
    "anonymise",
    "anonymise_image",
    "build_detectors",
    "find_objects",
    "make_detect",
    "memory_bound_mb",
]

_log = logging.getLogger("masksmith.anonymise")

#: Config detector names (underscores) → detector registry names (hyphens).
REGISTRY_NAMES: Mapping[DetectorName, str] = {
    DetectorName.CENTERFACE: "centerface",
    DetectorName.YOLO_SEG: "yolo-seg",
    DetectorName.HOG_PEOPLE: "hog-people",
    DetectorName.HAAR_PLATES: "haar-plates",
    DetectorName.TEXT_PLATES: "text-plates",
    DetectorName.MASK_RCNN: "mask-rcnn",
    DetectorName.YOLOX: "yolox",
}
_DETECTOR_CLASSES = DETECTOR_CLASSES
_JOURNAL_DRAW_MODE = {
    DrawMode.BLUR: "blur",
    DrawMode.GRAY_BLUR: "gray",
    DrawMode.NORMALIZED_GRAY_BLUR: "gray",
    DrawMode.MASK_COLOR: "fill",
}
_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG"}
_SEPARATOR = "-" * 150

BoolArray = npt.NDArray[np.bool_]
DetectFn = Callable[[np.ndarray], Sequence[Detections]]


# --------------------------------------------------------------------------------------------------
# interfaces of the sink and the notifier (implemented elsewhere; no-ops here)


@runtime_checkable
class RowSink(Protocol):
    """Receives one metadata row per finished image (e.g. a database writer)."""

    def add(self, row: Mapping[str, Any]) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class Notifier(Protocol):
    """Sends ``critical``, ``error`` and ``finished`` messages (e.g. by e-mail)."""

    def notify(self, level: str, subject: str, body: str, attachment: Path | None = None) -> None: ...


class NullSink:
    """A sink that drops every row (no database: rows are not part of an image being done)."""

    takes_rows = False

    def add(self, row: Mapping[str, Any]) -> None:
        del row

    def flush(self) -> None:
        return None

    def close(self) -> None:
        return None


class NullNotifier:
    """A notifier that sends nothing."""

    def notify(self, level: str, subject: str, body: str, attachment: Path | None = None) -> None:
        del level, subject, body, attachment


def _as_notifier(notifier: Notifier | Callable[..., Any] | None) -> Notifier:
    if notifier is None:
        return NullNotifier()
    if isinstance(notifier, Notifier):
        return notifier
    if callable(notifier):
        function = notifier

        class _Adapter:
            def notify(self, level: str, subject: str, body: str, attachment: Path | None = None) -> None:
                function(level, subject, body, attachment)

        return _Adapter()
    raise TypeError(f"notifier must have notify(level, subject, body, attachment), got {type(notifier)}")


# --------------------------------------------------------------------------------------------------
# detection


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


def detection_pixel_cap(config: AnonymiseConfig) -> int:
    """The most pixels one detector call sees: ``max_num_pixels`` bounded by ``detection_max_pixels``."""
    return min(config.detection.max_num_pixels, config.run.detection_max_pixels)


def build_detectors(
    config: AnonymiseConfig, *, model_threads: int | None = None
) -> list[tuple[DetectorName, Detector]]:
    """Create the configured detectors once (models load now); detectors with no kept class are skipped.

    ``model_threads`` is the number of threads each ONNX model may use (None: onnxruntime's default).
    """
    det = config.detection
    kept = set(det.kept_classes)
    out: list[tuple[DetectorName, Detector]] = []
    names = plan_detectors(config)
    warn_uncovered_once(config, names)
    for name in names:
        classes = [c for c in _DETECTOR_CLASSES[name] if c in kept]
        if not classes:
            _log.info("detector %s skipped: none of its classes is in kept_classes", name.value)
            continue
        options: dict[str, Any] = detector_options(name, config, classes, model_threads) or {}
        if name is DetectorName.CENTERFACE:
            options["threshold"] = det.score_threshold
            options["allow_spinning"] = not config.run.enable_async
            options["intra_op_threads"] = model_threads
        elif name is DetectorName.YOLO_SEG:
            options = {
                "model_path": det.yolo_model_paths.for_type(det.model_type),
                "score_threshold": det.score_threshold,
                "classes": classes,
                "intra_op_threads": model_threads,
            }
            if det.model_class_map is not None:
                options["class_map"] = det.model_class_map
        registry_name = REGISTRY_NAMES[name]
        if name is DetectorName.CENTERFACE and face_detector_name() != registry_name:
            _warn_face_fallback()
            registry_name, options = face_detector_name(), {}
        out.append((name, create_detector(registry_name, **options)))
    return out


@functools.cache
def _warn_face_fallback() -> None:
    """Once per process: each worker builds its own detectors."""
    _log.warning("CenterFace is not installed; using dlib's HOG face detector (frontal faces only)")


def load_models(
    config: AnonymiseConfig, detectors: Sequence[Detector] | None, *, model_threads: int | None = None
) -> tuple[list[Detector], list[str]]:
    """The configured detectors, built now (or the given ones), and their names for logs and journals."""
    if detectors is None:
        built = build_detectors(config, model_threads=model_threads)
        # the detector's own name: dlib-faces when it stood in for a missing CenterFace
        return [d for _, d in built], [str(getattr(d, "name", REGISTRY_NAMES[n])) for n, d in built]
    models = list(detectors)
    return models, [str(getattr(d, "name", type(d).__name__)) for d in models]


def make_detect(
    detectors: Sequence[Detector],
    *,
    max_num_pixels: int | None,
    kept_classes: Sequence[str],
    timer: Callable[[float], None] | None = None,
    config: AnonymiseConfig | None = None,
    detector_timer: Callable[[str, float], None] | None = None,
) -> DetectFn:
    """A function running every detector on an image (shrunk to ``max_num_pixels``), kept classes only.

    With ``config`` the precision rules apply (faces scaled by ``face_scale``, weak detectors gated);
    ``detector_timer`` receives each detector's name and seconds.
    """
    kept = set(kept_classes)
    names = [str(getattr(d, "name", type(d).__name__)) for d in detectors]

    def detect(image: np.ndarray) -> list[Detections]:
        start = time.perf_counter()
        out = []
        for name, detector in zip(names, detectors, strict=True):
            began = time.perf_counter()
            dets = detect_downscaled(detector, image, max_num_pixels)
            keep = np.array([label in kept for label in dets.class_labels], dtype=bool)
            out.append(dets if keep.all() else dets[keep])
            if detector_timer is not None:
                detector_timer(name, time.perf_counter() - began)
        if config is not None:
            out = refine(out, names, config)
        if timer is not None:
            timer(time.perf_counter() - start)
        return out

    return detect


class PerThreadDetect:
    """A :data:`DetectFn` giving each calling thread its own detectors, built on its first call.

    ``first`` (already built, so model errors surface at startup) goes to the first thread that asks;
    later threads call ``factory``. Detectors are never shared between threads.
    """

    def __init__(self, first: DetectFn, factory: Callable[[], DetectFn]) -> None:
        self._spare: list[DetectFn] = [first]
        self._factory = factory
        self._lock = threading.Lock()
        self._local = threading.local()

    def __call__(self, image: np.ndarray) -> Sequence[Detections]:
        detect: DetectFn | None = getattr(self._local, "detect", None)
        if detect is None:
            with self._lock:
                spare = self._spare.pop() if self._spare else None
            detect = spare if spare is not None else self._factory()
            self._local.detect = detect
        return detect(image)


def find_objects(
    image: np.ndarray, detect: DetectFn, *, config: AnonymiseConfig, map_views: MapFn = map
) -> MaskedObjects:
    """Detect (with cutouts when configured), merge and dilate: the objects to hide in ``image``.

    No detector sees more than ``detection_max_pixels``: larger windows and images are split into
    overlapping full-resolution tiles, and ``detect`` (see :func:`detection_pixel_cap`) runs the
    whole-image pass on a reduced copy. ``map_views`` runs the views' detections (an executor's ``map``
    runs them in parallel).
    """
    det = config.detection
    wrap = det.cutout_wrap_around
    budget = config.run.detection_max_pixels
    if det.use_cutouts:
        objects = detect_with_cutouts(
            image,
            detect,
            step=det.cutout_step_factor,
            downscale=det.cutout_dim_downscale,
            wrap=wrap,
            map_views=map_views,
            max_view_pixels=budget,
        )
    elif image.shape[0] * image.shape[1] > budget:
        objects = detect_tiled(image, detect, max_view_pixels=budget, wrap=wrap, map_views=map_views)
    else:
        found = list(detect(image))
        if found:
            objects = MaskedObjects.from_detections(found, wrap=wrap)
        else:
            objects = MaskedObjects((), (int(image.shape[0]), int(image.shape[1])), wrap)
    return objects.dilate(det.mask_dilation_pixels)


@dataclass(frozen=True)
class AnonymisedImage:
    """An anonymised image, the exact mask of what was hidden, and the objects found."""

    pixels: np.ndarray
    changed: BoolArray
    objects: MaskedObjects


def anonymise_image(image: np.ndarray, detect: DetectFn, *, config: AnonymiseConfig) -> AnonymisedImage:
    """Anonymise one RGB image in memory (no files): detect, merge, dilate, draw."""
    objects = find_objects(image, detect, config=config)
    pixels, changed = draw_objects(image, objects, config=config.draw)
    return AnonymisedImage(pixels, changed, objects)


# --------------------------------------------------------------------------------------------------
# the run


@dataclass
class RunSummary:
    """What a run did. ``timings`` sums seconds per stage over all images."""

    identified: int = 0
    skipped: int = 0
    failed: int = 0
    masked: int = 0
    rows: int = 0
    seconds: float = 0.0
    cleaned: int = 0
    errors: list[str] = field(default_factory=list)
    database: str | None = None  # where rows went (the SQLite file's path); None: no database
    skipped_names: list[str] = field(default_factory=list)  # files whose extension is not accepted
    timings: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    hidden: dict[str, int] = field(default_factory=dict)  # objects hidden per class over the run
    not_detected: list[str] = field(default_factory=list)  # kept classes no detector looked for

    def count_hidden(self, row: Mapping[str, Any]) -> None:
        """Add one image's ``detekterte_objekter`` (class -> count) to the per-class totals."""
        for name, count in (row.get("detekterte_objekter") or {}).items():
            self.hidden[name] = self.hidden.get(name, 0) + int(count)

    @property
    def exit_code(self) -> int:
        """0 when every image succeeded, 1 when any failed."""
        return 1 if self.failed else 0

    def lines(self) -> list[str]:
        lines = [
            f"Identified images: {self.identified}",
            f"Skipped (already done): {self.skipped}",
            f"Failed: {self.failed}",
            f"Masked images: {self.masked}",
            "Hidden per class: " + (", ".join(f"{k} {v}" for k, v in self.hidden.items()) or "none"),
            *(
                [f"NOT HIDDEN (no detector for them): {', '.join(self.not_detected)}"]
                if self.not_detected
                else []
            ),
            *(
                ["Detector time: " + ", ".join(f"{k[6:]} {v:.1f} s" for k, v in per_detector.items())]
                if (per_detector := {k: v for k, v in self.timings.items() if k.startswith("model:")})
                else []
            ),
        ]
        if self.database is not None:
            lines.append(f"Rows written: {self.rows} (to {self.database})")
        if self.skipped_names:
            shown = ", ".join(self.skipped_names[:10])
            more = f" and {len(self.skipped_names) - 10} more" if len(self.skipped_names) > 10 else ""
            lines.append(f"Not images by extension (skipped): {len(self.skipped_names)}: {shown}{more}")
        lines.append(f"Total time: {self.seconds:.1f} s")
        return lines


class _Timings:
    """Thread-safe per-stage time sums."""

    def __init__(self, into: dict[str, float]) -> None:
        self._into = into
        self._lock = threading.Lock()

    def add(self, stage: str, seconds: float) -> None:
        with self._lock:
            self._into[stage] += seconds

    def detect(self, config: AnonymiseConfig, models: Sequence[Detector]) -> DetectFn:
        """:func:`make_detect` for ``config`` whose model time is added to the ``model`` stage."""
        return make_detect(
            models,
            max_num_pixels=detection_pixel_cap(config),
            kept_classes=config.detection.kept_classes,
            timer=lambda s: self.add("model", s),
            config=config,
            detector_timer=lambda name, s: self.add(f"model:{name}", s),
        )

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - start)


@dataclass
class _Loaded:
    paths: ImagePaths
    image: LoadedImage
    file_time: datetime
    size: int
    original: bytes | None = None  # the input file's bytes, kept for lossless JPEG output

    @property
    def view(self) -> np.ndarray:
        """The pixels as 8-bit RGB for the detectors."""
        return detection_view(self.image.pixels)


class _AbortRun(MasksmithError):
    """A shared folder vanished: stop the run instead of failing every image."""


class RowNotWritten(MasksmithError):
    """An image's database row was not written; its files are kept and the row is retried next run."""


def _encode_format(path: Path) -> str:
    return _FORMATS.get(path.suffix.lower(), "JPEG")


class _Run:
    """State of one ``anonymise`` call."""

    def __init__(
        self,
        walker: TreeWalker,
        config: AnonymiseConfig,
        *,
        detect: DetectFn,
        detector_names: Sequence[str],
        sink: RowSink,
        notifier: Notifier,
        journal: bool,
        summary: RunSummary,
        log_file: Path | None,
        detection_workers: int = 1,
    ) -> None:
        self.walker = walker
        self.detection_workers = detection_workers
        self.config = config
        self.detect = detect
        self.detector_names = list(detector_names)
        self.sink = sink
        self.notifier = notifier
        self.journal = journal
        self.summary = summary
        self.timings = _Timings(summary.timings)
        self.log_file = log_file
        self.retry = config.run.file_access_retry_seconds
        self.timeout = config.run.file_access_timeout_seconds
        self.expected_rows: dict[str, ImagePaths] = {}  # primary key -> image, rows added this run
        self.row_errors: dict[str, str] = {}  # primary key -> why add() refused it
        self.retried_rows: set[str] = set()  # keys of rows retried for images done earlier

    # --- walking ----------------------------------------------------------------------------

    def start(self, *, clear_cache: bool, progress: bool) -> tuple[Iterable[ImagePaths], Any]:
        """Start the walk (cleaning interrupted images unless ``clear_cache`` is off) and the progress bar."""
        from tqdm import tqdm

        jobs, total, self.summary.cleaned = start_walk(
            self.walker,
            lazy_paths=self.config.run.lazy_paths,
            retry_seconds=self.retry,
            timeout_seconds=self.timeout,
            clear_cache=clear_cache,
        )
        bar = tqdm(
            total=total, desc="anonymise", unit="img", file=sys.stderr, disable=None if progress else True
        )
        return jobs, bar

    def tick(self, bar: Any) -> None:
        """One more image settled: advance the bar and show the counts."""
        summary = self.summary
        bar.set_postfix(done=summary.masked, skipped=summary.skipped, failed=summary.failed, refresh=False)
        bar.update(1)

    # --- reading ----------------------------------------------------------------------------

    def read(self, paths: ImagePaths) -> _Loaded:
        source = paths.input_file
        if not source.exists():
            try:
                wait_for_path(source, retry_seconds=self.retry, timeout_seconds=self.timeout)
            except PathNotReachableError:
                if not self.walker.input_dir.exists():
                    raise _AbortRun("the input folder is not reachable", file=self.walker.input_dir) from None
                raise MediaError(source, "not found", f"not reachable for {self.timeout:g} s") from None
        with self.timings.stage("decode"):
            data = read_bytes(source)
            refuse_animated(data, source=os.fspath(source))
            loaded = decode_image(data, source=os.fspath(source), max_pixels=self.config.run.max_image_pixels)
            if loaded.pixels.ndim == 2:  # gray is drawn and written as RGB (16-bit kept)
                loaded = dataclasses.replace(loaded, pixels=np.repeat(loaded.pixels[:, :, None], 3, axis=2))
        expected = _FORMATS.get(source.suffix.lower())
        if expected is not None and loaded.info.format != expected:
            raise MediaError(
                source,
                "wrong extension",
                f"the content is {loaded.info.format}, the name says {source.suffix}",
            )
        stat = source.stat()
        keep = data if wants_lossless(self.config, loaded.info, _encode_format(paths.output_file)) else None
        when = datetime.fromtimestamp(min(stat.st_mtime, stat.st_ctime))
        return _Loaded(paths, loaded, when, stat.st_size, keep)

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
        self, item: _Loaded, folder: Path, encoded: bytes, changed: BoolArray, objects: MaskedObjects
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

    def write(self, item: _Loaded, objects: MaskedObjects) -> dict[str, Any]:
        """Draw, encode and write every output of one image; returns its metadata row."""
        paths, config = item.paths, self.config
        info = item.image.info
        with self.timings.stage("draw"):
            pixels, changed = draw_objects(item.image.pixels, objects, config=config.draw)
        with self.timings.stage("metadata"):
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
        with self.timings.stage("encode"):
            encoded = encode_output(
                pixels,
                changed,
                info=info,
                original=item.original,
                output_format=_encode_format(paths.output_file),
                config=config,
                name=os.fspath(paths.output_file),
            ).data
        preview_bytes = None
        previews = paths.preview_targets(config)
        dim = config.outputs.preview_dim
        if previews and dim is not None:
            with self.timings.stage("preview"):
                crop = preview_pixels(preview_crop(pixels, dim=dim, center=config.outputs.preview_center))
                preview_bytes = encode_image(crop, format="JPEG", quality=config.outputs.jpeg_quality)
        targets = paths.expected_outputs(config, journal=self.journal)
        with self.timings.stage("write"):
            self._check_output_reachable()
            self.walker.mark_inflight(paths, targets)
            if self.walker.rows:
                self.walker.owe_row(paths, _row_record(size, objects.class_labels, item.file_time))
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
        if not self.walker.rows:  # else once its row is written (settle_rows)
            self._after_done(item.paths, item.size)
        return row

    # --- database rows ------------------------------------------------------------------------

    def settled_before(self, paths: ImagePaths) -> bool:
        """Count an image met while walking; True when it needs no detection (done, or only its row owed)."""
        summary = self.summary
        state = self.walker.state(paths)
        if state == "todo":
            return False
        summary.skipped += 1
        if state == "row":
            self.retry_row(paths)
        elif self.config.run.delete_input:
            self._after_done(paths, None)
        return True

    def retry_row(self, paths: ImagePaths) -> None:
        """Rebuild the row of an image whose files are complete (nothing is detected or written again)."""
        record = self.walker.owed_row(paths) or {}
        try:
            info = read_image_size(paths.input_file)
            size: Any = record.get("image_size") or info
            detected: Any = record.get("detected") or []
            stamp = record.get("file_time")
            file_time = datetime.fromisoformat(stamp) if isinstance(stamp, str) else None
            if file_time is None:
                stat = paths.input_file.stat()
                file_time = datetime.fromtimestamp(min(stat.st_mtime, stat.st_ctime))
            row = build_metadata(
                paths.input_file,
                read_exif(paths.input_file),
                config=self.config,
                image_size=(int(size[0]), int(size[1])),
                detected=[str(label) for label in detected],
                file_time=file_time,
            )
        except (MasksmithError, OSError, ValueError, TypeError, IndexError) as exc:
            self.record_failure(
                paths, RowNotWritten(f"database row not rebuilt: {exc}", file=paths.input_file)
            )
            return
        _log.info("retrying the database row of %s", paths.input_file)
        self.retried_rows.add(self.add_row(paths, row))

    def add_row(self, paths: ImagePaths, row: Mapping[str, Any]) -> str:
        """Hand the row of a finished image to the sink (whether it was written is settled at the end);
        returns its key."""
        if not self.walker.rows:
            self.sink.add(row)  # a no-op sink: there is no database
            return ""
        key_of = getattr(self.sink, "row_key", None)
        key = str(key_of(row)) if callable(key_of) else os.fspath(paths.input_file)
        self.expected_rows[key] = paths
        try:
            self.sink.add(row)
        except MasksmithError as exc:
            self.row_errors[key] = exc.one_line()
        except Exception as exc:
            self.row_errors[key] = f"{type(exc).__name__}: {exc}"
        return key

    def settle_rows(self) -> None:
        """After the sink is flushed and closed: count written rows, fail the images whose row was not."""
        if not self.walker.rows:
            return
        written = getattr(self.sink, "written_keys", None)
        reasons: Mapping[str, str] = getattr(self.sink, "rejections", {})
        for key, paths in self.expected_rows.items():
            error = self.row_errors.get(key)
            if error is None and written is not None and key not in written:
                error = reasons.get(key) or "not written (database unreachable?); cached and retried next run"
            if error is None:
                self.summary.rows += 1
                self.walker.row_written(paths)
                self._after_done(paths, None)
                continue
            if key in self.retried_rows:
                self.summary.skipped -= 1
            else:
                self.summary.masked -= 1
            self.record_failure(
                paths, RowNotWritten(f"database row not written: {error}", file=paths.input_file)
            )

    def _check_output_reachable(self) -> None:
        base = self.walker.output_dir
        if not base.exists():
            wait_for_path(base, retry_seconds=self.retry, timeout_seconds=self.timeout)

    def _verify(self, item: _Loaded, targets: list[Path]) -> None:
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

    def _after_done(self, paths: ImagePaths, input_size: int | None) -> None:
        """Drop stale error outputs; delete the input when configured (outputs already verified)."""
        for stale in (paths.error_file, paths.error_text):
            stale.unlink(missing_ok=True)
        if not self.config.run.delete_input:
            return
        archive = paths.archive_file
        if archive is None or not archive.is_file():
            return
        if input_size is None:
            input_size = paths.input_file.stat().st_size
        if archive.stat().st_size != input_size:
            _log.error("%s not deleted: its archive copy differs in size", paths.input_file)
            return
        paths.input_file.unlink(missing_ok=True)
        remove_empty_parents(paths.input_file.parent, self.walker.input_dir)

    # --- failures ---------------------------------------------------------------------------

    def record_failure(self, paths: ImagePaths, err: BaseException) -> None:
        message = err.one_line() if isinstance(err, MasksmithError) else f"{type(err).__name__}: {err}"
        self.summary.failed += 1
        self.summary.errors.append(f"{paths.input_file}: {message}")
        _log.error("%s failed: %s", paths.input_file, message, exc_info=not isinstance(err, MasksmithError))
        try:
            paths.error_text.parent.mkdir(parents=True, exist_ok=True)
            if paths.input_file.is_file():
                shutil.copyfile(paths.input_file, partial_path(paths.error_file))
                os.replace(partial_path(paths.error_file), paths.error_file)
            partial_path(paths.error_text).write_text(message + "\n", encoding="utf-8")
            os.replace(partial_path(paths.error_text), paths.error_text)
        except OSError as exc:
            _log.error("could not write the error outputs of %s: %s", paths.input_file, exc)
        if self.config.email.processing_error_email:
            self.notify("error", "Processing error encountered.", f"{paths.input_file}\n{message}")

    def notify(self, level: str, subject: str, body: str) -> None:
        attach = self.log_file if self.config.email.email_attach_log_file and self.log_file else None
        text = "\n".join(
            ["_" * 50, f"Hostname: {socket.gethostname()}", f"Time: {datetime.now():%Y-%m-%d %H:%M:%S}",
             f"Log file: {self.log_file}", "_" * 50, body]
        )  # fmt: skip
        try:
            self.notifier.notify(
                level, f"[masksmith anonymise] {socket.gethostname()} : {subject}", text, attach
            )
        except Exception as exc:  # a failed e-mail is logged, never fatal
            _log.error("could not send the %s notification: %s", level, exc)


def _row_record(size: tuple[int, int], detected: Sequence[str], file_time: datetime) -> dict[str, object]:
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


_Found = tuple[_Loaded, MaskedObjects]


def _pipeline(
    jobs: Iterator[ImagePaths],
    read: Callable[[ImagePaths], _Loaded],
    find: Callable[[_Loaded], MaskedObjects],
    reader: ThreadPoolExecutor,
    detector: ThreadPoolExecutor,
    depth: int,
) -> Iterator[tuple[ImagePaths, Future[_Found]]]:
    """Yield (paths, future of its decoded image and objects) in input order, ``depth`` images ahead.

    Reads run on ``reader``; each detection waits for its read on a ``detector`` thread.
    """

    def detect(loading: Future[_Loaded]) -> _Found:
        item = loading.result()
        return item, find(item)

    window: deque[tuple[ImagePaths, Future[_Found]]] = deque()
    for paths in jobs:
        window.append((paths, detector.submit(detect, reader.submit(read, paths))))
        if len(window) > depth:
            yield window.popleft()
    while window:
        yield window.popleft()


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
    executor: Any = None,
) -> RunSummary:
    """Anonymise every image below ``input`` into ``output`` (mirrored tree); see the module docstring.

    ``config`` defaults to the shipped planar configuration (``load_config(None)``).

    ``detectors`` replaces the configured ones (tests, benchmarks). ``executor`` None or local runs here;
    a distributed one (``masksmith.executors.RayExecutor``) runs one task per image on actors that load
    the detectors once (given ``detectors`` must then pickle), see :mod:`masksmith.anonymise.distributed`.
    ``clear_cache`` False is
    ``--skip-clear-cache``: outputs of images interrupted earlier are not deleted first (such images are
    still redone). Raises ConfigError (bad configuration or folders), ModelUnavailable (a detector cannot
    load) or PathNotReachableError (a folder vanished); per-image problems are counted, not raised.
    """
    started = time.perf_counter()
    summary = RunSummary()
    if config is None:
        config = load_config(None)
    journal = journal or config.run.write_journal
    check_startup(config, input_dir=input, output_dir=output, archive_dir=archive, log_dir=log_dir)
    saved_level, saved_propagate = _log.level, _log.propagate
    once = _OncePerRun()
    folder_log = logging.getLogger("masksmith.anonymise.metadata")
    folder_log.addFilter(once)
    log_file, handler = _setup_log_file(config, Path(log_dir) if log_dir is not None else None)
    rows_sink: RowSink = sink if sink is not None else NullSink()
    note = _as_notifier(notifier)
    try:
        _log.info("Call: %s", " ".join(sys.argv))
        _log.info("#### CONFIG START ####\n%s#### CONFIG END ####", config.redacted_yaml())
        walker = TreeWalker(input, output, archive, config=config, journal=journal)
        walker.rows = bool(getattr(rows_sink, "takes_rows", True))
        if walker.rows:
            summary.database = str(getattr(rows_sink, "location", type(rows_sink).__name__))
        timings = _Timings(summary.timings)
        distributed = is_distributed(executor)
        # given detectors are shared by one worker: they may not be thread-safe
        workers = detection_workers(config) if detectors is None and not distributed else 1
        model_threads = max(1, usable_cpus() // workers)
        models: list[Detector] = []
        names: list[str] = []
        if not distributed:  # else the actors load the models
            models, names = load_models(config, detectors, model_threads=model_threads)
        if detectors is None:
            summary.not_detected = uncovered_classes(config, plan_detectors(config))
        detect = timings.detect(config, models)
        if workers > 1:  # one set of models per worker: sessions run single-threaded side by side
            detect = PerThreadDetect(
                detect,
                lambda: timings.detect(config, load_models(config, None, model_threads=model_threads)[0]),
            )
        run = _Run(
            walker, config, detect=detect, detector_names=names, sink=rows_sink, notifier=note,
            journal=journal, summary=summary, log_file=log_file, detection_workers=workers,
        )  # fmt: skip
        try:
            if distributed:
                from masksmith.anonymise.distributed import execute_distributed, worker_setup

                setup = worker_setup(input, output, archive, config, journal, detectors, rows=walker.rows)
                execute_distributed(
                    run, walker, summary, executor, setup, progress=progress, clear_cache=clear_cache
                )
            else:
                _execute(run, walker, summary, progress=progress, clear_cache=clear_cache)
        except BaseException as exc:
            if config.email.uncaught_exception_email and not isinstance(exc, KeyboardInterrupt):
                run.notify("critical", f"Execution stopped due to uncaught {type(exc).__name__}.", repr(exc))
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
            run.notify("finished", "Anonymisation finished.", "\n".join(summary.lines()))
        return summary
    finally:
        folder_log.removeFilter(once)
        once.report()
        if handler is not None:
            _log.removeHandler(handler)
            handler.close()
        _log.setLevel(saved_level)
        _log.propagate = saved_propagate


def _execute(
    run: _Run, walker: TreeWalker, summary: RunSummary, *, progress: bool, clear_cache: bool
) -> None:
    config = run.config
    jobs, bar = run.start(clear_cache=clear_cache, progress=progress)
    workers = config.run.max_num_async_workers if config.run.enable_async else 0
    inflight: dict[Future[dict[str, Any]], ImagePaths] = {}

    def update_bar() -> None:
        run.tick(bar)

    def finish(future: Future[dict[str, Any]]) -> None:
        paths = inflight.pop(future)
        try:
            row = future.result()
        except (KeyboardInterrupt, SystemExit, _AbortRun, PathNotReachableError):
            raise
        except Exception as exc:
            run.record_failure(paths, exc)
        else:
            summary.masked += 1
            summary.count_hidden(row)
            hidden = row.get("detekterte_objekter") or {}
            _log.info(
                "done: %s (%s)",
                paths.input_file,
                ", ".join(f"{k} {v}" for k, v in hidden.items()) or "nothing hidden",
            )
            run.add_row(paths, row)
        update_bar()

    def drain(limit: int) -> None:
        while len(inflight) > limit:
            done, _ = wait(list(inflight), return_when=FIRST_COMPLETED)
            for future in done:
                finish(future)

    def pending() -> Iterator[ImagePaths]:
        for paths in jobs:
            summary.identified += 1
            if run.settled_before(paths):
                update_bar()
                continue
            yield paths

    writer_pool = (
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="anonymise-writer") if workers else None
    )
    reader_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="anonymise-reader")
    # With cutouts an image has many windows: the workers share each image's windows, one image at a time.
    windows = config.detection.use_cutouts and run.detection_workers > 1
    image_workers = 1 if windows else run.detection_workers
    detect_pool = ThreadPoolExecutor(max_workers=image_workers, thread_name_prefix="anonymise-detect")
    window_pool = (
        ThreadPoolExecutor(max_workers=run.detection_workers, thread_name_prefix="anonymise-window")
        if windows
        else None
    )
    map_views: MapFn = window_pool.map if window_pool is not None else map

    def find(item: _Loaded) -> MaskedObjects:
        return find_objects(item.view, run.detect, config=config, map_views=map_views)

    try:
        stream = _pipeline(pending(), run.read, find, reader_pool, detect_pool, depth=image_workers + 1)
        for paths, finding in stream:
            try:
                item, objects = finding.result()
            except (_AbortRun, PathNotReachableError):
                raise
            except Exception as exc:
                failed: Future[dict[str, Any]] = Future()
                failed.set_exception(exc)
                inflight[failed] = paths
                finish(failed)
                continue
            if writer_pool is None:
                future: Future[dict[str, Any]] = Future()
                try:
                    future.set_result(run.write(item, objects))
                except (_AbortRun, PathNotReachableError):
                    raise
                except Exception as exc:
                    future.set_exception(exc)
                inflight[future] = paths
                finish(future)
                continue
            drain(workers)  # bounded: at most ``workers`` writes queued or running
            inflight[writer_pool.submit(run.write, item, objects)] = paths
            del item, objects
            for future in [f for f in inflight if f.done()]:
                finish(future)
        drain(0)
    finally:
        if writer_pool is not None:
            writer_pool.shutdown(wait=True, cancel_futures=True)
        detect_pool.shutdown(wait=True, cancel_futures=True)
        if window_pool is not None:
            window_pool.shutdown(wait=True, cancel_futures=True)
        reader_pool.shutdown(wait=True, cancel_futures=True)
        bar.close()
        try:
            run.sink.flush()
        finally:
            run.sink.close()
    run.settle_rows()
    with contextlib.suppress(OSError):
        walker.inflight_dir.rmdir()
