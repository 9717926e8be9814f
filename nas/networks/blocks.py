"""The modules of the four classic families, built from the genotype's block records.

Every block accepts any input width, so stages of different families can follow one
another (the hybrid space). :func:`make_stage` turns one :class:`nas.genotypes.types.Stage`
into a module and returns its output width, which always equals the genotype's own
:meth:`~nas.genotypes.types.MacroGenotype.feature_shapes` prediction.

Bias conventions follow the reference networks, because parameter counts must match
the literature: VGG and Inception convolutions carry a bias (as in the original VGG
and GoogLeNet and their common CIFAR versions), ResNet and DenseNet convolutions
do not (a bias before batch norm is redundant).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from nas.errors import NasError
from nas.genotypes.types import DenseBlock, InceptionBlock, ResNetBlock, Stage, VGGBlock

__all__ = [
    "DenseLayer",
    "DenseStage",
    "InceptionModule",
    "PadShortcut",
    "ResidualBlock",
    "SqueezeExcite",
    "Transition",
    "VGGLayer",
    "conv_bn_relu",
    "make_block",
    "make_stage",
]


def conv_bn_relu(
    c_in: int, c_out: int, kernel_size: int, stride: int = 1, *, bias: bool = False, groups: int = 1
) -> nn.Sequential:
    """Convolution (``same`` padding), batch norm, ReLU: the unit of VGG and Inception."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel_size, stride, kernel_size // 2, groups=groups, bias=bias),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class VGGLayer(nn.Sequential):
    """A VGG layer: ``k x k`` convolution with bias (as the classic VGG), BN, ReLU."""

    def __init__(self, c_in: int, block: VGGBlock, stride: int = 1) -> None:
        super().__init__(*conv_bn_relu(c_in, block.channels, block.kernel_size, stride, bias=True))


class InceptionModule(nn.Module):
    """GoogLeNet v1 module (CIFAR style, BN after every convolution), branches concatenated."""

    def __init__(self, c_in: int, block: InceptionBlock) -> None:
        super().__init__()
        b = block
        self.branch1 = conv_bn_relu(c_in, b.b1, 1, bias=True)
        self.branch2 = nn.Sequential(
            conv_bn_relu(c_in, b.b2_reduce, 1, bias=True), conv_bn_relu(b.b2_reduce, b.b2, 3, bias=True)
        )
        if b.double_3x3:
            third = [conv_bn_relu(b.b3_reduce, b.b3, 3, bias=True), conv_bn_relu(b.b3, b.b3, 3, bias=True)]
        else:
            third = [conv_bn_relu(b.b3_reduce, b.b3, 5, bias=True)]
        self.branch3 = nn.Sequential(conv_bn_relu(c_in, b.b3_reduce, 1, bias=True), *third)
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(3, stride=1, padding=1), conv_bn_relu(c_in, b.pool_proj, 1, bias=True)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], dim=1)


