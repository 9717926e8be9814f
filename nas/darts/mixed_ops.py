"""Mixed operations that share work: the lean core of the DARTS and NAS-Bench-201 supernets.

A supernet node is ``n_i = sum_j sum_op w[e(i, j), op] * op(h_j)``. Computed the obvious
way (one module per operation and edge, as the reference ``MixedOp``) most of the time
and memory goes into repeated or needless work. :class:`MixedCell` computes *the same
function* (same parameters, same batch statistics, same gradients) with:

* no work for ``none`` (its output is zero: it only enters through the softmax);
* one ReLU per state, shared by every ReLU-first operation of every edge leaving it;
* one max- and one average-pooling per state (and stride), shared by every edge leaving
  it; the search network's ``BatchNorm(affine=False)`` after a pooling normalises with
  batch statistics, so its output is the same on every edge and is normalised once;
* batch norm, the architecture weight and the node sum fused in one autograd function
  (:class:`_WeightedSum`) that keeps each term's input and recomputes its normalised
  value in the backward pass, instead of keeping three tensors per term;
* the depthwise-then-pointwise convolutions of ``sep_conv``/``dil_conv`` as one autograd
  function that keeps only its input (shared by the edge's ops) and recomputes the
  cheap depthwise output when going back; the second half of ``sep_conv`` (BN, ReLU,
  depthwise, pointwise) likewise keeps only its input;
* depthwise-convolution gradients computed where oneDNN is fast: input gradients as a
  forward convolution with the flipped kernel, weight gradients of dilated kernels on
  the polyphase (space-to-batch) split, where they are plain 3x3 or 5x5 kernels, and
  of 5x5+ kernels as 3x3 blocks;
* 3x3 average pooling as a depthwise convolution with a ones kernel times a
  precomputed ``1 / count`` map (``count_include_pad=False``); max-pooling indices kept
  as ``int16``/``int32`` instead of ``int64``;
* channels-last memory format throughout (oneDNN's fast layout on CPU).

Partial channels (PC-DARTS): with ``partial_channels=K`` the mixed operations see the
first ``C // K`` channels of a state, the others bypass them (max-pooled 2x2 on strided
edges), and the node is channel-shuffled with ``K`` groups, as in PC-DARTS.

Parameters live in plain ``nn.Conv2d``/``nn.BatchNorm2d`` containers (so initialisation
matches the reference); :func:`nas.darts.supernet.reference_state_dict` documents the
mapping to the reference module layout.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from nas.errors import NasError
from nas.ops import OPS, conv1x1_stride2, is_relu_first

__all__ = ["MixedCell", "BatchNormOut", "channel_shuffle", "avg_pool_3x3", "max_pool_3x3", "op_kind"]

_CL = torch.channels_last
_DIMS = (0, 2, 3)
_conv_backward = torch.ops.aten.convolution_backward


def _cl(x: torch.Tensor) -> torch.Tensor:
    """``x`` in channels-last layout (no copy when it already is)."""
    return x.contiguous(memory_format=_CL)


def _vec(v: torch.Tensor) -> torch.Tensor:
    return v.view(1, -1, 1, 1)


# --------------------------------------------------------------------------- #
# Depthwise convolution gradients
# --------------------------------------------------------------------------- #


def _native_grads(
    go: torch.Tensor,
    x: torch.Tensor,
    w: torch.Tensor,
    stride: int,
    padding: int,
    dilation: int,
    mask: list[bool],
    groups: int | None = None,
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """oneDNN's convolution backward (depthwise unless ``groups`` is given)."""
    g = w.shape[0] if groups is None else groups
    gx, gw, _ = _conv_backward(
        go, x, w, None, [stride] * 2, [padding] * 2, [dilation] * 2, False, [0, 0], g, mask + [False]
    )
    return gx, gw


