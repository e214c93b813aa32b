"""The viewer's newer behaviour in headless Chromium: fit in both directions, findings, given masks,
matrices, and image-run reports that show every output with labelled masks and the images with nothing found.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright
from skimage import data

from masksmith.cli.demo import build_demo
from masksmith.media import io as media_io
from masksmith.report.index import build_image_run_index, journal_run_rows
from masksmith.report.viewer import build_report
from tests.report.test_viewer_browser import ARGS, CHROMIUM, Offline

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="browser tests need Debian's chromium")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def offline(browser: Browser) -> Iterator[Offline]:
    guard = Offline(browser)
    yield guard
    guard.context.close()


@pytest.fixture(scope="module")
def demo_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("demo")
    journal = build_demo(root)
    return build_report(journal, root / "journal.html").html


def _inside(box: dict[str, float], frame: dict[str, float]) -> bool:
    return (
        box["x"] >= frame["x"] - 1
        and box["y"] >= frame["y"] - 1
        and box["x"] + box["width"] <= frame["x"] + frame["width"] + 1
        and box["y"] + box["height"] <= frame["y"] + frame["height"] + 1
    )


def test_fit_shows_the_whole_graph_in_both_directions(offline: Offline, demo_page: Path) -> None:
    page = offline.context.new_page()
    page.set_viewport_size({"width": 1400, "height": 640})  # shorter than the graph at full size
    page.on("pageerror", lambda error: offline.errors.append(str(error)))
    page.goto(demo_page.as_uri())
    page.wait_for_function("document.body.dataset.ready === 'true'")
    page.click("#zoom-in")
    page.click("#zoom-in")
    page.click("#zoom-fit")
    frame = page.locator("#graph-scroll").bounding_box()
    assert frame is not None
    nodes = page.locator("#graph-svg g.node")
    assert nodes.count() == 7
    for k in range(nodes.count()):
        box = nodes.nth(k).bounding_box()
        assert box is not None and _inside(box, frame), (k, box, frame)
    scroller = page.evaluate(
        "() => { const s = document.getElementById('graph-scroll'); "
        "return [s.scrollHeight - s.clientHeight, s.scrollWidth - s.clientWidth]; }"
    )
    assert max(scroller) <= 2  # nothing left to scroll to
    offline.assert_offline()


def test_findings_beside_the_graph_and_on_the_edge(offline: Offline, demo_page: Path) -> None:
    page = offline.open(demo_page.as_uri())
    summary = page.locator("#journal-findings li")
    assert summary.count() == 1
    assert "WARNING" in summary.first.inner_text() and "check_local_warn" in summary.first.inner_text()
    assert "1 warning" in page.locator("#validation-status").inner_text()
    marked = page.locator("#graph-svg .finding-warning")
    assert marked.count() >= 1
    assert (
        page.locator(
            '#graph-svg g.edge-label.finding-warning[data-edge-label="coffee_resized_03->coffee_blurred_05"]'
        ).count()
        == 1
    )
    summary.first.locator("button").click()
    assert page.locator("#details-heading").inner_text() == "Operation Blur"
    assert "check_local_warn" in page.locator("#edge-findings").inner_text()
    offline.assert_offline()


def test_input_mask_shown_as_an_image(offline: Offline, demo_page: Path) -> None:
    page = offline.open(demo_page.as_uri() + "#edge=coffee_resized_03->coffee_blurred_05")
    figure = page.locator("#given-masks figure")
    assert figure.count() == 1
    assert "input mask (inputmaskname)" in figure.inner_text()
    size = page.evaluate(
        "() => { const i = document.getElementById('given-mask-0'); return [i.naturalWidth, i.naturalHeight]; }"
    )
    assert size == [405, 270]  # the resized image's size: the mask is the real file, drawn
    offline.assert_offline()


def test_transform_matrix_is_a_small_table(offline: Offline, demo_page: Path) -> None:
    page = offline.open(demo_page.as_uri() + "#edge=coffee_blurred_05->coffee_pasted_10")
    rows = page.locator("#edge-arguments table.matrix tr")
    assert rows.count() == 3
    assert [c.strip() for c in rows.nth(0).locator("td").all_inner_texts()] == ["1", "0", "-120"]
    assert [c.strip() for c in rows.nth(2).locator("td").all_inner_texts()] == ["0", "0", "1"]
    offline.assert_offline()


def test_facemask_report_shows_every_output_and_the_images_without_a_face(
    offline: Offline, tmp_path: Path
) -> None:
    pytest.importorskip("dlib")
    from masksmith.facemask.pipeline import augment_faces

    photos = tmp_path / "photos"
    photos.mkdir()
    media_io.write_image(photos / "astronaut.png", data.astronaut())
    media_io.write_image(photos / "coffee.png", data.coffee())
    out = tmp_path / "out"
    summary = augment_faces(
        photos, out, n_augmentations=2, seed=1, journal=True, progress=False, crop_styles=["buffalo"]
    )
    missed = summary.missed_path.read_text().splitlines()
    page_path = build_image_run_index(
        journal_run_rows(out, missed=missed), tmp_path / "report.html", edge_masks=True
    )
    page = offline.context.new_page()  # the run page has no viewer script to wait for
    page.goto(page_path.as_uri())
    rows = page.locator("#run-table tbody tr")
    assert rows.count() == 3  # two masked variants of the one face, and the photo without a face
    texts = rows.all_inner_texts()
    assert sum("OverlayFaceMask: " in t for t in texts) == 2
    assert any("coffee.png" in t and "nothing found" in t for t in texts)
    assert all(
        ".png" not in label for label in page.locator("label.toggle").all_inner_texts()
    )  # labels, not hashes
    offline.assert_offline()
