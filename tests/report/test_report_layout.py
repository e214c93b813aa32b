"""Layered journal layout: geometry invariants, determinism, errors and the positions CSV."""

from __future__ import annotations

import csv
import itertools
from collections.abc import Hashable
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from masksmith.errors import ExportError, JournalError
from masksmith.report.files import export_positions_csv
from masksmith.report.layout import (
    compute_layout,
    layered_layout,
    natural_key,
    place_edge_labels,
)

W, H, HG, VG = 180.0, 150.0, 50.0, 80.0


def journal_graph() -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_node("base", nodetype="base")
    g.add_node("donor", nodetype="donor")
    for node in ("b_01", "b_02", "b_03"):
        g.add_node(node, nodetype="interim")
    for node in ("b_04", "b_05"):
        g.add_node(node, nodetype="final")
    for u, v, op in [
        ("base", "b_01", "TransformResize"),
        ("b_01", "b_02", "PasteSplice"),
        ("donor", "b_02", "Donor"),
        ("b_02", "b_04", "OutputPng"),
        ("b_01", "b_03", "Blur"),
        ("b_03", "b_05", "OutputPng"),
        ("base", "b_05", "Donor"),
    ]:
        g.add_edge(u, v, op=op)
    return g


def random_dag(n: int, seed: int, *, reach: int | None = None) -> nx.DiGraph:
    """Random DAG on 0..n-1; each node gets 1-2 predecessors among the ``reach`` previous ones."""
    rng = np.random.default_rng(seed)
    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    for i in range(1, n):
        lo = 0 if reach is None else max(0, i - reach)
        for p in rng.integers(lo, i, size=int(rng.integers(1, 3))):
            g.add_edge(int(p), i)
    return g


def graphs() -> dict[str, nx.DiGraph]:
    chain = nx.DiGraph([("a", "b"), ("b", "c"), ("c", "d")])
    diamond = nx.DiGraph([("r", "x"), ("r", "y"), ("x", "z"), ("y", "z"), ("r", "z")])
    disconnected = nx.disjoint_union(journal_graph(), diamond)
    disconnected.add_node("lonely")
    return {
        "chain": chain,
        "journal": journal_graph(),
        "diamond": diamond,
        "disconnected": disconnected,
        "random_long_edges_300": random_dag(300, 7),
        "random_local_250": random_dag(250, 3, reach=6),
    }


GRAPHS = graphs()


def lay(g: nx.DiGraph) -> dict[Hashable, tuple[float, float]]:
    return layered_layout(g, node_size=(W, H), h_gap=HG, v_gap=VG)


@pytest.mark.parametrize("name", list(GRAPHS))
def test_every_node_sits_below_all_its_predecessors(name: str) -> None:
    g = GRAPHS[name]
    pos = lay(g)
    assert set(pos) == set(g.nodes)
    for u, v in g.edges:
        assert pos[v][1] >= pos[u][1] + H + VG - 1e-9, (u, v)


@pytest.mark.parametrize("name", list(GRAPHS))
def test_roots_are_on_the_top_row_and_nothing_else_is(name: str) -> None:
    g = GRAPHS[name]
    pos = lay(g)
    top = min(y for _, y in pos.values())
    assert top == pytest.approx(H / 2)
    for n in g.nodes:
        assert (pos[n][1] == pytest.approx(top)) == (g.in_degree(n) == 0), n


@pytest.mark.parametrize("name", list(GRAPHS))
def test_no_two_node_boxes_overlap_and_all_fits_the_extent(name: str) -> None:
    layout = compute_layout(GRAPHS[name], node_size=(W, H), h_gap=HG, v_gap=VG)
    xy = np.array(list(layout.positions.values()))
    dx = np.abs(xy[:, None, 0] - xy[None, :, 0])
    dy = np.abs(xy[:, None, 1] - xy[None, :, 1])
    overlapping = (dx < W + HG - 1e-6) & (dy < H) & ~np.eye(len(xy), dtype=bool)
    assert not overlapping.any()
    lane_xs = [x for path in layout.edge_paths.values() for x, _ in path]
    assert min([*(xy[:, 0] - W / 2), *lane_xs]) == pytest.approx(0.0, abs=1e-6)
    assert max([*(xy[:, 0] + W / 2), *lane_xs]) == pytest.approx(layout.width)
    assert (xy[:, 1] + H / 2).max() == pytest.approx(layout.height)


