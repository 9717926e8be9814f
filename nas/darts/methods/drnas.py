"""DrNAS (Chen et al., ICLR 2021): a Dirichlet distribution over each edge's operation weights.

The alphas parameterise Dirichlet concentrations ``beta = elu(alpha) + 1``; each training
forward runs the supernet with weights *sampled* from ``Dir(beta)`` (reparameterised, so
the validation loss trains the concentrations). The authors' default regulariser is the
plain L2 of Adam's weight decay (``reg_type l2`` in ``xiangning-chen/DrNAS``); their optional
KL anchor ``reg_weight * KL(Dir(beta) || Dir(1))`` is ``reg_weight > 0`` here. Evaluation and
the final cell use the mean ``beta / sum(beta)``. Deviation: the authors' progressive
variant (partial channels K=4 then 2, pruning to 3 operations after the first stage) is not
implemented; this is their NB201 setting without it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Dirichlet, kl_divergence

from nas.config_io import NonNegFloat
from nas.darts.methods.base import CellArch
from nas.darts.methods.bilevel import BilevelConfig, BilevelMethod


class DrNasConfig(BilevelConfig):
    """``reg_weight``: weight of the optional KL anchor to the uniform Dirichlet (0: the authors' L2 default)."""

    name: Literal["drnas"] = "drnas"
    reg_weight: NonNegFloat = 0.0


def concentration(alpha: torch.Tensor) -> torch.Tensor:
    """``elu(alpha) + 1``: positive concentrations, the identity-plus-one around zero."""
    return F.elu(alpha) + 1.0


class DrNas(BilevelMethod):
    name = "drnas"
    Config = DrNasConfig
    description = "DrNAS: Dirichlet-sampled operation weights, KL anchor"

    def op_weights(self, alpha: torch.Tensor) -> torch.Tensor:
        beta = concentration(alpha)
        return beta / beta.sum(dim=-1, keepdim=True)

    def sample(self, training: bool) -> dict[str, CellArch]:
        out = {}
        for ct, alpha in self.supernet.cell_alphas().items():
            w = Dirichlet(concentration(alpha)).rsample() if training else self.op_weights(alpha)
            out[ct] = CellArch(w, self.supernet.edge_weights(ct))  # type: ignore[attr-defined]
        return out

    def regulariser(self, alphas: Mapping[str, nn.Parameter]) -> torch.Tensor | None:
        weight = self.config.reg_weight  # type: ignore[attr-defined]
        if weight <= 0:
            return None
        total = sum(
            kl_divergence(Dirichlet(concentration(a)), Dirichlet(torch.ones_like(a))).sum() for a in alphas.values()
        )
        return weight * total
