"""The matplotlib engine of :func:`nas.viz.diagrams.draw_genotype`: a small layered layout.

Used when Graphviz's ``dot`` is not installed (or asked for by ``engine='matplotlib'``).
It ranks nodes by longest path, bends an edge when a straight line would cross a node box
or run along another edge, and slides each label along its edge until it overlaps no
other label or box. Figures are ``matplotlib.figure.Figure`` objects (no ``pyplot``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nas.errors import NasError
from nas.genotypes.types import DartsGenotype, Genotype, MacroGenotype, NB201Genotype
from nas.viz.figures import save_figure
from nas.viz.style import FAMILY_COLORS, INPUT_FILL, NODE_FILL, OP_COLORS, OUTPUT_FILL, macro_boxes

__all__ = ["draw_matplotlib"]

_SCALE = 1.15  # inches per data unit
_FONT = 10.0  # edge label size, points
_NODE_FONT = 12.0


@dataclass
class _Node:
    key: Any
    x: float
    y: float
    text: str
    fill: str
    w: float = 0.62
    h: float = 0.46

    def box(self, margin: float = 0.0) -> tuple[float, float, float, float]:
        return (self.x - self.w / 2 - margin, self.y - self.h / 2 - margin, self.x + self.w / 2 + margin,
                self.y + self.h / 2 + margin)  # fmt: skip


@dataclass
class _Edge:
    src: Any
    dst: Any
    label: str = ""
    color: str = "#444444"
    dashed: bool = False
    points: list[tuple[float, float]] = field(default_factory=list)


@dataclass
class _Graph:
    title: str
    nodes: dict[Any, _Node]
    edges: list[_Edge]

    def extent(self) -> tuple[float, float, float, float]:
        xs = [n.x for n in self.nodes.values()]
        ys = [n.y for n in self.nodes.values()]
        pts = [p for e in self.edges for p in e.points]
        xs += [p[0] for p in pts]
        ys += [p[1] for p in pts]
        return min(xs) - 0.5, min(ys) - 0.4, max(xs) + 0.5, max(ys) + 0.4


def _inside(p: tuple[float, float], box: tuple[float, float, float, float]) -> bool:
    return box[0] <= p[0] <= box[2] and box[1] <= p[1] <= box[3]


def _bezier(a: tuple[float, float], b: tuple[float, float], rad: float, n: int = 40) -> list[tuple[float, float]]:
    """A quadratic curve from ``a`` to ``b`` bulging ``rad`` x the chord length to the left."""
    (x0, y0), (x1, y1) = a, b
    cx, cy = (x0 + x1) / 2 - rad * (y1 - y0), (y0 + y1) / 2 + rad * (x1 - x0)
    pts = []
    for i in range(n + 1):
        t = i / n
        u = 1 - t
        pts.append((u * u * x0 + 2 * u * t * cx + t * t * x1, u * u * y0 + 2 * u * t * cy + t * t * y1))
    return pts


def _route(graph: _Graph) -> None:
    """Pick each edge's curvature: avoid other nodes first, then running along earlier edges."""
    placed: list[tuple[float, float]] = []
    multiplicity: dict[tuple[Any, Any], int] = {}
    for e in graph.edges:
        multiplicity[(e.src, e.dst)] = multiplicity.get((e.src, e.dst), 0) + 1
    used: dict[tuple[Any, Any], list[float]] = {}
    for e in graph.edges:
        a, b = graph.nodes[e.src], graph.nodes[e.dst]
        others = [n.box(0.08) for k, n in graph.nodes.items() if k not in (e.src, e.dst)]
        pair = (e.src, e.dst)
        rads = [0.0, 0.15, -0.15, 0.3, -0.3, 0.45, -0.45, 0.6, -0.6]
        taken = used.get(pair, [])
        if multiplicity[pair] > 1:  # parallel edges (one input used twice): bend them apart
            rads = [r for r in (0.3, -0.3, 0.45, -0.45, 0.6, -0.6, 0.8, -0.8, 1.0, -1.0) if r not in taken]
        best: tuple[float, float, list[tuple[float, float]]] | None = None
        for rad in rads:
            pts = _bezier((a.x, a.y), (b.x, b.y), rad)
            cost = 1000.0 * sum(any(_inside(p, box) for box in others) for p in pts)
            # Away from the end nodes (where edges must meet), count points that lie on an
            # earlier edge: a crossing touches a few, an edge running along another many.
            inner = [p for p in pts if math.dist(p, (a.x, a.y)) > 0.6 and math.dist(p, (b.x, b.y)) > 0.6]
            near = sum(any(math.dist(p, q) < 0.1 for q in placed) for p in inner)
            cost += 5.0 * max(0, near - 5) + 4.0 * abs(rad)
            # A parallel edge prefers the side its twin did not take; bulging further on the same side
            # is the fallback when the other side is blocked by nodes.
            cost += 30.0 * sum(abs(rad - t) < 0.2 or (rad * t > 0 and abs(rad) < abs(t) + 0.25) for t in taken)
            if best is None or cost < best[0]:
                best = (cost, rad, pts)
        assert best is not None
        _, rad, pts = best
        used.setdefault(pair, []).append(rad)
        a_box, b_box = a.box(0.02), b.box(0.02)
        inner = [p for p in pts if not _inside(p, a_box) and not _inside(p, b_box)]
        e.points = inner if len(inner) >= 2 else [(a.x, a.y), (b.x, b.y)]
        placed.extend(p for p in pts if math.dist(p, (a.x, a.y)) > 0.6 and math.dist(p, (b.x, b.y)) > 0.6)


