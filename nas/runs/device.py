"""The device a job runs on, chosen once and checked with a one-line error."""

from __future__ import annotations

import torch

from nas.errors import NasError


def resolve_device(name: str) -> torch.device:
    """``auto`` is CUDA when available, else the CPU; ``cpu``, ``cuda``, ``cuda:N`` and ``mps`` are checked."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
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
