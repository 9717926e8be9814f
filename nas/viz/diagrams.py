"""Cell and skeleton diagrams of genotypes, drawn by Graphviz or by matplotlib.

:func:`draw_genotype` writes one PNG or SVG (by the file extension):

* a DARTS genotype: the normal and the reduction cell, each a DAG from the two cell
  inputs ``c_{k-2}``, ``c_{k-1}`` through the intermediate nodes (one labelled edge
  per operation) to the concatenated output ``c_{k}``;
* an NB201 cell: nodes ``0..n`` with one labelled edge from every earlier node;
* a macro genotype: the skeleton, input -> stem -> one box per stage (block summary,
  depth, output shape; coloured by family) -> head, with the downsampling written on
  the arrow into each stage.

Graphviz's ``dot`` program lays out DAGs best, so ``engine='auto'`` uses it when it is
installed (via subprocess; the ``graphviz`` Python package is not needed) and falls
back to a self-contained matplotlib drawing otherwise. The matplotlib layout ranks
nodes by longest path, bends an edge when a straight line would cross a node box or
run along another edge, and slides each label along its edge until it overlaps no
other label or box.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nas.errors import NasError
from nas.genotype import DartsGenotype, Genotype, MacroGenotype, NB201Genotype, Stage

__all__ = ["ENGINES", "FAMILY_COLORS", "OP_COLORS", "draw_genotype", "genotype_to_dot", "graphviz_available"]

ENGINES: tuple[str, ...] = ("auto", "graphviz", "matplotlib")
FORMATS: tuple[str, ...] = (".png", ".svg")

#: Edge colour of each operation (shared by both engines, so the drawings read alike).
OP_COLORS: dict[str, str] = {
    "none": "#b0b0b0",
    "skip_connect": "#222222",
    "max_pool_3x3": "#d62728",
    "avg_pool_3x3": "#ff7f0e",
    "sep_conv_3x3": "#1f4e9c",
    "sep_conv_5x5": "#3a7dd8",
    "sep_conv_7x7": "#6aa6ee",
    "dil_conv_3x3": "#7b3fa0",
    "dil_conv_5x5": "#b07ad0",
    "conv_7x1_1x7": "#8c564b",
    "nor_conv_1x1": "#2ca02c",
    "nor_conv_3x3": "#1f4e9c",
}
#: Fill colour of a stage box, by block family.
FAMILY_COLORS: dict[str, str] = {
    "vgg": "#f6c6c6",
    "inception": "#c9e4c5",
    "resnet": "#c6dcf6",
    "densenet": "#f8e2b8",
}
_INPUT_FILL = "#d8ecd0"
_NODE_FILL = "#dbe9f7"
_OUTPUT_FILL = "#f3eab5"
_PLAIN_FILL = "#eeeeee"


def graphviz_available() -> bool:
    """Whether Graphviz's ``dot`` program is on ``PATH``."""
    return shutil.which("dot") is not None


def _check_target(path: str | Path, engine: str) -> tuple[Path, str]:
    if engine not in ENGINES:
        raise NasError(f"engine: expected one of {', '.join(ENGINES)}, got {engine!r}")
    p = Path(path)
    if p.suffix.lower() not in FORMATS:
        raise NasError(f"{p}: expected a file name ending in {' or '.join(FORMATS)}")
    if engine == "graphviz" and not graphviz_available():
        raise NasError(
            "engine: 'graphviz' needs the Graphviz 'dot' program on PATH "
            "(apt-get install graphviz); use engine='matplotlib' or 'auto'"
        )
    if engine == "auto":
        engine = "graphviz" if graphviz_available() else "matplotlib"
    return p, engine


def draw_genotype(genotype: Genotype, path: str | Path, *, engine: str = "auto", title: str | None = None) -> Path:
    """Draw ``genotype`` to ``path`` (``.png`` or ``.svg``) and return the path.

    ``engine``: ``'graphviz'`` (the ``dot`` program), ``'matplotlib'``, or ``'auto'``
    (Graphviz when installed).
    """
    if not isinstance(genotype, (DartsGenotype, NB201Genotype, MacroGenotype)):
        raise NasError(f"genotype: expected a DARTS, NB201 or macro genotype, got {type(genotype).__name__}")
    p, engine = _check_target(path, engine)
    p.parent.mkdir(parents=True, exist_ok=True)
    if engine == "graphviz":
        _run_dot(genotype_to_dot(genotype, title=title), p)
    else:
        _draw_matplotlib(genotype, p, title)
    return p


# --------------------------------------------------------------------------- #
# Graphviz
# --------------------------------------------------------------------------- #


