"""The one operation registry shared by every cell-based network and supernet.

``OPS[name](C_in, C_out, stride, affine)`` builds the module of an operation. The
names cover the DARTS vocabulary (:data:`nas.genotypes.types.DARTS_OPS`, as in the DARTS
reference ``cnn/operations.py``) and the NAS-Bench-201 one
(:data:`nas.genotypes.types.NB201_OPS`, as in its ``cell_operations.py``). The names the two
references share (``none``, ``skip_connect``, ``avg_pool_3x3``) build the same module
in both whenever ``C_in == C_out`` (and ``affine=True``, as in every derived network);
the cases only one reference defines follow that reference:

* ``skip_connect`` is the identity when ``stride == 1`` and ``C_in == C_out``, else a
  :class:`FactorizedReduce` (which, like NAS-Bench-201's, also handles ``stride == 1``
  with a channel change, odd output widths and odd input sizes, where DARTS fails).
* ``avg_pool_3x3``/``max_pool_3x3`` prepend a 1x1 :class:`ReLUConvBN` when the width
  changes (NAS-Bench-201's rule; DARTS never changes width in an edge).
* ``none`` is ``x * 0`` (strided when ``stride == 2``); with a width change, constant
  zeros of the output shape (strided too: NAS-Bench-201 forgets the stride there).

Documented differences: NAS-Bench-201 gives its convolutions a bias when
``affine=False`` (only its weight-sharing supernets use that); here convolutions never
have a bias, as in DARTS, whose supernet is the one that uses ``affine=False``.
``conv_7x1_1x7`` with a width change maps ``C_in -> C_out`` in its first convolution
(neither reference changes width there).

Module and parameter names follow the references (``op.1.weight``, ``conv_1``...), so
state dicts of published DARTS and NAS-Bench-201 models map one to one.

Speed, with the same function and gradients: operations that start with a ReLU of
their input set ``relu_first = True`` and provide ``forward_relu(x)`` taking the
*already activated* input, so a cell that feeds one state to several of them computes
the ReLU once; :class:`SepConv` and :class:`DilConv` keep less for backward (the
kernels of :mod:`nas.kernels`); :class:`FactorizedReduce`
runs as one convolution in training; :func:`drop_path` is a single multiply.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from nas.errors import NasError
from nas.genotypes.types import DARTS_OPS, NB201_OPS
from nas.kernels import bn_relu_dw_pw, dw_pw

__all__ = [
    "OPS",
    "OpFactory",
    "Conv7x1_1x7",
    "DilConv",
    "FactorizedReduce",
    "ReLUConvBN",
    "SepConv",
    "Zero",
    "drop_mask",
    "drop_path",
    "MEMORY_FORMATS",
    "is_relu_first",
    "make_op",
    "parse_memory_format",
    "shareable_key",
    "use_lean_kernels",
    "use_plain_layers",
]

#: ``(C_in, C_out, stride, affine) -> module``
OpFactory = Callable[[int, int, int, bool], nn.Module]


def _fused(module: nn.Module, x: torch.Tensor) -> bool:
    """Whether the memory-lean kernels of :mod:`nas.kernels` may run ``module`` on ``x``.

    Only when autograd records (without it the plain layers keep nothing either) and in
    float32/float64 without autocast, where their batch statistics are those of
    ``nn.BatchNorm2d``; not after :func:`use_plain_layers`; otherwise the plain layers run.
    """
    return (
        getattr(module, "lean", True)
        and torch.is_grad_enabled()
        and x.dtype in (torch.float32, torch.float64)
        and not torch.is_autocast_enabled(x.device.type)
        and _layers_as_built(module)
    )


def _layers_as_built(module: nn.Module) -> bool:
    """Whether ``module.op`` still holds its own layer types with no hooks on them.

    The kernels read the layers' weights and skip their ``forward``: a layer swapped by
    the user (synflow drops batch norms) or a hook on one (Grad-CAM on an inner
    convolution) needs the layers run one by one.
    """
    layers = module.op
    if len(layers) != len(module.layer_types) or _global_module_hooks():
        return False
    return all(
        type(layer) is kind
        and not (layer._forward_hooks or layer._forward_pre_hooks or layer._backward_hooks or layer._backward_pre_hooks)
        for layer, kind in zip(layers, module.layer_types)
    )


def _global_module_hooks() -> bool:
    # hooks registered with nn.modules.module.register_module_forward_hook and its kin
    mod = torch.nn.modules.module
    kinds = ("forward_hooks", "forward_pre_hooks", "backward_hooks", "backward_pre_hooks")
    return any(getattr(mod, f"_global_{kind}", None) for kind in kinds)


def use_plain_layers(module: nn.Module) -> nn.Module:
    """Make every :class:`SepConv`/:class:`DilConv` in ``module`` run its layers one by one.

    Needed for double backward (``create_graph=True``: Hessian-vector products, gradient
    penalties): the lean kernels compute first derivatives only and raise if differentiated
    twice. Same function and gradients; more memory. Returns ``module``.
    """
    for m in module.modules():
        if isinstance(m, (SepConv, DilConv)):
            m.lean = False
    return module


def use_lean_kernels(module: nn.Module, on: bool = True) -> nn.Module:
    """Switch every :class:`SepConv`/:class:`DilConv` in ``module`` to the lean kernels (``on``) or the plain layers.

    The per-device default comes from :mod:`nas.device_defaults` (the trainer applies it);
    ``on=False`` is :func:`use_plain_layers`. Returns ``module``.
    """
    for m in module.modules():
        if isinstance(m, (SepConv, DilConv)):
            m.lean = bool(on)
    return module


def _bn_batch_stats(bn: nn.BatchNorm2d) -> bool:
    # nn.BatchNorm2d normalises with batch statistics in training or when it tracks none.
    return bn.training or not bn.track_running_stats


def _run(layers: nn.Sequential, x: torch.Tensor, start: int) -> torch.Tensor:
    # Run layers[start:] without building a new Sequential on every call.
    for i, layer in enumerate(layers):
        if i >= start:
            x = layer(x)
    return x


class ReLUConvBN(nn.Module):
    """ReLU, a bias-free convolution, batch norm (``op.0`` .. ``op.2`` as in both references)."""

    relu_first = True

    def __init__(
        self,
        C_in: int,
        C_out: int,
        kernel_size: int | tuple[int, int],
        stride: int = 1,
        padding: int | tuple[int, int] = 0,
        affine: bool = True,
        dilation: int = 1,
    ) -> None:
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_out, kernel_size, stride=stride, padding=padding, dilation=dilation, bias=False),
            nn.BatchNorm2d(C_out, affine=affine),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_relu(F.relu(x))

    def forward_relu(self, x: torch.Tensor) -> torch.Tensor:
        return _run(self.op, x, 1)


class DilConv(nn.Module):
    """ReLU, dilated depthwise ``k x k``, pointwise 1x1, batch norm (DARTS ``dil_conv``)."""

    relu_first = True
    lean = True  # the nas.kernels path (see use_plain_layers)
    layer_types = (nn.ReLU, nn.Conv2d, nn.Conv2d, nn.BatchNorm2d)  # what the kernels expect in self.op

    def __init__(
        self,
        C_in: int,
        C_out: int,
        kernel_size: int,
        stride: int,
        padding: int,
        dilation: int,
        affine: bool = True,
    ) -> None:
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(
                C_in, C_in, kernel_size, stride=stride, padding=padding, dilation=dilation, groups=C_in, bias=False
            ),
            nn.Conv2d(C_in, C_out, 1, bias=False),
            nn.BatchNorm2d(C_out, affine=affine),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_relu(F.relu(x))

    def forward_relu(self, x: torch.Tensor) -> torch.Tensor:
        if not _fused(self, x):
            return _run(self.op, x, 1)
        # The depthwise output is recomputed in backward instead of kept (nas.kernels.dw_pw).
        dw, pw, bn = self.op[1], self.op[2], self.op[3]
        return bn(dw_pw(x, dw.weight, pw.weight, dw.stride[0], dw.padding[0], dw.dilation[0]))


class SepConv(nn.Module):
    """Two stacked (ReLU, depthwise ``k x k``, pointwise 1x1, BN); only the first is strided.

    When autograd records, the kernels of :mod:`nas.kernels` compute the same function
    keeping two tensors for backward (the two pointwise outputs) instead of five: the
    depthwise outputs and the inner batch norm's output are recomputed going back.
    Otherwise the layers run one by one, the inner ReLU in place (batch norm's backward
    needs its input, not its output).
    """

    relu_first = True
    lean = True  # the nas.kernels path (see use_plain_layers)
    layer_types = (nn.ReLU, nn.Conv2d, nn.Conv2d, nn.BatchNorm2d) * 2  # what the kernels expect in self.op

    def __init__(
        self,
        C_in: int,
        C_out: int,
        kernel_size: int,
        stride: int,
        padding: int,
        affine: bool = True,
    ) -> None:
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_in, kernel_size, stride=stride, padding=padding, groups=C_in, bias=False),
            nn.Conv2d(C_in, C_in, 1, bias=False),
            nn.BatchNorm2d(C_in, affine=affine),
            nn.ReLU(inplace=True),
            nn.Conv2d(C_in, C_in, kernel_size, stride=1, padding=padding, groups=C_in, bias=False),
            nn.Conv2d(C_in, C_out, 1, bias=False),
            nn.BatchNorm2d(C_out, affine=affine),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_relu(F.relu(x))

    def forward_relu(self, x: torch.Tensor) -> torch.Tensor:
        if not _fused(self, x):
            return _run(self.op, x, 1)
        dw1, pw1, bn1, dw2, pw2, bn2 = (self.op[i] for i in (1, 2, 3, 5, 6, 7))
        u1 = dw_pw(x, dw1.weight, pw1.weight, dw1.stride[0], dw1.padding[0], 1)
        return bn2(bn_relu_dw_pw(u1, dw2.weight, pw2.weight, bn1, _bn_batch_stats(bn1), dw2.padding[0]))


class Conv7x1_1x7(nn.Module):
    """ReLU, a (1x7) then a (7x1) bias-free convolution, BN (DARTS ``conv_7x1_1x7``).

    The stride is split between the two convolutions as in the reference. With a width
    change, the first convolution maps ``C_in -> C_out`` (the references never change it).
    """

    relu_first = True

    def __init__(self, C_in: int, C_out: int, stride: int, affine: bool = True) -> None:
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_out, (1, 7), stride=(1, stride), padding=(0, 3), bias=False),
            nn.Conv2d(C_out, C_out, (7, 1), stride=(stride, 1), padding=(3, 0), bias=False),
            nn.BatchNorm2d(C_out, affine=affine),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_relu(F.relu(x))

    def forward_relu(self, x: torch.Tensor) -> torch.Tensor:
        return _run(self.op, x, 1)


def conv1x1_stride2(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """A 1x1 stride-2 convolution (no bias, no padding).

    Why not ``F.conv2d(x, weight, stride=2)`` always: with torch 2.14.1 on x86 CPUs, oneDNN's
    weight-gradient kernel for that convolution corrupts the heap ("double free or
    corruption") when the input is channels-last with fewer than 8 channels. Sampling every
    other pixel first, then a stride-1 1x1 convolution, is the same sum and avoids that kernel.
    """
    if x.shape[1] < 8 and x.device.type == "cpu":
        return F.conv2d(x[:, :, ::2, ::2], weight)
    return F.conv2d(x, weight, stride=2)


class FactorizedReduce(nn.Module):
    """ReLU, two 1x1 stride-2 convolutions (the second on the input shifted by one pixel), concat, BN.

    Halves the resolution without discarding every other pixel. Widths are
    ``C_out // 2`` and ``C_out - C_out // 2`` (equal for the even widths DARTS uses);
    an odd input size is zero-padded on the bottom/right for the shifted branch, as in
    NAS-Bench-201, so both halves have ``ceil(n / 2)`` pixels (DARTS fails there). With
    ``stride == 1`` it is a ReLU-conv1x1-BN width adapter (``conv``), as in NAS-Bench-201.
    """

    relu_first = True

    def __init__(self, C_in: int, C_out: int, stride: int = 2, affine: bool = True) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise NasError(f"FactorizedReduce stride: expected 1 or 2, got {stride!r}")
        self.stride = stride
        self.relu = nn.ReLU(inplace=False)
        if stride == 2:
            self.conv_1 = nn.Conv2d(C_in, C_out // 2, 1, stride=2, padding=0, bias=False)
            self.conv_2 = nn.Conv2d(C_in, C_out - C_out // 2, 1, stride=2, padding=0, bias=False)
        else:
            self.conv = nn.Conv2d(C_in, C_out, 1, bias=False)
        self.bn = nn.BatchNorm2d(C_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_relu(self.relu(x))

    def forward_relu(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            return self.bn(self.conv(x))
        h, w = x.shape[-2:]
        if self.training and h % 2 == 0 and w % 2 == 0:
            # Training: both branches as one 2x2 stride-2 convolution whose kernel is zero
            # except at (0, 0) for conv_1 and (1, 1) for conv_2. Same sums, without copying
            # the shifted input (and its zero-filled gradient) or concatenating the halves;
            # 4x the (small) multiply-adds, so eval, where FLOPs are counted, keeps the plain path.
            weight = torch.cat([F.pad(self.conv_1.weight, (0, 1, 0, 1)), F.pad(self.conv_2.weight, (1, 0, 1, 0))])
            return self.bn(F.conv2d(x, weight, stride=2))
        shifted = x[:, :, 1:, 1:]
        if h % 2 or w % 2:
            shifted = F.pad(shifted, (0, w % 2, 0, h % 2))
        halves = [conv1x1_stride2(x, self.conv_1.weight), conv1x1_stride2(shifted, self.conv_2.weight)]
        return self.bn(torch.cat(halves, dim=1))


class Zero(nn.Module):
    """The ``none`` operation: zeros of the output shape.

    Computed as ``x * 0`` (strided when ``stride > 1``) when the width is kept, as both
    references do, so gradients and devices follow the input.
    """

    def __init__(self, C_in: int, C_out: int, stride: int = 1) -> None:
        super().__init__()
        self.C_in, self.C_out, self.stride = C_in, C_out, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]
        if self.C_in == self.C_out:
            return x.mul(0.0)
        shape = list(x.shape)
        shape[1] = self.C_out
        return x.new_zeros(shape)

    def extra_repr(self) -> str:
        return f"C_in={self.C_in}, C_out={self.C_out}, stride={self.stride}"


class Pool(nn.Module):
    """A 3x3 pooling preceded by a 1x1 ReLUConvBN width adapter (NAS-Bench-201's ``POOLING``)."""

    def __init__(self, C_in: int, C_out: int, stride: int, mode: str, affine: bool = True) -> None:
        super().__init__()
        self.preprocess = ReLUConvBN(C_in, C_out, 1, 1, 0, affine)
        self.op = _pool(mode, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(self.preprocess(x))


def _pool(mode: str, stride: int) -> nn.Module:
    if mode == "avg":
        return nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)
    return nn.MaxPool2d(3, stride=stride, padding=1)


def _pooling(mode: str) -> OpFactory:
    def factory(C_in: int, C_out: int, stride: int, affine: bool) -> nn.Module:
        return _pool(mode, stride) if C_in == C_out else Pool(C_in, C_out, stride, mode, affine)

    return factory


def _skip(C_in: int, C_out: int, stride: int, affine: bool) -> nn.Module:
    if stride == 1 and C_in == C_out:
        return nn.Identity()
    return FactorizedReduce(C_in, C_out, stride, affine)


def _sep(k: int) -> OpFactory:
    return lambda C_in, C_out, stride, affine: SepConv(C_in, C_out, k, stride, k // 2, affine)


def _dil(k: int) -> OpFactory:
    return lambda C_in, C_out, stride, affine: DilConv(C_in, C_out, k, stride, k - 1, 2, affine)


def _nor(k: int) -> OpFactory:
    return lambda C_in, C_out, stride, affine: ReLUConvBN(C_in, C_out, k, stride, k // 2, affine)


#: Operation name -> constructor ``(C_in, C_out, stride, affine)``.
OPS: dict[str, OpFactory] = {
    "none": lambda C_in, C_out, stride, affine: Zero(C_in, C_out, stride),
    "avg_pool_3x3": _pooling("avg"),
    "max_pool_3x3": _pooling("max"),
    "skip_connect": _skip,
    "sep_conv_3x3": _sep(3),
    "sep_conv_5x5": _sep(5),
    "sep_conv_7x7": _sep(7),
    "dil_conv_3x3": _dil(3),
    "dil_conv_5x5": _dil(5),
    "conv_7x1_1x7": lambda C_in, C_out, stride, affine: Conv7x1_1x7(C_in, C_out, stride, affine),
    "nor_conv_1x1": _nor(1),
    "nor_conv_3x3": _nor(3),
}

assert set(DARTS_OPS) | set(NB201_OPS) <= set(OPS), "nas.ops.OPS must cover DARTS_OPS and NB201_OPS"


def make_op(name: str, C_in: int, C_out: int, stride: int = 1, affine: bool = True) -> nn.Module:
    """Build operation ``name``, raising :class:`NasError` for an unknown name or bad stride."""
    if name not in OPS:
        raise NasError(f"operation: unknown operation {name!r} (known: {', '.join(OPS)})")
    if stride not in (1, 2):
        raise NasError(f"stride: expected 1 or 2, got {stride!r}")
    return OPS[name](C_in, C_out, stride, affine)


#: Memory formats a network may be built in (``memory_format`` option).
MEMORY_FORMATS: dict[str, torch.memory_format] = {
    "channels_last": torch.channels_last,
    "contiguous": torch.contiguous_format,
}


def parse_memory_format(value: object) -> torch.memory_format:
    """The ``torch.memory_format`` named ``value``, raising :class:`NasError` for another name."""
    if not isinstance(value, str) or value not in MEMORY_FORMATS:
        raise NasError(f"memory_format: expected one of {', '.join(MEMORY_FORMATS)}, got {value!r}")
    return MEMORY_FORMATS[value]


def is_relu_first(module: nn.Module) -> bool:
    """Whether ``module`` starts with a ReLU of its input and offers ``forward_relu``."""
    return getattr(module, "relu_first", False)


def shareable_key(module: nn.Module) -> str | None:
    """A key equal for operations that compute the same parameter-free function, else ``None``.

    A cell applying two such operations (e.g. two stride-2 max-pools of one input, as
    DARTS_V2's reduction cell does) to the same state may compute the result once: the
    outputs are identical, and so is the gradient (both poolings are linear in it).
    """
    if type(module) not in (nn.MaxPool2d, nn.AvgPool2d):
        return None
    fields = ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "count_include_pad", "divisor_override")
    return type(module).__name__ + repr(tuple(getattr(module, f, None) for f in fields))


def drop_path(x: torch.Tensor, drop_prob: float, training: bool = True) -> torch.Tensor:
    """Zero whole samples with probability ``drop_prob`` and rescale the rest by ``1 / keep``.

    One out-of-place multiply by a per-sample mask (already divided by the keep
    probability), so it is safe for tensors autograd saved and works on any device.
    """
    if not training or drop_prob <= 0.0:
        return x
    return x * drop_mask(x, drop_prob)


def drop_mask(x: torch.Tensor, drop_prob: float) -> torch.Tensor:
    """The per-sample drop-path mask of ``x`` (shape ``[B, 1, ..., 1]``), already divided by the keep probability."""
    if not 0.0 <= drop_prob < 1.0:
        raise NasError(f"drop_path_prob: expected a probability in [0, 1), got {drop_prob}")
    keep = 1.0 - drop_prob
    mask = torch.empty((x.shape[0],) + (1,) * (x.dim() - 1), dtype=x.dtype, device=x.device)
    return mask.bernoulli_(keep).div_(keep)
