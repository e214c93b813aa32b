"""One root for every failure masksmith raises on purpose.

Each error carries structured context (file, node, argument) and renders as one line
that names what is wrong and where, so the CLI can print it as is.
"""

from __future__ import annotations

import os
from typing import Any


class MasksmithError(Exception):
    """Base of every deliberate masksmith failure."""

    def __init__(
        self,
        message: str,
        *,
        file: str | os.PathLike[str] | None = None,
        node: str | None = None,
        argument: str | None = None,
        **context: Any,
    ) -> None:
        self.message = message
        self.file = os.fspath(file) if file is not None else None
        self.node = node
        self.argument = argument
        self.context = context
        super().__init__(self.one_line())

    def one_line(self) -> str:
        where = []
        if self.file is not None:
            where.append(self.file)
        if self.node is not None:
            where.append(f"node {self.node!r}")
        if self.argument is not None:
            where.append(f"argument {self.argument!r}")
        prefix = ": ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


class MediaError(MasksmithError):
    """A media file is broken or cannot be read or written.

    ``reason`` is one of ``empty``, ``truncated``, ``not an image``, ``unsupported``,
    ``too large``, ``not found``, ``unreadable`` or ``write failed``.
    """

    def __init__(self, file: str | os.PathLike[str], reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        message = f"{reason} ({detail})" if detail else reason
        super().__init__(message, file=file)


class UnsupportedMediaError(MediaError):
    """The file may be fine, but this build cannot decode it (a backend limit, not a broken file)."""

    def __init__(self, file: str | os.PathLike[str], detail: str = "") -> None:
        super().__init__(file, "unsupported", detail)


class OperationError(MasksmithError):
    """An operation name, catalogue entry or operation argument is wrong."""


class JournalError(MasksmithError):
    """A journal is malformed, or an edit to it would break its invariants."""


class ArchiveError(JournalError):
    """An archive is unsafe or broken (absolute paths, ``..``, escaping links)."""


class SpecError(MasksmithError):
    """A batch specification is invalid; names the spec node and JSON path."""


class PluginError(MasksmithError):
    """A plugin is missing, misdeclared, or failed while transforming."""


class ModelUnavailable(MasksmithError):
    """A model or optional package is not installed; the message says how to install it."""


class ConfigError(MasksmithError):
    """A configuration file or value is invalid; names the key."""


class ExportError(MasksmithError):
    """Exporting or uploading a journal failed."""
