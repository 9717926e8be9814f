"""The inner loops: one training epoch and one evaluation pass.

Kept free of files and logging so the benchmark can time exactly this code against a
bare PyTorch loop. Statistics are accumulated on the device and read back only every
``log_interval`` steps, so a CUDA run is not forced to synchronise after each step.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from nas.device_defaults import Execution, precision_of, resolve
from nas.networks import network_family, set_execution
from nas.runs.device import resolve_device
from nas.training.config import TrainConfig


class NonFiniteLoss(RuntimeError):
    """The training loss became NaN or infinite at ``step`` (1-based) of the epoch."""

    def __init__(self, step: int, value: float) -> None:
        super().__init__(f"step {step}: loss is {value}")
        self.step = step
        self.value = value


# --------------------------------------------------------------------------- #
# Accuracy
# --------------------------------------------------------------------------- #


def topk_correct(logits: torch.Tensor, target: torch.Tensor, ks: tuple[int, ...] = (1, 5)) -> torch.Tensor:
    """How many rows have the target among their ``k`` best logits, per ``k`` (on the device).

    ``k`` larger than the number of classes counts every row (top-5 of a 3-class
    problem is trivially 100%).
    """
    maxk = min(max(ks), logits.size(1))
    hits = logits.topk(maxk, dim=1).indices.eq(target.unsqueeze(1))  # [B, maxk], at most one True per row
    cumulative = hits.cumsum(dim=1).sum(dim=0)  # [maxk]: rows correct within the first j+1
    return torch.stack([cumulative[min(k, maxk) - 1] for k in ks])


def accuracy(logits: torch.Tensor, target: torch.Tensor, ks: tuple[int, ...] = (1, 5)) -> list[float]:
    """Top-k accuracies in percent (a convenience over :func:`topk_correct`)."""
    counts = topk_correct(logits, target, ks)
    return [100.0 * float(c) / target.numel() for c in counts]


# --------------------------------------------------------------------------- #
# Learning-rate schedule and optimiser
# --------------------------------------------------------------------------- #


def lr_at(t: int, total: int, warmup: int, lr: float, lr_min: float) -> float:
    """Learning rate of unit ``t`` (0-based step or epoch) of ``total``.

    Linear warm-up over the first ``warmup`` units (``lr * (t+1) / warmup``, reaching
    ``lr`` at the last warm-up unit), then cosine from ``lr`` towards ``lr_min`` over the
    remaining units: ``lr_min + (lr - lr_min) * (1 + cos(pi * s / n)) / 2`` with ``s``
    units done of ``n``. Like ``CosineAnnealingLR(T_max=n)`` in the DARTS reference, the
    last unit is just above ``lr_min``.
    """
    if t < warmup:
        return lr * (t + 1) / warmup
    span = max(1, total - warmup)
    progress = min(1.0, (t - warmup) / span)
    return lr_min + (lr - lr_min) * 0.5 * (1.0 + math.cos(math.pi * progress))


class CosineSchedule:
    """Warm-up + cosine, as a pure function of a step counter (trivial to checkpoint)."""

    def __init__(self, optimizer: torch.optim.Optimizer, *, total: int, warmup: int, lr: float, lr_min: float) -> None:
        self.optimizer = optimizer
        self.total, self.warmup, self.lr, self.lr_min = total, warmup, lr, lr_min
        self.t = 0
        self._apply()

    def current(self) -> float:
        return lr_at(self.t, self.total, self.warmup, self.lr, self.lr_min)

    def _apply(self) -> None:
        value = self.current()
        for group in self.optimizer.param_groups:
            group["lr"] = value

    def step(self) -> None:
        self.t += 1
        self._apply()

    def state_dict(self) -> dict[str, int]:
        return {"t": self.t, "total": self.total, "warmup": self.warmup}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.t = int(state["t"])
        self._apply()


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.SGD:
    """SGD with momentum; weight decay on every parameter unless ``decay_norm_and_bias`` is off.

    The reference (DARTS, torchvision CIFAR recipes) decays everything; excluding 1-d
    tensors (norm scales and shifts, biases) is the common modern variant.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if config.decay_norm_and_bias or config.weight_decay == 0:
        groups: list[dict[str, Any]] = [{"params": params, "weight_decay": config.weight_decay}]
    else:
        decay = [p for p in params if p.ndim > 1]
        no_decay = [p for p in params if p.ndim <= 1]
        groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        groups = [g for g in groups if g["params"]]
    return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, nesterov=config.nesterov)


# --------------------------------------------------------------------------- #
# Precision
# --------------------------------------------------------------------------- #


