"""``masksmith batch extend`` / ``jtbatch extend``: extend existing journals from a NodeAttachment spec.

Exit codes: 0 every journal extended (or had nothing to extend, or was already complete); 1 some
journal failed; 2 bad input (specification, rules, flags, files).
"""

from __future__ import annotations

import sys

import click

from masksmith.batch.extend import extend_projects, parse_rules
from masksmith.cli.executor_options import chosen_executor, executor_options
from masksmith.cli.options import DEFAULT_LOGLEVEL, option
from masksmith.cli.runner import EXIT_FAILURES, run_group
from masksmith.cli.spec_cmds import default_workdir

__all__ = ["batch_extend_command", "main"]


def _names(text: str | None) -> list[str]:
    return [
        part.strip() for part in (text or "").split(",") if part.strip() and part.strip().lower() != "none"
    ]


@click.command("extend")
@click.option(
    "--projects",
    required=True,
    type=click.Path(exists=True),
    help="Folder of journal folders and .tgz files (or one journal, or a text file listing them).",
)
@click.option(
    "--specification",
    required=True,
    type=click.Path(dir_okay=False, exists=True),
    help="Batch specification JSON whose start is a NodeAttachment node.",
)
@option(
    "--extension-rules",
    "extension_rules",
    aliases=("--extensionRules", "--extension_rules"),
    default="",
    help="Comma-separated node selection rules: donorpath, final, finalpng, basenode, outputop, "
    "antiforensicop, outputsourceop, antiforensicsourceop, +cat:op, +$cat:op, ~cat:op, ~: "
    "(default: nodes on the base path, not base, not final, not made by Output or AntiForensic).",
)
@option(
    "--complete-file",
    "complete_file",
    aliases=("--completeFile", "--complete_file"),
    default=None,
    type=click.Path(dir_okay=False),
    help="Journals finished so far (one per line); a rerun skips them.",
)
@click.option("--username", default=None, help="User name recorded on the new nodes and edges.")
@click.option(
    "--organization", default=None, help="Organization recorded on the new edges and the spec entry."
)
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True, help="Journals at once.")
@click.option(
    "--workdir",
    type=click.Path(file_okay=False),
    default=None,
    help="Run state: picklists, permutation cursors, claims. Default: <projects>/.masksmith/.",
)
@option(
    "--skip-validation",
    "skip_validation",
    aliases=("--skip_validation", "--skipValidation"),
    is_flag=True,
    help="Do not validate extended journals.",
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
@option(
    "--global-variables",
    aliases=("--global_variables",),
    default="",
    help="Globals as NAME=VALUE,NAME=VALUE.",
)
@click.option("--initializers", default="", help="Comma-separated qualified functions filling the globals.")
@click.option(
    "--loglevel", default=DEFAULT_LOGLEVEL, show_default=True, help="Log level for <workdir>/masksmith.log."
)
@click.option("--seed", type=int, default=None, help="Seed for every random choice (repeatable runs).")
@click.option("--quiet", is_flag=True, help="No progress bar and no summary line.")
@executor_options
def batch_extend_command(
    projects: str,
    specification: str,
    extension_rules: str,
    complete_file: str | None,
    username: str | None,
    organization: str | None,
    threads: int,
    workdir: str | None,
    skip_validation: bool,
    test_mode: bool,
    passthru: str,
    global_variables: str,
    initializers: str,
    loglevel: str,
    seed: int | None,
    quiet: bool,
    executor_kind: str = "local",
    ray_address: str | None = None,
) -> None:
    """Extend every journal in PROJECTS at the nodes the rules select, following SPECIFICATION."""
    rules = parse_rules(extension_rules)  # a bad rule is refused before any journal is touched
    with chosen_executor(executor_kind, ray_address, threads, workers_option="threads") as executor:
        summary = extend_projects(
            projects,
            specification,
            rules=rules,
            complete_file=complete_file,
            username=username,
            organization=organization,
            threads=threads,
            skip_validation=skip_validation,
            test_mode=test_mode,
            passthrus=_names(passthru),
            global_variables=global_variables,
            initializers=_names(initializers),
            workdir=workdir if workdir is not None else str(default_workdir(projects)),
            seed=seed,
            progress=False if quiet else None,
            loglevel=loglevel,
            executor=executor,
        )
    if not quiet:
        for path in summary.recovered:
            click.echo(f"recovered an interrupted extension of {path}", err=True)
        for message in summary.failures[:20]:
            click.echo(f"failed: {message}", err=True)
        click.echo(summary.line(), err=True)
    if summary.failed:
        raise SystemExit(EXIT_FAILURES)


def main(args: list[str] | None = None) -> None:
    """``python -m masksmith.cli.extend_cmds --projects … --specification …``."""
    group = click.Group(commands={"extend": batch_extend_command})
    sys.exit(run_group(group, ["extend", *(sys.argv[1:] if args is None else args)], prog_name="extend"))


if __name__ == "__main__":
    main()