def _label_size(text: str, size: float = _FONT) -> tuple[float, float]:
    """Approximate label box (data units) for DejaVu Sans, with the bbox padding."""
    return (0.6 * size * len(text) + 8) / 72 / _SCALE, (size * 1.25 + 6) / 72 / _SCALE


#: Where along an edge a label may sit (fraction of its length), preferred first.
_LABEL_POSITIONS = sorted((k / 20 for k in range(3, 18)), key=lambda t: abs(t - 0.5))


def _place_labels(graph: _Graph) -> list[tuple[_Edge, float, float]]:
    taken: list[tuple[float, float, float, float]] = [n.box(0.03) for n in graph.nodes.values()]
    out = []
    for e in graph.edges:
        if not e.label:
            continue
        w, h = _label_size(e.label)
        best: tuple[float, float, float] | None = None
        n = len(e.points)
        for t in _LABEL_POSITIONS:
            x, y = e.points[min(n - 1, int(round(t * (n - 1))))]
            box = (x - w / 2, y - h / 2, x + w / 2, y + h / 2)
            areas = [
                max(0.0, min(box[2], o[2]) - max(box[0], o[0])) * max(0.0, min(box[3], o[3]) - max(box[1], o[1]))
                for o in taken
            ]
            crossing = sum(_inside(p, box) for o in graph.edges if o is not e for p in o.points)
            # Touching another label or a node is never worth it; crossing an edge is a small cost.
            cost = 1000.0 * sum(a > 0 for a in areas) + 100.0 * sum(areas) + 0.3 * crossing + abs(t - 0.5)
            if best is None or cost < best[0]:
                best = (cost, x, y)
        assert best is not None
        _, x, y = best
        taken.append((x - w / 2, y - h / 2, x + w / 2, y + h / 2))
        out.append((e, x, y))
    return out


