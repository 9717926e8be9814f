"""Networks derived from genotypes: ``build(genotype, ...) -> nn.Module``.

One entry point for every genotype kind, so the trainer, the controllers and the
command line never need to know which family a genotype belongs to.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from nas.errors import NasError
from nas.genotypes.types import DartsGenotype, Genotype, MacroGenotype, NB201Genotype
from nas.ops import DilConv, SepConv, use_lean_kernels

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


def network_family(model: nn.Module) -> str:
    """``cells`` for a network built of :mod:`nas.ops` cells (DARTS, NAS-Bench-201), else ``other``.

    The per-device defaults of :mod:`nas.device_defaults` differ between the two: the cell
    networks' lean kernels and channels-last were tuned on their own benchmarks.
    """
    for m in model.modules():
        if isinstance(m, (SepConv, DilConv)) or callable(getattr(m, "set_memory_format", None)):
            return "cells"
    return "other"


def set_execution(model: nn.Module, *, lean_kernels: bool, channels_last: bool) -> nn.Module:
    """Run ``model`` with the lean kernels on or off and in channels-last or NCHW. Returns ``model``.

    Networks that convert their own input (``set_memory_format``) are switched with it, so
    their forward does not convert a batch back to the other layout; other modules are
    converted to channels-last when asked and otherwise left as they are. ``lean_kernels=True``
    switches nothing on: operations are built lean, and one set to plain layers on purpose
    (:func:`nas.ops.use_plain_layers`, for double backward) stays plain.
    """
    if not lean_kernels:
        use_lean_kernels(model, False)
    name = "channels_last" if channels_last else "contiguous"
    for m in model.modules():
        setter = getattr(m, "set_memory_format", None)
        if callable(setter):
            setter(name)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    return model
