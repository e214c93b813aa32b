"""Working inputs for every built-in plugin, built from scikit-image's bundled photos in a folder."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from skimage import data

from masksmith.media import io as media_io
from masksmith.plugins import PluginContext, get_plugin

ROWS, COLS = 240, 320


def photo(name: str = "coffee", rows: int = ROWS, cols: int = COLS) -> np.ndarray:
    """A bundled RGB photo scaled to ``rows`` × ``cols``."""
    image = getattr(data, name)()
    return np.ascontiguousarray(cv2.resize(image, (cols, rows), interpolation=cv2.INTER_AREA))


def box_mask(rows: int = ROWS, cols: int = COLS) -> np.ndarray:
    mask = np.zeros((rows, cols), bool)
    mask[60:140, 80:200] = True
    mask[100:180, 150:170] = True
    return mask


def rgba_donor(rows: int = 160, cols: int = 200) -> np.ndarray:
    """The astronaut with an elliptical opaque region (alpha 255) and transparent surroundings."""
    rgb = photo("astronaut", rows, cols)
    alpha = np.zeros((rows, cols), np.uint8)
    cv2.ellipse(alpha, (cols // 2, rows // 2), (cols // 4, rows // 3), 20, 0, 360, 255, thickness=-1)
    return np.dstack([rgb, alpha])


def segmentation_folder(folder: Path, stem: str, rows: int = ROWS, cols: int = COLS) -> Path:
    """A colour-coded segmentation for ``stem`` with classification.csv: one colour in two pieces."""
    seg_dir = folder / "segments"
    seg_dir.mkdir(exist_ok=True)
    seg = np.zeros((rows, cols, 3), np.uint8)
    seg[20:80, 20:100] = (200, 100, 200)  # the larger piece of 'natural object'
    seg[150:170, 250:280] = (200, 100, 200)
    seg[120:220, 40:140] = (10, 220, 30)
    media_io.write_image(seg_dir / f"{stem}.png", seg)
    (seg_dir / "classification.csv").write_text(
        '"[200,100,200]", natural object\n"[10,220,30]", man-made object\n', encoding="utf-8"
    )
    return seg_dir


def coco_annotations(folder: Path, image_name: str, rows: int = ROWS, cols: int = COLS) -> Path:
    """A small COCO annotations file for one image: polygons of several areas, two categories."""
    polygons = [
        (1, [10, 10, 50, 10, 50, 40, 10, 40]),  # 40×30 = 1200
        (2, [100, 50, 220, 50, 220, 150, 100, 150]),  # 120×100 = 12000
        (1, [240, 160, 300, 160, 270, 220]),  # triangle ≈ 1800
        (2, [60, 120, 90, 110, 120, 140, 100, 200, 50, 190]),
    ]
    annotations = []
    for index, (category, poly) in enumerate(polygons, start=1):
        xs, ys = np.array(poly[0::2], float), np.array(poly[1::2], float)
        area = 0.5 * abs(np.dot(xs, np.roll(ys, 1)) - np.dot(ys, np.roll(xs, 1)))
        annotations.append(
            {
                "id": index,
                "image_id": 7,
                "category_id": category,
                "segmentation": [poly],
                "area": float(area),
                "bbox": [float(xs.min()), float(ys.min()), float(np.ptp(xs)), float(np.ptp(ys))],
                "iscrowd": 0,
            }
        )
    content = {
        "images": [{"id": 7, "file_name": image_name, "height": rows, "width": cols}],
        "annotations": annotations,
        "categories": [
            {"id": 1, "name": "person", "supercategory": "person"},
            {"id": 2, "name": "car", "supercategory": "vehicle"},
        ],
    }
    path = folder / "annotations.json"
    path.write_text(json.dumps(content), encoding="utf-8")
    return path


@dataclass
class Case:
    """One plugin call's inputs."""

    name: str
    source: Path
    arguments: dict[str, Any]
    donor: Path | None = None
    input_mask: np.ndarray | None = None
    files: list[Path] = field(default_factory=list)

    def context(self, target_dir: Path, seed: int = 5) -> PluginContext:
        plugin = get_plugin(self.name)
        suffix = plugin.target_suffix(self.source, self.donor)
        return PluginContext(
            source=self.source,
            target=target_dir / f"target{suffix}",
            arguments=dict(self.arguments),
            rng=np.random.default_rng(seed),
            donor=self.donor,
            input_mask=None if self.input_mask is None else self.input_mask.copy(),
        )


