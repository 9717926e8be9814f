"""A supernet trained with its architecture weights frozen at initialisation (near-uniform softmax).

DARTS-PT's "fix α" variant (Wang et al., ICLR 2021: ``--method blank`` in ``ruocwang/darts-pt``)
trains the supernet's weights only, every operation weighted by ``softmax(alpha)`` of the
``1e-3 * randn`` initial alphas, and leaves the choice to a selection that measures the trained
supernet (``selection: darts_pt``). Its own arg-max read-out is close to a random cell.
"""

from __future__ import annotations

from typing import Literal

import torch

from nas.darts.methods.base import CellArch, MethodConfig, SearchMethod


class FixedAlphaConfig(MethodConfig):
    """No options: the alphas keep their initial values."""

    name: Literal["fixed_alpha"] = "fixed_alpha"


class FixedAlpha(SearchMethod):
    name = "fixed_alpha"
    Config = FixedAlphaConfig
    description = "weights only, alphas frozen at init (DARTS-PT's fix-alpha supernet)"
    trains_arch = False

    def sample(self, training: bool) -> dict[str, CellArch]:
        return {
            ct: CellArch(torch.softmax(a.detach(), dim=-1), self.supernet.edge_weights(ct))  # type: ignore[attr-defined]
            for ct, a in self.supernet.cell_alphas().items()
        }
