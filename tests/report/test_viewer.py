"""The journal viewer without a browser: files written, embedded data, overlays, probes, indexes, server, CLI.

HTML validity is checked with html5lib's strict parser (it raises on any HTML5 parse error).
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import html5lib
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from masksmith.cli.demo import build_demo
from masksmith.cli.view_cmds import batch_view_command, view_command
from masksmith.errors import ConfigError, ExportError, JournalError
from masksmith.journal.probes import generate_probes
from masksmith.journal.project import Journal
from masksmith.media import io as media_io
from masksmith.media import masks
from masksmith.report import index as report_index
from masksmith.report import viewer
from masksmith.report.index import (
    ImageRunRow,
    ValidationStatus,
    build_batch_index,
    build_image_run_index,
    find_journals,
    summarise_findings,
    validation_status,
)
from masksmith.report.serve import check_loopback, page_url, serving
from masksmith.report.viewer import build_journal_report, build_report, mask_overlay, web_pixels
from tests.report.viewer_journals import probes_for_finals, synthetic_journal


def assert_valid_html(text: str) -> None:
    html5lib.HTMLParser(strict=True).parse(text)


def page_data(page: Path) -> dict[str, Any]:
    text = page.read_text(encoding="utf-8")
    match = re.search(r'<script type="application/json" id="journal-data">(.*?)</script>', text, re.S)
    assert match is not None
    return json.loads(match.group(1))  # type: ignore[no-any-return]


def asset(page: Path, href: str) -> Path:
    path = page.parent / href
    assert path.is_file(), href
    return path


def alpha_of(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        assert im.mode == "RGBA"
        return np.asarray(im)[:, :, 3]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Journal:
    return build_demo(tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="module")
def demo_page(demo: Journal, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "report.html"
    build_report(demo, out, probes=probes_for_finals(demo))
    return out


# ---- the journal page ---------------------------------------------------------------------------


def test_strict_parser_rejects_broken_html() -> None:
    with pytest.raises(html5lib.html5parser.ParseError):
        assert_valid_html("<!DOCTYPE html><html><head><title>x</title></head><body><p></span></body></html>")


def test_page_is_valid_html5_with_inline_svg_and_no_remote_references(demo_page: Path) -> None:
    text = demo_page.read_text(encoding="utf-8")
    assert_valid_html(text)
    assert text.startswith("<!DOCTYPE html>")
    assert "<?xml" not in text
    assert '<svg role="group" aria-label="Provenance graph" id="graph-svg"' in text
    # nothing that a browser would fetch from elsewhere: only the namespace URI may mention http
    remote = set(re.findall(r"(?:src|href)=[\"'](https?:[^\"']*)", text))
    assert remote == set()


def test_embedded_data_describes_every_node_and_edge(demo: Journal, demo_page: Path) -> None:
    data = page_data(demo_page)
    assert set(data["nodes"]) == {n for n, _ in demo.graph.nodes()}
    assert {e["id"] for e in data["edges"]} == {f"{s}->{t}" for s, t, _ in demo.graph.edges()}
    for node_id, node in data["nodes"].items():
        shown = asset(demo_page, node["image"])
        with Image.open(shown) as im:
            assert im.size == (node["width"], node["height"])
        assert (node["width"], node["height"]) == demo.pixels(node_id).shape[1::-1]
        with Image.open(asset(demo_page, node["thumb"])) as thumb:
            assert max(thumb.size) <= viewer.THUMB_SIZE
        assert node["type"] == demo.graph.node(node_id)["nodetype"]
    for edge in data["edges"]:
        original = demo.directory / demo.graph.edge(edge["source"], edge["target"])["maskname"]
        assert asset(demo_page, edge["mask"]["raw"]).read_bytes() == original.read_bytes()
        assert edge["donor"] == (edge["op"] == "Donor")
    paste = next(e for e in data["edges"] if e["op"] == "PasteSplice")
    assert paste["category"] == "Paste"
    assert paste["arguments"]["purpose"] == "add"


def test_edge_overlay_tints_exactly_the_changed_pixels(demo: Journal, demo_page: Path) -> None:
    data = page_data(demo_page)
    for edge in data["edges"]:
        changed = demo.edge_mask(edge["source"], edge["target"])
        alpha = alpha_of(asset(demo_page, edge["mask"]["overlay"]))
        assert alpha.shape == changed.shape
        np.testing.assert_array_equal(alpha > 0, changed)


def test_graph_svg_has_thumbnails_and_dashed_donor_edges(demo: Journal, demo_page: Path) -> None:
    text = demo_page.read_text(encoding="utf-8")
    for node_id, _ in demo.graph.nodes():
        assert f'data-node-id="{node_id}"' in text
    hrefs = re.findall(r'<image [^>]*href="([^"]+)"', text)
    assert len(hrefs) == demo.graph.graph.number_of_nodes()
    for href in hrefs:
        asset(demo_page, href)
    donor_paths = re.findall(r'<path class="edge donor"[^>]*>', text)
    assert len(donor_paths) == len([1 for *_, d in demo.graph.edges() if d["op"] == "Donor"]) > 0
    assert all("stroke-dasharray" in p for p in donor_paths)


def test_probes_become_overlays_on_their_final_node(demo: Journal, demo_page: Path) -> None:
    data = page_data(demo_page)
    probes = probes_for_finals(demo)
    assert data["probes"]["status"] == "ok" and probes
    for probe in probes:
        shown = data["probes"]["byFinal"][probe.final_node_id]
        entry = next(p for p in shown if p["edge"] == "->".join(probe.edge_id))
        alpha = alpha_of(asset(demo_page, entry["overlay"]))
        np.testing.assert_array_equal(alpha > 0, masks.from_probe_file(probe.target_mask))
        assert entry["changed"] == int(np.count_nonzero(probe.target_mask == 255))
        assert entry["fields"]["level"] == probe.level
        if probe.donor_mask is not None:
            donor_alpha = alpha_of(asset(demo_page, entry["donor_overlay"]))
            np.testing.assert_array_equal(donor_alpha > 0, probe.donor_mask == 255)


def _raise(_journal: Journal) -> list[Any]:
    raise RuntimeError("boom")


@pytest.mark.parametrize(
    ("function", "status", "words"),
    [
        (None, "unavailable", "masksmith.journal.probes is missing"),
        (_raise, "failed", "RuntimeError: boom"),
        (lambda _j: [], "ok", "0 probe(s)"),
    ],
)
def test_probe_status_without_a_working_probe_module(
    demo: Journal, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, function: Any, status: str, words: str
) -> None:
    monkeypatch.setattr(viewer, "probe_function", lambda: function)
    result = build_report(demo, tmp_path / "r.html")
    data = page_data(result.html)
    assert data["probes"]["status"] == status
    assert words in data["probes"]["message"]
    assert data["probes"]["byFinal"] == {}


def test_probes_from_the_probe_module(demo: Journal, tmp_path: Path) -> None:
    expected = generate_probes(demo)
    data = page_data(build_report(demo, tmp_path / "r.html").html)
    assert data["probes"]["status"] == "ok"
    shown = [p for entries in data["probes"]["byFinal"].values() for p in entries]
    assert len(shown) == len(expected) > 0
    for probe in expected:
        entry = next(
            p for p in data["probes"]["byFinal"][probe.final_node] if p["edge"] == "->".join(probe.edge_id)
        )
        alpha = alpha_of(tmp_path / entry["overlay"])
        np.testing.assert_array_equal(alpha > 0, probe.target_mask == 255)


def test_probe_file_names_are_read_relative_to_the_journal(demo: Journal, tmp_path: Path) -> None:
    final = demo.graph.final_nodes()[0]
    shape = demo.pixels(final).shape[:2]
    target = np.zeros(shape, np.uint8)
    target[10:30, 40:90] = 255
    copy = tmp_path / "journal"
    shutil.copytree(demo.directory, copy)
    media_io.write_image(copy / "probe_ps.png", target)
    probe = {"finalNodeId": final, "edgeId": "x->y", "targetMaskFileName": "probe_ps.png", "level": 2}
    journal = Journal.open(copy)
    result = build_report(journal, tmp_path / "out" / "p.html", probes=[probe])
    entry = page_data(result.html)["probes"]["byFinal"][final][0]
    np.testing.assert_array_equal(alpha_of(asset(result.html, entry["overlay"])) > 0, target == 255)
    assert entry["edge"] == "x->y" and entry["changed"] == 20 * 50


def test_missing_media_and_masks_are_reported_not_fatal(demo: Journal, tmp_path: Path) -> None:
    copy = tmp_path / "journal"
    shutil.copytree(demo.directory, copy)
    journal = Journal.open(copy)
    start, end, data = next(iter(journal.graph.edges()))
    (copy / data["maskname"]).unlink()
    (copy / journal.graph.node(end)["file"]).write_bytes(b"not an image")
    result = build_report(journal, tmp_path / "out" / "r.html", probes=[])
    shown = page_data(result.html)
    assert (
        "mask file missing"
        in next(e for e in shown["edges"] if e["id"] == f"{start}->{end}")["mask"]["problem"]
    )
    assert shown["nodes"][end]["image"] is None
    assert "unreadable" in shown["nodes"][end]["problem"]
    assert_valid_html(result.html.read_text(encoding="utf-8"))


def test_hostile_text_stays_data(demo: Journal, tmp_path: Path) -> None:
    copy = tmp_path / "journal"
    shutil.copytree(demo.directory, copy)
    journal = Journal.open(copy)
    nasty = '</script><script>alert(1)</script><!-- & "quotes" \u2028'
    journal.graph.attributes["projectdescription"] = nasty
    node = journal.graph.base_node()
    journal.graph.node(node)["note"] = nasty
    result = build_report(journal, tmp_path / "out" / "r.html", probes=[])
    text = result.html.read_text(encoding="utf-8")
    assert_valid_html(text)
    assert "<script>alert(1)" not in text
    data = page_data(result.html)
    assert data["attributes"]["projectdescription"] == nasty
    assert data["nodes"][node]["attributes"]["note"] == nasty


def test_rebuild_replaces_its_own_assets_but_refuses_a_foreign_folder(demo: Journal, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    build_report(demo, page, probes=[])
    stale = tmp_path / "report_assets" / "stale.png"
    stale.write_bytes(b"old")
    build_report(demo, page, probes=[])
    assert not stale.exists()
    foreign = tmp_path / "mine_assets"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("keep")
    with pytest.raises(ExportError, match="not made by masksmith"):
        build_report(demo, tmp_path / "mine.html", probes=[])
    assert (foreign / "precious.txt").read_text() == "keep"
    with pytest.raises(ExportError, match=r"\.html"):
        build_report(demo, tmp_path / "report.txt", probes=[])


def test_report_from_an_archive(demo: Journal, tmp_path: Path) -> None:
    archive = demo.archive(tmp_path)
    result = build_journal_report(archive, tmp_path / "out" / "r.html", probes=[])
    assert result.node_count == demo.graph.graph.number_of_nodes()
    assert result.operations == ("Blur", "PasteSplice", "SelectRegion", "TransformCrop", "TransformResize")
    for node in page_data(result.html)["nodes"].values():
        asset(result.html, node["image"])


# ---- pixel helpers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pixels", "expected"),
    [
        (np.array([[0, 256, 65535]], np.uint16), np.array([[0, 1, 255]], np.uint8)),
        (np.array([[0, 200, 255]], np.uint16), np.array([[0, 200, 255]], np.uint8)),
        (np.array([[0.0, 0.5, 1.0]], np.float32), np.array([[0, 128, 255]], np.uint8)),
        (np.array([[False, True]]), np.array([[0, 255]], np.uint8)),
        (np.full((1, 2, 1), 7, np.uint8), np.full((1, 2), 7, np.uint8)),
    ],
)
def test_web_pixels(pixels: np.ndarray, expected: np.ndarray) -> None:
    before = pixels.copy()
    out = web_pixels(pixels)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(pixels, before)


def test_mask_overlay_tints_inside_and_outlines_the_border() -> None:
    changed = np.zeros((20, 30), bool)
    changed[5:15, 10:25] = True
    overlay = mask_overlay(changed)
    assert overlay.shape == (20, 30, 4)
    np.testing.assert_array_equal(overlay[:, :, 3] > 0, changed)
    assert overlay[10, 17, 3] == viewer.OVERLAY_ALPHA
    assert overlay[5, 17, 3] == 255 and overlay[10, 10, 3] == 255
    assert tuple(overlay[10, 17, :3]) == viewer.OVERLAY_COLOUR
    with pytest.raises(ValueError):
        mask_overlay(np.zeros((2, 2, 2), bool))


# ---- the batch index ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def projects(demo: Journal, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """demo (folder), demo archived as .tgz, a synthetic journal, a broken journal folder."""
    root = tmp_path_factory.mktemp("projects")
    shutil.copytree(demo.directory, root / "demo")
    demo.archive(root / "archives")
    shutil.move(root / "archives" / "demo.tgz", root / "packed.tgz")
    (root / "archives").rmdir()
    scratch = tmp_path_factory.mktemp("synthetic")
    synthetic = synthetic_journal(scratch, np.random.default_rng(5), nodes=13, branches=3, name="synth")
    shutil.copytree(synthetic.directory, root / "synth")
    (root / "broken").mkdir()
    (root / "broken" / "broken.json").write_text("{not json", encoding="utf-8")
    (root / "notes").mkdir()  # no JSON: not a journal
    return root


def test_find_journals_lists_folders_and_archives(projects: Path) -> None:
    assert [p.name for p in find_journals(projects)] == ["broken", "demo", "packed.tgz", "synth"]
    with pytest.raises(ExportError):
        find_journals(projects / "nope")


def test_batch_index_rows_links_and_failures(
    projects: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(report_index, "validate_function", lambda: None)
    result = build_batch_index(projects, tmp_path / "index.html")
    text = result.html.read_text(encoding="utf-8")
    assert_valid_html(text)
    rows = {row.source.name: row for row in result.rows}
    assert rows["broken"].href is None and rows["broken"].status.level == "failed"
    assert "invalid JSON" in rows["broken"].status.text
    assert rows["synth"].node_count == 13 and rows["synth"].edge_count == 12
    assert rows["demo"].operations == rows["packed.tgz"].operations
    assert "PasteSplice" in rows["demo"].operations and "PasteSplice" not in rows["synth"].operations
    for name in ("demo", "packed.tgz", "synth"):
        row = rows[name]
        assert row.status == ValidationStatus("none", "not validated")
        assert row.href is not None and row.thumbnail is not None
        journal_page = tmp_path / row.href
        assert_valid_html(journal_page.read_text(encoding="utf-8"))
        assert 'href="../index.html"' in journal_page.read_text(encoding="utf-8")
        assert (tmp_path / row.thumbnail).is_file()
        assert f'href="{row.href}"' in text
    assert len({row.href for row in result.rows if row.href}) == 3
    assert text.count('data-ops="') == 4
    assert 'data-ops="Blur|PasteSplice|SelectRegion|TransformCrop|TransformResize"' in text


class Severity:
    def __init__(self, name: str) -> None:
        self.name = name


class Finding:
    def __init__(self, severity: str, message: str = "something") -> None:
        self.severity = Severity(severity)
        self.message = message

    def __str__(self) -> str:
        return f"{self.severity.name}: {self.message}"


@pytest.mark.parametrize(
    ("severities", "expected"),
    [
        ([], ValidationStatus("ok", "valid")),
        (["INFO"], ValidationStatus("ok", "valid")),
        (["WARNING", "INFO", "WARNING"], ValidationStatus("warning", "2 warning(s)")),
        (["ERROR", "WARNING", "CRITICAL"], ValidationStatus("error", "2 error(s), 1 warning(s)")),
    ],
)
def test_summarise_findings(severities: list[str], expected: ValidationStatus) -> None:
    for status in (
        summarise_findings([Finding(s) for s in severities]),
        summarise_findings([{"severity": s} for s in severities]),
    ):
        assert (status.level, status.text) == (expected.level, expected.text)
        assert len(status.details) == len([s for s in severities if s != "INFO"])


def test_summary_details_list_the_worst_findings_first() -> None:
    findings = [Finding("WARNING", f"w{k}") for k in range(3)] + [Finding("CRITICAL", "c"), Finding("INFO")]
    status = summarise_findings(findings, max_details=2)
    assert status.details == ("CRITICAL: c", "WARNING: w0", "… and 2 more")


def test_validation_status_uses_the_validator_and_survives_its_failure(demo: Journal) -> None:
    assert validation_status(demo, lambda _j: [Finding("ERROR")]).level == "error"

    def broken(_j: Journal) -> list[Any]:
        raise JournalError("no base", node="x")

    status = validation_status(demo, broken)
    assert status.level == "failed" and "no base" in status.text


# ---- the image-run index -------------------------------------------------------------------------


def test_image_run_index_shows_inputs_outputs_and_mask_overlays(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    run = tmp_path / "run"
    run.mkdir()
    rows: list[Any] = []
    for k in range(3):
        image = rng.integers(0, 256, (600, 800, 3), dtype=np.uint8)
        marked = np.zeros((600, 800), np.uint8)
        marked[100 + 50 * k : 300, 200:500] = 255
        blurred = image.copy()
        blurred[marked > 0] = 128
        for name, pixels in (("in", image), ("out", blurred), ("mask", marked)):
            media_io.write_image(run / f"{name}{k}.png", pixels)
        rows.append((f"image{k}", run / f"in{k}.png", run / f"out{k}.png", run / f"mask{k}.png", "ok"))
    rows.append(ImageRunRow("lost", tmp_path / "run" / "gone.png", None, (), "failed", "decoder error"))
    page = build_image_run_index(rows, tmp_path / "site" / "run.html", title="Anonymised", preview_size=200)
    text = page.read_text(encoding="utf-8")
    assert_valid_html(text)
    assert text.count("<tr data-name=") == 4
    assert 'href="../run/in0.png"' in text
    overlays = sorted((page.parent / "run_assets").glob("r*_m0.png"))
    assert len(overlays) == 3
    alpha = alpha_of(page.parent / "run_assets" / "r0_m0.png")
    assert alpha.shape == (150, 200)
    assert 0.05 < float(np.mean(alpha > 0)) < 0.2
    assert "decoder error" in text and "input: missing" in text
    with pytest.raises(ExportError):
        build_image_run_index([("a", None, None, None)], tmp_path / "x.html")


# ---- the server -------------------------------------------------------------------------------------


def test_server_serves_the_page_and_assets_on_loopback(demo_page: Path) -> None:
    with serving(demo_page.parent, port=0) as server:
        assert server.server_address[0] == "127.0.0.1"
        url = page_url(server, demo_page.name)
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.status == 200
            assert response.read() == demo_page.read_bytes()
        thumb = page_data(demo_page)["edges"][0]["mask"]["overlay"]
        with urllib.request.urlopen(url.rsplit("/", 1)[0] + "/" + thumb, timeout=10) as response:
            assert response.read() == (demo_page.parent / thumb).read_bytes()


@pytest.mark.parametrize(
    ("host", "ok"),
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("0.0.0.0", False),
        ("192.168.1.5", False),
        ("example.org", False),
    ],
)
def test_only_loopback_hosts(host: str, ok: bool) -> None:
    if ok:
        assert check_loopback(host)
    else:
        with pytest.raises(ConfigError):
            check_loopback(host)


# ---- the commands -------------------------------------------------------------------------------------


def test_view_command_writes_the_page(demo: Journal, tmp_path: Path) -> None:
    out = tmp_path / "site" / "demo.html"
    result = CliRunner().invoke(view_command, [str(demo.directory), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output
    assert_valid_html(out.read_text(encoding="utf-8"))
    assert (tmp_path / "site" / "demo_assets").is_dir()
    usage = CliRunner().invoke(view_command, [str(demo.directory), "--out", str(out), "--port", "9000"])
    assert usage.exit_code == 2 and "--port needs --serve" in usage.output


def test_batch_view_command_exits_1_when_a_journal_cannot_be_opened(projects: Path, tmp_path: Path) -> None:
    out = tmp_path / "index.html"
    result = CliRunner().invoke(batch_view_command, ["--projects", str(projects), "--out", str(out)])
    assert result.exit_code == 1
    assert "4 journals, 1 could not be opened" in result.output
    assert out.is_file() and (tmp_path / "index_journals" / "demo.html").is_file()


def test_view_command_serves_on_loopback_until_interrupted(demo: Journal) -> None:
    code = "from masksmith.cli.view_cmds import view_command; view_command()"
    command = [sys.executable, "-c", code, str(demo.directory), "--serve", "--port", "0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if line.startswith("serving "):
                break
        url = lines[-1].split()[1]
        assert url.startswith("http://127.0.0.1:") and url.endswith("/report.html"), lines
        with urllib.request.urlopen(url, timeout=10) as response:
            assert_valid_html(response.read().decode("utf-8"))
        folder = Path(
            next(line.split(" media in ")[1].rstrip(")\n") for line in lines if " media in " in line)
        )
        assert folder.is_dir()
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "stopped serving" in output
    assert not folder.exists()  # the temporary report is cleaned up
