"""The DARTS search network (weight-sharing supernet) of the DARTS cell space.

The same network as the reference search model (quark0/darts ``cnn/model_search.py``):
a 3x3 stem to ``stem_multiplier * C`` channels with an affine BN; ``layers`` cells,
reductions (channels doubled, stride-2 input edges) at ``layers // 3`` and
``2 * layers // 3``; each cell preprocesses its two inputs (ReLU-conv1x1-BN, or a
FactorizedReduce after a reduction; BN without affine parameters), builds ``steps``
nodes from mixed edges (every operation with affine-free BN, pooling followed by an
affine-free BN) and concatenates the last ``multiplier`` nodes; global average pooling
and a linear classifier. Architecture weights: ``alphas_normal`` and ``alphas_reduce``
(``[14, 8]`` for 4 steps and the 8 DARTS operations), initialised to ``1e-3 * randn``.

What differs is how it is computed (:mod:`nas.darts.mixed_ops`, :mod:`nas.kernels`),
plus: a cell's output is handed on as its node tensors and their ReLUs, never
concatenated (the next cells' 1x1 preprocessing is a sum of per-node 1x1 convolutions,
and each node's ReLU is the one its own cell already computed for its mixed edges).

Options: ``partial_channels=K`` (PC-DARTS partial channel connections),
``edge_normalization`` (PC-DARTS ``betas``: one weight per edge, softmax over each
node's incoming edges; they are architecture parameters and weigh edge selection in
:meth:`DartsSupernet.genotype`), ``weighting="sigmoid"`` (Fair DARTS: independent
sigmoid weights, the default weighting when no method drives the supernet; the search
method :mod:`nas.darts.methods.fair_darts` adds its zero-one loss).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from nas.darts.derive import derive_darts_cell, num_darts_edges
from nas.darts.methods.base import Sampler
from nas.darts.mixed_ops import (
    DilConvParams,
    FactorizedReduceParams,
    MixedCell,
    SepConvParams,
    conv1x1_chunks,
    factorized_reduce_convs,
    op_kind,
)
from nas.errors import NasError
from nas.genotypes.types import DARTS_OPS, DARTS_SEARCH_OPS, DartsGenotype
from nas.kernels import BatchNormOut
from nas.networks.darts_network import is_reduction

__all__ = ["DartsSupernet", "reference_names", "reference_state_dict", "WEIGHTINGS"]

#: How architecture parameters become operation weights.
WEIGHTINGS = ("softmax", "sigmoid")


def _check_int(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise NasError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    return value


def check_ops(ops: Sequence[str], allowed: Sequence[str], space: str) -> tuple[str, ...]:
    """Validate an operation list of a search space (names, no repeats, something besides none)."""
    if isinstance(ops, str) or not isinstance(ops, (list, tuple)) or not ops:
        raise NasError(f"ops: expected a non-empty list of operation names, got {ops!r}")
    for name in ops:
        if name not in allowed:
            raise NasError(f"ops: {name!r} is not a {space} operation (known: {', '.join(allowed)})")
    if len(set(ops)) != len(ops):
        raise NasError(f"ops: repeated operations in {list(ops)}")
    if all(name == "none" for name in ops):
        raise NasError("ops: need at least one operation besides 'none'")
    return tuple(ops)


def op_weights(alpha: torch.Tensor, weighting: str) -> torch.Tensor:
    """Operation weights from architecture parameters: softmax per edge (DARTS) or sigmoid (Fair DARTS)."""
    return torch.sigmoid(alpha) if weighting == "sigmoid" else F.softmax(alpha, dim=-1)


def edge_weights(beta: torch.Tensor, steps: int, num_inputs: int = 2) -> torch.Tensor:
    """PC-DARTS edge normalisation: softmax of ``beta`` over the incoming edges of each node."""
    parts = []
    start = 0
    for i in range(steps):
        n = num_inputs + i
        parts.append(F.softmax(beta[start : start + n], dim=-1))
        start += n
    return torch.cat(parts)


class _CellOutput:
    """A cell's output handed to the next cells: its node tensors and (lazily) their ReLUs."""

    def __init__(self, nodes: list[torch.Tensor], relus: list[torch.Tensor | None]) -> None:
        self.nodes = nodes
        self._relus = relus

    def relus(self) -> list[torch.Tensor]:
        done = [torch.relu(n) if r is None else r for n, r in zip(self.nodes, self._relus)]
        self._relus[:] = done  # computed once, however many cells read this output
        return done


