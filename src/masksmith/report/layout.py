"""Layered (top-to-bottom) layout of a journal graph: pure geometry, no drawing.

Coordinates are in pixels of an abstract canvas: ``x`` grows to the right, ``y`` grows downwards, and a
position is the *centre* of a node's box. The top-left corner of the laid-out drawing is ``(0, 0)``.
The same :class:`GraphLayout` drives the PNG renderer and the SVG viewer, so both show identical pictures.

Method (Sugiyama style): layer = longest path from a root; edges spanning several layers get one dummy
"lane" per layer crossed; the order within layers comes from barycentre sweeps (keeping the ordering with
the fewest crossings); x positions come from alternating neighbour-averaging passes, each projected back
onto "no overlap, same order" by isotonic regression (pool adjacent violators).
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import re
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import networkx as nx

from masksmith.errors import JournalError

if TYPE_CHECKING:
    from masksmith.report.files import export_positions_csv as export_positions_csv

Point = tuple[float, float]
Box = tuple[float, float, float, float]  # x0, y0, x1, y1
Edge = tuple[Hashable, Hashable]

DEFAULT_NODE_SIZE: tuple[float, float] = (180.0, 150.0)
DEFAULT_H_GAP = 50.0
DEFAULT_V_GAP = 80.0
_SWEEPS = 4
_PLACEMENT_PASSES = 8


@dataclass(frozen=True)
class GraphLayout:
    """Where every node and edge goes.

    ``positions`` are node-box centres; ``edge_paths`` run from a port on the bottom of the source box
    to a port on the top of the target box (arrow tip last), bending through the lanes of long edges.
    """

    positions: dict[Hashable, Point]
    layers: dict[Hashable, int]
    edge_paths: dict[Edge, tuple[Point, ...]]
    node_size: tuple[float, float]
    width: float
    height: float

    def node_box(self, node: Hashable) -> Box:
        """The box ``(x0, y0, x1, y1)`` of ``node``."""
        x, y = self.positions[node]
        w, h = self.node_size
        return (x - w / 2, y - h / 2, x + w / 2, y + h / 2)


def natural_key(node: Hashable) -> tuple[tuple[tuple[int, int, str], ...], str, str]:
    """Total sort key for node ids: ``img_2`` before ``img_10``; never compares int with str."""
    text = str(node)
    parts = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", text) if p)
    return (parts, type(node).__name__, text)


def layered_layout(
    graph: nx.DiGraph,
    *,
    roots: Sequence[Hashable] | None = None,
    node_size: tuple[float, float] = DEFAULT_NODE_SIZE,
    h_gap: float = DEFAULT_H_GAP,
    v_gap: float = DEFAULT_V_GAP,
) -> dict[Hashable, Point]:
    """Node-box centres of a top-to-bottom layered layout of ``graph`` (see :func:`compute_layout`)."""
    return compute_layout(graph, roots=roots, node_size=node_size, h_gap=h_gap, v_gap=v_gap).positions


def compute_layout(
    graph: nx.DiGraph,
    *,
    roots: Sequence[Hashable] | None = None,
    node_size: tuple[float, float] = DEFAULT_NODE_SIZE,
    h_gap: float = DEFAULT_H_GAP,
    v_gap: float = DEFAULT_V_GAP,
) -> GraphLayout:
    """Lay ``graph`` out top to bottom from its roots (nodes without predecessors).

    ``roots`` lists roots to put first, in that order; other roots follow, nodes with
    ``nodetype == 'base'`` before the rest (donor chains are drawn beside). Weakly connected components
    are laid out side by side, the one holding the first root leftmost. Raises :class:`JournalError`
    naming the nodes of a cycle, or naming a listed root that is missing or has predecessors.
    """
    w, h = (float(node_size[0]), float(node_size[1]))
    if not (w > 0 and h > 0 and h_gap >= 0 and v_gap >= 0):
        raise JournalError(
            f"layout sizes must be positive, got node_size={node_size}, h_gap={h_gap}, v_gap={v_gap}",
            argument="node_size",
        )
    _check_acyclic(graph)
    rank = {n: i for i, n in enumerate(sorted(graph.nodes, key=natural_key))}
    root_rank = _root_ranks(graph, roots, rank)

    positions: dict[Hashable, Point] = {}
    layers: dict[Hashable, int] = {}
    edge_paths: dict[Edge, tuple[Point, ...]] = {}
    components = sorted(
        (sorted(c, key=rank.__getitem__) for c in nx.weakly_connected_components(graph)),
        key=lambda comp: min(root_rank.get(n, math.inf) for n in comp),
    )
    left = 0.0
    max_layer = -1
    for comp in components:
        part = _ComponentLayout(graph, comp, rank, root_rank, w, h, h_gap, v_gap)
        shift = left - part.left
        for n in comp:
            positions[n] = (part.x[part.index[n]] + shift, part.y(part.layer[part.index[n]]))
            layers[n] = part.layer[part.index[n]]
        for edge, pts in part.edge_paths(shift).items():
            edge_paths[edge] = pts
        left = part.right + shift + h_gap
        max_layer = max(max_layer, max(part.layer))
    width = left - h_gap if components else 0.0
    height = (max_layer + 1) * h + max_layer * v_gap if components else 0.0
    return GraphLayout(positions, layers, edge_paths, (w, h), width, height)


def _check_acyclic(graph: nx.DiGraph) -> None:
    if not isinstance(graph, nx.DiGraph) or graph.is_multigraph():
        raise JournalError(f"expected a networkx.DiGraph, got {type(graph).__name__}", argument="graph")
    if nx.is_directed_acyclic_graph(graph):
        return
    cycle = [u for u, _v in nx.find_cycle(graph)]
    path = " -> ".join(str(n) for n in [*cycle, cycle[0]])
    raise JournalError(f"journal graph has a cycle: {path}", node=str(cycle[0]), cycle=cycle)


def _root_ranks(
    graph: nx.DiGraph, roots: Sequence[Hashable] | None, rank: Mapping[Hashable, int]
) -> dict[Hashable, float]:
    """Order of preference of every root: listed roots, then base nodes, then others (by node id)."""
    listed = list(roots or [])
    for r in listed:
        if r not in graph:
            raise JournalError("root is not a node of the graph", node=str(r), argument="roots")
        if graph.in_degree(r):
            preds = ", ".join(sorted((str(p) for p in graph.predecessors(r)), key=natural_key))
            raise JournalError(f"root has predecessors ({preds})", node=str(r), argument="roots")
    listed_set = set(listed)
    sources = [n for n in graph.nodes if graph.in_degree(n) == 0 and n not in listed_set]
    sources.sort(key=lambda n: (graph.nodes[n].get("nodetype") != "base", rank[n]))
    return {n: float(i) for i, n in enumerate([*dict.fromkeys(listed), *sources])}


class _ComponentLayout:
    """Layout of one weakly connected component; items are indices, dummies after real nodes."""

    def __init__(
        self,
        graph: nx.DiGraph,
        nodes: list[Hashable],
        rank: Mapping[Hashable, int],
        root_rank: Mapping[Hashable, float],
        w: float,
        h: float,
        h_gap: float,
        v_gap: float,
    ) -> None:
        self.w, self.h, self.h_gap, self.v_gap = w, h, h_gap, v_gap
        self.nodes = nodes
        self.index = {n: i for i, n in enumerate(nodes)}
        n_real = len(nodes)
        self.n_real = n_real
        layer = [0] * n_real
        for n in nx.topological_sort(graph.subgraph(nodes)):
            i = self.index[n]
            for p in graph.predecessors(n):
                layer[i] = max(layer[i], layer[self.index[p]] + 1)
        # Keys break every tie the same way whatever order the graph was built in.
        key: list[tuple[int, int, int]] = [(rank[n], -1, 0) for n in nodes]
        up: list[list[int]] = [[] for _ in range(n_real)]
        down: list[list[int]] = [[] for _ in range(n_real)]
        self.chains: dict[Edge, list[int]] = {}
        edges = sorted(graph.subgraph(nodes).edges, key=lambda e: (rank[e[0]], rank[e[1]]))
        for u, v in edges:
            iu, iv = self.index[u], self.index[v]
            chain = [iu]
            for lay in range(layer[iu] + 1, layer[iv]):
                d = len(layer)
                layer.append(lay)
                key.append((rank[u], rank[v], lay))
                up.append([])
                down.append([])
                chain.append(d)
            chain.append(iv)
            for a, b in itertools.pairwise(chain):
                down[a].append(b)
                up[b].append(a)
            self.chains[(u, v)] = chain
        self.layer, self.key, self.up, self.down = layer, key, up, down
        for lst in (*up, *down):
            lst.sort(key=key.__getitem__)
        n_layers = max(layer) + 1
        self.rows: list[list[int]] = [[] for _ in range(n_layers)]
        for i in sorted(range(len(layer)), key=key.__getitem__):
            self.rows[layer[i]].append(i)
        self.rows[0].sort(key=lambda i: (root_rank.get(nodes[i], math.inf), key[i]))
        self._order()
        self._place()

    def y(self, lay: int) -> float:
        return lay * (self.h + self.v_gap) + self.h / 2

    def width_of(self, i: int) -> float:
        return self.w if i < self.n_real else 0.0

    # ---- ordering within layers -------------------------------------------------------------
    def _order(self) -> None:
        rows = self.rows
        pos = self._positions(rows)
        # Initial order for layers below the first: barycentre of predecessors.
        for lay in range(1, len(rows)):
            self._sort_row(rows, pos, lay, self.up)
        best = [r[:] for r in rows]
        best_cross = self._crossings(rows, pos)
        for _ in range(_SWEEPS):
            if best_cross == 0:
                break
            for lay in range(1, len(rows)):
                self._sort_row(rows, pos, lay, self.up)
            for lay in range(len(rows) - 2, -1, -1):
                self._sort_row(rows, pos, lay, self.down)
            cross = self._crossings(rows, pos)
            if cross < best_cross:
                best, best_cross = [r[:] for r in rows], cross
        self.rows = best

    @staticmethod
    def _positions(rows: list[list[int]]) -> dict[int, int]:
        return {i: k for row in rows for k, i in enumerate(row)}

    def _sort_row(self, rows: list[list[int]], pos: dict[int, int], lay: int, nbrs: list[list[int]]) -> None:
        def bary(i: int) -> float:
            ns = nbrs[i]
            return sum(pos[j] for j in ns) / len(ns) if ns else float(pos[i])

        row = sorted(rows[lay], key=lambda i: (bary(i), self.key[i]))
        rows[lay] = row
        for k, i in enumerate(row):
            pos[i] = k

    def _crossings(self, rows: list[list[int]], pos: dict[int, int]) -> int:
        total = 0
        for lay in range(len(rows) - 1):
            targets = [pos[j] for i in rows[lay] for j in sorted(self.down[i], key=pos.__getitem__)]
            total += _count_inversions(targets, len(rows[lay + 1]))
        return total

    # ---- x placement ------------------------------------------------------------------------
    def _place(self) -> None:
        x = [0.0] * len(self.layer)
        for row in self.rows:
            cur = 0.0
            for k, i in enumerate(row):
                if k:
                    cur += self._sep(row[k - 1], i)
                x[i] = cur
        for p in range(_PLACEMENT_PASSES):
            layers = range(1, len(self.rows)) if p % 2 == 0 else range(len(self.rows) - 2, -1, -1)
            nbrs = self.up if p % 2 == 0 else self.down
            for lay in layers:
                row = self.rows[lay]
                target = [sum(x[j] for j in nbrs[i]) / len(nbrs[i]) if nbrs[i] else x[i] for i in row]
                seps = [self._sep(a, b) for a, b in itertools.pairwise(row)]
                for i, xi in zip(row, _pav_with_gaps(target, seps), strict=True):
                    x[i] = xi
        self.x = x
        self.left = min(x[i] - self.width_of(i) / 2 for i in range(len(x)))
        self.right = max(x[i] + self.width_of(i) / 2 for i in range(len(x)))

    def _sep(self, a: int, b: int) -> float:
        real = a < self.n_real and b < self.n_real
        return (self.width_of(a) + self.width_of(b)) / 2 + (self.h_gap if real else self.h_gap / 2)

    # ---- edge routes ------------------------------------------------------------------------
    def edge_paths(self, shift: float) -> dict[Edge, tuple[Point, ...]]:
        x = [xi + shift for xi in self.x]
        out_port: dict[Edge, float] = {}
        in_port: dict[Edge, float] = {}
        outgoing: dict[int, list[Edge]] = {}
        incoming: dict[int, list[Edge]] = {}
        for edge, chain in self.chains.items():
            outgoing.setdefault(chain[0], []).append(edge)
            incoming.setdefault(chain[-1], []).append(edge)
        for ports, groups, nxt in ((out_port, outgoing, 1), (in_port, incoming, -2)):
            for i, group in groups.items():
                group.sort(key=lambda e: (x[self.chains[e][nxt]], self.key[self.chains[e][nxt]]))
                spread = min(0.3 * self.w, 12.0 * (len(group) - 1))
                for k, e in enumerate(group):
                    t = k / (len(group) - 1) if len(group) > 1 else 0.5
                    ports[e] = x[i] - spread + 2 * spread * t
        paths: dict[Edge, tuple[Point, ...]] = {}
        half = self.h / 2
        for edge, chain in self.chains.items():
            pts: list[Point] = [(out_port[edge], self.y(self.layer[chain[0]]) + half)]
            for d in chain[1:-1]:
                yd = self.y(self.layer[d])
                pts += [(x[d], yd - half), (x[d], yd + half)]
            pts.append((in_port[edge], self.y(self.layer[chain[-1]]) - half))
            paths[edge] = tuple(pts)
        return paths


def _count_inversions(values: list[int], size: int) -> int:
    """Pairs i < j with values[i] > values[j] (Fenwick tree)."""
    tree = [0] * (size + 1)
    inversions = 0
    for seen, v in enumerate(values):
        # Count earlier values greater than v = seen - (earlier values <= v).
        k, le = v + 1, 0
        while k > 0:
            le += tree[k]
            k -= k & -k
        inversions += seen - le
        k = v + 1
        while k <= size:
            tree[k] += 1
            k += k & -k
    return inversions


def _pav_with_gaps(target: list[float], seps: list[float]) -> list[float]:
    """Closest positions (least squares) to ``target`` keeping order and ``x[k+1] - x[k] >= seps[k]``."""
    offsets = [0.0]
    for s in seps:
        offsets.append(offsets[-1] + s)
    blocks: list[list[float]] = []  # [sum, count]
    for t, c in zip(target, offsets, strict=True):
        blocks.append([t - c, 1.0])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            s, n = blocks.pop()
            blocks[-1][0] += s
            blocks[-1][1] += n
    out: list[float] = []
    for s, n in blocks:
        out += [s / n] * int(n)
    return [v + c for v, c in zip(out, offsets, strict=True)]


# ---- edge labels ------------------------------------------------------------------------------
_LABEL_FRACTIONS = (0.5, 0.4, 0.6, 0.3, 0.7, 0.2, 0.8)
_CELL = 128.0


def place_edge_labels(
    layout: GraphLayout, sizes: Mapping[Edge, tuple[float, float]]
) -> dict[Edge, tuple[float, float]]:
    """Centres for edge labels of the given ``(width, height)``, on their edge and clear of nodes and
    of each other where possible (greedy, first edges first; falls back to the least overlap)."""
    grid: dict[tuple[int, int], list[Box]] = {}

    def cells(b: Box) -> Iterable[tuple[int, int]]:
        for cx in range(math.floor(b[0] / _CELL), math.floor(b[2] / _CELL) + 1):
            for cy in range(math.floor(b[1] / _CELL), math.floor(b[3] / _CELL) + 1):
                yield (cx, cy)

    def add(b: Box) -> None:
        for c in cells(b):
            grid.setdefault(c, []).append(b)

    def overlap(b: Box) -> float:
        seen: set[Box] = set()
        area = 0.0
        for c in cells(b):
            for o in grid.get(c, ()):
                if o in seen:
                    continue
                seen.add(o)
                dx = min(b[2], o[2]) - max(b[0], o[0])
                dy = min(b[3], o[3]) - max(b[1], o[1])
                if dx > 0 and dy > 0:
                    area += dx * dy
        return area

    for n in layout.positions:
        add(layout.node_box(n))
    placed: dict[Edge, tuple[float, float]] = {}
    for edge, (lw, lh) in sizes.items():
        path = layout.edge_paths.get(edge)
        if not path:
            continue
        best: tuple[float, Point] | None = None
        for f in _LABEL_FRACTIONS:
            cx, cy = point_along(path, f)
            area = overlap((cx - lw / 2, cy - lh / 2, cx + lw / 2, cy + lh / 2))
            if best is None or area < best[0]:
                best = (area, (cx, cy))
            if area == 0:
                break
        assert best is not None
        cx, cy = best[1]
        placed[edge] = (cx, cy)
        add((cx - lw / 2, cy - lh / 2, cx + lw / 2, cy + lh / 2))
    return placed


def point_along(path: Sequence[Point], fraction: float) -> Point:
    """The point at ``fraction`` (0..1) of the arc length of a polyline."""
    seg = [math.dist(a, b) for a, b in itertools.pairwise(path)]
    goal = sum(seg) * min(max(fraction, 0.0), 1.0)
    for (a, b), length in zip(itertools.pairwise(path), seg, strict=True):
        if goal <= length and length > 0:
            t = goal / length
            return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t)
        goal -= length
    return path[-1]


# ---- positions as CSV text ------------------------------------------------------------------
def positions_csv(positions: Mapping[Hashable, Point]) -> str:
    """One ``node id,x,y`` row per node (no header, nodes in natural id order), as CSV text.

    Writing it is the caller's job (:func:`masksmith.report.files.export_positions_csv`).
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    for node in sorted(positions, key=natural_key):
        x, y = positions[node]
        writer.writerow([str(node), _num(x), _num(y)])
    return buf.getvalue()


def _num(v: float) -> str:
    r = round(float(v), 3)
    return str(int(r)) if r.is_integer() else repr(r)
