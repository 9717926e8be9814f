"""The one small interface every search space implements.

The trial-based controllers (random, evolution, REINFORCE, LSTM, Optuna) only see this
interface: a space is a list of categorical *decisions*; a vector of choice indices maps
to a genotype (``from_decisions``) and back (``to_decisions``). That is enough for an RL
policy or an Optuna sampler to drive any space, and ``mutate`` serves evolution.

DARTS does not go through it: its supernets (:mod:`nas.darts`) relax the operations of
the DARTS and NAS-Bench-201 cells continuously and derive the same genotype types
(``DartsGenotype``, ``NB201Genotype``) that the ``darts`` and ``nb201`` spaces here produce,
so a cell found either way is built, trained and exported alike.
"""

from __future__ import annotations

import math
import numbers
import random
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nas.errors import NasError
from nas.genotypes.types import Genotype

if TYPE_CHECKING:  # only an annotation here: importing torch costs `nas sample`/`nas spaces` ~2 s of start-up
    from torch import nn


@dataclass(frozen=True)
class Decision:
    """One categorical choice: a stable ``name`` and the ``choices`` it ranges over."""

    name: str
    choices: tuple[Any, ...]

    def __post_init__(self) -> None:
        if not self.choices:
            raise ValueError(f"decision {self.name!r} has no choices")
        object.__setattr__(self, "choices", tuple(self.choices))


@dataclass(frozen=True)
class MacroSettings:
    """The default network settings a space builds with on CIFAR-10 (passed to ``build``)."""

    num_classes: int = 10
    build_options: dict[str, Any] = field(default_factory=dict)


class SearchSpace(ABC):
    """A set of genotypes described by categorical decisions."""

    #: Short registry name, e.g. ``"darts"``.
    name: str = ""
    #: One-line description for ``nas spaces``.
    description: str = ""

    @abstractmethod
    def decisions(self) -> list[Decision]:
        """The categorical decisions, in a fixed order (the order RL controllers decide in)."""

    @abstractmethod
    def from_decisions(self, values: Sequence[int]) -> Genotype:
        """The genotype of a vector of choice indices (one per decision)."""

    @abstractmethod
    def to_decisions(self, genotype: Genotype) -> list[int]:
        """Inverse of :meth:`from_decisions` for genotypes of this space."""

    def size(self) -> int:
        """Number of distinct decision vectors (an upper bound on distinct genotypes)."""
        return math.prod(len(d.choices) for d in self.decisions())

    def sample(self, rng: random.Random) -> Genotype:
        """A genotype drawn uniformly over decision vectors."""
        return self.from_decisions([rng.randrange(len(d.choices)) for d in self.decisions()])

    def mutate(self, genotype: Genotype, rng: random.Random) -> Genotype:
        """Change one decision to a different choice (regularized evolution's mutation)."""
        values = self.to_decisions(genotype)
        decisions = self.decisions()
        mutable = [i for i, d in enumerate(decisions) if len(d.choices) > 1]
        i = rng.choice(mutable)
        values[i] = rng.choice([c for c in range(len(decisions[i].choices)) if c != values[i]])
        return self.from_decisions(values)

    def default_settings(self) -> MacroSettings:
        """How networks of this space are built by default on CIFAR-10."""
        return MacroSettings()

    def build(self, genotype: Genotype, num_classes: int | None = None, **options: Any) -> nn.Module:
        """The network of ``genotype`` with this space's default settings, overridable."""
        settings = self.default_settings()
        merged = {**settings.build_options, **options}
        # Local: nas.networks imports torch, which `nas sample`/`nas spaces` never need (start-up).
        from nas.networks import build as build_network

        return build_network(genotype, num_classes=num_classes or settings.num_classes, **merged)

    def check_decisions(self, values: Sequence[int]) -> list[int]:
        """Validate a decision vector, naming the first bad entry."""
        decisions = self.decisions()
        if len(values) != len(decisions):
            raise NasError(f"{self.name}: expected {len(decisions)} decisions, got {len(values)}")
        out: list[int] = []
        for d, v in zip(decisions, values):
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or not 0 <= v < len(d.choices):
                raise NasError(f"{self.name}.{d.name}: expected a choice index 0..{len(d.choices) - 1}, got {v!r}")
            out.append(int(v))
        return out