@pytest.mark.parametrize("name", list(GRAPHS))
def test_layout_does_not_depend_on_insertion_order(name: str) -> None:
    g = GRAPHS[name]
    rng = np.random.default_rng(11)
    shuffled = nx.DiGraph()
    nodes = list(g.nodes(data=True))
    edges = list(g.edges(data=True))
    for k in rng.permutation(len(nodes)):
        shuffled.add_node(nodes[k][0], **nodes[k][1])
    for k in rng.permutation(len(edges)):
        shuffled.add_edge(edges[k][0], edges[k][1], **edges[k][2])
    assert lay(shuffled) == lay(g)
    assert lay(g) == lay(g)


def test_layers_are_longest_paths_from_a_root_on_a_300_node_dag() -> None:
    g = GRAPHS["random_long_edges_300"]
    layout = compute_layout(g, node_size=(W, H), h_gap=HG, v_gap=VG)
    for n in nx.topological_sort(g):
        preds = list(g.predecessors(n))
        expected = 1 + max(layout.layers[p] for p in preds) if preds else 0
        assert layout.layers[n] == expected
        assert layout.positions[n][1] == pytest.approx(H / 2 + expected * (H + VG))
    assert layout.height == pytest.approx(max(layout.layers.values()) * (H + VG) + H)


@pytest.mark.parametrize("name", ["journal", "diamond", "random_long_edges_300"])
def test_edge_paths_leave_the_source_bottom_enter_the_target_top_and_avoid_boxes(name: str) -> None:
    g = GRAPHS[name]
    layout = compute_layout(g, node_size=(W, H), h_gap=HG, v_gap=VG)
    boxes = np.array([layout.node_box(n) for n in g.nodes])
    assert set(layout.edge_paths) == set(g.edges)
    for (u, v), path in layout.edge_paths.items():
        ux0, _, ux1, uy1 = layout.node_box(u)
        vx0, vy0, vx1, _ = layout.node_box(v)
        assert path[0][1] == pytest.approx(uy1) and ux0 < path[0][0] < ux1
        assert path[-1][1] == pytest.approx(vy0) and vx0 < path[-1][0] < vx1
        for x, y in path[1:-1]:  # bends of long edges run in lanes between boxes
            inside = (boxes[:, 0] < x) & (x < boxes[:, 2]) & (boxes[:, 1] < y) & (y < boxes[:, 3])
            assert not inside.any(), ((u, v), (x, y))


def test_barycentre_ordering_removes_an_avoidable_crossing() -> None:
    # By id, child "c_a" would come first, but it hangs under the right-hand root.
    g = nx.DiGraph([("r1", "c_z"), ("r2", "c_a")])
    g.add_edge("r1", "r2_sibling")  # keep both roots in one component
    g.add_edge("r2", "r2_sibling")
    pos = lay(g)
    assert pos["r1"][0] < pos["r2"][0]
    assert pos["c_z"][0] < pos["c_a"][0]


def test_a_chain_is_drawn_straight_down() -> None:
    pos = lay(GRAPHS["chain"])
    assert len({x for x, _ in pos.values()}) == 1


@pytest.mark.parametrize(
    ("nodes", "roots", "left_to_right"),
    [
        ([("a_donor", "donor"), ("z_base", "base")], None, ["z_base", "a_donor"]),
        ([("a", "interim"), ("b", "interim")], None, ["a", "b"]),
        ([("a", "base"), ("b", "base"), ("c", "base")], ["c", "a"], ["c", "a", "b"]),
    ],
)
def test_root_order_bases_first_then_listed_roots(
    nodes: list[tuple[str, str]], roots: list[str] | None, left_to_right: list[str]
) -> None:
    g = nx.DiGraph()
    for n, t in nodes:
        g.add_node(n, nodetype=t)
    pos = layered_layout(g, roots=roots)
    assert sorted(pos, key=lambda n: pos[n][0]) == left_to_right


def test_donor_root_is_drawn_beside_the_base_in_one_component() -> None:
    pos = lay(journal_graph())
    assert pos["base"][1] == pos["donor"][1]
    assert pos["base"][0] != pos["donor"][0]


@pytest.mark.parametrize(
    ("edges", "named"),
    [
        ([("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")], {"a", "b", "c"}),
        ([("x", "x")], {"x"}),
        ([("s", "p"), ("p", "q"), ("q", "p")], {"p", "q"}),
    ],
)
def test_a_cycle_is_rejected_naming_its_nodes(edges: list[tuple[str, str]], named: set[str]) -> None:
    with pytest.raises(JournalError, match="cycle") as info:
        layered_layout(nx.DiGraph(edges))
    assert set(info.value.context["cycle"]) == named
    for n in named:
        assert n in str(info.value)
    assert info.value.node in named


