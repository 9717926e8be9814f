"""The network of a :class:`~nas.genotypes.types.MacroGenotype`: stem, stages, head.

The classic baselines (VGG, GoogLeNet, ResNet, DenseNet; see :mod:`nas.genotypes.named.classic`)
and every macro search-space sample are this one module, so their parameter counts
and training are directly comparable. The blocks live in :mod:`nas.networks.blocks`.

Conventions that the genotype leaves open:

* The stem convolution has a bias when the first stage is VGG or Inception and none
  otherwise, following each family's reference network (GoogLeNet's CIFAR stem has a
  bias; ResNet's and DenseNet's do not).
* The auxiliary classifier (``auxiliary=True``) reads the output of stage
  ``ceil(2 n / 3) - 1`` (0-based) of ``n`` stages: the stage that ends two thirds of
  the way through the network. For the 9 Inception stages of GoogLeNet that is module
  4d, where GoogLeNet attaches its second auxiliary head; for ResNet-18's 4 stages it
  is stage 3; for the 3 stages of a CIFAR ResNet, stage 2.
* Any input resolution works (global pooling); ``input_size`` is the design size that
  the genotype validated and that sizes the auxiliary head's pooling.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from nas.errors import NasError
from nas.genotypes.types import MacroGenotype
from nas.networks.blocks import make_stage

__all__ = ["AuxiliaryHead", "ClassifierHead", "MacroNetwork", "auxiliary_stage_index"]

#: Width of the auxiliary head's 1x1 convolution (GoogLeNet's value).
AUX_CHANNELS = 128
#: Side of the auxiliary head's average pooling output (GoogLeNet pools 14x14 to 4x4).
AUX_POOL = 4


def auxiliary_stage_index(num_stages: int) -> int:
    """Index of the stage whose output feeds the auxiliary classifier (two thirds in)."""
    return max(0, math.ceil(2 * num_stages / 3) - 1)


class AuxiliaryHead(nn.Module):
    """GoogLeNet-style auxiliary classifier: avg-pool, 1x1 conv 128 + BN + ReLU, linear."""

    def __init__(self, c_in: int, num_classes: int, pool: int = AUX_POOL) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.AdaptiveAvgPool2d(pool),
            nn.Conv2d(c_in, AUX_CHANNELS, 1, bias=False),
            nn.BatchNorm2d(AUX_CHANNELS),
            nn.ReLU(inplace=True),
        )
        self.classifier = nn.Linear(AUX_CHANNELS * pool * pool, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


class ClassifierHead(nn.Module):
    """Optional BN-ReLU (pre-activation networks), global pooling, dropout, linear."""

    def __init__(self, c_in: int, num_classes: int, pool: str = "avg", preact: bool = False, dropout: float = 0.0):
        super().__init__()
        self.pre = nn.Sequential(nn.BatchNorm2d(c_in), nn.ReLU(inplace=True)) if preact else None
        self.pool = nn.AdaptiveAvgPool2d(1) if pool == "avg" else nn.AdaptiveMaxPool2d(1)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else None
        self.classifier = nn.Linear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pre is not None:
            x = self.pre(x)
        x = torch.flatten(self.pool(x), 1)
        if self.dropout is not None:
            x = self.dropout(x)
        return self.classifier(x)


class MacroNetwork(nn.Module):
    """The network derived from a macro genotype.

    ``forward(x)`` returns logits ``[B, num_classes]``; with ``auxiliary=True`` and in
    training mode it returns ``(logits, aux_logits)``.
    """

    def __init__(self, genotype: MacroGenotype, num_classes: int = 10, auxiliary: bool = False) -> None:
        super().__init__()
        if not isinstance(genotype, MacroGenotype):
            raise NasError(f"genotype: expected a MacroGenotype, got {type(genotype).__name__}")
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise NasError(f"num_classes: expected a positive integer, got {num_classes!r}")
        if not isinstance(auxiliary, bool):
            raise NasError(f"auxiliary: expected true or false, got {auxiliary!r}")
        self.genotype = genotype
        self.num_classes = num_classes
        shapes = genotype.feature_shapes()

        stem = genotype.stem
        channels = genotype.in_channels
        if stem.channels:
            bias = genotype.stages[0].block.family in ("vgg", "inception")
            layers: list[nn.Module] = [
                nn.Conv2d(channels, stem.channels, stem.kernel_size, 1, stem.kernel_size // 2, bias=bias)
            ]
            if stem.norm_act:
                layers += [nn.BatchNorm2d(stem.channels), nn.ReLU(inplace=True)]
            self.stem: nn.Module = nn.Sequential(*layers)
            channels = stem.channels
        else:
            self.stem = nn.Identity()

        self.stages = nn.ModuleList()
        for i, stage in enumerate(genotype.stages):
            module, channels = make_stage(stage, channels)
            if channels != shapes[i][0]:  # the blocks and the genotype must agree on widths
                raise AssertionError(f"stage {i}: built {channels} channels, genotype says {shapes[i][0]}")
            self.stages.append(module)

        self.aux_index = auxiliary_stage_index(len(genotype.stages))
        self.auxiliary_head: AuxiliaryHead | None = None
        if auxiliary:
            aux_channels, aux_side = shapes[self.aux_index]
            self.auxiliary_head = AuxiliaryHead(aux_channels, num_classes, min(AUX_POOL, aux_side))

        h = genotype.head
        self.head = ClassifierHead(channels, num_classes, h.pool, h.preact, h.dropout)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        x = self.stem(x)
        aux = None
        want_aux = self.auxiliary_head is not None and self.training
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if want_aux and i == self.aux_index:
                aux = self.auxiliary_head(x)
        logits = self.head(x)
        return (logits, aux) if aux is not None else logits
