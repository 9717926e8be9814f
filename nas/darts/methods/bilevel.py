"""What every gradient-based method shares: Adam on the alphas against the validation loss.

DARTS (Liu et al., 2019) alternates a weight step on one half of the training data and an
architecture step on the other; :class:`~nas.darts.architect.Architect` takes that step,
first order or with the unrolled second-order gradient. A subclass changes only what is
its own: how alphas become weights (:meth:`BilevelMethod.op_weights`), an extra term of
the architecture loss (:meth:`BilevelMethod.regulariser`), a schedule (``begin_epoch``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import torch
from torch import nn

from nas.darts.architect import Architect
from nas.darts.methods.base import ArchStep, CellArch, MethodConfig, SearchMethod, Supernet

__all__ = ["BilevelConfig", "BilevelMethod"]


class BilevelConfig(MethodConfig):
    """``order``: first (the architecture gradient at the current weights) or second (unrolled)."""

    order: Literal["first", "second"] = "first"


class BilevelMethod(SearchMethod):
    """Architecture parameters trained by :class:`Architect` (see module doc)."""

    def __init__(self, config: MethodConfig, search: Any, supernet: Supernet, reduce: Any) -> None:
        super().__init__(config, search, supernet, reduce)
        arch, opt = search.arch_optimizer, search.optimizer
        self.architect = Architect(
            supernet,  # type: ignore[arg-type]
            lr=arch.lr,
            betas=arch.betas,
            weight_decay=arch.weight_decay,
            second_order=getattr(config, "order", "first") == "second",
            w_momentum=opt.momentum,
            w_weight_decay=opt.weight_decay,
            extra_loss=self._extra_loss,
            reduce=reduce,
        )

    def op_weights(self, alpha: torch.Tensor) -> torch.Tensor:
        """Operation weights of one cell type's alphas ``[edges, ops]`` (DARTS: softmax per edge)."""
        return torch.softmax(alpha, dim=-1)

    def regulariser(self, alphas: Mapping[str, nn.Parameter]) -> torch.Tensor | None:
        """An extra term of the architecture loss (None: none)."""
        return None

    def _extra_loss(self, _model: nn.Module) -> torch.Tensor | None:
        return self.regulariser(self.supernet.cell_alphas())

    def sample(self, training: bool) -> dict[str, CellArch]:
        return {
            ct: CellArch(self.op_weights(a), self.supernet.edge_weights(ct))  # type: ignore[attr-defined]
            for ct, a in self.supernet.cell_alphas().items()
        }

    def weights(self) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            return {ct: self.op_weights(a).detach().clone() for ct, a in self.supernet.cell_alphas().items()}

    def arch_optimizer(self) -> torch.optim.Optimizer:
        return self.architect.optimizer

    def arch_step(
        self,
        train: tuple[torch.Tensor, torch.Tensor],
        val: tuple[torch.Tensor, torch.Tensor],
        *,
        w_lr: float,
        w_optimizer: torch.optim.Optimizer,
    ) -> ArchStep:
        info = self.architect.step(*train, *val, w_lr=w_lr, w_optimizer=w_optimizer)
        return ArchStep(loss=info.get("val_loss"))
