"""Face-mask augmentation and aligned face crops over a file or a folder tree.

Per image: read (EXIF orientation applied; gray, RGBA and 16-bit become RGB uint8), detect faces with
CenterFace (boxes + 5 landmarks) on a copy capped at ``detect_max_side``, fit dlib's 68 points to each box
on the *unmasked* image, then for each augmentation draw every face's own mask (type, colour, pattern from
the image's generator) and crop each face from the masked image with the landmarks found before masking.

Output names (``STEM`` = the input file name without its last suffix; when two inputs in one folder share a
stem, each becomes ``STEM_EXT`` instead), in the folder mirroring the input's place in the input tree:

- masks and crops (default): ``STEM_face{i}_aug{k}_{style}.png``
- ``mask=False`` (crops of the untouched image): ``STEM_face{i}_{style}_original.png``
- ``crop=False`` (full frames, every face masked): ``STEM_aug{k}_masked.png``
- ``journal=True``: ``STEM_journal/`` holding the base image and, per augmentation, one OverlayFaceMask edge
  per face whose change mask is exactly that face's drawn mask.

``logs.csv`` and ``missed_images.txt`` (see :mod:`masksmith.facemask.logs`) sit in the output root.
Every random choice comes from a generator derived from ``seed`` and the image's path relative to the input
root, so a run is repeatable byte for byte whatever the executor and its number of workers.

Where things live: :mod:`~masksmith.facemask.inputs` (the walk, stems, jobs), :mod:`~masksmith.facemask.models`
(per-worker setup), :mod:`~masksmith.facemask.task` (one image's work on a worker),
:mod:`~masksmith.facemask.augment` (faces and masked copies); this module validates the options and drives
the run: every image is one task of :func:`masksmith.executors.run_items`, and the driver records results
in input order and checks every output a worker reports before counting it.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from masksmith.errors import ConfigError, MasksmithError, ModelUnavailable
from masksmith.executors import Executor, Finished, create_executor, run_items, usable_cpus
from masksmith.facemask.align import CropStyle
from masksmith.facemask.augment import (
    FIT_RETRIES,
    Augmentation,
    Face,
    augment_image,
    find_faces,
    is_grayscale,
)
from masksmith.facemask.faces import DEFAULT_MAX_PITCH, DEFAULT_MAX_YAW
from masksmith.facemask.inputs import (
    IMAGE_SUFFIXES,
    ImageJob,
    find_images,
    image_jobs,
    image_rng,
    unique_stems,
)
from masksmith.facemask.logs import RunLog
from masksmith.facemask.models import WorkerSetup, check_models, execution_providers
from masksmith.facemask.options import DEFAULT_DETECT_MAX_SIDE, DEFAULT_THRESHOLD, FaceMaskOptions
from masksmith.facemask.task import PNG_COMPRESSION, ImageResult, process_image
from masksmith.facemask.templates import MaskType
from masksmith.facemask.training import CocoBuilder, write_manifest

__all__ = [
    "DEFAULT_DETECT_MAX_SIDE",
    "DEFAULT_THRESHOLD",
    "EXECUTOR_NAMES",
    "FIT_RETRIES",
    "IMAGE_SUFFIXES",
    "PNG_COMPRESSION",
    "Augmentation",
    "Face",
    "FaceMaskOptions",
    "FacemaskSummary",
    "RunSummary",
    "augment_faces",
    "augment_image",
    "execution_providers",
    "find_faces",
    "find_images",
    "image_rng",
    "is_grayscale",
    "unique_stems",
]

_log = logging.getLogger(__name__)


@dataclass
class FacemaskSummary:
    """What a facemask run did. ``failed`` counts images that raised unexpectedly (see logs.csv ``detail``)."""

    images: int = 0
    faces: int = 0
    outputs: int = 0
    missed: int = 0
    unreadable: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    seed: int = 0
    output: Path = Path()
    log_path: Path = Path()
    missed_path: Path = Path()
    manifest_path: Path = Path()

    def one_line(self) -> str:
        rate = self.images / self.seconds if self.seconds > 0 else 0.0
        return (
            f"{self.images} images ({rate:.1f}/s): {self.faces} faces, {self.outputs} outputs, "
            f"{self.skipped} face masks skipped, {self.missed} without a face, {self.unreadable} unreadable, "
            f"{self.failed} failed; "
            f"seed {self.seed}; log {self.log_path}"
        )


RunSummary = FacemaskSummary  # the name before issue 14


def _parse_choices(values: Sequence[Any], enum: type[Any], argument: str) -> tuple[Any, ...]:
    out = []
    for value in values:
        try:
            item = enum(str(value).lower())
        except ValueError:
            valid = ", ".join(m.value for m in enum)
            raise ConfigError(f"unknown value {value!r}; valid: {valid}", argument=argument) from None
        if item not in out:
            out.append(item)
    if not out:
        raise ConfigError("needs at least one value", argument=argument)
    return tuple(out)


#: ``executor`` names augment_faces accepts → the :func:`masksmith.executors.create_executor` kind
EXECUTOR_NAMES = {
    "thread": "threads",
    "threads": "threads",
    "local": "threads",
    "process": "processes",
    "processes": "processes",
    "ray": "ray",
}


def _own_executor(executor: str | Executor, workers: int) -> tuple[Executor, bool]:
    """The executor to run on and whether this run made it (and so shuts it down)."""
    if not isinstance(executor, str):
        return executor, False
    kind = EXECUTOR_NAMES.get(executor.strip().lower())
    if kind is None:
        raise ConfigError(
            f"must be one of {', '.join(repr(k) for k in EXECUTOR_NAMES)} or an Executor, got {executor!r}",
            argument="executor",
        )
    return create_executor(kind, workers=workers), True


def augment_faces(
    input: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    n_augmentations: int = 1,
    mask: bool = True,
    crop: bool = True,
    crop_styles: Sequence[CropStyle | str] = tuple(CropStyle),
    mask_types: Sequence[MaskType | str] = tuple(MaskType),
    crop_size: int = 112,
    seed: int | None = None,
    workers: int = 1,
    journal: bool = False,
    progress: bool = True,
    threshold: float = DEFAULT_THRESHOLD,
    detect_max_side: int | None = DEFAULT_DETECT_MAX_SIDE,
    executor: str | Executor = "thread",
    max_yaw: float = DEFAULT_MAX_YAW,
    max_pitch: float = DEFAULT_MAX_PITCH,
    pairs: bool = False,
    coco: bool = False,
    device: str = "cpu",
    below_nose: float = 0.0,
) -> FacemaskSummary:
    """Mask and/or crop every face in ``input`` (an image or a folder tree) into ``output``.

    See the module docstring for output names. ``seed`` None draws one (reported in the summary).
    Every image is one task of :func:`masksmith.executors.run_items`: ``executor`` ``"thread"`` (the
    default, measured faster on 2 cores), ``"process"`` or ``"ray"`` runs ``workers`` workers (any
    :func:`~masksmith.executors.create_executor` kind is accepted too); an Executor object runs on its
    own workers (``workers`` is then unused) and is left open. Each worker loads the models once (each
    thread has its own CenterFace session); the driver writes logs.csv, the manifest and COCO files and
    counts an output only once it sees the file. ``progress`` shows a tqdm bar on stderr (only on a
    terminal). Raises ConfigError for bad options.

    Faces turned beyond ``max_yaw`` / ``max_pitch`` degrees are logged ``skipped: pose`` and get no
    mask. ``pairs`` also writes the unmasked crops of every face and a crop-aligned mask PNG per masked
    crop; ``coco`` writes COCO annotations (and the full masked frames they describe); either writes
    the manifest. ``device`` is ``cpu``, ``cuda`` or ``auto`` (see :func:`execution_providers`).
    """
    if not mask and not crop:
        raise ConfigError(
            "nothing to do: --no_mask and --no_crop together write no output", argument="no_crop"
        )
    if journal and not mask:
        raise ConfigError(
            "a journal records drawn masks; it cannot be combined with --no_mask", argument="journal"
        )
    if n_augmentations < 1:
        raise ConfigError(f"must be at least 1, got {n_augmentations}", argument="n_augmentations")
    if workers < 1:
        raise ConfigError(f"must be at least 1, got {workers}", argument="workers")
    if not 16 <= crop_size <= 2048:
        raise ConfigError(f"must be 16..2048 pixels, got {crop_size}", argument="crop_size")
    if not 0 < max_yaw <= 90 or not 0 < max_pitch <= 90:
        raise ConfigError(
            f"pose limits must be in (0, 90] degrees, got {max_yaw}/{max_pitch}", argument="max_yaw"
        )
    if (pairs or coco) and not mask:
        raise ConfigError(
            "--pairs and --coco describe drawn masks; they cannot be combined with --no_mask",
            argument="pairs",
        )
    execution_providers(device)
    if not 0.0 <= below_nose <= 1.0:
        raise ConfigError(f"must be a probability in 0..1, got {below_nose}", argument="below_nose")
    if isinstance(executor, str) and executor.strip().lower() not in EXECUTOR_NAMES:
        _own_executor(executor, workers)  # raises the ConfigError naming the accepted values
    styles = _parse_choices(crop_styles, CropStyle, "crop_style") if crop else ()
    types = _parse_choices(mask_types, MaskType, "mask_types") if mask else tuple(MaskType)
    run_seed = int(np.random.default_rng().integers(2**63)) if seed is None else int(seed)
    out_root = Path(output).absolute()  # workers may run in another working directory (Ray nodes)
    source = Path(input)
    jobs = image_jobs(source, out_root)
    check_models(mask)
    pool, owned = _own_executor(executor, min(workers, max(1, len(jobs))))
    try:
        options = FaceMaskOptions(
            output=str(out_root),
            n_augmentations=n_augmentations,
            mask=mask,
            crop=crop,
            crop_styles=styles,
            mask_types=types,
            crop_size=crop_size,
            seed=run_seed,
            journal=journal,
            threshold=threshold,
            detect_max_side=detect_max_side,
            ort_threads=_ort_threads(pool, len(jobs)),
            max_yaw=float(max_yaw),
            max_pitch=float(max_pitch),
            pairs=pairs,
            coco=coco,
            device=device,
            below_nose=float(below_nose),
        )
        return _run(jobs, pool, options, source=source, shown=Path(output), progress=progress)
    finally:
        if owned:
            pool.shutdown()


def _ort_threads(executor: Executor, images: int) -> int:
    """onnxruntime threads per CenterFace session: a Ray actor's reserved CPUs, else this machine's
    CPUs shared by the workers that will be busy."""
    if executor.kind == "ray":
        return max(1, int(getattr(executor, "num_cpus", 1)))
    return max(1, usable_cpus() // min(max(1, executor.workers), max(1, images)))


def _run(
    jobs: Sequence[ImageJob],
    executor: Executor,
    options: FaceMaskOptions,
    *,
    source: Path,
    shown: Path,
    progress: bool,
) -> FacemaskSummary:
    """Workers process the images; this driver writes logs.csv, the manifest and COCO files. The
    summary names them in the output folder as the caller spelled it (``shown``)."""
    out_root = Path(options.output)
    summary = FacemaskSummary(seed=options.seed, output=shown)
    started = time.perf_counter()
    manifest: list[dict[str, Any]] = []
    coco_crops = CocoBuilder(f"masksmith facemask crops of {source}")
    coco_images = CocoBuilder(f"masksmith facemask full frames of {source}")
    with RunLog(out_root) as log:
        summary.log_path, summary.missed_path = shown / log.log_path.name, shown / log.missed_path.name

        def record(result: ImageResult) -> None:
            log.add(result.rows, missed=result.rows[0]["image_path"] if result.missed else None)
            summary.images += 1
            summary.faces += result.faces
            summary.outputs += result.outputs
            summary.missed += int(result.missed and not result.unreadable)
            summary.unreadable += int(result.unreadable)
            summary.failed += int(result.failed)
            summary.skipped += sum(
                1 for row in result.rows if str(row.get("error", "")).startswith("skipped")
            )
            manifest.extend(result.manifest)
            if options.coco:
                for item in result.coco_crops:
                    coco_crops.add_item(item)
                for item in result.coco_images:
                    coco_images.add_item(item)

        _run_jobs(jobs, options, executor, progress=progress, record=record)
    if options.pairs or options.coco:
        summary.manifest_path = shown / write_manifest(out_root, manifest)[0].name
    if options.coco:
        coco_crops.write(out_root / "coco_crops.json")
        coco_images.write(out_root / "coco_images.json")
    summary.seconds = time.perf_counter() - started
    return summary


def _run_jobs(
    jobs: Sequence[ImageJob],
    options: FaceMaskOptions,
    executor: Executor,
    *,
    progress: bool,
    record: Callable[[ImageResult], None],
) -> None:
    """Every job through :func:`run_items` on ``executor``: each worker loads its models once, and the
    driver checks each image's outputs and hands the results to ``record`` in input order (so logs.csv
    is the same whatever the executor and its workers)."""
    from tqdm import tqdm

    root = Path(options.output)
    order = {id(job): index for index, job in enumerate(jobs)}
    waiting: dict[int, ImageResult] = {}
    next_index = 0
    warned: list[str] = []
    bar = tqdm(total=len(jobs), unit="img", file=sys.stderr, disable=None if progress else True)

    def settle(finished: Finished[ImageJob, ImageResult]) -> None:
        nonlocal next_index
        if isinstance(finished.error, ConfigError | ModelUnavailable):
            raise finished.error  # a worker could not set up: no image can succeed
        if finished.result is None:
            result = _failed(finished.item, _error_line(finished.error))
        else:
            unseen = _unseen_output(finished.result, root)
            result = finished.result if unseen is None else _failed(finished.item, unseen)
            if unseen is not None and not warned:  # once: every later image would say the same
                _log.error("%s", unseen)
                warned.append(unseen)
        waiting[order[id(finished.item)]] = result
        bar.update()
        while next_index in waiting:
            record(waiting.pop(next_index))
            next_index += 1

    try:
        run_items(
            executor, jobs, setup=WorkerSetup(options), task=process_image, settle=settle, name="facemask"
        )
    finally:
        bar.close()


def _failed(job: ImageJob, detail: str) -> ImageResult:
    """An image logged ``failed`` (its task raised, its worker was lost or its outputs are unseen)."""
    return ImageResult([{"image_path": job.source, "error": "failed", "detail": detail}], failed=True)


def _error_line(error: BaseException | None) -> str:
    if isinstance(error, MasksmithError):
        return error.one_line()
    return f"{type(error).__name__}: {error}" if error is not None else "the worker returned no result"


def _unseen_output(result: ImageResult, root: Path) -> str | None:
    """One line naming the first output ``result`` reports that is not where the driver looks, or None."""
    missing = next((root / rel for rel in result.written if not (root / rel).exists()), None)
    if missing is None:
        return None
    return (
        f"a worker wrote {missing}, but it is not there as this machine sees it: workers may not share "
        "this filesystem (use an output folder every node mounts at the same path)"
    )
