"""The Inception space: GoogLeNet modules whose branch widths are searched.

Per stage: ``depth`` (modules) and, for its modules, the width of each branch from
a small menu: ``b1`` (1x1), ``b2`` (3x3), ``b3`` (5x5, or two 3x3 when
``double_3x3``, the Inception-v2 factorisation) and ``pool_proj`` (3x3 max-pool then
1x1). The 1x1 reductions before the 3x3 and 5x5 branches are half of those
branches' widths (GoogLeNet uses 1/2 to 3/4), so they are not separate decisions.
The stem is a 3x3 convolution of 32 channels with BN-ReLU; stages 1 and 2 enter with
a 2x2 max-pool, as between GoogLeNet's module groups.

Menus (at 32x32, doubled per stage): b1 8/16, b2 8/16/32, b3 4/8/16, pool_proj
4/8/16, depth 1-3. A module outputs b1 + b2 + b3 + pool_proj channels (24-80 in
stage 0). The smallest point has 18k parameters; the largest 0.75M.

Baselines: GoogLeNet's CIFAR layout (a 192-channel stem, then 2, 5 and 2 modules at
32, 16 and 8 pixels) has this three-stage shape, but its modules are 3-8x wider and
differ within a stage, so it is not a point.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from nas.genotypes.types import InceptionBlock, Stage, Stem
from nas.search_spaces.base import Decision
from nas.search_spaces.macro import MacroSpace, StageFamily, block_of, entry_downsample, menu_index, scaled

#: Stem width when an Inception stage opens the network.
STEM_CHANNELS = 32


@dataclass(frozen=True)
class InceptionFamily(StageFamily):
    """Inception stages: ``depth`` equal modules; max-pool on entry to stages 1, 2."""

    depths: tuple[int, ...] = (1, 2, 3)
    b1: tuple[int, ...] = (8, 16)
    b2: tuple[int, ...] = (8, 16, 32)
    b3: tuple[int, ...] = (4, 8, 16)
    pool_proj: tuple[int, ...] = (4, 8, 16)
    double_3x3: tuple[bool, ...] = (False, True)

    name: ClassVar[str] = "inception"

    def __post_init__(self) -> None:
        if min(self.b2 + self.b3) < 2:
            raise ValueError("b2 and b3 widths must be >= 2 (their reductions are half as wide)")

    def decisions(self, stage: int) -> list[Decision]:
        return [
            Decision("depth", self.depths),
            Decision("b1", scaled(self.b1, stage)),
            Decision("b2", scaled(self.b2, stage)),
            Decision("b3", scaled(self.b3, stage)),
            Decision("pool_proj", scaled(self.pool_proj, stage)),
            Decision("double_3x3", self.double_3x3),
        ]

    def channel_key(self, stage: int, in_channels: int) -> Hashable:
        return None  # make_stage ignores the input width

    def make_stage(self, values: Sequence[int], stage: int, in_channels: int) -> Stage:
        depth, b1, b2, b3, pool_proj, double = values
        w2 = scaled(self.b2, stage)[b2]
        w3 = scaled(self.b3, stage)[b3]
        block = InceptionBlock(
            b1=scaled(self.b1, stage)[b1],
            b2_reduce=w2 // 2,
            b2=w2,
            b3_reduce=w3 // 2,
            b3=w3,
            pool_proj=scaled(self.pool_proj, stage)[pool_proj],
            double_3x3=self.double_3x3[double],
        )
        return Stage(block=block, depth=self.depths[depth], downsample=entry_downsample(stage, "max_pool"))

    def stage_values(self, stage: Stage, index: int, path: str) -> list[int]:
        b = block_of(stage, InceptionBlock, path)
        p = f"{path}.block"
        return [
            menu_index(self.depths, stage.depth, f"{path}.depth"),
            menu_index(scaled(self.b1, index), b.b1, f"{p}.b1"),
            menu_index(scaled(self.b2, index), b.b2, f"{p}.b2"),
            menu_index(scaled(self.b3, index), b.b3, f"{p}.b3"),
            menu_index(scaled(self.pool_proj, index), b.pool_proj, f"{p}.pool_proj"),
            menu_index(self.double_3x3, b.double_3x3, f"{p}.double_3x3"),
        ]

    def stem(self, values: Sequence[int]) -> Stem:
        return Stem(channels=STEM_CHANNELS)


class InceptionSpace(MacroSpace):
    """Three stages of Inception modules on CIFAR-10."""

    name = "inception"
    description = "CIFAR Inception network: module count and branch widths of three stages"

    def __init__(self, family: InceptionFamily | None = None) -> None:
        super().__init__((family or InceptionFamily(),))
