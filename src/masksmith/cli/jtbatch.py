"""``jtbatch``: the Journaling Tool's batch command line (``jtbatch create …``) over masksmith."""

from __future__ import annotations

import sys

import click

from masksmith.cli.batch_cmds import create
from masksmith.cli.export_cmds import batch_export_command
from masksmith.cli.extend_cmds import batch_extend_command
from masksmith.cli.runner import run_group


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def jtbatch() -> None:
    """Journaling Tool compatible batch commands: create, extend and export."""


jtbatch.add_command(create)
jtbatch.add_command(batch_export_command, "export")
jtbatch.add_command(batch_extend_command, "extend")


def main(args: list[str] | None = None) -> None:
    sys.exit(run_group(jtbatch, args, prog_name="jtbatch"))


if __name__ == "__main__":
    main()
