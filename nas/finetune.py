"""Fine-tuning: move trained weights into a new network bottom-up, and choose what trains.

:func:`transfer_weights` walks the *layers* of both networks in module registration
order (a layer is a module holding parameters or buffers of its own: a convolution,
a batch norm with its running statistics, a linear layer). Layer ``i`` of the model
takes the tensors of layer ``i`` of the checkpoint when the two hold the same tensor
names with the same shapes; the walk stops at the first layer that differs, so only
a matching *prefix* (the stem and the lower layers, the general features) is loaded.
Matching by position rather than by name lets weights move between networks whose
modules are named differently; stopping at the first mismatch keeps a later layer
that happens to have the same shape from receiving weights trained for another role.

:func:`freeze` then makes everything, only the final classifier, or only the last
``K`` layers trainable.

Auxiliary heads (submodules named ``*auxiliary*``) take part in the transfer only
when both sides have one, and stay frozen except in ``freeze(model, "all")``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nas.errors import NasError

__all__ = ["TransferReport", "freeze", "load_state_dict_file", "transfer_weights"]

FREEZE_MODES = "'all', 'head' or 'top:K' (K a positive integer)"


def _is_auxiliary(name: str) -> bool:
    return "auxiliary" in name


def _group(state: Mapping[str, torch.Tensor]) -> list[tuple[str, dict[str, torch.Tensor]]]:
    """Split state-dict keys into layers (``prefix.local``), keeping the saved order."""
    groups: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        prefix, _, local = key.rpartition(".")
        groups.setdefault(prefix, {})[local] = value
    return list(groups.items())


def load_state_dict_file(path: str | Path) -> dict[str, torch.Tensor]:
    """A model state dict from ``path``: a raw state dict (``best.pt``) or a checkpoint with ``model``.

    Loaded with ``weights_only=True``. A ``module.`` prefix (DataParallel) is removed.
    """
    p = Path(path)
    if not p.is_file():
        raise NasError(f"{p}: checkpoint not found")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt, truncated, or not a weights-only file
        reason = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0]
        raise NasError(f"{p}: cannot read checkpoint ({reason[:160]})") from None
    if isinstance(obj, dict):
        for key in ("model", "state_dict", "model_state_dict"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise NasError(f"{p}: expected a state dict of tensors (or a checkpoint holding one under 'model')")
    if all(k.startswith("module.") for k in obj):
        obj = {k.removeprefix("module."): v for k, v in obj.items()}
    return obj


@dataclass
class TransferReport:
    """What :func:`transfer_weights` did. Layer names are the model's (``loaded``) and the checkpoint's."""

    loaded: list[tuple[str, str]] = field(default_factory=list)  # (model layer, checkpoint layer)
    not_loaded: list[str] = field(default_factory=list)  # model layers left as they were
    unused: list[str] = field(default_factory=list)  # checkpoint layers not loaded anywhere
    stopped_at: str | None = None  # the model layer where the walk stopped
    reason: str = ""  # why it stopped ("" when everything loaded)
    tensors: int = 0  # tensors copied
    elements: int = 0  # numbers copied

    @property
    def complete(self) -> bool:
        return not self.not_loaded

    def summary(self) -> str:
        """One line for logs."""
        n = len(self.loaded)
        total = n + len(self.not_loaded)
        text = f"loaded {n}/{total} layers ({self.elements:,} values)"
        if self.stopped_at is not None:
            text += f"; stopped at {self.stopped_at}: {self.reason}"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {
            "loaded": [list(p) for p in self.loaded],
            "not_loaded": list(self.not_loaded),
            "unused": list(self.unused),
            "stopped_at": self.stopped_at,
            "reason": self.reason,
            "tensors": self.tensors,
            "elements": self.elements,
        }


def _difference(own: Mapping[str, torch.Tensor], theirs: Mapping[str, torch.Tensor]) -> str:
    if set(own) != set(theirs):
        return f"holds {', '.join(sorted(own))}, the checkpoint layer {', '.join(sorted(theirs))}"
    for k in own:
        if tuple(own[k].shape) != tuple(theirs[k].shape):
            return f"{k} has shape {list(own[k].shape)}, the checkpoint's {list(theirs[k].shape)}"
    return ""


def transfer_weights(
    model: nn.Module, state_dict: Mapping[str, torch.Tensor] | str | Path, *, include_auxiliary: bool | None = None
) -> TransferReport:
    """Copy checkpoint layers into ``model`` bottom-up until the first layer that does not match.

    ``state_dict``: a state dict or a file (see :func:`load_state_dict_file`).
    ``include_auxiliary``: whether auxiliary-head layers take part (default: when both
    the model and the checkpoint have them). The model's other layers are untouched.
    """
    if isinstance(state_dict, (str, Path)):
        state_dict = load_state_dict_file(state_dict)
    if not isinstance(state_dict, Mapping) or not all(isinstance(v, torch.Tensor) for v in state_dict.values()):
        raise NasError("state_dict: expected a mapping of names to tensors")
    theirs = _group(state_dict)
    own_state = model.state_dict(keep_vars=True)
    ours = _group(own_state)
    if include_auxiliary is None:
        include_auxiliary = any(_is_auxiliary(n) for n, _ in theirs) and any(_is_auxiliary(n) for n, _ in ours)
    if not include_auxiliary:
        theirs = [(n, t) for n, t in theirs if not _is_auxiliary(n)]
        ours_used = [(n, t) for n, t in ours if not _is_auxiliary(n)]
    else:
        ours_used = ours
    report = TransferReport()
    with torch.no_grad():
        for k, (name, tensors) in enumerate(ours_used):
            if k >= len(theirs):
                report.stopped_at, report.reason = name or "(root)", "the checkpoint has no more layers"
                break
            src_name, src = theirs[k]
            why = _difference(tensors, src)
            if why:
                report.stopped_at, report.reason = name or "(root)", why
                break
            for local, dst in tensors.items():
                dst.copy_(src[local])
                report.tensors += 1
                report.elements += dst.numel()
            report.loaded.append((name, src_name))
    loaded_names = {n for n, _ in report.loaded}
    report.not_loaded = [n for n, _ in ours if n not in loaded_names]
    report.unused = [n for n, _ in theirs[len(report.loaded) :]]
    return report


def _parse_mode(mode: Any) -> tuple[str, int]:
    if not isinstance(mode, str):
        raise NasError(f"freeze: expected {FREEZE_MODES}, got {mode!r}")
    m = mode.strip().lower()
    if m in ("all", "head"):
        return m, 0
    match = re.fullmatch(r"top:(\d+)", m)
    if match and int(match.group(1)) > 0:
        return "top", int(match.group(1))
    raise NasError(f"freeze: expected {FREEZE_MODES}, got {mode!r}")


def freeze(model: nn.Module, mode: str) -> list[str]:
    """Set ``requires_grad`` for fine-tuning and return the names of the trainable layers.

    ``all``: train everything. ``head``: only the final classifier (the last
    ``nn.Linear`` outside auxiliary heads). ``top:K``: only the last ``K`` layers that
    have parameters (auxiliary heads excluded; ``K`` larger than the count trains them
    all). Frozen batch-norm layers still update their running statistics in training
    mode; put them in ``eval()`` if that is not wanted.
    """
    kind, k = _parse_mode(mode)
    layers = [(n, m) for n, m in model.named_modules() if any(True for _ in m.parameters(recurse=False))]
    if kind == "all":
        for p in model.parameters():
            p.requires_grad_(True)
        return [n for n, _ in layers]
    main = [(n, m) for n, m in layers if not _is_auxiliary(n)]
    if kind == "head":
        linears = [(n, m) for n, m in main if isinstance(m, nn.Linear)]
        if not linears:
            raise NasError(f"freeze: 'head' needs a final nn.Linear classifier; {type(model).__name__} has none")
        chosen = [linears[-1]]
    else:
        chosen = main[-k:]
    for p in model.parameters():
        p.requires_grad_(False)
    for _, m in chosen:
        for p in m.parameters(recurse=False):
            p.requires_grad_(True)
    return [n for n, _ in chosen]