class PadShortcut(nn.Module):
    """He et al.'s option A: subsample by ``stride`` and zero-pad the new channels (no parameters).

    The zeros go after the input channels; where they go does not matter, since the
    residual branch's output channels are learned.
    """

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        if c_out < c_in:  # the genotype rejects this; guard direct use
            raise NasError(f"shortcut: 'pad' cannot shrink {c_in} channels to {c_out}; use 'conv'")
        self.extra = c_out - c_in
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.extra)) if self.extra else x

    def extra_repr(self) -> str:
        return f"extra_channels={self.extra}, stride={self.stride}"


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation: global pool, FC down by ``reduction``, ReLU, FC up, sigmoid gate."""

    def __init__(self, channels: int, reduction: int) -> None:
        super().__init__()
        squeezed = channels // reduction
        self.fc1 = nn.Linear(channels, squeezed)
        self.fc2 = nn.Linear(squeezed, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = torch.sigmoid(self.fc2(F.relu(self.fc1(x.mean((2, 3))), inplace=True)))
        return x * w[:, :, None, None]


def _conv(c_in: int, c_out: int, k: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups, bias=False)


class ResidualBlock(nn.Module):
    """Basic or bottleneck residual block, post- or pre-activation, optional grouping and SE.

    The stride sits on the (first) 3x3 convolution. ``groups`` groups the bottleneck's
    3x3; a basic block groups its second 3x3 (``inner -> channels``), because the first
    one must accept any input width. The shortcut is the identity when shapes match,
    else a 1x1 projection or option A's subsample-and-pad. In the pre-activation
    order (He et al., *Identity Mappings*, 2016) a projection reads the pre-activated
    input and has no BN of its own, as in that paper's code.
    """

    def __init__(self, c_in: int, block: ResNetBlock, stride: int = 1) -> None:
        super().__init__()
        c_out, inner, g = block.channels, block.inner_width, block.groups
        self.preact = block.preact
        post = not block.preact
        if block.kind == "basic":
            if c_out % g:
                raise NasError(f"groups: a basic block groups its second 3x3, so {g} must divide channels={c_out}")
            convs = [_conv(c_in, inner, 3, stride), _conv(inner, c_out, 3, groups=g)]
            widths = [inner, c_out]
        else:
            convs = [_conv(c_in, inner, 1), _conv(inner, inner, 3, stride, groups=g), _conv(inner, c_out, 1)]
            widths = [inner, inner, c_out]
        layers: list[nn.Module] = []
        for i, (conv, width) in enumerate(zip(convs, widths)):
            if block.preact and i > 0:
                layers += [nn.BatchNorm2d(convs[i - 1].out_channels), nn.ReLU(inplace=True)]
            layers.append(conv)
            if post:
                layers.append(nn.BatchNorm2d(width))
                if i < len(convs) - 1:
                    layers.append(nn.ReLU(inplace=True))
        self.pre = nn.Sequential(nn.BatchNorm2d(c_in), nn.ReLU(inplace=True)) if block.preact else None
        self.body = nn.Sequential(*layers)
        self.se = SqueezeExcite(c_out, block.se_reduction) if block.se_reduction else None
        self.shortcut: nn.Module | None = None
        self.project = False
        if stride != 1 or c_in != c_out:
            if block.shortcut == "pad":
                self.shortcut = PadShortcut(c_in, c_out, stride)
            else:
                self.project = True
                conv = nn.Conv2d(c_in, c_out, 1, stride, bias=False)
                self.shortcut = conv if block.preact else nn.Sequential(conv, nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        inp = self.pre(x) if self.pre is not None else x
        if self.shortcut is None:
            skip = x
        else:
            skip = self.shortcut(inp if self.project else x)
        out = self.body(inp)
        if self.se is not None:
            out = self.se(out)
        out += skip  # the body's last output is not saved for backward, so in-place is safe
        return out if self.preact else F.relu(out, inplace=True)


class DenseLayer(nn.Module):
    """BN-ReLU-1x1(bottleneck * k)-BN-ReLU-3x3(k), or BN-ReLU-3x3(k) without bottleneck."""

    def __init__(self, c_in: int, growth_rate: int, bottleneck: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.BatchNorm2d(c_in), nn.ReLU(inplace=True)]
        if bottleneck:
            width = bottleneck * growth_rate
            layers += [_conv(c_in, width, 1), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
            c_in = width
        layers.append(_conv(c_in, growth_rate, 3))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class DenseStage(nn.Module):
    """A dense block: each layer's ``k`` new channels are concatenated to its input.

    Memory note: one ``torch.cat`` per layer keeps every intermediate concatenation
    alive for backward (quadratic in depth). That is fine at CIFAR scale (DenseNet-121
    on 32x32); a shared-buffer or checkpointed variant would be the fix if it mattered.
    """

    def __init__(self, c_in: int, block: DenseBlock, depth: int) -> None:
        super().__init__()
        k = block.growth_rate
        self.layers = nn.ModuleList(DenseLayer(c_in + i * k, k, block.bottleneck) for i in range(depth))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = torch.cat([x, layer(x)], dim=1)
        return x


class Transition(nn.Sequential):
    """DenseNet transition: BN-ReLU-1x1 convolution to ``c_out`` channels, 2x2 average pooling."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__(nn.BatchNorm2d(c_in), nn.ReLU(inplace=True), _conv(c_in, c_out, 1), nn.AvgPool2d(2))


def make_block(block: VGGBlock | InceptionBlock | ResNetBlock, c_in: int, stride: int = 1) -> nn.Module:
    """One block of a non-dense family (a dense stage is built whole by :class:`DenseStage`)."""
    if isinstance(block, VGGBlock):
        return VGGLayer(c_in, block, stride)
    if isinstance(block, ResNetBlock):
        return ResidualBlock(c_in, block, stride)
    if isinstance(block, InceptionBlock):
        if stride != 1:  # the genotype rejects this; guard direct use
            raise NasError("downsample: 'stride' needs a resnet or vgg block, not inception")
        return InceptionModule(c_in, block)
    raise NasError(f"block: unknown block type {type(block).__name__}")


def make_stage(stage: Stage, c_in: int) -> tuple[nn.Sequential, int]:
    """The module of ``stage`` for an input of ``c_in`` channels, and its output width."""
    layers: list[nn.Module] = []
    stride = 1
    if stage.downsample == "max_pool":
        layers.append(nn.MaxPool2d(2))
    elif stage.downsample == "avg_pool":
        layers.append(nn.AvgPool2d(2))
    elif stage.downsample == "transition":
        c_out = math.floor(stage.compression * c_in)  # as the genotype's feature_shapes
        layers.append(Transition(c_in, c_out))
        c_in = c_out
    elif stage.downsample == "stride":
        stride = 2
    block = stage.block
    if isinstance(block, DenseBlock):
        layers.append(DenseStage(c_in, block, stage.depth))
    else:
        for i in range(stage.depth):
            layers.append(make_block(block, c_in, stride if i == 0 else 1))
            c_in = block.out_channels(c_in, 1)
    return nn.Sequential(*layers), block.out_channels(c_in, stage.depth)
