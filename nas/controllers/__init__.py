"""Trial-based NAS controllers by name: the registry configs and Ray Tune searchers use.

A controller is made by name for a space; options are keywords (or a mapping, or the
controller's own ``Options`` model), checked against that model:

>>> from search_spaces import get_space
>>> evo = create_controller("evolution", get_space("nb201"), seed=0, population_size=20)
>>> evo.options.population_size, evo.options.sample_size
(20, 10)
>>> genotype = evo.propose()
>>> evo.observe(genotype, 91.5)
>>> create_controller("evolution", get_space("nb201"), pop=3)  # doctest: +ELLIPSIS
Traceback (most recent call last):
nas.errors.NasError: evolution: unknown option 'pop' (known: population_size, sample_size, ...)

An unknown name or option is a one-line :class:`NasError` that lists what is known.
:data:`OPTIONS` is the ``options`` section of a search config: one field per controller
(aliases accepted as keys), each that controller's ``Options``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from nas.controllers.base import Controller, ControllerOptions
from nas.controllers.evolution import RegularizedEvolution
from nas.controllers.lstm_controller import LSTMController
from nas.controllers.optuna_controller import OptunaController
from nas.controllers.random_search import RandomSearch
from nas.controllers.reinforce import Reinforce
from nas.errors import NasError
from search_spaces.base import SearchSpace

#: Registry name -> controller class.
CONTROLLERS: dict[str, type[Controller]] = {
    cls.name: cls for cls in (RandomSearch, RegularizedEvolution, Reinforce, LSTMController, OptunaController)
}
#: Other spellings users type.
ALIASES: dict[str, str] = {
    "random_search": "random",
    "regularized_evolution": "evolution",
    "rea": "evolution",
    "lstm_controller": "lstm",
    "enas": "lstm",
    "tpe": "optuna",
}


def list_controllers() -> list[str]:
    """The registered controller names, in a stable order."""
    return list(CONTROLLERS)


def _key(name: Any) -> str:
    key = name.strip().lower().replace("-", "_") if isinstance(name, str) else ""
    return ALIASES.get(key, key)


def controller_class(name: Any) -> type[Controller]:
    """The class of controller ``name`` (case-insensitive; aliases accepted)."""
    key = _key(name)
    if key not in CONTROLLERS:
        raise NasError(f"controller: unknown controller {name!r} (known: {', '.join(CONTROLLERS)})")
    return CONTROLLERS[key]


def controller_options(name: str) -> list[str]:
    """The option names controller ``name`` accepts (besides ``seed``)."""
    return list(controller_class(name).Options.model_fields)


def create_controller(
    name: str,
    space: SearchSpace,
    *,
    seed: int = 0,
    options: ControllerOptions | Mapping[str, Any] | None = None,
    **fields: Any,
) -> Controller:
    """A seeded controller of ``space``; ``options`` and keyword ``fields`` are its options."""
    return controller_class(name)(space, seed=seed, options=options, **fields)


class _OptionsByController(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _canonical_keys(cls, data: Any) -> Any:
        """``options.rea`` is ``options.evolution``; giving both is ambiguous."""
        if not isinstance(data, Mapping):
            return data
        out: dict[Any, Any] = {}
        given: dict[Any, Any] = {}
        for key, value in data.items():
            name = _key(key)
            name = name if name in CONTROLLERS else key
            if name in out:
                raise ValueError(f"expected each controller's options once, got both {given[name]!r} and {key!r}")
            out[name], given[name] = value, key
        return out

    def of(self, controller: str) -> ControllerOptions:
        """The options of ``controller`` (a registry name)."""
        options: ControllerOptions = getattr(self, controller)
        return options


_FIELDS: dict[str, Any] = {name: (cls.Options, Field(default_factory=cls.Options)) for name, cls in CONTROLLERS.items()}
#: A config's ``options`` section: one field per controller, each defaulting to that controller's defaults.
OPTIONS: type[_OptionsByController] = create_model("ControllerOptionsByName", __base__=_OptionsByController, **_FIELDS)

__all__ = [
    "ALIASES",
    "CONTROLLERS",
    "OPTIONS",
    "Controller",
    "ControllerOptions",
    "LSTMController",
    "OptunaController",
    "RandomSearch",
    "RegularizedEvolution",
    "Reinforce",
    "controller_class",
    "controller_options",
    "create_controller",
    "list_controllers",
]
