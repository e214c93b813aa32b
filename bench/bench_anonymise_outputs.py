"""Issue 16: lossless-outside-the-masks JPEG output vs full re-encode, and anonymisation memory.

Run from the repository root: ``.venv/bin/python -m bench.bench_anonymise_outputs`` (about ten minutes).

1. Per 1920×1080 road image (faces pasted; the hidden region is the faces' boxes, dilated): the time to
   write the published JPEG in each mode (``lossless_outside``: read the input's coefficients, re-encode
   the touched MCUs, write; ``reencode``: encode the whole image at ``jpeg_quality`` 75 with EXIF, as
   before), side by side on the same images, and the output size against the input size for inputs
   saved at quality 75, 90 and 95 (4:2:0).
2. Peak RSS and time of whole runs in a subprocess (``tests/anonymise/memory_child.py``): the shipped
   360° configuration on an 8000×4000 panorama with the default detectors, one 4000×3000 image per
   default detector, and a 12000×12000 PNG with CenterFace.
"""

from __future__ import annotations

import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from bench.common import table

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
N_IMAGES = 12


def _images(quality: int) -> list[tuple[bytes, np.ndarray]]:
    import cv2

    from tests.anonymise.road_scenes import road_scene

    rng = np.random.default_rng(16)
    out = []
    for _ in range(N_IMAGES):
        image, faces = road_scene(rng, [40, 64, 100, 160], height=1080, width=1920)
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, "JPEG", quality=quality, subsampling=2)
        changed = np.zeros(image.shape[:2], dtype=bool)
        for face in faces:
            rows, cols = face.pixel_slices(-0.1)
            changed[rows, cols] = True
        changed = cv2.dilate(changed.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
        out.append((buffer.getvalue(), changed))
    return out


def _encode_rows() -> list[tuple[object, ...]]:
    import cv2

    from masksmith.anonymise.draw import output_exif
    from masksmith.media.io import encode_image
    from masksmith.media.jpeg_splice import splice_jpeg

    rows: list[tuple[object, ...]] = []
    for quality in (75, 90, 95):
        lossless_t, reencode_t, lossless_size, reencode_size, input_size = [], [], [], [], []
        for data, changed in _images(quality):
            pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR_RGB)
            pixels[changed] = 100  # stands in for the drawn blur
            exif = output_exif(None, reset_orientation=False)
            start = time.perf_counter()
            spliced = splice_jpeg(data, pixels, changed, exif=exif)
            lossless_t.append(time.perf_counter() - start)
            start = time.perf_counter()
            whole = encode_image(
                pixels, format="JPEG", quality=75, exif=b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x00"
            )
            reencode_t.append(time.perf_counter() - start)
            lossless_size.append(len(spliced.data))
            reencode_size.append(len(whole))
            input_size.append(len(data))
        ratio = statistics.median(lossless_t) / statistics.median(reencode_t)
        rows.append(
            (
                quality,
                f"{statistics.median(input_size) / 1024:.0f}",
                f"{statistics.median(lossless_t) * 1000:.1f}",
                f"{statistics.median(reencode_t) * 1000:.1f}",
                f"{ratio:.2f}×",
                f"{statistics.median(np.divide(lossless_size, input_size)):.3f}",
                f"{statistics.median(np.divide(reencode_size, input_size)):.3f}",
            )
        )
    return rows


