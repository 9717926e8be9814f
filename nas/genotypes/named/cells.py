"""Published cells under the names their reference code uses.

Sources: the DARTS paper's code (NASNet, AmoebaNet, DARTS_V1, DARTS_V2), PC-DARTS
(``PC_DARTS`` is its CIFAR-10 cell) and P-DARTS (``PDARTS``); NAS-Bench-201 reference
cells (the best CIFAR-10 cell and the collapse cell all ``skip_connect``).
"""

from __future__ import annotations

from nas.genotypes.named import register
from nas.genotypes.types import DartsGenotype, NB201Genotype

_C4 = (2, 3, 4, 5)

NASNet = register(
    "NASNet",
    DartsGenotype(
        normal=(
            ("sep_conv_5x5", 1), ("sep_conv_3x3", 0),
            ("sep_conv_5x5", 0), ("sep_conv_3x3", 0),
            ("avg_pool_3x3", 1), ("skip_connect", 0),
            ("avg_pool_3x3", 0), ("avg_pool_3x3", 0),
            ("sep_conv_3x3", 1), ("skip_connect", 1),
        ),
        normal_concat=(2, 3, 4, 5, 6),
        reduce=(
            ("sep_conv_5x5", 1), ("sep_conv_7x7", 0),
            ("max_pool_3x3", 1), ("sep_conv_7x7", 0),
            ("avg_pool_3x3", 1), ("sep_conv_5x5", 0),
            ("skip_connect", 3), ("avg_pool_3x3", 2),
            ("sep_conv_3x3", 2), ("max_pool_3x3", 1),
        ),
        reduce_concat=(4, 5, 6),
    ),
)  # fmt: skip

AmoebaNet = register(
    "AmoebaNet",
    DartsGenotype(
        normal=(
            ("avg_pool_3x3", 0), ("max_pool_3x3", 1),
            ("sep_conv_3x3", 0), ("sep_conv_5x5", 2),
            ("sep_conv_3x3", 0), ("avg_pool_3x3", 3),
            ("sep_conv_3x3", 1), ("skip_connect", 1),
            ("skip_connect", 0), ("avg_pool_3x3", 1),
        ),
        normal_concat=(4, 5, 6),
        reduce=(
            ("avg_pool_3x3", 0), ("sep_conv_3x3", 1),
            ("max_pool_3x3", 0), ("sep_conv_7x7", 2),
            ("sep_conv_7x7", 0), ("avg_pool_3x3", 1),
            ("max_pool_3x3", 0), ("max_pool_3x3", 1),
            ("conv_7x1_1x7", 0), ("sep_conv_3x3", 5),
        ),
        reduce_concat=(3, 4, 6),
    ),
)  # fmt: skip

DARTS_V1 = register(
    "DARTS_V1",
    DartsGenotype(
        normal=(
            ("sep_conv_3x3", 1), ("sep_conv_3x3", 0),
            ("skip_connect", 0), ("sep_conv_3x3", 1),
            ("skip_connect", 0), ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 0), ("skip_connect", 2),
        ),
        normal_concat=_C4,
        reduce=(
            ("max_pool_3x3", 0), ("max_pool_3x3", 1),
            ("skip_connect", 2), ("max_pool_3x3", 0),
            ("max_pool_3x3", 0), ("skip_connect", 2),
            ("skip_connect", 2), ("avg_pool_3x3", 0),
        ),
        reduce_concat=_C4,
    ),
)  # fmt: skip

DARTS_V2 = register(
    "DARTS_V2",
    DartsGenotype(
        normal=(
            ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 1), ("skip_connect", 0),
            ("skip_connect", 0), ("dil_conv_3x3", 2),
        ),
        normal_concat=_C4,
        reduce=(
            ("max_pool_3x3", 0), ("max_pool_3x3", 1),
            ("skip_connect", 2), ("max_pool_3x3", 1),
            ("max_pool_3x3", 0), ("skip_connect", 2),
            ("skip_connect", 2), ("max_pool_3x3", 1),
        ),
        reduce_concat=_C4,
    ),
)  # fmt: skip
register("DARTS", DARTS_V2)  # the reference code's alias

PC_DARTS = register(
    "PC_DARTS",
    DartsGenotype(
        normal=(
            ("sep_conv_3x3", 1), ("skip_connect", 0),
            ("sep_conv_3x3", 0), ("dil_conv_3x3", 1),
            ("sep_conv_5x5", 0), ("sep_conv_3x3", 1),
            ("avg_pool_3x3", 0), ("dil_conv_3x3", 1),
        ),
        normal_concat=_C4,
        reduce=(
            ("sep_conv_5x5", 1), ("max_pool_3x3", 0),
            ("sep_conv_5x5", 1), ("sep_conv_5x5", 2),
            ("sep_conv_3x3", 0), ("sep_conv_3x3", 3),
            ("sep_conv_3x3", 1), ("sep_conv_3x3", 2),
        ),
        reduce_concat=_C4,
    ),
)  # fmt: skip

PDARTS = register(
    "PDARTS",
    DartsGenotype(
        normal=(
            ("skip_connect", 0), ("dil_conv_3x3", 1),
            ("skip_connect", 0), ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 1), ("sep_conv_3x3", 3),
            ("sep_conv_3x3", 0), ("dil_conv_5x5", 4),
        ),
        normal_concat=_C4,
        reduce=(
            ("avg_pool_3x3", 0), ("sep_conv_5x5", 1),
            ("sep_conv_3x3", 0), ("dil_conv_5x5", 2),
            ("max_pool_3x3", 0), ("dil_conv_3x3", 1),
            ("dil_conv_3x3", 1), ("dil_conv_5x5", 3),
        ),
        reduce_concat=_C4,
    ),
)  # fmt: skip


def _nb201(*ops: str) -> NB201Genotype:
    """Six edge operations in the benchmark's order: 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2."""
    o = list(ops)
    return NB201Genotype(nodes=(((o[0], 0),), ((o[1], 0), (o[2], 1)), ((o[3], 0), (o[4], 1), (o[5], 2))))


#: The cell with the best CIFAR-10 test accuracy in NAS-Bench-201 (94.37%).
NB201_BEST = register(
    "NB201_best",
    _nb201("nor_conv_3x3", "nor_conv_3x3", "nor_conv_3x3", "skip_connect", "nor_conv_1x1", "nor_conv_3x3"),
)
#: The cell DARTS collapses to on NAS-Bench-201 (54.30%).
NB201_ALL_SKIP = register("NB201_all_skip", _nb201(*["skip_connect"] * 6))