def _q(text: str) -> str:
    """A DOT double-quoted string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _darts_dot_cell(lines: list[str], prefix: str, label: str, edges: Sequence[tuple[str, int]], concat: Sequence[int]):
    steps = len(edges) // 2
    lines.append(f"  subgraph cluster_{prefix} {{")
    lines.append(f'    label={_q(label)}; fontsize=16; style=rounded; color="#999999";')
    inputs = {0: "c<sub>k-2</sub>", 1: "c<sub>k-1</sub>"}
    for i, html in inputs.items():
        lines.append(f'    {prefix}_{i} [label=<{html}>, fillcolor="{_INPUT_FILL}"];')
    for j in range(steps):
        lines.append(f'    {prefix}_{j + 2} [label="{j}", fillcolor="{_NODE_FILL}"];')
    lines.append(f'    {prefix}_out [label=<c<sub>k</sub>>, fillcolor="{_OUTPUT_FILL}"];')
    # The two inputs share the first rank, as in the DARTS paper's figures.
    lines.append(f"    {{rank=same; {prefix}_0; {prefix}_1;}}")
    for k, (op, src) in enumerate(edges):
        color = OP_COLORS.get(op, "#444444")
        style = ', style="dashed"' if op == "none" else ""
        lines.append(
            f"    {prefix}_{src} -> {prefix}_{k // 2 + 2} "
            f'[label={_q(op)}, color="{color}", fontcolor="{color}"{style}];'
        )
    for c in concat:
        lines.append(f'    {prefix}_{c} -> {prefix}_out [color="#999999"];')
    lines.append("  }")


def _stage_lines(stage: Stage) -> list[str]:
    b = stage.block
    if b.family == "vgg":
        body = f"conv {b.kernel_size}x{b.kernel_size}, {b.channels} ch"
    elif b.family == "inception":
        third = "3x3+3x3" if b.double_3x3 else "5x5"
        return [
            f"{stage.depth} x inception",
            f"1x1: {b.b1} | 3x3: {b.b2_reduce}>{b.b2}",
            f"{third}: {b.b3_reduce}>{b.b3} | pool: {b.pool_proj}",
        ]
    elif b.family == "resnet":
        extras = [
            f"groups {b.groups}" if b.groups > 1 else "",
            f"width {b.inner_width}" if b.kind == "bottleneck" or b.width else "",
            f"SE 1/{b.se_reduction}" if b.se_reduction else "",
            "pre-act" if b.preact else "",
            "pad shortcut" if b.shortcut == "pad" else "",
        ]
        body = f"{b.kind} block, {b.channels} ch"
        extra = ", ".join(e for e in extras if e)
        return [f"{stage.depth} x {body}"] + ([extra] if extra else [])
    else:
        body = f"dense layer, growth {b.growth_rate}" + (f", 1x1 {b.bottleneck}k" if b.bottleneck else "")
    return [f"{stage.depth} x {body}"]


def _downsample_text(stage: Stage) -> str:
    if stage.downsample == "none":
        return ""
    if stage.downsample == "transition":
        return f"transition (x{stage.compression:g} ch), /2"
    if stage.downsample == "stride":
        return "stride 2, /2"
    return f"{stage.downsample.replace('_', ' ')} 2x2, /2"


@dataclass
class _MacroBox:
    title: str
    lines: list[str]
    fill: str
    arrow_in: str = ""


def _macro_boxes(g: MacroGenotype) -> list[_MacroBox]:
    shapes = g.feature_shapes()
    boxes = [_MacroBox("input", [f"{g.in_channels} x {g.input_size} x {g.input_size}"], _PLAIN_FILL)]
    if g.stem.channels:
        k = g.stem.kernel_size
        extra = " + BN-ReLU" if g.stem.norm_act else ""
        boxes.append(_MacroBox("stem", [f"conv {k}x{k}, {g.stem.channels} ch{extra}"], _PLAIN_FILL))
    for i, (stage, (channels, side)) in enumerate(zip(g.stages, shapes)):
        lines = _stage_lines(stage) + [f"out: {channels} x {side} x {side}"]
        fill = FAMILY_COLORS.get(stage.block.family, _PLAIN_FILL)
        boxes.append(_MacroBox(f"stage {i + 1} - {stage.block.family}", lines, fill, _downsample_text(stage)))
    h = g.head
    head = ("BN-ReLU, " if h.preact else "") + f"global {h.pool} pool, FC"
    if h.dropout:
        head += f" (dropout {h.dropout:g})"
    boxes.append(_MacroBox("head", [head], _PLAIN_FILL))
    return boxes


def genotype_to_dot(genotype: Genotype, *, title: str | None = None) -> str:
    """The Graphviz DOT text of a genotype's diagram (what ``engine='graphviz'`` renders)."""
    layout = {
        "darts": "rankdir=LR; nodesep=0.35; ranksep=0.9; newrank=true;",
        "nb201": "rankdir=LR; nodesep=0.35; ranksep=0.6;",
        "macro": "rankdir=TB; nodesep=0.3; ranksep=0.35;",
    }.get(getattr(genotype, "kind", ""), "")
    lines = [
        "digraph genotype {",
        f"  {layout} fontname=Helvetica;",
        '  node [shape=box, style="rounded,filled", fontname=Helvetica, fontsize=14, penwidth=1.2];',
        "  edge [fontname=Helvetica, fontsize=11, penwidth=1.4, arrowsize=0.7];",
    ]
    if title:
        lines.append(f"  label={_q(title)}; labelloc=t; fontsize=18;")
    if isinstance(genotype, DartsGenotype):
        # Graphviz stacks the clusters of a left-to-right graph bottom-up: reduce first puts normal on top.
        _darts_dot_cell(lines, "reduce", "reduction cell", genotype.reduce, genotype.reduce_concat)
        _darts_dot_cell(lines, "normal", "normal cell", genotype.normal, genotype.normal_concat)
    elif isinstance(genotype, NB201Genotype):
        n = len(genotype.nodes)
        for j in range(n + 1):
            fill = _INPUT_FILL if j == 0 else _OUTPUT_FILL if j == n else _NODE_FILL
            label = "in" if j == 0 else "out" if j == n else str(j)
            lines.append(f'  n{j} [label={_q(label)}, fillcolor="{fill}"];')
        for j, node in enumerate(genotype.nodes, start=1):
            for op, i in node:
                color = OP_COLORS.get(op, "#444444")
                style = ', style="dashed"' if op == "none" else ""
                lines.append(f'  n{i} -> n{j} [label={_q(op)}, color="{color}", fontcolor="{color}"{style}];')
    elif isinstance(genotype, MacroGenotype):
        for k, box in enumerate(_macro_boxes(genotype)):
            rows = [f"<b>{_html(box.title)}</b>"] + [_html(t) for t in box.lines]
            label = "<br/>".join(rows)
            lines.append(f'  b{k} [label=<{label}>, fillcolor="{box.fill}", width=3.2];')
            if k:
                attr = f" [label={_q('  ' + box.arrow_in)}]" if box.arrow_in else ""
                lines.append(f"  b{k - 1} -> b{k}{attr};")
    else:
        raise NasError(f"genotype: expected a DARTS, NB201 or macro genotype, got {type(genotype).__name__}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _run_dot(dot_text: str, path: Path) -> None:
    fmt = path.suffix.lower().lstrip(".")
    exe = shutil.which("dot")
    if exe is None:  # checked before; guards a PATH change in between
        raise NasError("engine: the Graphviz 'dot' program is not on PATH")
    args = [exe, f"-T{fmt}", "-o", str(path)]
    if fmt == "png":
        args.insert(1, "-Gdpi=150")
    try:
        proc = subprocess.run(args, input=dot_text.encode(), capture_output=True, timeout=60, check=False)
    except subprocess.TimeoutExpired:
        raise NasError(f"{path}: Graphviz 'dot' did not finish within 60 s") from None
    if proc.returncode != 0:
        first = (proc.stderr.decode(errors="replace").strip().splitlines() or ["no message"])[0]
        raise NasError(f"{path}: Graphviz 'dot' failed: {first}")


# --------------------------------------------------------------------------- #
# Matplotlib: a small layered layout with edge routing and label placement
# --------------------------------------------------------------------------- #

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
    nodes[0] = _Node(0, 0.0, span, "$c_{k-2}$", _INPUT_FILL, w=0.8)
    nodes[1] = _Node(1, 0.0, -span, "$c_{k-1}$", _INPUT_FILL, w=0.8)
    for r in sorted(columns):
        # Barycentre ordering: a node sits near the mean height of its inputs (fewer crossings).
        def height_of(node: int) -> float:
            return sum(nodes[src].y for _, src in edges[2 * (node - 2) : 2 * (node - 2) + 2]) / 2

        members = sorted(columns[r], key=lambda node: (-height_of(node), node))
        for i, node in enumerate(members):
            y = ((len(members) - 1) / 2 - i) * dy
            nodes[node] = _Node(node, r * dx, y, str(node - 2), _NODE_FILL)
    nodes["out"] = _Node("out", out_rank * dx, 0.0, "$c_{k}$", _OUTPUT_FILL, w=0.7)
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
        fill = _INPUT_FILL if j == 0 else _OUTPUT_FILL if j == n else _NODE_FILL
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
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - depends on the environment
        raise NasError("diagrams: the matplotlib engine needs matplotlib (pip install matplotlib)") from None
    return Figure(figsize=(width, height))


def _draw_graph(ax: Any, graph: _Graph) -> None:
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
    fig.savefig(path, dpi=150, facecolor="white")


def _draw_macro(g: MacroGenotype, path: Path, title: str | None) -> None:
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Patch

    boxes = _macro_boxes(g)
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
    fig.savefig(path, dpi=150, facecolor="white")


def _draw_matplotlib(genotype: Genotype, path: Path, title: str | None) -> None:
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
