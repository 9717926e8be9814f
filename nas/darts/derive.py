"""Deriving a discrete cell from architecture weights (the DARTS and NAS-Bench-201 rules).

DARTS rule (``cnn/model_search.py`` of the reference): for each intermediate node, rank
its incoming edges by their strongest non-``none`` operation weight, keep the two best
(ties: the earlier edge), and on each keep the arg-max non-``none`` operation (ties: the
earlier operation). Edges are listed strongest first, as the reference does.

``max_skip`` (P-DARTS): while the derived cell has more than ``max_skip``
``skip_connect`` edges, the selected skip edge with the smallest skip weight loses its
skip candidate and its node is derived again: that edge then takes its next-best
non-skip operation, or gives its place to another edge of the node that is now stronger.
It is the P-DARTS procedure (delete the weakest skip probability, re-derive).

NAS-Bench-201 rule (its DARTS baseline): every edge keeps the arg-max over *all*
operations, ``none`` included (an edge may thus be cut); ``exclude_none=True`` gives the
variant that never picks ``none``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from nas.errors import NasError
from nas.genotypes.types import Edge, NB201Genotype

__all__ = ["derive_darts_cell", "derive_nb201", "num_darts_edges"]


def num_darts_edges(steps: int) -> int:
    """Edges of a DARTS cell with ``steps`` intermediate nodes (14 for 4)."""
    return sum(2 + i for i in range(steps))


def _as_rows(weights: torch.Tensor | Sequence[Sequence[float]], num_edges: int, num_ops: int) -> list[list[float]]:
    if isinstance(weights, torch.Tensor):
        rows = weights.detach().to("cpu", torch.float64).tolist()
    else:
        rows = [[float(v) for v in row] for row in weights]
    if len(rows) != num_edges or any(len(r) != num_ops for r in rows):
        shape = (len(rows), len(rows[0]) if rows else 0)
        raise NasError(f"weights: expected shape ({num_edges}, {num_ops}), got {shape}")
    if any(math.isnan(v) for r in rows for v in r):
        raise NasError("weights: contain NaN")
    return rows


def _best(row: list[float], allowed: list[int]) -> int | None:
    best = None
    for k in allowed:
        if best is None or row[k] > row[best]:
            best = k
    return best


def _derive_node(rows: list[list[float]], candidates: list[list[int]]) -> list[tuple[int, int]]:
    """Two strongest edges of a node and their best ops: ``[(edge_in_node, op)]``, strongest first."""
    strength = []
    for j, row in enumerate(rows):
        k = _best(row, candidates[j])
        strength.append(-math.inf if k is None else row[k])
    order = sorted(range(len(rows)), key=lambda j: -strength[j])[:2]
    out = []
    for j in order:
        k = _best(rows[j], candidates[j])
        if k is None:
            raise NasError("max_skip: an edge has no operation left to choose")
        out.append((j, k))
    return out


def derive_darts_cell(
    weights: torch.Tensor | Sequence[Sequence[float]],
    ops: Sequence[str],
    steps: int = 4,
    multiplier: int = 4,
    max_skip: int | None = None,
) -> tuple[list[Edge], list[int]]:
    """``(edges, concat)`` of one cell from its ``[num_edges, num_ops]`` weights (see module doc)."""
    ops = tuple(ops)
    if steps < 1:
        raise NasError(f"steps: expected an integer >= 1, got {steps!r}")
    if not 1 <= multiplier <= steps:
        raise NasError(f"multiplier: expected 1..{steps} (the number of nodes to concatenate), got {multiplier!r}")
    if max_skip is not None and (isinstance(max_skip, bool) or not isinstance(max_skip, int) or max_skip < 0):
        raise NasError(f"max_skip: expected a non-negative integer or None, got {max_skip!r}")
    rows = _as_rows(weights, num_darts_edges(steps), len(ops))
    non_none = [k for k, name in enumerate(ops) if name != "none"]
    if not non_none:
        raise NasError("ops: need at least one operation besides 'none'")
    skip = ops.index("skip_connect") if "skip_connect" in ops else None
    candidates = [list(non_none) for _ in rows]

    def derive() -> list[tuple[int, int]]:
        chosen: list[tuple[int, int]] = []
        start = 0
        for i in range(steps):
            n = i + 2
            node = _derive_node(rows[start : start + n], candidates[start : start + n])
            chosen.extend((start + j, k) for j, k in node)
            start += n
        return chosen

    chosen = derive()
    if max_skip is not None and skip is not None:
        while True:
            skips = [e for e, k in chosen if k == skip]
            if len(skips) <= max_skip:
                break
            weakest = min(skips, key=lambda e: (rows[e][skip], -e))
            candidates[weakest] = [k for k in candidates[weakest] if k != skip]
            chosen = derive()
    edges: list[Edge] = []
    for e, k in chosen:
        edges.append((ops[k], _edge_input(e)))
    concat = list(range(2 + steps - multiplier, steps + 2))
    return edges, concat


def _edge_input(e: int) -> int:
    start = 0
    n = 2
    while e >= start + n:
        start += n
        n += 1
    return e - start


def derive_nb201(
    weights: torch.Tensor | Sequence[Sequence[float]],
    ops: Sequence[str],
    num_nodes: int = 4,
    exclude_none: bool = False,
    max_skip: int | None = None,
) -> NB201Genotype:
    """NAS-Bench-201 cell: every edge ``i -> j`` keeps its arg-max operation (``none`` included by default).

    ``max_skip``: while more than ``max_skip`` edges are ``skip_connect``, the one with
    the weakest skip weight takes its next-best operation.
    """
    ops = tuple(ops)
    if max_skip is not None and (isinstance(max_skip, bool) or not isinstance(max_skip, int) or max_skip < 0):
        raise NasError(f"max_skip: expected a non-negative integer or None, got {max_skip!r}")
    num_edges = num_nodes * (num_nodes - 1) // 2
    rows = _as_rows(weights, num_edges, len(ops))
    allowed = [k for k, name in enumerate(ops) if not (exclude_none and name == "none")]
    if not allowed:
        raise NasError("ops: no operation left to choose")
    choice = [_best(row, allowed) for row in rows]
    if max_skip is not None and "skip_connect" in ops:
        skip = ops.index("skip_connect")
        rest = [k for k in allowed if k != skip]
        while rest and sum(k == skip for k in choice) > max_skip:
            weakest = min((e for e, k in enumerate(choice) if k == skip), key=lambda e: (rows[e][skip], -e))
            choice[weakest] = _best(rows[weakest], rest)
    nodes = []
    e = 0
    for j in range(1, num_nodes):
        node = []
        for i in range(j):
            k = choice[e]
            assert k is not None
            node.append((ops[k], i))
            e += 1
        nodes.append(tuple(node))
    return NB201Genotype(nodes=tuple(nodes))
