"""Journal JSON round trips and archive safety."""

from __future__ import annotations

import io
import json
import re
import tarfile
from pathlib import Path

import pytest

from masksmith.errors import ArchiveError, JournalError
from masksmith.journal import store
from masksmith.journal.model import JournalGraph


def _sample_graph() -> JournalGraph:
    g = JournalGraph.create("sample", username="tester", organization="org")
    g.add_media("base", "base.png", nodetype="base")
    mid = g.new_node_id("base.png")
    g.add_media(mid, f"{mid}.png")
    g.add_media("donor", "donor.png", nodetype="donor")
    g.add_operation_edge(
        "base",
        mid,
        op="TransformCrop",
        maskname="m1.png",
        arguments={"location": "(1, 2)"},
        analysis={
            "shape change": "(-1, -2)",
            "transform matrix": {
                "r": 3,
                "c": 3,
                "r0": [1.0, 0.0, -2.0],
                "r1": [0.0, 1.0, -1.0],
                "r2": [0.0, 0.0, 1.0],
            },
        },
    )
    g.add_operation_edge("donor", mid, op="Donor", maskname="m2.png")
    g.label_nodes()
    return g


def test_links_use_node_indices_like_the_original():
    data = store.to_dict(_sample_graph())
    assert list(data) == ["directed", "graph", "nodes", "links", "multigraph"]
    ids = [n["id"] for n in data["nodes"]]
    link = data["links"][0]
    assert isinstance(link["source"], int) and ids[link["source"]] == "base"
    assert data["graph"]["idcount"] >= 1
    assert {"op", "maskname", "softwareName", "softwareVersion", "recordMaskInComposite"} <= set(link)


def test_save_load_save_is_byte_stable(tmp_path: Path):
    first = store.save_json(_sample_graph(), tmp_path / "a.json").read_bytes()
    again = store.save_json(store.load_json(tmp_path / "a.json"), tmp_path / "b.json").read_bytes()
    assert first == again


def test_links_may_name_nodes_by_id_or_use_the_edges_key(tmp_path: Path):
    data = store.to_dict(_sample_graph())
    ids = [n["id"] for n in data["nodes"]]
    for link in data["links"]:
        link["source"], link["target"] = ids[link["source"]], ids[link["target"]]
    data["edges"] = data.pop("links")
    graph = store.from_dict(data)
    assert graph.graph.has_edge("base", "base_01")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["links"][0].update(source=99), "out of range"),
        (lambda d: d["links"][0].update(target="ghost"), "names no node"),
        (lambda d: d["nodes"][0].pop("id"), "has no 'id'"),
    ],
)
def test_malformed_journals_are_refused_with_the_place(tmp_path: Path, mutate, message):
    data = store.to_dict(_sample_graph())
    mutate(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(JournalError) as err:
        store.load_json(path)
    assert message in str(err.value) and "bad.json" in str(err.value)


def test_invalid_json_names_line_and_file(tmp_path: Path):
    path = tmp_path / "broken.json"
    path.write_text('{"nodes": [\n')
    with pytest.raises(JournalError, match=r"broken.json: invalid JSON at line 2"):
        store.load_json(path)


def _journal_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "sample"
    folder.mkdir()
    g = _sample_graph()
    for name in ("base.png", "base_01.png", "donor.png", "m1.png", "m2.png"):
        (folder / name).write_bytes(b"x" * 10)
    store.save_json(g, folder / "sample.json")
    return folder


def test_archive_puts_every_member_under_the_name(tmp_path: Path):
    archive = store.create_archive(_journal_folder(tmp_path), tmp_path / "out")
    assert archive.name == "sample.tgz"
    with tarfile.open(archive) as tar:
        names = sorted(tar.getnames())
    assert names == sorted(
        f"sample/{n}" for n in ("sample.json", "base.png", "base_01.png", "donor.png", "m1.png", "m2.png")
    )
    extracted = store.safe_extract(archive, tmp_path / "x")
    assert extracted == (tmp_path / "x" / "sample").resolve()
    assert store.load_json(extracted / "sample.json").graph.number_of_edges() == 2


def test_archive_refuses_missing_files(tmp_path: Path):
    folder = _journal_folder(tmp_path)
    (folder / "m2.png").unlink()
    with pytest.raises(ArchiveError, match=r"m2\.png"):
        store.create_archive(folder, tmp_path / "out")
    assert not list((tmp_path / "out").glob("*"))


def _evil_archive(path: Path, member: tarfile.TarInfo, payload: bytes = b"evil") -> Path:
    with tarfile.open(path, "w:gz") as tar:
        good = tarfile.TarInfo("j/j.json")
        body = b'{"nodes": [], "links": []}'
        good.size = len(body)
        tar.addfile(good, io.BytesIO(body))
        if member.isfile():
            member.size = len(payload)
            tar.addfile(member, io.BytesIO(payload))
        else:
            tar.addfile(member)
    return path


def _info(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info


@pytest.mark.parametrize(
    ("member", "message"),
    [
        (_info("../x"), "'..'"),
        (_info("j/../../x"), "'..'"),
        (_info("/etc/x"), "absolute"),
        (_info("j/link", tarfile.SYMTYPE, "/etc/passwd"), "absolute"),
        (_info("j/link", tarfile.SYMTYPE, "../../outside"), "leaves the target"),
        (_info("j/hard", tarfile.LNKTYPE, "../outside"), "leaves the target"),
        (_info("j/dev", tarfile.CHRTYPE), "not a regular file"),
    ],
)
def test_safe_extract_refuses_escapes_before_writing(tmp_path: Path, member, message):
    archive = _evil_archive(tmp_path / "evil.tgz", member)
    target = tmp_path / "target"
    with pytest.raises(ArchiveError, match=re.escape(message)) as err:
        store.safe_extract(archive, target)
    assert "evil.tgz" in str(err.value)
    assert not (target / "j").exists()
    assert not (tmp_path / "x").exists()


def test_safe_extract_allows_links_inside(tmp_path: Path):
    archive = _evil_archive(tmp_path / "ok.tgz", _info("j/alias.json", tarfile.SYMTYPE, "j.json"))
    folder = store.safe_extract(archive, tmp_path / "t")
    assert (folder / "alias.json").is_symlink()