def _darts_graph(title: str, edges: Sequence[tuple[str, int]], concat: Sequence[int]) -> _Graph:
    steps = len(edges) // 2
    rank = {0: 0, 1: 0}
    for j in range(steps):
        rank[j + 2] = 1 + max(rank[src] for _, src in edges[2 * j : 2 * j + 2])
    out_rank = max(rank.values()) + 1
    columns: dict[int, list[int]] = {}
    for node in range(2, steps + 2):
        columns.setdefault(rank[node], []).append(node)
    dx, dy = 2.3, 1.05
    height = max([2] + [len(v) for v in columns.values()])
    nodes: dict[Any, _Node] = {}
    span = (height - 1) * dy / 2 + 0.35
    nodes[0] = _Node(0, 0.0, span, "$c_{k-2}$", INPUT_FILL, w=0.8)
    nodes[1] = _Node(1, 0.0, -span, "$c_{k-1}$", INPUT_FILL, w=0.8)
    for r in sorted(columns):
        # Barycentre ordering: a node sits near the mean height of its inputs (fewer crossings).
        def height_of(node: int) -> float:
            return sum(nodes[src].y for _, src in edges[2 * (node - 2) : 2 * (node - 2) + 2]) / 2

        members = sorted(columns[r], key=lambda node: (-height_of(node), node))
        for i, node in enumerate(members):
            y = ((len(members) - 1) / 2 - i) * dy
            nodes[node] = _Node(node, r * dx, y, str(node - 2), NODE_FILL)
    nodes["out"] = _Node("out", out_rank * dx, 0.0, "$c_{k}$", OUTPUT_FILL, w=0.7)
    graph_edges = [
        _Edge(src, k // 2 + 2, op, OP_COLORS.get(op, "#444444"), op == "none") for k, (op, src) in enumerate(edges)
    ]
    graph_edges += [_Edge(c, "out", "", "#9a9a9a") for c in concat]
    return _Graph(title, nodes, graph_edges)


def _nb201_graph(g: NB201Genotype) -> _Graph:
    n = len(g.nodes)
    dx = 2.4
    nodes: dict[Any, _Node] = {}
    for j in range(n + 1):
        fill = INPUT_FILL if j == 0 else OUTPUT_FILL if j == n else NODE_FILL
        text = "in" if j == 0 else "out" if j == n else str(j)
        # Zig-zag the inner nodes so that edges skipping a node can pass beside it.
        y = 0.0 if j in (0, n) else (0.55 if j % 2 else -0.55)
        nodes[j] = _Node(j, j * dx, y, text, fill, w=0.62)
    edges = [
        _Edge(i, j, op, OP_COLORS.get(op, "#444444"), op == "none")
        for j, node in enumerate(g.nodes, 1)
        for op, i in node
    ]
    # Long edges first: they need the free space around the chain most.
    edges.sort(key=lambda e: -(e.dst - e.src))
    return _Graph("NAS-Bench-201 cell", nodes, edges)


def _new_figure(width: float, height: float) -> Any:
    try:
        # matplotlib only when drawing: import cost, and nas.viz works without it
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - depends on the environment
        raise NasError("diagrams: the matplotlib engine needs matplotlib (pip install matplotlib)") from None
    return Figure(figsize=(width, height))


def _draw_graph(ax: Any, graph: _Graph) -> None:
    # matplotlib only when drawing: import cost, and nas.viz works without it
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
    from matplotlib.path import Path as MplPath

    for e in graph.edges:
        arrow = FancyArrowPatch(
            path=MplPath(e.points),
            arrowstyle="-|>,head_length=5,head_width=3",
            color=e.color,
            linewidth=1.5,
            linestyle="--" if e.dashed else "-",
            zorder=1,
        )
        ax.add_patch(arrow)
    for node in graph.nodes.values():
        x0, y0, _, _ = node.box()
        ax.add_patch(
            FancyBboxPatch(
                (x0, y0), node.w, node.h, boxstyle="round,pad=0,rounding_size=0.12",
                facecolor=node.fill, edgecolor="#555555", linewidth=1.1, zorder=2,
            )
        )  # fmt: skip
        ax.text(node.x, node.y, node.text, ha="center", va="center", fontsize=_NODE_FONT, zorder=3)
    for e, x, y in _place_labels(graph):
        ax.text(
            x, y, e.label, ha="center", va="center", fontsize=_FONT, color=e.color, zorder=4,
            bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": e.color, "linewidth": 0.6,
                  "alpha": 0.95},
        )  # fmt: skip
    ax.set_aspect("equal")
    ax.axis("off")


