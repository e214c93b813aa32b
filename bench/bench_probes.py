"""Probe generation for a 10-link 1920×1080 journal (target ≤ 1 s) and bulk validation of 200 journals.

Probe generation is timed from a cold mask cache (edge masks are decoded inside the timing); writing
the probe files is timed separately. Bulk validation copies one small two-link journal 200 times and
validates the folder with 2 threads; it reports journals per second and the share of the journals'
validation time spent reading edge masks.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from bench.common import measure, median_ms, table
from masksmith.batch.bulk_validate import validate_projects
from masksmith.journal.probes import build_composites, generate_probes, write_probe_set
from masksmith.journal.project import Journal
from masksmith.journal.rules_base import inspect
from masksmith.media import io as media_io

ROWS, COLS = 1080, 1920


def _photo_like(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    small = rng.integers(0, 256, size=(rows // 24 + 1, cols // 24 + 1, 3), dtype=np.uint8)
    image = cv2.resize(small, (cols, rows), interpolation=cv2.INTER_CUBIC)
    noise = rng.integers(0, 6, size=image.shape, dtype=np.uint8)
    return np.ascontiguousarray(cv2.add(image, noise))


def _local(pixels: np.ndarray, top: int, left: int, size: int) -> np.ndarray:
    out = pixels.copy()
    out[top : top + size, left : left + size] = 255 - out[top : top + size, left : left + size]
    return out


def ten_link_journal(folder: Path, rng: np.random.Generator) -> Journal:
    """base → 6 local edits (included in probes) interleaved with crop, resize, flip and PNG output."""
    media_io.write_image(folder / "base.png", _photo_like(rng, ROWS, COLS))
    journal = Journal.create(folder / "base.png", folder / "bench10", username="bench")
    node = journal.graph.base_node()
    steps: list[tuple[str, dict[str, object], object]] = [
        ("AddNoise", {"Noise Type": "uniform"}, lambda p: _local(p, 100, 200, 300)),
        ("AddNoise", {"Noise Type": "uniform"}, lambda p: _local(p, 500, 900, 250)),
        ("ColorBalance", {}, lambda p: _local(p, 300, 1300, 200)),
        ("TransformCrop", {}, lambda p: p[40:1040, 60:1860].copy()),
        ("AddNoise", {"Noise Type": "uniform"}, lambda p: _local(p, 600, 200, 200)),
        ("TransformResize", {"interpolation": "bilinear"}, lambda p: cv2.resize(p, (1440, 800))),
        ("AddNoise", {"Noise Type": "uniform"}, lambda p: _local(p, 100, 700, 150)),
        ("TransformFlip", {"flip direction": "horizontal"}, lambda p: cv2.flip(p, 1)),
        ("AddNoise", {"Noise Type": "uniform"}, lambda p: _local(p, 400, 400, 180)),
        ("OutputPng", {"Image Rotated": "no"}, lambda p: p.copy()),
    ]
    for op, arguments, make in steps:
        pixels = make(journal.pixels(node))  # type: ignore[operator]
        _, path = journal.new_media_path(node)
        media_io.write_image(path, pixels)
        node = journal.record(node, path, op=op, arguments=arguments, target_pixels=pixels).end
    return journal


def _bulk(folder: Path, rng: np.random.Generator, count: int = 200) -> tuple[float, float, int]:
    source = folder / "src"
    source.mkdir()
    base = _photo_like(rng, 240, 320)
    media_io.write_image(source / "base.png", base)
    journal = Journal.create(source / "base.png", source / "one", username="bench")
    edited = _local(base, 40, 60, 80)
    media_io.write_image(source / "t.png", edited)
    edge = journal.record(
        journal.graph.base_node(), source / "t.png", op="AddNoise", arguments={"Noise Type": "uniform"}
    )
    media_io.write_image(source / "f.png", edited)
    journal.record(edge.end, source / "f.png", op="OutputPng", arguments={"Image Rotated": "no"})
    projects = folder / "projects"
    projects.mkdir()
    for i in range(count):
        shutil.copytree(journal.directory, projects / f"j{i:03d}")
    began = time.perf_counter()
    summary = validate_projects(projects, threads=2)
    seconds = time.perf_counter() - began
    return summary.journals / seconds, summary.mask_share, summary.journals


def run(repeat: int = 5) -> str:
    rng = np.random.default_rng(11)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        journal = ten_link_journal(work, rng)
        probes: list = []

        def generate() -> None:
            inspect(journal).clear()
            probes[:] = generate_probes(journal)

        gen = measure(generate, repeat=repeat, warmup=1)
        composites = build_composites(journal, probes)
        write = measure(
            lambda: write_probe_set(journal, probes, composites, work / "out"), repeat=3, warmup=1
        )
        rate, share, count = _bulk(work, rng)
    rows = [
        (
            "probe generation, 10 links, 1920×1080",
            f"{median_ms(gen):.0f} ms",
            f"{len(probes)} probes",
            "≤ 1000 ms",
        ),
        ("writing probes + composites", f"{median_ms(write):.0f} ms", f"{len(probes)} masks", "-"),
        (
            f"bulk validation, {count} journals, 2 threads",
            f"{rate:.1f} journals/s",
            f"{share:.0%} of time reading masks",
            "-",
        ),
    ]
    return "### Probes and bulk validation\n\n" + table(("case", "result", "detail", "target"), rows)


if __name__ == "__main__":
    print(run())
