"""``masksmith facemask`` and the ``generate_masked_images`` console script: face-mask augmentation + crops."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from masksmith.cli.executor_options import chosen_executor, executor_option_decorators
from masksmith.cli.options import option
from masksmith.cli.runner import EXIT_BAD_INPUT, EXIT_FAILURES, run_group
from masksmith.errors import MasksmithError
from masksmith.facemask.align import CropStyle
from masksmith.facemask.templates import MaskType

__all__ = ["facemask_command", "generate_masked_images", "main"]


_STYLE_CHOICES = [*(s.value for s in CropStyle), "all"]


class FacemaskUsageError(click.ClickException):
    """A bad flag combination or input: one line on stderr, exit code 2."""

    exit_code = EXIT_BAD_INPUT


def _mask_types(value: str) -> tuple[MaskType, ...]:
    names = [v.strip().lower() for v in value.split(",") if v.strip()]
    valid = ", ".join(m.value for m in MaskType)
    if not names:
        raise FacemaskUsageError(f"--mask-types needs at least one of {valid}")
    try:
        return tuple(dict.fromkeys(MaskType(n) for n in names))
    except ValueError:
        bad = next(n for n in names if n not in {m.value for m in MaskType})
        raise FacemaskUsageError(f"--mask-types: unknown mask type {bad!r}; valid: {valid}") from None


def _flag(name: str, help: str, *, dest: str | None = None, **attrs: Any) -> Callable[[Any], Any]:
    """``--NAME`` (kebab-case), with the original tool's snake_case spelling as a hidden alias; a
    default other than None is shown in ``--help``."""
    attrs.setdefault("show_default", attrs.get("default") is not None and not attrs.get("is_flag"))
    decls = (f"--{name}", dest) if dest else (f"--{name}",)
    if "-" not in name:
        return click.option(*decls, help=help, **attrs)
    return option(*decls, aliases=(f"--{name.replace('-', '_')}",), help=help, **attrs)


def _options(output_default: str | None) -> list[Callable[[Any], Any]]:
    return [
        _flag(
            "input",
            "An image file, or a folder searched recursively (.jpg .jpeg .png .bmp .tif .tiff .webp, any case).",
            dest="input_path",
            required=True,
            type=click.Path(path_type=Path, exists=True),
        ),
        _flag(
            "output",
            "Folder for crops, masked images, logs.csv and missed_images.txt.",
            type=click.Path(path_type=Path, file_okay=False),
            required=output_default is None,
            default=output_default,
        ),
        _flag(
            "n-augmentations",
            "Masked versions per image (each face draws its own mask in each).",
            type=click.IntRange(min=1),
            default=1,
        ),
        _flag("no-mask", "Crop the untouched faces only (STEM_face{i}_{style}_original.png).", is_flag=True),
        _flag("no-crop", "Write full masked images (STEM_aug{k}_masked.png) instead of crops.", is_flag=True),
        _flag(
            "crop-style",
            "Crop style: ArcFace-aligned buffalo, box-square original_cropping, roll-keeping scale_shift.",
            type=click.Choice(_STYLE_CHOICES),
            default="all",
        ),
        _flag(
            "mask-types",
            "Comma-separated mask types to draw from.",
            default=",".join(m.value for m in MaskType),
        ),
        _flag("crop-size", "Side of the square crops in pixels.", type=click.IntRange(16, 2048), default=112),
        _flag(
            "seed", "Seed for every random choice (default: a fresh one, printed).", type=int, default=None
        ),
        _flag(
            "workers",
            "Parallel workers (threads, processes or Ray actors, see --executor); each loads the models once.",
            type=click.IntRange(min=1),
            default=1,
        ),
        _flag("journal", "Also write STEM_journal/: one OverlayFaceMask edge per drawn mask.", is_flag=True),
        _flag(
            "report",
            "Also write an HTML page showing each image, its masked result and the drawn masks "
            "(implies --journal).",
            dest="report_page",
            type=click.Path(path_type=Path, dir_okay=False),
            default=None,
        ),
        _flag("threshold", "CenterFace score threshold.", type=click.FloatRange(0.01, 0.99), default=0.5),
        _flag(
            "detect-max-side",
            "Detect faces on a copy whose long side is at most this (0: full resolution).",
            type=click.IntRange(min=0),
            default=960,
        ),
        _flag(
            "max-yaw",
            "Faces turned further left/right than this (degrees) are logged 'skipped: pose', not masked.",
            type=click.FloatRange(1, 90),
            default=40.0,
        ),
        _flag(
            "max-pitch",
            "Faces tilted further up/down than this (degrees) are logged 'skipped: pose', not masked.",
            type=click.FloatRange(1, 90),
            default=35.0,
        ),
        _flag(
            "pairs",
            "Also write the unmasked crops of every face and a mask PNG (255 = mask) per masked crop.",
            is_flag=True,
        ),
        _flag(
            "coco",
            "Also write coco_crops.json and coco_images.json (face boxes, mask polygons) and the full "
            "masked frames they describe.",
            is_flag=True,
        ),
        _flag(
            "below-nose",
            "Chance that a mask is drawn worn under the nose (nose left bare, mouth covered).",
            type=click.FloatRange(0.0, 1.0),
            default=0.0,
        ),
        _flag(
            "device",
            "Where CenterFace runs: cuda needs onnxruntime-gpu; auto uses CUDA when it can.",
            type=click.Choice(["cpu", "cuda", "auto"]),
            default="cpu",
        ),
        *executor_option_decorators(),  # with --executor ray, --workers is the number of actors
    ]


def _run(ctx: click.Context, input_path: Path, output: Path, **flags: Any) -> None:
    from masksmith.facemask.pipeline import IMAGE_SUFFIXES, augment_faces

    if flags["no_mask"] and flags["no_crop"]:
        raise FacemaskUsageError("--no-mask and --no-crop together leave nothing to do; drop one of them")
    style = flags["crop_style"]
    styles = tuple(CropStyle) if style == "all" else (CropStyle(style),)
    root_obj = ctx.find_root().obj
    quiet = bool(root_obj.get("quiet", False)) if isinstance(root_obj, dict) else False
    try:
        with chosen_executor(
            flags["executor_kind"], flags["ray_address"], flags["workers"], workers_option="workers"
        ) as executor:
            summary = augment_faces(
                input_path,
                output,
                n_augmentations=flags["n_augmentations"],
                mask=not flags["no_mask"],
                crop=not flags["no_crop"],
                crop_styles=styles,
                mask_types=_mask_types(flags["mask_types"]),
                crop_size=flags["crop_size"],
                seed=flags["seed"],
                workers=flags["workers"],
                journal=flags["journal"] or flags["report_page"] is not None,
                progress=not quiet,
                threshold=flags["threshold"],
                detect_max_side=flags["detect_max_side"] or None,
                executor=executor,
                max_yaw=flags["max_yaw"],
                max_pitch=flags["max_pitch"],
                pairs=flags["pairs"],
                coco=flags["coco"],
                device=flags["device"],
                below_nose=flags["below_nose"],
            )
    except MasksmithError as exc:
        raise FacemaskUsageError(exc.one_line()) from exc
    if summary.images == 0:
        click.echo(
            f"no images in {input_path} (looked for {', '.join(sorted(IMAGE_SUFFIXES))}, any case)", err=True
        )
        ctx.exit(EXIT_FAILURES)
    if not quiet:
        click.echo(summary.one_line())
    if flags["report_page"] is not None:
        from masksmith.report.index import build_image_run_index, journal_run_rows

        missed = (
            summary.missed_path.read_text(encoding="utf-8").splitlines()
            if summary.missed_path.is_file()
            else []
        )
        # journals live in STEM_journal/ folders; the output root's JSON files are the manifest and COCO
        rows = [row for row in journal_run_rows(output, missed=missed) if row.name != "."]
        page = build_image_run_index(
            rows,
            flags["report_page"],
            title=f"Face masks for {input_path}",
            edge_masks=True,
        )
        if not quiet:
            click.echo(f"report: {page}")
    if summary.failed:
        click.echo(f"{summary.failed} image(s) failed; see the detail column of {summary.log_path}", err=True)
        ctx.exit(EXIT_FAILURES)


def _make(name: str, output_default: str | None, doc: str) -> click.Command:
    def command(**kwargs: Any) -> None:
        _run(click.get_current_context(), **kwargs)

    command.__doc__ = doc
    cmd: Any = command
    for decorator in reversed(_options(output_default)):
        cmd = decorator(cmd)
    return click.command(name)(cmd)


_DOC = """Draw seeded surgical, N95, KN95 and cloth masks on every face and write aligned crops.

\b
Outputs (in folders mirroring the input tree):
  STEM_face{i}_aug{k}_{style}.png   crops of masked faces (default)
  STEM_face{i}_{style}_original.png crops of untouched faces (--no-mask)
  STEM_aug{k}_masked.png            full masked images (--no-crop)
  STEM_face{i}_aug{k}_{style}_mask.png  crop-aligned mask, 255 = mask (--pairs, --coco)
  STEM_journal/                     a manipulation journal per image (--journal)
  logs.csv, missed_images.txt       one row per output or skipped face/image; images without a face
  manifest.csv, manifest.json       every crop: image, face, style, masked 0/1, type, pose, mask PNG
  coco_crops.json, coco_images.json COCO boxes and mask polygons (--coco)
"""

facemask_command = _make("facemask", None, _DOC)
generate_masked_images = _make("generate_masked_images", "output", _DOC)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``generate_masked_images`` console script (the shared runner and exit codes)."""
    sys.exit(run_group(generate_masked_images, argv, prog_name="generate_masked_images"))