def precision(amp: str, device: torch.device, cpu_bf16: bool = False) -> tuple[torch.dtype | None, bool]:
    """(autocast dtype or None, whether a GradScaler is used) for the ``amp`` mode on ``device``.

    ``auto`` is float16 + GradScaler on CUDA (the fast path of every recent GPU) and off
    elsewhere, where float16 is slow (bfloat16 on the CPU when ``cpu_bf16`` asks for it).
    float16 always gets a scaler (its small exponent range underflows gradients);
    bfloat16 has float32's range and needs none.
    """
    if amp == "auto":
        if device.type == "cuda":
            return torch.float16, True
        return (torch.bfloat16, False) if (device.type == "cpu" and cpu_bf16) else (None, False)
    if amp == "fp16":
        return torch.float16, True
    if amp == "bf16":
        return torch.bfloat16, False
    return None, False


def execution_for(config: TrainConfig, device: torch.device, model: nn.Module) -> Execution:
    """Lean kernels and channels-last for ``model`` on ``device``: the config's, or the device table's for ``auto``."""
    dtype, _ = precision(config.amp, device, config.cpu_bf16)
    return resolve(
        config.lean_kernels,
        config.channels_last,
        device.type,
        family="cells" if network_family(model) == "cells" else "other",
        precision=precision_of(dtype),
    )


def precision_name(dtype: torch.dtype | None) -> str:
    """``fp16``, ``bf16`` or ``off``: what a run actually used (``config.json``'s environment)."""
    return {torch.float16: "fp16", torch.bfloat16: "bf16"}.get(dtype, "off") if dtype is not None else "off"


# --------------------------------------------------------------------------- #
# The engine: everything one step needs
# --------------------------------------------------------------------------- #


def split_output(output: Any) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    """``logits`` or ``(logits, aux)`` with ``aux`` a tensor or a tuple of tensors."""
    if isinstance(output, torch.Tensor):
        return output, ()
    logits, *rest = output
    aux: list[torch.Tensor] = []
    for item in rest:
        if isinstance(item, (tuple, list)):
            aux.extend(item)
        elif item is not None:
            aux.append(item)
    return logits, tuple(aux)


