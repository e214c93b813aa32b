"""``masksmith.atomic_io``: whole-file replacement, cleanup on failure, appends, the fsync policy."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from masksmith import atomic_io


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp" in p.name)


def test_write_replaces_the_whole_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    target.write_text("old and much longer content", encoding="utf-8")
    assert atomic_io.write_text(target, "new") == target
    assert target.read_text(encoding="utf-8") == "new"
    atomic_io.write_bytes(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    assert _leftovers(tmp_path) == []


def test_a_failing_write_keeps_the_old_file_and_removes_the_temporary(tmp_path: Path) -> None:
    target = tmp_path / "journal.json"
    target.write_text("kept", encoding="utf-8")
    with pytest.raises(RuntimeError), atomic_io.atomic_path(target) as temp:
        temp.write_text("half", encoding="utf-8")
        raise RuntimeError("writer died")
    assert target.read_text(encoding="utf-8") == "kept"
    assert _leftovers(tmp_path) == []


def test_temporary_names_are_hidden_and_keep_the_suffix_only_when_asked(tmp_path: Path) -> None:
    with atomic_io.atomic_path(tmp_path / "a.json") as plain:
        assert plain.name.startswith(".a.json.") and plain.name.endswith(".tmp")
        plain.write_text("{}", encoding="utf-8")
    with atomic_io.atomic_path(tmp_path / "b.png", keep_suffix=True) as suffixed:
        assert suffixed.name.startswith(".b.png.") and suffixed.suffix == ".png"
        suffixed.write_bytes(b"x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.png"]


def test_make_parents_and_missing_parent(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        atomic_io.write_text(tmp_path / "no" / "x.txt", "x")
    atomic_io.write_text(tmp_path / "made" / "x.txt", "x", make_parents=True)
    assert (tmp_path / "made" / "x.txt").read_text(encoding="utf-8") == "x"


def test_durable_writes_fsync_before_the_rename_and_bulk_media_does_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[str] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}") if os.path.exists("/proc/self/fd") else "?")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    atomic_io.write_text(tmp_path / "state.txt", "x")
    assert len(synced) == 1 and ".tmp" in synced[0]  # the temporary, before it became state.txt
    from masksmith.media import io as media_io

    media_io.atomic_write_bytes(tmp_path / "frame.png", b"x")
    assert len(synced) == 1


def test_appends_from_threads_under_a_lock_keep_every_line(tmp_path: Path) -> None:
    target = tmp_path / "done.txt"
    target.write_text("first", encoding="utf-8")  # no final newline: one is added
    lock = threading.Lock()

    def worker(n: int) -> None:
        for i in range(20):
            with lock:
                atomic_io.append_lines(target, [f"{n}-{i}"])

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = target.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "first" and len(lines) == 81
    assert sorted(lines[1:]) == sorted(f"{n}-{i}" for n in range(4) for i in range(20))
    assert _leftovers(tmp_path) == []
