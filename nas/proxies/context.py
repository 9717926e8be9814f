"""What every score works on: the network, one minibatch, and the rule that nothing changes.

:func:`preserved` is the no-side-effects guarantee of :func:`nas.proxies.score`: every
module's train/eval mode, every parameter's ``requires_grad`` and ``.grad``, and every
buffer (batch-norm running statistics and counters) are put back as they were, even
when a score fails. Scores compute gradients with :func:`torch.autograd.grad`, so they
never write ``.grad`` in the first place.

:class:`ScoringContext` also caches the one pass several scores share (the
training-mode forward pass, with the backward passes, that ``naswot``, ``snip``,
``grad_norm``, ``fisher`` and ``jacov`` read; see :mod:`nas.proxies.passes`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nas.errors import NasError

__all__ = ["Batch", "ScoringContext", "logits_of", "preserved", "weight_layers"]


@dataclass(frozen=True, eq=False)
class Batch:
    """One minibatch: float images ``[N, C, H, W]`` (normalised) and int64 labels ``[N]``."""

    images: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self) -> None:
        x, y = self.images, self.labels
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or not x.is_floating_point():
            raise NasError(f"batch: images must be a float tensor [N, C, H, W], got {_desc(x)}")
        if not isinstance(y, torch.Tensor) or y.dim() != 1 or y.dtype != torch.int64 or len(y) != len(x):
            raise NasError(f"batch: labels must be an int64 tensor [{len(x)}], got {_desc(y)}")
        if len(x) < 2:
            raise NasError(f"batch: expected at least 2 images (the scores compare samples), got {len(x)}")

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def to(self, device: torch.device, dtype: torch.dtype) -> Batch:
        return Batch(self.images.to(device=device, dtype=dtype), self.labels.to(device))

    def split(self, parts: int) -> list[Batch]:
        """``parts`` consecutive minibatches of (nearly) equal size."""
        if len(self) < 2 * parts:
            raise NasError(f"batch: {parts} minibatches of at least 2 images need {2 * parts} images, got {len(self)}")
        return [Batch(x, y) for x, y in zip(self.images.tensor_split(parts), self.labels.tensor_split(parts))]


def _desc(t: Any) -> str:
    if isinstance(t, torch.Tensor):
        return f"{str(t.dtype).removeprefix('torch.')} {list(t.shape)}"
    return type(t).__name__


def weight_layers(model: nn.Module) -> list[nn.Module]:
    """The layers every reference scores: convolutions and fully connected layers (each once)."""
    return [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def logits_of(output: Any) -> torch.Tensor:
    """The main logits of a forward pass (networks with auxiliary heads return a tuple in training)."""
    if isinstance(output, (tuple, list)):
        output = output[0]
    if not isinstance(output, torch.Tensor):
        raise NasError(f"network output: expected a tensor of logits, got {type(output).__name__}")
    return output


@contextlib.contextmanager
def preserved(model: nn.Module) -> Iterator[None]:
    """Restore modes, ``requires_grad``, ``.grad`` and buffers of ``model`` on exit."""
    modes = [(m, m.training) for m in model.modules()]
    params = list(model.parameters())
    flags = [p.requires_grad for p in params]
    grads = [p.grad for p in params]
    buffers = [(b, b.detach().clone()) for b in model.buffers()]
    try:
        yield
    finally:
        with torch.no_grad():
            for b, saved in buffers:
                b.copy_(saved)
        for p, flag, grad in zip(params, flags, grads):
            p.requires_grad_(flag)
            p.grad = grad
        for m, mode in modes:
            m.training = mode


@dataclass
class ScoringContext:
    """The network (in training mode, as every reference scores it), the minibatch and the shared pass.

    ``needs`` are the products of the shared training-mode pass (:mod:`nas.proxies.passes`)
    that the scores being computed read; the pass runs once and records all of them.
    """

    model: nn.Module
    batch: Batch
    seed: int
    needs: frozenset[str] = frozenset()
    #: Runs the shared pass (:func:`nas.proxies.passes.run_train_pass`; given by the caller, so that this
    #: module, which the scores import, does not import the pass, which imports the scores' probes).
    run_pass: Callable[[nn.Module, Batch, frozenset[str]], Any] | None = None
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def train_pass(self, product: str) -> Any:
        """``product`` of the shared pass (e.g. ``"ce_grads"``), running the pass on first use."""
        if self.run_pass is None:
            raise RuntimeError("ScoringContext.run_pass is not set (build contexts with nas.proxies.api)")
        needs = self.needs | {product}
        cached = self._cache.get("train_pass")
        if cached is None or not needs <= cached[0]:
            self._cache["train_pass"] = (needs, self.run_pass(self.model, self.batch, needs))
        return self._cache["train_pass"][1]


def weight_gradients(model: nn.Module, layers: list[nn.Module], batch: Batch) -> list[torch.Tensor]:
    """Gradients of the mean cross-entropy on ``batch`` w.r.t. the layers' weights (``.grad`` untouched)."""
    weights = [m.weight for m in layers]
    for w in weights:
        w.requires_grad_(True)  # restored by preserved()
    loss = F.cross_entropy(logits_of(model(batch.images)), batch.labels)
    grads = torch.autograd.grad(loss, weights, allow_unused=True)
    return [torch.zeros_like(w) if g is None else g for w, g in zip(weights, grads)]
