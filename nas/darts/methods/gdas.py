"""GDAS (Dong & Yang, CVPR 2019): one Gumbel-sampled operation per edge, alphas by gradient.

Follows the authors' NAS-Bench-201 code (AutoDL-Projects ``search_model_gdas.py`` and the
GDAS search script): per edge ``logits = (log_softmax(alpha) + g) / tau`` with Gumbel noise
``g``; the arg-max operation is the only one that runs, its weight the straight-through
``one_hot - probs.detach() + probs`` (value 1, gradient of the soft probabilities); ``tau``
goes linearly from ``tau_max`` (10) to ``tau_min`` (0.1) over the epochs; Adam on the
alphas, first order. In the DARTS space the normal and reduction cells are sampled
separately and the final cell follows the DARTS rule on ``softmax(alpha)``.
"""

from __future__ import annotations

from typing import Any, Literal

import torch

from nas.config_io import PosFloat
from nas.darts.methods.base import CellArch, MethodConfig
from nas.darts.methods.bilevel import BilevelMethod

__all__ = ["Gdas", "GdasConfig", "gumbel_hard", "tau_at"]


class GdasConfig(MethodConfig):
    """Gumbel temperature annealed linearly from ``tau_max`` to ``tau_min`` (the authors' 10 -> 0.1)."""

    name: Literal["gdas"] = "gdas"
    tau_max: PosFloat = 10.0
    tau_min: PosFloat = 0.1


def gumbel_hard(alphas: torch.Tensor, tau: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``(hard weights [edges, ops], sampled index [edges])``; resampled on inf/nan as the authors do."""
    while True:
        gumbels = -torch.empty_like(alphas).exponential_().log()
        logits = (alphas.log_softmax(dim=1) + gumbels) / tau
        probs = torch.softmax(logits, dim=1)
        if not (torch.isinf(gumbels).any() or torch.isinf(probs).any() or torch.isnan(probs).any()):
            break
    index = probs.max(-1, keepdim=True)[1]
    one_hot = torch.zeros_like(logits).scatter_(-1, index, 1.0)
    return one_hot - probs.detach() + probs, index.squeeze(-1)


def tau_at(epoch: int, epochs: int, tau_max: float, tau_min: float) -> float:
    """Linear annealing: ``tau_max`` at epoch 0, ``tau_min`` at the last epoch (the authors' formula)."""
    if epochs <= 1:
        return tau_max
    return tau_max - (tau_max - tau_min) * epoch / (epochs - 1)


class Gdas(BilevelMethod):
    name = "gdas"
    Config = GdasConfig
    description = "GDAS: one Gumbel-sampled operation per edge (single-path supernet)"
    single_path = True

    def __init__(self, config: MethodConfig, search: Any, supernet: Any, reduce: Any) -> None:
        super().__init__(config, search, supernet, reduce)
        self.tau = config.tau_max  # type: ignore[attr-defined]

    @classmethod
    def check(cls, config: MethodConfig, search: Any) -> None:
        if config.tau_min > config.tau_max:  # type: ignore[attr-defined]
            raise ValueError(f"method.tau_min: {config.tau_min} exceeds method.tau_max {config.tau_max}")  # type: ignore[attr-defined]

    def begin_epoch(self, epoch: int, epochs: int) -> dict[str, float]:
        cfg = self.config
        self.tau = tau_at(epoch, epochs, cfg.tau_max, cfg.tau_min)  # type: ignore[attr-defined]
        return {"tau": self.tau}

    def sample(self, training: bool) -> dict[str, CellArch]:
        out = {}
        for ct, alpha in self.supernet.cell_alphas().items():
            if training:
                hard, index = gumbel_hard(alpha, self.tau)
                out[ct] = CellArch(hard, None, [(k,) for k in index.tolist()])
            else:
                index = alpha.argmax(dim=-1)
                one_hot = torch.zeros_like(alpha).scatter_(-1, index[:, None], 1.0)
                out[ct] = CellArch(one_hot, None, [(k,) for k in index.tolist()])
        return out
