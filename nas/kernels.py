"""Custom autograd kernels of the lean supernet: the same mathematics, less memory and time.

:class:`nas.darts.mixed_ops.MixedCell` computes its mixed edges with these functions.
Each is an exact replacement of a plain PyTorch composition (a test checks outputs and
gradients in float64 against the one-module-per-operation reference network):

* :func:`weighted_sum`: batch norm, the architecture weight and the node sum fused in
  one autograd function that keeps each term's input and recomputes its normalised
  value in the backward pass, instead of keeping three tensors per term;
* :func:`dw_pw`: the depthwise-then-pointwise convolutions of ``sep_conv``/``dil_conv``,
  keeping only the input (shared by the edge's ops) and recomputing the cheap depthwise
  output when going back; :func:`bn_relu_dw_pw`, the second half of ``sep_conv`` (BN,
  ReLU, depthwise, pointwise), likewise keeps only its input;
* depthwise-convolution gradients computed where oneDNN is fast: input gradients as a
  forward convolution with the flipped kernel, weight gradients of dilated kernels on
  the polyphase (space-to-batch) split, where they are plain 3x3 or 5x5 kernels, and
  of 5x5+ kernels as 3x3 blocks;
* :func:`BatchNormOut`: an affine-free batch norm that keeps its output, not its input;
* channels-last memory format throughout (oneDNN's fast layout on CPU).

The 3x3 pooling kernels are in :mod:`nas.darts.pooling`.
This module is longer than 500 lines because its kernels share private helpers (batch
statistics, running-statistics updates, the BN input gradient); split, those would
become public API.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from nas.errors import NasError

__all__ = [
    "BNTerm",
    "BatchNormOut",
    "bn_relu_dw_pw",
    "bn_stats",
    "channels_last",
    "dw_pw",
    "weighted_sum",
]

_CL = torch.channels_last
_DIMS = (0, 2, 3)
_conv_backward = torch.ops.aten.convolution_backward


def channels_last(x: torch.Tensor) -> torch.Tensor:
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


def _native_input_grad(
    go: torch.Tensor, x: torch.Tensor, w: torch.Tensor, stride: int, padding: int, dilation: int
) -> torch.Tensor:
    gx, _ = _native_grads(go, x, w, stride, padding, dilation, [True, False])
    assert gx is not None  # asked for
    return gx


def _native_weight_grad(
    go: torch.Tensor, x: torch.Tensor, w: torch.Tensor, stride: int, padding: int, dilation: int
) -> torch.Tensor:
    _, gw = _native_grads(go, x, w, stride, padding, dilation, [False, True])
    assert gw is not None  # asked for
    return gw


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
    return _native_input_grad(go, x, w, stride, padding, dilation)


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
            sub = channels_last(x[:, :, ::stride, ::stride])
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
                g = _native_weight_grad(go, xp[:, :, a : a + H + 2, b : b + W + 2], w3, 1, 0, 1)
                out[:, :, a : a + 3, b : b + 3] = g
        return out
    return _native_weight_grad(go, x, w, stride, padding, dilation)


def _pw_backward(
    gu: torch.Tensor, d: torch.Tensor, wp: torch.Tensor, need_in: bool, need_w: bool
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    return _native_grads(gu, d, wp, 1, 0, 1, [need_in, need_w], groups=1)


class _DwPw(torch.autograd.Function):
    """Depthwise ``k x k`` then pointwise 1x1 convolution, keeping only the input."""

    @staticmethod
    def forward(
        ctx: Any, x: torch.Tensor, wd: torch.Tensor, wp: torch.Tensor, stride: int, padding: int, dilation: int
    ) -> torch.Tensor:
        d = F.conv2d(x, wd, None, stride, padding, dilation, x.shape[1])
        u = F.conv2d(d, wp)
        ctx.save_for_backward(x, wd, wp)
        ctx.conf = (stride, padding, dilation)
        return u

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, gu: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, wd, wp = ctx.saved_tensors
        s, p, dl = ctx.conf
        need_x, need_wd, need_wp = ctx.needs_input_grad[:3]
        gu = channels_last(gu)
        d = F.conv2d(x, wd, None, s, p, dl, x.shape[1])
        gd, gwp = _pw_backward(gu, d, wp, need_x or need_wd, need_wp)
        del d
        gx = gwd = None
        if gd is not None:  # computed when x or wd needs a gradient
            gx = _dw_input_grad(gd, x, wd, s, p, dl) if need_x else None
            gwd = _dw_weight_grad(x, gd, wd, s, p, dl) if need_wd else None
        return gx, gwd, gwp, None, None, None


def dw_pw(
    x: torch.Tensor, wd: torch.Tensor, wp: torch.Tensor, stride: int, padding: int, dilation: int
) -> torch.Tensor:
    """Depthwise ``wd`` then pointwise ``wp`` convolution of ``x`` (see :class:`_DwPw`)."""
    return _DwPw.apply(x, wd, wp, stride, padding, dilation)


def _batch_stats(u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Per-channel mean and biased variance (two passes: robust to a large mean)."""
    n = u.numel() // u.shape[1]
    mean = u.sum(_DIMS) / n
    c = u - _vec(mean)
    var = c.mul_(c).sum(_DIMS) / n
    return mean, var, n