def build_case(name: str, folder: Path) -> Case | None:
    """Inputs that make plugin ``name`` succeed; None for plugins these tests do not know."""
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / "source.png"
    if not source.exists():
        media_io.write_image(source, photo())
    mask = box_mask()

    def jpeg_donor() -> Path:
        path = folder / "donor.jpg"
        media_io.write_image(path, photo("chelsea"), quality=71, subsampling="4:2:2")
        return path

    def rgba() -> Path:
        path = folder / "donor.png"
        media_io.write_image(path, rgba_donor())
        return path

    if name in ("OutputPNG", "OutputTIFF", "SaveAsPNG"):
        jpg = folder / "source.jpg"
        media_io.write_image(jpg, photo(), quality=90)
        return Case(name, jpg, {"Image Rotated": "yes"})
    if name == "OutputCopy":
        return Case(name, source, {})
    if name == "CompressAs":
        return Case(name, source, {"rotate": "yes"}, donor=jpeg_donor())
    if name == "MedianBlur":
        return Case(name, source, {"kernelSize": 7, "percentageChange": 0.5})
    if name == "GaussianBlur":
        return Case(name, source, {"kernelsize": 9})
    if name == "GaussianLocalBlur":
        return Case(name, source, {"kernelsize": 9}, input_mask=mask)
    if name == "Resize":
        return Case(name, source, {"width": 200, "height": 150, "interpolation": "bicubic"})
    if name == "Rotate":
        return Case(name, source, {"rotation": 33})
    if name == "Crop":
        return Case(name, source, {"pixel_width": 48, "pixel_height": 32, "crop_x": 16, "crop_y": 8})
    if name == "CropPermutations":
        return Case(name, source, {"percentage_width": 0.2, "percentage_height": 0.1})
    if name == "SelectRegion":
        return Case(name, source, {"alpha": "yes"})
    if name == "SmartMaskSelector":
        return Case(name, source, {"op": "slic", "size": 2})
    if name in ("SelectRegionWithMask", "SelectionRegionWithMask"):
        return Case(name, source, {}, input_mask=mask)
    if name in ("PreSegmentedSelectionRegion", "PreSegmentedSelectRegion"):
        seg_dir = segmentation_folder(folder, source.stem)
        return Case(name, source, {"segmentation_directory": str(seg_dir)})
    if name == "PasteSplice":
        return Case(name, source, {"approach": "random"}, donor=rgba())
    if name == "DesignPasteClone":
        return Case(name, source, {"paste_x": 200, "paste_y": 120}, input_mask=mask)
    if name == "PickPairedImage":
        pool = folder / "pool"
        pool.mkdir(exist_ok=True)
        media_io.write_image(pool / "pair_a.png", photo("chelsea"))
        media_io.write_image(pool / "pair_b.png", photo("astronaut"))
        pairing = folder / "pairs.csv"
        pairing.write_text("sour,pair_a.png\nsource,pair_b.png\nother,pair_a.png\n", encoding="utf-8")
        return Case(name, source, {"directory": str(pool), "pairing": str(pairing)})
    jt_case = _jt_case(name, folder, source)
    if jt_case is not None:
        return jt_case
    if name == "CocoMaskSelector":
        from masksmith.plugins.coco import create_global_state

        state = create_global_state({"coco.annotations": str(coco_annotations(folder, source.name))})
        return Case(name, source, {"coco": state["coco"], "coco.index": state["coco.index"]})
    return None