def _draw_graphs(graphs: list[_Graph], path: Path, title: str | None) -> None:
    # Lay out first (routing can bend edges beyond the node extent).
    for g in graphs:
        _route(g)
    extents = [g.extent() for g in graphs]
    widths = [e[2] - e[0] for e in extents]
    heights = [e[3] - e[1] + 0.4 for e in extents]  # room for the panel title
    width = max(widths) * _SCALE
    height = sum(heights) * _SCALE + (0.45 if title else 0.0)
    fig = _new_figure(width, height)
    gs = fig.add_gridspec(len(graphs), 1, height_ratios=heights, left=0, right=1, bottom=0,
                          top=1 - (0.45 / height if title else 0.0), hspace=0.0)  # fmt: skip
    for k, (g, ext) in enumerate(zip(graphs, extents)):
        ax = fig.add_subplot(gs[k])
        _draw_graph(ax, g)
        # Same scale in every panel: pad the narrower ones horizontally.
        cx = (ext[0] + ext[2]) / 2
        half = max(widths) / 2
        ax.set_xlim(cx - half, cx + half)
        ax.set_ylim(ext[1], ext[3] + 0.4)
        ax.text(cx - half + 0.15, ext[3] + 0.2, g.title, ha="left", va="center", fontsize=13, weight="bold")
    if title:
        fig.suptitle(title, fontsize=15, y=1 - 0.1 / height)
    save_figure(fig, path, dpi=150)


def _draw_macro(g: MacroGenotype, path: Path, title: str | None) -> None:
    # matplotlib only when drawing: import cost, and nas.viz works without it
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Patch

    boxes = macro_boxes(g)
    line_h, gap, width = 0.24, 0.55, 3.6
    heights = [0.22 + line_h * (1 + len(b.lines)) for b in boxes]
    total = sum(heights) + gap * (len(boxes) - 1)
    legend_h = 0.5
    fig_w = (width + 3.0) * _SCALE * 0.8
    fig_h = (total + 0.3 + legend_h + (0.5 if title else 0.0)) * _SCALE * 0.8
    fig = _new_figure(fig_w, fig_h)
    ax = fig.add_axes((0, 0, 1, 1))
    xmin, xmax = -width / 2 - 0.4, width / 2 + 2.6
    ytop = 0.15 + (0.5 if title else 0.0)
    ax.set_xlim(xmin, xmax)
    ax.set_ylim(-(total + 0.15 + legend_h), ytop)
    if title:
        ax.text(0, 0.35, title, ha="center", va="center", fontsize=13, weight="bold")
    y = 0.0
    prev_bottom = None
    for box, h in zip(boxes, heights):
        top, bottom = y, y - h
        if prev_bottom is not None:
            ax.add_patch(
                FancyArrowPatch((0, prev_bottom), (0, top), arrowstyle="-|>,head_length=6,head_width=3.5",
                                color="#444444", linewidth=1.4)
            )  # fmt: skip
            if box.arrow_in:
                ax.text(0.15, (prev_bottom + top) / 2, box.arrow_in, ha="left", va="center", fontsize=9,
                        color="#7a1f1f", style="italic")  # fmt: skip
        ax.add_patch(
            FancyBboxPatch((-width / 2, bottom), width, h, boxstyle="round,pad=0,rounding_size=0.1",
                           facecolor=box.fill, edgecolor="#555555", linewidth=1.1)
        )  # fmt: skip
        ax.text(0, top - 0.11 - line_h / 2, box.title, ha="center", va="center", fontsize=10.5, weight="bold")
        for i, line in enumerate(box.lines, start=1):
            ax.text(0, top - 0.11 - line_h * (i + 0.5), line, ha="center", va="center", fontsize=9.5)
        prev_bottom = bottom
        y = bottom - gap
    families = sorted({s.block.family for s in g.stages})
    handles = [Patch(facecolor=FAMILY_COLORS[f], edgecolor="#555555", label=f) for f in families]
    ax.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False, fontsize=9,
              bbox_to_anchor=(-xmin / (xmax - xmin), 0.0))  # fmt: skip
    ax.axis("off")
    save_figure(fig, path, dpi=150)


def draw_matplotlib(genotype: Genotype, path: Path, title: str | None) -> None:
    if isinstance(genotype, DartsGenotype):
        graphs = [
            _darts_graph("normal cell", genotype.normal, genotype.normal_concat),
            _darts_graph("reduction cell", genotype.reduce, genotype.reduce_concat),
        ]
        _draw_graphs(graphs, path, title)
    elif isinstance(genotype, NB201Genotype):
        _draw_graphs([_nb201_graph(genotype)], path, title)
    else:
        assert isinstance(genotype, MacroGenotype)
        _draw_macro(genotype, path, title)
