"""Run one anonymisation in this process and print its peak RSS (used by the memory tests and the bench).

``python -m tests.anonymise.memory_child make OUT.png|OUT.jpg WIDTH HEIGHT`` writes a tiled street scene
with faces (one across the 360° seam); ``python -m tests.anonymise.memory_child run IN OUT CONFIG.yml
[LIMIT_MB] [--stub]`` anonymises IN into OUT with the config's detectors (``--stub``: a fixed box, for
pipeline memory alone) under an address-space-free data limit of LIMIT_MB and prints one JSON line.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import numpy as np


class _Box:
    name = "box-stub"

    def __init__(self) -> None:
        from masksmith.detect import CAR

        self.classes = (CAR,)
        self.largest = 0

    def detect(self, image):  # type: ignore[no-untyped-def]
        from masksmith.detect import CAR, Detections, class_id

        h, w = image.shape[:2]
        self.largest = max(self.largest, h * w)
        return Detections(
            boxes=np.array([[w * 0.4, h * 0.4, w * 0.5, h * 0.5]], np.float32),
            scores=np.array([0.9], np.float32),
            class_ids=np.array([class_id(CAR)]),
            image_size=(h, w),
        )


def _peak_rss_mb() -> float:
    """This process's peak RSS: VmHWM belongs to the address space, which exec makes anew (ru_maxrss
    keeps the parent's peak at fork when that was higher)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make(path: Path, width: int, height: int) -> None:
    import cv2

    from tests.anonymise.road_scenes import paste_face, road_scene

    rng = np.random.default_rng(16)
    tile, _ = road_scene(rng, [48, 80, 140], height=min(height, 1000), width=min(width, 2000))
    reps = (-(-height // tile.shape[0]), -(-width // tile.shape[1]), 1)
    image = np.tile(tile, reps)[:height, :width]
    image = np.ascontiguousarray(image)
    faces = [paste_face(image, 120, width - 70, height // 2, wrap=True)]  # across the seam
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_JPEG_QUALITY, 92] if path.suffix == ".jpg" else [cv2.IMWRITE_PNG_COMPRESSION, 1]
    cv2.imwrite(str(path), bgr, params)
    print(json.dumps({"seam_face": list(faces[0].box)}))


def run(source: Path, out: Path, config_path: Path, limit_mb: int | None, stub: bool) -> None:
    if limit_mb:
        limit = limit_mb * 2**20
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    from masksmith.anonymise.config import load_config
    from masksmith.anonymise.pipeline import anonymise

    config = load_config(config_path, base="360" if "360" in config_path.name else None)
    inp = out.parent / f"{out.name}_in"
    inp.mkdir(parents=True, exist_ok=True)
    target = inp / source.name
    if not target.exists():
        target.symlink_to(source.resolve())
    box = _Box() if stub else None
    started = time.perf_counter()
    summary = anonymise(
        inp, out, config=config, detectors=[box] if box else None, progress=False, journal=False
    )
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak = _peak_rss_mb()
    print(
        json.dumps(
            {
                "peak_mb": round(peak),
                "seconds": round(seconds, 1),
                "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
                "masked": summary.masked,
                "failed": summary.failed,
                "errors": summary.errors,
                "largest_view": box.largest if box else None,
            }
        )
    )


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
    else:
        args = [a for a in sys.argv[2:] if a != "--stub"]
        run(
            Path(args[0]),
            Path(args[1]),
            Path(args[2]),
            int(args[3]) if len(args) > 3 else None,
            "--stub" in sys.argv,
        )
