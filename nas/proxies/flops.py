"""``flops``: FLOPs of one image's forward pass, the other size baseline.

Counted by :func:`nas.metrics.count_flops` (``torch.utils.flop_counter``, 2 FLOPs per
multiply-add, eval mode, one image of the minibatch's shape).
"""

from __future__ import annotations

from nas.metrics import count_flops
from nas.proxies.context import ScoringContext
from nas.proxies.registry import register_proxy


@register_proxy(
    "flops",
    summary="FLOPs of one image's forward pass: the other baseline",
    reference="nas.metrics.count_flops (torch.utils.flop_counter)",
    uses_data=False,
)
def flops(ctx: ScoringContext) -> float:
    return float(count_flops(ctx.model, (1, *ctx.batch.images.shape[1:])))
