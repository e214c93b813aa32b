"""One image's work on a worker: read, find faces, draw the masks, write crops / frames / journal.

The task returns what the driver records (log rows, manifest rows, COCO items) and the outputs it
wrote, relative to the output root; the driver checks they exist before it counts them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from masksmith.detect.api import Detector, as_rgb_uint8
from masksmith.errors import MasksmithError, MediaError
from masksmith.facemask.align import CropStyle, crop
from masksmith.facemask.augment import Augmentation, Face, augment_image, find_faces
from masksmith.facemask.fit import MaskFit
from masksmith.facemask.inputs import ImageJob, image_rng
from masksmith.facemask.models import WorkerState
from masksmith.facemask.options import FaceMaskOptions
from masksmith.facemask.templates import MaskStyle
from masksmith.facemask.training import box_through, crop_mask, mask_polygons
from masksmith.media import io as media_io

__all__ = ["PNG_COMPRESSION", "ImageResult", "process_image"]

PNG_COMPRESSION = 1
_LOG_DECIMALS = 1


@dataclass
class ImageResult:
    """What one image's task hands back to the driver."""

    rows: list[dict[str, Any]]
    missed: bool = False
    unreadable: bool = False
    failed: bool = False
    faces: int = 0
    manifest: list[dict[str, Any]] = field(default_factory=list)
    coco_crops: list[dict[str, Any]] = field(default_factory=list)
    coco_images: list[dict[str, Any]] = field(default_factory=list)
    written: list[str] = field(default_factory=list)  # every output, relative to the output root

    @property
    def outputs(self) -> int:
        return len(self.written)


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


class _Writer:
    """Writes one image's outputs and returns their paths relative to the output root."""

    def __init__(self, options: FaceMaskOptions, job: ImageJob) -> None:
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


def _new_journal(job: ImageJob, rgb: NDArray[np.uint8], loaded: Any, tmp: Path) -> tuple[Any, str]:
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


def process_image(state: WorkerState, job: ImageJob) -> ImageResult:
    """One image's task on a worker: every output written, the rows and annotations returned."""
    options = state.options
    base_row: dict[str, Any] = {"image_path": job.source}
    try:
        loaded = media_io.read_image(job.path)
    except MediaError as err:
        row = {**base_row, "error": "unreadable", "detail": err.one_line()}
        return ImageResult([row], missed=True, unreadable=True)
    try:
        return _process_loaded(options, job, loaded, state.models().detector)
    except Exception as err:  # one bad image must not stop the run; the log says what happened
        detail = err.one_line() if isinstance(err, MasksmithError) else f"{type(err).__name__}: {err}"
        return ImageResult([{**base_row, "error": "failed", "detail": detail}], failed=True)


def _manifest_row(
    job: ImageJob, face: Face, index: int, style: str, crop_path: str, **extra: Any
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
    options: FaceMaskOptions, job: ImageJob, writer: _Writer, rgb: NDArray[np.uint8], faces: Sequence[Face],
    result: ImageResult,
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


def _process_loaded(options: FaceMaskOptions, job: ImageJob, loaded: Any, detector: Detector) -> ImageResult:
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
        return ImageResult([{**base_row, "error": "no_face"}], missed=True)
    writer = _Writer(options, job)
    result = ImageResult([], faces=len(faces))
    if not options.mask or (options.pairs and options.crop):
        _unmasked_crops(options, job, writer, rgb, faces, result)
    if not options.mask:
        result.written = writer.written
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
    result.written = writer.written
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
