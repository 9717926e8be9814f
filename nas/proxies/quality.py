"""How well a score ranks candidates: Spearman, Kendall and top-k overlap against the truth.

Used by ``benchmarks/bench_proxies.py`` (scores against NAS-Bench-201 test accuracy), and
available to a search that wants to check its score on a table. NaN scores rank lowest.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import kendalltau, spearmanr

from nas.errors import NasError
from nas.proxies.combine import ranks

__all__ = ["rank_quality", "top_overlap"]


def top_overlap(scores: Sequence[float], truth: Sequence[float], fraction: float = 0.1) -> float:
    """Share of the truly best ``fraction`` of candidates that the score also puts in its best ``fraction``."""
    s, t = ranks(scores), ranks(truth)
    if len(s) != len(t) or not 0 < fraction <= 1:
        raise NasError("top_overlap: expected equal lengths and a fraction in (0, 1]")
    k = max(1, int(round(fraction * len(s))))
    top_s = set(np.argsort(-s, kind="stable")[:k].tolist())
    top_t = set(np.argsort(-t, kind="stable")[:k].tolist())
    return len(top_s & top_t) / k


def rank_quality(scores: Sequence[float], truth: Sequence[float], fraction: float = 0.1) -> dict[str, float]:
    """``{"spearman", "kendall", "top_overlap", "nan"}`` of ``scores`` against ``truth``."""
    if len(scores) != len(truth) or len(scores) < 3:
        raise NasError(f"rank_quality: expected equal lengths >= 3, got {len(scores)} and {len(truth)}")
    s, t = ranks(scores), np.asarray(truth, dtype=np.float64)
    return {
        "spearman": float(spearmanr(s, t).statistic),
        "kendall": float(kendalltau(s, t).statistic),
        "top_overlap": top_overlap(scores, truth, fraction),
        "nan": int(np.isnan(np.asarray(scores, dtype=np.float64)).sum()),
    }