def _run_rows(folder: Path) -> list[tuple[object, ...]]:
    """Whole runs (default detectors) over the same 1920×1080 JPEGs in each mode, seconds per image."""
    from masksmith.anonymise.config import load_config
    from masksmith.anonymise.pipeline import anonymise

    inputs = folder / "in"
    inputs.mkdir()
    for index, (data, _) in enumerate(_images(90)[:6]):
        (inputs / f"s{index}.jpg").write_bytes(data)
    rows: list[tuple[object, ...]] = []
    per_image: dict[str, float] = {}
    for mode in ("reencode", "lossless_outside", "reencode", "lossless_outside"):  # interleaved: load drifts
        path = folder / f"{mode}.yml"
        path.write_text(f"jpeg_mode: {mode}\nfile_access_retry_seconds: 0.05\n", encoding="utf-8")
        out = folder / f"out_{mode}"
        if out.exists():
            import shutil

            shutil.rmtree(out)
        summary = anonymise(inputs, out, config=load_config(path), progress=False)
        per_image[mode] = min(per_image.get(mode, 1e9), summary.seconds / max(1, summary.masked))
        encode = summary.timings.get("encode", 0.0) / max(1, summary.masked)
        if len(rows) < 2:
            rows.append((mode, summary.masked, f"{encode * 1000:.0f}"))
    return [(mode, masked, encode, f"{per_image[str(mode)]:.2f}") for mode, masked, encode in rows] + [
        ("lossless / reencode", "", "", f"{per_image['lossless_outside'] / per_image['reencode']:.2f}×")
    ]


def _child(*args: str, timeout: int = 1800) -> dict[str, object]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [PYTHON, "-m", "tests.anonymise.memory_child", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=True,
    )  # fmt: skip
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _memory_rows(folder: Path) -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = []
    pano = folder / "pano.jpg"
    _child("make", str(pano), "8000", "4000")
    config = folder / "c360.yml"
    config.write_text("file_access_retry_seconds: 0.05\n", encoding="utf-8")
    result = _child("run", str(pano), str(folder / "out360"), str(config))
    rows.append(
        (
            "8000×4000 JPEG, shipped 360 config",
            "default (3)",
            result["seconds"],
            result["cpu_seconds"],
            result["peak_mb"],
        )
    )
    photo = folder / "photo.jpg"
    _child("make", str(photo), "4000", "3000")
    for name in ("centerface", "hog_people", "haar_plates"):
        cfg = folder / f"{name}.yml"
        cfg.write_text(f"detectors: [{name}]\nfile_access_retry_seconds: 0.05\n", encoding="utf-8")
        result = _child("run", str(photo), str(folder / f"out_{name}"), str(cfg))
        rows.append(
            ("4000×3000 JPEG, planar", name, result["seconds"], result["cpu_seconds"], result["peak_mb"])
        )
    big = folder / "big.png"
    _child("make", str(big), "12000", "12000")
    cfg = folder / "centerface.yml"
    result = _child("run", str(big), str(folder / "out_big"), str(cfg))
    rows.append(
        ("12000×12000 PNG, planar", "centerface", result["seconds"], result["cpu_seconds"], result["peak_mb"])
    )
    return rows


def run() -> str:
    encode = _encode_rows()
    with tempfile.TemporaryDirectory(prefix="masksmith-bench16-") as tmp:
        runs = _run_rows(Path(tmp))
        memory = _memory_rows(Path(tmp))
    cores = len(os.sched_getaffinity(0))
    return "\n\n".join(
        [
            "Writing the anonymised 1920×1080 JPEG (median of "
            f"{N_IMAGES} images per row; input 4:2:0; faces hidden):",
            table(
                (
                    "input quality",
                    "input KiB",
                    "lossless_outside ms",
                    "reencode (q75) ms",
                    "lossless / reencode",
                    "lossless size / input",
                    "reencode size / input",
                ),
                encode,
            ),
            "Whole runs over six 1920×1080 JPEGs (quality 90) with the default detectors, per image "
            "(best of two interleaved runs per mode):",
            table(("jpeg_mode", "images", "encode ms / image", "seconds / image"), runs),
            f"Whole runs in a subprocess ({cores} cores, detection_workers default, "
            "detection_max_pixels 2.5 MP):",
            table(("image", "detectors", "wall s", "CPU s", "peak RSS MB"), memory),
        ]
    )


if __name__ == "__main__":
    print(run())
