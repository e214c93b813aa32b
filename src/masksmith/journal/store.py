"""Journal files: node-link JSON (Journaling Tool compatible), project folders, ``.tgz`` archives.

The JSON is networkx node-link data as the original wrote it: ``directed``, ``multigraph``,
``graph``, ``nodes`` (each with ``id``) and ``links`` whose ``source``/``target`` are node list
indices. Loading also accepts links that name nodes by id and the newer ``edges`` key. Attribute
order is kept, so save → load → save is byte-stable.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

import networkx as nx

from masksmith.errors import ArchiveError, JournalError
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
    ids: list[str] = []
    for position, raw in enumerate(data["nodes"]):
        if not isinstance(raw, Mapping) or "id" not in raw:
            raise JournalError(f"nodes[{position}] has no 'id'", file=origin)
        node_id = str(raw["id"])
        attributes = {k: v for k, v in raw.items() if k != "id"}
        graph.add_node(node_id, **attributes)
        ids.append(node_id)
    links = data.get("links", data.get("edges", []))
    for position, raw in enumerate(links):
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
    """Write text through a temporary file in the same folder and rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_json(journal: JournalGraph, path: str | os.PathLike[str]) -> Path:
    target = Path(path)
    atomic_write_text(target, dumps(journal))
    return target


def load_json(path: str | os.PathLike[str]) -> JournalGraph:
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise JournalError("journal file not found", file=source) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise JournalError(f"cannot read journal: {exc}", file=source) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise JournalError(
            f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}", file=source
        ) from None
    return from_dict(data, origin=str(source))


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


def journal_files(journal: JournalGraph) -> list[str]:
    """Every file a journal refers to: node media, edge masks and input masks, and file arguments."""
    names: list[str] = []
    for _, data in journal.nodes():
        for key in ("file", "proxyfile", "compositemaskname"):
            if data.get(key):
                names.append(str(data[key]))
    file_keys = _edge_file_keys(journal)
    for _, _, data in journal.edges():
        for dotted in file_keys:
            value = _dotted(data, dotted)
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, str) and item:
                    names.append(item)
    seen: set[str] = set()
    return [n for n in names if not (n in seen or seen.add(n))]  # type: ignore[func-returns-value]


def _edge_file_keys(journal: JournalGraph) -> list[str]:
    declared = journal.attributes.get("edgeFilePaths") or {}
    keys = ["maskname", "inputmaskname", "videomasks.videosegment", *declared.keys()]
    return list(dict.fromkeys(keys))


def _dotted(data: Mapping[str, Any], dotted: str) -> object:
    value: object = data
    for part in dotted.split("."):
        if isinstance(value, list):  # e.g. videomasks: one file per segment
            return [item.get(part) for item in value if isinstance(item, Mapping)]
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def create_archive(
    folder: str | os.PathLike[str],
    destination: str | os.PathLike[str],
    *,
    journal: JournalGraph | None = None,
    exclude: Iterable[str] = (),
) -> Path:
    """Write ``<destination>/<name>.tgz`` with every member under ``<name>/``; atomic.

    Members: the journal JSON and every file the journal refers to that exists (``exclude`` names
    files to leave out, such as redacted arguments). Missing files raise ArchiveError listing them.
    """
    root = Path(folder)
    json_path = find_journal_json(root)
    journal = journal or load_json(json_path)
    name = journal.name or root.name
    excluded = set(exclude)
    members = [json_path.name] + [f for f in journal_files(journal) if f not in excluded]
    missing = [m for m in members if not (root / m).is_file()]
    if missing:
        raise ArchiveError(f"files referred to by the journal are missing: {', '.join(missing)}", file=root)
    out_dir = Path(destination)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{name}.tgz"
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=out_dir)
    os.close(fd)
    try:
        with tarfile.open(tmp, "w:gz", compresslevel=6) as tar:
            for member in dict.fromkeys(members):
                tar.add(root / member, arcname=f"{name}/{member}", recursive=False)
        _verify_archive(Path(tmp), name, list(dict.fromkeys(members)))
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def _verify_archive(path: Path, name: str, members: list[str]) -> None:
    with tarfile.open(path, "r:gz") as tar:
        present = set(tar.getnames())
    absent = [m for m in members if f"{name}/{m}" not in present]
    if absent:
        raise ArchiveError(f"archive lacks {', '.join(absent)} after writing", file=path)


def _check_member(member: tarfile.TarInfo, target: Path) -> None:
    name = member.name
    pure = PurePosixPath(name)
    if pure.is_absolute() or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise ArchiveError(f"member {name!r} has an absolute path", file=None)
    if ".." in pure.parts:
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


def safe_extract(archive: str | os.PathLike[str], destination: str | os.PathLike[str]) -> Path:
    """Extract a (gzip) tar safely and return the journal folder inside it.

    Refuses absolute paths, ``..``, links that leave the target and device files — before writing
    anything.
    """
    source = Path(archive)
    target = Path(destination).resolve()
    target.mkdir(parents=True, exist_ok=True)
    try:
        tar = tarfile.open(source, "r:*")  # noqa: SIM115 - the with below closes it
    except (tarfile.TarError, OSError) as exc:
        raise ArchiveError(f"not a readable archive: {exc}", file=source) from None
    with tar:
        members = tar.getmembers()
        for member in members:
            try:
                _check_member(member, target)
            except ArchiveError as exc:
                raise ArchiveError(exc.message, file=source) from None
        tar.extractall(target, members=members, filter="data")
    jsons = [Path(m.name) for m in members if m.isfile() and m.name.endswith(".json")]
    if not jsons:
        raise ArchiveError("archive holds no journal JSON", file=source)
    largest = max(jsons, key=lambda p: ((target / p).stat().st_size, -len(p.parts)))
    return (target / largest).parent


def read_archive_json(archive: str | os.PathLike[str]) -> JournalGraph:
    """Load the journal inside an archive without extracting it (the largest JSON member)."""
    source = Path(archive)
    with tarfile.open(source, "r:*") as tar:
        jsons = [m for m in tar.getmembers() if m.isfile() and m.name.endswith(".json")]
        if not jsons:
            raise ArchiveError("archive holds no journal JSON", file=source)
        member = max(jsons, key=lambda m: m.size)
        handle = tar.extractfile(member)
        if handle is None:
            raise ArchiveError(f"cannot read {member.name}", file=source)
        data = json.load(io.TextIOWrapper(handle, encoding="utf-8"))
    return from_dict(data, origin=f"{source}:{member.name}")
