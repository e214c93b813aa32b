"""A hostile corpus: tampered journal folders, crafted archives, and a guard that sees every file touched.

Each case lives in its own folder::

    <case>/outside/      sentinel files a hostile journal points at (never to be read, written or made)
    <case>/inside/       projects/ (a good journal and the hostile one), out/, work/, pool/

:class:`Guard` snapshots ``outside`` (and the case root) by size, mtime and SHA-256 and records, through
a Python audit hook, every file the process opens, links, copies, renames or removes while a command
runs, so a test can say: nothing outside ``inside`` was created, changed or read.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import sys
import tarfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from masksmith.journal import store
from masksmith.media import io as media_io
from tests.batch import extend_fixtures as ef
from tests.synthetic import textured

SECRET_TOKEN = "MASKSMITH-SENTINEL-7f3a9c"
"""Text in the outside files: it must never appear in any output, archive or message."""

# --- watching the process ----------------------------------------------------------------------------

_WATCHED_EVENTS = {
    "open": (0,),
    "os.link": (0, 1),
    "os.symlink": (1,),
    "os.rename": (0, 1),
    "os.replace": (0, 1),
    "os.remove": (0,),
    "os.rmdir": (0,),
    "os.mkdir": (0,),
    "os.truncate": (0,),
    "os.chmod": (0,),
    "os.utime": (0,),
    "shutil.copyfile": (0, 1),
    "shutil.copytree": (0, 1),
    "shutil.rmtree": (0,),
}
_STATE: dict[str, Any] = {"roots": (), "hits": []}
_LOCK = threading.Lock()
_INSTALLED = False


def _hook(event: str, args: tuple[Any, ...]) -> None:
    roots = _STATE["roots"]
    if not roots or event not in _WATCHED_EVENTS:
        return
    for index in _WATCHED_EVENTS[event]:
        if index >= len(args):
            continue
        value = args[index]
        if isinstance(value, bytes):
            value = os.fsdecode(value)
        if not isinstance(value, str | os.PathLike):
            continue
        try:
            real = os.path.realpath(os.path.abspath(os.fspath(value)))
        except (OSError, ValueError):
            continue
        for root in roots:
            if real == root or real.startswith(root + os.sep):
                with _LOCK:
                    _STATE["hits"].append((event, os.fspath(value)))


def _install() -> None:
    global _INSTALLED
    if not _INSTALLED:
        sys.addaudithook(_hook)
        _INSTALLED = True


def _snapshot(folder: Path, *, skip: Path | None = None) -> dict[str, tuple[int, int, str]]:
    out = {}
    for path in sorted(folder.rglob("*")):
        if skip is not None and (path == skip or skip in path.parents):
            continue
        if path.is_symlink() or not path.is_file():
            out[str(path.relative_to(folder))] = (0, 0, "dir-or-link")
            continue
        stat = path.stat()
        out[str(path.relative_to(folder))] = (
            stat.st_size,
            stat.st_mtime_ns,
            hashlib.sha256(path.read_bytes()).hexdigest(),
        )
    return out


@dataclass
class Guard:
    """Watches one case: ``outside`` must stay untouched and unread, the case root gains nothing."""

    root: Path
    outside: Path
    inside: Path
    before: dict[str, tuple[int, int, str]] = field(default_factory=dict)

    @contextlib.contextmanager
    def watching(self) -> Iterator[list[tuple[str, str]]]:
        _install()
        self.before = _snapshot(self.root, skip=self.inside)
        hits: list[tuple[str, str]] = []
        _STATE["hits"] = hits
        _STATE["roots"] = (os.path.realpath(self.outside),)
        try:
            yield hits
        finally:
            _STATE["roots"] = ()

    def changes(self) -> list[str]:
        after = _snapshot(self.root, skip=self.inside)
        changed = [f"changed or removed: {k}" for k in self.before if after.get(k) != self.before[k]]
        changed += [f"created: {k}" for k in after if k not in self.before]
        return changed


# --- the case folders -----------------------------------------------------------------------------


@dataclass
class Case:
    root: Path
    outside: Path
    inside: Path
    projects: Path
    out: Path
    secret_png: Path
    victim_png: Path
    secret_bytes: bytes

    @property
    def guard(self) -> Guard:
        return Guard(self.root, self.outside, self.inside)

    def rel(self, folder: Path, target: Path) -> str:
        """``target`` written relative to ``folder`` (``../../..`` style)."""
        return os.path.relpath(target, folder)


def make_case(root: Path) -> Case:
    outside = root / "outside"
    inside = root / "inside"
    projects = inside / "projects"
    for folder in (outside, projects, inside / "out", inside / "work"):
        folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(99)
    secret = outside / "secret.png"
    media_io.write_image(secret, textured(rng, ef.ROWS, ef.COLS))
    victim = outside / "victim.png"
    media_io.write_image(victim, textured(rng, ef.ROWS, ef.COLS))
    (outside / "passwd").write_text(f"root:x:0:0:{SECRET_TOKEN}\n", encoding="utf-8")
    return Case(root, outside, inside, projects, inside / "out", secret, victim, secret.read_bytes())


def good_journal(case: Case, name: str = "good") -> Path:
    return ef.simple_journal(case.projects / name, seed=1).directory


# --- tampering ------------------------------------------------------------------------------------


def _edit(folder: Path, change: Callable[[dict[str, Any], Path], None]) -> Path:
    json_path = store.find_journal_json(folder)
    data = json.loads(json_path.read_text(encoding="utf-8"))
    change(data, folder)
    json_path.write_text(json.dumps(data, indent=1), encoding="utf-8")
    return folder


def _node(data: dict[str, Any], node_id: str) -> dict[str, Any]:
    return next(n for n in data["nodes"] if n["id"] == node_id)


def _link(data: dict[str, Any], start: str, end: str) -> dict[str, Any]:
    ids = [n["id"] for n in data["nodes"]]
    return next(link for link in data["links"] if ids[link["source"]] == start and ids[link["target"]] == end)


def _relabel(data: dict[str, Any], old: str, new: str) -> None:
    # links name nodes by list position, so renaming the id is the whole change
    _node(data, old)["id"] = new


Tamper = Callable[[Case, Path], None]
"""Changes the hostile journal folder (already a clean copy) so it names something outside."""


def _set_link(start: str, end: str, key: str, value: Callable[[Case, Path], Any]) -> Tamper:
    def tamper(case: Case, folder: Path) -> None:
        _edit(folder, lambda data, f: _link(data, start, end).__setitem__(key, value(case, f)))

    return tamper


def _set_node(node: str, key: str, value: Callable[[Case, Path], Any]) -> Tamper:
    def tamper(case: Case, folder: Path) -> None:
        _edit(folder, lambda data, f: _node(data, node).__setitem__(key, value(case, f)))

    return tamper


def _symlinked_media(case: Case, folder: Path) -> None:
    (folder / "link.png").symlink_to(case.secret_png)
    _edit(folder, lambda data, f: _node(data, "m").__setitem__("file", "link.png"))


def _symlinked_folder(case: Case, folder: Path) -> None:
    (folder / "sub").symlink_to(case.outside, target_is_directory=True)
    _edit(folder, lambda data, f: _link(data, "base", "m").__setitem__("maskname", "sub/new_mask.png"))


def _blur_argument(case: Case, folder: Path) -> None:
    def change(data: dict[str, Any], f: Path) -> None:
        _link(data, "m", "final").setdefault("arguments", {})["inputmaskname"] = case.rel(f, case.secret_png)

    _edit(folder, change)


def _journal_name(case: Case, folder: Path) -> None:
    def change(data: dict[str, Any], f: Path) -> None:
        data["graph"]["name"] = case.rel(case.projects, case.outside / "evil")

    _edit(folder, change)


def _node_id_escape(case: Case, folder: Path) -> None:
    _edit(folder, lambda data, f: _relabel(data, "final", "../../../outside/planted"))
    # and one file name leading out, so the journal is hostile by its paths too
    _edit(folder, lambda data, f: _node(data, "base").__setitem__("proxyfile", str(case.outside / "passwd")))


TAMPERS: dict[str, tuple[Tamper, str]] = {
    # case: (tampering, the attribute the one-line error or finding must name)
    "mask-absolute-existing": (
        _set_link("base", "m", "maskname", lambda c, f: str(c.victim_png)),
        "maskname",
    ),
    "mask-dotdot-new": (
        _set_link("base", "m", "maskname", lambda c, f: c.rel(f, c.outside / "new_mask.png")),
        "maskname",
    ),
    "mask-windows-drive": (
        _set_link("m", "final", "maskname", lambda c, f: "C:\\outside\\x.png"),
        "maskname",
    ),
    "file-absolute": (_set_node("m", "file", lambda c, f: str(c.secret_png)), "file"),
    "file-dotdot": (_set_node("final", "file", lambda c, f: c.rel(f, c.secret_png)), "file"),
    "file-symlink-out": (_symlinked_media, "file"),
    "mask-through-linked-folder": (_symlinked_folder, "maskname"),
    "inputmask-outside": (
        _set_link("base", "m", "inputmaskname", lambda c, f: str(c.secret_png)),
        "inputmaskname",
    ),
    "proxyfile-outside": (
        _set_node("base", "proxyfile", lambda c, f: c.rel(f, c.outside / "passwd")),
        "proxyfile",
    ),
    "donors-outside": (_set_node("m", "donors", lambda c, f: [str(c.secret_png)]), "donors"),
    "selectmask-outside": (
        _set_link("m", "final", "selectmasks", lambda c, f: [{"mask": str(c.secret_png)}]),
        "selectmasks",
    ),
    "argument-file-outside": (_blur_argument, "arguments.inputmaskname"),
    "journal-name-escapes": (_journal_name, "name"),
    "node-id-escapes": (_node_id_escape, "proxyfile"),
}


def hostile_journal(case: Case, tamper: str, name: str = "evil") -> Path:
    folder = ef.simple_journal(case.projects / name, seed=2).directory
    TAMPERS[tamper][0](case, folder)
    return folder


# --- archives -------------------------------------------------------------------------------------


def _tar_bytes(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for info, payload in members:
            tar.addfile(info, io.BytesIO(payload) if payload is not None else None)
    return buffer.getvalue()


def _file(name: str, payload: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    return info, payload


def _link_member(name: str, target: str) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = tarfile.SYMTYPE
    info.linkname = target
    return info, None


def _journal_members(folder: Path, name: str) -> list[tuple[tarfile.TarInfo, bytes]]:
    return [_file(f"{name}/{p.name}", p.read_bytes()) for p in sorted(folder.iterdir()) if p.is_file()]


def archive_of(case: Case, tamper: str) -> Path:
    """A clean-looking ``.tgz`` whose JSON is tampered (the journal folder itself is removed)."""
    folder = hostile_journal(case, tamper, name="evilpack")
    target = case.projects / "evilpack.tgz"
    target.write_bytes(_tar_bytes(_journal_members(folder, "evilpack")))
    shutil.rmtree(folder)
    return target


def _crafted(
    case: Case, extra: list[tuple[tarfile.TarInfo, bytes | None]], *, json_bytes: bytes | None = None
) -> Path:
    folder = ef.simple_journal(case.projects / "crafted", seed=3).directory
    members: list[tuple[tarfile.TarInfo, bytes | None]] = list(_journal_members(folder, "crafted"))
    if json_bytes is not None:
        members = [m for m in members if not m[0].name.endswith(".json")]
        members.append(_file("crafted/crafted.json", json_bytes))
    shutil.rmtree(folder)
    target = case.projects / "crafted.tgz"
    target.write_bytes(_tar_bytes([*members, *extra]))
    return target


def _truncated(case: Case) -> Path:
    folder = ef.simple_journal(case.projects / "broken", seed=4).directory
    made = store.create_archive(folder, case.projects)
    shutil.rmtree(folder)
    made.write_bytes(made.read_bytes()[: made.stat().st_size // 2])
    return made


ARCHIVES: dict[str, tuple[Callable[[Case], Path], dict[str, str]]] = {
    # case: (builder, environment for the run)
    "tgz-hostile-json": (lambda c: archive_of(c, "mask-dotdot-new"), {}),
    "tgz-absolute-file": (lambda c: archive_of(c, "file-absolute"), {}),
    "tgz-truncated": (_truncated, {}),
    "tgz-member-dotdot": (
        lambda c: _crafted(c, [_file("crafted/../../../outside/planted.txt", b"planted")]),
        {},
    ),
    "tgz-member-absolute": (lambda c: _crafted(c, [_file(str(c.outside / "planted.txt"), b"planted")]), {}),
    "tgz-symlink-chain": (
        lambda c: _crafted(
            c,
            [
                _link_member("crafted/up", ".."),
                _link_member("crafted/up/up2", ".."),
                _file("crafted/up/up2/outside/planted.txt", b"planted"),
            ],
        ),
        {},
    ),
    "tgz-symlink-out": (lambda c: _crafted(c, [_link_member("crafted/s.png", str(c.secret_png))]), {}),
    "tgz-bomb": (
        lambda c: _crafted(c, [_file("crafted/zeros.bin", bytes(3_000_000))]),
        {"MASKSMITH_ARCHIVE_MAX_BYTES": "2000000"},
    ),
    "tgz-huge-json": (
        lambda c: _crafted(c, [], json_bytes=b'{"nodes": [], "pad": "' + b"x" * 300_000 + b'"}'),
        {"MASKSMITH_JOURNAL_MAX_JSON_BYTES": "200000"},
    ),
    "tgz-binary-json": (lambda c: _crafted(c, [], json_bytes=b"\x89PNG\r\n\x1a\n\xff\xfe\x00"), {}),
    "tgz-deep-json": (lambda c: _crafted(c, [], json_bytes=b"[" * 100_000 + b"]" * 100_000), {}),
}


def all_output_bytes(folder: Path) -> Iterator[tuple[str, bytes]]:
    """Every file under ``folder`` and every member of every archive there, as bytes."""
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue
        payload = path.read_bytes()
        yield str(path), payload
        if path.name.endswith((".tgz", ".tar.gz")):
            with contextlib.suppress(tarfile.TarError, EOFError, OSError), tarfile.open(path) as tar:
                for member in tar.getmembers():
                    handle = tar.extractfile(member) if member.isfile() else None
                    if handle is not None:
                        yield f"{path}:{member.name}", handle.read()
