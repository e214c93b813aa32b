"""Shared option conventions: kebab-case flags with hidden legacy aliases, and ``-q``/``-v`` after a subcommand.

Canonical flags are kebab-case (``--n-augmentations``). The spellings of the seed documents and the
original tools (``--n_augmentations``, ``--global_variables``, ``--extensionRules`` …) parse to the same
value but stay out of ``--help``, so existing scripts keep working while the help shows one convention.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import click

__all__ = ["DEFAULT_LOGLEVEL", "AliasedOption", "accept_global_flags", "option"]

#: ``--loglevel`` of ``batch create`` and ``batch extend`` for ``<workdir>/masksmith.log``: warnings and
#: failed projects are recorded (the original's 50 recorded almost nothing).
DEFAULT_LOGLEVEL = "30"


class AliasedOption(click.Option):
    """A click option whose ``aliases`` parse like its canonical flags but are hidden from help and errors."""

    def __init__(self, param_decls: Sequence[str], *, aliases: Sequence[str] = (), **attrs: Any) -> None:
        super().__init__([*param_decls, *aliases], **attrs)
        self.aliases = tuple(aliases)

    def _canonical(self) -> list[str]:
        return [o for o in self.opts if o not in self.aliases]

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        opts = self.opts
        self.opts = self._canonical()
        try:
            return super().get_help_record(ctx)
        finally:
            self.opts = opts

    def get_error_hint(self, ctx: click.Context | None) -> str:
        return " / ".join(f"'{o}'" for o in self._canonical())


def option(*param_decls: str, aliases: Sequence[str] = (), **attrs: Any) -> Callable[[Any], Any]:
    """``click.option`` with hidden ``aliases`` (legacy spellings of the canonical kebab-case flag)."""
    return click.option(*param_decls, cls=AliasedOption, aliases=tuple(aliases), **attrs)


# ---- -q / -v after the subcommand ----------------------------------------------------------------

_GLOBAL_FLAGS = {"quiet": ("-q", "--quiet"), "verbose": ("-v", "--verbose")}


def _set_global(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    """Give a ``-q``/``-v`` seen after the subcommand the meaning it has before it (see ``main.cli``)."""
    if not value or param.name is None:
        return
    root = ctx.find_root()
    root.ensure_object(dict)
    flag = param.name.removeprefix("global_")
    root.obj[flag] = True
    verbose, quiet = bool(root.obj.get("verbose")), bool(root.obj.get("quiet"))
    logging.getLogger().setLevel(logging.DEBUG if verbose else (logging.ERROR if quiet else logging.WARNING))


def accept_global_flags(command: click.Command) -> click.Command:
    """Let ``command`` and its subcommands take the global ``-q``/``-v`` too (hidden; help shows them once).

    A spelling the command already uses for its own option (``batch create --quiet``) is left to it.
    """
    taken = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
    for flag, spellings in _GLOBAL_FLAGS.items():
        free = [s for s in spellings if s not in taken]
        if free and not any(getattr(p, "name", None) == f"global_{flag}" for p in command.params):
            command.params.append(
                click.Option(
                    [*free, f"global_{flag}"],
                    is_flag=True,
                    hidden=True,
                    expose_value=False,
                    callback=_set_global,
                )
            )
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            accept_global_flags(sub)
    return command
