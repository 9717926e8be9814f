"""Trial-based NAS controllers by name: the registry configs and Ray Tune searchers use.

A controller is made by name for a space; options are keywords (or a mapping, or the
controller's own ``Options`` model), checked against that model:

>>> from nas.search_spaces import get_space
>>> evo = create_controller("evolution", get_space("nb201"), seed=0, population_size=20)
>>> evo.options.population_size, evo.options.sample_size
(20, 10)
>>> genotype = evo.propose()
>>> evo.observe(genotype, 91.5)
>>> create_controller("evolution", get_space("nb201"), pop=3)  # doctest: +ELLIPSIS
Traceback (most recent call last):
nas.errors.NasError: evolution: unknown option 'pop' (known: population_size, sample_size, ...)

An unknown name or option is a one-line :class:`NasError` that lists what is known.
:data:`OptionsByController` is the ``options`` section of a search config: one field per controller
of :data:`REGISTRY` (aliases accepted as keys), each that controller's ``Options``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from nas.controllers.base import Controller, ControllerOptions
from nas.controllers.evolution import RegularizedEvolution
from nas.controllers.lstm_controller import LSTMController
from nas.controllers.optuna_controller import OptunaController
from nas.controllers.proxy_evolution import ProxyAssistedEvolution
from nas.controllers.random_search import RandomSearch
from nas.controllers.reinforce import Reinforce
from nas.registry import Registry
from nas.search_spaces.base import SearchSpace

#: The controllers of ``nas search`` (and their other spellings): the one place a new controller is added.
REGISTRY: Registry[type[Controller]] = Registry("controller", "controller")
REGISTRY.register(RandomSearch.name, RandomSearch, aliases=("random_search",))
REGISTRY.register(RegularizedEvolution.name, RegularizedEvolution, aliases=("regularized_evolution", "rea"))
REGISTRY.register(Reinforce.name, Reinforce)
REGISTRY.register(LSTMController.name, LSTMController, aliases=("lstm_controller", "enas"))
REGISTRY.register(OptunaController.name, OptunaController, aliases=("tpe",))
REGISTRY.register(ProxyAssistedEvolution.name, ProxyAssistedEvolution, aliases=("proxy_assisted_evolution",))

#: Registry name -> controller class (a view of :data:`REGISTRY`).
CONTROLLERS: dict[str, type[Controller]] = {name: REGISTRY.get(name) for name in REGISTRY}
#: Other spellings users type -> registry name (a view of :data:`REGISTRY`).
ALIASES: dict[str, str] = REGISTRY.aliases()


def list_controllers() -> list[str]:
    """The registered controller names, in a stable order."""
    return REGISTRY.names()


def controller_class(name: Any) -> type[Controller]:
    """The class of controller ``name`` (case-insensitive, ``-`` or ``_``; aliases accepted)."""
    return REGISTRY.get(name)


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


class _OptionsSection(BaseModel):
    """What :data:`OptionsByController` adds to its generated fields: aliases as keys, and ``of``."""

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
            name = REGISTRY.canonical(key) if key in REGISTRY else key
            if name in out:
                raise ValueError(f"expected each controller's options once, got both {given[name]!r} and {key!r}")
            out[name], given[name] = value, key
        return out

    def of(self, controller: str) -> ControllerOptions:
        """The options of ``controller`` (a registry name)."""
        options: ControllerOptions = getattr(self, controller)
        return options


#: A config's ``options`` section: one field per registered controller (built from :data:`REGISTRY`, so a
#: new controller needs no change here), each that controller's ``Options`` with its defaults; an alias
#: may stand for a name (``options.rea`` is ``options.evolution``).
OptionsByController: type[_OptionsSection] = create_model(  # type: ignore[call-overload]
    "OptionsByController",
    __base__=_OptionsSection,
    __module__=__name__,
    **{name: (cls.Options, Field(default_factory=cls.Options)) for name, cls in CONTROLLERS.items()},
)


__all__ = [
    "ALIASES",
    "CONTROLLERS",
    "OptionsByController",
    "Controller",
    "ControllerOptions",
    "LSTMController",
    "OptunaController",
    "ProxyAssistedEvolution",
    "REGISTRY",
    "RandomSearch",
    "RegularizedEvolution",
    "Reinforce",
    "controller_class",
    "controller_options",
    "create_controller",
    "list_controllers",
]