def _phase(x: torch.Tensor, d: int) -> torch.Tensor:
    """Space-to-batch: ``x[b, c, d*i+p, d*j+q] -> out[(p*d+q)*B + b, c, i, j]`` (channels last)."""
    B, C, H, W = x.shape
    x6 = x.view(B, C, H // d, d, W // d, d).permute(3, 5, 0, 2, 4, 1)
    return x6.reshape(d * d * B, H // d, W // d, C).permute(0, 3, 1, 2)


def _dw_input_grad(
    go: torch.Tensor, x: torch.Tensor, w: torch.Tensor, stride: int, padding: int, dilation: int
) -> torch.Tensor:
    k = w.shape[-1]
    if stride == 1 and 2 * padding == dilation * (k - 1):
        # A 'same' stride-1 convolution's input gradient is the convolution of the output
        # gradient with the flipped kernel: oneDNN's fast forward kernel, any dilation.
        return F.conv2d(go, w.flip(-1, -2), None, 1, padding, dilation, w.shape[0])
    if stride == dilation and padding % dilation == 0 and 2 * padding == dilation * (k - 1):
        # Strided dilated: only the (0, 0) phase of the input is read.
        B, C, H, W = x.shape
        sub = F.conv2d(go, w.flip(-1, -2), None, 1, padding // dilation, 1, C)
        gx = torch.zeros_like(x, memory_format=_CL)
        gx[:, :, ::stride, ::stride] = sub
        return gx
    return _native_grads(go, x, w, stride, padding, dilation, [True, False])[0]


def _dw_weight_grad(
    x: torch.Tensor, go: torch.Tensor, w: torch.Tensor, stride: int, padding: int, dilation: int
) -> torch.Tensor:
    k = w.shape[-1]
    H, W = x.shape[-2:]
    if dilation > 1 and padding % dilation == 0:
        if stride == 1 and H % dilation == 0 and W % dilation == 0 and 2 * padding == dilation * (k - 1):
            # Dilation d is an ordinary kernel on each of the d*d polyphase components.
            return _dw_weight_grad(_phase(x, dilation), _phase(go, dilation), w, 1, padding // dilation, 1)
        if stride == dilation and 2 * padding == dilation * (k - 1):
            sub = _cl(x[:, :, ::stride, ::stride])
            if sub.shape[-2:] == go.shape[-2:]:
                return _dw_weight_grad(sub, go, w, 1, padding // dilation, 1)
    if dilation == 1 and stride == 1 and k > 3 and 2 * padding == k - 1:
        # oneDNN's depthwise weight gradient is fast for 3x3 only: cover k x k by 3x3 blocks.
        xp = F.pad(x, (padding,) * 4)
        out = w.new_empty(w.shape)
        offsets = list(range(0, k - 3, 3)) + [k - 3]
        w3 = w.new_empty(w.shape[0], 1, 3, 3)
        for a in offsets:
            for b in offsets:
                g = _native_grads(go, xp[:, :, a : a + H + 2, b : b + W + 2], w3, 1, 0, 1, [False, True])[1]
                out[:, :, a : a + 3, b : b + 3] = g
        return out
    return _native_grads(go, x, w, stride, padding, dilation, [False, True])[1]


def _pw_backward(
    gu: torch.Tensor, d: torch.Tensor, wp: torch.Tensor, need_in: bool, need_w: bool
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    return _native_grads(gu, d, wp, 1, 0, 1, [need_in, need_w], groups=1)


class _DwPw(torch.autograd.Function):
    """Depthwise ``k x k`` then pointwise 1x1 convolution, keeping only the input."""

    @staticmethod
    def forward(ctx, x, wd, wp, stride: int, padding: int, dilation: int):  # type: ignore[override]
        d = F.conv2d(x, wd, None, stride, padding, dilation, x.shape[1])
        u = F.conv2d(d, wp)
        ctx.save_for_backward(x, wd, wp)
        ctx.conf = (stride, padding, dilation)
        return u

    @staticmethod
    def backward(ctx, gu):  # type: ignore[override]
        x, wd, wp = ctx.saved_tensors
        s, p, dl = ctx.conf
        need_x, need_wd, need_wp = ctx.needs_input_grad[:3]
        gu = _cl(gu)
        d = F.conv2d(x, wd, None, s, p, dl, x.shape[1])
        gd, gwp = _pw_backward(gu, d, wp, need_x or need_wd, need_wp)
        del d
        gx = _dw_input_grad(gd, x, wd, s, p, dl) if need_x else None
        gwd = _dw_weight_grad(x, gd, wd, s, p, dl) if need_wd else None
        return gx, gwd, gwp, None, None, None


def _batch_stats(u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Per-channel mean and biased variance (two passes: robust to a large mean)."""
    n = u.numel() // u.shape[1]
    mean = u.sum(_DIMS) / n
    c = u - _vec(mean)
    var = c.mul_(c).sum(_DIMS) / n
    return mean, var, n


def _bn_stats(u: torch.Tensor, bn: nn.BatchNorm2d, training: bool, update: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, 1/std) used to normalise ``u``; updates ``bn``'s running statistics once per batch."""
    if not training:
        return bn.running_mean, torch.rsqrt(bn.running_var + bn.eps)
    mean, var, n = _batch_stats(u)
    if update and bn.track_running_stats and bn.running_mean is not None:
        _update_running(bn, mean, var, n)
    return mean, torch.rsqrt(var + bn.eps)


def _update_running(bn: nn.BatchNorm2d, mean: torch.Tensor, var: torch.Tensor, n: int) -> None:
    with torch.no_grad():
        bn.num_batches_tracked.add_(1)
        m = bn.momentum if bn.momentum is not None else 1.0 / float(bn.num_batches_tracked)
        bn.running_mean.mul_(1 - m).add_(mean, alpha=m)
        bn.running_var.mul_(1 - m).add_(var * (n / max(n - 1, 1)), alpha=m)


def _bn_input_grad(
    g: torch.Tensor,
    u: torch.Tensor,
    mean: torch.Tensor,
    istd: torch.Tensor,
    scale: torch.Tensor,
    sum_g: torch.Tensor | None,
    sum_gx: torch.Tensor | None,
    n: int,
) -> torch.Tensor:
    """Gradient w.r.t. ``u`` of ``scale * (u - mean) * istd`` (batch statistics when sums are given).

    With batch statistics: ``a * (g - mean(g) - xhat * mean(g * xhat))`` with ``a = scale *
    istd``, written as ``a * g + b * u + c`` (two passes over the data).
    """
    a = scale * istd
    if sum_g is None or sum_gx is None:
        return g * _vec(a)
    b = -a * istd * sum_gx / n
    c = -a * sum_g / n - b * mean
    return torch.addcmul(_vec(c), g, _vec(a)).addcmul_(u, _vec(b))


class _BnReluDwPw(torch.autograd.Function):
    """The second half of ``sep_conv``: BN(affine=False), ReLU, depthwise, pointwise; keeps its input only."""

    @staticmethod
    def forward(ctx, u, wd, wp, bn: nn.BatchNorm2d, training: bool, padding: int):  # type: ignore[override]
        mean, istd = _bn_stats(u, bn, training, True)
        r = torch.addcmul(_vec(-mean * istd), u, _vec(istd)).relu_()
        d = F.conv2d(r, wd, None, 1, padding, 1, u.shape[1])
        del r
        out = F.conv2d(d, wp)
        ctx.save_for_backward(u, wd, wp, mean, istd)
        ctx.conf = (training, padding)
        return out

    @staticmethod
    def backward(ctx, go):  # type: ignore[override]
        u, wd, wp, mean, istd = ctx.saved_tensors
        training, p = ctx.conf
        need_u, need_wd, need_wp = ctx.needs_input_grad[:3]
        go = _cl(go)
        xhat = torch.addcmul(_vec(-mean * istd), u, _vec(istd))
        r = torch.relu(xhat)
        d = F.conv2d(r, wd, None, 1, p, 1, u.shape[1])
        gd, gwp = _pw_backward(go, d, wp, need_u or need_wd, need_wp)
        del d
        gwd = _dw_weight_grad(r, gd, wd, 1, p, 1) if need_wd else None
        gu = None
        if need_u:
            gx = _dw_input_grad(gd, r, wd, 1, p, 1)
            gx.mul_(xhat > 0)
            n = u.numel() // u.shape[1]
            one = torch.ones_like(istd)
            if training:
                sum_g = gx.sum(_DIMS)
                sum_gx = (gx * xhat).sum(_DIMS)
                gu = _bn_input_grad(gx, u, mean, istd, one, sum_g, sum_gx, n)
            else:
                gu = _bn_input_grad(gx, u, mean, istd, one, None, None, n)
        return gu, gwd, gwp, None, None, None


class _BatchNormOut(torch.autograd.Function):
    """BatchNorm(affine=False) that keeps its *output* (= the normalised input) for backward.

    Its consumers keep that output alive anyway, so the input need not be kept.
    """

    @staticmethod
    def forward(ctx, u, bn: nn.BatchNorm2d, training: bool):  # type: ignore[override]
        mean, istd = _bn_stats(u, bn, training, True)
        y = torch.addcmul(_vec(-mean * istd), u, _vec(istd))
        ctx.save_for_backward(y, istd)
        ctx.training = training
        return y

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        y, istd = ctx.saved_tensors
        g = _cl(g)
        if not ctx.training:
            return g * _vec(istd), None, None
        n = y.numel() // y.shape[1]
        sum_g = g.sum(_DIMS)
        sum_gy = (g * y).sum(_DIMS)
        gu = torch.addcmul(_vec(-istd * sum_g / n), y, _vec(-istd * sum_gy / n)).addcmul_(g, _vec(istd))
        return gu, None, None


def BatchNormOut(u: torch.Tensor, bn: nn.BatchNorm2d) -> torch.Tensor:  # noqa: N802 - reads like a layer
    """Apply the affine-free batch norm ``bn`` to ``u`` (mode from ``bn.training``), keeping only the output."""
    if bn.affine:
        raise NasError("BatchNormOut: expected a BatchNorm2d with affine=False")
    return _BatchNormOut.apply(u, bn, bn.training or not bn.track_running_stats)


@dataclass
class _BNTerm:
    bn: nn.BatchNorm2d
    update: bool
    stats: tuple[torch.Tensor, torch.Tensor] | None = None


def _update_running_many(bns: list[nn.BatchNorm2d], means: torch.Tensor, var: torch.Tensor, n: int) -> None:
    """Running-statistics update of several BNs at once (rows of ``means``/``var``), as BatchNorm2d does."""
    plain = [t for t, bn in enumerate(bns) if bn.momentum is not None]
    for t, bn in enumerate(bns):
        if bn.momentum is None:
            _update_running(bn, means[t], var[t], n)
    if not plain:
        return
    with torch.no_grad():
        groups: dict[float, list[int]] = {}
        for t in plain:
            groups.setdefault(float(bns[t].momentum), []).append(t)
        unbiased = var * (n / max(n - 1, 1))
        for m, ts in groups.items():
            rm = [bns[t].running_mean for t in ts]
            rv = [bns[t].running_var for t in ts]
            torch._foreach_mul_(rm, 1 - m)
            torch._foreach_add_(rm, [means[t] for t in ts], alpha=m)
            torch._foreach_mul_(rv, 1 - m)
            torch._foreach_add_(rv, [unbiased[t] for t in ts], alpha=m)
            torch._foreach_add_([bns[t].num_batches_tracked for t in ts], 1)


class _WeightedSum(torch.autograd.Function):
    """``sum_t w[t] * BN_t(u_t) + sum_s w[T + s] * h_s``: batch norm, weighting and the node sum in one.

    Keeps each ``u_t`` (not the normalised copy), the per-channel statistics and the
    weights; the identity terms ``h_s`` are states kept alive anyway. The per-channel
    arithmetic of all terms is batched (``[T, C]`` tensors): only the passes over the
    data are per term.
    """

    @staticmethod
    def forward(ctx, specs: list[_BNTerm], training: bool, w, *tensors):  # type: ignore[override]
        nb = len(specs)
        us, hs = tensors[:nb], tensors[nb:]
        out = None
        M = istd_all = None
        if nb:
            eps = specs[0].bn.eps
            n = us[0].numel() // us[0].shape[1]
            todo = [t for t in range(nb) if specs[t].stats is None]
            rows_m: list[torch.Tensor | None] = [None] * nb
            rows_i: list[torch.Tensor | None] = [None] * nb
            for t in range(nb):
                if specs[t].stats is not None:
                    rows_m[t], rows_i[t] = specs[t].stats
            if todo and training:
                mean = torch.stack([us[t].sum(_DIMS) for t in todo]).div_(n)
                sq = []
                for k, t in enumerate(todo):
                    c = us[t] - _vec(mean[k])
                    sq.append(c.mul_(c).sum(_DIMS))
                var = torch.stack(sq).div_(n)
                upd = [k for k, t in enumerate(todo) if specs[t].update and specs[t].bn.track_running_stats]
                if upd:
                    _update_running_many([specs[todo[k]].bn for k in upd], mean[upd], var[upd], n)
                istd = var.add_(eps).rsqrt_()
                for k, t in enumerate(todo):
                    rows_m[t], rows_i[t] = mean[k], istd[k]
            elif todo:
                for t in todo:
                    bn = specs[t].bn
                    rows_m[t], rows_i[t] = bn.running_mean, torch.rsqrt(bn.running_var + bn.eps)
            M = torch.stack(rows_m)  # type: ignore[arg-type]
            istd_all = torch.stack(rows_i)  # type: ignore[arg-type]
            scale = istd_all * w[:nb, None]
            bias = (M * scale).sum(0).neg_()
            out = us[0] * _vec(scale[0])
            for t in range(1, nb):
                out.addcmul_(us[t], _vec(scale[t]))
        for s, h in enumerate(hs):
            out = h * w[nb + s] if out is None else out.addcmul_(h, w[nb + s])
        if out is None:
            raise NasError("mixed operation: a node has no operation to sum (only 'none'?)")
        if nb:
            out.add_(_vec(bias))
            ctx.save_for_backward(w, M, istd_all, *tensors)
        else:
            ctx.save_for_backward(w, *tensors)
        ctx.nb = nb
        ctx.training = training
        return out

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        nb = ctx.nb
        saved = ctx.saved_tensors
        w = saved[0]
        if nb:
            M, Is = saved[1], saved[2]
            tensors = saved[3:]
        else:
            tensors = saved[1:]
        us, hs = tensors[:nb], tensors[nb:]
        need = ctx.needs_input_grad[3:]
        g = _cl(g)
        grads: list[torch.Tensor | None] = []
        parts = []
        if nb:
            n = us[0].numel() // us[0].shape[1]
            sum_g = g.sum(_DIMS)
            S = torch.stack([(g * u).sum(_DIMS) for u in us])
            sum_gx = Is * (S - M * sum_g)  # sum of g * xhat, per term and channel
            parts.append(sum_gx.sum(1))
            a = Is * w[:nb, None]
            if ctx.training:
                b = -a * Is * sum_gx / n
                c = -a * sum_g / n - b * M
                for t, u in enumerate(us):
                    grads.append(torch.addcmul(_vec(c[t]), g, _vec(a[t])).addcmul_(u, _vec(b[t])) if need[t] else None)
            else:
                for t in range(nb):
                    grads.append(g * _vec(a[t]) if need[t] else None)
        if hs:
            parts.append(torch.stack([(g * h).sum() for h in hs]))
            for s in range(len(hs)):
                grads.append(g * w[nb + s] if need[nb + s] else None)
        gw = torch.cat(parts) if ctx.needs_input_grad[2] else None
        return (None, None, gw, *grads)


def weighted_sum(
    w: torch.Tensor,
    bn_inputs: Sequence[torch.Tensor],
    specs: list[_BNTerm],
    plain: Sequence[torch.Tensor],
    training: bool,
) -> torch.Tensor:
    """``sum_t w[t] * BN_t(bn_inputs[t]) + sum_s w[T+s] * plain[s]`` (see :class:`_WeightedSum`)."""
    return _WeightedSum.apply(specs, training, w, *bn_inputs, *plain)


# --------------------------------------------------------------------------- #
# Pooling
# --------------------------------------------------------------------------- #

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
    def forward(ctx, x, stride: int):  # type: ignore[override]
        C, H, W = x.shape[1:]
        ones = x.new_ones(C, 1, 3, 3)
        inv = _inv_count(H, W, stride, x.dtype, x.device)
        out = F.conv2d(x, ones, None, stride, 1, 1, C).mul_(inv)
        ctx.conf = (stride, tuple(x.shape))
        ctx.save_for_backward(inv)
        return out

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        (inv,) = ctx.saved_tensors
        stride, shape = ctx.conf
        C, H = shape[1], shape[2]
        ones = g.new_ones(C, 1, 3, 3)
        gs = _cl(g) * inv
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
    def forward(ctx, x, stride: int):  # type: ignore[override]
        out, idx = torch.ops.aten.max_pool2d_with_indices(x, [3, 3], [stride, stride], [1, 1])
        H, W = x.shape[-2:]
        small = torch.int16 if H * W < 2**15 else torch.int32 if H * W < 2**31 else torch.int64
        ctx.save_for_backward(idx.to(small))
        ctx.conf = (stride, tuple(x.shape), x.dtype)
        return out

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        (idx,) = ctx.saved_tensors
        stride, shape, dtype = ctx.conf
        like = torch.empty(shape, dtype=g.dtype, device=g.device, memory_format=_CL)
        gx = torch.ops.aten.max_pool2d_with_indices_backward(
            _cl(g), like, [3, 3], [stride, stride], [1, 1], [1, 1], False, idx.to(torch.int64)
        )
        return gx, None


def max_pool_3x3(x: torch.Tensor, stride: int = 1) -> torch.Tensor:
    """``MaxPool2d(3, stride, padding=1)`` with compact saved indices."""
    return _MaxPool3x3.apply(x, stride)


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """PC-DARTS channel shuffle: channel ``g * (C // groups) + a`` moves to ``a * groups + g``."""
    B, C, H, W = x.shape
    return _cl(x.view(B, groups, C // groups, H, W).transpose(1, 2).reshape(B, C, H, W))


# --------------------------------------------------------------------------- #
# Parameter containers (one per operation and edge)
# --------------------------------------------------------------------------- #


def _bn(C: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(C, affine=False)


class SepConvParams(nn.Module):
    """Parameters of a ``sep_conv_kxk`` edge operation (BN buffers included)."""

    def __init__(self, C: int, k: int) -> None:
        super().__init__()
        self.k = k
        self.dw1 = nn.Conv2d(C, C, k, padding=k // 2, groups=C, bias=False)
        self.pw1 = nn.Conv2d(C, C, 1, bias=False)
        self.bn1 = _bn(C)
        self.dw2 = nn.Conv2d(C, C, k, padding=k // 2, groups=C, bias=False)
        self.pw2 = nn.Conv2d(C, C, 1, bias=False)
        self.bn2 = _bn(C)


class DilConvParams(nn.Module):
    """Parameters of a ``dil_conv_kxk`` edge operation (dilation 2)."""

    def __init__(self, C: int, k: int) -> None:
        super().__init__()
        self.k = k
        self.dw = nn.Conv2d(C, C, k, padding=k - 1, dilation=2, groups=C, bias=False)
        self.pw = nn.Conv2d(C, C, 1, bias=False)
        self.bn = _bn(C)


class ConvParams(nn.Module):
    """Parameters of a NAS-Bench-201 ``nor_conv_kxk`` (ReLU, conv, BN) edge operation."""

    def __init__(self, C: int, k: int) -> None:
        super().__init__()
        self.k = k
        self.conv = nn.Conv2d(C, C, k, padding=k // 2, bias=False)
        self.bn = _bn(C)


class FactorizedReduceParams(nn.Module):
    """Parameters of a stride-2 ``skip_connect`` (ReLU, two shifted 1x1 stride-2 convs, concat, BN)."""

    def __init__(self, C_in: int, C_out: int) -> None:
        super().__init__()
        self.conv_1 = nn.Conv2d(C_in, C_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(C_in, C_out - C_out // 2, 1, stride=2, bias=False)
        self.bn = _bn(C_out)


def factorized_reduce_convs(relus: Sequence[torch.Tensor], conv_1: torch.Tensor, conv_2: torch.Tensor) -> torch.Tensor:
    """The pre-BN output of FactorizedReduce on the concatenation of ``relus`` (already activated).

    ``relus`` are the channel chunks of the input; the 1x1 weights are split to match, so
    the concatenation is never built.
    """
    h, w = relus[0].shape[-2:]
    a = b = None
    offset = 0
    for r in relus:
        c = r.shape[1]
        shifted = r[:, :, 1:, 1:]
        if h % 2 or w % 2:
            shifted = F.pad(shifted, (0, w % 2, 0, h % 2))
        ya = conv1x1_stride2(r, conv_1[:, offset : offset + c])
        yb = conv1x1_stride2(shifted, conv_2[:, offset : offset + c])
        a = ya if a is None else a + ya
        b = yb if b is None else b + yb
        offset += c
    return _cl(torch.cat([a, b], dim=1))


def conv1x1_chunks(relus: Sequence[torch.Tensor], weight: torch.Tensor) -> torch.Tensor:
    """A 1x1 convolution of the concatenation of ``relus``, without building it."""
    out = None
    offset = 0
    for r in relus:
        c = r.shape[1]
        y = F.conv2d(r, weight[:, offset : offset + c])
        out = y if out is None else out + y
        offset += c
    assert out is not None
    return out


# --------------------------------------------------------------------------- #
# The mixed cell
# --------------------------------------------------------------------------- #

_SIZE = re.compile(r"^(sep_conv|dil_conv|nor_conv)_(\d+)x(\d+)$")


def op_kind(name: str) -> tuple[str, int]:
    """``(kind, kernel)`` of an operation name: how :class:`MixedCell` computes it."""
    if name == "none":
        return "none", 0
    if name == "skip_connect":
        return "skip", 0
    if name == "max_pool_3x3":
        return "max", 3
    if name == "avg_pool_3x3":
        return "avg", 3
    m = _SIZE.match(name)
    if m and m.group(2) == m.group(3) and int(m.group(2)) % 2 == 1:
        return {"sep_conv": "sep", "dil_conv": "dil", "nor_conv": "nor"}[m.group(1)], int(m.group(2))
    if name in OPS:
        return "generic", 0
    raise NasError(f"ops: unknown operation {name!r} (known: {', '.join(OPS)})")


_INDEX: dict[tuple, torch.Tensor] = {}


def _index(flat: list[int], device: torch.device) -> torch.Tensor:
    """A cached index tensor (the plans are static, so these are built once)."""
    key = (tuple(flat), device)
    idx = _INDEX.get(key)
    if idx is None:
        idx = _INDEX[key] = torch.tensor(flat, device=device)
    return idx


@dataclass
class _Shared:
    """Per-state work shared by every edge leaving the state."""

    h: torch.Tensor  # the (partial) state the mixed operations read
    relu: torch.Tensor | None = None
    pooled: dict[str, torch.Tensor] = field(default_factory=dict)
    stats: dict[str, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)
    bypass: torch.Tensor | None = None  # PC-DARTS: the channels that skip the mixed operations


class MixedCell(nn.Module):
    """The DAG of mixed edges of a DARTS or NAS-Bench-201 search cell.

    ``num_inputs`` input states; ``steps`` nodes, node ``i`` summing one mixed edge from
    every earlier state (inputs first). Edges are numbered node by node, input by input:
    the DARTS order (14 edges for 2 inputs and 4 steps) and NAS-Bench-201's (6 edges
    for 1 input and 3 steps). With ``reduction`` the edges reading the inputs have stride 2.
    ``pool_bn`` adds the search network's BatchNorm(affine=False) after pooling (DARTS);
    NAS-Bench-201's search cell has none.
    """

    def __init__(
        self,
        C: int,
        num_inputs: int,
        steps: int,
        ops: Sequence[str],
        reduction: bool = False,
        pool_bn: bool = True,
        partial_channels: int = 1,
    ) -> None:
        super().__init__()
        if partial_channels < 1 or C % partial_channels:
            raise NasError(f"partial_channels: expected a divisor of the cell width {C}, got {partial_channels}")
        self.C = C
        self.num_inputs = num_inputs
        self.steps = steps
        self.ops = tuple(ops)
        self.reduction = reduction
        self.pool_bn = pool_bn
        self.k = partial_channels
        Cp = C // partial_channels
        self.kinds = [op_kind(name) for name in self.ops]
        self.edges = nn.ModuleList()
        self.edge_inputs: list[int] = []
        for i in range(steps):
            for j in range(num_inputs + i):
                stride = self.stride(j)
                mods = nn.ModuleDict()
                for name, (kind, k) in zip(self.ops, self.kinds):
                    if kind == "sep":
                        mods[name] = SepConvParams(Cp, k)
                    elif kind == "dil":
                        mods[name] = DilConvParams(Cp, k)
                    elif kind == "nor":
                        mods[name] = ConvParams(Cp, k)
                    elif kind == "skip" and stride == 2:
                        mods[name] = FactorizedReduceParams(Cp, Cp)
                    elif kind == "generic":
                        mods[name] = OPS[name](Cp, Cp, stride, False)
                self.edges.append(mods)
                self.edge_inputs.append(j)
        # One pooling BN per state and pooling kind (all edges leaving a state share its stride).
        self.pool_bns = nn.ModuleList()
        if pool_bn:
            for _ in range(num_inputs + steps - 1):
                self.pool_bns.append(
                    nn.ModuleDict(
                        {name: _bn(Cp) for name, (kind, _k) in zip(self.ops, self.kinds) if kind in ("max", "avg")}
                    )
                )
        self._plan_cache: list | None = None
        self.needs_relu = any(kind in ("sep", "dil", "nor", "generic") for kind, _ in self.kinds) or (
            reduction and any(kind == "skip" for kind, _ in self.kinds)
        )

    @property
    def num_edges(self) -> int:
        return len(self.edges)

    def stride(self, j: int) -> int:
        return 2 if self.reduction and j < self.num_inputs else 1

    def _share(self, j: int, state: torch.Tensor, relu: torch.Tensor | None) -> _Shared:
        """Everything about state ``j`` that several edges use."""
        stride = self.stride(j)
        Cp = self.C // self.k
        if self.k > 1:
            h = _cl(state[:, :Cp])
            rest = state[:, Cp:]
            bypass = _cl(F.max_pool2d(rest, 2, 2)) if stride == 2 else rest
            relu = None
        else:
            h, bypass = state, None
        sh = _Shared(h=h, bypass=bypass)
        if self.needs_relu:
            sh.relu = relu if relu is not None else torch.relu(h)
        training = self.training
        for name, (kind, _k) in zip(self.ops, self.kinds):
            if kind == "max":
                sh.pooled[name] = max_pool_3x3(h, stride)
            elif kind == "avg":
                sh.pooled[name] = avg_pool_3x3(h, stride)
            else:
                continue
            if self.pool_bn:
                bn = self.pool_bns[j][name]
                with torch.no_grad():
                    sh.stats[name] = _bn_stats(sh.pooled[name], bn, training or not bn.track_running_stats, True)
        return sh

    def _plan(
        self,
    ) -> list[tuple[list[tuple[int, int, str, str, int]], list[tuple[int, int, str, str, int]], list[int]]]:
        """Per node: its batch-norm terms, its plain terms (``(j, edge, op, kind, kernel)``), weight indices."""
        plan = []
        offset = 0
        n_ops = len(self.ops)
        for i in range(self.steps):
            bn_terms, plain_terms = [], []
            for j in range(self.num_inputs + i):
                e = offset + j
                for k, (name, (kind, ksize)) in enumerate(zip(self.ops, self.kinds)):
                    term = (j, e * n_ops + k, name, kind, ksize)
                    if kind == "none":
                        continue
                    plain = kind == "generic" or (kind == "skip" and self.stride(j) == 1)
                    if plain or (kind in ("max", "avg") and not self.pool_bn):
                        plain_terms.append(term)
                    else:
                        bn_terms.append(term)
            flat = [t[1] for t in bn_terms] + [t[1] for t in plain_terms]
            plan.append((bn_terms, plain_terms, flat))
            offset += self.num_inputs + i
        return plan

    def _bn_term(self, sh: _Shared, j: int, e: int, name: str, kind: str, ksize: int) -> tuple[torch.Tensor, _BNTerm]:
        """The pre-BN tensor of operation ``name`` on edge ``e`` (reading state ``j``) and its BN."""
        stride = self.stride(j)
        if kind in ("max", "avg"):
            return sh.pooled[name], _BNTerm(self.pool_bns[j][name], False, sh.stats[name])
        p = self.edges[e][name]
        if kind == "skip":
            return factorized_reduce_convs([sh.relu], p.conv_1.weight, p.conv_2.weight), _BNTerm(p.bn, True)
        if kind == "sep":
            pad = ksize // 2
            u1 = _DwPw.apply(sh.relu, p.dw1.weight, p.pw1.weight, stride, pad, 1)
            return _BnReluDwPw.apply(u1, p.dw2.weight, p.pw2.weight, p.bn1, self.training, pad), _BNTerm(p.bn2, True)
        if kind == "dil":
            return _DwPw.apply(sh.relu, p.dw.weight, p.pw.weight, stride, ksize - 1, 2), _BNTerm(p.bn, True)
        # nor_conv: ReLU, conv, BN
        return F.conv2d(sh.relu, p.conv.weight, None, stride, ksize // 2), _BNTerm(p.bn, True)

    def forward(
        self,
        states: Sequence[torch.Tensor],
        weights: torch.Tensor,
        edge_weights: torch.Tensor | None = None,
        relus: Sequence[torch.Tensor | None] | None = None,
    ) -> tuple[list[torch.Tensor], list[torch.Tensor | None]]:
        """Compute the nodes from the input ``states``.

        ``weights``: ``[num_edges, len(ops)]`` operation weights; ``edge_weights``: optional
        ``[num_edges]`` edge scales (PC-DARTS edge normalisation); ``relus``: optional
        already-activated inputs. Returns all states (inputs then nodes) and, where it
        was computed, the ReLU of each (for reuse by the next cells).
        """
        if weights.shape != (self.num_edges, len(self.ops)):
            raise NasError(f"weights: expected shape {(self.num_edges, len(self.ops))}, got {tuple(weights.shape)}")
        if self._plan_cache is None:
            self._plan_cache = self._plan()
        training = self.training
        all_states = [_cl(s) for s in states]
        relus_in = list(relus) if relus is not None else [None] * len(all_states)
        shared = [self._share(j, s, relus_in[j]) for j, s in enumerate(all_states)]
        w_all = (weights if edge_weights is None else weights * edge_weights[:, None]).reshape(-1)
        out_relus: list[torch.Tensor | None] = [sh.relu if self.k == 1 else None for sh in shared]
        offset = 0
        for i, (bn_terms, plain_terms, flat) in enumerate(self._plan_cache):
            n_in = self.num_inputs + i
            bn_inputs: list[torch.Tensor] = []
            specs: list[_BNTerm] = []
            for j, f, name, kind, ksize in bn_terms:
                u, spec = self._bn_term(shared[j], j, f // len(self.ops), name, kind, ksize)
                bn_inputs.append(u)
                specs.append(spec)
            plain: list[torch.Tensor] = []
            for j, f, name, kind, _ksize in plain_terms:
                sh = shared[j]
                if kind == "skip":
                    plain.append(sh.h)
                elif kind in ("max", "avg"):
                    plain.append(sh.pooled[name])
                else:  # generic: the nas.ops module as is
                    op = self.edges[f // len(self.ops)][name]
                    plain.append(_cl(op.forward_relu(sh.relu) if is_relu_first(op) else op(sh.h)))
            w = w_all[_index(flat, weights.device)]
            node = weighted_sum(w, bn_inputs, specs, plain, training)
            if self.k > 1:
                node = self._bypass_and_shuffle(node, shared, offset, n_in, edge_weights)
            offset += n_in
            all_states.append(node)
            out_relus.append(None)
            if i < self.steps - 1:
                shared.append(self._share(n_in, node, None))
                if self.k == 1:
                    out_relus[-1] = shared[-1].relu
        return all_states, out_relus

    def _bypass_and_shuffle(
        self,
        node: torch.Tensor,
        shared: list[_Shared],
        offset: int,
        n_in: int,
        edge_weights: torch.Tensor | None,
    ) -> torch.Tensor:
        rest = None
        for j in range(n_in):
            b = shared[j].bypass
            assert b is not None
            term = b if edge_weights is None else b * edge_weights[offset + j]
            rest = term if rest is None else rest + term
        assert rest is not None
        return channel_shuffle(torch.cat([node, rest], dim=1), self.k)
