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
* the custom autograd kernels of :mod:`nas.kernels` (batch norm, weight and node
  sum fused; depthwise-pointwise convolutions that keep only their input) and
  :mod:`nas.darts.pooling`;
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

from nas.darts.pooling import avg_pool_3x3, max_pool_3x3
from nas.errors import NasError
from nas.kernels import BNTerm, bn_relu_dw_pw, bn_stats, channels_last, dw_pw, weighted_sum
from nas.ops import OPS, conv1x1_stride2, is_relu_first

__all__ = ["MixedCell", "channel_shuffle", "conv1x1_chunks", "factorized_reduce_convs", "op_kind"]


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """PC-DARTS channel shuffle: channel ``g * (C // groups) + a`` moves to ``a * groups + g``."""
    B, C, H, W = x.shape
    return channels_last(x.view(B, groups, C // groups, H, W).transpose(1, 2).reshape(B, C, H, W))


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
    a: torch.Tensor | None = None
    b: torch.Tensor | None = None
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
    assert a is not None and b is not None  # at least one chunk
    return channels_last(torch.cat([a, b], dim=1))


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
            h = channels_last(state[:, :Cp])
            rest = state[:, Cp:]
            bypass = channels_last(F.max_pool2d(rest, 2, 2)) if stride == 2 else rest
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
                    sh.stats[name] = bn_stats(sh.pooled[name], bn, training or not bn.track_running_stats, True)
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

    def _bn_term(self, sh: _Shared, j: int, e: int, name: str, kind: str, ksize: int) -> tuple[torch.Tensor, BNTerm]:
        """The pre-BN tensor of operation ``name`` on edge ``e`` (reading state ``j``) and its BN."""
        stride = self.stride(j)
        if kind in ("max", "avg"):
            return sh.pooled[name], BNTerm(self.pool_bns[j][name], False, sh.stats[name])
        p = self.edges[e][name]
        relu = sh.relu
        assert relu is not None  # needs_relu: every other batch-norm term reads the ReLU
        if kind == "skip":
            return factorized_reduce_convs([relu], p.conv_1.weight, p.conv_2.weight), BNTerm(p.bn, True)
        if kind == "sep":
            pad = ksize // 2
            u1 = dw_pw(relu, p.dw1.weight, p.pw1.weight, stride, pad, 1)
            return bn_relu_dw_pw(u1, p.dw2.weight, p.pw2.weight, p.bn1, self.training, pad), BNTerm(p.bn2, True)
        if kind == "dil":
            return dw_pw(relu, p.dw.weight, p.pw.weight, stride, ksize - 1, 2), BNTerm(p.bn, True)
        # nor_conv: ReLU, conv, BN
        return F.conv2d(relu, p.conv.weight, None, stride, ksize // 2), BNTerm(p.bn, True)

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
        all_states = [channels_last(s) for s in states]
        relus_in = list(relus) if relus is not None else [None] * len(all_states)
        shared = [self._share(j, s, relus_in[j]) for j, s in enumerate(all_states)]
        w_all = (weights if edge_weights is None else weights * edge_weights[:, None]).reshape(-1)
        out_relus: list[torch.Tensor | None] = [sh.relu if self.k == 1 else None for sh in shared]
        offset = 0
        for i, (bn_terms, plain_terms, flat) in enumerate(self._plan_cache):
            n_in = self.num_inputs + i
            bn_inputs: list[torch.Tensor] = []
            specs: list[BNTerm] = []
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
                    plain.append(channels_last(op.forward_relu(sh.relu) if is_relu_first(op) else op(sh.h)))
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
