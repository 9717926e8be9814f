"""β-DARTS (Ye et al., CVPR 2022): DARTS with the Beta-Decay regulariser on the alphas.

The architecture loss gets ``weight * mean_e logsumexp(alpha_e)`` (the log of the softmax's
denominator per edge): minimising it keeps the alphas small and close to each other, so
that the softmax does not saturate early on parameter-free operations. ``weight`` rises
linearly with the epoch, ``weight_start + (weight_end - weight_start) * epoch / schedule_epochs``:
the authors' ``50 * epoch / 100`` (``Sunshine-Ye/Beta-DARTS``, ``optimizers/darts/architect.py``),
whose denominator is a hard-coded 100 whatever the number of epochs. That is the default, so a
15-epoch search ends at weight 7; ``schedule_epochs: null`` is the named deviation that stretches
the schedule to the search's epochs (weight ~50 at the end). All other settings are first-order
DARTS'.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import torch
from torch import nn

from nas.config_io import NonNegFloat, PosInt
from nas.darts.methods.bilevel import BilevelConfig, BilevelMethod


class BetaDartsConfig(BilevelConfig):
    """The Beta-Decay weight's linear schedule over the epochs."""

    name: Literal["beta_darts"] = "beta_darts"
    weight_start: NonNegFloat = 0.0
    weight_end: NonNegFloat = 50.0
    #: The schedule's denominator: the authors' constant 100 (as published), or None for the search's epochs.
    schedule_epochs: PosInt | None = 100


def beta_decay(alphas: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Mean over every edge of every cell type of ``logsumexp`` of its alphas."""
    rows = torch.cat([torch.logsumexp(a, dim=-1) for a in alphas.values()])
    return rows.mean()


class BetaDarts(BilevelMethod):
    name = "beta_darts"
    Config = BetaDartsConfig
    description = "β-DARTS: DARTS plus the Beta-Decay regulariser (linear weight schedule)"
    weight = 0.0

    def begin_epoch(self, epoch: int, epochs: int) -> dict[str, float]:
        cfg = self.config
        frac = epoch / (cfg.schedule_epochs or epochs)  # type: ignore[attr-defined]
        self.weight = cfg.weight_start + (cfg.weight_end - cfg.weight_start) * frac  # type: ignore[attr-defined]
        return {"beta_weight": self.weight}

    def regulariser(self, alphas: Mapping[str, nn.Parameter]) -> torch.Tensor | None:
        return self.weight * beta_decay(alphas) if self.weight > 0 else None
