"""The VGG space: plain stacks of convolutions, chosen per stage.

Per stage: ``depth`` (convolutions), ``width`` (channels) and ``kernel`` (3x3 or
5x5, the receptive-field trade VGG made by stacking 3x3). Stages 1 and 2 enter with
VGG's 2x2 max-pool; there is no stem (VGG starts with its first convolution) and
the head is global average pooling and one linear layer.

Menus: widths 8/16/24 at 32x32, doubled per stage (half to 1.5x the 16/32/64 of the
CIFAR ResNets); depth 1-4. The smallest point (one 3x3 conv of 8/16/32 channels per
stage, 6.5k parameters) trains on a CPU in minutes; the largest (four 5x5 convs of
24/48/96 channels per stage, 1.06M parameters) is DenseNet-BC sized.

Baselines: the published CIFAR VGGs (VGG-11 to VGG-19) have five pooled stages of
64-512 channels and are not points of this space; the nearest points are their
first three stages at a quarter to three-eighths of the width (e.g. VGG-11's
1/1/2 convolutions as depth 1/1/2, width 16/32/64).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from nas.genotypes.types import Stage, Stem, VGGBlock
from nas.search_spaces.base import Decision
from nas.search_spaces.macro import MacroSpace, StageFamily, block_of, entry_downsample, menu_index, scaled


@dataclass(frozen=True)
class VGGFamily(StageFamily):
    """VGG stages: depth x (conv k x k, BN, ReLU); max-pool on entry to stages 1, 2."""

    depths: tuple[int, ...] = (1, 2, 3, 4)
    widths: tuple[int, ...] = (8, 16, 24)
    kernels: tuple[int, ...] = (3, 5)

    name: ClassVar[str] = "vgg"

    def decisions(self, stage: int) -> list[Decision]:
        return [
            Decision("depth", self.depths),
            Decision("width", scaled(self.widths, stage)),
            Decision("kernel", self.kernels),
        ]

    def channel_key(self, stage: int, in_channels: int) -> Hashable:
        return None  # make_stage ignores the input width

    def make_stage(self, values: Sequence[int], stage: int, in_channels: int) -> Stage:
        depth, width, kernel = values
        block = VGGBlock(channels=scaled(self.widths, stage)[width], kernel_size=self.kernels[kernel])
        return Stage(block=block, depth=self.depths[depth], downsample=entry_downsample(stage, "max_pool"))

    def stage_values(self, stage: Stage, index: int, path: str) -> list[int]:
        b = block_of(stage, VGGBlock, path)
        return [
            menu_index(self.depths, stage.depth, f"{path}.depth"),
            menu_index(scaled(self.widths, index), b.channels, f"{path}.block.channels"),
            menu_index(self.kernels, b.kernel_size, f"{path}.block.kernel_size"),
        ]

    def stem(self, values: Sequence[int]) -> Stem:
        return Stem(channels=0)


class VGGSpace(MacroSpace):
    """Three VGG stages on CIFAR-10."""

    name = "vgg"
    description = "VGG-style CIFAR network: depth, width and kernel size of three stages"

    def __init__(self, family: VGGFamily | None = None) -> None:
        super().__init__((family or VGGFamily(),))
