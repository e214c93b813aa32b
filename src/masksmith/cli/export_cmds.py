"""``batch export`` (also ``jtbatch export``): validate and export journals to a folder or to S3.

``batch_export_command`` is attached to the ``batch`` group and to ``jtbatch``. Exit status: 0 every
journal exported (or already done); 1 some journal was refused (validation errors) or failed; 2 bad
input (flags, missing projects, unreachable target, missing boto3).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from masksmith.batch.export import (
    ExportOptions,
    ExportResult,
    S3Target,
    export_projects,
    find_sources,
    open_target,
)
from masksmith.cli.executor_options import chosen_executor, executor_options
from masksmith.cli.options import option

__all__ = ["batch_export_command"]

_FALSE = ("", "no", "false", "0", "none")


def _names(text: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(part.strip() for value in text for part in value.split(",") if part.strip())


def _quiet(ctx: click.Context, flag: bool) -> bool:
    root = ctx.find_root().obj
    return flag or (bool(root.get("quiet", False)) if isinstance(root, dict) else False)


@click.command("export")
@click.option(
    "-d",
    "--projects",
    required=True,
    type=click.Path(path_type=Path, exists=True),
    help="Folder of journals (sub-folders and .tgz archives), or a text file listing them.",
)
@click.option(
    "-s", "--s3", "s3", metavar="BUCKET/FOLDER", help="Upload to S3: bucket/folder or s3://bucket/folder."
)
@click.option(
    "--to", "to_dir", type=click.Path(path_type=Path, file_okay=False), help="Copy archives to this folder."
)
@click.option("--endpoint-url", help="S3-compatible endpoint (MinIO, Ceph, moto …); default: AWS.")
@click.option("--profile", help="AWS profile from the shared config (default: the usual credential chain).")
@click.option("--region", help="AWS region for the S3 client.")
@click.option("--qa", is_flag=True, help="Mark each journal quality assured by --username.")
@click.option("-u", "--username", help="The exporting user (default: the login name).")
@click.option(
    "-n", "--updatename", is_flag=True, help="Replace each journal's username and creator with --username."
)
@click.option("-o", "--organization", help="Replace each journal's organization.")
@click.option(
    "-r",
    "--redacted",
    multiple=True,
    help="Comma-separated edge file paths left out of the archive (arguments.pastemask, or just pastemask).",
)
@option(
    "--skip-validation", "skip_validation", aliases=("--skipValidation", "--skip_validation"), is_flag=True,
    help="Do not validate before exporting.",
)  # fmt: skip
@click.option(
    "-i",
    "--ignore",
    is_flag=False,
    flag_value="yes",
    default="",
    metavar="[yes]",
    help="Export journals even when validation finds errors (a bare --ignore or any value but no/false).",
)
@option(
    "--complete-file", "complete_file", aliases=("--completeFile", "--complete_file"),
    type=click.Path(path_type=Path, dir_okay=False),
    help="File listing exported journals; a rerun skips them, so an interrupted export resumes.",
)  # fmt: skip
@click.option(
    "-t", "--threads", type=click.IntRange(min=1), default=1, show_default=True, help="Journals at once."
)
@click.option(
    "--report-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Where ErrorReport_<pid>.csv goes (default: the projects folder).",
)
@click.option(
    "--workdir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Where journals are staged and archives built (default: the system temporary folder).",
)
@click.option("--quiet", is_flag=True, help="No progress bar and no per-journal lines.")
@executor_options
@click.pass_context
def batch_export_command(
    ctx: click.Context,
    projects: Path,
    s3: str | None,
    to_dir: Path | None,
    endpoint_url: str | None,
    profile: str | None,
    region: str | None,
    qa: bool,
    username: str | None,
    updatename: bool,
    organization: str | None,
    redacted: tuple[str, ...],
    skip_validation: bool,
    ignore: str,
    complete_file: Path | None,
    threads: int,
    report_dir: Path | None,
    workdir: Path | None,
    quiet: bool,
    executor_kind: str = "local",
    ray_address: str | None = None,
) -> None:
    """Validate journals under --projects and export them as <name>.tgz to S3 (--s3) or a folder (--to).

    Findings go to ErrorReport_<pid>.csv; journals with validation errors are not exported unless
    --ignore. Each archive is checked after it is stored (size, MD5/ETag, SHA-256).
    """
    if (s3 is None) == (to_dir is None):
        raise click.UsageError("give exactly one target: --s3 BUCKET/FOLDER or --to DIR")
    if endpoint_url and s3 is None:
        raise click.UsageError("--endpoint-url applies to --s3 only")
    quiet = _quiet(ctx, quiet)
    target = (
        S3Target.from_url(s3, endpoint_url=endpoint_url, profile=profile, region=region)
        if s3 is not None
        else open_target(to_dir or Path("."))
    )
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
    options = ExportOptions(
        qa=qa,
        username=username,
        update_name=updatename,
        organization=organization,
        redacted=_names(redacted),
        skip_validation=skip_validation,
        ignore_errors=ignore.strip().lower() not in _FALSE,
        work_dir=workdir,
    )
    from tqdm import tqdm

    total = len(find_sources(projects))
    bar = tqdm(
        total=total, unit="journal", file=sys.stderr, disable=quiet or not sys.stderr.isatty(), desc="export"
    )

    def advance(result: ExportResult) -> None:
        bar.update(1)
        if not quiet:
            bar.write(f"{result.status.value}: {result.source.name}: {result.message}", file=sys.stdout)

    try:
        with chosen_executor(executor_kind, ray_address, threads, workers_option="threads") as executor:
            summary = export_projects(
                projects,
                target,
                options,
                threads=threads,
                complete_file=complete_file,
                report_dir=report_dir,
                progress=advance,
                executor=executor,
            )
    finally:
        bar.close()
    click.echo(summary.line())
    if not summary.ok:
        ctx.exit(1)
