"""Road-image anonymisation: masksmith vs deface 1.5.0, per-image overhead, memory, 8000×4000 360° cutouts.

Run from the repository root: ``.venv/bin/python -m bench.bench_anonymise`` (several minutes).
Both tools use the same CenterFace model, the same detection resolution (1280×720 for 1920×1080 images,
deface ``--scale 1280x720``, masksmith ``max_num_pixels = 1280·720``) and the same threshold (0.2).
Recall counts pasted faces whose face box ends up ≥ 90 % covered; for that comparison both fill faces
with black (deface ``--replacewith solid``, masksmith ``mask_color: [0, 0, 0]``), so coverage is read off
the output images the same way for both.
"""

from __future__ import annotations

import json
import os
import shutil
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
SIZES = [24, 32, 40, 56, 80, 120, 200]
N_IMAGES = 20
THRESH = 0.2


def _deface_bin() -> str:
    candidate = Path(PYTHON).with_name("deface")
    return str(candidate) if candidate.exists() else "deface"


def _scenes(folder: Path, n: int, *, height: int = 1080, width: int = 1920, seed: int = 1) -> dict[str, list]:
    from tests.anonymise.road_scenes import road_scene

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    truth = {}
    for i in range(n):
        image, faces = road_scene(rng, SIZES, height=height, width=width)
        name = f"scene_{i:04d}.jpg"
        Image.fromarray(image).save(folder / name, "JPEG", quality=92)
        truth[name] = faces
    return truth


def _config(path: Path, **values: object) -> Path:
    base = {"detectors": ["centerface"], "score_threshold": THRESH, "max_num_pixels": 1280 * 720}
    base.update(values)
    path.write_text("\n".join(f"{k}: {json.dumps(v)}" for k, v in base.items()) + "\n")
    return path


def _recall(inputs: Path, outputs: dict[str, Path], truth: dict[str, list]) -> tuple[int, int]:
    """Faces whose box (less a 5 % inset) is ≥ 90 % black in the output (or was dark already)."""
    found = total = 0
    for name, faces in truth.items():
        before = np.asarray(Image.open(inputs / name).convert("RGB")).astype(int)
        after = np.asarray(Image.open(outputs[name]).convert("RGB")).astype(int)
        black = (after.max(axis=2) <= 24) & (before.max(axis=2) > 24)
        for face in faces:
            total += 1
            rows, cols = face.pixel_slices(0.05)
            hidden = black[rows, cols] | (before[rows, cols].max(axis=2) <= 24)
            found += bool(hidden.mean() >= 0.9)
    return found, total


def _time(cmd: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, capture_output=True)
    return time.perf_counter() - start


def _deface_run(folder: Path, mode: str) -> float:
    """deface on every ``scene_*.jpg`` in ``folder`` (it writes ``<stem>_anonymized.jpg`` beside them)."""
    for old in folder.glob("*_anonymized.jpg"):
        old.unlink()
    files = sorted(str(f) for f in folder.glob("scene_*.jpg"))
    cmd = [_deface_bin(), *files, "--scale", "1280x720", "--thresh", str(THRESH), "--replacewith", mode]
    return _time(cmd)


def _ours_run(inputs: Path, out: Path, config: Path) -> float:
    """``masksmith anonymise`` as a user runs it (the console script next to this Python)."""
    shutil.rmtree(out, ignore_errors=True)
    script = Path(PYTHON).with_name("masksmith")
    command = [str(script)] if script.exists() else [PYTHON, "-m", "masksmith"]
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"}
    return _time(
        [*command, "anonymise", "-i", str(inputs), "-o", str(out), "-k", str(config), "--no-progress"], env
    )


