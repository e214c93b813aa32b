"""The ``masksmith`` command line: one group, subcommands per job, one-line errors, trustworthy exit codes."""

from __future__ import annotations

import importlib
import logging
import sys

import click

from masksmith import __version__
from masksmith.cli.options import accept_global_flags
from masksmith.cli.runner import run_group

#: Subcommand → "module:attribute", imported only when used (so ``masksmith anonymise`` does not pay for
#: the batch engine's imports, and the other way round).
SUBCOMMANDS = {
    "journal": "masksmith.cli.journal_cmds:journal",
    "batch": "masksmith.cli.batch_cmds:batch",
    "anonymise": "masksmith.cli.anonymise_cmds:anonymise_group",
    "models": "masksmith.cli.anonymise_cmds:models_group",
    "plugins": "masksmith.cli.plugins_cmds:plugins",
    "operations": "masksmith.cli.operations_cmds:operations",
    "facemask": "masksmith.cli.facemask_cmds:facemask_command",
    "demo": "masksmith.cli.demo:demo",
}

#: One line per command in ``masksmith --help`` (click would cut the docstrings mid-sentence).
SHORT_HELP = {
    "journal": "Create, extend, inspect and archive manipulation journals.",
    "batch": "Create journals from a batch specification (jtbatch compatible).",
    "anonymise": "Blur or colour people, vehicles, faces and plates in road images.",
    "facemask": "Draw surgical, N95 and cloth masks on faces; aligned face crops.",
    "models": "Which detection models are installed, per class; fetch the known ones.",
    "plugins": "The manipulation plugins batch specifications can use.",
    "operations": "The operation catalogue: parameters, types, defaults, rules.",
    "demo": "All three jobs on bundled photos, with one index page of the results.",
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def __init__(self, *args: object, lazy: dict[str, str] | None = None, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy and cmd_name not in self.commands:
            module, _, attribute = self.lazy[cmd_name].partition(":")
            command = accept_global_flags(getattr(importlib.import_module(module), attribute))
            if cmd_name in SHORT_HELP and command.short_help is None:
                command.short_help = SHORT_HELP[cmd_name]
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(
    cls=LazyGroup,
    lazy=SUBCOMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, "--version", prog_name="masksmith")
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages and show tracebacks on errors.")
@click.option("-q", "--quiet", is_flag=True, help="Only print errors; no progress bars.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool, quiet: bool) -> None:
    """masksmith: mask-centred image work at dataset scale, with every change journaled.

    Run 'masksmith COMMAND --help' for the options of each command; -q and -v may
    also follow the command.

    \b
    Example:
      masksmith demo --out demo-out
    """
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose
    ctx.obj["quiet"] = quiet
    level = logging.DEBUG if verbose else (logging.ERROR if quiet else logging.WARNING)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def run(args: list[str] | None = None, *, prog_name: str = "masksmith") -> int:
    """Run the CLI and return its exit code instead of exiting (used by tests and ``main``)."""
    return run_group(cli, args, prog_name=prog_name)


def main() -> None:
    sys.exit(run())
