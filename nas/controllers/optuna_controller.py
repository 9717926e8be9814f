"""Optuna samplers as controllers: TPE by default, any Optuna sampler by name.

Each decision of the space is one Optuna parameter (named like the decision), either
categorical over choice indices or, for samplers that only model ordered numbers
(CMA-ES), an integer. Optuna's ask-and-tell interface keeps the search in our hands:
the study only records trials and proposes the next one.

Multi-objective search maximises accuracy and minimises parameters and/or FLOPs
(``objectives: [accuracy, params]``); :meth:`OptunaController.pareto_front` lists the
non-dominated trials. Budgets (``max_params``, ``max_flops``) are Optuna constraints
(``trial.set_constraint``), which TPE and NSGA-II honour.

Reproducibility: a new sampler is made for every ``ask`` with a seed derived from the
controller's seed and the number of trials so far. Samplers keep everything else in the
study, so the proposals are a pure function of (seed, history) and a controller rebuilt
from :meth:`state_dict` proposes exactly what the original would have.
"""

from __future__ import annotations

import importlib.util
import math
import warnings
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, IntDistribution
from optuna.trial import TrialState
from pydantic import BeforeValidator, ValidationInfo, field_validator

from nas.config_io import PosFloat
from nas.controllers.base import Controller, ControllerOptions
from nas.errors import NasError
from nas.genotypes.codec import to_json
from nas.genotypes.types import Genotype
from nas.search_protocol.storage import open_storage
from nas.search_spaces.base import SearchSpace

#: Sampler names (lower case, without ``-`` and ``_``) -> (class name, package it needs or None).
SAMPLERS: dict[str, tuple[str, str | None]] = {
    "tpe": ("TPESampler", None),
    "random": ("RandomSampler", None),
    "cmaes": ("CmaEsSampler", "cmaes"),
    "nsgaii": ("NSGAIISampler", None),
    "nsgaiii": ("NSGAIIISampler", None),
    "qmc": ("QMCSampler", "scipy"),
    "gp": ("GPSampler", "scipy"),
    "bruteforce": ("BruteForceSampler", None),
}
#: Samplers whose internal state is a function of the seed only (not re-seeded per ask).
_FIXED_SEED = {"qmc"}
#: Samplers that model ordered numbers and cannot use categorical parameters.
_NUMERIC_ONLY = {"cmaes"}
#: Objectives besides accuracy, all minimised; read from ``metrics`` given to ``observe``.
SIZE_OBJECTIVES: tuple[str, ...] = ("params", "flops")

#: Other spellings of sampler keys.
_SAMPLER_ALIASES = {"nsga2": "nsgaii", "nsga3": "nsgaiii", "cma": "cmaes", "sobol": "qmc", "grid": "bruteforce"}


def _sampler_key(name: Any) -> str:
    key = name.lower().replace("-", "").replace("_", "").removesuffix("sampler") if isinstance(name, str) else ""
    key = _SAMPLER_ALIASES.get(key, key)
    if key not in SAMPLERS:
        raise ValueError(f"expected one of {', '.join(SAMPLERS)}, got unknown sampler {name!r}")
    package = SAMPLERS[key][1]
    if package and importlib.util.find_spec(package) is None:
        raise ValueError(f"{name!r} needs the Python package {package!r} (pip install {package})")
    return key


def _sampler(key: str, seed: int, options: Mapping[str, Any]) -> optuna.samplers.BaseSampler:
    cls = getattr(optuna.samplers, SAMPLERS[key][0])
    try:
        with warnings.catch_warnings():  # QMC, GP and NSGA-III are marked experimental
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return cls(seed=seed, **options)
    except TypeError as exc:
        raise ValueError(f"not accepted by {cls.__name__} ({exc})") from None


def _objectives(objectives: Any) -> list[str]:
    if isinstance(objectives, str):
        objectives = [objectives]
    if (
        not isinstance(objectives, (list, tuple))
        or not objectives
        or objectives[0] != "accuracy"
        or any(o not in SIZE_OBJECTIVES for o in objectives[1:])
        or len(set(objectives)) != len(objectives)
    ):
        expected = f"'accuracy' followed by any of {', '.join(SIZE_OBJECTIVES)}"
        raise ValueError(f"expected {expected}, got {objectives!r}")
    return list(objectives)


