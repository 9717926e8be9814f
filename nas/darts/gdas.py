"""GDAS (Dong & Yang, CVPR 2019) pieces: the hard Gumbel-softmax sample and the temperature schedule.

Follows the authors' NAS-Bench-201 code (AutoDL-Projects ``search_model_gdas.py`` and
``exps/NAS-Bench-201-algos/GDAS.py``): per edge ``logits = (log_softmax(alpha) + g) / tau``
with Gumbel noise ``g``; the arg-max op is the one that runs, its weight is the
straight-through ``one_hot - probs.detach() + probs`` (value 1, gradient of the soft
probabilities); ``tau`` goes linearly from ``tau_max`` (10) to ``tau_min`` (0.1) over the
epochs; Adam(lr 3e-4, betas (0.5, 0.999), weight decay 1e-3) on the alphas, first order,
weights and architecture stepped alternately on the two halves of the training set.
"""

from __future__ import annotations

import torch

__all__ = ["gumbel_hard", "tau_at"]


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
