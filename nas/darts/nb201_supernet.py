"""The NAS-Bench-201 search network (weight-sharing supernet) for DARTS-style search.

The benchmark's DARTS baseline network (``TinyNetworkDarts`` of its reference code): a
3x3 stem to ``C`` channels with BN; three stages of ``cells_per_stage`` search cells
(4 nodes, 6 mixed edges ``j <- i``, stride 1) at ``C``, ``2C``, ``4C`` channels, with a
ResNet basic block (stride 2) between stages; BN-ReLU, global average pooling, linear
classifier. One ``alphas`` tensor ``[6, 5]`` (``1e-3 * randn``) is shared by every cell.
Inside the cells batch norms have no affine parameters (the baseline's setting) and
convolutions no bias (see :mod:`nas.ops`); the average pooling is not followed by a BN.

The mixed edges are computed by :class:`nas.darts.mixed_ops.MixedCell` (shared ReLU and
pooling per node, no work for ``none``, fused BN-weight-sum).

:meth:`NB201Supernet.genotype` follows the benchmark's DARTS baseline: on each edge the
arg-max over *all* operations, ``none`` included (so an edge may be cut);
``genotype(exclude_none=True)`` never picks ``none``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from nas.darts.derive import derive_nb201
from nas.darts.methods.base import Sampler
from nas.darts.mixed_ops import MixedCell, op_kind
from nas.darts.supernet import WEIGHTINGS, check_ops, op_weights
from nas.errors import NasError
from nas.genotypes.types import NB201_EDGES, NB201_NODES, NB201_OPS, NB201Genotype
from nas.networks.nb201_network import ResNetBasicblock, stage_plan

__all__ = ["NB201Supernet"]

#: States of a cell (its input and the benchmark's three nodes) and its edges: nas.genotypes.types's layout.
NUM_NODES = NB201_NODES + 1
NUM_EDGES = len(NB201_EDGES)


def _check_int(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise NasError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    return value


class NB201SearchCell(nn.Module):
    """A NAS-Bench-201 search cell: node ``j`` sums a mixed edge from every node ``i < j``."""

    def __init__(self, C: int, ops: Sequence[str], partial_channels: int) -> None:
        super().__init__()
        self.mixed = MixedCell(C, 1, NUM_NODES - 1, ops, False, False, partial_channels)

    def forward(self, x: torch.Tensor, weights: torch.Tensor, edge_w: torch.Tensor | None = None) -> torch.Tensor:
        states, _ = self.mixed([x], weights, edge_w)
        return states[-1]


class NB201Supernet(nn.Module):
    """The NAS-Bench-201 search network (see the module docstring); ``forward(x)`` returns logits."""

    def __init__(
        self,
        channels: int = 16,
        cells_per_stage: int = 5,
        num_classes: int = 10,
        ops: Sequence[str] = NB201_OPS,
        weighting: str = "softmax",
        partial_channels: int = 1,
        in_channels: int = 3,
        edge_normalization: bool = False,
    ) -> None:
        super().__init__()
        C = _check_int(channels, "channels", 1)
        N = _check_int(cells_per_stage, "cells_per_stage", 1)
        num_classes = _check_int(num_classes, "num_classes", 1)
        in_channels = _check_int(in_channels, "in_channels", 1)
        K = _check_int(partial_channels, "partial_channels", 1)
        if C % K:
            raise NasError(f"partial_channels: expected a divisor of channels ({C}), got {K}")
        if weighting not in WEIGHTINGS:
            raise NasError(f"weighting: expected one of {', '.join(WEIGHTINGS)}, got {weighting!r}")
        self.ops = check_ops(ops, NB201_OPS, "NAS-Bench-201")
        for name in self.ops:
            op_kind(name)
        self.channels, self.cells_per_stage, self.num_classes = C, N, num_classes
        if not isinstance(edge_normalization, bool):
            raise NasError(f"edge_normalization: expected true or false, got {edge_normalization!r}")
        self.weighting, self.partial_channels, self.edge_normalization = weighting, K, edge_normalization

        self.stem = nn.Sequential(nn.Conv2d(in_channels, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
        self.cells = nn.ModuleList()
        C_prev = C
        for C_curr, reduction in stage_plan(C, N):
            if reduction:
                self.cells.append(ResNetBasicblock(C_prev, C_curr, 2))
            else:
                self.cells.append(NB201SearchCell(C_curr, self.ops, K))
            C_prev = C_curr
        self.lastact = nn.Sequential(nn.BatchNorm2d(C_prev), nn.ReLU(inplace=True))
        self.classifier = nn.Linear(C_prev, num_classes)
        self.alphas = nn.Parameter(1e-3 * torch.randn(NUM_EDGES, len(self.ops)))
        if edge_normalization:
            self.betas_cell = nn.Parameter(1e-3 * torch.randn(NUM_EDGES))
        self._sampler: Sampler | None = None
        self.to(memory_format=torch.channels_last)

    # -- the supernet protocol (nas.darts.methods.base.Supernet) -------------------

    single_path = False

    def set_sampler(self, sampler: Sampler | None) -> None:
        """Who turns the alphas into each forward's weights (the search method); None: ``weighting``."""
        self._sampler = sampler

    def cell_alphas(self) -> dict[str, nn.Parameter]:
        """The one ``[6, num_ops]`` alphas tensor shared by every cell."""
        return {"cell": self.alphas}

    def betas(self) -> dict[str, nn.Parameter]:
        """PC-DARTS edge-normalisation parameters (empty without edge normalisation)."""
        return {"cell": self.betas_cell} if self.edge_normalization else {}

    def edge_weights(self, cell_type: str = "cell") -> torch.Tensor | None:
        """PC-DARTS edge normalisation: softmax of the betas over each node's incoming edges, or None.

        Node 1 has one incoming edge (weight 1); nodes 2 and 3 share theirs. Every NB201 edge
        stays in the cell, so the edge weights scale operations during search but do not
        change the argmax derivation.
        """
        if not self.edge_normalization:
            return None
        parts, start = [], 0
        for j in range(1, NUM_NODES):
            parts.append(torch.softmax(self.betas_cell[start : start + j], dim=-1))
            start += j
        return torch.cat(parts)

    def genotype_from(self, weights: Mapping[str, torch.Tensor], max_skip: int | None = None) -> NB201Genotype:
        """The benchmark's rule on ``weights["cell"]``: arg-max per edge, ``none`` included."""
        return derive_nb201(weights["cell"], self.ops, NUM_NODES, False, max_skip)

    def op_alphas(self) -> list[nn.Parameter]:
        return [self.alphas]

    def arch_parameters(self) -> list[nn.Parameter]:
        """The one ``[6, num_ops]`` alphas tensor shared by every cell (and the betas when normalised)."""
        return [self.alphas, *self.betas().values()]

    def weight_parameters(self) -> list[nn.Parameter]:
        """Every parameter except the architecture parameters."""
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    def arch_weights(self) -> dict[str, torch.Tensor]:
        """Detached operation weights ``{"cell": [6, num_ops]}``."""
        with torch.no_grad():
            return {"cell": op_weights(self.alphas, self.weighting).detach().clone()}

    def genotype(self, max_skip: int | None = None, exclude_none: bool = False) -> NB201Genotype:
        """Arg-max operation per edge (``none`` included unless ``exclude_none``).

        ``max_skip``: at most that many ``skip_connect`` edges, the weakest skips taking
        their next-best operation (see :func:`nas.darts.derive.derive_nb201`).
        """
        with torch.no_grad():
            w = op_weights(self.alphas, self.weighting)
        return derive_nb201(w, self.ops, NUM_NODES, exclude_none, max_skip)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            raise NasError(f"input: expected a [batch, channels, height, width] tensor, got shape {tuple(x.shape)}")
        feature = self.stem(x.contiguous(memory_format=torch.channels_last))
        if self._sampler is not None:
            arch = self._sampler(self.training)["cell"]
            weights, edge_w = arch.weights, arch.edge_weights
        else:
            weights, edge_w = op_weights(self.alphas, self.weighting), self.edge_weights()
        for cell in self.cells:
            feature = cell(feature, weights, edge_w) if isinstance(cell, NB201SearchCell) else cell(feature)
        feature = self.lastact(feature).mean((2, 3))
        return self.classifier(feature)