def study_seed(sampler: str, seed: int, number: int) -> int:
    """The seed of the sampler that draws a study's trial ``number`` (or the next, given the study's size).

    A sampler seeded once per process draws the same parameters in every process that shares
    the study, and again after a restore from an older saved state; seeded by the trial's
    number it does neither, and one search alone stays reproducible. QMC keeps the run's seed
    (its scrambled sequence, indexed through the study, is the state).
    """
    if sampler in _FIXED_SEED:
        return seed
    return (seed * 1_000_003 + number) % (2**32)


def sampler_key(name: Any) -> str:
    """The registry key of a sampler name (``CMA-ES`` -> ``cmaes``); unknown names raise."""
    try:
        return _sampler_key(name)
    except ValueError as exc:
        raise NasError(f"optuna.sampler: {exc}") from None


def make_sampler(name: str, seed: int, options: Mapping[str, Any] | None = None) -> optuna.samplers.BaseSampler:
    """An Optuna sampler by name, seeded; bad ``options`` are a one-line error."""
    key = sampler_key(name)
    try:
        return _sampler(key, seed, dict(options or {}))
    except ValueError as exc:
        raise NasError(f"optuna.sampler_options: {exc}") from None


def decision_distributions(space: SearchSpace, encoding: str) -> dict[str, BaseDistribution]:
    """One Optuna distribution per decision, over choice indices."""
    out: dict[str, BaseDistribution] = {}
    for d in space.decisions():
        n = len(d.choices)
        out[d.name] = IntDistribution(0, n - 1) if encoding == "int" else CategoricalDistribution(tuple(range(n)))
    return out


