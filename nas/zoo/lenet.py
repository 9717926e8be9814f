"""LeNet-5 (LeCun et al. 1998) for 32x32 RGB images.

Layers: conv 5x5 -> 6, 2x2 max-pool, conv 5x5 -> 16, 2x2 max-pool, FC 120, FC 84,
FC classes; ReLU activations and max pooling, as in the common CIFAR versions (the
original used scaled tanh and trainable subsampling). 62,006 parameters for CIFAR-10:
456 + 2,416 + 48,120 + 10,164 + 850.
"""

from __future__ import annotations

import torch
from torch import nn

from nas.zoo.registry import register_model


@register_model("lenet5", family="lenet")
class LeNet5(nn.Module):
    """LeNet-5; the unpadded convolutions need a 32x32 input (5x5x16 features at the flatten)."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Linear(16 * 5 * 5, 120),
            nn.ReLU(inplace=True),
            nn.Linear(120, 84),
            nn.ReLU(inplace=True),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))
