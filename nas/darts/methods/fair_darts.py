"""Fair DARTS (Chu et al., ECCV 2020): independent sigmoid weights and a zero-one loss.

Operations no longer compete in a softmax (which hands the edge to skip connections), and
the zero-one loss ``-mean (sigmoid(alpha) - 0.5)^2``, weighted by ``zero_one_weight``,
pushes each weight towards 0 or 1 so that the arg-max is a clear choice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import torch
from torch import nn

from nas.config_io import NonNegFloat
from nas.darts.methods.bilevel import BilevelConfig, BilevelMethod


class FairDartsConfig(BilevelConfig):
    """``zero_one_weight``: the weight of the zero-one loss (the authors' w_{0-1} = 10)."""

    name: Literal["fair_darts"] = "fair_darts"
    zero_one_weight: NonNegFloat = 10.0


def zero_one_loss(alphas: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """``-1/N sum (sigmoid(alpha) - 0.5)^2`` over every operation alpha (edge betas excluded)."""
    total = sum(((torch.sigmoid(a) - 0.5) ** 2).sum() for a in alphas.values())
    count = sum(a.numel() for a in alphas.values())
    return -total / count


class FairDarts(BilevelMethod):
    name = "fair_darts"
    Config = FairDartsConfig
    description = "Fair DARTS: sigmoid weights plus a zero-one loss"

    def op_weights(self, alpha: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(alpha)

    def regulariser(self, alphas: Mapping[str, nn.Parameter]) -> torch.Tensor | None:
        weight = self.config.zero_one_weight  # type: ignore[attr-defined]
        return weight * zero_one_loss(alphas) if weight > 0 else None
