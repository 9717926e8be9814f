"""AlexNet adapted to CIFAR-10: the five convolutions, a linear classifier.

Which adaptation: the CIFAR AlexNet of bearpaw/pytorch-classification (its ``alexnet.py``,
widely used as the CIFAR AlexNet baseline): the "one weird trick" AlexNet feature
extractor (64-192-384-256-256 channels) with its 11x11 stride-4 first convolution
padded by 5, 2x2 max-pools, and the three fully connected layers replaced by one
``Linear(256, classes)`` on the 1x1 map. No batch norm and no dropout, as there.
2,472,266 parameters for CIFAR-10: 23,296 + 307,392 + 663,936 + 884,992 + 590,080 + 2,570.
"""

from __future__ import annotations

import torch
from torch import nn

from nas.zoo.registry import register_model


@register_model("alexnet", family="alexnet")
class AlexNet(nn.Module):
    """CIFAR AlexNet; designed for 32x32 inputs (the feature map is 1x1 before the classifier)."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()

        def conv(c_in: int, c_out: int, k: int, stride: int = 1) -> list[nn.Module]:
            return [nn.Conv2d(c_in, c_out, k, stride, k // 2), nn.ReLU(inplace=True)]

        self.features = nn.Sequential(
            *conv(in_channels, 64, 11, 4),
            nn.MaxPool2d(2),
            *conv(64, 192, 5),
            nn.MaxPool2d(2),
            *conv(192, 384, 3),
            *conv(384, 256, 3),
            *conv(256, 256, 3),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Linear(256, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))
