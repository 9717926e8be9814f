"""``params``: the parameter count, the baseline every score must beat.

ZiCo (Li et al. 2023) and Ning et al. 2021 point out that most zero-cost scores rank
NAS-Bench-201 cells no better than their size. Counted by :func:`nas.metrics.count_parameters`
(auxiliary heads excluded, as the papers' tables).
"""

from __future__ import annotations

from nas.metrics import count_parameters
from nas.proxies.context import ScoringContext
from nas.proxies.registry import register_proxy


@register_proxy(
    "params",
    summary="number of parameters (auxiliary heads excluded): the baseline",
    reference="Li et al. 2023 (ZiCo) on why it is the baseline; nas.metrics.count_parameters",
    uses_data=False,
)
def params(ctx: ScoringContext) -> float:
    return float(count_parameters(ctx.model))
