"""Journal graph pictures: PNG pixels at the laid-out places, dashed donor edges, placeholders, SVG."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
from PIL import Image
from skimage import data

from masksmith.errors import ExportError
from masksmith.report.graph_image import (
    CATEGORY_COLOURS,
    NODE_TYPE_COLOURS,
    PLACEHOLDER_COLOUR,
    UNKNOWN_COLOUR,
    RenderedGraph,
    ThumbnailSource,
    draw_graph,
    edge_colour,
    render_graph_png,
    render_graph_svg,
    thumbnail_area,
)
from masksmith.report.layout import point_along

CATEGORIES = {"TransformResize": "Transform", "PasteSplice": "Paste", "Blur": "Filter", "OutputPng": "Output"}
SVG = "{http://www.w3.org/2000/svg}"


def journal() -> nx.DiGraph:
    """base → resize → paste (donor from a donor image two layers up) → output; a blur branch."""
    g = nx.DiGraph()
    g.add_node("astronaut", nodetype="base")
    g.add_node("coffee", nodetype="donor")
    g.add_node("astronaut_01", nodetype="interim")
    g.add_node("astronaut_02", nodetype="interim")
    g.add_node("astronaut_03", nodetype="final")
    g.add_node("astronaut_04", nodetype="final")
    g.add_edge("astronaut", "astronaut_01", op="TransformResize")
    g.add_edge("astronaut_01", "astronaut_02", op="PasteSplice")
    g.add_edge("coffee", "astronaut_02", op="Donor")
    g.add_edge("astronaut_02", "astronaut_03", op="OutputPng")
    g.add_edge("astronaut_01", "astronaut_04", op="Blur")
    return g


@pytest.fixture
def thumbs(tmp_path: Path) -> dict[str, ThumbnailSource]:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    chelsea = tmp_path / "chelsea.jpg"
    Image.fromarray(data.chelsea()).save(chelsea)
    return {
        "astronaut": data.astronaut(),
        "coffee": data.coffee(),
        "astronaut_01": chelsea,
        "astronaut_02": broken,
        "astronaut_03": data.camera(),
        "astronaut_04": tmp_path / "does-not-exist.png",
    }


def near(pixel: np.ndarray, colour: tuple[int, int, int], tol: int = 40) -> bool:
    return int(np.abs(pixel.astype(int) - np.array(colour)).sum()) <= tol


def test_png_reads_back_as_rgb_of_plausible_size(
    tmp_path: Path, thumbs: Mapping[str, ThumbnailSource]
) -> None:
    g = journal()
    out = render_graph_png(
        g, tmp_path / "g.png", thumbnails=thumbs, title="astronaut", category_of=CATEGORIES.get
    )
    assert out == tmp_path / "g.png"
    with Image.open(out) as img:
        assert img.mode == "RGB"
        pixels = np.asarray(img)
    drawn = draw_graph(g, thumbnails=thumbs, title="astronaut", category_of=CATEGORIES.get)
    np.testing.assert_array_equal(pixels, drawn.image)
    h, w = pixels.shape[:2]
    assert drawn.layout.width <= w <= drawn.layout.width + 200
    assert drawn.layout.height < h <= drawn.layout.height + 300
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.png", "chelsea.jpg", "g.png"]


@pytest.fixture
def drawn(thumbs: Mapping[str, ThumbnailSource]) -> RenderedGraph:
    return draw_graph(journal(), thumbnails=thumbs, category_of=CATEGORIES.get)


@pytest.mark.parametrize("node", list(journal().nodes))
def test_node_boxes_are_drawn_at_their_laid_out_place_in_their_type_colour(
    drawn: RenderedGraph, node: str
) -> None:
    colour = NODE_TYPE_COLOURS[journal().nodes[node]["nodetype"]]
    x0, y0, x1, y1 = drawn.node_box(node)
    cx, cy = drawn.to_pixel(drawn.layout.positions[node])
    assert x0 < cx < x1 and y0 < cy < y1
    img = drawn.image
    for x, y in [(x0, cy), (x1, cy), (cx, y1), (x0 + 3, y0 + 3), (x1 - 3, y0 + 3)]:
        assert tuple(img[y, x]) == colour, (x, y)
    # Just outside the box is background (or its drop shadow), not the type colour.
    assert tuple(img[cy, x0 - 2]) != colour


@pytest.mark.parametrize(
    ("node", "placeholder"),
    [
        ("astronaut", False),
        ("coffee", False),
        ("astronaut_01", False),
        ("astronaut_03", False),
        ("astronaut_02", True),
        ("astronaut_04", True),
    ],
)
def test_thumbnails_or_grey_placeholders(drawn: RenderedGraph, node: str, placeholder: bool) -> None:
    tx0, ty0, tx1, ty1 = thumbnail_area(drawn.node_box(node))
    area = drawn.image[ty0 : ty1 + 1, tx0 : tx1 + 1]
    corners = [area[2, 2], area[2, -3], area[-3, 2], area[-3, -3]]
    my, mx = area.shape[0] // 2, area.shape[1] // 2
    centre = area[my - 15 : my + 15, mx - 8 : mx + 8]
    if placeholder:
        assert all(tuple(c) == PLACEHOLDER_COLOUR for c in corners)
    else:
        assert not all(tuple(c) == PLACEHOLDER_COLOUR for c in corners)
        assert centre.astype(float).std() > 10  # real picture content


def samples(drawn: RenderedGraph, edge: tuple[str, str], start: float, stop: float) -> np.ndarray:
    path = drawn.layout.edge_paths[edge]
    pts = [drawn.to_pixel(point_along(path, f)) for f in np.linspace(start, stop, 300)]
    return np.array([drawn.image[y, x] for x, y in dict.fromkeys(pts)])


def runs_of(mask: np.ndarray) -> int:
    return int(np.count_nonzero(mask[1:] != mask[:-1]))


def test_donor_edge_is_dashed_and_operation_edges_are_solid(drawn: RenderedGraph) -> None:
    donor = CATEGORY_COLOURS["Donor"]
    along = samples(drawn, ("coffee", "astronaut_02"), 0.05, 0.3)
    on = np.array([near(p, donor, 60) for p in along])
    assert on.sum() > 0.3 * len(on) and (~on).sum() > 0.15 * len(on)
    assert runs_of(on) >= 6  # several dashes and gaps

    paste = CATEGORY_COLOURS["Paste"]
    solid = samples(drawn, ("astronaut_01", "astronaut_02"), 0.05, 0.35)
    assert all(near(p, paste, 60) for p in solid)


def test_arrowhead_is_filled_at_the_target(drawn: RenderedGraph) -> None:
    path = drawn.layout.edge_paths[("astronaut_01", "astronaut_02")]
    (ax, ay), (bx, by) = (drawn.to_pixel(p) for p in path[-2:])
    ux, uy = np.array([bx - ax, by - ay]) / np.hypot(bx - ax, by - ay)
    colour = CATEGORY_COLOURS["Paste"]
    for back in range(4, 11):
        for side in (-1, 0, 1):
            x, y = round(bx - ux * back - uy * side), round(by - uy * back + ux * side)
            assert near(drawn.image[y, x], colour, 60), (back, side)
    for side in (-14, 14):  # wider than the head: background
        x, y = round(bx - ux * 6 - uy * side), round(by - uy * 6 + ux * side)
        assert not near(drawn.image[y, x], colour, 60)


@pytest.mark.parametrize(
    ("op", "lookup", "expected"),
    [
        ("PasteSplice", CATEGORIES.get, CATEGORY_COLOURS["Paste"]),
        ("Blur", CATEGORIES.get, CATEGORY_COLOURS["Filter"]),
        ("Blur", None, UNKNOWN_COLOUR),
        ("TransformRotate", None, CATEGORY_COLOURS["Transform"]),
        ("AntiForensicDither", None, CATEGORY_COLOURS["AntiForensic"]),
        ("Mystery", CATEGORIES.get, UNKNOWN_COLOUR),
        ("Donor", CATEGORIES.get, CATEGORY_COLOURS["Donor"]),
        ("Blur", lambda op: 1 / 0, UNKNOWN_COLOUR),  # a failing lookup gives grey, not a crash
    ],
)
def test_edge_colour_by_category(op: str, lookup: object, expected: tuple[int, int, int]) -> None:
    assert edge_colour(op, lookup) == expected  # type: ignore[arg-type]


def test_odd_thumbnail_arrays_are_drawn_and_bad_ones_become_placeholders() -> None:
    g = nx.DiGraph([("a", "b"), ("b", "c"), ("c", "d"), ("d", "e")])
    rgba = np.zeros((40, 60, 4), np.uint8)  # fully transparent: white
    deep = (data.camera().astype(np.uint16) * 257)[:, :, None].repeat(3, axis=2)
    thumbs = {"a": rgba, "b": deep, "c": np.zeros(5, np.uint8), "d": data.camera().astype(np.float64) / 255}
    before = {k: v.copy() for k, v in thumbs.items()}
    drawn = draw_graph(g, thumbnails=thumbs)
    for k, v in thumbs.items():
        np.testing.assert_array_equal(v, before[k])

    def area(n: str) -> np.ndarray:
        tx0, ty0, tx1, ty1 = thumbnail_area(drawn.node_box(n))
        return drawn.image[ty0 : ty1 + 1, tx0 : tx1 + 1]

    mid = area("a")[area("a").shape[0] // 2, area("a").shape[1] // 2]
    assert tuple(mid) == (255, 255, 255)
    assert area("b").astype(float).std() > 20 and area("d").astype(float).std() > 20
    assert tuple(area("c")[2, 2]) == PLACEHOLDER_COLOUR


def test_the_picture_grows_with_the_graph() -> None:
    small = draw_graph(nx.path_graph(2, create_using=nx.DiGraph)).image
    tall = draw_graph(nx.path_graph(8, create_using=nx.DiGraph)).image
    wide = draw_graph(nx.star_graph(6, create_using=nx.DiGraph)).image
    assert tall.shape[0] > small.shape[0] + 5 * 150
    assert wide.shape[1] > small.shape[1] + 4 * 180


def test_writing_into_a_missing_folder_is_an_export_error(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="write failed"):
        render_graph_png(journal(), tmp_path / "nope" / "g.png")


def test_svg_is_valid_xml_with_one_group_per_node_and_one_path_per_edge() -> None:
    g = journal()
    svg = render_graph_svg(g, title="A & B <journal>", category_of=CATEGORIES.get)
    root = ET.fromstring(svg)
    nodes = [e for e in root.iter() if "data-node-id" in e.attrib]
    edges = [e for e in root.iter() if "data-edge" in e.attrib]
    assert all(e.tag == f"{SVG}g" for e in nodes) and all(e.tag == f"{SVG}path" for e in edges)
    assert sorted(e.attrib["data-node-id"] for e in nodes) == sorted(g.nodes)
    assert sorted(e.attrib["data-edge"] for e in edges) == sorted(f"{u}->{v}" for u, v in g.edges)
    by_edge = {e.attrib["data-edge"]: e for e in edges}
    assert by_edge["coffee->astronaut_02"].attrib.get("stroke-dasharray")
    assert "stroke-dasharray" not in by_edge["astronaut_01->astronaut_02"].attrib
    assert by_edge["astronaut_01->astronaut_02"].attrib["stroke"] == "#{:02x}{:02x}{:02x}".format(
        *CATEGORY_COLOURS["Paste"]
    )
    title = next(e for e in root.iter(f"{SVG}text") if e.attrib.get("class") == "title")
    assert title.text == "A & B <journal>"


def test_svg_escapes_awkward_ids_and_ops() -> None:
    awkward = "a<b>&\"c'\x01"
    g = nx.DiGraph()
    g.add_node(awkward, nodetype="base")
    g.add_node("x", nodetype='fin"al<')
    g.add_edge(awkward, "x", op="Op<&>")
    root = ET.fromstring(render_graph_svg(g, thumbnail_hrefs={"x": "thumbs/x.png?a=1&b=2"}))
    ids = {e.attrib["data-node-id"] for e in root.iter() if "data-node-id" in e.attrib}
    assert ids == {"a<b>&\"c'\ufffd", "x"}
    edge = next(e for e in root.iter() if "data-edge" in e.attrib)
    assert edge.attrib["data-op"] == "Op<&>"
    image = next(root.iter(f"{SVG}image"))
    assert image.attrib["href"] == "thumbs/x.png?a=1&b=2"


def test_svg_uses_given_positions() -> None:
    g = journal()
    positions = {n: (100.0 + 300.0 * k, 100.0 + 200.0 * k) for k, n in enumerate(g.nodes)}
    root = ET.fromstring(render_graph_svg(g, positions=positions))
    groups = {
        e.attrib["data-node-id"]: e.attrib["transform"] for e in root.iter() if "data-node-id" in e.attrib
    }
    xs = [float(groups[n].split("(")[1].split(",")[0]) for n in g.nodes]
    assert np.allclose(np.diff(xs), 300.0)
    with pytest.raises(ExportError, match="positions lack"):
        render_graph_svg(g, positions={"astronaut": (0.0, 0.0)})