def compare_with_deface(work: Path, rounds: int = 3) -> str:
    """Both tools on the same 20 images, interleaved over ``rounds`` rounds; medians.

    Each round runs deface and masksmith on all 20 images and on the first one alone, in turn, so a
    change in the machine's speed hits both. "whole run" is 20 images over the process's wall time
    (start-up included); "steady" leaves the start-up out: 19 / (time for 20 − time for 1).
    """
    inputs = work / "in"
    truth = _scenes(inputs, N_IMAGES)
    one = work / "one"
    one.mkdir()
    shutil.copy(inputs / "scene_0000.jpg", one / "scene_0000.jpg")
    modes = {"solid": {"mask_color": [0, 0, 0], "blur": None}, "blur": {}}
    times: dict[tuple[str, str], list[float]] = {}
    for mode, ours_extra in modes.items():
        cfg = _config(work / f"{mode}.yml", **ours_extra)
        d_all, d_one = work / f"deface_{mode}", work / f"deface_one_{mode}"
        shutil.copytree(inputs, d_all)
        shutil.copytree(one, d_one)
        for _ in range(rounds):
            times.setdefault((mode, "d_all"), []).append(_deface_run(d_all, mode))
            times.setdefault((mode, "o_all"), []).append(_ours_run(inputs, work / f"ours_{mode}", cfg))
            times.setdefault((mode, "d_one"), []).append(_deface_run(d_one, mode))
            times.setdefault((mode, "o_one"), []).append(_ours_run(one, work / f"ours_one_{mode}", cfg))
    rows = []
    for mode in modes:
        t = {k: float(np.median(v)) for (m, k), v in times.items() if m == mode}
        d_whole, o_whole = N_IMAGES / t["d_all"], N_IMAGES / t["o_all"]
        d_steady = (N_IMAGES - 1) / max(1e-9, t["d_all"] - t["d_one"])
        o_steady = (N_IMAGES - 1) / max(1e-9, t["o_all"] - t["o_one"])
        recall = "–"
        if mode == "solid":
            d_found, total = _recall(
                inputs,
                {
                    f.name.replace("_anonymized", ""): f
                    for f in (work / "deface_solid").glob("*_anonymized.jpg")
                },
                truth,
            )
            o_found, _ = _recall(inputs, {n: work / "ours_solid" / n for n in truth}, truth)
            recall = f"deface {d_found}/{total}, masksmith {o_found}/{total}"
        rows.append(
            (
                mode,
                f"{d_whole:.2f} / {d_steady:.2f}",
                f"{o_whole:.2f} / {o_steady:.2f}",
                f"{o_whole / d_whole:.2f}× / {o_steady / d_steady:.2f}×",
                f"{t['d_one']:.2f} / {t['o_one']:.2f}",
                recall,
            )
        )
    return table(
        (
            "draw",
            "deface img/s (whole run / steady)",
            "masksmith img/s (whole run / steady)",
            "speed-up (whole run / steady)",
            "one image, s (deface / masksmith)",
            "faces anonymised",
        ),
        rows,
    )


def overhead(work: Path) -> str:
    """In-process run with one detection worker (one detector set): where an image's time goes.

    The run has one thread more than detector sets, which decodes, draws, encodes and writes one image
    while the other is detected, so the main path per image is the model (shrink included) and what does
    not overlap it. The overhead is everything except decoding, the model and encoding (per-detector
    ``model:NAME`` times are part of ``model`` and not counted again).
    """
    from masksmith.anonymise.config import load_config
    from masksmith.anonymise.pipeline import anonymise

    inputs = work / "in"
    config = load_config(_config(work / "sync.yml", enable_async=False, detection_workers=1))
    start = time.perf_counter()
    summary = anonymise(inputs, work / "sync_out", config=config, progress=False)
    wall = time.perf_counter() - start
    t = {k: v for k, v in summary.timings.items() if not k.startswith("model:")}
    n = summary.masked
    main_path = sum(v for k, v in t.items() if k != "decode")
    glue = max(0.0, wall - main_path)
    overhead_s = sum(v for k, v in t.items() if k not in ("decode", "model", "encode")) + glue
    rows = [(k, f"{v / n * 1000:.1f}") for k, v in sorted(t.items())]
    rows.append(("glue (wall less the main-path stages)", f"{glue / n * 1000:.1f}"))
    rows.append(("wall per image", f"{wall / n * 1000:.1f}"))
    rows.append(
        (
            "overhead (all but decode, model, encode)",
            f"{overhead_s / n * 1000:.1f} ms = {overhead_s / wall:.1%}",
        )
    )
    return table(("stage (one detection worker, 20 × 1920×1080)", "ms per image"), rows)


