"""Combining scores over a set of candidates: rank average and majority vote.

A single score is compared across candidates only through its order, so combinations
work on ranks. Both need the whole set of candidates a search is ranking (a population,
a sample); they are computed after :func:`nas.proxies.score` has scored each of them.

* :func:`rank_average`: the mean of each score's rank (Borda count).
* :func:`majority_vote`: candidate ``i`` beats ``j`` when a strict majority of the scores
  rank it higher (Abdelfattah et al. 2021's vote over synflow, jacov and snip); a
  candidate's value is how many others it beats (its Copeland score), which turns the
  pairwise votes into a ranking.

A NaN score (e.g. a degenerate ``jacov``) ranks below every number.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy.stats import rankdata

from nas.errors import NasError

__all__ = ["COMBINERS", "combine", "majority_vote", "rank_average", "ranks"]


def ranks(values: Sequence[float]) -> np.ndarray:
    """Average ranks (1 = lowest), NaN below every number."""
    v = np.asarray(values, dtype=np.float64)
    v = np.where(np.isnan(v), -np.inf, v)
    return rankdata(v, method="average")


def _columns(columns: Mapping[str, Sequence[float]]) -> np.ndarray:
    if not columns:
        raise NasError("combine: expected at least one score")
    lengths = {len(v) for v in columns.values()}
    if len(lengths) != 1:
        raise NasError(f"combine: every score needs one value per candidate, got lengths {sorted(lengths)}")
    return np.stack([ranks(v) for v in columns.values()])


def rank_average(columns: Mapping[str, Sequence[float]]) -> np.ndarray:
    """Mean rank of each candidate over the scores in ``columns`` (``{name: values}``)."""
    return _columns(columns).mean(0)


def majority_vote(columns: Mapping[str, Sequence[float]]) -> np.ndarray:
    """Number of candidates each one beats by a strict majority of the scores."""
    r = _columns(columns)  # [scores, candidates]
    k, n = r.shape
    votes = np.zeros((n, n), dtype=np.int32)
    for row in r:
        votes += row[:, None] > row[None, :]
    return (votes * 2 > k).sum(1).astype(np.float64)


COMBINERS = {"rank_average": rank_average, "vote": majority_vote}


def combine(how: str, columns: Mapping[str, Sequence[float]]) -> np.ndarray:
    """``rank_average`` or ``vote`` of ``columns``."""
    if how not in COMBINERS:
        raise NasError(f"combine: unknown method {how!r} (known: {', '.join(COMBINERS)})")
    return COMBINERS[how](columns)
