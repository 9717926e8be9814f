"""``jacov``: how decorrelated the input Jacobians of the minibatch's images are.

Mellor et al. 2020 (first version of "Neural Architecture Search without Training"),
as in NASLib ``measures/jacov.py`` and SamsungLabs/zero-cost-nas ``jacob_cov.py``:
``J`` the gradient of the summed logits w.r.t. each input image (network in training
mode), ``R`` the correlation matrix of the flattened rows of ``J``, and the score
``-sum_i [log(v_i + k) + 1 / (v_i + k)]`` over the eigenvalues ``v_i`` of ``R``,
``k = 1e-5``. ``R`` is symmetric, so its eigenvalues come from ``eigvalsh`` (the
references call the general ``eig``; same values, always real). A degenerate Jacobian
(a constant row, or an eigenvalue below ``-k``) gives NaN, as in the references.
"""

from __future__ import annotations

import numpy as np

from nas.proxies.context import ScoringContext
from nas.proxies.registry import register_proxy

K = 1e-5


def jacobian_score(jacobians: np.ndarray) -> float:
    """The score of per-sample Jacobians ``[N, D]`` (float64)."""
    with np.errstate(all="ignore"):
        corr = np.corrcoef(jacobians)
        if not np.all(np.isfinite(corr)):
            return float("nan")
        v = np.linalg.eigvalsh(corr)
        return float(-np.sum(np.log(v + K) + 1.0 / (v + K)))


@register_proxy(
    "jacov",
    summary="eigenvalue score of the correlation of per-image input Jacobians",
    reference="Mellor et al. 2020 (v1); Abdelfattah et al. 2021; NASLib jacov.py",
    shares=("input_grad",),
)
def jacov(ctx: ScoringContext) -> float:
    grad = ctx.train_pass("input_grad").input_grad
    return jacobian_score(grad.flatten(1).double().cpu().numpy())
