"""Cost of the Journaling Tool link attributes (psnr, local psnr, ssim, exifdiff, selectmaskname) in batch
create, side by side in one run: the bench_batch spec (1920×1080, base → OutputPNG → MedianBlur) with the
measures and with them switched off; and one SSIM of a 1920×1080 RGB pair, ours against scikit-image's."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench import bench_batch
from bench.common import table
from masksmith.journal import fidelity
from masksmith.journal.project import Journal
from masksmith.media import io as media_io


def _batch(count: int) -> tuple[float, float]:
    bench_batch._install_plugins()
    rng = np.random.default_rng(3)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        pool = root / "pool"
        pool.mkdir()
        for i in range(count):
            media_io.write_image(pool / f"base{i:02d}.jpg", bench_batch._photo_like(rng), quality=92)
        bench_batch._run(root / "warm", pool, 1, 1)
        with_measures, _ = bench_batch._run(root / "on", pool, 1, count)
        original = Journal._edge_measures
        Journal._edge_measures = lambda self, *a, **k: {}  # type: ignore[method-assign]
        try:
            without, _ = bench_batch._run(root / "off", pool, 1, count)
        finally:
            Journal._edge_measures = original  # type: ignore[method-assign]
    return with_measures, without


def _ssim_seconds(repeat: int = 3) -> tuple[float, float]:
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(0)
    a = bench_batch._photo_like(rng)
    b = a.copy()
    b[200:600, 300:900] //= 2
    ours, theirs = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        fidelity.ssim(a, b, 255.0)
        ours.append(time.perf_counter() - start)
        start = time.perf_counter()
        structural_similarity(a, b, channel_axis=2, data_range=255)
        theirs.append(time.perf_counter() - start)
    return min(ours), min(theirs)


def run(count: int = 4) -> str:
    with_measures, without = _batch(count)
    ours, theirs = _ssim_seconds()
    rows: list[tuple[Any, ...]] = [
        ("projects/minute, link measures on", f"{count / with_measures * 60:.1f}"),
        ("projects/minute, link measures off", f"{count / without * 60:.1f}"),
        ("cost of the measures per project", f"{(with_measures - without) / count * 1000:.0f} ms"),
        ("SSIM 1920×1080 RGB, masksmith", f"{ours * 1000:.0f} ms"),
        ("SSIM 1920×1080 RGB, scikit-image", f"{theirs * 1000:.0f} ms"),
    ]
    return f"JT link attributes: {count} projects, 1 thread\n\n" + table(("measure", "value"), rows)


if __name__ == "__main__":
    print(run())
