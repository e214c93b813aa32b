"""Journal files: node-link JSON (Journaling Tool compatible), project folders, ``.tgz`` archives.

The JSON is networkx node-link data as the original wrote it: ``directed``, ``multigraph``,
``graph``, ``nodes`` (each with ``id``) and ``links`` whose ``source``/``target`` are node list
indices. Loading also accepts links that name nodes by id and the newer ``edges`` key. Attribute
order is kept, so save → load → save is byte-stable.
"""

from __future__ import annotations

import json
import os
import tarfile
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import networkx as nx

from masksmith import atomic_io
from masksmith.errors import ArchiveError, JournalError
from masksmith.journal import paths
from masksmith.journal.model import JournalGraph


def to_dict(journal: JournalGraph) -> dict[str, Any]:
    """Node-link data with integer link endpoints, in the original's key order."""
    graph = journal.graph
    index = {node: i for i, node in enumerate(graph.nodes)}
    nodes = [{**data, "id": node} for node, data in graph.nodes(data=True)]
    links = [{**data, "source": index[s], "target": index[t]} for s, t, data in graph.edges(data=True)]
    return {
        "directed": True,
        "graph": dict(graph.graph),
        "nodes": nodes,
        "links": links,
        "multigraph": False,
    }


def from_dict(data: Mapping[str, Any], *, origin: str | None = None) -> JournalGraph:
    """Build a journal from node-link data; link endpoints may be indices or node ids."""
    if not isinstance(data, Mapping) or "nodes" not in data:
        raise JournalError("not a journal: no 'nodes' list", file=origin)
    if data.get("multigraph"):
        raise JournalError("multigraph journals are not supported", file=origin)
    graph = nx.DiGraph()
    graph.graph.update(data.get("graph") or {})
    if not isinstance(data["nodes"], list):
        raise JournalError("'nodes' is not a list", file=origin)
    ids: list[str] = []
    for position, raw in enumerate(data["nodes"]):
        if not isinstance(raw, Mapping) or "id" not in raw:
            raise JournalError(f"nodes[{position}] has no 'id'", file=origin)
        node_id = str(raw["id"])
        attributes = {k: v for k, v in raw.items() if k != "id"}
        graph.add_node(node_id, **attributes)
        ids.append(node_id)
    links = data.get("links", data.get("edges", []))
    if not isinstance(links, list):
        raise JournalError("'links' is not a list", file=origin)
    for position, raw in enumerate(links):
        if not isinstance(raw, Mapping):
            raise JournalError(f"links[{position}] is not an object", file=origin)
        start = _endpoint(raw.get("source"), ids, origin, f"links[{position}].source")
        end = _endpoint(raw.get("target"), ids, origin, f"links[{position}].target")
        attributes = {k: v for k, v in raw.items() if k not in ("source", "target")}
        graph.add_edge(start, end, **attributes)
    return JournalGraph(graph)


def _endpoint(value: object, ids: list[str], origin: str | None, where: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        if 0 <= value < len(ids):
            return ids[value]
        raise JournalError(f"{where} index {value} is out of range (0..{len(ids) - 1})", file=origin)
    if isinstance(value, str) and value in ids:
        return value
    raise JournalError(f"{where} names no node: {value!r}", file=origin)


def dumps(journal: JournalGraph) -> str:
    return json.dumps(to_dict(journal), indent=2, ensure_ascii=False, default=_json_default) + "\n"


def _json_default(value: object) -> object:
    # numpy scalars and arrays sneak in through analysis values
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"cannot store {type(value).__name__} in a journal")


def atomic_write_text(path: Path, text: str) -> None:
    """Write text through a temporary file in the same folder and rename it into place (durably)."""
    atomic_io.write_text(path, text, make_parents=True)


def save_json(journal: JournalGraph, path: str | os.PathLike[str]) -> Path:
    target = Path(path)
    atomic_write_text(target, dumps(journal))
    return target


def load_json(path: str | os.PathLike[str], *, limits: ArchiveLimits | None = None) -> JournalGraph:
    """Load a journal JSON file; refuses files over the JSON size limit before reading them."""
    source = Path(path)
    cap = (limits or ArchiveLimits.from_env()).max_json_bytes
    try:
        size = source.stat().st_size
        if size > cap:
            raise JournalError(
                f"journal JSON is {size} bytes, over the limit of {cap} (MASKSMITH_JOURNAL_MAX_JSON_BYTES)",
                file=source,
            )
        raw = source.read_bytes()
    except FileNotFoundError:
        raise JournalError("journal file not found", file=source) from None
    except OSError as exc:
        raise JournalError(f"cannot read journal: {exc}", file=source) from None
    return from_dict(_parse_json(raw, str(source)), origin=str(source))


def find_journal_json(folder: str | os.PathLike[str]) -> Path:
    """The project file of a journal folder: ``<name>/<name>.json``, else its only (or largest) JSON."""
    root = Path(folder)
    if not root.is_dir():
        raise JournalError("not a journal folder", file=root)
    preferred = root / f"{root.name}.json"
    if preferred.is_file():
        return preferred
    candidates = sorted(root.glob("*.json"), key=lambda p: (-p.stat().st_size, p.name))
    if not candidates:
        raise JournalError("no journal JSON in folder", file=root)
    return candidates[0]


