"""The ``masksmith`` command line: one group, subcommands per job, one-line errors, trustworthy exit codes."""

from __future__ import annotations

import logging
import sys

import click

from masksmith import __version__
from masksmith.cli.anonymise_cmds import anonymise_group, models_group
from masksmith.cli.batch_cmds import batch
from masksmith.cli.demo import demo
from masksmith.cli.facemask_cmds import facemask_command
from masksmith.cli.journal_cmds import journal
from masksmith.cli.plugins_cmds import plugins
from masksmith.cli.runner import run_group


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="masksmith")
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages and show tracebacks on errors.")
@click.option("-q", "--quiet", is_flag=True, help="Only print errors; no progress bars.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool, quiet: bool) -> None:
    """masksmith: mask-centred image work at dataset scale, with every change journaled.

    \b
    Jobs:
      journal   create, extend, inspect and archive manipulation journals
      batch     create journals from a batch specification (jtbatch compatible)
      anonymise blur or colour people, vehicles, faces and plates in road images
      facemask  draw surgical, N95 and cloth masks on faces; aligned face crops
      models    which detection models are installed
      plugins   the manipulation plugins batch specifications can use
      demo      build a sample journal from bundled images and show where it is
    Run 'masksmith COMMAND --help' for the options of each command.
    """
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose
    ctx.obj["quiet"] = quiet
    level = logging.DEBUG if verbose else (logging.ERROR if quiet else logging.WARNING)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


cli.add_command(journal)
cli.add_command(batch)
cli.add_command(anonymise_group, "anonymise")
cli.add_command(models_group, "models")
cli.add_command(plugins)
cli.add_command(facemask_command, "facemask")
cli.add_command(demo)


def run(args: list[str] | None = None, *, prog_name: str = "masksmith") -> int:
    """Run the CLI and return its exit code instead of exiting (used by tests and ``main``)."""
    return run_group(cli, args, prog_name=prog_name)


def main() -> None:
    sys.exit(run())
