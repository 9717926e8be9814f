"""DARTS (Liu et al., ICLR 2019): softmax-relaxed operations, alphas trained by gradient.

Every operation of every edge runs, weighted by the softmax of its alphas; the final cell
keeps the arg-max operations (the DARTS rule in the DARTS space, the benchmark's in
NAS-Bench-201). PC-DARTS (Xu et al., 2020) is this method on a supernet with
``partial_channels`` and ``edge_normalization``.
"""

from __future__ import annotations

from typing import Literal

from nas.darts.methods.bilevel import BilevelConfig, BilevelMethod


class DartsConfig(BilevelConfig):
    """DARTS: the bilevel optimisation, first or second order."""

    name: Literal["darts"] = "darts"


class Darts(BilevelMethod):
    name = "darts"
    Config = DartsConfig
    description = "DARTS: softmax over operations, alphas by gradient (first or second order)"
