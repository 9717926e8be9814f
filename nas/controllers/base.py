"""The controller interface: propose genotypes, learn from their scores, checkpoint as JSON.

Every trial-based NAS method (random search, regularized evolution, REINFORCE, an LSTM
controller, Optuna samplers) drives a search space only through its categorical
decisions, so one controller works for every space. A controller is seeded and its
whole state is plain JSON (no pickle), so a search killed at any moment resumes with
exactly the controller it had, in-process or inside a Ray Tune ``Searcher``.

Proposals may be outstanding when more proposals are asked for (trials run in
parallel); ``observe`` matches a result to the decision vector that produced it, which
matters when several decision vectors give the same genotype (the hybrid space ignores
the decisions of families a stage does not use).

Each controller declares its options once, as a frozen pydantic model ``Options`` on
its class (names, types, bounds and defaults in one place): a config file validates
its ``options`` section against the same models (with field paths in the errors), and
the constructor takes an ``Options`` instance, a mapping, or the option names as
keywords.
"""

from __future__ import annotations

import math
import random
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from nas.config_io import MAX_SEED, no_bool, validation_error
from nas.errors import NasError
from nas.genotypes.codec import to_json
from nas.genotypes.types import Genotype
from nas.search_spaces.base import SearchSpace

#: Version of the JSON state layout (checked on load).
STATE_VERSION = 1

#: The momentum of a moving average: a number in [0, 1].
Momentum = Annotated[float, BeforeValidator(no_bool), Field(ge=0, le=1)]


def rng_state(rng: random.Random) -> list[Any]:
    """A ``random.Random`` state as JSON-compatible lists."""
    version, internal, gauss = rng.getstate()
    return [version, list(internal), gauss]


def set_rng_state(rng: random.Random, state: Sequence[Any]) -> None:
    """Inverse of :func:`rng_state`."""
    version, internal, gauss = state
    rng.setstate((version, tuple(internal), gauss))


def sample_index(probs: Sequence[float], rng: random.Random) -> int:
    """Draw an index from a categorical distribution with one ``rng.random()`` call."""
    u = rng.random()
    acc = 0.0
    for i, p in enumerate(probs):
        acc += p
        if u < acc:
            return i
    return len(probs) - 1  # rounding: the cumulative sum may end just below 1


def check_number(
    owner: str,
    name: str,
    value: Any,
    *,
    integer: bool = False,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
) -> Any:
    """Validate a numeric option and return it; the error names ``owner.name``."""
    kind = "an integer" if integer else "a number"
    ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok_type or (not integer and not math.isfinite(value)):
        raise NasError(f"{owner}.{name}: expected {kind}, got {value!r}")
    if low is not None and (value <= low if low_open else value < low):
        raise NasError(f"{owner}.{name}: expected {kind} {'>' if low_open else '>='} {low}, got {value!r}")
    if high is not None and value > high:
        raise NasError(f"{owner}.{name}: expected {kind} <= {high}, got {value!r}")
    return value if integer else float(value)


