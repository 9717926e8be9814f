"""``fisher``: the Fisher-information estimate of removing each output channel.

Theis et al. 2018 ("Faster gaze prediction with dense networks and Fisher pruning"),
Turner et al. 2020, as a NAS score by Abdelfattah et al. 2021 (SamsungLabs/zero-cost-nas,
NASLib ``measures/fisher.py``): for every conv/linear layer output ``a`` (network in
training mode, ``L`` the cross-entropy of the minibatch), per sample ``n`` and channel
``k``, ``g_nk = sum over positions of a * dL/da``; the channel's value is
``0.5 * mean_n g_nk^2``. The references broadcast it to every weight of the channel
before summing, so each channel counts ``fan_in = prod(weight.shape[1:])`` times; we
sum the same total.

Layer outputs are caught where the convolution or linear map runs (``F.conv2d`` and
``F.linear`` calls on a layer's own weight, through a TorchFunctionMode), so functional
calls count like module calls. ``FactorizedReduce`` fuses its two 1x1 convolutions into
one convolution on a derived weight in training; in the shared pass it takes its plain
path (the same sums, documented in :mod:`nas.ops`) so its two convolutions are seen, as
in the references' DARTS networks. The forward pass is shared with ``naswot``, ``snip``,
``grad_norm`` and ``jacov`` (:mod:`nas.proxies.passes`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from nas.proxies.context import ScoringContext
from nas.proxies.registry import register_proxy


class LayerOutputs(TorchFunctionMode):
    """While entered, hooks the gradient of every conv/linear output computed on one of ``weights``.

    A probe of the shared pass (:mod:`nas.proxies.passes`); :meth:`values` ends the recording.
    """

    def __init__(self, weights: list[torch.Tensor]) -> None:
        super().__init__()
        self._index = {id(w): i for i, w in enumerate(weights)}
        self._fisher: list[torch.Tensor | None] = [None] * len(weights)
        self._recording = True

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001 - torch's protocol
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if func is F.conv2d or func is F.linear:
            weight = args[1] if len(args) > 1 else kwargs.get("weight")
            index = self._index.get(id(weight))
            if index is not None and out.requires_grad:
                out.register_hook(self._hook(index, out.detach()))
        return out

    def _hook(self, index: int, act: torch.Tensor):  # noqa: ANN202
        def hook(grad: torch.Tensor) -> None:
            if not self._recording:
                return
            g = act * grad
            g_nk = g.sum(tuple(range(2, g.dim()))) if g.dim() > 2 else g
            delta = g_nk.pow(2).mean(0).mul(0.5)
            prev = self._fisher[index]
            self._fisher[index] = delta if prev is None else prev + delta

        return hook

    def values(self) -> list[torch.Tensor | None]:
        """Per-channel values per layer (``None``: the layer's output never got a gradient)."""
        self._recording = False  # later backward passes (jacov's) must not add to them
        return list(self._fisher)


@register_proxy(
    "fisher",
    summary="sum over channels of 0.5 * E[(activation . dL/dactivation)^2], weighted by fan-in",
    reference="Theis et al. 2018; Abdelfattah et al. 2021; SamsungLabs/zero-cost-nas, NASLib fisher.py",
    shares=("fisher",),
)
def fisher(ctx: ScoringContext) -> float:
    shared = ctx.train_pass("fisher")
    total = 0.0
    for layer, v in zip(shared.layers, shared.fisher):
        if v is not None:
            total += float(v.abs().sum()) * math.prod(layer.weight.shape[1:])
    return total
