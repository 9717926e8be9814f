"""Random search: the baseline every NAS method has to beat (NAS-Bench-201: 93.70 +- 0.36)."""

from __future__ import annotations

from nas.controllers.base import Controller


class RandomSearch(Controller):
    """Uniform over decision vectors; learns nothing from the scores."""

    name = "random"

    def _propose_values(self) -> list[int]:
        return self.random_values()

    def _observe_values(self, values: list[int], score: float, metrics: dict[str, float]) -> None:
        return None
