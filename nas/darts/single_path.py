"""Supernets that run only the sampled operations of each edge (GDAS, SPOS), in both spaces.

Same macro structure as the mixed supernets (:class:`nas.darts.supernet.DartsSupernet`,
:class:`nas.darts.nb201_supernet.NB201Supernet`), but every edge holds its operations as
separate :mod:`nas.ops` modules and a forward pass runs only ``CellArch.active[e]`` on
edge ``e`` (usually one operation; a DARTS-space genotype whose node reads one state twice
puts two on that edge; none for an unused edge). So a step costs about one sampled
network, not all of them. The output of an active operation is
``w * op(x) + (sum(w_e) - w)`` with ``w = weights[e, k]``: the value of ``op(x)`` for a
straight-through one-hot (GDAS, as the authors' ``forward_gdas``), while every weight of the
edge gets a gradient; for weights without gradient ``w * op(x)`` (SPOS: ``w = 1``), and an
active operation of weight 0 runs on a zero input, as the NAS-Bench-201 authors' search cell
does (Zero-Cost-PT scores a cell with an operation removed that way).

Batch norms inside the cells keep neither affine parameters nor running statistics (the
NAS-Bench-201 authors' ``affine=False, track_running_stats=False``): a path evaluated on a
batch is normalised by that batch, as the official RSPS/GDAS code evaluates candidates.
``running_stats=True`` keeps them (an untrained network in eval mode then normalises with
mean 0, variance 1, as the Zero-Cost-PT authors score their untrained supernet).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from nas.darts.derive import derive_darts_cell, derive_nb201, num_darts_edges
from nas.darts.methods.base import CellArch, Sampler
from nas.errors import NasError
from nas.genotypes.types import (
    DARTS_SEARCH_OPS,
    NB201_EDGES,
    NB201_NODES,
    NB201_OPS,
    DartsGenotype,
    Genotype,
    NB201Genotype,
)
from nas.networks.darts_network import is_reduction
from nas.networks.nb201_network import ResNetBasicblock, stage_plan
from nas.ops import FactorizedReduce, ReLUConvBN, make_op

__all__ = ["DartsSinglePath", "NB201SinglePath", "on_zero_input"]

#: Per cell type, per edge: the operation indices that run.
Path = dict[str, list[tuple[int, ...]]]


def _batch_stats_only(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.track_running_stats = False
            m.running_mean = None
            m.running_var = None
            m.num_batches_tracked = None


def on_zero_input(op: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``op`` called with ``x`` but computing on ``x * 0``, as the authors' ``forward(x, block_input=True)``.

    The zeroing happens inside the call (a pre-hook), so hooks that read a module's input, as the
    Zero-Cost-PT authors' NASWOT does, still see ``x`` (:mod:`nas.proxies.naswot`).
    """
    handle = op.register_forward_pre_hook(lambda _m, args: (args[0] * 0.0, *args[1:]))
    try:
        return op(x)
    finally:
        handle.remove()


class SinglePathCell(nn.Module):
    """The DAG of a search cell whose edges run only their active operations.

    ``num_inputs`` input states, ``steps`` nodes; node ``i`` sums one edge from every earlier
    state (the DARTS and NAS-Bench-201 edge order). With ``reduction`` the edges reading the
    inputs have stride 2.
    """

    def __init__(
        self,
        C: int,
        num_inputs: int,
        steps: int,
        ops: Sequence[str],
        reduction: bool = False,
        running_stats: bool = False,
    ) -> None:
        super().__init__()
        self.ops = tuple(ops)
        self.num_inputs, self.steps = num_inputs, steps
        self.edges = nn.ModuleList()
        for i in range(steps):
            for j in range(num_inputs + i):
                stride = 2 if reduction and j < num_inputs else 1
                self.edges.append(nn.ModuleDict({n: make_op(n, C, C, stride, affine=False) for n in self.ops}))
        if not running_stats:
            _batch_stats_only(self)

    def forward(self, states: list[torch.Tensor], arch: CellArch) -> list[torch.Tensor]:
        """All states (inputs, then nodes); ``arch.active`` must be set."""
        if arch.active is None or len(arch.active) != len(self.edges):
            raise NasError(f"active: expected one tuple of operation indices per edge ({len(self.edges)})")
        w = arch.weights
        grad = w.requires_grad
        states = list(states)
        e = 0
        for i in range(self.steps):
            total: torch.Tensor | None = None
            for j in range(self.num_inputs + i):
                for k in arch.active[e]:
                    name = self.ops[k]
                    if name == "none" and not grad:  # zeros: nothing to add (GDAS still needs its weight's term)
                        continue
                    if grad:
                        out = self.edges[e][name](states[j])
                        out = out * w[e, k] + (w[e].sum() - w[e, k])
                    elif w[e, k] == 0:  # a removed operation runs on a zero input (NB201 authors' cell)
                        out = on_zero_input(self.edges[e][name], states[j]) * 0.0
                    else:
                        out = self.edges[e][name](states[j]) * w[e, k]
                    if arch.edge_weights is not None:
                        out = out * arch.edge_weights[e]
                    total = out if total is None else total + out
                e += 1
            if total is None:  # every incoming edge is none: a zero node of the right shape
                ref = states[self.num_inputs - 1]
                total = self._zeros_like_node(ref)
            states.append(total)
        return states

    def _zeros_like_node(self, ref: torch.Tensor) -> torch.Tensor:
        reduction = any(getattr(m, "stride", 1) == 2 for d in self.edges[: self.num_inputs] for m in d.values())
        if reduction:
            ref = ref[:, :, ::2, ::2]
        return ref * 0.0


