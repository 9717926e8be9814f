"""Operation vocabularies and the NAS-Bench-201 layout: names only (the modules live in :mod:`nas.ops`).

Plain constants that genotypes, supernets and search spaces share, kept apart from the genotype
classes of :mod:`nas.genotypes.types` (which re-exports them) so that each stays small.
"""

from __future__ import annotations

#: The eight DARTS search primitives, in the reference code's order.
DARTS_SEARCH_OPS: tuple[str, ...] = (
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
#: Every operation a DARTS-notation cell may use (NASNet and AmoebaNet need the last two).
DARTS_OPS: tuple[str, ...] = DARTS_SEARCH_OPS + ("sep_conv_7x7", "conv_7x1_1x7")

#: The five NAS-Bench-201 operations, in the benchmark's order.
NB201_OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
#: The NAS-Bench-201 layout, written only here: nodes 1..3 (node 0 is the input), and the
#: ``(to, from)`` of the six edges in the benchmark's order (that of its ``arch_str``).
NB201_NODES = 3
NB201_EDGES: tuple[tuple[int, int], ...] = tuple((j, i) for j in range(1, NB201_NODES + 1) for i in range(j))
