"""``masksmith batch create``: make journals from a batch specification (also ``jtbatch create``).

Exit codes: 0 every project made; 1 some project failed; 2 bad input (specification, flags, files).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from masksmith.batch.executor import BatchExecutor
from masksmith.batch.export import (
    ExportOptions,
    ExportTarget,
    FolderTarget,
    S3Target,
    export_projects,
    open_target,
)
from masksmith.batch.project import BatchProject
from masksmith.cli.executor_options import executor_options, make_executor
from masksmith.cli.export_cmds import batch_export_command
from masksmith.cli.extend_cmds import batch_extend_command
from masksmith.cli.options import DEFAULT_LOGLEVEL, option
from masksmith.cli.runner import EXIT_FAILURES, run_group
from masksmith.cli.spec_cmds import default_workdir, init_command, schema_command
from masksmith.cli.validate_cmds import batch_validate_command
from masksmith.cli.view_cmds import batch_view_command
from masksmith.errors import SpecError


def _names(text: str | None) -> list[str]:
    return [
        part.strip() for part in (text or "").split(",") if part.strip() and part.strip().lower() != "none"
    ]


@click.group()
def batch() -> None:
    """Batch projects: create journals from a batch specification (Journaling Tool compatible)."""


batch.add_command(batch_validate_command, "validate")
batch.add_command(batch_view_command, "view")
batch.add_command(batch_export_command, "export")
batch.add_command(batch_extend_command, "extend")
batch.add_command(init_command, "init")
batch.add_command(schema_command, "schema")


@batch.command("create")
@click.option(
    "--specification", required=True, type=click.Path(dir_okay=False), help="Batch specification JSON."
)
@click.option("--projects", required=True, type=click.Path(file_okay=False), help="Folder for the projects.")
@click.option("--count", type=click.IntRange(min=0), default=1, show_default=True, help="Projects to make.")
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Projects built at once (threads, worker processes or Ray actors: see --executor).",
)
@click.option(
    "--workdir",
    type=click.Path(file_okay=False),
    default=None,
    help="Run state: picklists, permutation cursors, failure files, log. Keep it apart from image pools. Default: <projects>/.masksmith/.",
)
@click.option(
    "--loglevel", default=DEFAULT_LOGLEVEL, show_default=True, help="Log level for <workdir>/masksmith.log."
)
@click.option("--graph", is_flag=True, help="Write <name>.png and <name>.csv of the spec into the workdir.")
@option(
    "--global-variables",
    aliases=("--global_variables",),
    default="",
    help="Globals as NAME=VALUE,NAME=VALUE.",
)
@click.option("--initializers", default="", help="Comma-separated qualified functions filling the globals.")
@option(
    "--from-state",
    aliases=("--from_state",),
    default=None,
    help="Failure file whose states are re-run (--count still applies).",
)
@click.option(
    "--export",
    default=None,
    help="Export the finished journals: s3://bucket/folder or bucket/folder (S3, as jtbatch), "
    "or an existing or ./relative folder.",
)
@option(
    "--keep-failed", aliases=("--keep_failed",), is_flag=True, help="Keep failed projects as <name>.failed."
)
@option(
    "--stop-on-error", aliases=("--stop_on_error",), is_flag=True, help="Stop at the first failed project."
)
@click.option(
    "--test", "test_mode", is_flag=True, help="Run no plugin: every plugin passes its source through."
)
@option(
    "--passthru",
    "passthru",
    aliases=("--passthrus",),
    default="",
    help="Spec node ids or plugin names to pass through.",
)
@click.option("--redactions", default="", help="Argument names of file arguments left out of exports.")
@option(
    "--skip-validation",
    "skip_validation",
    aliases=("--skip_validation", "--skipValidation"),
    is_flag=True,
    help="Skip validation.",
)
@click.option("--seed", type=int, default=None, help="Seed for every random choice (repeatable runs).")
@click.option("--quiet", is_flag=True, help="No progress bar and no summary line.")
@executor_options
def create(
    specification: str,
    projects: str,
    count: int,
    threads: int,
    workdir: str | None,
    loglevel: str,
    graph: bool,
    global_variables: str,
    initializers: str,
    from_state: str | None,
    export: str | None,
    keep_failed: bool,
    stop_on_error: bool,
    test_mode: bool,
    passthru: str,
    redactions: str,
    skip_validation: bool,
    seed: int | None,
    quiet: bool,
    executor_kind: str = "local",
    ray_address: str | None = None,
) -> None:
    """Make COUNT journals from a batch specification into PROJECTS."""
    export_target = _export_target(export) if export else None
    # paths are made absolute here, in the driver: workers may run in other working directories
    projects = os.path.abspath(projects)
    workdir = os.path.abspath(workdir if workdir is not None else default_workdir(projects))
    project = BatchProject(os.path.abspath(specification))
    if project.spec.is_extension:
        raise SpecError(
            "this is an extension specification (it has a NodeAttachment node): run it on existing"
            " journals with 'masksmith batch extend'",
            file=specification,
        )
    if graph:
        Path(workdir).mkdir(parents=True, exist_ok=True)
        project.save_graph_image(workdir)
    executor = BatchExecutor(
        projects,
        workdir=workdir,
        global_variables=global_variables,
        initializers=_names(initializers),
        loglevel=loglevel,
        threads_count=threads,
        skipValidation=skip_validation,
        removeBadProjects=not keep_failed,
        stopOnError=stop_on_error,
        fromFailedStateFile=from_state,  # absolute once found (also under the workdir)
        testMode=test_mode,
        passthrus=_names(passthru),
        seed=seed,
        progress=False if quiet else None,
        redactions=_names(redactions),
        executor=make_executor(
            executor_kind, ray_address, threads, workers_option="threads"
        ),  # finish() shuts it down
    )
    try:
        executor.run_project(project, count)
    finally:
        summary = executor.finish()
    if not quiet:
        for message in summary.failures[:20]:
            click.echo(f"failed: {message}", err=True)
        click.echo(summary.line(), err=True)
        if summary.failed:
            click.echo(
                "redo the failed projects with --from_state <workdir>/failures-*.txt (see the log)", err=True
            )
    exported_ok = True
    if export_target is not None and summary.projects:
        exported = export_projects(
            summary.projects,
            export_target,
            ExportOptions(redacted=tuple(_names(redactions)), skip_validation=skip_validation),
            threads=threads,
            complete_file=Path(workdir) / "export-complete.txt",
            report_dir=workdir,
        )
        exported_ok = exported.ok
        if not quiet:
            click.echo(exported.line(), err=True)
    if summary.failed or not exported_ok:
        raise SystemExit(EXIT_FAILURES)


def _export_target(value: str) -> ExportTarget:
    """jtbatch's ``--export bucket/folder`` means S3; a path that exists or starts with . or / is a folder."""
    if value.lower().startswith("s3://"):
        return open_target(value)
    if value.startswith((".", "/")) or Path(value).is_dir():
        return FolderTarget(value)
    return S3Target.from_url(value, endpoint_url=os.environ.get("AWS_ENDPOINT_URL"))


def main() -> None:
    """``python -m masksmith.cli.batch_cmds create …`` (the same as ``masksmith batch create …``)."""
    sys.exit(run_group(batch, prog_name="masksmith batch"))


if __name__ == "__main__":
    main()
