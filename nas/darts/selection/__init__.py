"""Final-cell selections by name (``selection: {name: ...}``): one file each, registered here."""

from __future__ import annotations

from nas.darts.selection.base import Selection
from nas.registry import Registry

__all__ = ["SELECTIONS", "selection_class", "config_classes"]

SELECTIONS: Registry[type[Selection]] = Registry("selection", "architecture selection")
SELECTIONS.register("argmax", "nas.darts.selection.argmax:Argmax")
SELECTIONS.register("darts_pt", "nas.darts.selection.darts_pt:DartsPT", aliases=("pt", "perturbation"))
SELECTIONS.register("zero_cost_pt", "nas.darts.selection.zero_cost_pt:ZeroCostPT", aliases=("zc_pt",))


def selection_class(name: object) -> type[Selection]:
    """The selection class of ``name`` (a one-line error listing the known names otherwise)."""
    return SELECTIONS.get(name)


def config_classes() -> list[type]:
    """Every registered selection's config section."""
    return [SELECTIONS.get(name).Config for name in SELECTIONS.names()]
