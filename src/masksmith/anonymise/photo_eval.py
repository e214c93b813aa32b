"""Evaluate anonymisation on real photographs against hand-annotated boxes.

The annotation file (JSON) lists photos and, per photo, the objects that must be hidden::

    {"images": [{"file": "bus.jpg", "source": "where the photo comes from",
                 "objects": [{"class": "face", "box": [x1, y1, x2, y2]}, ...]}]}

A photo with ``"objects": []`` has nothing to hide. Per object the *coverage* is the share of its box
whose pixels the run changed; per class the *recall* is the mean coverage. The *false-positive area*
of a photo is the share of its pixels changed outside every annotated box (of any class).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from masksmith.errors import ConfigError

BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class TrueObject:
    """One annotated object: class name and x1, y1, x2, y2 box in pixels."""

    cls: str
    box: tuple[float, float, float, float]

    def mask(self, height: int, width: int) -> BoolArray:
        """The box as a boolean image of ``height`` × ``width``."""
        x1, y1, x2, y2 = self.box
        out = np.zeros((height, width), dtype=bool)
        out[
            max(0, round(y1)) : min(height, round(y2)),
            max(0, round(x1)) : min(width, round(x2)),
        ] = True
        return out


@dataclass(frozen=True)
class AnnotatedPhoto:
    """A photo file name (relative to the photo folder) and its objects to hide."""

    file: str
    objects: tuple[TrueObject, ...]
    source: str = ""


@dataclass
class PhotoResult:
    """What one photo's run hid: per-object coverage and the false-positive area."""

    file: str
    coverage: list[tuple[str, float]]  # (class, share of the box hidden) per object
    false_positive_area: float  # share of the image changed outside every annotated box
    changed_area: float  # share of the image changed at all
    nothing_to_hide: bool


@dataclass
class PhotoEvaluation:
    """All photos' results and per-class summaries."""

    photos: list[PhotoResult] = field(default_factory=list)

    def recall(self) -> dict[str, float]:
        """Mean coverage per class over every annotated object of that class."""
        by_class: dict[str, list[float]] = {}
        for photo in self.photos:
            for cls, cov in photo.coverage:
                by_class.setdefault(cls, []).append(cov)
        return {cls: float(np.mean(values)) for cls, values in sorted(by_class.items())}

    def min_coverage(self) -> dict[str, float]:
        """The worst-covered object per class."""
        by_class: dict[str, list[float]] = {}
        for photo in self.photos:
            for cls, cov in photo.coverage:
                by_class.setdefault(cls, []).append(cov)
        return {cls: float(np.min(values)) for cls, values in sorted(by_class.items())}

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "recall": self.recall(),
            "min_coverage": self.min_coverage(),
            "max_false_positive_area": max((p.false_positive_area for p in self.photos), default=0.0),
            "photos": [
                {
                    "file": p.file,
                    "coverage": [{"class": c, "coverage": v} for c, v in p.coverage],
                    "false_positive_area": p.false_positive_area,
                    "changed_area": p.changed_area,
                    "nothing_to_hide": p.nothing_to_hide,
                }
                for p in self.photos
            ],
        }


def load_annotations(path: str | os.PathLike[str]) -> list[AnnotatedPhoto]:
    """The photos and boxes of an annotation file; malformed entries name the file and the entry."""
    file = Path(path)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"not a readable annotation JSON ({exc})", file=file) from None
    images = data.get("images") if isinstance(data, Mapping) else None
    if not isinstance(images, list):
        raise ConfigError("expected {'images': [...]}", file=file)
    photos = []
    for index, entry in enumerate(images):
        where = f"images[{index}]"
        if not isinstance(entry, Mapping) or not isinstance(entry.get("file"), str):
            raise ConfigError(f"{where} needs a 'file' name", file=file)
        name = entry["file"]
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise ConfigError(f"{where}: file {name!r} must be a plain relative name", file=file)
        objects = []
        for k, obj in enumerate(entry.get("objects", [])):
            box = obj.get("box") if isinstance(obj, Mapping) else None
            if (
                not isinstance(obj, Mapping)
                or not isinstance(obj.get("class"), str)
                or not (isinstance(box, list) and len(box) == 4 and box[2] > box[0] and box[3] > box[1])
            ):
                raise ConfigError(f"{where}.objects[{k}] needs 'class' and a box [x1, y1, x2, y2]", file=file)
            objects.append(
                TrueObject(obj["class"], (float(box[0]), float(box[1]), float(box[2]), float(box[3])))
            )
        photos.append(AnnotatedPhoto(name, tuple(objects), str(entry.get("source", ""))))
    return photos


def score_photo(photo: AnnotatedPhoto, changed: BoolArray) -> PhotoResult:
    """Coverage per object and false-positive area of one photo's changed-pixel mask."""
    h, w = changed.shape
    truth = np.zeros((h, w), dtype=bool)
    coverage = []
    for obj in photo.objects:
        m = obj.mask(h, w)
        truth |= m
        coverage.append((obj.cls, float(changed[m].mean()) if m.any() else 0.0))
    return PhotoResult(
        file=photo.file,
        coverage=coverage,
        false_positive_area=float((changed & ~truth).mean()),
        changed_area=float(changed.mean()),
        nothing_to_hide=not photo.objects,
    )


def evaluate_photos(
    photos: Sequence[AnnotatedPhoto],
    folder: str | os.PathLike[str],
    changed_of: Callable[[np.ndarray], BoolArray],
    *,
    classes: Sequence[str] | None = None,
) -> PhotoEvaluation:
    """Run ``changed_of`` (RGB image -> changed-pixel mask) on each photo in ``folder`` and score it.

    ``classes`` limits the scored objects (e.g. faces only for a faces-only peer); the false-positive
    area always counts every annotated object as allowed.
    """
    from masksmith.media.io import read_image

    result = PhotoEvaluation()
    for photo in photos:
        pixels = read_image(Path(folder) / photo.file, mode="RGB").pixels
        scored = score_photo(photo, np.asarray(changed_of(pixels), dtype=bool))
        if classes is not None:
            scored.coverage = [(c, v) for c, v in scored.coverage if c in classes]
        result.photos.append(scored)
    return result


def anonymiser(config: Any) -> Callable[[np.ndarray], BoolArray]:
    """``changed_of`` for :func:`evaluate_photos` running the configured detectors and drawing."""
    from masksmith.anonymise.pipeline import anonymise_image, build_detectors, make_detect

    det = config.detection
    detect = make_detect(
        [d for _, d in build_detectors(config)],
        max_num_pixels=det.max_num_pixels,
        kept_classes=det.kept_classes,
        config=config,
    )

    def changed_of(image: np.ndarray) -> BoolArray:
        return anonymise_image(image, detect, config=config).changed

    return changed_of
