"""The method's own read-out: the arg-max of its weights (or SPOS's candidate search), P-DARTS cap applied."""

from __future__ import annotations

from typing import Literal

from nas.darts.selection.base import Selection, SelectionConfig, SelectionContext
from nas.genotypes.types import Genotype


class ArgmaxConfig(SelectionConfig):
    """No options: the method derives the cell."""

    name: Literal["argmax"] = "argmax"


class Argmax(Selection):
    name = "argmax"
    Config = ArgmaxConfig
    description = "the method's own derivation (arg-max weights; SPOS: its candidate search)"

    def select(self, ctx: SelectionContext) -> Genotype:
        return ctx.method.derive(ctx.search.guards.max_skip)