class OptunaController(Controller):
    """Ask-and-tell over an Optuna study (in memory, or any storage URL)."""

    name = "optuna"

    class Options(ControllerOptions):
        """The sampler (by name, with its keyword options), the objectives and budgets, the study's storage."""

        sampler: Annotated[str, BeforeValidator(_sampler_key)] = "tpe"
        sampler_options: Annotated[dict[str, Any], BeforeValidator(lambda v: {} if v is None else v)] = {}
        objectives: Annotated[list[str], BeforeValidator(_objectives)] = ["accuracy"]
        max_params: PosFloat | None = None
        max_flops: PosFloat | None = None
        #: How a decision is an Optuna parameter: ``auto`` is ``int`` for CMA-ES (ordered numbers only), else
        #: categorical.
        encoding: Literal["auto", "categorical", "int"] = "auto"
        #: A SQLAlchemy URL (``sqlite:///study.db``, ``postgresql://...``); in memory when unset.
        storage: str | None = None
        study_name: str = "nas"

        @field_validator("sampler_options")
        @classmethod
        def _sampler_accepts(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
            if "sampler" in info.data:
                _sampler(info.data["sampler"], 0, value)  # a wrong keyword is refused now, not at the first ask
            return value

        @property
        def parameter_encoding(self) -> str:
            """``categorical`` or ``int`` (``auto`` resolved for the sampler)."""
            if self.encoding != "auto":
                return self.encoding
            return "int" if self.sampler in _NUMERIC_ONLY else "categorical"

        def make_sampler(self, seed: int) -> optuna.samplers.BaseSampler:
            """A fresh sampler of these options, seeded."""
            return _sampler(self.sampler, seed, self.sampler_options)

        @property
        def constraints(self) -> dict[str, float]:
            """Size objective -> budget, for the budgets that are set."""
            budgets = {"params": self.max_params, "flops": self.max_flops}
            return {k: float(v) for k, v in budgets.items() if v is not None}

    options: Options

    def _setup(self) -> None:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.distributions = decision_distributions(self.space, self.options.parameter_encoding)
        self.names = [d.name for d in self.decisions]
        self.study = self._open_study()
        self._trial_of: dict[str, list[int]] = {}  # genotype JSON -> pending trial numbers (FIFO)

    # ------------------------------------------------------------ the study
    @property
    def directions(self) -> list[Literal["maximize", "minimize"]]:
        """Accuracy up, each size objective down."""
        sizes: list[Literal["maximize", "minimize"]] = ["minimize"] * (len(self.options.objectives) - 1)
        return ["maximize", *sizes]

    def _open_study(self) -> optuna.Study:
        url = self.options.storage
        storage = None if url is None else open_storage(url, "optuna.storage")  # None: in memory
        study = optuna.create_study(
            storage=storage,
            study_name=self.options.study_name,
            directions=self.directions,
            sampler=self.options.make_sampler(self.seed),
            load_if_exists=True,
        )
        if [d.name.lower() for d in study.directions] != self.directions:
            name, objectives = self.options.study_name, self.options.objectives
            raise NasError(f"optuna: study {name!r} exists with other objectives than {objectives}")
        return study

    def _ask_seed(self) -> int:
        return study_seed(self.options.sampler, self.seed, len(self.study.get_trials(deepcopy=False)))

    # ------------------------------------------------------------ API
    def _propose_values(self) -> list[int]:
        self.study.sampler = self.options.make_sampler(self._ask_seed())
        trial = self.study.ask(self.distributions)
        values = [int(trial.params[n]) for n in self.names]
        key = to_json(self.space.from_decisions(values))
        self._trial_of.setdefault(key, []).append(trial.number)
        return values

    def observe(self, genotype: Genotype, score: float | None, metrics: Mapping[str, float] | None = None) -> None:
        key = to_json(genotype)
        numbers = self._trial_of.get(key)
        if numbers:
            number = numbers.pop(0)
            if not numbers:
                del self._trial_of[key]
        else:  # a result for a genotype we did not propose: record it as a new trial
            number = self._add_external(genotype)
        self._tell(number, score, dict(metrics or {}))
        super().observe(genotype, score, metrics)

    def _add_external(self, genotype: Genotype) -> int:
        values = self.space.to_decisions(genotype)
        params = dict(zip(self.names, values))
        trial = optuna.trial.create_trial(params=params, distributions=self.distributions, state=TrialState.RUNNING)
        self.study.add_trial(trial)
        return self.study.get_trials(deepcopy=False)[-1].number

    def _tell(self, number: int, score: float | None, metrics: dict[str, float]) -> None:
        trial_id = self.study._storage.get_trial_id_from_study_id_trial_number(self.study._study_id, number)
        trial = optuna.Trial(self.study, trial_id)
        if score is None or not math.isfinite(float(score)):
            self.study.tell(trial, state=TrialState.FAIL)
            return
        for key, budget in self.options.constraints.items():
            trial.set_constraint(key, self._metric(metrics, key) - budget)
        values = [float(score)] + [self._metric(metrics, o) for o in self.options.objectives[1:]]
        self.study.tell(trial, values if len(values) > 1 else values[0])

    @staticmethod
    def _metric(metrics: Mapping[str, float], key: str) -> float:
        value = metrics.get(key)
        if value is None or not math.isfinite(float(value)):
            raise NasError(f"optuna: objective or constraint {key!r} needs metrics[{key!r}] with each result")
        return float(value)

    def _observe_values(self, values: list[int], score: float, metrics: dict[str, float]) -> None:
        return None  # the study learnt it in observe()

    def pareto_front(self) -> list[dict[str, Any]]:
        """Non-dominated feasible trials (the best trial for one objective), by accuracy descending."""
        front = []
        for t in self.study.best_trials:
            values = [int(t.params[n]) for n in self.names]
            front.append(
                {
                    "genotype": self.space.from_decisions(values),
                    "number": t.number,
                    **{o: v for o, v in zip(self.options.objectives, t.values)},
                }
            )
        return sorted(front, key=lambda r: -r["accuracy"])

    # ------------------------------------------------------------ state
    def _algorithm_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {"pending_trials": {k: list(v) for k, v in self._trial_of.items()}}
        if self.options.storage is None:  # in memory: the trials are the state
            state["trials"] = [
                {
                    "state": t.state.name,
                    "params": {n: int(t.params[n]) for n in self.names if n in t.params},
                    "values": t.values,
                    "system_attrs": t.system_attrs,
                    "user_attrs": t.user_attrs,
                }
                for t in self.study.get_trials(deepcopy=False)
            ]
        return state

    def _load_algorithm_state(self, state: Mapping[str, Any]) -> None:
        self._trial_of = {k: [int(n) for n in v] for k, v in state["pending_trials"].items()}
        if self.options.storage is None:
            self.study = self._open_study()  # a fresh in-memory study, refilled in order
            for t in state["trials"]:
                trial_state = TrialState[t["state"]]
                self.study.add_trial(
                    optuna.trial.create_trial(
                        state=trial_state,
                        params=t["params"],
                        distributions={n: self.distributions[n] for n in t["params"]},
                        values=t["values"] if trial_state == TrialState.COMPLETE else None,
                        system_attrs=t["system_attrs"],
                        user_attrs=t["user_attrs"],
                    )
                )
