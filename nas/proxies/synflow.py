"""``synflow``: the synaptic flow of the network linearised on absolute weights (data-independent).

Tanaka et al. 2020 ("Pruning neural networks without any data by iteratively conserving
synaptic flow"), as a NAS score by Abdelfattah et al. 2021, following
SamsungLabs/zero-cost-nas and NASLib (``measures/synflow.py``, registered with
``bn=False``): on a copy of the network with batch norm removed (an identity, as their
``get_prunable_copy(bn=False)``), in float64 (products of many weights overflow float32),
every parameter replaced by its absolute value, the input all ones of one image's shape;
the score is ``sum |w * dR/dw|`` over the conv and linear weights, ``R`` the sum of the
outputs. Batch norm would rescale each layer by batch statistics of an all-ones input,
which destroys the path-product meaning; the references' ``synflow_bn`` variant is not
the published score.

Deviation (none on the references' networks): the copy runs in eval mode, so dropout,
drop-path and auxiliary heads are off and the score stays data- and RNG-independent;
with batch norm removed that is the only difference between the modes.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from nas.proxies.context import ScoringContext, logits_of, weight_layers
from nas.proxies.registry import register_proxy


def without_batchnorm(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` whose batch-norm layers are identities."""
    net = copy.deepcopy(model)
    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, _BatchNorm):
                setattr(parent, name, nn.Identity())
    return net


@register_proxy(
    "synflow",
    summary="sum |w * dR/dw| of the BN-free float64 network on |weights| and an all-ones input (data-free)",
    reference="Tanaka et al. 2020; Abdelfattah et al. 2021; SamsungLabs/zero-cost-nas, NASLib synflow.py",
    uses_data=False,
)
def synflow(ctx: ScoringContext) -> float:
    net = without_batchnorm(ctx.model).double().eval()
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
    layers = weight_layers(net)
    weights = [m.weight for m in layers]
    for w in weights:
        w.requires_grad_(True)
    x = torch.ones((1, *ctx.batch.images.shape[1:]), dtype=torch.float64, device=ctx.batch.images.device)
    out = logits_of(net(x))
    grads = torch.autograd.grad(out.sum(), weights, allow_unused=True)
    total = torch.zeros((), dtype=torch.float64)
    for w, g in zip(weights, grads):
        if g is not None:
            total += (w.detach() * g).abs().sum().cpu()
    return float(total)
