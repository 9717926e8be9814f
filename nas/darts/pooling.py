"""3x3 pooling kernels of the lean supernet: the DARTS and NAS-Bench-201 poolings, in less memory.

* :func:`avg_pool_3x3`: ``AvgPool2d(3, stride, 1, count_include_pad=False)`` as a
  depthwise convolution with a ones kernel times a precomputed ``1 / count`` map, so
  nothing but that map is kept for the backward pass;
* :func:`max_pool_3x3`: ``MaxPool2d(3, stride, 1)`` keeping its indices as
  ``int16``/``int32`` instead of ``int64``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from nas.kernels import channels_last

__all__ = ["avg_pool_3x3", "max_pool_3x3"]

_CL = torch.channels_last

_INV_COUNT: dict[tuple, torch.Tensor] = {}


def _inv_count(H: int, W: int, stride: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    key = (H, W, stride, dtype, device)
    inv = _INV_COUNT.get(key)
    if inv is None:
        ones = torch.ones(1, 1, H, W, dtype=dtype, device=device)
        count = F.conv2d(ones, torch.ones(1, 1, 3, 3, dtype=dtype, device=device), None, stride, 1)
        inv = count.reciprocal_()
        if len(_INV_COUNT) > 64:
            _INV_COUNT.clear()
        _INV_COUNT[key] = inv
    return inv


class _AvgPool3x3(torch.autograd.Function):
    """3x3 average pooling, padding 1, ``count_include_pad=False``, as a ones-kernel depthwise conv."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, stride: int) -> torch.Tensor:
        C, H, W = x.shape[1:]
        ones = x.new_ones(C, 1, 3, 3)
        inv = _inv_count(H, W, stride, x.dtype, x.device)
        out = F.conv2d(x, ones, None, stride, 1, 1, C).mul_(inv)
        ctx.conf = (stride, tuple(x.shape))
        ctx.save_for_backward(inv)
        return out

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        (inv,) = ctx.saved_tensors
        stride, shape = ctx.conf
        C, H = shape[1], shape[2]
        ones = g.new_ones(C, 1, 3, 3)
        gs = channels_last(g) * inv
        if stride == 1:
            return F.conv2d(gs, ones, None, 1, 1, 1, C), None
        pad_h = shape[2] + 2 - 3 - (g.shape[2] - 1) * stride
        pad_w = shape[3] + 2 - 3 - (g.shape[3] - 1) * stride
        del H
        return F.conv_transpose2d(gs, ones, None, stride, 1, (pad_h, pad_w), C), None


def avg_pool_3x3(x: torch.Tensor, stride: int = 1) -> torch.Tensor:
    """``AvgPool2d(3, stride, padding=1, count_include_pad=False)`` (the DARTS and NB201 pooling)."""
    return _AvgPool3x3.apply(x, stride)


class _MaxPool3x3(torch.autograd.Function):
    """3x3 max pooling, padding 1, keeping the argmax in the smallest integer type that holds it."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, stride: int) -> torch.Tensor:
        out, idx = torch.ops.aten.max_pool2d_with_indices(x, [3, 3], [stride, stride], [1, 1])
        H, W = x.shape[-2:]
        small = torch.int16 if H * W < 2**15 else torch.int32 if H * W < 2**31 else torch.int64
        ctx.save_for_backward(idx.to(small))
        ctx.conf = (stride, tuple(x.shape), x.dtype)
        return out

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        (idx,) = ctx.saved_tensors
        stride, shape, dtype = ctx.conf
        like = torch.empty(shape, dtype=g.dtype, device=g.device, memory_format=_CL)
        gx = torch.ops.aten.max_pool2d_with_indices_backward(
            channels_last(g), like, [3, 3], [stride, stride], [1, 1], [1, 1], False, idx.to(torch.int64)
        )
        return gx, None


def max_pool_3x3(x: torch.Tensor, stride: int = 1) -> torch.Tensor:
    """``MaxPool2d(3, stride, padding=1)`` with compact saved indices."""
    return _MaxPool3x3.apply(x, stride)
