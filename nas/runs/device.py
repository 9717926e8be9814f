"""The device a job runs on, chosen once and checked with a one-line error."""

from __future__ import annotations

import os
import sys

import torch

from nas.errors import NasError

_warned: set[str] = set()


def _say_once(message: str) -> None:
    """One line on stderr per process (a trial resolves its device more than once)."""
    if message not in _warned:
        _warned.add(message)
        print(message, file=sys.stderr, flush=True)


def resolve_device(name: str) -> torch.device:
    """``auto`` is CUDA when available, else the CPU; ``cpu``, ``cuda``, ``cuda:N`` and ``mps`` are checked.

    Ray gives a GPU trial its GPUs through ``CUDA_VISIBLE_DEVICES``, which torch follows
    (``cuda:0`` is the first of them). A node may declare GPUs it lacks (``ray start
    --num-gpus``): then ``auto`` falls back to the CPU with one warning line, so the trial
    runs instead of crashing.
    """
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").strip()
        if visible and visible not in ("-1", "none", "NoDevFiles"):
            _say_once(f"warning: CUDA_VISIBLE_DEVICES={visible} is set but CUDA is not available here; using cpu")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise NasError(f"device: expected cpu, cuda, cuda:N or auto, got {name!r}") from None
    if device.type not in ("cpu", "cuda", "mps"):
        raise NasError(f"device: expected cpu, cuda, cuda:N or auto, got {name!r}")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise NasError("device: mps was asked for but Apple's MPS is not available here (use auto or cpu)")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise NasError(f"device: {name} was asked for but CUDA is not available here (use auto or cpu)")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise NasError(f"device: {name} does not exist ({torch.cuda.device_count()} CUDA devices)")
    return device
