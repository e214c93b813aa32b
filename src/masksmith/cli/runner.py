"""Run a click group with masksmith's error handling: one-line errors and exit codes scripts can trust.

Exit codes: 0 success; 1 the job ran but some items failed or findings were errors; 2 bad input or
usage (a flag, file, specification, configuration or missing model); 3 an unexpected internal error
(a bug: rerun with ``--verbose`` for the traceback); 130 interrupted.
"""

from __future__ import annotations

import logging
import sys
import traceback

import click

from masksmith.errors import MasksmithError

EXIT_OK = 0
EXIT_FAILURES = 1
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130


def run_group(group: click.Command, args: list[str] | None = None, *, prog_name: str) -> int:
    """Run ``group`` and return its exit code; errors become one line on stderr.

    ``--verbose``/``-v`` anywhere shows tracebacks; groups without their own verbose option get
    it stripped from the arguments and turned into debug logging.
    """
    argv = list(sys.argv[1:] if args is None else args)
    verbose = "-v" in argv or "--verbose" in argv
    if verbose and not any("--verbose" in p.opts for p in group.params):
        argv = [a for a in argv if a not in ("-v", "--verbose")]
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
    try:
        result = group.main(args=argv, prog_name=prog_name, standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.UsageError as exc:
        where = f" (try '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
        click.echo(f"{prog_name}: error: {exc.format_message()}{where}", err=True)
        return EXIT_BAD_INPUT
    except click.ClickException as exc:
        click.echo(f"{prog_name}: error: {exc.format_message()}", err=True)
        return EXIT_BAD_INPUT
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo(f"{prog_name}: interrupted", err=True)
        return EXIT_INTERRUPTED
    except MasksmithError as exc:
        if verbose:
            traceback.print_exc()
        click.echo(f"{prog_name}: error: {exc.one_line()}", err=True)
        return EXIT_BAD_INPUT
    except SystemExit as exc:  # a command chose its own exit code
        return exc.code if isinstance(exc.code, int) else EXIT_FAILURES
    except Exception as exc:
        if verbose:
            traceback.print_exc()
        click.echo(
            f"{prog_name}: internal error: {type(exc).__name__}: {exc} (rerun with --verbose for the traceback)",
            err=True,
        )
        return EXIT_INTERNAL
    # with standalone_mode=False click returns ctx.exit()'s code, or the command's return value
    return result if isinstance(result, int) else EXIT_OK
