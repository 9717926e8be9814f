"""Zero-cost scores: rank untrained networks from one minibatch of real images.

Training candidates is what makes NAS expensive. These scores look at a network at
initialisation instead (Mellor et al. 2021; Abdelfattah et al. 2021; Li et al. 2023)::

    from nas.proxies import sample_batch, score
    batch = sample_batch(load_dataset("cifar10"), 64, seed=0)
    score(genotype, ["naswot", "synflow"], batch, seed=0)   # {"naswot": ..., "synflow": ...}

One small module per score behind one registry (:mod:`nas.proxies.registry`); every
module's docstring names the reference it follows and any deviation. ``params`` and
``flops`` are the baselines a score has to beat. :func:`score` is deterministic for a
seed and leaves no state behind (:mod:`nas.proxies.api`); :mod:`nas.proxies.combine`
ranks a set of candidates by several scores at once.
"""

from nas.proxies.api import build_network, sample_batch, score, seeded
from nas.proxies.combine import combine, majority_vote, rank_average
from nas.proxies.context import Batch, preserved
from nas.proxies.quality import rank_quality, top_overlap
from nas.proxies.registry import Proxy, get_proxy, proxy_names, register_proxy, resolve_proxies

__all__ = [
    "Batch",
    "Proxy",
    "build_network",
    "combine",
    "get_proxy",
    "majority_vote",
    "preserved",
    "proxy_names",
    "rank_average",
    "rank_quality",
    "register_proxy",
    "resolve_proxies",
    "sample_batch",
    "score",
    "seeded",
    "top_overlap",
]
