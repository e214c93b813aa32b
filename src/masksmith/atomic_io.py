"""Atomic file writes: the one place that decides how a file replaces another.

Every write goes to a fresh temporary file next to the target (same folder, so ``os.replace`` is
atomic; named ``.NAME.RANDOM.tmp`` so folder scans skip it; mode from the umask), and
only a complete file is renamed into place — a reader sees the old file or the new one, never half of
either, and a failed or interrupted write leaves the target as it was and no temporary file behind.

fsync policy: ``durable=True`` (the default) flushes the data to disk before the rename, so journals,
run state, logs and manifests survive a power cut. Bulk media a run can regenerate (images written by
``masksmith.media.io``) pass ``durable=False``: the rename is still atomic, without one disk flush per
image. Folders are not fsynced.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterable, Iterator
from pathlib import Path

__all__ = ["append_lines", "atomic_path", "write_bytes", "write_lines", "write_text"]

PathLike = str | os.PathLike[str]


def _make_temp(target: Path, *, keep_suffix: bool) -> Path:
    """Create (exclusively) an empty temporary file next to ``target``."""
    suffix = target.suffix if keep_suffix else ""
    for _ in range(16):
        candidate = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp{suffix}")
        try:
            fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return candidate
    raise FileExistsError(f"no free temporary name next to {target}")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(
    path: PathLike, *, durable: bool = True, make_parents: bool = False, keep_suffix: bool = False
) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; when the block succeeds it replaces ``path``.

    If the block raises, the temporary file is removed and ``path`` is left as it was. ``keep_suffix``
    ends the temporary name with ``path``'s suffix, for writers that choose a format by suffix.
    """
    target = Path(path)
    if make_parents:
        target.parent.mkdir(parents=True, exist_ok=True)
    temp = _make_temp(target, keep_suffix=keep_suffix)
    try:
        yield temp
        if durable:
            _fsync(temp)
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise


def write_bytes(path: PathLike, data: bytes, *, durable: bool = True, make_parents: bool = False) -> Path:
    """Replace ``path`` with ``data`` atomically."""
    with atomic_path(path, durable=durable, make_parents=make_parents) as temp:
        temp.write_bytes(data)
    return Path(path)


def write_text(path: PathLike, text: str, *, durable: bool = True, make_parents: bool = False) -> Path:
    """Replace ``path`` with ``text`` (UTF-8, ``\\n`` line ends) atomically."""
    return write_bytes(path, text.encode("utf-8"), durable=durable, make_parents=make_parents)


def write_lines(path: PathLike, lines: Iterable[str], *, make_parents: bool = False) -> Path:
    """Replace ``path`` with ``lines``, one per line, atomically and durably."""
    return write_text(path, "".join(f"{line}\n" for line in lines), make_parents=make_parents)


def append_lines(path: PathLike, lines: Iterable[str]) -> Path:
    """Append ``lines`` by rewriting ``path`` whole and atomically (the caller holds the file's lock).

    Readers never see a half-written line; a missing final newline of the old content is added first.
    """
    target = Path(path)
    try:
        existing = target.read_text(encoding="utf-8")
    except FileNotFoundError:
        existing = ""
    if existing and not existing.endswith("\n"):
        existing += "\n"
    return write_text(target, existing + "".join(f"{line}\n" for line in lines), make_parents=True)
