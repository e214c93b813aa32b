"""journal.paths: which names stay inside a folder, the error that names attribute and node, references."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import numpy as np
import pytest

from masksmith.errors import ArchiveError, JournalError, MasksmithError
from masksmith.journal import paths, store
from masksmith.journal.model import JournalGraph
from masksmith.journal.project import Journal
from masksmith.journal.validate import validate
from masksmith.media import io as media_io
from masksmith.operations import default_catalogue
from tests.batch import extend_fixtures as ef
from tests.synthetic import textured


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    inside = tmp_path / "journal"
    (inside / "sub").mkdir(parents=True)
    (inside / "a.png").write_bytes(b"a")
    (tmp_path / "secret.png").write_bytes(b"secret")
    (inside / "out.png").symlink_to(tmp_path / "secret.png")
    (inside / "in.png").symlink_to(inside / "a.png")
    (inside / "outdir").symlink_to(tmp_path, target_is_directory=True)
    (inside / "sub" / "out2.png").symlink_to(tmp_path / "secret.png")
    (inside / "sublink").symlink_to(inside / "sub", target_is_directory=True)
    (inside / "up").symlink_to("..", target_is_directory=True)
    return inside


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("a.png", None),
        ("sub/../a.png", None),
        ("./sub/x.png", None),
        ("in.png", None),
        ("missing.png", None),  # containment is not existence
        ("/etc/passwd", "absolute"),
        ("\\\\server\\share\\x.png", "absolute"),
        ("C:\\x.png", "absolute"),
        ("c:x.png", "absolute"),
        ("../secret.png", "'..'"),
        ("sub/../../secret.png", "'..'"),
        ("sub\\..\\..\\secret.png", "'..'"),
        ("out.png", "link"),
        ("outdir/secret.png", "link"),
        ("outdir/new.png", "link"),
        ("sub/out2.png", "link"),
        ("sublink/out2.png", "link"),
        ("sublink/../a.png", None),
        ("sublink/x/../../a.png", None),
        ("up/secret.png", "link"),
        ("up/journal/a.png", None),
        ("a.png/x", None),
        ("", "not a file name"),
        (None, "not a file name"),
        (7, "not a file name"),
        ("a\x00.png", "NUL"),
        (".", "folder itself"),
    ],
)
def test_problem_names_why_a_name_is_refused(folder: Path, name: object, reason: str | None) -> None:
    found = paths.problem(folder, name)
    if reason is None:
        assert found is None
        assert paths.resolve(folder, name).is_relative_to(folder)
    else:
        assert found is not None and reason in found


def test_resolve_raises_naming_attribute_and_node(folder: Path) -> None:
    with pytest.raises(paths.PathEscapeError) as info:
        paths.resolve(folder, "../secret.png", attribute="maskname", node="a->b", origin="j.json")
    error = info.value
    assert isinstance(error, JournalError) and isinstance(error, MasksmithError)
    line = error.one_line()
    assert line.startswith("j.json: node 'a->b': maskname '../secret.png' climbs out")
    assert error.attribute == "maskname" and error.node == "a->b"


@pytest.mark.parametrize("name", ["x", "x.y", "journal 1"])
def test_plain_name_accepts_single_names(name: str) -> None:
    assert paths.plain_name(name, attribute="name") == name


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "../x", "/tmp/x", "a\\b", "C:x", None])
def test_plain_name_refuses_anything_with_a_folder(name: object) -> None:
    with pytest.raises(paths.PathEscapeError):
        paths.plain_name(name, attribute="graph.name", node="graph")


def _graph() -> JournalGraph:
    graph = JournalGraph.create("j", username="u")
    graph.add_media("b", "b.png", nodetype="base", proxyfile="p.png", donors={"x": "d.png"})
    graph.add_media("f", "f.png", nodetype="final")
    graph.graph.add_edge(
        "b",
        "f",
        op="TransformSeamCarving",
        maskname="m.png",
        inputmaskname="i.png",
        selectmasks=[{"mask": "s.png"}],
        videomasks=[{"starttime": 0, "videosegment": "v.hdf5"}, {"starttime": 5}],
        arguments={"row adjuster": "r.png", "column adjuster": "c.png", "plugin mask": ""},
    )
    return graph


def test_references_list_every_file_attribute_with_its_node() -> None:
    file_arguments = paths.catalogue_file_arguments(default_catalogue())
    refs = paths.references(_graph(), file_arguments=file_arguments)
    found = {(r.attribute, r.where, r.name) for r in refs}
    assert {
        ("file", "b", "b.png"),
        ("proxyfile", "b", "p.png"),
        ("donors.x", "b", "d.png"),
        ("file", "f", "f.png"),
        ("maskname", "b->f", "m.png"),
        ("inputmaskname", "b->f", "i.png"),
        ("selectmasks[0].mask", "b->f", "s.png"),
        ("videomasks[0].videosegment", "b->f", "v.hdf5"),
        ("arguments.row adjuster", "b->f", "r.png"),
        ("arguments.column adjuster", "b->f", "c.png"),
    } <= found
    assert not any(r.name == "" for r in refs)


def test_journal_files_include_argument_files_of_file_image_parameters() -> None:
    names = store.journal_files(_graph())
    assert {"r.png", "c.png", "s.png", "d.png", "p.png"} <= set(names)


def test_journal_files_leave_out_names_leading_out() -> None:
    graph = _graph()
    graph.edge("b", "f")["maskname"] = "/etc/passwd"
    graph.node("b")["proxyfile"] = "../../x.png"
    names = store.journal_files(graph)
    assert "/etc/passwd" not in names and "../../x.png" not in names and "b.png" in names


# --- archives ---------------------------------------------------------------------------------------


def _seam_journal(tmp_path: Path) -> Journal:
    """A journal whose seam-carving link names row/column adjuster files (``file:image`` arguments)."""
    journal = ef.simple_journal(tmp_path / "seam", seed=5)
    rng = np.random.default_rng(1)
    for name in ("rows.png", "cols.png"):
        media_io.write_image(journal.directory / name, textured(rng, ef.ROWS, ef.COLS))
    data = journal.graph.edge("m", "final")
    data["op"] = "TransformSeamCarving"
    data["arguments"] = {"row adjuster": "rows.png", "column adjuster": "cols.png"}
    journal.save()
    return journal


def test_archives_carry_argument_files(tmp_path: Path) -> None:
    journal = _seam_journal(tmp_path)
    made = journal.archive(tmp_path / "out")
    with tarfile.open(made) as tar:
        names = set(tar.getnames())
    assert {"seam/rows.png", "seam/cols.png"} <= names


def test_create_archive_refuses_a_name_leading_out_naming_attribute_and_node(tmp_path: Path) -> None:
    journal = _seam_journal(tmp_path)
    (tmp_path / "secret.png").write_bytes(b"secret")
    journal.graph.edge("m", "final")["arguments"]["row adjuster"] = "../secret.png"
    journal.save()
    with pytest.raises(paths.PathEscapeError) as info:
        store.create_archive(journal.directory, tmp_path / "out")
    assert "arguments.row adjuster" in str(info.value) and "m->final" in str(info.value)
    assert not list((tmp_path / "out").glob("*"))


def test_create_archive_refuses_a_journal_name_that_is_a_path(tmp_path: Path) -> None:
    journal = ef.simple_journal(tmp_path / "j", seed=1)
    journal.graph.attributes["name"] = "../../escaped"
    store.save_json(journal.graph, journal.directory / "j.json")
    with pytest.raises(paths.PathEscapeError, match="name"):
        store.create_archive(journal.directory, tmp_path / "out" / "deep")
    assert not (tmp_path / "escaped.tgz").exists()


def test_limits_refuse_an_archive_that_expands_too_far(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = ef.simple_journal(tmp_path / "j", seed=1)
    (journal.directory / "zeros.bin").write_bytes(bytes(300_000))
    journal.graph.node("base")["proxyfile"] = "zeros.bin"
    journal.save()
    made = store.create_archive(journal.directory, tmp_path)
    monkeypatch.setenv("MASKSMITH_ARCHIVE_MAX_BYTES", "200000")
    with pytest.raises(ArchiveError, match="MASKSMITH_ARCHIVE_MAX_BYTES"):
        store.safe_extract(made, tmp_path / "x")
    assert not list((tmp_path / "x").rglob("*.bin"))
    limits = store.ArchiveLimits(max_bytes=10**9, max_ratio=5, ratio_floor=100_000)
    with pytest.raises(ArchiveError, match="fold"):
        store.safe_extract(made, tmp_path / "y", limits=limits)
    monkeypatch.setenv("MASKSMITH_ARCHIVE_MAX_BYTES", "nonsense")
    with pytest.raises(JournalError, match="whole number"):
        store.safe_extract(made, tmp_path / "z")


def test_json_limit_applies_to_folders_and_archives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    journal = ef.simple_journal(tmp_path / "j", seed=1)
    journal.graph.attributes["qacomment"] = "x" * 50_000
    journal.save()
    made = store.create_archive(journal.directory, tmp_path)
    monkeypatch.setenv("MASKSMITH_JOURNAL_MAX_JSON_BYTES", "20000")
    with pytest.raises(JournalError, match="MASKSMITH_JOURNAL_MAX_JSON_BYTES"):
        store.load_json(journal.json_path)
    with pytest.raises(ArchiveError, match="MASKSMITH_JOURNAL_MAX_JSON_BYTES"):
        store.read_archive_json(made)


@pytest.mark.parametrize("cut", [0.3, 0.6, 0.95])
def test_truncated_archives_raise_archive_error(tmp_path: Path, cut: float) -> None:
    journal = ef.simple_journal(tmp_path / "j", seed=1)
    made = store.create_archive(journal.directory, tmp_path)
    made.write_bytes(made.read_bytes()[: int(made.stat().st_size * cut)])
    with pytest.raises(ArchiveError, match="not a readable archive"):
        store.safe_extract(made, tmp_path / "x")
    with pytest.raises(ArchiveError):
        store.read_archive_json(made)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"\xff\xfe\x00", "not UTF-8"),
        (b"[" * 50_000 + b"]" * 50_000, "nested too deeply"),
        (b"{", "invalid JSON"),
    ],
)
def test_bad_journal_json_is_one_journal_error(tmp_path: Path, payload: bytes, message: str) -> None:
    path = tmp_path / "j.json"
    path.write_bytes(payload)
    with pytest.raises(JournalError, match=message):
        store.load_json(path)


# --- the journal and its rules ------------------------------------------------------------------


def test_validation_reports_each_name_leading_out_as_an_error(tmp_path: Path) -> None:
    journal = _seam_journal(tmp_path)
    journal.graph.edge("base", "m")["maskname"] = str(tmp_path / "elsewhere.png")
    journal.graph.edge("m", "final")["arguments"]["column adjuster"] = "../../cols.png"
    journal.graph.node("base")["proxyfile"] = "missing_proxy.png"
    findings = validate(journal)
    contained = [f for f in findings if f.rule == "paths_contained"]
    assert {(f.where, f.message.split(" ")[0]) for f in contained} == {
        ("base->m", "maskname"),
        ("m->final", "arguments.column"),
    }
    assert all(f.severity.name == "ERROR" for f in contained)
    missing = [f for f in findings if f.rule == "referenced_file_missing"]
    assert [(f.where, "proxyfile" in f.message) for f in missing] == [("base", True)]
    # the outside mask is not also reported as "missing", and nothing offers to regenerate it
    assert not any(f.rule == "edge_mask_missing" for f in findings)
    assert not (tmp_path / "elsewhere.png").exists()


def test_journal_remembers_the_json_it_was_opened_from(tmp_path: Path) -> None:
    journal = ef.simple_journal(tmp_path / "j", seed=1)
    other = journal.directory / "other.json"
    journal.json_path.rename(other)
    opened = Journal.open(other)
    assert opened.json_path == other
    opened.save()
    assert sorted(p.name for p in journal.directory.glob("*.json")) == ["other.json"]
    assert json.loads(other.read_text())["graph"]["name"] == "j"
