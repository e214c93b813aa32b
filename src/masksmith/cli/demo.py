"""``masksmith demo``: the three jobs on scikit-image's bundled photos, with one offline index page.

The demo runs the same commands a user would type (printed as it goes, so each can be rerun as
shown): a batch project from the starter specification (``batch init`` + ``batch create`` + ``batch
view``), an anonymisation and a face-mask run with their report pages, and a hand-built sample
journal (crop, resize, local blur, paste splice) with its viewer page. Nothing is downloaded.
"""

from __future__ import annotations

import dataclasses
import html
import shlex
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import click
import cv2
import numpy as np

from masksmith import atomic_io
from masksmith.cli.invocation import masksmith_command, shown
from masksmith.journal.project import Journal
from masksmith.media import io as media_io
from masksmith.media import ops
from masksmith.report.journal_graph import render_journal_graph

#: Photos the anonymisation and face-mask runs use: one with a face, two without.
PHOTOS = ("astronaut", "coffee", "chelsea")


def _sample_pool(pool: Path) -> dict[str, Path]:
    """Write a few bundled photos as PNGs (the pool the demo draws from)."""
    from skimage import data

    pool.mkdir(parents=True, exist_ok=True)
    images = {name: getattr(data, name)() for name in PHOTOS}
    paths = {}
    for name, pixels in images.items():
        path = pool / f"{name}.png"
        if not path.exists():
            media_io.write_image(path, pixels)
        paths[name] = path
    return paths


def _select_head(chelsea: np.ndarray) -> np.ndarray:
    """The cat's head selected with an elliptical alpha (transparent elsewhere), as SelectRegion makes it."""
    alpha = np.zeros(chelsea.shape[:2], np.uint8)
    cv2.ellipse(alpha, (220, 130), (80, 92), 0, 0, 360, 255, -1)
    return np.dstack([chelsea, alpha])


def build_demo(out: Path) -> Journal:
    """Build the sample journal under ``out`` (``out/journals/demo``) and return it."""
    pool = _sample_pool(out / "photos")
    work = out / "work"
    work.mkdir(parents=True, exist_ok=True)
    folder = out / "journals" / "demo"
    if (folder / "demo.json").exists():
        shutil.rmtree(folder)
    j = Journal.create(
        pool["coffee"],
        folder,
        name="demo",
        description="masksmith demo journal",
        technical_summary="crop, resize, local blur, paste splice with a donor",
    )
    base = j.graph.base_node()
    coffee = j.pixels(base)

    cropped = np.ascontiguousarray(coffee[20:380, 40:580])
    media_io.write_image(work / "coffee_crop.png", cropped)
    crop = j.record(base, work / "coffee_crop.png", op="TransformCrop", arguments={})

    resized = cv2.resize(cropped, (405, 270), interpolation=cv2.INTER_LINEAR)
    media_io.write_image(work / "coffee_resized.png", resized)
    resize = j.record(
        crop.end, work / "coffee_resized.png", op="TransformResize", arguments={"interpolation": "bilinear"}
    )

    region = np.zeros(resized.shape[:2], bool)
    cv2.circle(region.view(np.uint8), (200, 135), 60, 1, -1)
    blurred = ops.blur_in_mask(resized, region, kernel=41)
    media_io.write_image(work / "coffee_blurred.png", blurred)
    blur = j.record(
        resize.end,
        work / "coffee_blurred.png",
        op="Blur",
        arguments={"Blur Type": "Gaussian", "Laundering": "no"},
        input_mask=region.astype(np.uint8) * 255,
    )

    chelsea = j.add_image(pool["chelsea"], nodetype="donor")
    selected = _select_head(j.pixels(chelsea))
    media_io.write_image(work / "chelsea_head.png", selected)
    head = j.record(
        chelsea,
        work / "chelsea_head.png",
        op="SelectRegion",
        arguments={"subject": "natural object", "location change": "no"},
    )

    # paste the head (donor box x 140..300, y 38..222) with its top-left at (20, 40) of the target
    dx, dy = 20 - 140, 40 - 38
    shift = np.array([[1, 0, dx], [0, 1, dy]], dtype=np.float32)
    placed = cv2.warpAffine(selected, shift, (blurred.shape[1], blurred.shape[0]))
    alpha = placed[:, :, 3].astype(np.float32) / 255.0
    pasted = ops.composite(blurred, placed[:, :, :3], alpha)
    media_io.write_image(work / "coffee_pasted.png", pasted)
    matrix = {"r": 3, "c": 3, "r0": [1.0, 0.0, float(dx)], "r1": [0.0, 1.0, float(dy)], "r2": [0.0, 0.0, 1.0]}
    j.record(
        blur.end,
        work / "coffee_pasted.png",
        op="PasteSplice",
        donor=head.end,
        arguments={
            "donor rotated": "no",
            "donor resized": "no",
            "donor cropped": "no",
            "donor flipped": "no",
            "purpose": "add",
            "subject": "natural object",
            "transform matrix": matrix,
        },
    )
    return j


@dataclass(frozen=True)
class Step:
    """One demo step: its title, the page it wrote, the command line that made it, and its exit code."""

    title: str
    page: Path
    command: str
    code: int
    seconds: float
    note: str = ""


def _run_cli(args: list[str]) -> int:
    from masksmith.cli.main import run

    return run(["--quiet", *args])


