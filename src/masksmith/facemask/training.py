"""Training-set outputs of a facemask run: crop-aligned masks, the manifest and COCO annotations.

- A crop's mask is the augmentation's changed pixels (the union of its faces' journal edge masks)
  carried through the crop's 2×3 matrix with nearest-neighbour sampling: 255 = mask, 0 = not.
- ``manifest.csv`` / ``manifest.json``: one row per written crop (or full frame), masked and unmasked.
- ``coco_crops.json`` / ``coco_images.json``: COCO instances with two categories, ``face`` (boxes) and
  ``mask`` (the occluder as polygons, one annotation per drawn mask), for crops and for full frames.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from masksmith.media.io import atomic_write_bytes

__all__ = [
    "COCO_CATEGORIES",
    "MANIFEST_COLUMNS",
    "CocoBuilder",
    "box_through",
    "crop_mask",
    "mask_polygons",
    "write_manifest",
]

MANIFEST_COLUMNS: tuple[str, ...] = (
    "image_path",
    "face_index",
    "augmentation_index",
    "crop_style",
    "masked",
    "mask_type",
    "mask_colors",
    "yaw",
    "pitch",
    "roll",
    "crop_path",
    "mask_path",
)
COCO_CATEGORIES = (
    {"id": 1, "name": "face", "supercategory": "person"},
    {"id": 2, "name": "mask", "supercategory": "occluder"},
)
_FACE, _MASK = 1, 2


def crop_mask(changed: NDArray[np.bool_], matrix: NDArray[Any], size: int) -> NDArray[np.uint8]:
    """The changed pixels carried through a crop's source→crop matrix: ``size``² uint8, 255 = mask."""
    src = np.where(changed, 255, 0).astype(np.uint8)
    return np.asarray(
        cv2.warpAffine(
            src, np.asarray(matrix, np.float64), (size, size), flags=cv2.INTER_NEAREST,
            borderMode=cv2.BORDER_CONSTANT, borderValue=0,
        ),
        dtype=np.uint8,
    )  # fmt: skip


def box_through(box: NDArray[Any], matrix: NDArray[Any], size: int) -> list[float] | None:
    """A face box carried through a crop matrix as a COCO [x, y, w, h] clipped to the crop (None: outside)."""
    b = np.asarray(box, np.float64)
    corners = np.array([[b[0], b[1]], [b[2], b[1]], [b[2], b[3]], [b[0], b[3]]])
    m = np.asarray(matrix, np.float64)
    p = corners @ m[:, :2].T + m[:, 2]
    x0, y0 = np.clip(p.min(axis=0), 0, size)
    x1, y1 = np.clip(p.max(axis=0), 0, size)
    if x1 - x0 < 1 or y1 - y0 < 1:
        return None
    return [round(float(x0), 2), round(float(y0), 2), round(float(x1 - x0), 2), round(float(y1 - y0), 2)]


def mask_polygons(mask: NDArray[Any]) -> tuple[list[list[float]], list[float], int]:
    """Outer contours of a mask as COCO polygons (pixel-centre coordinates), its bbox and pixel area."""
    binary = (np.asarray(mask) > 0).astype(np.uint8)
    contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    polys = []
    for contour in contours:
        pts = contour.reshape(-1, 2).astype(np.float64)
        if len(pts) < 3:  # a line or a point: widen it into a tiny quad so every pixel is annotated
            x0, y0 = pts.min(axis=0) - 0.5
            x1, y1 = pts.max(axis=0) + 0.5
            pts = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
        polys.append([round(float(v), 2) for v in pts.reshape(-1)])
    ys, xs = np.nonzero(binary)
    if len(xs) == 0:
        return [], [0.0, 0.0, 0.0, 0.0], 0
    bbox = [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1)]
    return polys, bbox, len(xs)


class CocoBuilder:
    """Collects images and annotations; ids are given in the order things are added (repeatable)."""

    def __init__(self, description: str) -> None:
        self.info = {"description": description, "version": "1.0"}
        self.images: list[dict[str, Any]] = []
        self.annotations: list[dict[str, Any]] = []

    def add_image(self, file_name: str, width: int, height: int) -> int:
        image_id = len(self.images) + 1
        self.images.append(
            {"id": image_id, "file_name": file_name, "width": int(width), "height": int(height)}
        )
        return image_id

    def _add(self, image_id: int, category: int, bbox: Sequence[float], area: float, **extra: Any) -> None:
        self.annotations.append(
            {
                "id": len(self.annotations) + 1,
                "image_id": image_id,
                "category_id": category,
                "bbox": [float(v) for v in bbox],
                "area": float(area),
                "iscrowd": 0,
                **extra,
            }
        )

    def add_face(self, image_id: int, bbox: Sequence[float], face_index: int) -> None:
        self._add(image_id, _FACE, bbox, bbox[2] * bbox[3], segmentation=[], face_index=face_index)

    def add_mask(
        self,
        image_id: int,
        outline: tuple[list[list[float]], list[float], int],
        face_index: int,
        mask_type: str,
    ) -> None:
        """One occluder annotation from :func:`mask_polygons`'s (polygons, bbox, area)."""
        polys, bbox, area = outline
        if polys:
            self._add(
                image_id, _MASK, bbox, area, segmentation=polys, face_index=face_index, mask_type=mask_type
            )

    def add_item(self, item: Mapping[str, Any]) -> None:
        """Add one image with its ``faces`` ([bbox, index]) and ``masks`` ([outline, index, type]) lists."""
        image_id = self.add_image(item["file_name"], item["width"], item["height"])
        for bbox, index in item["faces"]:
            self.add_face(image_id, bbox, index)
        for outline, index, kind in item["masks"]:
            self.add_mask(image_id, outline, index, kind)

    def write(self, path: str | os.PathLike[str]) -> Path:
        data = {
            "info": self.info,
            "images": self.images,
            "annotations": self.annotations,
            "categories": list(COCO_CATEGORIES),
        }
        target = Path(path)
        atomic_write_bytes(target, json.dumps(data).encode("utf-8"))
        return target


def write_manifest(folder: str | os.PathLike[str], rows: Iterable[Mapping[str, Any]]) -> tuple[Path, Path]:
    """Write ``manifest.csv`` and ``manifest.json`` (the same rows) into ``folder``, atomically."""
    rows = [{key: row.get(key, "") for key in MANIFEST_COLUMNS} for row in rows]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    base = Path(folder)
    csv_path, json_path = base / "manifest.csv", base / "manifest.json"
    atomic_write_bytes(csv_path, buffer.getvalue().encode("utf-8"))
    atomic_write_bytes(json_path, json.dumps(rows, indent=1).encode("utf-8"))
    return csv_path, json_path
