"""The DARTS cell space (Liu et al., 2019) as categorical decisions.

A genotype is a normal and a reduction cell. Each cell has four intermediate nodes
(states 2-5); each node sums two edges, and each edge picks an input (an earlier
state: 0 and 1 are the two previous cells' outputs) and one of the seven non-``none``
search primitives. The cell outputs the concatenation of all four intermediate
nodes. Decisions, per cell, node and edge, in that order::

    normal.node2.edge0.input, normal.node2.edge0.op, normal.node2.edge1.input, ...,
    reduce.node5.edge1.op

Equal inputs are allowed: the two edges of a node may read the same state (as in
NASNet's cells). The DARTS derivation always picks two distinct inputs, so every
cell DARTS, PC-DARTS or P-DARTS derives is a point of this space; allowing equal
inputs keeps every decision independent, so every vector is a valid genotype for
RL controllers and Optuna alike. Node ``k`` then has ``(7k)^2`` edge pairs and

    size() = ((14 * 21 * 28 * 35)^2)^2 = 288120^4 ~ 6.9e21   (node k: (7k)^2; two cells)

decision vectors, all distinct genotypes (``from_decisions`` is one-to-one). Edge
order within a node is part of the genotype, so two vectors that swap a node's edges
give the same network; up to that swap there are ``(prod_k 7k(7k+1)/2)^2`` ~ 3.8e19
cell pairs (:meth:`DartsSpace.unordered_size`). The DARTS paper's ~1e18 counts
distinct, unordered inputs: ``(180 * 7^8)^2`` ~ 1.1e18.

Build settings: ``channels=16, layers=8`` by default (the search-time network, cheap
enough to compare candidates); the paper's final CIFAR-10 evaluation uses
``channels=36, layers=20`` with the auxiliary head and drop-path, e.g.
``space.build(g, channels=36, layers=20, auxiliary=True)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from nas.errors import NasError
from nas.genotypes.types import DARTS_SEARCH_OPS, DartsGenotype, Genotype
from nas.search_spaces.base import Decision, MacroSettings, SearchSpace

#: The seven operations an edge may use (the search primitives without ``none``).
OPS: tuple[str, ...] = tuple(op for op in DARTS_SEARCH_OPS if op != "none")
#: Cell names, in decision order.
CELLS: tuple[str, ...] = ("normal", "reduce")
#: Intermediate nodes per cell and edges per node.
STEPS = 4
EDGES_PER_NODE = 2
#: States of the intermediate nodes (0 and 1 are the cell inputs).
NODES: tuple[int, ...] = tuple(range(2, 2 + STEPS))
#: Decisions per edge: input then operation.
PER_EDGE = 2


class DartsSpace(SearchSpace):
    """Normal and reduction cells of 4 nodes x 2 edges; inputs may repeat."""

    name = "darts"
    description = "DARTS cells: 2 cells x 4 nodes x 2 edges, each an input and one of 7 operations"

    def __init__(self) -> None:
        self._decisions = [
            d
            for cell in CELLS
            for node in NODES
            for e in range(EDGES_PER_NODE)
            for d in (
                Decision(f"{cell}.node{node}.edge{e}.input", tuple(range(node))),
                Decision(f"{cell}.node{node}.edge{e}.op", OPS),
            )
        ]

    def decisions(self) -> list[Decision]:
        return list(self._decisions)

    def from_decisions(self, values: Sequence[int]) -> DartsGenotype:
        v = self.check_decisions(values)
        per_cell = STEPS * EDGES_PER_NODE * PER_EDGE
        cells = {}
        for c, cell in enumerate(CELLS):
            chunk = v[c * per_cell : (c + 1) * per_cell]
            cells[cell] = tuple((OPS[chunk[k + 1]], chunk[k]) for k in range(0, per_cell, PER_EDGE))
        concat = NODES
        return DartsGenotype(normal=cells["normal"], normal_concat=concat, reduce=cells["reduce"], reduce_concat=concat)

    def to_decisions(self, genotype: Genotype) -> list[int]:
        where = f"{self.name} space"
        if not isinstance(genotype, DartsGenotype):
            got = getattr(genotype, "kind", type(genotype).__name__)
            raise NasError(f"{where}: expected a DARTS genotype, got {got!r}")
        values: list[int] = []
        for cell in CELLS:
            edges = getattr(genotype, cell)
            if len(edges) != STEPS * EDGES_PER_NODE:
                raise NasError(
                    f"{where}: {cell}: expected {STEPS} nodes x {EDGES_PER_NODE} edges = "
                    f"{STEPS * EDGES_PER_NODE} edges, got {len(edges)}"
                )
            concat = getattr(genotype, f"{cell}_concat")
            if concat != NODES:
                raise NasError(f"{where}: {cell}_concat: expected {list(NODES)} (all nodes), got {list(concat)}")
            for k, (op, inp) in enumerate(edges):
                if op not in OPS:
                    choices = ", ".join(OPS)
                    raise NasError(f"{where}: {cell}[{k}]: operation {op!r} is not in this space (choices: {choices})")
                values += [inp, OPS.index(op)]  # the genotype already checked 0 <= inp < node
        return values

    def default_settings(self) -> MacroSettings:
        return MacroSettings(build_options={"channels": 16, "layers": 8})

    def unordered_size(self) -> int:
        """Cells counted up to swapping the two edges of a node (distinct networks, roughly)."""
        per_cell = math.prod(len(OPS) * n * (len(OPS) * n + 1) // 2 for n in NODES)
        return per_cell ** len(CELLS)