class Preprocess(nn.Module):
    """ReLU, 1x1 conv, BN(affine=False) of a chunked, already-activated input."""

    def __init__(self, C_in: int, C_out: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(C_in, C_out, 1, bias=False)
        self.bn = nn.BatchNorm2d(C_out, affine=False)

    def forward(self, relus: Sequence[torch.Tensor]) -> torch.Tensor:
        return BatchNormOut(conv1x1_chunks(relus, self.conv.weight), self.bn)


class PreprocessReduce(FactorizedReduceParams):
    """FactorizedReduce (affine=False) of a chunked, already-activated input."""

    def forward(self, relus: Sequence[torch.Tensor]) -> torch.Tensor:
        return BatchNormOut(factorized_reduce_convs(relus, self.conv_1.weight, self.conv_2.weight), self.bn)


class SearchCell(nn.Module):
    """A normal or reduction search cell: preprocessing plus a :class:`MixedCell`."""

    def __init__(
        self,
        steps: int,
        multiplier: int,
        C_prev_prev: int,
        C_prev: int,
        C: int,
        reduction: bool,
        reduction_prev: bool,
        ops: Sequence[str],
        partial_channels: int,
    ) -> None:
        super().__init__()
        self.reduction = reduction
        self.multiplier = multiplier
        self.preprocess0: nn.Module = PreprocessReduce(C_prev_prev, C) if reduction_prev else Preprocess(C_prev_prev, C)
        self.preprocess1 = Preprocess(C_prev, C)
        self.mixed = MixedCell(C, 2, steps, ops, reduction, True, partial_channels)

    def forward(
        self, s0: _CellOutput, s1: _CellOutput, weights: torch.Tensor, edge_w: torch.Tensor | None
    ) -> _CellOutput:
        h0 = self.preprocess0(s0.relus())
        h1 = self.preprocess1(s1.relus())
        states, relus = self.mixed([h0, h1], weights, edge_w)
        m = self.multiplier
        return _CellOutput(states[-m:], relus[-m:])


class DartsSupernet(nn.Module):
    """The DARTS search network (see the module docstring); ``forward(x)`` returns logits."""

    def __init__(
        self,
        channels: int = 16,
        layers: int = 8,
        num_classes: int = 10,
        steps: int = 4,
        multiplier: int = 4,
        stem_multiplier: int = 3,
        ops: Sequence[str] = DARTS_SEARCH_OPS,
        partial_channels: int = 1,
        edge_normalization: bool = False,
        weighting: str = "softmax",
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        C = _check_int(channels, "channels", 1)
        layers = _check_int(layers, "layers", 1)
        num_classes = _check_int(num_classes, "num_classes", 1)
        steps = _check_int(steps, "steps", 1)
        multiplier = _check_int(multiplier, "multiplier", 1)
        if multiplier > steps:
            raise NasError(f"multiplier: expected at most steps ({steps}), got {multiplier}")
        stem_multiplier = _check_int(stem_multiplier, "stem_multiplier", 1)
        in_channels = _check_int(in_channels, "in_channels", 1)
        K = _check_int(partial_channels, "partial_channels", 1)
        if C % K:
            raise NasError(f"partial_channels: expected a divisor of channels ({C}), got {K}")
        if weighting not in WEIGHTINGS:
            raise NasError(f"weighting: expected one of {', '.join(WEIGHTINGS)}, got {weighting!r}")
        if not isinstance(edge_normalization, bool):
            raise NasError(f"edge_normalization: expected true or false, got {edge_normalization!r}")
        self.ops = check_ops(ops, DARTS_OPS, "DARTS")
        for name in self.ops:
            op_kind(name)
        self.channels, self.layers, self.num_classes = C, layers, num_classes
        self.steps, self.multiplier, self.stem_multiplier = steps, multiplier, stem_multiplier
        self.partial_channels, self.edge_normalization, self.weighting = K, edge_normalization, weighting

        C_curr = stem_multiplier * C
        self.stem = nn.Sequential(nn.Conv2d(in_channels, C_curr, 3, padding=1, bias=False), nn.BatchNorm2d(C_curr))
        C_prev_prev, C_prev, C_curr = C_curr, C_curr, C
        self.cells = nn.ModuleList()
        reduction_prev = False
        for i in range(layers):
            reduction = is_reduction(i, layers)
            if reduction:
                C_curr *= 2
            self.cells.append(
                SearchCell(steps, multiplier, C_prev_prev, C_prev, C_curr, reduction, reduction_prev, self.ops, K)
            )
            reduction_prev = reduction
            C_prev_prev, C_prev = C_prev, multiplier * C_curr
        self.classifier = nn.Linear(C_prev, num_classes)

        k = num_darts_edges(steps)
        self.alphas_normal = nn.Parameter(1e-3 * torch.randn(k, len(self.ops)))
        self.alphas_reduce = nn.Parameter(1e-3 * torch.randn(k, len(self.ops)))
        if edge_normalization:
            self.betas_normal = nn.Parameter(1e-3 * torch.randn(k))
            self.betas_reduce = nn.Parameter(1e-3 * torch.randn(k))
        self._sampler: Sampler | None = None
        self.to(memory_format=torch.channels_last)

    # -- the supernet protocol (nas.darts.methods.base.Supernet) -------------------

    single_path = False

    def set_sampler(self, sampler: Sampler | None) -> None:
        """Who turns the architecture parameters into each forward's weights (the search method).

        Without one, the forward uses ``weighting`` of the alphas (and the edge weights).
        """
        self._sampler = sampler

    def cell_alphas(self) -> dict[str, nn.Parameter]:
        """The operation alphas per cell type."""
        return {"normal": self.alphas_normal, "reduce": self.alphas_reduce}

    def betas(self) -> dict[str, nn.Parameter]:
        """PC-DARTS edge-normalisation parameters per cell type (empty without edge normalisation)."""
        if not self.edge_normalization:
            return {}
        return {"normal": self.betas_normal, "reduce": self.betas_reduce}

    def edge_weights(self, cell_type: str) -> torch.Tensor | None:
        """PC-DARTS edge weights of ``cell_type`` (softmax over each node's incoming edges), or None."""
        betas = self.betas()
        return edge_weights(betas[cell_type], self.steps) if betas else None

    def genotype_from(self, weights: Mapping[str, torch.Tensor], max_skip: int | None = None) -> DartsGenotype:
        """The DARTS rule on ``weights`` per cell type (scaled by the edge weights when normalised).

        ``max_skip`` caps ``skip_connect`` edges of the normal cell (P-DARTS).
        """
        cells = {}
        with torch.no_grad():
            for name in ("normal", "reduce"):
                w = weights[name]
                e = self.edge_weights(name)
                if e is not None:
                    w = w * e[:, None]
                cap = max_skip if name == "normal" else None
                cells[name] = derive_darts_cell(w, self.ops, self.steps, self.multiplier, cap)
        return DartsGenotype(
            normal=cells["normal"][0],
            normal_concat=cells["normal"][1],
            reduce=cells["reduce"][0],
            reduce_concat=cells["reduce"][1],
        )

    # -- parameters --------------------------------------------------------------

    def op_alphas(self) -> list[nn.Parameter]:
        """The operation alphas ``[alphas_normal, alphas_reduce]``."""
        return [self.alphas_normal, self.alphas_reduce]

    def arch_parameters(self) -> list[nn.Parameter]:
        """Architecture parameters: the alphas, then the edge betas when edge normalisation is on."""
        params = self.op_alphas()
        if self.edge_normalization:
            params += [self.betas_normal, self.betas_reduce]
        return params

    def weight_parameters(self) -> list[nn.Parameter]:
        """Every parameter that is not an architecture parameter (what the weight optimizer trains)."""
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    def _cell_weights(self, reduction: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        alpha = self.alphas_reduce if reduction else self.alphas_normal
        w = op_weights(alpha, self.weighting)
        if not self.edge_normalization:
            return w, None
        beta = self.betas_reduce if reduction else self.betas_normal
        return w, edge_weights(beta, self.steps)

    def arch_weights(self) -> dict[str, torch.Tensor]:
        """Detached operation weights per cell type (``normal``, ``reduce``; ``*_edges`` with edge normalisation)."""
        out = {}
        with torch.no_grad():
            for name, red in (("normal", False), ("reduce", True)):
                w, e = self._cell_weights(red)
                out[name] = w.detach().clone()
                if e is not None:
                    out[f"{name}_edges"] = e.detach().clone()
        return out

    def genotype(self, max_skip: int | None = None) -> DartsGenotype:
        """The DARTS-rule genotype of the supernet's own ``weighting`` (see :meth:`genotype_from`)."""
        with torch.no_grad():
            weights = {name: op_weights(a, self.weighting) for name, a in self.cell_alphas().items()}
        return self.genotype_from(weights, max_skip)

    # -- forward -------------------------------------------------------------------

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            raise NasError(f"input: expected a [batch, channels, height, width] tensor, got shape {tuple(x.shape)}")
        s = self.stem(x.contiguous(memory_format=torch.channels_last))
        s0 = s1 = _CellOutput([s], [None])
        if self._sampler is not None:
            arch = self._sampler(self.training)
            w_normal = (arch["normal"].weights, arch["normal"].edge_weights)
            w_reduce = (arch["reduce"].weights, arch["reduce"].edge_weights)
        else:
            w_normal = self._cell_weights(False)
            w_reduce = self._cell_weights(True)
        for cell in self.cells:
            w, e = w_reduce if cell.reduction else w_normal
            s0, s1 = s1, cell(s0, s1, w, e)
        pooled = torch.cat([n.mean((2, 3)) for n in s1.nodes], dim=1)
        return self.classifier(pooled)


# --------------------------------------------------------------------------- #
# Mapping to the reference module layout
# --------------------------------------------------------------------------- #

_SEP = {"dw1": "op.1", "pw1": "op.2", "bn1": "op.3", "dw2": "op.5", "pw2": "op.6", "bn2": "op.7"}
_DIL = {"dw": "op.1", "pw": "op.2", "bn": "op.3"}


def _sub(mapping: dict[str, str], rest: str) -> str:
    head, _, tail = rest.partition(".")
    return f"{mapping[head]}.{tail}"


def reference_names(model: DartsSupernet) -> dict[str, list[str]]:
    """Key of each entry of ``model.state_dict()`` -> its key(s) in the reference search network.

    The reference layout is quark0/darts ``model_search.Network`` built from
    :mod:`nas.ops` modules (``cells.{c}._ops.{e}._ops.{k}`` is operation ``k`` of edge
    ``e``, a pooling being ``Sequential(pool, BN)``; ``preprocess*`` are ``ReLUConvBN``
    (``op.1`` conv, ``op.2`` BN) or ``FactorizedReduce``). Mine -> reference:

    * ``cells.{c}.preprocess{0,1}.conv`` / ``.bn`` -> ``op.1`` / ``op.2`` (FactorizedReduce: same names);
    * ``cells.{c}.mixed.edges.{e}.{op}.X`` -> ``cells.{c}._ops.{e}._ops.{k}.Y`` with ``k`` the
      index of ``op``; ``sep_conv``: dw1, pw1, bn1, dw2, pw2, bn2 -> op.1, op.2, op.3, op.5,
      op.6, op.7; ``dil_conv``: dw, pw, bn -> op.1, op.2, op.3; stride-2 ``skip_connect``
      (FactorizedReduce) and other operations: same names;
    * ``cells.{c}.mixed.pool_bns.{j}.{pool}`` (one BN per state, shared by the edges that
      leave state ``j``) -> ``cells.{c}._ops.{e}._ops.{k}.1`` for *every* edge ``e`` reading
      state ``j`` (their running statistics are identical in the reference);
    * everything else (stem, classifier, alphas, betas): the same key.
    """
    out: dict[str, list[str]] = {}
    for key in model.state_dict():
        parts = key.split(".")
        if parts[0] != "cells":
            out[key] = [key]
            continue
        c = parts[1]
        if parts[2].startswith("preprocess"):
            pre = getattr(model.cells[int(c)], parts[2])
            rest = ".".join(parts[3:])
            if isinstance(pre, Preprocess):
                rest = _sub({"conv": "op.1", "bn": "op.2"}, rest)
            out[key] = [f"cells.{c}.{parts[2]}.{rest}"]
            continue
        mixed: MixedCell = model.cells[int(c)].mixed
        if parts[3] == "edges":
            e, op = int(parts[4]), parts[5]
            k = mixed.ops.index(op)
            rest = ".".join(parts[6:])
            module = mixed.edges[e][op]
            if isinstance(module, SepConvParams):
                rest = _sub(_SEP, rest)
            elif isinstance(module, DilConvParams):
                rest = _sub(_DIL, rest)
            out[key] = [f"cells.{c}._ops.{e}._ops.{k}.{rest}"]
        elif parts[3] == "pool_bns":
            j, op = int(parts[4]), parts[5]
            k = mixed.ops.index(op)
            rest = ".".join(parts[6:])
            edges = [e for e, src in enumerate(mixed.edge_inputs) if src == j]
            out[key] = [f"cells.{c}._ops.{e}._ops.{k}.1.{rest}" for e in edges]
        else:  # pragma: no cover - a new submodule without a mapping
            raise KeyError(key)
    return out


def reference_state_dict(model: DartsSupernet) -> dict[str, torch.Tensor]:
    """``model``'s state in the reference layout (see :func:`reference_names`), for checks and export."""
    state = model.state_dict()
    out = {}
    for key, refs in reference_names(model).items():
        for ref in refs:
            out[ref] = state[key].detach().clone()
    return out
