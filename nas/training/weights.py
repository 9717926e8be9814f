"""Model weights in and out of a training run: a detached copy of the best epoch, and strict loading.

A state dict loaded into a network must fit it exactly: a missing, unexpected or
differently shaped tensor is a one-line error naming the file, never a half-loaded model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from nas.errors import NasError


def clone_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A detached CPU copy of ``module.state_dict()`` (kept as the best model so far)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}


def load_weights(module: torch.nn.Module, state: Any, path: str | Path) -> None:
    """Load a state dict, with a one-line error naming ``path`` when keys or shapes differ."""
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise NasError(f"{path}: expected a model state dict of tensors")
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        raise NasError(f"{path}: weights do not match the model: {', '.join(parts)} keys")
    for key, value in own.items():
        if tuple(state[key].shape) != tuple(value.shape):
            raise NasError(
                f"{path}: weights do not match the model: {key} has shape {tuple(state[key].shape)}, "
                f"the model expects {tuple(value.shape)}"
            )
    module.load_state_dict(state)
