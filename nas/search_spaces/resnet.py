"""The ResNet space: residual stages whose block, depth and width are searched.

Per stage: ``kind`` (basic: two 3x3; bottleneck: 1x1, 3x3, 1x1 with 4x expansion),
``depth`` (blocks), ``width`` (channels of the 3x3 convolutions: the output of a
basic block, a quarter of a bottleneck's output), ``groups`` (grouped 3x3,
ResNeXt-style; bottlenecks only, ignored for basic blocks), ``se``
(squeeze-and-excitation with reduction 4, small enough for 8-channel stages) and
``shortcut`` (``pad``: He et al.'s parameter-free option A; ``conv``: a 1x1
projection, option B). The first block of stages 1 and 2 has stride 2. The stem is a
3x3 convolution as wide as stage 0's 3x3 convolutions (16 in ResNet-20, as in
ResNet-164), followed by BN-ReLU.

Ignored decisions, so the vector-to-genotype map is many-to-one (see
:meth:`MacroSpace.distinct_size`): ``groups`` of a basic block (canonical index 0,
groups 1), and ``shortcut=pad`` on entry to a stage narrower than its input, where
zero-padding cannot shrink channels: that stage uses ``conv`` (canonical index 0).

Menus: widths 8/16/24 at 32x32, doubled per stage; depths 1, 2, 3, 5, 7, 9. Points:
the CIFAR ResNets of He et al. (2016) with option A, ResNet-8/14/20/32/44/56
(``kind=basic, width=16, depth=n, groups=1, se=off, shortcut=pad`` in every stage,
n = (L - 2) / 6); with ``shortcut=conv`` the same depths with option B. Not points:
ResNet-110/1202 (n = 18/200) and ResNet-164 (bottleneck n = 18, pre-activation),
pre-activation blocks, and ResNeXt-29 (far wider). The smallest point (ResNet-8 at
half width, 20k parameters) trains on a CPU in minutes; ResNet-20 has 0.27M and
ResNet-56 0.85M parameters; the largest point (bottlenecks, 1.5x width, depth 9)
has 2.7M.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from nas.genotypes.types import ResNetBlock, Stage, Stem
from nas.search_spaces.base import Decision
from nas.search_spaces.macro import MacroSpace, StageFamily, block_of, entry_downsample, menu_index, scaled

#: Output channels per 3x3 channel of each block kind (He et al.'s bottleneck expands 4x).
EXPANSION = {"basic": 1, "bottleneck": 4}


@dataclass(frozen=True)
class ResNetFamily(StageFamily):
    """ResNet stages (post-activation blocks); stride 2 on entry to stages 1, 2."""

    kinds: tuple[str, ...] = ("basic", "bottleneck")
    depths: tuple[int, ...] = (1, 2, 3, 5, 7, 9)
    widths: tuple[int, ...] = (8, 16, 24)
    groups: tuple[int, ...] = (1, 2, 4)
    se_reductions: tuple[int, ...] = (0, 4)
    shortcuts: tuple[str, ...] = ("conv", "pad")

    name: ClassVar[str] = "resnet"

    def __post_init__(self) -> None:
        # Every decision vector must give a valid genotype: check the menus once here.
        for kind in self.kinds:
            if kind not in EXPANSION:
                raise ValueError(f"kinds: unknown block kind {kind!r}")
        if any(w % g for w in self.widths for g in self.groups):
            raise ValueError(f"groups {self.groups} must divide every width {self.widths}")
        if any(r and w * EXPANSION[k] < r for w in self.widths for r in self.se_reductions for k in self.kinds):
            raise ValueError(f"se_reductions {self.se_reductions} leave no squeeze channel for widths {self.widths}")
        if set(self.shortcuts) - set(ResNetBlock.SHORTCUTS):
            raise ValueError(f"shortcuts: expected some of {ResNetBlock.SHORTCUTS}, got {self.shortcuts}")
        if "pad" in self.shortcuts and "conv" not in self.shortcuts:
            raise ValueError("shortcuts: 'pad' needs 'conv' too (a narrowing stage falls back to it)")

    def decisions(self, stage: int) -> list[Decision]:
        return [
            Decision("kind", self.kinds),
            Decision("depth", self.depths),
            Decision("width", scaled(self.widths, stage)),
            Decision("groups", self.groups),
            Decision("se", self.se_reductions),
            Decision("shortcut", self.shortcuts),
        ]

    def channel_key(self, stage: int, in_channels: int) -> Hashable:
        # make_stage reads the input width only to see which widths would narrow the stage (pad -> conv).
        widths = sorted({w * e for w in scaled(self.widths, stage) for e in EXPANSION.values()})
        return tuple(w < in_channels for w in widths)

    def make_stage(self, values: Sequence[int], stage: int, in_channels: int) -> Stage:
        kind_i, depth_i, width_i, groups_i, se_i, shortcut_i = values
        kind = self.kinds[kind_i]
        channels = scaled(self.widths, stage)[width_i] * EXPANSION[kind]
        shortcut = self.shortcuts[shortcut_i]
        if shortcut == "pad" and channels < in_channels:
            shortcut = "conv"  # zero-padding cannot narrow a stage
        block = ResNetBlock(
            channels=channels,
            kind=kind,
            groups=self.groups[groups_i] if kind == "bottleneck" else 1,
            se_reduction=self.se_reductions[se_i],
            shortcut=shortcut,
        )
        return Stage(block=block, depth=self.depths[depth_i], downsample=entry_downsample(stage, "stride"))

    def stage_values(self, stage: Stage, index: int, path: str) -> list[int]:
        b = block_of(stage, ResNetBlock, path)
        kind = menu_index(self.kinds, b.kind, f"{path}.block.kind")
        return [
            kind,
            menu_index(self.depths, stage.depth, f"{path}.depth"),
            menu_index(scaled(self.widths, index), b.inner_width, f"{path}.block.width (3x3 channels)"),
            menu_index(self.groups, b.groups, f"{path}.block.groups") if b.kind == "bottleneck" else 0,
            menu_index(self.se_reductions, b.se_reduction, f"{path}.block.se_reduction"),
            menu_index(self.shortcuts, b.shortcut, f"{path}.block.shortcut"),
        ]

    def stem(self, values: Sequence[int]) -> Stem:
        return Stem(channels=self.widths[values[2]])


class ResNetSpace(MacroSpace):
    """Three ResNet stages on CIFAR-10 (contains ResNet-8 to ResNet-56, option A or B)."""

    name = "resnet"
    description = "CIFAR ResNet: block kind, depth, width, groups, SE and shortcut of three stages"

    def __init__(self, family: ResNetFamily | None = None) -> None:
        super().__init__((family or ResNetFamily(),))
