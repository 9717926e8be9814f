"""Weight-sharing search methods by name: one file each, registered here (lazily).

``method: {name: gdas, tau_max: 10}`` in a search config picks :class:`~nas.darts.methods.gdas.Gdas`
with its own config section; :func:`method_class` resolves a name, :func:`config_classes`
gives every method's config section (the discriminated union of ``DartsSearchConfig.method``).
Adding a method: one file with a :class:`~nas.darts.methods.base.SearchMethod` subclass and
its ``Config``, one ``METHODS.register`` line below, one test.
"""

from __future__ import annotations

from nas.darts.methods.base import SearchMethod
from nas.registry import Registry

__all__ = ["METHODS", "config_classes", "method_class"]

METHODS: Registry[type[SearchMethod]] = Registry("method", "search method")
METHODS.register("darts", "nas.darts.methods.darts:Darts", aliases=("darts_v1", "darts_v2", "pc_darts"))
METHODS.register("fair_darts", "nas.darts.methods.fair_darts:FairDarts")
METHODS.register("gdas", "nas.darts.methods.gdas:Gdas")
METHODS.register("spos", "nas.darts.methods.spos:Spos", aliases=("rsps",))
METHODS.register("beta_darts", "nas.darts.methods.beta_darts:BetaDarts")
METHODS.register("drnas", "nas.darts.methods.drnas:DrNas")
METHODS.register("fixed_alpha", "nas.darts.methods.fixed_alpha:FixedAlpha", aliases=("blank",))


def method_class(name: object) -> type[SearchMethod]:
    """The method class of ``name`` (one normalisation, aliases, a one-line error listing the known names)."""
    return METHODS.get(name)


def config_classes() -> list[type]:
    """Every registered method's config section, in registration order."""
    return [METHODS.get(name).Config for name in METHODS.names()]
