"""The viewer in a real headless Chromium (Debian's ``chromium``), driven by Playwright's Python package.

Every page is opened with all network access outside ``file://`` and the loopback server blocked and
recorded. Screenshots go to ``test-artifacts/viewer/`` (gitignored) for a human to look at.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect, sync_playwright

from masksmith.cli.demo import build_demo
from masksmith.journal.project import Journal
from masksmith.media import io as media_io
from masksmith.report.index import ImageRunRow, build_batch_index, build_image_run_index
from masksmith.report.serve import page_url, serving
from masksmith.report.viewer import build_report
from tests.report.viewer_journals import probes_for_finals, synthetic_journal

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "viewer"
RENDER_BUDGET_MS = 2000.0

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="browser tests need Debian's chromium at /usr/bin/chromium (apt-get install chromium)",
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


class Offline:
    """A browser context where only file:// and loopback requests go through; others are recorded."""

    def __init__(self, browser: Browser) -> None:
        self.context: BrowserContext = browser.new_context(viewport={"width": 1400, "height": 900})
        self.blocked: list[str] = []
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.context.route("**/*", self._route)
        self.context.on("request", lambda request: self.requests.append(request.url))

    def _route(self, route: Route) -> None:
        url = route.request.url
        parts = urlsplit(url)
        if parts.scheme in ("file", "data", "blob") or parts.hostname in ("127.0.0.1", "localhost", "::1"):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()

    def open(self, url: str) -> Page:
        page = self.context.new_page()
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.goto(url)
        page.wait_for_function("document.body.dataset.ready === 'true'")
        return page

    def assert_offline(self) -> None:
        assert self.blocked == []
        assert self.errors == []
        assert self.requests, "no request was seen at all"
        for url in self.requests:
            parts = urlsplit(url)
            assert parts.scheme == "file" or parts.hostname == "127.0.0.1", url


@pytest.fixture
def offline(browser: Browser) -> Iterator[Offline]:
    guard = Offline(browser)
    yield guard
    guard.context.close()


def test_the_network_guard_sees_remote_requests(offline: Offline, tmp_path: Path) -> None:
    page_path = tmp_path / "remote.html"
    page_path.write_text(
        '<!DOCTYPE html><html lang="en"><head><title>t</title></head><body>'
        '<img src="https://example.invalid/x.png" alt="x">'
        '<script>document.body.dataset.ready = "true";</script></body></html>',
        encoding="utf-8",
    )
    offline.open(page_path.as_uri()).wait_for_timeout(200)
    assert offline.blocked == ["https://example.invalid/x.png"]
    with pytest.raises(AssertionError):
        offline.assert_offline()


def shoot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Journal:
    return build_demo(tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="module")
