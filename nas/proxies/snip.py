"""``snip``: connection sensitivity, ``sum |w * dL/dw|`` over conv and linear weights.

Lee et al. 2019 ("SNIP: single-shot network pruning based on connection sensitivity"),
as a NAS score by Abdelfattah et al. 2021 (SamsungLabs/zero-cost-nas, NASLib
``measures/snip.py``): ``L`` the cross-entropy of the minibatch, network in training
mode. The references multiply each weight by a mask of ones and take ``|dL/dmask|``;
that gradient is ``w * dL/dw`` exactly, which is what we compute (so convolutions that
run functionally on their weight, like the fused ``FactorizedReduce``, count too).
"""

from __future__ import annotations

from nas.proxies.context import ScoringContext
from nas.proxies.registry import register_proxy


@register_proxy(
    "snip",
    summary="connection sensitivity: sum |w * dL/dw| of the cross-entropy on the minibatch",
    reference="Lee et al. 2019; Abdelfattah et al. 2021; SamsungLabs/zero-cost-nas, NASLib snip.py",
    shares=("ce_grads",),
)
def snip(ctx: ScoringContext) -> float:
    shared = ctx.train_pass("ce_grads")
    return float(sum(float((m.weight.detach() * g).abs().sum()) for m, g in zip(shared.layers, shared.ce_grads)))
