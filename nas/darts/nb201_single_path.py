"""The NAS-Bench-201 supernet that runs ONE operation per edge (GDAS and SPOS share it).

Same macro structure as :class:`nas.darts.nb201_supernet.NB201Supernet` (stem, three
stages of ``cells_per_stage`` search cells, ResNet blocks between them), but every edge
holds the five NB201 operations as separate modules and a forward pass runs only the
chosen one per edge, so a step costs about one sampled network, not five.

* ``method="gdas"``: an ``alphas`` tensor ``[6, 5]`` (``1e-3 * randn``); each forward in
  training samples a hard one-hot per edge with Gumbel-softmax at temperature ``tau``
  (:func:`nas.darts.gdas.gumbel_hard`), shared by every cell as in the authors' code.
* ``method="spos"``: no architecture parameters; each training forward samples a path
  uniformly; ``forward(x, path)`` runs a given path (candidate evaluation). The chosen
  cell is a buffer (``chosen``), so it is checkpointed with the weights.

Batch norms inside the cells have neither affine parameters nor running statistics
(the authors' ``affine=False, track_running_stats=False`` default): a path evaluated on a
batch is normalised by that batch, as the official RSPS/GDAS code evaluates candidates.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from nas.darts.derive import derive_nb201
from nas.darts.gdas import gumbel_hard
from nas.darts.nb201_supernet import NUM_EDGES, NUM_NODES
from nas.errors import NasError
from nas.genotypes.types import NB201_OPS, NB201Genotype
from nas.networks.nb201_network import ResNetBasicblock, stage_plan
from nas.ops import make_op

__all__ = ["NB201SinglePath", "path_genotype"]

METHODS = ("gdas", "spos")


def path_genotype(path: Sequence[int], ops: Sequence[str] = NB201_OPS) -> NB201Genotype:
    """The NB201 cell whose edge ``e`` (benchmark order) runs ``ops[path[e]]``."""
    nodes, e = [], 0
    for j in range(1, NUM_NODES):
        nodes.append(tuple((ops[int(path[e + i])], i) for i in range(j)))
        e += j
    return NB201Genotype(tuple(nodes))


def _batch_stats_only(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.track_running_stats = False
            m.running_mean = None
            m.running_var = None
            m.num_batches_tracked = None


class SinglePathCell(nn.Module):
    """Node ``j`` sums edge ``j <- i`` for every ``i < j``; each edge runs one of its operations."""

    def __init__(self, C: int, ops: Sequence[str]) -> None:
        super().__init__()
        self.ops = tuple(ops)
        self.edges = nn.ModuleList(
            nn.ModuleDict({name: make_op(name, C, C, 1, affine=False) for name in self.ops}) for _ in range(NUM_EDGES)
        )
        _batch_stats_only(self)

    def forward(self, x: torch.Tensor, path: Sequence[int], hard: torch.Tensor | None = None) -> torch.Tensor:
        """``hard``: GDAS straight-through one-hot ``[6, ops]``; only ``path``'s op runs on each edge."""
        states = [x]
        e = 0
        for j in range(1, NUM_NODES):
            total: torch.Tensor | None = None
            for i in range(j):
                k = int(path[e])
                out = self.edges[e][self.ops[k]](states[i])
                if hard is not None:
                    # The authors' forward_gdas: w_k * op_k(x) + the other (zero-valued) weights,
                    # so every alpha of the edge gets a gradient through the straight-through weights.
                    out = out * hard[e, k] + (hard[e].sum() - hard[e, k])
                total = out if total is None else total + out
                e += 1
            states.append(total)
        return states[-1]


class NB201SinglePath(nn.Module):
    """Single-path NB201 supernet (see the module docstring); ``forward(x)`` returns logits."""

    def __init__(
        self,
        method: str,
        channels: int = 16,
        cells_per_stage: int = 5,
        num_classes: int = 10,
        in_channels: int = 3,
        ops: Sequence[str] = NB201_OPS,
    ) -> None:
        super().__init__()
        if method not in METHODS:
            raise NasError(f"method: expected one of {', '.join(METHODS)}, got {method!r}")
        self.method = method
        self.ops = tuple(ops)
        self.channels, self.cells_per_stage, self.num_classes = channels, cells_per_stage, num_classes
        self.tau = 10.0
        C = channels
        self.stem = nn.Sequential(nn.Conv2d(in_channels, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
        self.cells = nn.ModuleList()
        C_prev = C
        for C_curr, reduction in stage_plan(C, cells_per_stage):
            self.cells.append(ResNetBasicblock(C_prev, C_curr, 2) if reduction else SinglePathCell(C_curr, self.ops))
            C_prev = C_curr
        self.lastact = nn.Sequential(nn.BatchNorm2d(C_prev), nn.ReLU(inplace=True))
        self.classifier = nn.Linear(C_prev, num_classes)
        if method == "gdas":
            self.alphas = nn.Parameter(1e-3 * torch.randn(NUM_EDGES, len(self.ops)))
        self.register_buffer("chosen", torch.zeros(NUM_EDGES, dtype=torch.long))

    # -- parameters --------------------------------------------------------------

    def arch_parameters(self) -> list[nn.Parameter]:
        """GDAS: the shared ``[6, ops]`` alphas; SPOS: none."""
        return [self.alphas] if self.method == "gdas" else []

    def weight_parameters(self) -> list[nn.Parameter]:
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    def arch_weights(self) -> dict[str, torch.Tensor]:
        """GDAS: softmax of the alphas; SPOS: the one-hot of the chosen cell."""
        with torch.no_grad():
            if self.method == "gdas":
                return {"cell": torch.softmax(self.alphas, dim=-1).detach().clone()}
            return {"cell": nn.functional.one_hot(self.chosen, len(self.ops)).double()}

    def genotype(self, max_skip: int | None = None, exclude_none: bool = False) -> NB201Genotype:
        """GDAS: arg-max alpha per edge (``none`` included, as the authors' code); SPOS: the chosen cell."""
        if self.method == "spos":
            return path_genotype(self.chosen.tolist(), self.ops)
        with torch.no_grad():
            w = torch.softmax(self.alphas, dim=-1)
        return derive_nb201(w, self.ops, NUM_NODES, exclude_none, max_skip)

    def set_chosen(self, path: Sequence[int]) -> None:
        """Record the SPOS search's best path (checkpointed with the model)."""
        self.chosen.copy_(torch.as_tensor(list(path), dtype=torch.long))

    def random_path(self) -> list[int]:
        """A uniformly sampled path (global torch RNG, so a resumed run samples the same ones)."""
        return torch.randint(len(self.ops), (NUM_EDGES,)).tolist()

    # -- forward -----------------------------------------------------------------

    def forward(self, x: torch.Tensor, path: Sequence[int] | None = None) -> torch.Tensor:
        if x.dim() != 4:
            raise NasError(f"input: expected a [batch, channels, height, width] tensor, got shape {tuple(x.shape)}")
        hard = None
        if path is None:
            if self.method == "gdas":
                if self.training:
                    hard, index = gumbel_hard(self.alphas, self.tau)
                    path = index.tolist()
                else:
                    path = self.alphas.argmax(dim=-1).tolist()
            else:
                path = self.random_path() if self.training else self.chosen.tolist()
        feature = self.stem(x)
        for cell in self.cells:
            feature = cell(feature, path, hard) if isinstance(cell, SinglePathCell) else cell(feature)
        feature = self.lastact(feature).mean((2, 3))
        return self.classifier(feature)
