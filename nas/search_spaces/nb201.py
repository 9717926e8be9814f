"""The NAS-Bench-201 cell space (Dong & Yang, 2020).

A cell has four nodes; node ``j`` sums one edge from each earlier node, and each of
the six edges is one of the five operations of :data:`nas.genotypes.types.NB201_OPS`: 5^6 =
15,625 cells, every one a row of the benchmark. Decisions are named by edge, in the
benchmark's order (the order of its ``arch_str``): ``1<-0``, ``2<-0``, ``2<-1``,
``3<-0``, ``3<-1``, ``3<-2``; a choice index is the operation's index in
``NB201_OPS``.

Build settings: the benchmark's network, ``channels=16, cells_per_stage=5``.
"""

from __future__ import annotations

from collections.abc import Sequence

from nas.errors import NasError
from nas.genotypes.types import NB201_EDGES as EDGES
from nas.genotypes.types import NB201_NODES as NUM_NODES
from nas.genotypes.types import NB201_OPS, Genotype, NB201Genotype
from nas.search_spaces.base import Decision, MacroSettings, SearchSpace


class NB201Space(SearchSpace):
    """Six edges, five operations each: the 15,625 cells of NAS-Bench-201."""

    name = "nb201"
    description = "NAS-Bench-201 cell: 6 edges x 5 operations (15,625 cells)"

    def decisions(self) -> list[Decision]:
        return [Decision(f"{j}<-{i}", NB201_OPS) for j, i in EDGES]

    def from_decisions(self, values: Sequence[int]) -> NB201Genotype:
        return NB201Genotype.from_ops([NB201_OPS[k] for k in self.check_decisions(values)])

    def to_decisions(self, genotype: Genotype) -> list[int]:
        where = f"{self.name} space"
        if not isinstance(genotype, NB201Genotype):
            got = getattr(genotype, "kind", type(genotype).__name__)
            raise NasError(f"{where}: expected an NB201 genotype, got {got!r}")
        if len(genotype.nodes) != NUM_NODES:
            raise NasError(f"{where}: nodes: expected {NUM_NODES} nodes (6 edges), got {len(genotype.nodes)}")
        return [NB201_OPS.index(op) for op in genotype.ops]

    def default_settings(self) -> MacroSettings:
        return MacroSettings(build_options={"channels": 16, "cells_per_stage": 5})
