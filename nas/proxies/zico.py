"""``zico``: the inverse coefficient of variation of the weight gradients across minibatches.

Li et al. 2023, "ZiCo: Zero-shot NAS via inverse Coefficient of Variation on Gradients"
(ICLR), as in SLDGroup/ZiCo ``ZeroShotProxy/compute_zico.py``: the minibatch is split into
two minibatches (the published setting: two batches); for each conv/linear layer and
each weight ``theta``, ``mean |g_theta|`` and ``std g_theta`` over the two minibatch
gradients (population std, as ``np.std``); the layer contributes
``log(sum over theta with std > 0 of mean|g| / std)``; the score is the sum over layers.
Network in training mode, ``L`` the cross-entropy of each minibatch.

Deviation: the authors' ``getzico`` never zeroes ``.grad`` between the batches, so its
second "sample" is the accumulated ``g1 + g2``; we follow the paper's definition (the
gradients of independent minibatches), as the NASLib-style ports do.
"""

from __future__ import annotations

import math

import torch

from nas.proxies.context import ScoringContext, weight_gradients, weight_layers
from nas.proxies.registry import register_proxy

#: Minibatches the given batch is split into (ZiCo's two batches).
MINIBATCHES = 2


def zico_from_gradients(per_batch: list[list[torch.Tensor]]) -> float:
    """ZiCo of per-minibatch gradients ``per_batch[b][layer]``."""
    total = 0.0
    for layer_grads in zip(*per_batch):
        g = torch.stack([t.detach().flatten().double() for t in layer_grads])
        std = g.std(0, correction=0)
        nonzero = std != 0
        ratio = (g.abs().mean(0)[nonzero] / std[nonzero]).sum()
        value = float(ratio)
        if value != 0:
            total += math.log(value)
    return total


@register_proxy(
    "zico",
    summary="sum over layers of log(sum of mean|grad| / std grad) across two minibatches",
    reference="Li et al. 2023 (ICLR); SLDGroup/ZiCo compute_zico.py",
)
def zico(ctx: ScoringContext) -> float:
    layers = weight_layers(ctx.model)
    per_batch = [weight_gradients(ctx.model, layers, part) for part in ctx.batch.split(MINIBATCHES)]
    return zico_from_gradients(per_batch)
