"""``grad_norm``: the sum over conv and linear layers of ``||dL/dw||_2``.

Abdelfattah et al. 2021 (SamsungLabs/zero-cost-nas, NASLib ``measures/grad_norm.py``):
``L`` the cross-entropy of the minibatch, network in training mode; one Euclidean norm
per layer's weight gradient, summed over layers.
"""

from __future__ import annotations

from nas.proxies.context import ScoringContext
from nas.proxies.registry import register_proxy


@register_proxy(
    "grad_norm",
    summary="sum over layers of the L2 norm of the cross-entropy's weight gradient",
    reference="Abdelfattah et al. 2021; SamsungLabs/zero-cost-nas, NASLib grad_norm.py",
    shares=("ce_grads",),
)
def grad_norm(ctx: ScoringContext) -> float:
    return float(sum(float(g.norm()) for g in ctx.train_pass("ce_grads").ce_grads))
