"""Helpers the batch drivers (extend, export, validate) share around :func:`masksmith.executors.run_items`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

from masksmith.errors import MasksmithError
from masksmith.executors import Executor, LocalExecutor

__all__ = ["InOrder", "error_line", "executor_for", "not_seen"]

R = TypeVar("R")


@contextmanager
def executor_for(executor: Executor | None, threads: int) -> Iterator[Executor]:
    """The caller's ``executor`` (left running), or ``threads`` local threads made and shut down here."""
    if executor is not None:
        yield executor
        return
    own = LocalExecutor(threads)
    try:
        yield own
    finally:
        own.shutdown(wait=True)


class InOrder(Generic[R]):
    """Hands results on in item order (index 0, 1, …) whatever order they finish in, on the driver."""

    def __init__(self, release: Callable[[int, R], None]) -> None:
        self._release = release
        self._waiting: dict[int, R] = {}
        self._next = 0

    def put(self, index: int, result: R) -> None:
        self._waiting[index] = result
        while self._next in self._waiting:
            self._release(self._next, self._waiting.pop(self._next))
            self._next += 1


def error_line(error: BaseException | None) -> str:
    """One line for what a task raised (or a lost worker)."""
    if isinstance(error, MasksmithError):
        return error.one_line()
    return f"{type(error).__name__}: {error}"


def not_seen(what: str, path: object) -> str:
    """The message for an output a worker reported that this process cannot see."""
    return f"{what} {path} is not there as this process sees it: workers may not share this filesystem"
