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

``nas train --init-from RUN_DIR --finetune MODE`` is :func:`finetune_args` (which file,
which mode) and :func:`prepare_finetune` (transfer into a fresh run, or only freeze again
when resuming one); the run directory records both in ``meta.finetune`` and ``transfer.json``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nas.errors import NasError
from nas.runs.atomic import load_torch, read_json
from nas.runs.rundir import previous_name
from nas.training.finished import weights_path
from nas.training.record import CHECKPOINT_FILE, CONFIG_FILE
from nas.training.result import RESULT_FILE

__all__ = [
    "TRANSFER_FILE",
    "TransferReport",
    "finetune_args",
    "freeze",
    "load_state_dict_file",
    "prepare_finetune",
    "refuse_finetuning_run",
    "transfer_weights",
]

#: Written into a fine-tuning run directory: where its weights came from and what was loaded.
TRANSFER_FILE = "transfer.json"

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
    obj = load_torch(p, "checkpoint")
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


# --------------------------------------------------------------------------- #
# nas train --init-from RUN_DIR --finetune MODE
# --------------------------------------------------------------------------- #


def finetune_args(init_from: str | None, finetune: str | None) -> tuple[Path | None, str]:
    """``--init-from`` as the weights file to load and ``--finetune`` checked (default ``all``)."""
    if init_from is None:
        if finetune is not None:
            raise NasError("--finetune: needs --init-from RUN_DIR (the trained run whose weights are fine-tuned)")
        return None, "all"
    mode = "all" if finetune is None else finetune.strip().lower()
    try:
        _parse_mode(mode)
    except NasError:
        raise NasError(f"--finetune: expected {FREEZE_MODES}, got {finetune!r}") from None
    return _init_weights(Path(init_from)), mode


def _init_weights(src: Path) -> Path:
    """The model file of ``--init-from``: a run's selected model (best.pt or final.pt), or a weights file."""
    if src.is_file():
        return src
    if not src.is_dir():
        raise NasError(f"--init-from {src}: not found; expected a run directory written by `nas train`")
    if not (src / CONFIG_FILE).is_file():
        seeds = sorted(p.name for p in src.glob("seed-*") if (p / CONFIG_FILE).is_file())
        if seeds:
            raise NasError(f"--init-from {src}: holds several seeds; pick one of them ({', '.join(seeds)})")
    try:
        return weights_path(src, "selected")
    except NasError as exc:
        if "not found" not in str(exc):
            raise
        raise NasError(
            f"--init-from {src}: no model file (best.pt or final.pt); expected a run directory written by `nas train`"
        ) from None


def _previous_finetune(run_dir: Path) -> dict[str, Any] | None:
    """The ``finetune`` record of the run already in ``run_dir`` (None when it has none)."""
    path = run_dir / CONFIG_FILE
    if not path.is_file():
        return None
    try:
        doc = read_json(path, "the run's config")
    except NasError:
        return None  # train() reports an unreadable config.json
    record = doc.get("meta", {}).get("finetune") if isinstance(doc, dict) else None
    return record if isinstance(record, dict) else None


def refuse_finetuning_run(run_dir: Path) -> None:
    """A run without ``--init-from`` must not resume a fine-tuning run (its weights came from elsewhere)."""
    previous = _previous_finetune(run_dir)
    if previous is not None:
        raise NasError(
            f"{run_dir}: holds a fine-tuning run (--init-from {previous.get('init_from')} "
            f"--finetune {previous.get('mode')}); repeat those flags to resume it, or use another --out"
        )


def _started(run_dir: Path) -> bool:
    names = (CHECKPOINT_FILE, previous_name(CHECKPOINT_FILE), RESULT_FILE)
    return any((run_dir / name).exists() for name in names)


def prepare_finetune(model: nn.Module, run_dir: Path, weights: Path, mode: str) -> dict[str, Any]:
    """Load ``weights`` into ``model`` bottom-up (fresh runs only) and freeze it per ``mode``.

    A run being resumed (or already complete) gets its weights from its own checkpoint,
    so nothing is transferred over them; only ``requires_grad`` is set again, so the
    optimiser has the parameter groups its saved state was made for. Returns the record
    written to ``config.json`` (``meta.finetune``) and :data:`TRANSFER_FILE`.
    """
    started = _started(run_dir)
    previous = _previous_finetune(run_dir) if started else None
    if started and previous is None and (run_dir / CONFIG_FILE).exists():
        raise NasError(f"{run_dir}: holds a run trained without --init-from; use another --out to fine-tune")
    if previous is not None:
        if (previous.get("weights"), previous.get("mode")) != (str(weights.resolve()), mode):
            raise NasError(
                f"{run_dir}: holds a fine-tuning run of --init-from {previous.get('init_from')} --finetune "
                f"{previous.get('mode')}, not of {weights} --finetune {mode}; use another --out"
            )
        trainable = freeze(model, mode)
        if not (run_dir / RESULT_FILE).exists():
            print(f"{run_dir}: resuming a fine-tuning run; its weights come from its checkpoint", file=sys.stderr)
        return {**previous, "trainable": trainable}
    report = transfer_weights(model, load_state_dict_file(weights))
    if not report.loaded:
        raise NasError(
            f"--init-from {weights}: no layer fits the new model ({report.stopped_at}: {report.reason}); "
            "nothing to fine-tune from"
        )
    trainable = freeze(model, mode)
    first, last = report.loaded[0][0], report.loaded[-1][0]
    print(f"init from {weights}: {report.summary()}", file=sys.stderr)
    print(
        f"  loaded layers {first} .. {last}; trainable (--finetune {mode}): {_layer_list(trainable)}", file=sys.stderr
    )
    source = weights.parent if weights.name in ("best.pt", "final.pt") else weights
    return {
        "init_from": str(source.resolve()),
        "weights": str(weights.resolve()),
        "mode": mode,
        "trainable": trainable,
        "summary": report.summary(),
        "transfer": report.as_dict(),
    }


def _layer_list(names: list[str], limit: int = 4) -> str:
    shown = [n or "(root)" for n in names[:limit]]
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(shown) + more
