"""The bilevel architecture optimizer of DARTS (first and second order).

``step`` computes the gradient of the validation loss w.r.t. the architecture
parameters and takes one Adam step on them (betas (0.5, 0.999), weight decay 1e-3 as
in DARTS). It never changes the network weights.

* First order: ``grad_alpha L_val(w, alpha)`` at the current weights. Only the alphas'
  gradient is computed (the weights' gradients are not needed, and not accumulated).
* Second order (the paper's unrolled step): a virtual SGD step
  ``w' = w - xi * (grad_w L_train(w) + momentum * buffer + weight_decay * w)`` with
  ``xi`` the weights' learning rate and the momentum buffer of the weight optimizer;
  then ``grad_alpha L_val(w', alpha) - xi * H dw'`` where ``dw' = grad_w' L_val(w', alpha)``
  and ``H dw' = grad^2_{alpha, w} L_train(w, alpha) dw'`` is the central finite difference
  ``(grad_alpha L_train(w + eps dw') - grad_alpha L_train(w - eps dw')) / (2 eps)`` with
  ``eps = 0.01 / ||dw'||``, evaluated at the *current* weights ``w`` as in the paper (one
  version of the reference code evaluates it at ``w'``, and adds weight decay to ``dw'``).
  The weights are modified in place and restored bit for bit from a copy (no model
  clone); the batch-norm running statistics, which the virtual passes would otherwise
  update, are restored as well.

In the first-order step the validation forward pass updates the batch-norm running
statistics, as in the reference.

Data parallel (``reduce``): under DDP each rank holds a shard of the batch. ``reduce``
(e.g. a mean over ranks, in place) is applied to the weight gradients the second-order
step builds on: ``grad_w L_train`` of the virtual step and ``dw'``, so every rank takes
the *same* virtual step, on the whole batch's gradient, and the same ``eps``, as one
process does. The architecture gradients are averaged by the caller before Adam.

``extra_loss(model)`` (e.g. the Fair DARTS zero-one loss) is added to the validation loss
(it may return None: nothing to add this step).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nas.errors import NasError

__all__ = ["Architect"]

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _flat_norm(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.sqrt(sum((t.double() ** 2).sum() for t in tensors))


class Architect:
    """Adam on the architecture parameters of ``model`` against the validation loss (see module doc)."""

    def __init__(
        self,
        model: nn.Module,
        *,
        lr: float = 3e-4,
        betas: tuple[float, float] = (0.5, 0.999),
        weight_decay: float = 1e-3,
        second_order: bool = False,
        w_momentum: float = 0.9,
        w_weight_decay: float = 3e-4,
        extra_loss: Callable[[nn.Module], torch.Tensor | None] | None = None,
        loss_fn: LossFn | None = None,
        grad_clip: float | None = None,
        fd_radius: float = 0.01,
        reduce: Callable[[list[torch.Tensor]], None] | None = None,
    ) -> None:
        for name, value in (("lr", lr), ("weight_decay", weight_decay), ("w_momentum", w_momentum)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise NasError(f"architect {name}: expected a non-negative number, got {value!r}")
        self.model = model
        self.arch_params = list(model.arch_parameters())
        if not self.arch_params:
            raise NasError("architect: the model has no architecture parameters")
        self.second_order = bool(second_order)
        self.w_momentum = float(w_momentum)
        self.w_weight_decay = float(w_weight_decay)
        self.extra_loss = extra_loss
        self.loss_fn: LossFn = loss_fn or F.cross_entropy
        self.grad_clip = grad_clip
        self.fd_radius = fd_radius
        self.reduce = reduce
        self.optimizer = torch.optim.Adam(self.arch_params, lr=lr, betas=tuple(betas), weight_decay=weight_decay)

    # -- helpers -----------------------------------------------------------------

    def _weights(self) -> list[nn.Parameter]:
        arch = {id(p) for p in self.arch_params}
        return [p for p in self.model.weight_parameters() if p.requires_grad and id(p) not in arch]

    def _loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        out = self.model(x)
        if isinstance(out, tuple):
            out = out[0]
        return self.loss_fn(out, y)

    def _grads(self, loss: torch.Tensor, params: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        grads = torch.autograd.grad(loss, list(params), allow_unused=True)
        return [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]

    def hessian_vector_product(
        self, vector: Sequence[torch.Tensor], x: torch.Tensor, y: torch.Tensor, radius: float | None = None
    ) -> list[torch.Tensor]:
        """``grad^2_{alpha, w} L(w, alpha) vector`` by central differences at the current weights.

        ``eps = radius / ||vector||`` (radius 0.01 by default, as in DARTS). The weights are
        restored exactly afterwards (from a copy).
        """
        weights = self._weights()
        if len(vector) != len(weights):
            raise NasError(f"vector: expected {len(weights)} tensors (one per weight), got {len(vector)}")
        r = self.fd_radius if radius is None else radius
        norm = float(_flat_norm(vector))
        eps = r / norm if norm > 0 else r
        with torch.no_grad():
            backup = [p.detach().clone() for p in weights]
        try:
            with torch.no_grad():
                for p, v in zip(weights, vector):
                    p.add_(v, alpha=eps)
            g_plus = self._grads(self._loss(x, y), self.arch_params)
            with torch.no_grad():
                for p, b, v in zip(weights, backup, vector):
                    p.copy_(b).sub_(v, alpha=eps)
            g_minus = self._grads(self._loss(x, y), self.arch_params)
        finally:
            with torch.no_grad():
                for p, b in zip(weights, backup):
                    p.copy_(b)
        return [(gp - gm).div_(2 * eps) for gp, gm in zip(g_plus, g_minus)]

    def _unrolled(
        self,
        train_x: torch.Tensor,
        train_y: torch.Tensor,
        val_x: torch.Tensor,
        val_y: torch.Tensor,
        w_lr: float,
        w_optimizer: torch.optim.Optimizer | None,
    ) -> tuple[list[torch.Tensor], dict[str, float]]:
        weights = self._weights()
        buffers = [b for b in self.model.buffers()]
        with torch.no_grad():
            saved_buffers = [b.detach().clone() for b in buffers]
            backup = [p.detach().clone() for p in weights]
        info: dict[str, float] = {}
        try:
            train_loss = self._loss(train_x, train_y)
            info["train_loss"] = float(train_loss.detach())
            dw = self._grads(train_loss, weights)
            del train_loss
            if self.reduce is not None:
                self.reduce(dw)
            state = w_optimizer.state if w_optimizer is not None else {}
            with torch.no_grad():
                for p, g in zip(weights, dw):
                    step = g.add(p, alpha=self.w_weight_decay)
                    buf = state.get(p, {}).get("momentum_buffer") if state else None
                    if buf is not None:
                        step.add_(buf, alpha=self.w_momentum)
                    p.sub_(step, alpha=w_lr)
            del dw
            val_loss = self._loss(val_x, val_y)
            info["val_loss"] = float(val_loss.detach())
            extra = self.extra_loss(self.model) if self.extra_loss is not None else None
            if extra is not None:
                info["extra_loss"] = float(extra.detach())
                val_loss = val_loss + extra
            grads = self._grads(val_loss, self.arch_params + weights)
            del val_loss
            g_alpha, g_w = grads[: len(self.arch_params)], grads[len(self.arch_params) :]
            if self.reduce is not None:
                self.reduce(g_w)
            with torch.no_grad():
                for p, b in zip(weights, backup):
                    p.copy_(b)
            hvp = self.hessian_vector_product(g_w, train_x, train_y)
            for g, h in zip(g_alpha, hvp):
                g.sub_(h, alpha=w_lr)
        finally:
            with torch.no_grad():
                for p, b in zip(weights, backup):
                    p.copy_(b)
                for b, s in zip(buffers, saved_buffers):
                    b.copy_(s)
        return g_alpha, info

    # -- the step --------------------------------------------------------------------

    def step(
        self,
        train_x: torch.Tensor,
        train_y: torch.Tensor,
        val_x: torch.Tensor,
        val_y: torch.Tensor,
        *,
        w_lr: float,
        w_optimizer: torch.optim.Optimizer | None = None,
    ) -> dict[str, float]:
        """One architecture step; returns ``val_loss``, ``arch_grad_norm`` (and ``train_loss`` when second order)."""
        if self.second_order:
            grads, info = self._unrolled(train_x, train_y, val_x, val_y, w_lr, w_optimizer)
        else:
            info = {}
            loss = self._loss(val_x, val_y)
            info["val_loss"] = float(loss.detach())
            extra = self.extra_loss(self.model) if self.extra_loss is not None else None
            if extra is not None:
                info["extra_loss"] = float(extra.detach())
                loss = loss + extra
            grads = self._grads(loss, self.arch_params)
        for p, g in zip(self.arch_params, grads):
            p.grad = g.detach()
        if self.grad_clip is not None:
            norm = nn.utils.clip_grad_norm_(self.arch_params, self.grad_clip)
        else:
            norm = _flat_norm([p.grad for p in self.arch_params])
        info["arch_grad_norm"] = float(norm)
        self.optimizer.step()
        return info

    # -- resume ------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """The Adam state (for resuming a search)."""
        return {"optimizer": self.optimizer.state_dict(), "second_order": self.second_order}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        if not isinstance(state, dict) or "optimizer" not in state:
            raise NasError("architect state: expected a dict with an 'optimizer' entry")
        self.optimizer.load_state_dict(state["optimizer"])
