"""MobileNetV2 (Sandler et al. 2018), CIFAR version.

The paper's table of bottleneck stages (expansion t, width c, repeats n, stride s) with
the CIFAR changes of the common version (kuangliu/pytorch-cifar ``mobilenetv2.py``):
stride 1 in the stem and in the second stage (32x32 kept for the first three stages),
global average pooling over the final 4x4 map. As in that version, a stride-1 block
that changes width has a 1x1 convolution + BN shortcut (the paper has no shortcut
there); this is what gives its count, 2,296,922 parameters for CIFAR-10 ("2.30M").
Activations are ReLU6 as in the paper (the count does not depend on it).
"""

from __future__ import annotations

import torch
from torch import nn

from nas.zoo.registry import register_model

#: (expansion t, output width c, blocks n, first stride s), CIFAR strides.
CIFAR_STAGES: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 1),  # ImageNet: stride 2
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


def _conv_bn(c_in: int, c_out: int, k: int, stride: int = 1, groups: int = 1, act: bool = True) -> list[nn.Module]:
    layers: list[nn.Module] = [
        nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
    ]
    if act:
        layers.append(nn.ReLU6(inplace=True))
    return layers


class InvertedResidual(nn.Module):
    """1x1 expansion, depthwise 3x3, linear 1x1 projection; a residual when the stride is 1."""

    def __init__(self, c_in: int, c_out: int, expansion: int, stride: int) -> None:
        super().__init__()
        hidden = c_in * expansion
        self.body = nn.Sequential(
            *_conv_bn(c_in, hidden, 1),
            *_conv_bn(hidden, hidden, 3, stride, groups=hidden),
            *_conv_bn(hidden, c_out, 1, act=False),
        )
        self.residual = stride == 1
        self.shortcut: nn.Module | None = None
        if self.residual and c_in != c_out:
            self.shortcut = nn.Sequential(*_conv_bn(c_in, c_out, 1, act=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        if self.residual:
            out += x if self.shortcut is None else self.shortcut(x)
        return out


@register_model("mobilenetv2", family="mobilenet")
class MobileNetV2(nn.Module):
    """MobileNetV2 for 32x32 inputs (width multiplier 1)."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = [*_conv_bn(in_channels, 32, 3)]  # ImageNet: stride 2
        c_in = 32
        for t, c, n, s in CIFAR_STAGES:
            for i in range(n):
                layers.append(InvertedResidual(c_in, c, t, s if i == 0 else 1))
                c_in = c
        layers += _conv_bn(c_in, 1280, 1)
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(1280, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))
