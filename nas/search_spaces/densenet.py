"""The DenseNet space: dense blocks whose growth, depth and layer type are searched.

Per stage: ``growth`` (channels each layer adds), ``depth`` (layers in the dense
block), ``bottleneck`` (DenseNet-B's 1x1 convolution to 4x growth channels before the
3x3, or the plain BN-ReLU-3x3 layer) and, for stages 1 and 2, ``compression`` of the
transition that enters them (DenseNet-C keeps half the channels; 1.0 keeps all).
The stem follows the paper: a 3x3 convolution with 2x growth channels when stage 0
uses bottlenecks, 16 otherwise, and no BN-ReLU (every dense layer starts with one);
the head adds the final BN-ReLU before pooling.

Menus: growth 4/8/12, depth 2, 4, 6, 8, 12, 16. Points: DenseNet (L=40, k=12:
growth 12, depth 12, plain layers, compression 1.0) and DenseNet-BC (L=100, k=12:
growth 12, depth 16, bottleneck, compression 0.5), with 1.02M and 0.77M parameters.
Not points: the deeper or wider DenseNets (L=100 k=24, BC L=250/190). The smallest
point (growth 4, two plain layers per block) has 9k parameters, the largest (growth
12, 16 plain layers per block, no compression) 1.8M.

Growth and layer type are per stage (the paper uses one value for all blocks), so a
search may widen only the last block; the paper's networks are the uniform points.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from nas.genotypes.types import DenseBlock, Stage, Stem
from nas.search_spaces.base import Decision
from nas.search_spaces.macro import MacroSpace, StageFamily, block_of, entry_downsample, menu_index

#: Stem width of a DenseNet without bottlenecks (Huang et al., Sec. 3).
PLAIN_STEM = 16


@dataclass(frozen=True)
class DenseNetFamily(StageFamily):
    """Dense blocks; a transition (BN-ReLU-1x1, 2x2 avg-pool) enters stages 1, 2."""

    growths: tuple[int, ...] = (4, 8, 12)
    depths: tuple[int, ...] = (2, 4, 6, 8, 12, 16)
    bottlenecks: tuple[int, ...] = (0, 4)
    compressions: tuple[float, ...] = (1.0, 0.5)

    name: ClassVar[str] = "densenet"
    preact_head: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if any(not 0.0 < c <= 1.0 for c in self.compressions):
            raise ValueError(f"compressions: expected numbers in (0, 1], got {self.compressions}")
        object.__setattr__(self, "compressions", tuple(float(c) for c in self.compressions))

    def decisions(self, stage: int) -> list[Decision]:
        out = [
            Decision("growth", self.growths),
            Decision("depth", self.depths),
            Decision("bottleneck", self.bottlenecks),
        ]
        if stage > 0:
            out.append(Decision("compression", self.compressions))
        return out

    def channel_key(self, stage: int, in_channels: int) -> Hashable:
        return None  # make_stage ignores the input width

    def make_stage(self, values: Sequence[int], stage: int, in_channels: int) -> Stage:
        growth, depth, bottleneck = values[:3]
        return Stage(
            block=DenseBlock(growth_rate=self.growths[growth], bottleneck=self.bottlenecks[bottleneck]),
            depth=self.depths[depth],
            downsample=entry_downsample(stage, "transition"),
            compression=self.compressions[values[3]] if stage > 0 else 1.0,
        )

    def stage_values(self, stage: Stage, index: int, path: str) -> list[int]:
        b = block_of(stage, DenseBlock, path)
        out = [
            menu_index(self.growths, b.growth_rate, f"{path}.block.growth_rate"),
            menu_index(self.depths, stage.depth, f"{path}.depth"),
            menu_index(self.bottlenecks, b.bottleneck, f"{path}.block.bottleneck"),
        ]
        if index > 0:
            out.append(menu_index(self.compressions, stage.compression, f"{path}.compression"))
        return out

    def stem(self, values: Sequence[int]) -> Stem:
        growth, _, bottleneck = values[:3]
        channels = 2 * self.growths[growth] if self.bottlenecks[bottleneck] else PLAIN_STEM
        return Stem(channels=channels, norm_act=False)


class DenseNetSpace(MacroSpace):
    """Three dense blocks on CIFAR-10 (contains DenseNet-40 and DenseNet-BC-100, k=12)."""

    name = "densenet"
    description = "CIFAR DenseNet: growth rate, depth, bottleneck and compression of three dense blocks"

    def __init__(self, family: DenseNetFamily | None = None) -> None:
        super().__init__((family or DenseNetFamily(),))
