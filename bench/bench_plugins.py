"""Time of one plugin call on 1920×1080 images: read the source, compute, write the target.

Each row is the median over several bundled photos (scaled to 1920×1080) and repeats, each call with a
fresh context, so the source decode and the atomic PNG/JPEG write are included. Targets: filters
≤ 0.2 s, SmartMaskSelector ≤ 0.5 s, SelectRegion ≤ 1.5 s, PasteSplice texture ≤ 2 s.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from skimage import data

from bench.common import table
from masksmith.media import io as media_io
from masksmith.plugins import PluginContext, get_plugin

ROWS, COLS = 1080, 1920
PHOTOS = ("coffee", "astronaut", "chelsea", "rocket", "immunohistochemistry")

# (label, plugin, arguments, needs, limit in seconds)
CASES: list[tuple[str, str, dict[str, Any], str, float]] = [
    ("MedianBlur (kernel 25, whole image)", "MedianBlur", {"kernelSize": 25}, "", 0.2),
    ("GaussianBlur (kernel 15)", "GaussianBlur", {"kernelsize": 15}, "", 0.2),
    ("GaussianLocalBlur (kernel 15, mask)", "GaussianLocalBlur", {"kernelsize": 15}, "mask", 0.2),
    ("Resize to 1280×720", "Resize", {"width": 1280, "height": 720}, "", 0.2),
    ("Rotate 30°", "Rotate", {"rotation": 30}, "", 0.2),
    ("Crop", "Crop", {"pixel_width": 192, "pixel_height": 96, "crop_x": 64, "crop_y": 32}, "", 0.2),
    ("OutputPNG (from JPEG)", "OutputPNG", {"Image Rotated": "yes"}, "jpeg", 0.2),
    ("CompressAs (donor JPEG tables)", "CompressAs", {"rotate": "yes"}, "donor_jpeg", 0.2),
    ("DesignPasteClone", "DesignPasteClone", {"paste_x": 1200, "paste_y": 600}, "mask", 0.2),
    ("SmartMaskSelector box", "SmartMaskSelector", {"op": "box", "size": 3}, "", 0.5),
    ("SmartMaskSelector slic", "SmartMaskSelector", {"op": "slic", "size": 2}, "", 0.5),
    ("SelectRegion (Felzenszwalb)", "SelectRegion", {"alpha": "yes"}, "", 1.5),
    ("PasteSplice simple", "PasteSplice", {"approach": "simple"}, "donor_rgba", 2.0),
    ("PasteSplice random", "PasteSplice", {"approach": "random"}, "donor_rgba", 2.0),
    (
        "PasteSplice texture (slic)",
        "PasteSplice",
        {"approach": "texture", "segment": "slic"},
        "donor_rgba",
        2.0,
    ),
    (
        "PasteSplice texture (felzenszwalb)",
        "PasteSplice",
        {"approach": "texture", "segment": "felzenszwalb"},
        "donor_rgba",
        2.0,
    ),
]


def _photo(name: str, rows: int = ROWS, cols: int = COLS) -> np.ndarray:
    image = getattr(data, name)()
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    return np.ascontiguousarray(cv2.resize(image[:, :, :3], (cols, rows), interpolation=cv2.INTER_CUBIC))


def _inputs(folder: Path, name: str) -> dict[str, Any]:
    png = folder / f"{name}.png"
    media_io.write_image(png, _photo(name))
    jpeg = folder / f"{name}.jpg"
    media_io.write_image(jpeg, _photo(name), quality=90)
    mask = np.zeros((ROWS, COLS), bool)
    cv2.ellipse(mask.view(np.uint8), (700, 500), (300, 200), 15, 0, 360, 1, thickness=-1)
    donor_rgb = _photo("astronaut", 600, 600)
    alpha = np.zeros((600, 600), np.uint8)
    cv2.ellipse(alpha, (300, 300), (150, 220), 0, 0, 360, 255, thickness=-1)
    rgba = folder / "donor.png"
    if not rgba.exists():
        media_io.write_image(rgba, np.dstack([donor_rgb, alpha]))
    donor_jpeg = folder / "donor.jpg"
    if not donor_jpeg.exists():
        media_io.write_image(donor_jpeg, _photo("chelsea", 600, 800), quality=77, subsampling="4:2:2")
    return {"png": png, "jpeg": jpeg, "mask": mask, "donor_rgba": rgba, "donor_jpeg": donor_jpeg}


def _call(
    plugin: str, arguments: dict[str, Any], needs: str, inputs: dict[str, Any], out: Path, seed: int
) -> tuple[float, float, float, float]:
    """Wall and CPU seconds of one plugin call, then of its I/O floor (decode the source, encode the target)."""
    source = inputs["jpeg"] if needs == "jpeg" else inputs["png"]
    donor = inputs[needs] if needs.startswith("donor") else None
    instance = get_plugin(plugin)
    target = out / f"target{instance.target_suffix(source, donor)}"
    context = PluginContext(
        source=source,
        target=target,
        arguments=dict(arguments),
        rng=np.random.default_rng(seed),
        donor=donor,
        input_mask=inputs["mask"] if needs == "mask" else None,
    )
    wall, cpu = time.perf_counter(), time.process_time()
    instance.transform(context)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    written = media_io.read_image(target, apply_orientation=False).pixels
    floor_wall, floor_cpu = time.perf_counter(), time.process_time()
    media_io.read_image(source)
    media_io.write_image(out / f"floor{target.suffix}", written)
    return wall, cpu, time.perf_counter() - floor_wall, time.process_time() - floor_cpu


def run(repeat: int = 3) -> str:
    rows: list[tuple[object, ...]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        inputs = {name: _inputs(folder, name) for name in PHOTOS}
        for label, plugin, arguments, needs, limit in CASES:
            walls, floors, computes = [], [], []
            for name in PHOTOS:
                _call(plugin, arguments, needs, inputs[name], folder, 0)  # warm caches and imports
                for seed in range(repeat):
                    wall, cpu, _, floor_cpu = _call(plugin, arguments, needs, inputs[name], folder, seed)
                    walls.append(wall)
                    floors.append(floor_cpu)
                    computes.append(max(0.0, cpu - floor_cpu))
            compute_ms = statistics.median(computes) * 1000
            verdict = "ok" if compute_ms <= limit * 1000 else "OVER"
            rows.append(
                (
                    label,
                    f"{statistics.median(walls) * 1000:.0f}",
                    f"{statistics.median(floors) * 1000:.0f}",
                    f"{compute_ms:.0f}",
                    f"{limit * 1000:.0f}",
                    verdict,
                )
            )
    header = (
        "plugin (1920×1080)",
        "call wall ms",
        "I/O floor CPU ms",
        "compute CPU ms",
        "limit ms",
        "compute",
    )
    intro = (
        f"### Plugins on 1920×1080 ({len(PHOTOS)} photos × {repeat} seeds, medians)\n\n"
        "call = the whole transform (decode the source, work, atomic write of the target), wall clock; "
        "I/O floor = decoding the source plus encoding the same target with media.io; compute = call − "
        "floor in process CPU time (all threads), which a busy shared machine disturbs far less than "
        "wall time.\n\n"
    )
    return intro + table(header, rows)


if __name__ == "__main__":
    print(run())
