"""Model size and cost: parameters, FLOPs and multiply-adds.

Conventions follow the papers' tables: parameter counts exclude the auxiliary head
(its parameters live under a submodule whose name contains ``auxiliary``) unless asked,
and FLOPs are counted by :class:`torch.utils.flop_counter.FlopCounterMode`, which
counts 2 per multiply-add; papers usually quote multiply-adds (``count_macs``).

Start-up: torch wraps every dispatch mode's ``__torch_dispatch__`` in ``torch._disable_dynamo``,
which imports ``torch._dynamo`` (~1.4 s, as long as ``import torch`` itself) on the first
counted operation. While ``torch._dynamo`` is not loaded nothing in the process can be
compiling, so that wrapper has nothing to disable: :func:`count_flops` then counts with
:class:`_FlopCounter`, the same counter and formulas without the wrapper (``nas show``
~1.4 s sooner). On a meta-device model the shape functions of batch norm import
``torch._dynamo`` anyway, so count on CPU for speed.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn
from torch.utils import flop_counter
from torch.utils.flop_counter import FlopCounterMode

from nas.errors import NasError

__all__ = ["ModelSummary", "count_flops", "count_macs", "count_parameters", "summarize"]


def count_parameters(model: nn.Module, *, include_auxiliary: bool = False) -> int:
    """Number of parameters, excluding those whose name contains ``auxiliary`` unless asked."""
    return sum(p.numel() for name, p in model.named_parameters() if include_auxiliary or "auxiliary" not in name)


def _check_input_size(input_size: Any) -> tuple[int, ...]:
    if (
        isinstance(input_size, (str, bytes))
        or not isinstance(input_size, (list, tuple))
        or len(input_size) < 2
        or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in input_size)
    ):
        raise NasError(f"input_size: expected a tuple of positive integers like (1, 3, 32, 32), got {input_size!r}")
    return tuple(input_size)


def _undecorated_mode() -> type | None:
    """torch's flop-counting dispatch mode without the ``torch._disable_dynamo`` wrapper (None if torch changed)."""
    base = getattr(flop_counter, "_FlopCounterMode", None)
    dispatch = getattr(base, "__dict__", {}).get("__torch_dispatch__") if base else None
    raw = getattr(dispatch, "__wrapped__", None)
    if base is None or raw is None or not hasattr(base, "_should_skip_dynamo"):
        return None

    def _should_skip_dynamo(cls: type) -> bool:
        return False  # so TorchDispatchMode.__init_subclass__ does not wrap `raw` again

    return type(
        "_UndecoratedFlopMode",
        (base,),
        {"__torch_dispatch__": raw, "_should_skip_dynamo": classmethod(_should_skip_dynamo)},
    )


_UNDECORATED_MODE = _undecorated_mode()


class _FlopCounter(FlopCounterMode):
    """:class:`FlopCounterMode` whose dispatch mode does not import ``torch._dynamo`` (see the module docstring)."""

    def __enter__(self) -> _FlopCounter:
        self.flop_counts.clear()
        self.mod_tracker.__enter__()
        self.mode = _UNDECORATED_MODE(self)  # type: ignore[misc]
        self.mode.__enter__()
        return self


def _counter() -> FlopCounterMode:
    if _UNDECORATED_MODE is None or "torch._dynamo" in sys.modules:
        return FlopCounterMode(display=False)
    return _FlopCounter(display=False)


def count_flops(model: nn.Module, input_size: tuple[int, ...] = (1, 3, 32, 32)) -> int:
    """FLOPs of one inference forward pass (2 per multiply-add) on a zero input of ``input_size``.

    Runs in eval mode under ``no_grad`` (so auxiliary heads and drop-path are off) on
    the model's device and dtype, then restores the model's training mode.
    """
    shape = _check_input_size(input_size)
    param = next(iter(model.parameters()), None)
    device = param.device if param is not None else torch.device("cpu")
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    was_training = model.training
    model.eval()
    try:
        counter = _counter()
        with torch.no_grad(), counter:
            model(torch.zeros(shape, device=device, dtype=dtype))
        return int(counter.get_total_flops())
    finally:
        model.train(was_training)


def count_macs(model: nn.Module, input_size: tuple[int, ...] = (1, 3, 32, 32)) -> int:
    """Multiply-adds of one forward pass (``count_flops // 2``), the figure papers quote."""
    return count_flops(model, input_size) // 2


@dataclass(frozen=True)
class ModelSummary:
    """Size and cost of a model for reports and leaderboards."""

    params: int
    params_with_auxiliary: int
    flops: int
    macs: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    def __str__(self) -> str:
        return (
            f"params {self.params / 1e6:.3f}M (with auxiliary {self.params_with_auxiliary / 1e6:.3f}M), "
            f"{self.macs / 1e6:.1f}M multiply-adds ({self.flops / 1e6:.1f}M FLOPs)"
        )


def summarize(model: nn.Module, input_size: tuple[int, ...] = (1, 3, 32, 32)) -> ModelSummary:
    """Parameters (without and with the auxiliary head), FLOPs and multiply-adds of ``model``."""
    flops = count_flops(model, input_size)
    return ModelSummary(
        params=count_parameters(model),
        params_with_auxiliary=count_parameters(model, include_auxiliary=True),
        flops=flops,
        macs=flops // 2,
    )