class _SinglePathBase(nn.Module):
    """Sampler plumbing shared by the two single-path supernets."""

    single_path = True
    ops: tuple[str, ...]

    def __init__(self) -> None:
        super().__init__()
        self._sampler: Sampler | None = None

    def set_sampler(self, sampler: Sampler | None) -> None:
        """Who chooses the operations of each forward pass (the search method)."""
        self._sampler = sampler

    def cell_alphas(self) -> dict[str, nn.Parameter]:
        raise NotImplementedError

    def betas(self) -> dict[str, nn.Parameter]:
        """Single-path supernets have no edge-normalisation parameters."""
        return {}

    def edge_weights(self, cell_type: str) -> torch.Tensor | None:
        return None

    def arch_parameters(self) -> list[nn.Parameter]:
        return list(self.cell_alphas().values())

    def weight_parameters(self) -> list[nn.Parameter]:
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    def path_arch(self, path: Path) -> dict[str, CellArch]:
        """The architecture that runs exactly ``path`` (one-hot weights without gradient)."""
        out = {}
        for cell_type, active in path.items():
            w = torch.zeros(len(active), len(self.ops))
            for e, ks in enumerate(active):
                for k in ks:
                    w[e, k] = 1.0
            out[cell_type] = CellArch(w.to(self.cell_alphas()[cell_type].device), None, list(active))
        return out

    def forward_path(self, x: torch.Tensor, path: Path) -> torch.Tensor:
        """Logits of the network ``path`` selects (candidate evaluation)."""
        return self._forward(x, self.path_arch(path))

    def forward_arch(self, x: torch.Tensor, arch: Mapping[str, CellArch]) -> torch.Tensor:
        """Logits under an explicit architecture (perturbation scoring), bypassing the sampler."""
        return self._forward(x, arch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            raise NasError(f"input: expected a [batch, channels, height, width] tensor, got shape {tuple(x.shape)}")
        if self._sampler is None:
            raise NasError("single-path supernet: no sampler set (a search method chooses the path)")
        return self._forward(x, self._sampler(self.training))

    def _forward(self, x: torch.Tensor, arch: Mapping[str, CellArch]) -> torch.Tensor:
        raise NotImplementedError


class NB201SinglePath(_SinglePathBase):
    """Single-path NAS-Bench-201 supernet; one ``alphas`` ``[6, 5]`` shared by every cell (GDAS uses it)."""

    def __init__(
        self,
        channels: int = 16,
        cells_per_stage: int = 5,
        num_classes: int = 10,
        in_channels: int = 3,
        ops: Sequence[str] = NB201_OPS,
        running_stats: bool = False,
    ) -> None:
        super().__init__()
        self.ops = tuple(ops)
        self.channels, self.cells_per_stage, self.num_classes = channels, cells_per_stage, num_classes
        C = channels
        self.stem = nn.Sequential(nn.Conv2d(in_channels, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
        self.cells = nn.ModuleList()
        C_prev = C
        for C_curr, reduction in stage_plan(C, cells_per_stage):
            cell = (
                ResNetBasicblock(C_prev, C_curr, 2)
                if reduction
                else SinglePathCell(C_curr, 1, NB201_NODES, ops, False, running_stats)
            )
            self.cells.append(cell)
            C_prev = C_curr
        self.lastact = nn.Sequential(nn.BatchNorm2d(C_prev), nn.ReLU(inplace=True))
        self.classifier = nn.Linear(C_prev, num_classes)
        self.alphas = nn.Parameter(1e-3 * torch.randn(len(NB201_EDGES), len(self.ops)))

    def cell_alphas(self) -> dict[str, nn.Parameter]:
        return {"cell": self.alphas}

    def genotype_from(self, weights: Mapping[str, torch.Tensor], max_skip: int | None = None) -> NB201Genotype:
        """Arg-max per edge, ``none`` included (the benchmark's rule)."""
        return derive_nb201(weights["cell"], self.ops, NB201_NODES + 1, False, max_skip)

    def path_of(self, genotype: Genotype) -> Path:
        """The path that runs ``genotype`` (an NB201 cell)."""
        if not isinstance(genotype, NB201Genotype) or len(genotype.ops) != len(NB201_EDGES):
            raise NasError(f"genotype: expected a NAS-Bench-201 cell of {len(NB201_EDGES)} edges")
        return {"cell": [(self.ops.index(op),) for op in genotype.ops]}

    def random_path(self) -> Path:
        """A uniform operation on every edge (global torch RNG, so a resumed run samples the same)."""
        return {"cell": [(k,) for k in torch.randint(len(self.ops), (len(NB201_EDGES),)).tolist()]}

    def _forward(self, x: torch.Tensor, arch: Mapping[str, CellArch]) -> torch.Tensor:
        feature = self.stem(x)
        for cell in self.cells:
            feature = cell([feature], arch["cell"])[-1] if isinstance(cell, SinglePathCell) else cell(feature)
        return self.classifier(self.lastact(feature).mean((2, 3)))


class _DartsSinglePathCell(nn.Module):
    def __init__(
        self, steps: int, multiplier: int, Cpp: int, Cp: int, C: int, red: bool, red_prev: bool, ops, stats: bool
    ) -> None:
        super().__init__()
        self.reduction, self.multiplier = red, multiplier
        self.preprocess0 = FactorizedReduce(Cpp, C, affine=False) if red_prev else ReLUConvBN(Cpp, C, 1, 1, 0, False)
        self.preprocess1 = ReLUConvBN(Cp, C, 1, 1, 0, False)
        self.dag = SinglePathCell(C, 2, steps, ops, red, stats)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, arch: CellArch) -> torch.Tensor:
        states = self.dag([self.preprocess0(s0), self.preprocess1(s1)], arch)
        return torch.cat(states[-self.multiplier :], dim=1)


class DartsSinglePath(_SinglePathBase):
    """Single-path DARTS-space supernet (the DARTS search network's layout, one op per edge)."""

    def __init__(
        self,
        channels: int = 16,
        layers: int = 8,
        num_classes: int = 10,
        steps: int = 4,
        multiplier: int = 4,
        stem_multiplier: int = 3,
        in_channels: int = 3,
        ops: Sequence[str] = DARTS_SEARCH_OPS,
        running_stats: bool = False,
    ) -> None:
        super().__init__()
        self.ops = tuple(ops)
        self.steps, self.multiplier = steps, multiplier
        C_curr = stem_multiplier * channels
        self.stem = nn.Sequential(nn.Conv2d(in_channels, C_curr, 3, padding=1, bias=False), nn.BatchNorm2d(C_curr))
        Cpp, Cp, C_curr = C_curr, C_curr, channels
        self.cells = nn.ModuleList()
        red_prev = False
        for i in range(layers):
            red = is_reduction(i, layers)
            C_curr = C_curr * 2 if red else C_curr
            cell = _DartsSinglePathCell(steps, multiplier, Cpp, Cp, C_curr, red, red_prev, self.ops, running_stats)
            self.cells.append(cell)
            red_prev = red
            Cpp, Cp = Cp, multiplier * C_curr
        self.classifier = nn.Linear(Cp, num_classes)
        k = num_darts_edges(steps)
        self.alphas_normal = nn.Parameter(1e-3 * torch.randn(k, len(self.ops)))
        self.alphas_reduce = nn.Parameter(1e-3 * torch.randn(k, len(self.ops)))

    def cell_alphas(self) -> dict[str, nn.Parameter]:
        return {"normal": self.alphas_normal, "reduce": self.alphas_reduce}

    def genotype_from(self, weights: Mapping[str, torch.Tensor], max_skip: int | None = None) -> DartsGenotype:
        """The DARTS rule per cell type; ``max_skip`` caps the normal cell's skips (P-DARTS)."""
        n = derive_darts_cell(weights["normal"], self.ops, self.steps, self.multiplier, max_skip)
        r = derive_darts_cell(weights["reduce"], self.ops, self.steps, self.multiplier, None)
        return DartsGenotype(normal=n[0], normal_concat=n[1], reduce=r[0], reduce_concat=r[1])

    def path_of(self, genotype: Genotype) -> Path:
        """The path that runs ``genotype``: each node's two edges, the other edges none."""
        if not isinstance(genotype, DartsGenotype) or len(genotype.normal) != 2 * self.steps:
            raise NasError(f"genotype: expected a DARTS cell pair of {self.steps} nodes")
        out: Path = {}
        for cell_type, edges in (("normal", genotype.normal), ("reduce", genotype.reduce)):
            active: list[tuple[int, ...]] = [() for _ in range(num_darts_edges(self.steps))]
            start = 0
            for i in range(self.steps):
                for op, inp in edges[2 * i : 2 * i + 2]:
                    active[start + inp] = (*active[start + inp], self.ops.index(op))
                start += 2 + i
            out[cell_type] = active
        return out

    def random_path(self) -> Path:
        """Per node two distinct inputs, each with a uniform non-``none`` operation (global torch RNG)."""
        choices = [k for k, n in enumerate(self.ops) if n != "none"]
        out: Path = {}
        for cell_type in ("normal", "reduce"):
            active: list[tuple[int, ...]] = []
            for i in range(self.steps):
                inputs = torch.randperm(2 + i)[:2].tolist()
                ops = torch.randint(len(choices), (2,)).tolist()
                node = {j: (choices[k],) for j, k in zip(inputs, ops)}
                active += [node.get(j, ()) for j in range(2 + i)]
            out[cell_type] = active
        return out

    def _forward(self, x: torch.Tensor, arch: Mapping[str, CellArch]) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, arch["reduce" if cell.reduction else "normal"])
        return self.classifier(s1.mean((2, 3)))
