"""The two protocols of weight-sharing search: a *supernet* and a *method* that drives it.

A **supernet** (:class:`Supernet`) holds the shared weights and one architecture tensor
per cell type (``cell_alphas()``: ``{"normal": [E, K], "reduce": [E, K]}`` in the DARTS space,
``{"cell": [6, 5]}`` in NAS-Bench-201). Each forward asks its *sampler* for a
:class:`CellArch` per cell type: operation weights, optional edge weights, and, for a
single-path supernet, the one operation each edge runs. It turns weights into a genotype
(``genotype_from``) and a per-edge choice into one (``genotype_of`` / ``path_of``).

A **method** (:class:`SearchMethod`) decides everything that differs between DARTS,
GDAS, SPOS, DrNAS, ...: how architecture parameters become the weights of a forward pass
(its ``sample``, installed as the supernet's sampler), how they are updated
(``arch_step``), what changes per epoch (``begin_epoch``: a temperature, a regulariser's
weight) and how the final cell is read off (``derive``). The search loop
(:mod:`nas.darts.search_loop`) knows neither; a new method is one file registered in
:mod:`nas.darts.methods`, with its own config section (``method: {name: ..., ...}``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import torch
from pydantic import BaseModel, ConfigDict
from torch import nn

from nas.genotypes.types import Genotype

if TYPE_CHECKING:
    from nas.darts.config import DartsSearchConfig

__all__ = ["ArchStep", "CellArch", "MethodConfig", "Sampler", "SearchMethod", "Supernet"]


@dataclass
class CellArch:
    """What one forward pass runs in the cells of one type.

    ``weights``: ``[edges, ops]`` operation weights (softmax, sigmoid, a Dirichlet sample, a
    straight-through one-hot, ...); ``edge_weights``: ``[edges]`` scales (PC-DARTS edge
    normalisation) or None; ``active``: for single-path supernets, the operation index each
    edge runs (the others are not computed; ``weights[e, active[e]]`` scales its output).
    """

    weights: torch.Tensor
    edge_weights: torch.Tensor | None = None
    active: list[int] | None = None


#: ``sampler(training) -> {cell type: CellArch}``: called once per forward pass.
Sampler = Callable[[bool], Mapping[str, CellArch]]


class Supernet(Protocol):
    """What a method and the loop may use of a supernet (both spaces, mixed or single-path)."""

    ops: tuple[str, ...]
    single_path: bool

    def cell_alphas(self) -> dict[str, nn.Parameter]: ...
    def betas(self) -> dict[str, nn.Parameter]: ...
    def arch_parameters(self) -> list[nn.Parameter]: ...
    def weight_parameters(self) -> list[nn.Parameter]: ...
    def set_sampler(self, sampler: Sampler | None) -> None: ...
    def genotype_from(self, weights: Mapping[str, torch.Tensor], max_skip: int | None = None) -> Genotype: ...
    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...


class MethodConfig(BaseModel):
    """Base of every method's config section; ``name`` is the discriminator of the union."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str


@dataclass
class ArchStep:
    """One architecture step's losses (None entries are not logged)."""

    loss: float | None = None


class SearchMethod(ABC):
    """How a weight-sharing search samples, weighs, updates and reads the architecture (see module doc).

    Class attributes: ``name`` (registry key), ``Config`` (its config section),
    ``single_path`` (True: a supernet that runs one operation per edge), ``trains_arch``
    (False: no architecture optimizer, e.g. SPOS), ``spaces`` (where it is defined).
    """

    name: ClassVar[str]
    Config: ClassVar[type[MethodConfig]]
    description: ClassVar[str] = ""
    single_path: ClassVar[bool] = False
    trains_arch: ClassVar[bool] = True
    spaces: ClassVar[tuple[str, ...]] = ("darts", "nb201")

    def __init__(self, config: MethodConfig, search: DartsSearchConfig, supernet: Supernet, reduce: Any) -> None:
        self.config = config
        self.search = search
        self.supernet = supernet
        self.reduce = reduce  # DDP: in-place mean of gradient lists over ranks (identity in one process)
        supernet.set_sampler(self.sample)

    @classmethod  # noqa: B027 - an optional hook, not abstract
    def check(cls, config: MethodConfig, search: DartsSearchConfig) -> None:
        """Cross-field checks against the whole search config; raise ValueError("field: why")."""

    # -- the forward pass --------------------------------------------------------

    @abstractmethod
    def sample(self, training: bool) -> Mapping[str, CellArch]:
        """The architecture of the next forward pass (installed as the supernet's sampler)."""

    # -- the architecture update -------------------------------------------------

    def arch_optimizer(self) -> torch.optim.Optimizer | None:
        """The optimizer of the architecture parameters (DDP syncs its gradients); None without one."""
        return None

    def arch_step(
        self,
        train: tuple[torch.Tensor, torch.Tensor],
        val: tuple[torch.Tensor, torch.Tensor],
        *,
        w_lr: float,
        w_optimizer: torch.optim.Optimizer,
    ) -> ArchStep:
        """One architecture update on a validation batch (the train batch for unrolled steps)."""
        return ArchStep()

    def begin_epoch(self, epoch: int, epochs: int) -> dict[str, float]:
        """Per-epoch schedules (temperature, regulariser weight); returned values go into the history row."""
        return {}

    # -- reading the result ------------------------------------------------------

    def weights(self) -> dict[str, torch.Tensor]:
        """Detached operation weights per cell type (what the history and ``alphas.json`` show)."""
        with torch.no_grad():
            return {k: torch.softmax(a, dim=-1).detach().clone() for k, a in self.supernet.cell_alphas().items()}

    def derive(self, max_skip: int | None = None) -> Genotype:
        """The cell the method would return now (the argmax rule of its space unless it says otherwise)."""
        return self.supernet.genotype_from(self.weights(), max_skip)

    def end_epoch(self, epoch: int, epochs: int, evaluator: Any) -> dict[str, Any]:
        """After an epoch's training (e.g. SPOS's candidate search); returned dict goes into the history row."""
        return {}

    # -- resume --------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything besides the supernet's own state a resumed search needs."""
        opt = self.arch_optimizer()
        return {"optimizer": opt.state_dict()} if opt is not None else {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output (a one-line error in the caller when it does not fit)."""
        opt = self.arch_optimizer()
        if opt is not None:
            if "optimizer" not in state:
                raise KeyError("optimizer")
            opt.load_state_dict(state["optimizer"])