class ControllerOptions(BaseModel):
    """The options of one controller: frozen, strictly typed, finite, unknown names refused."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    def check_resources(self) -> None:
        """Fail fast, before a search starts, when a file the options need is missing (a one-line NasError).

        Not a validator: every controller's options are built with their defaults in every config,
        and a missing file only matters to the controller that runs.
        """


class Controller(ABC):
    """Proposes genotypes of ``space`` and learns from ``observe``d scores (higher is better)."""

    #: Registry name, e.g. ``"evolution"``.
    name: ClassVar[str] = ""
    #: The controller's options model (a subclass of :class:`ControllerOptions` per controller).
    Options: ClassVar[type[ControllerOptions]] = ControllerOptions
    #: This controller's validated options.
    options: ControllerOptions

    def __init__(
        self,
        space: SearchSpace,
        *,
        seed: int = 0,
        options: ControllerOptions | Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> None:
        """``options`` (an ``Options`` or a mapping) and keyword ``fields`` override the defaults."""
        check_number(self.name or "controller", "seed", seed, integer=True, low=0, high=MAX_SEED)
        self.options = self.parse_options(options, **fields)
        self.space = space
        self.decisions = space.decisions()
        self.sizes = [len(d.choices) for d in self.decisions]
        self.seed = seed
        self.rng = random.Random(seed)
        self.num_proposed = 0
        self.num_observed = 0
        self.num_failed = 0
        # genotype JSON -> decision vectors proposed for it and not yet observed (FIFO)
        self._pending: dict[str, list[list[int]]] = {}
        self._setup()

    @classmethod
    def parse_options(
        cls, options: ControllerOptions | Mapping[str, Any] | None = None, **fields: Any
    ) -> ControllerOptions:
        """Validated ``Options`` from an instance, a mapping and/or keywords; a one-line error otherwise."""
        if isinstance(options, cls.Options) and not fields:
            return options
        if isinstance(options, BaseModel):
            options = options.model_dump()
        if options is not None and not isinstance(options, Mapping):
            raise NasError(f"{cls.name}: options: expected a mapping of option names to values, got {options!r}")
        data = {**(options or {}), **fields}
        known = list(cls.Options.model_fields)
        for key in data:
            if key not in known:
                raise NasError(f"{cls.name}: unknown option {key!r} (known: {', '.join(known) or 'none'})")
        try:
            return cls.Options.model_validate(data)
        except ValidationError as exc:
            raise validation_error(exc, cls.Options, cls.name) from None

    # ------------------------------------------------------------------ API
    def propose(self) -> Genotype:
        """The next genotype to evaluate."""
        values = [int(v) for v in self._propose_values()]
        genotype = self.space.from_decisions(values)
        self._pending.setdefault(to_json(genotype), []).append(values)
        self.num_proposed += 1
        return genotype

    def observe(self, genotype: Genotype, score: float | None, metrics: Mapping[str, float] | None = None) -> None:
        """Learn from the ``score`` of ``genotype``; ``None`` or NaN records a failed trial.

        ``metrics`` carries extra measurements (``params``, ``flops``) for multi-objective
        controllers. A genotype that was never proposed (e.g. a warm start) is accepted too.
        """
        values = self._take_pending(genotype)
        if score is None or not math.isfinite(float(score)):
            self.num_failed += 1
            self._observe_failure(values)
            return
        self.num_observed += 1
        self._observe_values(values, float(score), dict(metrics or {}))

    @property
    def num_pending(self) -> int:
        """Proposals not yet observed."""
        return sum(len(v) for v in self._pending.values())

    def state_dict(self) -> dict[str, Any]:
        """The complete state as JSON-compatible data."""
        return {
            "version": STATE_VERSION,
            "controller": self.name,
            "space": self.space.name,
            "seed": self.seed,
            "rng": rng_state(self.rng),
            "num_proposed": self.num_proposed,
            "num_observed": self.num_observed,
            "num_failed": self.num_failed,
            "pending": {k: [list(v) for v in vs] for k, vs in self._pending.items()},
            "algorithm": self._algorithm_state(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a state written by :meth:`state_dict` of the same controller and space."""
        if not isinstance(state, Mapping) or state.get("version") != STATE_VERSION:
            raise NasError(f"{self.name} controller state: expected version {STATE_VERSION}")
        for key, mine in (("controller", self.name), ("space", self.space.name)):
            if state.get(key) != mine:
                raise NasError(f"{self.name} controller state: {key} is {state.get(key)!r}, expected {mine!r}")
        self.seed = int(state["seed"])
        set_rng_state(self.rng, state["rng"])
        self.num_proposed = int(state["num_proposed"])
        self.num_observed = int(state["num_observed"])
        self.num_failed = int(state["num_failed"])
        self._pending = {k: [list(map(int, v)) for v in vs] for k, vs in state["pending"].items()}
        self._load_algorithm_state(state["algorithm"])

    # ------------------------------------------------------------ subclasses
    def _setup(self) -> None:  # noqa: B027 - optional hook
        """Build the algorithm's state from ``self.options`` (called at the end of ``__init__``)."""

    @abstractmethod
    def _propose_values(self) -> list[int]:
        """A decision vector (one choice index per decision)."""

    @abstractmethod
    def _observe_values(self, values: list[int], score: float, metrics: dict[str, float]) -> None:
        """Learn from a finite score of the decision vector ``values``."""

    def _observe_failure(self, values: list[int]) -> None:  # noqa: B027 - optional hook
        """A trial failed (NaN, exception): by default nothing is learnt from it."""

    def _algorithm_state(self) -> dict[str, Any]:
        return {}

    def _load_algorithm_state(self, state: Mapping[str, Any]) -> None:
        return None

    # --------------------------------------------------------------- helpers
    def random_values(self) -> list[int]:
        """A uniformly random decision vector."""
        return [self.rng.randrange(n) for n in self.sizes]

    def _take_pending(self, genotype: Genotype) -> list[int]:
        key = to_json(genotype)
        queue = self._pending.get(key)
        if queue:
            values = queue.pop(0)
            if not queue:
                del self._pending[key]
            return values
        return self.space.to_decisions(genotype)
