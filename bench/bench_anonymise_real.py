"""Issue 15: masksmith anonymise (default config, faces alone) vs deface 1.5.0 on real 1920×1080 street photos.

Run from the repository root after ``make setup``: ``.venv/bin/python -m bench.bench_anonymise_real``.

The photos are the real ones packages ship (tests/anonymise/real_photos.py): ultralytics' ``bus.jpg``
(810×1080) and ``zidane.jpg`` (1280×720) and scikit-image's ``motorcycle_left.png`` (741×500). None is
1920×1080, so 20 frames of 1920×1080 are made from them by upscaling (bilinear) to cover 1920 px of width
or 1080 px of height, cutting 1080-high windows at different offsets and mirroring. Both tools run on
the same JPEG files with their own defaults (deface: CenterFace at full resolution, threshold 0.2, blur;
masksmith: its default configuration), as whole runs of the command a user types (start-up included),
interleaved over rounds; medians. The per-detector cost is each detector's own time per image, in
process, one thread per model as the run's workers use them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from bench.common import table

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
N_IMAGES = 20
SIZE = (1080, 1920)


def frames(folder: Path) -> list[Path]:
    """Twenty 1920×1080 JPEGs cut from the upscaled real photos (see the module docstring)."""
    sys.path.insert(0, str(ROOT))
    from tests.anonymise.real_photos import stage_photos

    staged = stage_photos(folder / "photos")
    sources = [cv2.imread(str(staged / n)) for n in ("bus.jpg", "zidane.jpg", "motorcycle.png")]
    out = []
    folder.mkdir(parents=True, exist_ok=True)
    k = 0
    offsets = (0.0, 0.25, 0.5, 0.75, 1.0)
    while len(out) < N_IMAGES:
        for image in sources:
            h, w = image.shape[:2]
            scale = max(SIZE[1] / w, SIZE[0] / h)
            big = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_LINEAR)
            bh, bw = big.shape[:2]
            off = offsets[(k // len(sources)) % len(offsets)]
            y0, x0 = round((bh - SIZE[0]) * off), round((bw - SIZE[1]) * off)
            frame = big[y0 : y0 + SIZE[0], x0 : x0 + SIZE[1]]
            if (k // (len(sources) * len(offsets))) % 2:
                frame = frame[:, ::-1]
            path = folder / f"street_{len(out):02d}.jpg"
            cv2.imwrite(str(path), np.ascontiguousarray(frame), [cv2.IMWRITE_JPEG_QUALITY, 92])
            out.append(path)
            k += 1
            if len(out) == N_IMAGES:
                break
    return out


def _time(cmd: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, capture_output=True)
    return time.perf_counter() - start


def _deface(folder: Path) -> float:
    for old in folder.glob("*_anonymized.jpg"):
        old.unlink()
    files = sorted(str(f) for f in folder.glob("street_*.jpg"))
    return _time([str(Path(PYTHON).with_name("deface")), *files])


def _ours(inputs: Path, out: Path, config: Path | None) -> float:
    shutil.rmtree(out, ignore_errors=True)
    command = [
        str(Path(PYTHON).with_name("masksmith")),
        "anonymise",
        "-i",
        str(inputs),
        "-o",
        str(out),
        "--no-progress",
    ]
    if config is not None:
        command += ["-k", str(config)]
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"}
    return _time(command, env)


def compare(work: Path, rounds: int) -> str:
    """Whole-run throughput of deface, masksmith's default config and masksmith with faces alone."""
    inputs = work / "in"
    frames(inputs)
    d_in = work / "deface_in"
    shutil.copytree(inputs, d_in)
    faces = work / "faces.yml"
    faces.write_text('detectors: ["centerface"]\n')
    times: dict[str, list[float]] = {"deface": [], "default": [], "faces": []}
    for _ in range(rounds):
        times["deface"].append(_deface(d_in))
        times["default"].append(_ours(inputs, work / "out_default", None))
        times["faces"].append(_ours(inputs, work / "out_faces", faces))
    med = {k: float(np.median(v)) for k, v in times.items()}
    base = N_IMAGES / med["deface"]
    rows = [("deface 1.5.0 (defaults)", f"{med['deface']:.1f}", f"{base:.2f}", "1.00×")]
    for key, label in (("default", "masksmith default config"), ("faces", "masksmith faces alone")):
        rate = N_IMAGES / med[key]
        rows.append((label, f"{med[key]:.1f}", f"{rate:.2f}", f"{rate / base:.2f}×"))
    return table(("run (20 × 1920×1080, start-up included)", "seconds", "img/s", "vs deface"), rows)


def per_detector(work: Path) -> str:
    """Each default detector's own time per 1920×1080 photo (one thread), median over the 20 frames."""
    from masksmith.detect.centerface import CenterFaceDetector
    from masksmith.detect.text_plates import TextPlateDetector
    from masksmith.media.io import read_image

    images = [read_image(p, mode="RGB").pixels for p in sorted((work / "in").glob("street_*.jpg"))]
    detectors = {
        "centerface (faces, full resolution)": CenterFaceDetector(threshold=0.3, intra_op_threads=1),
        "text_plates (PP-OCR text det at 960 px + plate filter)": TextPlateDetector(intra_op_threads=1),
    }
    rows = []
    for name, detector in detectors.items():
        detector.detect(images[0])  # warm-up
        spent = []
        for image in images:
            start = time.perf_counter()
            detector.detect(image)
            spent.append(time.perf_counter() - start)
        rows.append((name, f"{1000 * float(np.median(spent)):.0f}"))
    return table(("detector", "ms per image (median)"), rows)


def main() -> None:
    rounds = int(os.environ.get("BENCH_ROUNDS", "3"))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        print(compare(work, rounds))
        print()
        print(per_detector(work))


if __name__ == "__main__":
    main()