QT_TABLES = (
    [8, 6, 5, 8, 12, 20, 26, 31, 6, 6, 7, 10, 13, 29, 30, 28, 7, 7, 8, 12, 20, 29, 35, 28, 7, 9, 11, 15, 26, 44,
     40, 31, 9, 11, 19, 28, 34, 55, 52, 39, 12, 18, 28, 32, 41, 52, 57, 46, 25, 32, 39, 44, 52, 61, 60, 51, 36,
     46, 48, 49, 56, 50, 52, 50],
    [9, 9, 12, 24, 50, 50, 50, 50, 9, 11, 13, 33, 50, 50, 50, 50, 12, 13, 28, 50, 50, 50, 50, 50, 24, 33, 50, 50,
     50, 50, 50, 50] + [50] * 32,
)  # fmt: skip


def qt_file(folder: Path) -> Path:
    """A camera table file as the original laid it out: 16 tab-separated rows of 8 (luminance, chrominance)."""
    rows = [table[i : i + 8] for table in QT_TABLES for i in range(0, 64, 8)]
    path = folder / "Camera-X[320x240]-QT.txt"
    path.write_text("\n".join("\t".join(str(v) for v in row) for row in rows) + "\n", encoding="utf-8")
    return path


def _jt_case(name: str, folder: Path, source: Path) -> Case | None:
    """Inputs for the plugins ported from the Journaling Tool's Python plugins."""
    if name in ("JSONSelector", "JsonSelector"):
        media_io.write_image(folder / "chelsea.png", photo("chelsea"))
        entries = [{"subject": "people", "file": "chelsea.png", "quality": 80}, {"subject": "landscape"}]
        path = folder / "choices.json"
        path.write_text(json.dumps(entries), encoding="utf-8")
        return Case(name, source, {"Json File": str(path), "index": "0", "File Key": "file"})
    if name == "DirMaskSelect":
        mask_dir = folder / "masks"
        mask_dir.mkdir(exist_ok=True)
        media_io.write_image(mask_dir / f"{source.stem}_mask.png", (box_mask() * 255).astype(np.uint8))
        return Case(name, source, {"directory": str(mask_dir)})
    if name == "JpgFromCamera":
        return Case(name, source, {"qtfile": str(qt_file(folder))})
    if name == "OutputJpg":
        return Case(name, source, {"quality": 85})
    if name == "DetermineImageParameters":
        jpg = folder / "source.jpg"
        media_io.write_image(jpg, photo(), quality=75)
        return Case(name, jpg, {"percentage_width": 0.5, "percentage_height": 0.25, "percentage_qf": 0.9})
    if name == "CropTo":
        return Case(name, source, {"crop_x": 40, "crop_y": 24, "pixel_width": 200, "pixel_height": 160})
    if name == "CropToFitDonor":
        donor = folder / "small_donor.png"
        media_io.write_image(
            donor, photo("chelsea", 200, 150)
        )  # portrait: turned to fit the landscape source
        return Case(name, source, {}, donor=donor)
    if name == "FaceCrop":
        return Case(
            name,
            source,
            {"crop dimensions": "128,96", "chin position": "170,150", "right eye position": "150,100"},
        )
    if name == "SeamCarve":
        return Case(name, source, {"percentage_width": 0.9, "percentage_height": 0.95})
    if name == "ConvertToColor":
        return Case(name, source, {"channel": "red"})
    if name == "PasteSpliceDonor":
        final = folder / "final.png"
        pasted = photo()
        pasted[40:100, 60:140] = photo("astronaut", 60, 80)
        media_io.write_image(final, pasted)
        return Case(name, source, {"Final Image": str(final)}, donor=rgba_donor_file(folder))
    if name == "SIPStoPNG":
        jpg = folder / "source.jpg"
        media_io.write_image(jpg, photo(), quality=90)
        return Case(name, jpg, {})
    return None


def rgba_donor_file(folder: Path) -> Path:
    path = folder / "donor.png"
    media_io.write_image(path, rgba_donor())
    return path
