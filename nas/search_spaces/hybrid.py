"""The hybrid space: each of the three CIFAR stages chooses its family, then its cell.

No other toolkit offers this. The shared three-stage skeleton and the rules on
ignored decisions are in :mod:`nas.search_spaces.macro`.
"""

from __future__ import annotations

from collections.abc import Sequence

from nas.search_spaces.densenet import DenseNetFamily
from nas.search_spaces.inception import InceptionFamily
from nas.search_spaces.macro import MacroSpace, StageFamily
from nas.search_spaces.resnet import ResNetFamily
from nas.search_spaces.vgg import VGGFamily


class HybridSpace(MacroSpace):
    """Each stage chooses its family (vgg, inception, resnet, densenet), then its parameters."""

    name = "hybrid"
    description = "Three CIFAR stages, each choosing its family (VGG, Inception, ResNet, DenseNet) and that cell"

    def __init__(self, families: Sequence[StageFamily] | None = None) -> None:
        if families is None:
            families = (VGGFamily(), InceptionFamily(), ResNetFamily(), DenseNetFamily())
        super().__init__(families)
