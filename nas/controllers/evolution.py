"""Regularized (aging) evolution, Real et al. 2019.

A population of the ``population_size`` most recently evaluated architectures; a
child is a mutation (one decision changed, through the space's ``mutate``) of the best
of ``sample_size`` individuals drawn from the population, and the *oldest* individual
dies when a child joins. Ageing rather than killing the worst keeps the search from
clinging to an architecture that got a lucky score.

``avoid_duplicates`` retries a mutation whose child was already evaluated or is being
evaluated (at most ``max_mutation_tries`` times): a repeated architecture teaches the
search nothing new.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationInfo, field_validator

from nas.config_io import PosInt
from nas.controllers.base import Controller, ControllerOptions


class RegularizedEvolution(Controller):
    """Aging evolution with tournament selection and single-decision mutation."""

    name = "evolution"

    class Options(ControllerOptions):
        """Real et al.'s aging evolution; the defaults are a small population for short searches."""

        population_size: PosInt = 20
        sample_size: PosInt = 10
        avoid_duplicates: bool = True
        max_mutation_tries: PosInt = 50

        @field_validator("sample_size")
        @classmethod
        def _within_population(cls, value: int, info: ValidationInfo) -> int:
            population = info.data.get("population_size")
            if population is not None and value > population:
                raise ValueError(f"expected at most population_size ({population}), got {value}")
            return value

    options: Options

    def _setup(self) -> None:
        self.population: list[tuple[list[int], float]] = []  # oldest first
        self.seen: set[tuple[int, ...]] = set()  # evaluated or being evaluated

    def _propose_values(self) -> list[int]:
        if len(self.population) + self.num_pending < self.options.population_size or not self.population:
            values = self._fresh(self.random_values)
        else:
            k = min(self.options.sample_size, len(self.population))
            contenders = self.rng.sample(range(len(self.population)), k)
            parent = max(contenders, key=lambda i: (self.population[i][1], i))  # ties: the younger
            parent_values = self.population[parent][0]
            values = self._fresh(lambda: self._mutate(parent_values))
        self.seen.add(tuple(values))
        return values

    def _fresh(self, make: Any) -> list[int]:
        values = make()
        if self.options.avoid_duplicates:
            for _ in range(self.options.max_mutation_tries - 1):
                if tuple(values) not in self.seen:
                    break
                values = make()
        return values

    def _mutate(self, values: list[int]) -> list[int]:
        child = self.space.mutate(self.space.from_decisions(values), self.rng)
        return self.space.to_decisions(child)

    def _observe_values(self, values: list[int], score: float, metrics: dict[str, float]) -> None:
        self.seen.add(tuple(values))
        self.population.append((list(values), score))
        if len(self.population) > self.options.population_size:
            self.population.pop(0)

    def _algorithm_state(self) -> dict[str, Any]:
        return {
            "population": [[v, s] for v, s in self.population],
            "seen": sorted(list(v) for v in self.seen),
        }

    def _load_algorithm_state(self, state: Mapping[str, Any]) -> None:
        self.population = [([int(x) for x in v], float(s)) for v, s in state["population"]]
        self.seen = {tuple(int(x) for x in v) for v in state["seen"]}
