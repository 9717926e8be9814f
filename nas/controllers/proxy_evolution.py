"""Regularized evolution helped by a zero-cost proxy: warm-up and move proposal (Abdelfattah et al. 2021).

Under the NAS-Bench-201 protocol a query is paid (its 12-epoch training time) and a
proxy score is free. The authors' examples (``notebooks/nas_examples.ipynb`` of
SamsungLabs/zero-cost-nas) use the score twice in aging evolution:

- *warm-up* (``warmup_samples`` > 0): the initial population is the ``population_size``
  best-scored cells of ``warmup_samples`` random cells (the notebook: 3,000), instead of
  ``population_size`` random ones. With ``avoid_duplicates`` the cells are distinct (the
  notebook samples with replacement and may keep a repeat).
- *move proposal* (``move_proposal``): a mutation looks at candidate children of the
  parent and proposes the best-scored one, except with probability ``move_random_prob``
  (the notebook: 0.25) a random one of them. ``move_candidates`` = 0 takes every
  single-decision neighbour of the parent, as the notebook (24 on NAS-Bench-201);
  K > 0 takes K random mutations instead (duplicates possible).

The scores come from a CSV file (``scores``: columns ``arch`` = NB201 string and
``score``, higher is better; ``benchmarks/build_proxy_table.py`` writes it, resumably;
unset: the repository's committed synflow table, :data:`REPO_SCORES`, which a wheel
install does not have, so there the option is required):
the controller never builds a network. It needs the ``nb201`` space, and every cell it
looks at must be in the file (a missing cell is a one-line error naming the file).
Everything else (tournament, ageing, state) is :class:`RegularizedEvolution`.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field

from nas.config_io import NonNegInt
from nas.controllers.evolution import RegularizedEvolution
from nas.errors import NasError
from nas.genotypes.codec import to_nb201_string

_SCORES: dict[tuple[str, float], dict[str, float]] = {}

#: The synflow table committed in the repository (seed 0, batch 64; 15,625 cells): the default ``scores``.
REPO_SCORES = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "nb201_synflow_scores.csv"


def default_scores() -> Path:
    """:data:`REPO_SCORES` when running from the repository; a one-line error naming the option otherwise."""
    if not REPO_SCORES.is_file():
        raise NasError(
            "options.proxy_evolution.scores: expected the path of a proxy table CSV (columns arch, score; "
            "benchmarks/build_proxy_table.py writes one); the repository's default table is not installed"
        )
    return REPO_SCORES


def load_scores(path: str | os.PathLike[str]) -> dict[str, float]:
    """NB201 string -> score from a proxy table CSV (cached per file and modification time)."""
    p = Path(path)
    if not p.is_file():
        raise NasError(f"scores: proxy table {p} not found (build it with benchmarks/build_proxy_table.py)")
    key = (str(p.absolute()), p.stat().st_mtime)
    if key not in _SCORES:
        scores: dict[str, float] = {}
        with p.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames is None or not {"arch", "score"} <= set(reader.fieldnames):
                raise NasError(f"scores: {p}: expected a CSV with columns arch and score, got {reader.fieldnames}")
            for line, row in enumerate(reader, start=2):
                try:
                    value = float(row["score"])
                except (TypeError, ValueError):
                    raise NasError(f"scores: {p}:{line}: score {row['score']!r} is not a number") from None
                scores[row["arch"].strip()] = value if math.isfinite(value) else -math.inf
        if not scores:
            raise NasError(f"scores: {p}: no rows")
        _SCORES[key] = scores
    return _SCORES[key]


class ProxyAssistedEvolution(RegularizedEvolution):
    """Aging evolution whose initial population and mutations are chosen by a free proxy score."""

    name = "proxy_evolution"

    class Options(RegularizedEvolution.Options):
        """The evolution's options, the score file, and how the score is used."""

        scores: str | None = None  # None: the repository's synflow table (REPO_SCORES)
        warmup_samples: NonNegInt = 0
        move_proposal: bool = True
        move_candidates: NonNegInt = 0
        move_random_prob: float = Field(0.25, ge=0.0, le=1.0)

        def check_resources(self) -> None:
            load_scores(self.scores if self.scores is not None else default_scores())

    options: Options

    def _setup(self) -> None:
        super()._setup()
        if self.space.name != "nb201":
            raise NasError(f"{self.name}: the proxy table holds NAS-Bench-201 cells; got space {self.space.name!r}")
        self.scores_path = Path(self.options.scores) if self.options.scores is not None else default_scores()
        self.scores = load_scores(self.scores_path)
        self.warmup: list[list[int]] = self._warmup_cells() if self.options.warmup_samples else []

    def score_of(self, values: list[int]) -> float:
        """The proxy score of a decision vector (free: a lookup)."""
        arch = to_nb201_string(self.space.from_decisions(values))  # type: ignore[arg-type]
        if arch not in self.scores:
            raise NasError(f"scores: {self.scores_path} has no score for {arch}")
        return self.scores[arch]

    def _warmup_cells(self) -> list[list[int]]:
        sample = [self.random_values() for _ in range(self.options.warmup_samples)]
        ranked = sorted(sample, key=self.score_of, reverse=True)  # stable: ties keep the sampling order
        if self.options.avoid_duplicates:
            ranked = [list(v) for v in dict.fromkeys(tuple(v) for v in ranked)]
        return ranked[: self.options.population_size]

    def _propose_values(self) -> list[int]:
        filling = len(self.population) + self.num_pending < self.options.population_size or not self.population
        if filling and self.warmup:
            values = self.warmup.pop(0)
            self.seen.add(tuple(values))
            return values
        if filling or not self.options.move_proposal:
            return super()._propose_values()
        parent = self._parent()
        candidates = self._candidates(parent)
        if self.options.avoid_duplicates:
            candidates = [c for c in candidates if tuple(c) not in self.seen] or candidates
        if self.rng.random() < self.options.move_random_prob:
            values = self.rng.choice(candidates)
        else:
            values = max(candidates, key=self.score_of)  # ties: the first
        self.seen.add(tuple(values))
        return values

    def _parent(self) -> list[int]:
        """The tournament winner, drawn as :class:`RegularizedEvolution` draws it."""
        if self.options.sample_with_replacement:
            contenders = [self.rng.randrange(len(self.population)) for _ in range(self.options.sample_size)]
        else:
            contenders = self.rng.sample(
                range(len(self.population)), min(self.options.sample_size, len(self.population))
            )
        return self.population[max(contenders, key=lambda i: (self.population[i][1], i))][0]

    def _candidates(self, parent: list[int]) -> list[list[int]]:
        if self.options.move_candidates:
            return [self._mutate(parent) for _ in range(self.options.move_candidates)]
        out = []
        for i, decision in enumerate(self.space.decisions()):
            for c in range(len(decision.choices)):
                if c != parent[i]:
                    out.append([*parent[:i], c, *parent[i + 1 :]])
        return out

    def _algorithm_state(self) -> dict[str, Any]:
        return {**super()._algorithm_state(), "warmup": [list(v) for v in self.warmup]}

    def _load_algorithm_state(self, state: Mapping[str, Any]) -> None:
        super()._load_algorithm_state(state)
        self.warmup = [[int(x) for x in v] for v in state.get("warmup", [])]