def _buffers(bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``bn``'s running mean, running variance and batch count (it tracks running statistics)."""
    mean, var, count = bn.running_mean, bn.running_var, bn.num_batches_tracked
    assert mean is not None and var is not None and count is not None  # track_running_stats=True
    return mean, var, count


def _running_stats(bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, 1/std) of ``bn``'s running statistics (evaluation mode)."""
    mean, var, _ = _buffers(bn)
    return mean, torch.rsqrt(var + bn.eps)


def bn_stats(u: torch.Tensor, bn: nn.BatchNorm2d, training: bool, update: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, 1/std) used to normalise ``u``; updates ``bn``'s running statistics once per batch."""
    if not training:
        return _running_stats(bn)
    mean, var, n = _batch_stats(u)
    if update and bn.track_running_stats and bn.running_mean is not None:
        _update_running(bn, mean, var, n)
    return mean, torch.rsqrt(var + bn.eps)


def _update_running(bn: nn.BatchNorm2d, mean: torch.Tensor, var: torch.Tensor, n: int) -> None:
    running_mean, running_var, count = _buffers(bn)
    with torch.no_grad():
        count.add_(1)
        m = bn.momentum if bn.momentum is not None else 1.0 / float(count)
        running_mean.mul_(1 - m).add_(mean, alpha=m)
        running_var.mul_(1 - m).add_(var * (n / max(n - 1, 1)), alpha=m)


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
    """The second half of ``sep_conv``: BN, ReLU, depthwise, pointwise; keeps its input only.

    ``gamma``/``beta`` are the batch norm's affine parameters (``None`` for the search
    network's affine-free BN); their gradients are computed like the input's.
    """

    @staticmethod
    def forward(
        ctx: Any,
        u: torch.Tensor,
        wd: torch.Tensor,
        wp: torch.Tensor,
        gamma: torch.Tensor | None,
        beta: torch.Tensor | None,
        bn: nn.BatchNorm2d,
        training: bool,
        padding: int,
    ) -> torch.Tensor:
        mean, istd = bn_stats(u, bn, training, True)
        scale, shift = _affine(mean, istd, gamma, beta)
        r = torch.addcmul(_vec(shift), u, _vec(scale)).relu_()
        d = F.conv2d(r, wd, None, 1, padding, 1, u.shape[1])
        del r
        out = F.conv2d(d, wp)
        ctx.save_for_backward(u, wd, wp, mean, istd, gamma, beta)
        ctx.conf = (training, padding)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, go: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        u, wd, wp, mean, istd, gamma, beta = ctx.saved_tensors
        training, p = ctx.conf
        need_u, need_wd, need_wp, need_gamma, need_beta = ctx.needs_input_grad[:5]
        go = channels_last(go)
        scale, shift = _affine(mean, istd, gamma, beta)
        r = torch.addcmul(_vec(shift), u, _vec(scale)).relu_()
        d = F.conv2d(r, wd, None, 1, p, 1, u.shape[1])
        need_gx = need_u or need_wd or need_gamma or need_beta
        gd, gwp = _pw_backward(go, d, wp, need_gx, need_wp)
        del d
        gwd = _dw_weight_grad(r, gd, wd, 1, p, 1) if need_wd and gd is not None else None
        gu = ggamma = gbeta = None
        if (need_u or need_gamma or need_beta) and gd is not None:
            gy = _dw_input_grad(gd, r, wd, 1, p, 1)
            gy.mul_(r > 0)  # the ReLU's gradient (r > 0 exactly where its input is)
            del r
            n = u.numel() // u.shape[1]
            sum_g = gy.sum(_DIMS)
            sum_gx = (u - _vec(mean)).mul_(gy).sum(_DIMS).mul_(istd)  # sum of gy * xhat
            ggamma = sum_gx if need_gamma else None
            gbeta = sum_g if need_beta else None
            if need_u:
                one = torch.ones_like(istd) if gamma is None else gamma
                if training:
                    gu = _bn_input_grad(gy, u, mean, istd, one, sum_g, sum_gx, n)
                else:
                    gu = _bn_input_grad(gy, u, mean, istd, one, None, None, n)
        return gu, gwd, gwp, ggamma, gbeta, None, None, None


def _affine(
    mean: torch.Tensor, istd: torch.Tensor, gamma: torch.Tensor | None, beta: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel ``(scale, shift)`` with ``bn(u) = scale * u + shift``."""
    scale = istd if gamma is None else gamma * istd
    shift = -mean * scale
    return scale, shift if beta is None else shift + beta


def bn_relu_dw_pw(
    u: torch.Tensor, wd: torch.Tensor, wp: torch.Tensor, bn: nn.BatchNorm2d, training: bool, padding: int
) -> torch.Tensor:
    """``pointwise(depthwise(relu(bn(u))))``, the second half of ``sep_conv`` (see :class:`_BnReluDwPw`).

    ``training``: normalise with batch statistics (and update ``bn``'s running ones).
    """
    gamma, beta = (bn.weight, bn.bias) if bn.affine else (None, None)
    return _BnReluDwPw.apply(u, wd, wp, gamma, beta, bn, training, padding)


class _BatchNormOut(torch.autograd.Function):
    """BatchNorm(affine=False) that keeps its *output* (= the normalised input) for backward.

    Its consumers keep that output alive anyway, so the input need not be kept.
    """

    @staticmethod
    def forward(ctx: Any, u: torch.Tensor, bn: nn.BatchNorm2d, training: bool) -> torch.Tensor:
        mean, istd = bn_stats(u, bn, training, True)
        y = torch.addcmul(_vec(-mean * istd), u, _vec(istd))
        ctx.save_for_backward(y, istd)
        ctx.training = training
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        y, istd = ctx.saved_tensors
        g = channels_last(g)
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
class BNTerm:
    """How one term of :func:`weighted_sum` is normalised.

    ``bn``: its affine-free batch norm; ``update``: whether this term updates the running
    statistics (a pooling BN shared by several edges is updated once, by its state);
    ``stats``: ``(mean, 1/std)`` when already known.
    """

    bn: nn.BatchNorm2d
    update: bool
    stats: tuple[torch.Tensor, torch.Tensor] | None = None


def _update_running_many(bns: list[nn.BatchNorm2d], means: torch.Tensor, var: torch.Tensor, n: int) -> None:
    """Running-statistics update of several BNs at once (rows of ``means``/``var``), as BatchNorm2d does."""
    groups: dict[float, list[int]] = {}  # momentum -> the BNs updated together
    for t, bn in enumerate(bns):
        if bn.momentum is None:  # cumulative average: its own factor
            _update_running(bn, means[t], var[t], n)
        else:
            groups.setdefault(float(bn.momentum), []).append(t)
    if not groups:
        return
    with torch.no_grad():
        unbiased = var * (n / max(n - 1, 1))
        for m, ts in groups.items():
            rm, rv, count = zip(*(_buffers(bns[t]) for t in ts))
            torch._foreach_mul_(list(rm), 1 - m)
            torch._foreach_add_(list(rm), [means[t] for t in ts], alpha=m)
            torch._foreach_mul_(list(rv), 1 - m)
            torch._foreach_add_(list(rv), [unbiased[t] for t in ts], alpha=m)
            torch._foreach_add_(list(count), 1)


def _term_stats(specs: list[BNTerm], us: Sequence[torch.Tensor], training: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-term ``(mean, 1/std)`` rows ``[T, C]``: precomputed (pooling), batch or running statistics.

    The batch statistics of all terms are computed together (one update of the running
    statistics per batch-norm group); every term uses the first term's ``eps``.
    """
    stats = {t: spec.stats for t, spec in enumerate(specs) if spec.stats is not None}
    todo = [t for t in range(len(specs)) if t not in stats]
    if todo and training:
        eps = specs[0].bn.eps
        n = us[0].numel() // us[0].shape[1]
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
            stats[t] = (mean[k], istd[k])
    else:
        for t in todo:
            stats[t] = _running_stats(specs[t].bn)
    rows = [stats[t] for t in range(len(specs))]
    return torch.stack([m for m, _ in rows]), torch.stack([i for _, i in rows])


class _WeightedSum(torch.autograd.Function):
    """``sum_t w[t] * BN_t(u_t) + sum_s w[T + s] * h_s``: batch norm, weighting and the node sum in one.

    Keeps each ``u_t`` (not the normalised copy), the per-channel statistics and the
    weights; the identity terms ``h_s`` are states kept alive anyway. The per-channel
    arithmetic of all terms is batched (``[T, C]`` tensors): only the passes over the
    data are per term.
    """

    @staticmethod
    def forward(ctx: Any, specs: list[BNTerm], training: bool, w: torch.Tensor, *tensors: torch.Tensor) -> torch.Tensor:
        nb = len(specs)
        us, hs = tensors[:nb], tensors[nb:]
        out = None
        M = istd_all = None
        if nb:
            M, istd_all = _term_stats(specs, us, training)
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
    @once_differentiable
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
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
        g = channels_last(g)
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
    specs: list[BNTerm],
    plain: Sequence[torch.Tensor],
    training: bool,
) -> torch.Tensor:
    """``sum_t w[t] * BN_t(bn_inputs[t]) + sum_s w[T+s] * plain[s]`` (see :class:`_WeightedSum`)."""
    return _WeightedSum.apply(specs, training, w, *bn_inputs, *plain)
