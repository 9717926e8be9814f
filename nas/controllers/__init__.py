"""Trial-based NAS controllers by name: the registry configs and Ray Tune searchers use.

``create_controller("evolution", space, seed=0, population_size=20)`` returns a ready
controller; an unknown name or option is a one-line :class:`NasError` that lists what
is known.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from nas.controllers.base import Controller
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


def controller_class(name: Any) -> type[Controller]:
    """The class of controller ``name`` (case-insensitive; aliases accepted)."""
    key = name.strip().lower().replace("-", "_") if isinstance(name, str) else ""
    key = ALIASES.get(key, key)
    if key not in CONTROLLERS:
        raise NasError(f"controller: unknown controller {name!r} (known: {', '.join(CONTROLLERS)})")
    return CONTROLLERS[key]


def controller_options(name: str) -> list[str]:
    """The keyword options controller ``name`` accepts (besides ``seed``)."""
    params = inspect.signature(controller_class(name).__init__).parameters
    return [p for p in params if p not in ("self", "space", "seed")]


def create_controller(
    name: str, space: SearchSpace, *, seed: int = 0, options: Mapping[str, Any] | None = None
) -> Controller:
    """A seeded controller of ``space``; unknown option names are a one-line error."""
    cls = controller_class(name)
    options = dict(options or {})
    allowed = controller_options(cls.name)
    for key in options:
        if key not in allowed:
            raise NasError(f"{cls.name}: unknown option {key!r} (known: {', '.join(allowed) or 'none'})")
    return cls(space, seed=seed, **options)


__all__ = [
    "CONTROLLERS",
    "Controller",
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