_MEMORY_RUNNER = r"""
import sys, threading, time
from pathlib import Path
from masksmith.anonymise.config import load_config
from masksmith.anonymise.pipeline import anonymise
samples = []
stop = False
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
def sample():
    while not stop:
        out = Path(sys.argv[2])
        done = sum(1 for _ in out.rglob("*.json")) if out.exists() else 0
        samples.append((done, rss()))
        time.sleep(0.25)
t = threading.Thread(target=sample, daemon=True); t.start()
anonymise(sys.argv[1], sys.argv[2], config=load_config(sys.argv[3]), progress=False)
stop = True; t.join()
n = max(d for d, _ in samples)
early = max(r for d, r in samples if d <= n * 0.1)
late = max(r for d, r in samples)
print(f"{n} {early:.1f} {late:.1f}")
"""


def memory(work: Path, n: int = 1000) -> str:
    from tests.anonymise.road_scenes import road_scene

    folder = work / "many"
    rng = np.random.default_rng(3)
    base = [road_scene(rng, [24, 48], height=240, width=320)[0] for _ in range(10)]
    for i in range(n):
        sub = folder / f"d{i // 100:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray(base[i % 10]).save(sub / f"img_{i:04d}.jpg", quality=90)
    cfg = _config(work / "mem.yml", max_num_pixels=1_000_000_000, remote_preview=True, preview_dim=[160, 120])
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"}
    res = subprocess.run(
        [PYTHON, "-c", _MEMORY_RUNNER, str(folder), str(work / "many_out"), str(cfg)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    done, early, late = res.stdout.split()
    return table(
        ("images (320×240 JPEG)", "peak RSS in first 10 % (MB)", "peak RSS overall (MB)", "growth (MB)"),
        [(done, early, late, f"{float(late) - float(early):.1f}")],
    )


def panorama(work: Path) -> str:
    from masksmith.anonymise.config import load_config
    from masksmith.anonymise.cutouts import cutout_windows
    from masksmith.anonymise.pipeline import anonymise
    from tests.anonymise.road_scenes import road_scene

    folder = work / "pano"
    folder.mkdir()
    rng = np.random.default_rng(4)
    image, faces = road_scene(rng, [40, 80, 160, 300], height=4000, width=8000)
    Image.fromarray(image).save(folder / "pano.jpg", quality=90)
    truth = {"pano.jpg": faces}
    rows = []
    for label, max_pixels in (("full resolution", 1_000_000_000), ("max_num_pixels 2 MP", 2_000_000)):
        path = work / f"pano_{max_pixels}.yml"
        path.write_text(
            f"detectors: [centerface]\nmax_num_pixels: {max_pixels}\nscore_threshold: {THRESH}\n"
            "mask_color: [0, 0, 0]\nblur: null\n"
        )
        config = load_config(path, base="360")
        windows = len(
            cutout_windows(
                4000,
                8000,
                step=config.detection.cutout_step_factor,
                downscale=config.detection.cutout_dim_downscale,
                wrap=True,
            )
        )
        out = work / f"pano_out_{max_pixels}"
        start = time.perf_counter()
        summary = anonymise(folder, out, config=config, progress=False)
        seconds = time.perf_counter() - start
        found, total = _recall(folder, {"pano.jpg": out / "pano.jpg"}, truth)
        rows.append(
            (
                label,
                f"{windows} + full pass",
                f"{summary.timings.get('model', 0):.1f}",
                f"{seconds:.1f}",
                f"{found}/{total}",
            )
        )
    return table(
        (
            "8000×4000 360° (shipped 360 config, faces)",
            "windows",
            "model s (summed over workers)",
            "total s per image",
            "faces hidden",
        ),
        rows,
    )


def run() -> str:
    with tempfile.TemporaryDirectory(prefix="bench-anonymise-") as tmp:
        work = Path(tmp)
        parts = [
            "masksmith anonymise vs deface 1.5.0 (20 × 1920×1080 JPEG, CenterFace at 1280×720, threshold 0.2); "
            "medians of 3 interleaved rounds",
            compare_with_deface(work),
            "",
            overhead(work),
            "",
            memory(work),
            "",
            panorama(work),
        ]
    return "\n".join(parts)


if __name__ == "__main__":
    print(run())
