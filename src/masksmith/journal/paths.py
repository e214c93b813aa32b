"""Containment: every file name read from a journal, archive or specification resolves inside its folder.

Names in journals (node ``file``, ``proxyfile``, ``donors``; link ``maskname``, ``inputmaskname``,
``selectmaskname``, file arguments) and in specs (``graph.name``) are untrusted. :func:`resolve`
turns one into a path inside its folder or raises :class:`PathEscapeError`; :func:`problem` says
why a name is refused without raising; :func:`references` lists every file name a journal holds,
with the attribute and node it came from, so archiving, exporting, viewing and validation share one
list. Nothing here opens a file: only ``lstat``/``realpath`` are used to follow links.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from masksmith.errors import JournalError
from masksmith.journal.model import JournalGraph

__all__ = [
    "FileReference",
    "PathEscapeError",
    "contained",
    "plain_name",
    "problem",
    "references",
    "resolve",
]

_DRIVE = re.compile(r"^[A-Za-z]:")

NODE_FILE_KEYS = ("file", "proxyfile", "compositemaskname", "donors.*")
EDGE_FILE_KEYS = (
    "maskname",
    "inputmaskname",
    "selectmaskname",
    "selectmasks.mask",
    "selectmasks.*.mask",
    "videomasks.videosegment",  # the original's HDF5 video masks, one per segment
)


class PathEscapeError(JournalError):
    """A file name from a journal, archive or spec is absolute, climbs out with ``..`` or links outside."""

    def __init__(
        self,
        name: object,
        reason: str,
        *,
        file: str | os.PathLike[str] | None = None,
        attribute: str | None = None,
        node: str | None = None,
    ) -> None:
        self.name = name
        self.reason = reason
        self.attribute = attribute
        label = f"{attribute} {name!r}" if attribute else f"path {name!r}"
        super().__init__(f"{label} {reason}; refused", file=file, node=node)


def parts(name: str) -> list[str]:
    """The components of a relative name (``/`` and ``\\`` both separate; ``.`` dropped)."""
    # a journal written on Windows may use backslashes: treat them as separators when checking
    return [p for p in re.split(r"[\\/]+", name) if p not in ("", ".")]


def lexical_problem(name: object) -> str | None:
    """Why ``name`` is refused by its text alone (no file system look-up), or None."""
    if not isinstance(name, str) or not name.strip():
        return "is not a file name"
    if "\x00" in name:
        return "contains a NUL character"
    if name.startswith(("/", "\\")) or _DRIVE.match(name) or PurePosixPath(name).is_absolute():
        return "is an absolute path"
    depth = 0
    for part in parts(name):
        depth = depth - 1 if part == ".." else depth + 1
        if depth < 0:
            return "climbs out of the folder with '..'"
    if not parts(name):
        return "names the folder itself, not a file"
    return None


def problem(folder: str | os.PathLike[str], name: object) -> str | None:
    """Why ``name`` may not be used inside ``folder`` (None when it may).

    Refused: non-strings and empty names, NUL bytes, absolute paths (POSIX, ``C:``, ``\\\\``), ``..``
    that leaves the folder, and names that are (or pass through) a link whose target is outside.
    """
    lexical = lexical_problem(name)
    if lexical is not None:
        return lexical
    assert isinstance(name, str)
    root = os.path.realpath(folder)
    steps = parts(name)
    # ".." after a link means the link target's parent: only a full realpath gets that right
    real = os.path.realpath(os.path.join(root, *steps)) if ".." in steps else _follow(root, steps)
    if real is not None and not _inside(real, root):
        return "is a link whose target leaves the folder"
    return None


def _inside(real: str, root: str) -> bool:
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


def _follow(root: str, steps: list[str]) -> str | None:
    """Where a link among ``steps`` under the (real) ``root`` leads, or None when none is a link.

    Only the name's own components are looked at (one ``lstat`` each, stopping at the first that
    does not exist); the first link found is resolved completely.
    """
    current = root
    for index, step in enumerate(steps):
        current = os.path.join(current, step)
        try:
            mode = os.lstat(current).st_mode
        except OSError:
            return None  # nothing further exists, so nothing further can be a link
        if stat.S_ISLNK(mode):
            return os.path.realpath(os.path.join(current, *steps[index + 1 :]))
    return None


def contained(folder: str | os.PathLike[str], name: object) -> bool:
    """True when ``name`` resolves inside ``folder``."""
    return problem(folder, name) is None


def resolve(
    folder: str | os.PathLike[str],
    name: object,
    *,
    attribute: str | None = None,
    node: str | None = None,
    origin: str | os.PathLike[str] | None = None,
) -> Path:
    """The path of ``name`` inside ``folder``; raises PathEscapeError naming ``attribute`` and ``node``."""
    reason = problem(folder, name)
    if reason is not None:
        raise PathEscapeError(name, reason, file=origin or folder, attribute=attribute, node=node)
    assert isinstance(name, str)
    return Path(folder).joinpath(*parts(name))


def plain_name(name: object, *, attribute: str, node: str | None = None, origin: str | None = None) -> str:
    """``name`` when it is one plain file name (no folder part, not ``.``/``..``); else PathEscapeError.

    For names that become files or archive folders (a journal's or a spec's ``name``).
    """
    if not isinstance(name, str) or not name.strip():
        raise PathEscapeError(name, "is not a file name", file=origin, attribute=attribute, node=node)
    if "\x00" in name or name in (".", "..") or re.search(r"[\\/]", name) or _DRIVE.match(name):
        raise PathEscapeError(
            name, "is not a plain file name (it names a folder)", file=origin, attribute=attribute, node=node
        )
    return name


# --- what a journal refers to -----------------------------------------------------------------------


@dataclass(frozen=True)
class FileReference:
    """One file name a journal holds: the name, the attribute path it sits at, and its node or link."""

    name: object
    attribute: str
    node: str | None = None
    start: str | None = None
    end: str | None = None

    @property
    def where(self) -> str:
        if self.start is not None and self.end is not None:
            return f"{self.start}->{self.end}"
        return self.node or "graph"


def _walk(value: object, parts: list[str], trail: str) -> Iterator[tuple[str, object]]:
    """Values at a dotted attribute path; ``*`` (or a list on the way) fans out over items."""
    if not parts:
        if isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, str):
                    yield f"{trail}[{i}]", item
        elif value is not None:
            yield trail, value
        return
    head, rest = parts[0], parts[1:]
    if isinstance(value, list):
        for i, item in enumerate(value):
            yield from _walk(item, rest if head == "*" else parts, f"{trail}[{i}]")
        return
    if not isinstance(value, Mapping):
        return
    if head == "*":
        for key, item in value.items():
            yield from _walk(item, rest, f"{trail}.{key}")
        return
    if head in value:
        yield from _walk(value[head], rest, f"{trail}.{head}" if trail else head)


def _declared(graph: JournalGraph, key: str, defaults: Iterable[str]) -> list[str]:
    declared = graph.attributes.get(key)
    names = list(defaults)
    if isinstance(declared, (Mapping, list)):
        names += [str(k) for k in declared]
    return list(dict.fromkeys(names))


def references(
    graph: JournalGraph, *, file_arguments: Callable[[str], Iterable[str]] | None = None
) -> list[FileReference]:
    """Every file name the journal holds, in graph order.

    Node ``file`` and ``nodeFilePaths`` (``proxyfile``, ``donors.*``, ``compositemaskname``); link
    ``edgeFilePaths`` (``maskname``, ``inputmaskname``, ``selectmasks.mask`` …) and ``selectmaskname``;
    ``graphFilePaths``. ``file_arguments(op)`` names an operation's file-typed arguments (``file:image``
    such as row/column adjusters); their values are listed as ``arguments.<name>``.
    """
    out: list[FileReference] = []
    for key in _declared(graph, "graphFilePaths", ()):
        for trail, value in _walk(graph.attributes, key.split("."), ""):
            out.append(FileReference(value, trail))
    node_keys = _declared(graph, "nodeFilePaths", NODE_FILE_KEYS)
    for node, data in graph.nodes():
        for key in node_keys:
            for trail, value in _walk(data, key.split("."), ""):
                if value != "":
                    out.append(FileReference(value, trail, node=node))
    edge_keys = _declared(graph, "edgeFilePaths", EDGE_FILE_KEYS)
    for start, end, data in graph.edges():
        keys = list(edge_keys)
        if file_arguments is not None:
            keys += [f"arguments.{name}" for name in file_arguments(str(data.get("op", "")))]
        for key in dict.fromkeys(keys):
            for trail, value in _walk(data, key.split("."), ""):
                if value != "":
                    out.append(FileReference(value, trail, node=f"{start}->{end}", start=start, end=end))
    return out


def refused(
    folder: str | os.PathLike[str],
    graph: JournalGraph,
    *,
    file_arguments: Callable[[str], Iterable[str]] | None = None,
) -> list[tuple[FileReference, str]]:
    """The references of a journal that may not be used, each with the reason."""
    out = []
    for ref in references(graph, file_arguments=file_arguments):
        reason = problem(folder, ref.name)
        if reason is not None:
            out.append((ref, reason))
    return out


def catalogue_file_arguments(catalogue: Any) -> Callable[[str], Iterable[str]]:
    """``file_arguments`` for :func:`references` from an operation catalogue (``file:*`` parameters)."""
    from masksmith.operations.params import ParamKind

    cache: dict[str, tuple[str, ...]] = {}

    def names(op: str) -> tuple[str, ...]:
        if op not in cache:
            operation = catalogue.find(op) if op else None
            found: tuple[str, ...] = ()
            if operation is not None:
                found = tuple(n for n, p in operation.parameters.items() if p.type.kind in (ParamKind.FILE,))
            cache[op] = found
        return cache[op]

    return names