# --- archives ---------------------------------------------------------------------------------


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    try:
        return int(value) if value else default
    except ValueError:
        raise JournalError(f"{name}={value!r} is not a whole number of bytes") from None


@dataclass(frozen=True, kw_only=True)
class ArchiveLimits:
    """How much an archive may expand to; beyond it the archive is refused before anything is written.

    Defaults come from ``MASKSMITH_ARCHIVE_MAX_BYTES`` (total expanded size, 8 GiB),
    ``MASKSMITH_ARCHIVE_MAX_RATIO`` (expanded ÷ archive size once past 64 MiB expanded, 200) and
    ``MASKSMITH_JOURNAL_MAX_JSON_BYTES`` (one journal JSON, 256 MiB; also for journal folders).
    """

    max_bytes: int = 8 << 30
    max_ratio: int = 200
    max_json_bytes: int = 256 << 20
    ratio_floor: int = 64 << 20

    @classmethod
    def from_env(cls) -> ArchiveLimits:
        default = cls()
        return cls(
            max_bytes=_env_int("MASKSMITH_ARCHIVE_MAX_BYTES", default.max_bytes),
            max_ratio=_env_int("MASKSMITH_ARCHIVE_MAX_RATIO", default.max_ratio),
            max_json_bytes=_env_int("MASKSMITH_JOURNAL_MAX_JSON_BYTES", default.max_json_bytes),
        )


def _default_file_arguments() -> Callable[[str], Iterable[str]]:
    from masksmith.operations import default_catalogue

    return paths.catalogue_file_arguments(default_catalogue())


def journal_files(
    journal: JournalGraph, *, file_arguments: Callable[[str], Iterable[str]] | None = None
) -> list[str]:
    """Every file name a journal refers to (node media, masks, file arguments), without duplicates.

    Names that fail containment (absolute, ``..`` leaving the folder, non-strings) are left out:
    :func:`masksmith.journal.paths.refused` lists them. ``file_arguments`` defaults to the
    ``file:*`` parameters of the default catalogue.
    """
    refs = paths.references(journal, file_arguments=file_arguments or _default_file_arguments())
    names = [str(r.name) for r in refs if paths.lexical_problem(r.name) is None]
    return list(dict.fromkeys(names))


def create_archive(
    folder: str | os.PathLike[str],
    destination: str | os.PathLike[str],
    *,
    journal: JournalGraph | None = None,
    exclude: Iterable[str] = (),
    file_arguments: Callable[[str], Iterable[str]] | None = None,
) -> Path:
    """Write ``<destination>/<name>.tgz`` with every member under ``<name>/``; atomic.

    Members: the journal JSON and every file the journal refers to (``exclude`` names files to leave
    out, such as redacted arguments). A name that leaves the folder raises PathEscapeError naming its
    attribute and node; missing files raise ArchiveError listing them. Only regular files inside the
    folder are read (a link leading out is refused, never followed).
    """
    root = Path(folder)
    json_path = find_journal_json(root)
    journal = journal or load_json(json_path)
    name = paths.plain_name(journal.name or root.name, attribute="name", node="graph", origin=str(json_path))
    excluded = set(exclude)
    members = [json_path.name]
    refs = paths.references(journal, file_arguments=file_arguments or _default_file_arguments())
    for ref in refs:
        if isinstance(ref.name, str) and ref.name in excluded:
            continue
        reason = paths.problem(root, ref.name)
        if reason is not None:
            raise paths.PathEscapeError(
                ref.name, reason, file=json_path, attribute=ref.attribute, node=ref.where
            )
        members.append(str(ref.name))
    members = list(dict.fromkeys(members))
    missing = [m for m in members if not paths.resolve(root, m).is_file()]
    if missing:
        raise ArchiveError(f"files referred to by the journal are missing: {', '.join(missing)}", file=root)
    out_dir = Path(destination)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{name}.tgz"
    with atomic_io.atomic_path(target) as tmp:  # durable: an archive is a deliverable
        with tarfile.open(tmp, "w:gz", compresslevel=6) as tar:
            for member in members:
                arcname = f"{name}/{PurePosixPath(*paths.parts(member))}"
                tar.add(paths.resolve(root, member), arcname=arcname, recursive=False)
        _verify_archive(tmp, name, members)
    return target


def _verify_archive(path: Path, name: str, members: list[str]) -> None:
    with tarfile.open(path, "r:gz") as tar:
        present = set(tar.getnames())
    absent = [m for m in members if f"{name}/{PurePosixPath(*paths.parts(m))}" not in present]
    if absent:
        raise ArchiveError(f"archive lacks {', '.join(absent)} after writing", file=path)


