"""``masksmith anonymise`` (road-image anonymisation) and ``masksmith models list``.

``anonymise_group`` runs the anonymisation when called without a subcommand; other modules attach their
subcommands to it (``check-folders``, ``create-json``, ``db`` …). Exit codes: 0 all images done, 1 some
image failed, 2 bad input (flags, folders, configuration, a model that cannot load).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import click

from masksmith.cli.anonymise_tools_cmds import attach as attach_tools
from masksmith.cli.executor_options import chosen_executor, executor_options
from masksmith.cli.runner import run_group
from masksmith.errors import ConfigError

__all__ = ["anonymise_group", "main", "models_group"]

#: Factories of the database sink and the e-mail notifier, resolved only when the config asks for them.
SINK_FACTORY = "masksmith.anonymise.sinks:sink_from_config"
NOTIFIER_FACTORY = "masksmith.anonymise.notify:notifier_from_config"


def _factory(target: str, what: str, key: str) -> Any:
    module_name, _, attr = target.partition(":")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"{what} is configured but unavailable ({exc})", argument=key) from None


def _quiet(ctx: click.Context) -> bool:
    root = ctx.find_root()
    return bool(isinstance(root.obj, dict) and root.obj.get("quiet"))


@click.group(
    "anonymise",
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option(
    "-i", "--input-folder", type=click.Path(path_type=Path, file_okay=False), help="Input base folder."
)
@click.option(
    "-o", "--output-folder", type=click.Path(path_type=Path, file_okay=False), help="Output base folder."
)
@click.option(
    "-a",
    "--archive-folder",
    type=click.Path(path_type=Path, file_okay=False),
    help="Archive for the originals.",
)
@click.option(
    "-l", "--log-folder", type=click.Path(path_type=Path, file_okay=False), help="Folder for the log file."
)
@click.option(
    "-k",
    "--config",
    "config_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Configuration YAML.",
)
@click.option("--skip-clear-cache", is_flag=True, help="Do not delete outputs of images interrupted earlier.")
@click.option(
    "--journal", is_flag=True, help="Also write a provenance journal per image (<output>_journal/)."
)
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.option(
    "--report",
    "report_page",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write an HTML page showing input, output and hidden region per image (implies --journal).",
)
@executor_options
@click.pass_context
def anonymise_group(
    ctx: click.Context,
    input_folder: Path | None,
    output_folder: Path | None,
    archive_folder: Path | None,
    log_folder: Path | None,
    config_file: Path | None,
    skip_clear_cache: bool,
    journal: bool,
    no_progress: bool,
    report_page: Path | None = None,
    executor_kind: str = "local",
    ray_address: str | None = None,
) -> None:
    """Anonymise road images: hide faces, people, vehicles and licence plates.

    \b
    masksmith anonymise -i INPUT -o OUTPUT [-a ARCHIVE] [-l LOGDIR] [-k CONFIG.yml]
                        [--skip-clear-cache] [--journal]
    Output and archive mirror the input tree; failed images go to OUTPUT_error/. Images already
    done are skipped, so an interrupted run is resumed by running the same command again.
    """
    ctx.ensure_object(dict)
    ctx.obj["anonymise"] = {
        "input_folder": input_folder, "output_folder": output_folder, "archive_folder": archive_folder,
        "log_folder": log_folder, "config_file": config_file,
    }  # fmt: skip
    if ctx.invoked_subcommand is not None:
        return
    if input_folder is None or output_folder is None:
        raise click.UsageError("-i/--input-folder and -o/--output-folder are required", ctx=ctx)

    from masksmith.anonymise.config import load_config
    from masksmith.anonymise.pipeline import anonymise, detection_workers

    config = load_config(config_file)
    sink = None
    if config.database.write_exif_to_db:
        sink = _factory(SINK_FACTORY, "write_exif_to_db", "write_exif_to_db")(config)
    notifier = None
    if config.email.any_email:
        notifier = _factory(NOTIFIER_FACTORY, "e-mail notification", "smtp_host")(config)
    # threads: one per detection worker and one reading and writing meanwhile; processes: one per
    # detection worker; Ray: one actor per cluster CPU
    kind = executor_kind.lower()
    workers = {"ray": 0, "processes": detection_workers(config)}.get(kind, detection_workers(config) + 1)
    with chosen_executor(executor_kind, ray_address, workers) as executor:
        summary = anonymise(
            input_folder,
            output_folder,
            archive=archive_folder,
            config=config,
            log_dir=log_folder,
            journal=journal or report_page is not None,
            sink=sink,
            notifier=notifier,
            progress=not (no_progress or _quiet(ctx)),
            clear_cache=not skip_clear_cache,
            executor=executor,
        )
    if not _quiet(ctx):
        click.echo("Anonymisation finished.", err=True)
        for line in summary.lines():
            click.echo(f"  {line}", err=True)
        for error in summary.errors[:20]:
            click.echo(f"  failed: {error}", err=True)
        if len(summary.errors) > 20:
            click.echo(f"  … and {len(summary.errors) - 20} more (see the log)", err=True)
    if report_page is not None:
        from masksmith.report.index import build_image_run_index, journal_run_rows

        journals = output_folder.with_name(output_folder.name + "_journal")
        page = build_image_run_index(
            journal_run_rows(journals), report_page, title=f"Anonymisation of {input_folder}", edge_masks=True
        )
        if not _quiet(ctx):
            click.echo(f"  report: {page}", err=True)
    ctx.exit(summary.exit_code)


@click.group("models")
def models_group() -> None:
    """Detection models: which are available here and how to install the others."""


@models_group.command("list")
def models_list() -> None:
    """Show, per class, what this machine can detect and how to get the rest; then every detector."""
    from masksmith.detect import available_models
    from masksmith.detect.model_coverage import class_rows

    rows = available_models()
    click.echo("per class:")
    for line in class_rows(rows):
        click.echo(f"  {line}")
    click.echo("")
    width = max([len(r.name) for r in rows] + [4])
    kind_width = max([len(r.kind) for r in rows] + [4])
    click.echo(f"{'name'.ljust(width)}  {'kind'.ljust(kind_width)}  status")
    for row in rows:
        if row.available:
            status = f"available ({row.source})"
        else:
            status = f"missing: {row.detail or 'not installed'}; install: {row.install}"
        click.echo(f"{row.name.ljust(width)}  {row.kind.ljust(kind_width)}  {status}")


@models_group.command("fetch")
@click.argument("name")
@click.option(
    "--url", default=None, help="Download from this mirror instead (the pinned size and SHA-256 still apply)."
)
@click.option(
    "--cache-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Cache folder (default: $MASKSMITH_CACHE_DIR, else the XDG cache); the model goes to its models/.",
)
def models_fetch(name: str, url: str | None, cache_dir: Path | None) -> None:
    """Download the known model NAME into the user cache, checked against its pinned SHA-256."""
    from masksmith.detect.model_store import fetch_model, get_model_entry

    entry = get_model_entry(name)
    click.echo(f"fetching {entry.name} ({entry.size / 1e6:.1f} MB, licence {entry.licence})", err=True)
    path = fetch_model(entry, cache_dir=cache_dir, url=url)
    click.echo(str(path))


attach_tools(anonymise_group)


def main(args: list[str] | None = None) -> int:
    """Run ``anonymise`` on its own (``python -m masksmith.cli.anonymise_cmds``); returns the exit code."""
    return run_group(anonymise_group, args, prog_name="masksmith anonymise")


if __name__ == "__main__":
    sys.exit(main())
