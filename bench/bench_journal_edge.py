"""Cost of recording a journal edge between two 1920×1080 images.

Recording = comparison + mask PNG + JSON save, with both images already decoded (as in a batch
run, where the plugin holds them). The floor is the same process's time for ``cv2.absdiff`` plus
writing the mask PNG with ``cv2.imwrite``. Target: median ratio ≤ 1.5.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import cv2
import numpy as np

from bench.common import measure, median_ms, table
from masksmith.journal.project import Journal
from masksmith.media import io as media_io
from masksmith.media import ops

ROWS, COLS = 1080, 1920


def _photo_like(rng: np.random.Generator) -> np.ndarray:
    small = rng.integers(0, 256, size=(ROWS // 24, COLS // 24, 3), dtype=np.uint8)
    image = cv2.resize(small, (COLS, ROWS), interpolation=cv2.INTER_CUBIC)
    noise = rng.integers(0, 6, size=image.shape, dtype=np.uint8)
    return np.ascontiguousarray(cv2.add(image, noise))


def run(repeat: int = 15) -> str:
    rng = np.random.default_rng(7)
    source = _photo_like(rng)
    region = np.zeros((ROWS, COLS), bool)
    region[300:700, 600:1300] = True
    target = ops.blur_in_mask(source, region, kernel=15)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        media_io.write_image(work / "base.png", source)
        journal = Journal.create(work / "base.png", work / "bench")
        base = journal.graph.base_node()
        journal.pixels(base)  # decoded once, as a plugin would hold it
        # the plugin's output files exist before the edge is recorded (writing them is plugin time)
        outputs = []
        for _ in range(repeat + 2):
            _, path = journal.new_media_path(base)
            media_io.write_image(path, target, png_compression=1)
            outputs.append(path)
        pending = iter(outputs)

        def record() -> None:
            journal.record(
                base,
                next(pending),
                op="Blur",
                arguments={"Blur Type": "Gaussian", "Laundering": "no"},
                target_pixels=target,
            )

        def floor() -> None:
            # the least work that yields a mask file: OpenCV difference, channel max, threshold, PNG write
            b, g, r = cv2.split(cv2.absdiff(source, target))
            _, mask = cv2.threshold(cv2.max(cv2.max(b, g), r), 0, 255, cv2.THRESH_BINARY_INV)
            params = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_SUB]
            cv2.imwrite(str(work / "floor_mask.png"), mask, params)

        floor_times = measure(floor, repeat=repeat)
        record_times = measure(record, repeat=repeat)
        floor2 = measure(floor, repeat=repeat)
    floor_ms = min(median_ms(floor_times), median_ms(floor2))
    record_ms = median_ms(record_times)
    rows = [
        (
            "floor: cv2.absdiff + threshold + cv2.imwrite mask PNG (level 1, SUB filter)",
            f"{floor_ms:.1f}",
            "1.00",
        ),
        (
            "masksmith Journal.record (compare + mask PNG + JSON)",
            f"{record_ms:.1f}",
            f"{record_ms / floor_ms:.2f}",
        ),
    ]
    return f"### Recording an edge, 1920×1080 (median of {repeat})\n\n" + table(
        ("what", "median ms", "ratio to floor"), rows
    )


if __name__ == "__main__":
    print(run())