def _check_member(member: tarfile.TarInfo, target: Path) -> None:
    name = member.name
    pure = PurePosixPath(name)
    if pure.is_absolute() or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise ArchiveError(f"member {name!r} has an absolute path", file=None)
    if ".." in pure.parts or ".." in name.split("\\"):
        raise ArchiveError(f"member {name!r} climbs out with '..'")
    destination = (target / name).resolve()
    if not destination.is_relative_to(target):
        raise ArchiveError(f"member {name!r} leaves the target folder")
    if member.issym() or member.islnk():
        link = PurePosixPath(member.linkname)
        if link.is_absolute():
            raise ArchiveError(f"link {name!r} points to an absolute path {member.linkname!r}")
        base = destination.parent if member.issym() else target
        resolved = (base / member.linkname).resolve()
        if not resolved.is_relative_to(target):
            raise ArchiveError(f"link {name!r} -> {member.linkname!r} leaves the target folder")
    elif not (member.isfile() or member.isdir()):
        raise ArchiveError(f"member {name!r} is not a regular file or folder")


# what a broken or hostile gzip/tar stream raises while it is read
_BROKEN = (tarfile.TarError, EOFError, zlib.error, OSError, ValueError)


def _check_size(member: tarfile.TarInfo, total: int, source: Path, limits: ArchiveLimits) -> None:
    """Refuse ``member`` when it (or ``total``, the expanded size up to it) is over ``limits``."""
    if total > limits.max_bytes:
        raise ArchiveError(
            f"archive expands to more than {limits.max_bytes} bytes (MASKSMITH_ARCHIVE_MAX_BYTES)",
            file=source,
        )
    packed = max(1, source.stat().st_size)
    if total > limits.ratio_floor and total > packed * limits.max_ratio:
        raise ArchiveError(
            f"archive expands more than {limits.max_ratio}-fold ({total} bytes from {packed}) "
            "(MASKSMITH_ARCHIVE_MAX_RATIO)",
            file=source,
        )
    if member.isfile() and member.name.endswith(".json") and member.size > limits.max_json_bytes:
        raise ArchiveError(
            f"member {member.name!r} is {member.size} bytes, over the journal JSON limit of "
            f"{limits.max_json_bytes} (MASKSMITH_JOURNAL_MAX_JSON_BYTES)",
            file=source,
        )


def safe_extract(
    archive: str | os.PathLike[str],
    destination: str | os.PathLike[str],
    *,
    limits: ArchiveLimits | None = None,
) -> Path:
    """Extract a (gzip) tar safely and return the journal folder inside it.

    Refuses absolute paths, ``..``, links that leave the target, device files and archives that
    expand beyond ``limits`` — before writing anything. A truncated or corrupt archive raises
    ArchiveError (never EOFError or a tarfile error).
    """
    source = Path(archive)
    limits = limits or ArchiveLimits.from_env()
    target = Path(destination).resolve()
    target.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(source, "r:*") as tar:
            members: list[tarfile.TarInfo] = []
            total = 0
            for member in tar:  # header by header: an oversized member is refused before the rest is read
                try:
                    _check_member(member, target)
                except ArchiveError as exc:
                    raise ArchiveError(exc.message, file=source) from None
                members.append(member)
                total += member.size if member.isfile() else 0
                _check_size(member, total, source, limits)
            tar.extractall(target, members=members, filter="data")
    except ArchiveError:
        raise
    except _BROKEN as exc:
        raise ArchiveError(f"not a readable archive: {type(exc).__name__}: {exc}", file=source) from None
    jsons = [Path(m.name) for m in members if m.isfile() and m.name.endswith(".json")]
    if not jsons:
        raise ArchiveError("archive holds no journal JSON", file=source)
    largest = max(jsons, key=lambda p: ((target / p).stat().st_size, -len(p.parts)))
    return (target / largest).parent


def read_archive_json(
    archive: str | os.PathLike[str], *, limits: ArchiveLimits | None = None
) -> JournalGraph:
    """Load the journal inside an archive without extracting it (the largest JSON member)."""
    source = Path(archive)
    limits = limits or ArchiveLimits.from_env()
    try:
        with tarfile.open(source, "r:*") as tar:
            jsons = [m for m in tar.getmembers() if m.isfile() and m.name.endswith(".json")]
            if not jsons:
                raise ArchiveError("archive holds no journal JSON", file=source)
            member = max(jsons, key=lambda m: m.size)
            _check_size(member, member.size, source, limits)
            handle = tar.extractfile(member)
            if handle is None:
                raise ArchiveError(f"cannot read {member.name}", file=source)
            raw = handle.read(limits.max_json_bytes + 1)
    except ArchiveError:
        raise
    except _BROKEN as exc:
        raise ArchiveError(f"not a readable archive: {type(exc).__name__}: {exc}", file=source) from None
    origin = f"{source}:{member.name}"
    return from_dict(_parse_json(raw, origin), origin=origin)


def _parse_json(raw: bytes, origin: str) -> Any:
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise JournalError(
            f"journal JSON is not UTF-8 text ({exc.reason} at byte {exc.start})", file=origin
        ) from None
    except json.JSONDecodeError as exc:
        raise JournalError(
            f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}", file=origin
        ) from None
    except RecursionError:
        raise JournalError("journal JSON is nested too deeply", file=origin) from None