@pytest.mark.parametrize(
    ("roots", "message"),
    [(["b_01"], "predecessors"), (["nowhere"], "not a node")],
)
def test_bad_roots_are_rejected(roots: list[str], message: str) -> None:
    with pytest.raises(JournalError, match=message) as info:
        layered_layout(journal_graph(), roots=roots)
    assert info.value.node == roots[0]
    assert info.value.argument == "roots"


@pytest.mark.parametrize(
    "kwargs", [{"node_size": (0, 10)}, {"node_size": (10, -1)}, {"h_gap": -1.0}, {"v_gap": -5.0}]
)
def test_bad_sizes_are_rejected(kwargs: dict[str, object]) -> None:
    with pytest.raises(JournalError, match="positive"):
        layered_layout(journal_graph(), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("graph", [nx.Graph([(1, 2)]), nx.MultiDiGraph([(1, 2), (1, 2)])])
def test_only_plain_directed_graphs_are_accepted(graph: nx.Graph) -> None:
    with pytest.raises(JournalError, match="DiGraph"):
        layered_layout(graph)


def test_empty_graph_has_an_empty_layout() -> None:
    layout = compute_layout(nx.DiGraph())
    assert layout.positions == {} and layout.width == 0 and layout.height == 0


def test_natural_key_orders_numbers_by_value_and_mixed_ids_totally() -> None:
    ids: list[Hashable] = ["img_10", "img_2", 3, "3", "img_02", 10]
    ordered = sorted(ids, key=natural_key)
    assert ordered.index("img_2") < ordered.index("img_10")
    assert ordered.index(3) < ordered.index(10)
    assert sorted(reversed(ids), key=natural_key) == ordered


def test_the_layout_does_not_change_the_graph() -> None:
    g = journal_graph()
    before = nx.node_link_data(g, edges="links")
    compute_layout(g)
    assert nx.node_link_data(g, edges="links") == before


@pytest.mark.parametrize("name", ["journal", "disconnected", "random_local_250"])
def test_positions_csv_rows_match_positions(tmp_path: Path, name: str) -> None:
    g = GRAPHS[name]
    pos = lay(g)
    out = export_positions_csv(pos, tmp_path / f"{name}.csv")
    with out.open(newline="") as fh:
        rows = list(csv.reader(fh))
    assert len(rows) == len(pos)
    by_id = {str(n): xy for n, xy in pos.items()}
    for node_id, x, y in rows:
        assert float(x) == pytest.approx(by_id[node_id][0], abs=1e-3)
        assert float(y) == pytest.approx(by_id[node_id][1], abs=1e-3)
    assert [p.name for p in tmp_path.iterdir()] == [f"{name}.csv"]  # no temporary file left


def test_positions_csv_replaces_an_old_file_and_quotes_awkward_ids(tmp_path: Path) -> None:
    target = tmp_path / "spec.csv"
    target.write_text("stale\n")
    export_positions_csv({"a,b": (1.0, 2.5), 'q"uote': (3.25, 4.0)}, target)
    with target.open(newline="") as fh:
        assert list(csv.reader(fh)) == [["a,b", "1", "2.5"], ['q"uote', "3.25", "4"]]


def test_positions_csv_into_a_missing_folder_is_an_export_error(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="write failed") as info:
        export_positions_csv({"a": (0.0, 0.0)}, tmp_path / "missing" / "x.csv")
    assert info.value.file is not None and info.value.file.endswith("x.csv")


def test_the_layout_builds_the_csv_text_and_the_files_module_writes_it(tmp_path: Path) -> None:
    from masksmith.report import files, layout

    pos = {"img_10": (1.0, 2.0), "img_2": (3.5, 4.0)}
    text = layout.positions_csv(pos)
    assert text == "img_2,3.5,4\nimg_10,1,2\n"
    assert list(tmp_path.iterdir()) == []  # building the text wrote nothing
    out = files.export_positions_csv(pos, tmp_path / "p.csv")
    assert out.read_text(encoding="utf-8") == text
    assert not hasattr(layout, "export_positions_csv")  # file writing left the layout


def test_edge_labels_stay_clear_of_nodes_and_each_other() -> None:
    g = journal_graph()
    layout = compute_layout(g, node_size=(W, H), h_gap=HG, v_gap=VG)
    sizes = {e: (90.0, 18.0) for e in g.edges}
    centres = place_edge_labels(layout, sizes)
    assert set(centres) == set(g.edges)
    boxes = [(cx - 45, cy - 9, cx + 45, cy + 9) for cx, cy in centres.values()]
    nodes = [layout.node_box(n) for n in g.nodes]

    def overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
        return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])

    assert not any(overlap(a, b) for a, b in itertools.combinations(boxes, 2))
    assert not any(overlap(a, n) for a in boxes for n in nodes)
