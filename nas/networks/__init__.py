"""Networks derived from genotypes: ``build(genotype, ...) -> nn.Module``.

One entry point for every genotype kind, so the trainer, the controllers and the
command line never need to know which family a genotype belongs to.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from nas.errors import NasError
from nas.genotypes.types import DartsGenotype, Genotype, MacroGenotype, NB201Genotype

#: Options each genotype kind accepts, so a typo in a config is reported, not ignored.
BUILD_OPTIONS: dict[str, tuple[str, ...]] = {
    "darts": ("channels", "layers", "auxiliary", "drop_path_prob", "stem_multiplier", "in_channels"),
    "nb201": ("channels", "cells_per_stage", "in_channels"),
    "macro": ("auxiliary",),
}


def build(genotype: Genotype, num_classes: int = 10, **options: Any) -> nn.Module:
    """Derive the ``torch.nn.Module`` of ``genotype``.

    DARTS: ``channels`` (C, default 36), ``layers`` (cells, default 20), ``auxiliary``,
    ``drop_path_prob``. NB201: ``channels`` (16), ``cells_per_stage`` (5). Macro:
    ``auxiliary`` (auxiliary classifiers where the family defines them).
    """
    kind = getattr(genotype, "kind", None)
    if kind not in BUILD_OPTIONS:
        raise NasError(f"genotype: expected a DARTS, NB201 or macro genotype, got {type(genotype).__name__}")
    unknown = sorted(set(options) - set(BUILD_OPTIONS[kind]))
    if unknown:
        raise NasError(
            f"build options: {', '.join(unknown)} not valid for a {kind} genotype "
            f"(valid: {', '.join(BUILD_OPTIONS[kind])})"
        )
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise NasError(f"num_classes: expected a positive integer, got {num_classes!r}")
    if isinstance(genotype, DartsGenotype):
        from nas.networks.darts_network import DartsNetwork

        return DartsNetwork(genotype, num_classes=num_classes, **options)
    if isinstance(genotype, NB201Genotype):
        from nas.networks.nb201_network import NB201Network

        return NB201Network(genotype, num_classes=num_classes, **options)
    assert isinstance(genotype, MacroGenotype)
    from nas.networks.macro_network import MacroNetwork

    return MacroNetwork(genotype, num_classes=num_classes, **options)
