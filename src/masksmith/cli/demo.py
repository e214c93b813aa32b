"""``masksmith demo``: a sample journal built from scikit-image's bundled photos, no download needed."""

from __future__ import annotations

import shutil
from pathlib import Path

import click
import cv2
import numpy as np

from masksmith.journal.project import Journal
from masksmith.media import io as media_io
from masksmith.media import ops


def _sample_pool(pool: Path) -> dict[str, Path]:
    """Write a few bundled photos as PNGs (the pool the demo draws from)."""
    from skimage import data

    pool.mkdir(parents=True, exist_ok=True)
    images = {name: getattr(data, name)() for name in ("coffee", "chelsea", "astronaut")}
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
    """Build the demo journal under ``out`` and return it."""
    pool = _sample_pool(out / "pool")
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


@click.command()
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("demo-output"),
    show_default=True,
    help="Folder for the sample pool, work files and the journal.",
)
def demo(out: Path) -> None:
    """Build a sample journal (crop, resize, local blur, paste splice with a donor) and its graph image."""
    from masksmith.cli.journal_cmds import render_journal_graph

    j = build_demo(out)
    graph_png = render_journal_graph(j, j.directory / "_overview_.png")
    archive = j.archive(out)
    click.echo(f"journal:      {j.json_path}")
    click.echo(f"graph image:  {graph_png}")
    click.echo(f"archive:      {archive}")
    click.echo(f"nodes/edges:  {j.graph.graph.number_of_nodes()} / {j.graph.graph.number_of_edges()}")
    for start, end, data in j.graph.edges():
        click.echo(
            f"  {start} -> {end}: {data['op']:<16} mask {data['maskname']} "
            f"({float(data.get('change size ratio', 0.0)):.1%} changed)"
        )
    click.echo(f"inspect it with: masksmith journal show {j.directory}")
