"""``--executor threads|processes|ray`` and ``--ray-address`` for every command that runs many items."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click

from masksmith.executors import Executor, create_executor

F = TypeVar("F", bound=Callable[..., Any])


def executor_option_decorators() -> list[Callable[[F], F]]:
    """The two option decorators, in the order they appear in ``--help``."""
    return [
        click.option(
            "--executor",
            "executor_kind",
            type=click.Choice(["local", "threads", "processes", "ray"], case_sensitive=False),
            default="local",
            show_default=True,
            help="Where the work runs: this machine's threads (local), its processes (faster for "
            "Python-heavy work such as journaling), or a Ray cluster (one task per item).",
        ),
        click.option(
            "--ray-address",
            "ray_address",
            envvar="RAY_ADDRESS",
            default=None,
            help="Ray cluster to join (auto, HOST:6379 or ray://HOST:10001; default $RAY_ADDRESS, "
            "else a private local cluster). Outputs must go to a filesystem every node sees.",
        ),
    ]


def executor_options(command: F) -> F:
    """Add ``--executor`` and ``--ray-address`` (default ``$RAY_ADDRESS``) to a click command."""
    for option in reversed(executor_option_decorators()):
        command = option(command)
    return command


def make_executor(
    kind: str, address: str | None, workers: int, *, workers_option: str | None = None
) -> Executor:
    """The executor ``--executor`` names, with ``workers`` workers (threads, processes or Ray actors).

    ``workers`` sizes the Ray actor pool; when it comes from the option ``workers_option`` and that was
    not given, the pool gets one actor per cluster CPU instead. The caller shuts the executor down.
    """
    context = click.get_current_context(silent=True)

    def given(name: str) -> bool:
        return context is not None and context.get_parameter_source(name) not in (
            None,
            click.core.ParameterSource.DEFAULT,
        )

    if kind.lower() != "ray":
        if (
            address
            and context is not None
            and context.get_parameter_source("ray_address") is (click.core.ParameterSource.COMMANDLINE)
        ):
            raise click.UsageError("--ray-address needs --executor ray")
        return create_executor(kind.lower(), workers=workers)
    if workers_option is not None and not given(workers_option):
        workers = 0
    return create_executor("ray", workers=workers, address=address)


@contextmanager
def chosen_executor(
    kind: str, address: str | None, workers: int, *, workers_option: str | None = None
) -> Iterator[Executor]:
    """:func:`make_executor` for the length of a ``with`` block (a Ray executor is shut down after)."""
    executor = make_executor(kind, address, workers, workers_option=workers_option)
    try:
        yield executor
    finally:
        executor.shutdown()
