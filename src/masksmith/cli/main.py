"""The ``masksmith`` command line: one group, subcommands per job, one-line errors, trustworthy exit codes.

Exit codes: 0 success; 1 the job ran but some items failed or findings were errors; 2 bad input or
usage (a flag, file, specification, configuration or missing model); 3 an unexpected internal error
(a bug: rerun with ``--verbose`` for the traceback); 130 interrupted.
"""

from __future__ import annotations

import logging
import sys
import traceback

import click

from masksmith import __version__
from masksmith.cli.demo import demo
from masksmith.cli.journal_cmds import journal
from masksmith.errors import MasksmithError

EXIT_OK = 0
EXIT_FAILURES = 1
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130


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
      demo      build a sample journal from bundled images and show where it is
    Run 'masksmith COMMAND --help' for the options of each command.
    """
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose
    ctx.obj["quiet"] = quiet
    level = logging.DEBUG if verbose else (logging.ERROR if quiet else logging.WARNING)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


cli.add_command(journal)
cli.add_command(demo)


def run(args: list[str] | None = None, *, prog_name: str = "masksmith") -> int:
    """Run the CLI and return its exit code instead of exiting (used by tests and ``main``)."""
    argv = sys.argv[1:] if args is None else args
    verbose = "-v" in argv or "--verbose" in argv
    try:
        result = cli.main(args=argv, prog_name=prog_name, standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.UsageError as exc:
        where = f" (try '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
        click.echo(f"masksmith: error: {exc.format_message()}{where}", err=True)
        return EXIT_BAD_INPUT
    except click.ClickException as exc:
        click.echo(f"masksmith: error: {exc.format_message()}", err=True)
        return EXIT_BAD_INPUT
    except click.exceptions.Abort:
        click.echo("masksmith: interrupted", err=True)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        click.echo("masksmith: interrupted", err=True)
        return EXIT_INTERRUPTED
    except MasksmithError as exc:
        if verbose:
            traceback.print_exc()
        click.echo(f"masksmith: error: {exc.one_line()}", err=True)
        return EXIT_BAD_INPUT
    except SystemExit as exc:  # a command chose its own exit code
        return int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_FAILURES
    except Exception as exc:
        if verbose:
            traceback.print_exc()
        click.echo(
            f"masksmith: internal error: {type(exc).__name__}: {exc} "
            "(rerun with --verbose for the traceback)",
            err=True,
        )
        return EXIT_INTERNAL
    # with standalone_mode=False click returns ctx.exit()'s code, or the command's return value
    return result if isinstance(result, int) else EXIT_OK


def main() -> None:
    sys.exit(run())