def demo_page(demo: Journal, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site") / "demo report.html"  # a space in the name on purpose
    build_report(demo, out, probes=probes_for_finals(demo))
    return out


def overlay_shown(page: Page, selector: str) -> bool:
    """The overlay image is displayed, decoded and covers its base image."""
    return bool(
        page.evaluate(
            """(selector) => {
                const o = document.querySelector(selector);
                if (!o || o.hidden || getComputedStyle(o).display === 'none') return false;
                const base = o.parentElement.querySelector('img:not(.overlay)');
                const a = o.getBoundingClientRect(), b = base.getBoundingClientRect();
                return o.complete && o.naturalWidth > 0 && Math.abs(a.width - b.width) < 1
                    && Math.abs(a.height - b.height) < 1 && a.width > 50;
            }""",
            selector,
        )
    )


def test_click_an_edge_shows_its_mask_overlay_and_toggles_it(
    offline: Offline, demo: Journal, demo_page: Path
) -> None:
    page = offline.open(demo_page.as_uri())
    start, end = next((s, t) for s, t, d in demo.graph.edges() if d["op"] == "PasteSplice")
    page.click(f'[data-edge-label="{start}->{end}"]')
    expect(page.locator("#details-heading")).to_have_text("Operation PasteSplice")
    overlay = page.locator("#mask-overlay")
    expect(overlay).to_be_visible()
    page.wait_for_function("document.querySelector('#mask-overlay').complete")
    assert overlay_shown(page, "#mask-overlay")
    expect(page.locator(".side-by-side figure")).to_have_count(2)
    expect(page.locator("#edge-arguments")).to_contain_text("purpose")
    assert page.evaluate("location.hash") == f"#edge={start}-%3E{end}"
    shoot(page, "journal-edge-mask-on")

    page.get_by_label("Show change mask").uncheck()
    expect(overlay).to_be_hidden()
    assert not overlay_shown(page, "#mask-overlay")
    shoot(page, "journal-edge-mask-off")
    page.get_by_label("Show change mask").check()
    expect(overlay).to_be_visible()
    offline.assert_offline()


def test_click_a_final_node_shows_image_attributes_and_probes(
    offline: Offline, demo: Journal, demo_page: Path
) -> None:
    page = offline.open(demo_page.as_uri())
    shoot(page, "journal-overview")
    final = demo.graph.final_nodes()[0]
    page.click(f'g.node[data-node-id="{final}"]')
    expect(page.locator("#details-heading")).to_have_text(f"Node {final}")
    expect(page.locator("#node-attributes")).to_contain_text(str(demo.graph.node(final)["file"]))
    expected = len([p for p in probes_for_finals(demo) if p.final_node_id == final])
    expect(page.locator("li.probe")).to_have_count(expected)
    page.wait_for_function("[...document.querySelectorAll('#probes img')].every(i => i.complete)")
    assert overlay_shown(page, "#probe-overlay-0")
    page.get_by_label("Show probe mask").first.uncheck()
    expect(page.locator("#probe-overlay-0")).to_be_hidden()
    page.get_by_label("Show probe mask").first.check()
    page.locator("#probes").scroll_into_view_if_needed()
    shoot(page, "journal-final-node-probes")
    offline.assert_offline()


def test_keyboard_reaches_nodes_and_deep_links_work(offline: Offline, demo: Journal, demo_page: Path) -> None:
    base = demo.graph.base_node()
    page = offline.open(demo_page.as_uri() + f"#node={base}")
    expect(page.locator("#details-heading")).to_have_text(f"Node {base}")
    page.focus(f'g.node[data-node-id="{demo.graph.final_nodes()[0]}"]')
    page.keyboard.press("Enter")
    expect(page.locator("#details-heading")).to_have_text(f"Node {demo.graph.final_nodes()[0]}")
    start, end, data = next(iter(demo.graph.edges()))
    page.dispatch_event(f'path.edge-hit[data-edge-hit="{start}->{end}"]', "click")  # the wide hit area
    expect(page.locator("#details-heading")).to_have_text(f"Operation {data['op']}")
    labels = page.eval_on_selector_all("g.node", "nodes => nodes.map(n => n.getAttribute('aria-label'))")
    assert len(labels) == demo.graph.graph.number_of_nodes() and all(
        label.startswith("Node ") for label in labels
    )
    offline.assert_offline()


def test_probe_panel_says_when_probes_are_unavailable(
    offline: Offline, demo: Journal, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from masksmith.report import viewer

    monkeypatch.setattr(viewer, "probe_function", lambda: None)
    page_path = build_report(demo, tmp_path / "r.html").html
    page = offline.open(page_path.as_uri())
    page.click(f'g.node[data-node-id="{demo.graph.final_nodes()[0]}"]')
    expect(page.locator("#probes #probe-status")).to_contain_text("not available")
    offline.assert_offline()


def test_served_page_works_the_same(offline: Offline, demo: Journal, demo_page: Path) -> None:
    with serving(demo_page.parent, port=0) as server:
        page = offline.open(page_url(server, demo_page.name))
        start, end, _ = next(iter(demo.graph.edges()))
        page.click(f'[data-edge-label="{start}->{end}"]')
        page.wait_for_function("document.querySelector('#mask-overlay').complete")
        assert overlay_shown(page, "#mask-overlay")
        assert any(url.startswith("http://127.0.0.1") for url in offline.requests)
        offline.assert_offline()


# ---- the batch index ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def batch_index(demo: Journal, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("projects")
    shutil.copytree(demo.directory, root / "demo")
    scratch = tmp_path_factory.mktemp("synthetic")
    for k, nodes in enumerate((9, 14)):
        journal = synthetic_journal(
            scratch, np.random.default_rng(k), nodes=nodes, branches=3, name=f"synth{k}"
        )
        shutil.copytree(journal.directory, root / f"synth{k}")
    (root / "broken").mkdir()
    (root / "broken" / "broken.json").write_text("[]", encoding="utf-8")
    return build_batch_index(root, tmp_path_factory.mktemp("site") / "index.html").html


def visible_names(page: Page) -> list[str]:
    return page.eval_on_selector_all(
        "#journal-table tbody tr:not([hidden])", "rows => rows.map(r => r.dataset.name)"
    )


def test_batch_index_filters_by_operation_and_follows_a_link(offline: Offline, batch_index: Path) -> None:
    page = offline.open(batch_index.as_uri())
    assert visible_names(page) == ["broken", "demo", "synth0", "synth1"]
    shoot(page, "batch-index")
    page.get_by_label("Operation used").fill("PasteSplice")
    expect(page.locator("#shown-count")).to_have_text("1 of 4 journals shown")
    assert visible_names(page) == ["demo"]
    shoot(page, "batch-index-filtered")
    page.get_by_label("Operation used").fill("blur")
    assert visible_names(page) == ["demo", "synth0", "synth1"]
    page.get_by_label("Operation used").fill("Blur")
    page.click("#journal-table tbody tr:not([hidden]) a.journal-link >> nth=0")
    page.wait_for_function("document.body.dataset.ready === 'true' && !!window.masksmithViewer")
    expect(page.locator("h1")).to_have_text("demo")
    page.click("#back-to-index")
    page.wait_for_function("document.body.dataset.ready === 'true' && !window.masksmithViewer")
    offline.assert_offline()


def test_batch_index_sorts_by_node_count(offline: Offline, batch_index: Path) -> None:
    page = offline.open(batch_index.as_uri())
    page.get_by_role("button", name="Nodes").click()
    assert visible_names(page) == ["broken", "demo", "synth0", "synth1"]
    page.get_by_role("button", name="Nodes").click()
    assert visible_names(page) == ["synth1", "synth0", "demo", "broken"]
    expect(page.locator("th[aria-sort=descending]")).to_have_text("Nodes")
    offline.assert_offline()


def test_image_run_index_toggles_mask_overlays(offline: Offline, tmp_path: Path) -> None:
    from skimage import data

    image = data.astronaut()
    marked = np.zeros(image.shape[:2], np.uint8)
    marked[40:220, 150:330] = 255  # the face
    blurred = image.copy()
    blurred[marked > 0] = (blurred[marked > 0] // 32) * 32
    for name, pixels in (("in.png", image), ("out.png", blurred), ("mask.png", marked)):
        media_io.write_image(tmp_path / name, pixels)
    rows = [
        ImageRunRow("astronaut", tmp_path / "in.png", tmp_path / "out.png", (tmp_path / "mask.png",), "ok"),
        ("missing", tmp_path / "nope.png", None, None, "failed", "input not found"),
    ]
    page_path = build_image_run_index(rows, tmp_path / "site" / "run.html", title="Face blur run")
    page = offline.open(page_path.as_uri())
    page.wait_for_function("document.querySelector('#overlay-0-0').complete")
    assert overlay_shown(page, "#overlay-0-0")
    shoot(page, "image-run-index")
    page.get_by_label("mask.png").uncheck()
    expect(page.locator("#overlay-0-0")).to_be_hidden()
    offline.assert_offline()


# ---- a large journal -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> tuple[Journal, Path]:
    journal = synthetic_journal(
        tmp_path_factory.mktemp("big"), np.random.default_rng(200), nodes=200, branches=10, name="big"
    )
    return journal, build_report(journal, tmp_path_factory.mktemp("site") / "big.html", probes=[]).html


def test_a_200_node_journal_renders_within_budget(offline: Offline, big: tuple[Journal, Path]) -> None:
    """Navigation start to rendered page (HTML parsed, SVG laid out, script run, two frames painted)."""
    journal, big_page = big
    timings = []
    page = None
    for _ in range(3):  # best of three: the machine is shared, a single slow load says little
        page = offline.open(big_page.as_uri())
        timings.append(float(page.evaluate("window.masksmithViewer.timings.rendered")))
        expect(page.locator("g.node")).to_have_count(200)
        if timings[-1] < RENDER_BUDGET_MS:
            break
        page.close()
    assert page is not None
    print(f"200-node render times (ms): {[round(t) for t in timings]}")
    assert min(timings) < RENDER_BUDGET_MS
    expect(page.locator(".edge-hit")).to_have_count(199)
    start, end, _ = list(journal.graph.edges())[50]
    page.click(f'[data-edge-label="{start}->{end}"]')
    expect(page.locator("#details-heading")).to_contain_text("Operation")
    shoot(page, "journal-200-nodes")
    offline.assert_offline()
