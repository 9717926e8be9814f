"""The evaluation network of a DARTS-notation genotype (the reference ``NetworkCIFAR``).

Same modules, parameter names and parameter count as the DARTS reference code (so a
published checkpoint loads into it), with a faster forward pass that computes exactly
the same function:

* Every consumer of a cell's output (the next cells' 1x1 preprocessing, the auxiliary
  head) starts with a ReLU, so a cell hands its successors the output already
  activated, in place on the fresh concatenation, instead of each consumer
  re-activating it (the last cell, which feeds the classifier, is left as is).
* Inside a cell, a state read by several ReLU-first operations (e.g. three
  ``sep_conv`` on input 1 in DARTS_V2) is activated once and shared.
* Parameter-free operations repeated on one state (DARTS_V2's reduction cell max-pools
  input 1 three times and input 0 twice) are computed once; each edge still gets its
  own drop-path mask.
* Drop-path is one out-of-place multiply by a pre-scaled per-sample mask, fused with
  the node sum (``addcmul``) for the second edge.
* The network is built in channels-last memory format (``memory_format``), which
  oneDNN's CPU convolution kernels (depthwise ones above all) and max-pooling run
  several times faster, and converts its input to it; ``memory_format="contiguous"``
  keeps the NCHW layout.
* In training, a :class:`nas.ops.FactorizedReduce` runs as one 2x2 strided convolution.
* ``sep_conv``/``dil_conv`` keep their pointwise outputs only and recompute the rest in
  backward (:mod:`nas.kernels`): about half the saved activations of the reference.
* The cell's concatenation hands each node a dense gradient (see :class:`_ConcatDenseGrad`).

``benchmarks/bench_derived_network.py`` measures each against the reference forward.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nas.errors import NasError
from nas.genotypes.types import DartsGenotype, Edge
from nas.ops import OPS, FactorizedReduce, ReLUConvBN, drop_mask, is_relu_first, parse_memory_format, shareable_key


def _check_int(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise NasError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    return value


def _check_prob(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise NasError(f"{name}: expected a probability in [0, 1), got {value!r}")
    return float(value)


class _GradMemoryFormat(torch.autograd.Function):
    """Identity whose backward hands the gradient on in a given memory format.

    The global pooling's backward produces an NCHW gradient; fed to the channels-last
    batch norms of the last cell it sends them down a several times slower mixed-layout
    path. One small copy of the last feature map's gradient avoids that.
    """

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: torch.Tensor, fmt: torch.memory_format) -> torch.Tensor:
        ctx.fmt = fmt  # type: ignore[attr-defined]
        return x.view_as(x)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad.contiguous(memory_format=ctx.fmt), None  # type: ignore[attr-defined]


class _ConcatDenseGrad(torch.autograd.Function):
    """``torch.cat`` along channels whose backward hands each input a dense gradient.

    Plain ``cat`` gives every input a strided slice of the output gradient; without
    drop-path (the first epochs of the DARTS schedule) those slices reach the operations'
    batch norms as they are, and batch norm's backward on a non-contiguous gradient takes
    a several times slower path (most of a step's time at C=16). One copy per slice, in
    the output's memory format, avoids it.
    """

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, *xs: torch.Tensor) -> torch.Tensor:
        out = torch.cat(xs, dim=1)
        cl = out.dim() == 4 and out.is_contiguous(memory_format=torch.channels_last)
        ctx.fmt = torch.channels_last if cl else torch.contiguous_format  # type: ignore[attr-defined]
        ctx.widths = [x.shape[1] for x in xs]  # type: ignore[attr-defined]
        return out

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> tuple[torch.Tensor, ...]:
        parts = grad.split(ctx.widths, dim=1)  # type: ignore[attr-defined]
        return tuple(g.contiguous(memory_format=ctx.fmt) for g in parts)  # type: ignore[attr-defined]


class DartsCell(nn.Module):
    """One normal or reduction cell: preprocess both inputs, build the nodes, concat.

    In a reduction cell the edges reading the cell inputs (0 and 1) have stride 2.
    ``forward`` expects *activated* (ReLU'd) inputs; see the module docstring.
    """

    def __init__(
        self,
        edges: tuple[Edge, ...],
        concat: tuple[int, ...],
        C_prev_prev: int,
        C_prev: int,
        C: int,
        reduction: bool,
        reduction_prev: bool,
    ) -> None:
        super().__init__()
        self.reduction = reduction
        if reduction_prev:
            self.preprocess0: nn.Module = FactorizedReduce(C_prev_prev, C, 2, True)
        else:
            self.preprocess0 = ReLUConvBN(C_prev_prev, C, 1, 1, 0, True)
        self.preprocess1 = ReLUConvBN(C_prev, C, 1, 1, 0, True)
        self._ops = nn.ModuleList(OPS[name](C, C, 2 if reduction and index < 2 else 1, True) for name, index in edges)
        self._indices = tuple(index for _, index in edges)
        self._concat = tuple(concat)
        self._steps = len(edges) // 2
        self.multiplier = len(concat)
        self._relu_first = tuple(is_relu_first(op) for op in self._ops)
        keys = [shareable_key(op) for op in self._ops]
        self._share = tuple(None if key is None else (index, key) for key, index in zip(keys, self._indices))
        # The reference applies drop-path to every operation output except the identity.
        self._droppable = tuple(not isinstance(op, nn.Identity) for op in self._ops)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_prob: float, relu_output: bool) -> torch.Tensor:
        states = [self.preprocess0.forward_relu(s0), self.preprocess1.forward_relu(s1)]
        activated: list[torch.Tensor | None] = [None] * (2 + self._steps)
        shared: dict[tuple[int, str], torch.Tensor] = {}
        drop = self.training and drop_prob > 0.0
        for k, (op, index) in enumerate(zip(self._ops, self._indices)):
            if self._relu_first[k]:
                a = activated[index]
                if a is None:
                    a = activated[index] = F.relu(states[index])
                h = op.forward_relu(a)
            elif self._share[k] is not None:
                h = shared.get(self._share[k])
                if h is None:
                    h = shared[self._share[k]] = op(states[index])
            else:
                h = op(states[index])
            mask = drop_mask(h, drop_prob) if drop and self._droppable[k] else None
            if k % 2 == 0:
                first = h if mask is None else h * mask
            else:
                # Drop-path and the node sum in one pass when the second edge is dropped.
                states.append(first + h if mask is None else torch.addcmul(first, h, mask))
        picked = [states[i] for i in self._concat]
        out = _ConcatDenseGrad.apply(*picked) if torch.is_grad_enabled() else torch.cat(picked, dim=1)
        # The concatenation is a fresh tensor that its backward does not need.
        return out.relu_() if relu_output else out


class AuxiliaryHeadCIFAR(nn.Module):
    """The reference auxiliary classifier for an 8x8 feature map (after two reductions)."""

    def __init__(self, C: int, num_classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            # Not in place (the reference's is): its input is a cell output other cells read.
            nn.ReLU(inplace=False),
            nn.AvgPool2d(5, stride=3, padding=0, count_include_pad=False),
            nn.Conv2d(C, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=True),
            nn.Conv2d(128, 768, 2, bias=False),
            nn.BatchNorm2d(768),
            nn.ReLU(inplace=True),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        if x.shape[-2:] != (1, 1):
            raise NasError(
                f"auxiliary head: expected an 8x8 feature map (32x32 input), got {tuple(x.shape[-2:])} after pooling"
            )
        return self.classifier(x.flatten(1))


def is_reduction(i: int, layers: int) -> bool:
    """Whether cell ``i`` of ``layers`` is a reduction cell (``layers // 3`` and ``2 * layers // 3``).

    The DARTS skeleton, shared by the derived network and both kinds of search supernet.
    """
    return i in (layers // 3, 2 * layers // 3)


class DartsNetwork(nn.Module):
    """DARTS ``NetworkCIFAR``: stem, ``layers`` cells (reductions at 1/3 and 2/3), classifier.

    ``layers`` may be any positive integer: cells ``layers // 3`` and
    ``2 * layers // 3`` are reductions (with ``layers < 3`` they coincide with the first
    cells, as in the reference). The auxiliary head needs two distinct reductions before
    it (``layers >= 2``) and a 32x32 input.
    """

    def __init__(
        self,
        genotype: DartsGenotype,
        channels: int = 36,
        layers: int = 20,
        num_classes: int = 10,
        auxiliary: bool = False,
        drop_path_prob: float = 0.0,
        stem_multiplier: int = 3,
        in_channels: int = 3,
        memory_format: str = "channels_last",
    ) -> None:
        super().__init__()
        if not isinstance(genotype, DartsGenotype):
            raise NasError(f"genotype: expected a DartsGenotype, got {type(genotype).__name__}")
        C = _check_int(channels, "channels", 1)
        _check_int(layers, "layers", 1)
        _check_int(num_classes, "num_classes", 1)
        _check_int(stem_multiplier, "stem_multiplier", 1)
        _check_int(in_channels, "in_channels", 1)
        if not isinstance(auxiliary, bool):
            raise NasError(f"auxiliary: expected true or false, got {auxiliary!r}")
        if auxiliary and layers < 2:
            raise NasError(f"auxiliary: the auxiliary head needs layers >= 2 (two reductions before it), got {layers}")
        self._memory_format = parse_memory_format(memory_format)
        self.drop_path_prob = _check_prob(drop_path_prob, "drop_path_prob")
        self.genotype = genotype
        self._layers = layers
        self._auxiliary = auxiliary
        self._aux_pos = 2 * layers // 3

        C_curr = stem_multiplier * C
        self.stem = nn.Sequential(nn.Conv2d(in_channels, C_curr, 3, padding=1, bias=False), nn.BatchNorm2d(C_curr))
        C_prev_prev, C_prev, C_curr = C_curr, C_curr, C
        self.cells = nn.ModuleList()
        reduction_prev = False
        C_to_auxiliary = C_prev
        for i in range(layers):
            reduction = is_reduction(i, layers)
            if reduction:
                C_curr *= 2
            edges, concat = (
                (genotype.reduce, genotype.reduce_concat) if reduction else (genotype.normal, genotype.normal_concat)
            )
            cell = DartsCell(edges, concat, C_prev_prev, C_prev, C_curr, reduction, reduction_prev)
            self.cells.append(cell)
            reduction_prev = reduction
            C_prev_prev, C_prev = C_prev, cell.multiplier * C_curr
            if i == self._aux_pos:
                C_to_auxiliary = C_prev
        if auxiliary:
            self.auxiliary_head = AuxiliaryHeadCIFAR(C_to_auxiliary, num_classes)
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

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        x = x.contiguous(memory_format=self._memory_format)
        logits_aux = None
        drop_prob = float(self.drop_path_prob)
        # Every reader of the stem output starts with a ReLU: activate it once, in place
        # (batch norm's backward does not need its output).
        s0 = s1 = self.stem(x).relu_()
        last = len(self.cells) - 1
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, drop_prob, i != last)
            if i == self._aux_pos and self._auxiliary and self.training:
                logits_aux = self.auxiliary_head(s1)
        if s1.requires_grad and self._memory_format is torch.channels_last:
            s1 = _GradMemoryFormat.apply(s1, self._memory_format)
        logits = self.classifier(self.global_pooling(s1).flatten(1))
        if logits_aux is not None:
            return logits, logits_aux
        return logits