@dataclass
class Engine:
    """The model and the objects that update it, configured from a :class:`TrainConfig`.

    ``module`` is what runs (possibly ``torch.compile``-d); ``model`` is the plain module
    whose ``state_dict`` is saved, so checkpoints never carry compile prefixes.
    """

    model: nn.Module
    config: TrainConfig
    steps_per_epoch: int
    device: torch.device = field(init=False)
    module: nn.Module = field(init=False)
    optimizer: torch.optim.SGD = field(init=False)
    schedule: CosineSchedule = field(init=False)
    scaler: torch.amp.GradScaler | None = field(init=False)
    criterion: nn.Module = field(init=False)
    channels_last: bool = field(init=False)
    execution: Execution = field(init=False)
    autocast_dtype: torch.dtype | None = field(init=False)

    def __post_init__(self) -> None:
        cfg = self.config
        self.device = resolve_device(cfg.device)
        self.autocast_dtype, scaled = precision(cfg.amp, self.device, cfg.cpu_bf16)
        self.execution = execution_for(cfg, self.device, self.model)
        self.channels_last = self.execution.channels_last
        self.model.to(self.device)
        set_execution(self.model, lean_kernels=self.execution.lean_kernels, channels_last=self.channels_last)
        self.module = torch.compile(self.model) if cfg.compile else self.model
        self.optimizer = make_optimizer(self.model, cfg)
        per_epoch = self.steps_per_epoch if cfg.schedule_unit == "step" else 1
        self.schedule = CosineSchedule(
            self.optimizer,
            total=cfg.epochs * per_epoch,
            warmup=cfg.warmup_epochs * per_epoch,
            lr=cfg.lr,
            lr_min=cfg.lr_min,
        )
        self.scaler = torch.amp.GradScaler(self.device.type) if scaled else None
        self.criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype)

    def set_epoch(self, epoch: int) -> None:
        """Drop-path ramp of 0-based ``epoch``: ``p * epoch / epochs`` (DARTS)."""
        if hasattr(self.model, "drop_path_prob"):
            self.model.drop_path_prob = self.config.drop_path_prob * epoch / self.config.epochs

    def _inputs(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if images.device != self.device:
            images = images.to(self.device, non_blocking=True)
            labels = labels.to(self.device, non_blocking=True)
        if self.channels_last and images.dim() == 4 and not images.is_contiguous(memory_format=torch.channels_last):
            images = images.contiguous(memory_format=torch.channels_last)
        return images, labels

    def train_epoch(
        self,
        batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
        *,
        on_progress: Callable[[int, dict[str, float]], None] | None = None,
    ) -> dict[str, float]:
        """One pass over ``batches``: mean loss, top-1 and top-5 (%), images, seconds and skipped steps.

        Without a GradScaler a NaN/inf loss raises :class:`NonFiniteLoss` (the weights are
        then garbage: do not save them). Under the scaler such a step is float16 overflow:
        the scaler skips its update and lowers the scale, so it is counted in
        ``skipped_steps`` and left out of the means; only an epoch in which every step was
        skipped raises (the run diverged, a smaller scale would not help).
        """
        cfg = self.config
        module, optimizer, scaler, criterion = self.module, self.optimizer, self.scaler, self.criterion
        params = [p for g in optimizer.param_groups for p in g["params"]]
        aux_weight = cfg.auxiliary_weight
        per_step_schedule = cfg.schedule_unit == "step"
        module.train()
        stats = torch.zeros(3, device=self.device, dtype=torch.float64)  # loss*n, top1, top5
        first_bad = torch.full((), -1, device=self.device, dtype=torch.long)  # first non-finite step
        bad_value = torch.zeros((), device=self.device)
        skipped = torch.zeros((), device=self.device, dtype=torch.long)
        n_counted = torch.zeros((), device=self.device, dtype=torch.float64)
        n_images = 0
        steps = 0
        start = shown = time.perf_counter()
        for images, labels in batches:
            images, labels = self._inputs(images, labels)
            optimizer.zero_grad(set_to_none=True)
            with self.autocast():
                logits, aux = split_output(module(images))
                loss = criterion(logits, labels)
                if aux_weight > 0:
                    for head in aux:
                        loss = loss + aux_weight * criterion(head, labels)
            if scaler is not None:
                scaler.scale(loss).backward()
                if cfg.grad_clip > 0:
                    scaler.unscale_(optimizer)
                    nn.utils.clip_grad_norm_(params, cfg.grad_clip)
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                if cfg.grad_clip > 0:
                    nn.utils.clip_grad_norm_(params, cfg.grad_clip)
                optimizer.step()
            if per_step_schedule:
                self.schedule.step()
            batch = labels.numel()
            steps += 1
            n_images += batch
            with torch.no_grad():
                detached = loss.detach()
                finite = torch.isfinite(detached)
                if scaler is None:
                    new_bad = (first_bad < 0) & ~finite
                    first_bad = torch.where(new_bad, steps, first_bad)
                    bad_value = torch.where(new_bad, detached.float(), bad_value)
                    stats[0] += detached.double() * batch
                    stats[1:] += topk_correct(logits.detach(), labels)
                else:  # the scaler skipped this update: keep it out of the means
                    skipped += (~finite).long()
                    stats[0] += torch.where(finite, detached.double() * batch, 0.0)
                    stats[1:] += topk_correct(logits.detach(), labels) * finite
                    n_counted += finite.double() * batch
                    first_bad = torch.where((first_bad < 0) & ~finite, steps, first_bad)
                    bad_value = torch.where(finite, bad_value, detached.float())
            # Read back every log_interval steps, or at least every second for a live progress bar.
            if steps % cfg.log_interval == 0 or (on_progress is not None and time.perf_counter() - shown >= 1.0):
                shown = time.perf_counter()
                if scaler is None:
                    self._check_finite(first_bad, bad_value)
                if on_progress is not None:
                    on_progress(steps, _summary(stats, n_images if scaler is None else int(n_counted)))
        if not per_step_schedule:
            self.schedule.step()
        n_skipped = int(skipped)
        if scaler is None or (steps and n_skipped == steps):
            self._check_finite(first_bad, bad_value)
        counted = n_images if scaler is None else int(n_counted)
        elapsed = time.perf_counter() - start
        result = _summary(stats, counted)
        result.update(images=float(n_images), seconds=elapsed, steps=float(steps), skipped_steps=float(n_skipped))
        return result

    @staticmethod
    def _check_finite(first_bad: torch.Tensor, bad_value: torch.Tensor) -> None:
        step = int(first_bad)
        if step >= 0:
            raise NonFiniteLoss(step, float(bad_value))

    @torch.inference_mode()
    def evaluate(self, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> dict[str, float]:
        """Mean loss (without label smoothing), top-1 and top-5 (%) in eval mode."""
        self.module.eval()
        stats = torch.zeros(3, device=self.device, dtype=torch.float64)
        n = 0
        for images, labels in batches:
            images, labels = self._inputs(images, labels)
            with self.autocast():
                logits, _ = split_output(self.module(images))
            stats[0] += nn.functional.cross_entropy(logits.float(), labels, reduction="sum").double()
            stats[1:] += topk_correct(logits, labels)
            n += labels.numel()
        return _summary(stats, n)

    @torch.inference_mode()
    def predict(self, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], *, tta_flip: bool = False) -> Iterator:
        """Softmax probabilities and labels per batch (flip TTA averages both views)."""
        self.module.eval()
        for images, labels in batches:
            images, labels = self._inputs(images, labels)
            with self.autocast():
                probs = split_output(self.module(images))[0].float().softmax(dim=1)
                if tta_flip:
                    flipped = split_output(self.module(images.flip(-1)))[0].float().softmax(dim=1)
                    probs = (probs + flipped) / 2
            yield probs, labels


def _summary(stats: torch.Tensor, n: int) -> dict[str, float]:
    values = stats.tolist()  # the one synchronisation
    n = max(n, 1)
    return {"loss": values[0] / n, "top1": 100.0 * values[1] / n, "top5": 100.0 * values[2] / n}
