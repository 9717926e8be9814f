"""The NAS-Bench-201 evaluation network of a cell (the benchmark's ``TinyNetwork``).

Stem (3x3 conv + BN), three stages of ``cells_per_stage`` copies of the cell at C, 2C
and 4C channels separated by a ResNet basic block of stride 2, final BN-ReLU, global
average pooling and a linear classifier. Modules and parameter names follow the
benchmark's code, so parameter counts equal its ``params`` figures (the table's 150
rows whose params *and* FLOPs belong to another cell aside; see the tests).

The forward pass computes the benchmark's function with less work: a state read by
several ReLU-first operations is activated once, a state pooled by several edges is
pooled once, and a ``none`` edge (``x * 0``) is left out of its node's sum instead of
being computed and added (a node whose edges are all ``none`` is still ``x * 0``).
Outputs and gradients are identical, except that a NaN or infinity no longer leaks
through a ``none`` edge. The network is built in channels-last memory format (faster
oneDNN kernels on CPU) unless ``memory_format="contiguous"``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nas.errors import NasError
from nas.genotypes.types import NB201Genotype
from nas.ops import OPS, ReLUConvBN, Zero, is_relu_first, parse_memory_format, shareable_key


def _check_int(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise NasError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    return value


class NB201Cell(nn.Module):
    """The benchmark's ``InferCell``: node ``j`` sums one operation applied to every earlier node."""

    def __init__(self, genotype: NB201Genotype, C_in: int, C_out: int, stride: int = 1) -> None:
        super().__init__()
        self.layers = nn.ModuleList()
        self.node_IN: list[list[int]] = []  # input node of each edge, per node
        self.node_IX: list[list[int]] = []  # index into ``layers`` of each edge, per node
        for node in genotype.nodes:
            ins, ixs = [], []
            for op_name, i in node:
                if i == 0:
                    layer = OPS[op_name](C_in, C_out, stride, True)
                else:
                    layer = OPS[op_name](C_out, C_out, 1, True)
                ins.append(i)
                ixs.append(len(self.layers))
                self.layers.append(layer)
            self.node_IN.append(ins)
            self.node_IX.append(ixs)
        self._relu_first = tuple(is_relu_first(layer) for layer in self.layers)
        self._share = tuple(shareable_key(layer) for layer in self.layers)
        # Shape-preserving zeros contribute nothing to a sum.
        self._skip = tuple(
            isinstance(layer, Zero) and layer.stride == 1 and layer.C_in == layer.C_out for layer in self.layers
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        activated: list[torch.Tensor | None] = [None] * (len(self.node_IN) + 1)
        shared: dict[tuple[int, str], torch.Tensor] = {}
        for ins, ixs in zip(self.node_IN, self.node_IX):
            total = None
            for i, k in zip(ins, ixs):
                if self._skip[k]:
                    continue
                layer = self.layers[k]
                if self._relu_first[k]:
                    a = activated[i]
                    if a is None:
                        a = activated[i] = F.relu(nodes[i])
                    h = layer.forward_relu(a)
                elif self._share[k] is not None:
                    key = (i, self._share[k])
                    h = shared.get(key)
                    if h is None:
                        h = shared[key] = layer(nodes[i])
                else:
                    h = layer(nodes[i])
                total = h if total is None else total + h
            if total is None:
                total = nodes[ins[0]].mul(0.0)
            nodes.append(total)
        return nodes[-1]


class ResNetBasicblock(nn.Module):
    """The benchmark's stage transition: two ReLU-conv3x3-BN plus a pooled 1x1 shortcut."""

    def __init__(self, inplanes: int, planes: int, stride: int) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise NasError(f"stride: expected 1 or 2, got {stride!r}")
        self.conv_a = ReLUConvBN(inplanes, planes, 3, stride, 1, True)
        self.conv_b = ReLUConvBN(planes, planes, 3, 1, 1, True)
        self.downsample: nn.Module | None
        if stride == 2:
            self.downsample = nn.Sequential(
                nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
                nn.Conv2d(inplanes, planes, kernel_size=1, stride=1, padding=0, bias=False),
            )
        elif inplanes != planes:
            self.downsample = ReLUConvBN(inplanes, planes, 1, 1, 0, True)
        else:
            self.downsample = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv_b(self.conv_a(x))
        residual = x if self.downsample is None else self.downsample(x)
        return residual + out


def stage_plan(C: int, N: int) -> list[tuple[int, bool]]:
    """``(width, is_reduction)`` of every cell position: N cells at C, a residual
    reduction, N at 2C, another, N at 4C (the NAS-Bench-201 skeleton, shared by the
    derived network and the supernet)."""
    widths = [C] * N + [2 * C] + [2 * C] * N + [4 * C] + [4 * C] * N
    reductions = [False] * N + [True] + [False] * N + [True] + [False] * N
    return list(zip(widths, reductions))


class NB201Network(nn.Module):
    """The NAS-Bench-201 CIFAR network of ``genotype`` (benchmark defaults: C=16, N=5)."""

    def __init__(
        self,
        genotype: NB201Genotype,
        channels: int = 16,
        cells_per_stage: int = 5,
        num_classes: int = 10,
        in_channels: int = 3,
        memory_format: str = "channels_last",
    ) -> None:
        super().__init__()
        if not isinstance(genotype, NB201Genotype):
            raise NasError(f"genotype: expected an NB201Genotype, got {type(genotype).__name__}")
        C = _check_int(channels, "channels", 1)
        N = _check_int(cells_per_stage, "cells_per_stage", 1)
        _check_int(num_classes, "num_classes", 1)
        _check_int(in_channels, "in_channels", 1)
        self._memory_format = parse_memory_format(memory_format)
        self.genotype = genotype
        self.stem = nn.Sequential(nn.Conv2d(in_channels, C, kernel_size=3, padding=1, bias=False), nn.BatchNorm2d(C))
        self.cells = nn.ModuleList()
        C_prev = C
        for C_curr, reduction in stage_plan(C, N):
            if reduction:
                self.cells.append(ResNetBasicblock(C_prev, C_curr, 2))
            else:
                self.cells.append(NB201Cell(genotype, C_prev, C_curr, 1))
            C_prev = C_curr
        self.lastact = nn.Sequential(nn.BatchNorm2d(C_prev), nn.ReLU(inplace=True))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_prev, num_classes)
        self.to(memory_format=self._memory_format)

    @property
    def memory_format(self) -> str:
        """``channels_last`` or ``contiguous``: the layout the network runs in."""
        return "channels_last" if self._memory_format is torch.channels_last else "contiguous"

    def set_memory_format(self, memory_format: str) -> None:
        """Run in ``memory_format`` from now on (weights converted; the per-device default is
        :mod:`nas.device_defaults`')."""
        self._memory_format = parse_memory_format(memory_format)
        self.to(memory_format=self._memory_format)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x.contiguous(memory_format=self._memory_format))
        for cell in self.cells:
            x = cell(x)
        x = self.global_pooling(self.lastact(x))
        return self.classifier(x.flatten(1))
