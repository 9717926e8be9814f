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
back to a self-contained matplotlib drawing otherwise (:mod:`nas.viz.layout`). Both
engines take their colours and the macro skeleton's boxes from :mod:`nas.viz.style`.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from nas.errors import NasError
from nas.genotypes.types import DartsGenotype, Genotype, MacroGenotype, NB201Genotype
from nas.runs.atomic import write_bytes
from nas.viz.layout import draw_matplotlib
from nas.viz.style import INPUT_FILL, NODE_FILL, OP_COLORS, OUTPUT_FILL, macro_boxes

__all__ = ["ENGINES", "draw_genotype", "genotype_to_dot", "graphviz_available"]

ENGINES: tuple[str, ...] = ("auto", "graphviz", "matplotlib")
FORMATS: tuple[str, ...] = (".png", ".svg")


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
        draw_matplotlib(genotype, p, title)
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
        lines.append(f'    {prefix}_{i} [label=<{html}>, fillcolor="{INPUT_FILL}"];')
    for j in range(steps):
        lines.append(f'    {prefix}_{j + 2} [label="{j}", fillcolor="{NODE_FILL}"];')
    lines.append(f'    {prefix}_out [label=<c<sub>k</sub>>, fillcolor="{OUTPUT_FILL}"];')
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
            fill = INPUT_FILL if j == 0 else OUTPUT_FILL if j == n else NODE_FILL
            label = "in" if j == 0 else "out" if j == n else str(j)
            lines.append(f'  n{j} [label={_q(label)}, fillcolor="{fill}"];')
        for j, node in enumerate(genotype.nodes, start=1):
            for op, i in node:
                color = OP_COLORS.get(op, "#444444")
                style = ', style="dashed"' if op == "none" else ""
                lines.append(f'  n{i} -> n{j} [label={_q(op)}, color="{color}", fontcolor="{color}"{style}];')
    elif isinstance(genotype, MacroGenotype):
        for k, box in enumerate(macro_boxes(genotype)):
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
    args = [exe, f"-T{fmt}"]
    if fmt == "png":
        args.insert(1, "-Gdpi=150")
    try:
        proc = subprocess.run(args, input=dot_text.encode(), capture_output=True, timeout=60, check=False)
    except subprocess.TimeoutExpired:
        raise NasError(f"{path}: Graphviz 'dot' did not finish within 60 s") from None
    if proc.returncode != 0:
        first = (proc.stderr.decode(errors="replace").strip().splitlines() or ["no message"])[0]
        raise NasError(f"{path}: Graphviz 'dot' failed: {first}")
    write_bytes(path, proc.stdout)  # atomically: a reader never sees half a picture