def _step(title: str, page: Path, args: list[str], *, note: str = "") -> Step:
    command = " ".join([masksmith_command(), *(shlex.quote(a) for a in args)])
    click.echo(f"$ {command}")
    began = time.perf_counter()
    code = _run_cli(args)
    return Step(title, page, command, code, time.perf_counter() - began, note)


def _index_page(out: Path, steps: list[Step]) -> Path:
    """One offline page linking every result page (relative links: the folder can be moved)."""
    items = []
    for step in steps:
        href = html.escape(step.page.relative_to(out).as_posix())
        state = "ok" if step.code == 0 else f"exit {step.code}"
        items.append(
            f'<li><a href="{href}">{html.escape(step.title)}</a> <small>({state}, {step.seconds:.1f} s)</small>'
            f"<p>{html.escape(step.note)}</p><pre>{html.escape(step.command)}</pre></li>"
        )
    page = out / "index.html"
    text = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>masksmith demo</title>'
        "<style>body{font-family:sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
        "pre{background:#f4f4f4;padding:.5rem;white-space:pre-wrap}li{margin-bottom:1rem}</style></head>"
        "<body><h1>masksmith demo</h1><p>Every result below was made from scikit-image's bundled photos "
        "by the command shown under it (run from the folder the demo was started in).</p><ol>"
        + "".join(items)
        + "</ol></body></html>\n"
    )
    return atomic_io.write_text(page, text)


def _check_out(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise click.UsageError(f"--out {out} is a file")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise click.UsageError(f"--out {out} is not empty; pass --force to write into it")


def run_demo(out: Path) -> list[Step]:
    """Run every demo step into ``out`` and write ``out/index.html``; returns the steps."""
    out.mkdir(parents=True, exist_ok=True)
    photos = out / "photos"
    _sample_pool(photos)
    batch = out / "batch"
    steps = []
    init = _step("batch init", batch / "starter_spec.json", ["batch", "init", str(batch), "--force"])
    projects = batch / "projects"
    if projects.exists():
        shutil.rmtree(projects)
    create_args = ["batch", "create", "--specification", str(batch / "starter_spec.json")]
    create_args += ["--projects", str(projects), "--count", "3", "--seed", "1"]
    create_args += ["--global-variables", f"image_dir={batch / 'pool'},donor_dir={batch / 'donors'}"]
    create = _step("batch create", projects, create_args)
    view = _step(
        "Batch project: three journals from the starter specification",
        batch / "index.html",
        ["batch", "view", "--projects", str(projects), "--out", str(batch / "index.html"), "--force"],
        note=f"specification {init.page}; made by: {create.command}",
    )
    # the index shows the whole batch job's time: init, create and view
    steps.append(dataclasses.replace(view, seconds=init.seconds + create.seconds + view.seconds))
    anonymised = out / "anonymise" / "output"
    for folder in (anonymised, anonymised.with_name("output_journal"), anonymised.with_name("output_error")):
        if folder.exists():
            shutil.rmtree(folder)
    report = out / "anonymise" / "report.html"
    steps.append(
        _step(
            "Anonymisation: faces, people and plates hidden",
            out / "anonymise" / "report.html",
            ["anonymise", "-i", str(photos), "-o", str(anonymised), "--no-progress", "--report", str(report)],
        )
    )
    facemask = out / "facemask"
    if facemask.exists():
        shutil.rmtree(facemask)
    facemask_args = ["facemask", "--input", str(photos), "--output", str(facemask / "output")]
    facemask_args += ["--n-augmentations", "2", "--seed", "1", "--crop-style", "buffalo"]
    steps.append(
        _step(
            "Face masks: two masked variants per face, aligned crops",
            facemask / "report.html",
            [*facemask_args, "--report", str(facemask / "report.html")],
        )
    )
    journal = build_demo(out)
    render_journal_graph(journal, journal.directory / "_overview_.png")
    journal_page = out / "journal.html"
    steps.append(
        _step(
            "Sample journal: crop, resize, local blur, paste splice with a donor",
            journal_page,
            ["journal", "view", str(journal.directory), "--out", str(journal_page), "--force"],
            note="built with the Python API (masksmith.cli.demo.build_demo)",
        )
    )
    for step in (init, create, *steps):
        if step.code not in (0, 1):
            raise click.ClickException(f"demo step failed ({step.title}, exit {step.code}): {step.command}")
    _index_page(out, steps)
    return [init, create, *steps]


@click.command()
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("demo-output"),
    show_default=True,
    help="Folder for the photos, the results and index.html (must be empty or new).",
)
@click.option(
    "--force", is_flag=True, help="Write into a non-empty --out (replacing the demo's own results)."
)
def demo(out: Path, force: bool) -> None:
    """Run the three jobs on bundled photos and write one index page linking the results.

    A batch project from the starter specification, an anonymisation, a face-mask run and a sample
    journal; each command is printed as it runs and can be rerun as shown.
    """
    _check_out(out, force)
    began = time.perf_counter()
    steps = run_demo(out)
    index = out / "index.html"
    problems = sum(s.code != 0 for s in steps)
    click.echo(f"done in {time.perf_counter() - began:.1f} s; {problems} step(s) reported problems")
    click.echo(f"open {shown(index)} in a browser, or serve it with:")
    click.echo(
        f"  {masksmith_command()} journal view {shlex.quote(shown(out / 'journals' / 'demo'))} --serve"
    )
