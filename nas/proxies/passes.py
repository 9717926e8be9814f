"""The training-mode pass several scores share: one forward, then the backward passes they need.

``naswot`` (ReLU codes of the forward), ``snip`` and ``grad_norm`` (weight gradients of the
cross-entropy), ``fisher`` (layer outputs times their cross-entropy gradients) and
``jacov`` (gradient of the summed logits w.r.t. the input) all look at the same thing: the
network in training mode on the minibatch. Scored together they share one forward pass
and its backward passes, instead of one forward and backward each (3x faster for the
five). The pass is always run the same way (gradients enabled, every conv/linear weight
requiring a gradient, ``FactorizedReduce`` on its plain path, see :mod:`nas.proxies.fisher`)
whatever is asked of it, so a score's value does not depend on the others asked with it;
only the recording differs.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from nas.ops import FactorizedReduce
from nas.proxies.context import Batch, logits_of, weight_layers
from nas.proxies.fisher import LayerOutputs
from nas.proxies.naswot import ReluKernel

__all__ = ["PRODUCTS", "TrainPass", "run_train_pass"]

#: What the shared pass can record.
PRODUCTS: tuple[str, ...] = ("relu_kernel", "ce_grads", "fisher", "input_grad")


@dataclass
class TrainPass:
    """What was recorded (``None``: not asked for)."""

    layers: list[nn.Module]  # conv and linear layers, in module order
    relu_kernel: torch.Tensor | None = None  # NASWOT kernel [N, N], float64
    ce_grads: list[torch.Tensor] | None = None  # dL/dweight per layer (zeros when unused)
    fisher: list[torch.Tensor | None] | None = None  # per-channel Fisher values per layer
    input_grad: torch.Tensor | None = None  # d(sum of logits)/dinput [N, C, H, W]


def run_train_pass(model: nn.Module, batch: Batch, needs: frozenset[str]) -> TrainPass:
    """Run the shared pass on ``model`` (already in training mode, state preserved by the caller)."""
    unknown = set(needs) - set(PRODUCTS)
    if unknown:
        raise ValueError(f"unknown products of the shared pass: {sorted(unknown)}")
    for m in model.modules():
        if isinstance(m, FactorizedReduce):
            m.training = False  # its own flag only: the plain path runs its convolutions on their weights
    layers = weight_layers(model)
    weights = [m.weight for m in layers]
    for w in weights:
        w.requires_grad_(True)
    result = TrainPass(layers)
    x = batch.images.detach().clone().requires_grad_("input_grad" in needs)
    relu = ReluKernel(model, len(x), x.device) if "relu_kernel" in needs else None
    fisher = LayerOutputs(weights) if "fisher" in needs else None
    with torch.enable_grad(), contextlib.ExitStack() as stack:
        for probe in (relu, fisher):
            if probe is not None:
                stack.enter_context(probe)
        out = logits_of(model(x))
    if relu is not None:
        result.relu_kernel = relu.K
    if needs & {"ce_grads", "fisher"}:
        loss = F.cross_entropy(out, batch.labels)
        grads = torch.autograd.grad(loss, weights, allow_unused=True, retain_graph="input_grad" in needs)
        result.ce_grads = [torch.zeros_like(w) if g is None else g for w, g in zip(weights, grads)]
        if fisher is not None:
            result.fisher = fisher.values()
    if "input_grad" in needs:
        (result.input_grad,) = torch.autograd.grad(out.sum(), x)
    return result
