"""The DARTS search loop: alternate architecture and weight steps, epoch by epoch, resumable at any step.

:class:`Search` holds the whole state of one search process (one rank): supernet,
weight optimizer, architect, meters, RNG, the position in the epoch and the epoch rows
so far. :meth:`Search.state` is all of it, as tensors and plain containers, so a
search killed at any moment and resumed from its checkpoint ends exactly where an
uninterrupted one ends (the data order is a pure function of ``(seed, epoch)``, so a
mid-epoch checkpoint only needs the step).

The search runs in float32, with no autocast, on every device. The second-order step's
finite differences (``eps = 0.01 / ||dw'||`` on weights of norm ~1) are below float16's
resolution, and a GradScaler that skips overflowing weight steps would leave the
architecture steps of those batches unpaired; the supernet's custom kernels are written
and checked in float32/float64 only. (The trainer's ``amp`` is for trained networks.)
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from nas.darts import distributed as ddp
from nas.darts.config import DartsSearchConfig
from nas.darts.guards import early_stop, in_warmup, skip_counts
from nas.darts.methods import method_class
from nas.darts.methods.base import SearchMethod
from nas.darts.nb201_supernet import NB201Supernet
from nas.darts.search_data import arch_stream, load_data, loaders
from nas.darts.selection import selection_class
from nas.darts.selection.base import SelectionContext
from nas.darts.single_path import DartsSinglePath, NB201SinglePath
from nas.darts.supernet import DartsSupernet
from nas.errors import NasError
from nas.genotypes.codec import from_json, to_dict, to_json, to_text
from nas.genotypes.types import Genotype, NB201Genotype
from nas.nb201_table import NB201Table, find_table
from nas.runs.atomic import one_line
from nas.runs.history import History, tensorboard
from nas.runs.rng import rng_state, seed_everything, set_rng_state
from nas.search_protocol.job import Echo

#: What a checkpoint must hold (besides what :func:`nas.runs.checkpoints.save_checkpoint` adds).
STATE_KEYS = ("epoch", "step", "global_step", "elapsed", "model", "w_optimizer", "architect", "rng")


def silent(_line: str) -> None:
    """An echo that says nothing (the non-zero ranks of a torchrun job)."""


Supernet = DartsSupernet | NB201Supernet | NB201SinglePath | DartsSinglePath


def build_supernet(config: DartsSearchConfig, num_classes: int, in_channels: int) -> Supernet:
    """The supernet of ``config.space``: mixed (every operation runs) or single-path, as the method needs."""
    net = config.supernet
    single = method_class(config.method.name).single_path
    if config.space == "darts":
        darts = {"channels": net.channels, "layers": net.layers, "num_classes": num_classes, "steps": net.steps}
        darts |= {"multiplier": net.multiplier, "stem_multiplier": net.stem_multiplier, "in_channels": in_channels}
        if single:
            return DartsSinglePath(**darts)
        return DartsSupernet(**darts, partial_channels=net.partial_channels, edge_normalization=net.edge_normalization)
    nb201 = {"channels": net.channels, "cells_per_stage": net.cells_per_stage, "num_classes": num_classes}
    if single:
        return NB201SinglePath(**nb201, in_channels=in_channels)
    return NB201Supernet(
        **nb201,
        partial_channels=net.partial_channels,
        edge_normalization=net.edge_normalization,
        in_channels=in_channels,
    )


def cosine_lr(epoch: int, epochs: int, lr: float, lr_min: float) -> float:
    """Cosine annealing from ``lr`` (epoch 0) towards ``lr_min`` (the closed form of CosineAnnealingLR)."""
    return lr_min + 0.5 * (lr - lr_min) * (1.0 + math.cos(math.pi * epoch / epochs))


def weights_json(method: SearchMethod) -> dict[str, list[list[float]]]:
    """The method's operation weights per cell type (and PC-DARTS edge weights), as plain lists."""
    out = {name: w.detach().cpu().double().tolist() for name, w in method.weights().items()}
    for name in method.supernet.betas():
        e = method.supernet.edge_weights(name)  # type: ignore[attr-defined]
        out[f"{name}_edges"] = e.detach().cpu().double().tolist()
    return out


def _round(obj: Any, digits: int = 6) -> Any:
    if isinstance(obj, float):
        return round(obj, digits)
    if isinstance(obj, list):
        return [_round(v, digits) for v in obj]
    if isinstance(obj, dict):
        return {k: _round(v, digits) for k, v in obj.items()}
    return obj


@contextlib.contextmanager
def determinism(config: DartsSearchConfig) -> Iterator[None]:
    """Deterministic kernels and a fixed thread count for the run, restored afterwards."""
    before_det = torch.are_deterministic_algorithms_enabled()
    before_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    before_threads = torch.get_num_threads()
    try:
        if config.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
        if config.threads:
            torch.set_num_threads(config.threads)
        yield
    finally:
        torch.use_deterministic_algorithms(before_det, warn_only=before_warn)
        torch.set_num_threads(before_threads)


class Meter:
    """Running sums (loss * n, correct, n) kept as a tensor so ranks can all-reduce and resume it."""

    def __init__(self, state: torch.Tensor | None = None) -> None:
        self.sums = torch.zeros(3, dtype=torch.float64) if state is None else state.clone().double()

    def add(self, loss: torch.Tensor, logits: torch.Tensor, target: torch.Tensor) -> None:
        n = target.numel()
        correct = (logits.argmax(dim=1) == target).sum().item()
        self.sums += torch.tensor([float(loss.detach()) * n, float(correct), float(n)], dtype=torch.float64)

    def add_loss(self, loss: float, n: int) -> None:
        self.sums += torch.tensor([loss * n, 0.0, float(n)], dtype=torch.float64)

    def summary(self, ctx: ddp.DistContext) -> tuple[float, float]:
        """Mean loss and accuracy (%) over all ranks."""
        total = ddp.all_reduce_sum(self.sums, ctx)
        n = max(total[2].item(), 1.0)
        return total[0].item() / n, 100.0 * total[1].item() / n

    def mean_loss(self, ctx: ddp.DistContext) -> float | None:
        """Mean loss over all ranks; ``None`` when nothing was added (e.g. a warm-up epoch)."""
        total = ddp.all_reduce_sum(self.sums, ctx)
        return total[0].item() / total[2].item() if total[2].item() else None


def evaluate(model: nn.Module, loader: Any, ctx: ddp.DistContext) -> tuple[float, float]:
    """Loss and top-1 (%) of ``model`` over ``loader`` (each rank its shard of each batch)."""
    meter = Meter()
    model.eval()
    with torch.no_grad():
        loader.set_epoch(0)
        for x, y in loader:
            xs, ys = ddp.shard(x, ctx), ddp.shard(y, ctx)
            if len(ys) == 0:
                continue
            logits = model(xs)
            meter.add(F.cross_entropy(logits, ys), logits, ys)
    model.train()
    return meter.summary(ctx)


_TB_TAGS = {
    "train_loss": "train/loss",
    "train_acc": "train/accuracy",
    "val_loss": "val/loss",
    "val_acc": "val/accuracy",
    "arch_loss": "arch/loss",
    "lr": "lr",
}


class EpochLog:
    """``history.jsonl`` and TensorBoard (``tb/``); only rank 0 writes.

    Both start from the rows the checkpoint covers: the history file is rewritten from
    them and TensorBoard purges the events of later epochs (a killed run's tail). The
    TensorBoard step is the 1-based epoch number (the ``epoch`` of a row is 0-based).
    """

    def __init__(self, run_dir: Path, rows: list[dict[str, Any]], enabled: bool, echo: Echo) -> None:
        self.history = History(run_dir / "history.jsonl", rows) if enabled else None
        self.tb = None
        if enabled:
            try:
                self.tb = tensorboard(run_dir / "tb", len(rows))
            except ImportError:  # pragma: no cover - tensorboard is a dependency, but stay usable without it
                echo("tensorboard is not installed; skipping tb/ scalars")

    def epoch(self, record: Mapping[str, Any]) -> None:
        if self.history is not None:
            self.history.append(record)
        if self.tb is not None:
            step = int(record["epoch"]) + 1
            for key, tag in _TB_TAGS.items():
                if record.get(key) is not None:
                    self.tb.add_scalar(tag, record[key], step)
            for cell, n in record["skip_counts"].items():
                self.tb.add_scalar(f"skips/{cell}", n, step)
            for key, value in (record.get("nb201") or {}).items():
                self.tb.add_scalar(f"nb201/{key}", value, step)
            self.tb.flush()

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


class Search:
    """The state of one search process (one rank); ``save`` is called by the loop, rank 0 writes."""

    def __init__(
        self,
        config: DartsSearchConfig,
        ctx: ddp.DistContext,
        device: torch.device,
        *,
        save: Callable[[dict[str, Any]], Any],
        echo: Echo,
        progress: bool,
    ) -> None:
        self.config = config
        self.ctx = ctx
        self.device = device
        self._save = save
        self.echo = echo if ctx.is_main else silent
        self.progress = progress and ctx.is_main

        seed_everything(config.seed)
        self.data = load_data(config)
        self.train_loader, self.arch_loader, self.eval_loader = loaders(config, self.data, device)
        self.model = build_supernet(config, self.data.num_classes, self.data.in_channels).to(device)
        opt = config.optimizer
        self.w_optimizer = torch.optim.SGD(
            list(self.model.weight_parameters()), lr=opt.lr, momentum=opt.momentum, weight_decay=opt.weight_decay
        )
        self.method = method_class(config.method.name)(config.method, config, self.model, ddp.reducer(ctx))
        self.selection = selection_class(config.selection.name)(config.selection)
        self.table = self._nb201_table()
        # Progress: the next (epoch, step) to run, and what the epochs so far concluded.
        self.epoch = 0
        self.step = 0
        self.global_step = 0
        self.elapsed = 0.0
        self.train_meter = Meter()
        self.arch_meter = Meter()
        self.schedule: dict[str, float] = {}  # the method's per-epoch values (a temperature, a weight)
        self.rows: list[dict[str, Any]] = []  # one per concluded epoch (history.jsonl is rewritten from them)
        self.last_within_limit: str | None = None  # DARTS+: genotype JSON of the last epoch within the limit
        self.stopped_early = False

    def _nb201_table(self) -> NB201Table | None:
        if self.config.space != "nb201":
            return None
        path = find_table(self.config.data_dir)
        if path is None:
            self.echo("NAS-Bench-201 table not found (set NAS_DATA_DIR); the derived cells are not looked up")
            return None
        return NB201Table.load(path)

    # -- checkpoints -------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {
            "config": self.config.resolved(),
            "epoch": self.epoch,
            "step": self.step,
            "global_step": self.global_step,
            "elapsed": self.elapsed,
            "model": self.model.state_dict(),
            "w_optimizer": self.w_optimizer.state_dict(),
            "architect": self.method.state_dict(),
            "rng": rng_state(),
            "train_meter": self.train_meter.sums.clone(),
            "arch_meter": self.arch_meter.sums.clone(),
            "history": self.rows,
            "last_within_limit": self.last_within_limit,
            "stopped_early": self.stopped_early,
        }

    def save(self) -> None:
        if self.ctx.is_main:
            self._save(self.state())

    def check_state(self, state: Mapping[str, Any]) -> None:
        """A one-line error unless ``state`` is a checkpoint of this supernet (so another one can be tried)."""
        missing = [key for key in STATE_KEYS if key not in state]
        if missing:
            raise NasError(f"is not a search checkpoint (no {missing[0]!r})")
        saved, own = state["model"], self.model.state_dict()
        if not isinstance(saved, Mapping) or set(saved) != set(own):
            raise NasError("does not match this supernet (other parameters)")
        for key, value in own.items():
            if not isinstance(saved[key], torch.Tensor) or saved[key].shape != value.shape:
                raise NasError(f"does not match this supernet ({key} has another shape)")

    def load(self, state: Mapping[str, Any], rows: list[dict[str, Any]]) -> None:
        """Continue from ``state``; ``rows``: the epoch rows to use when the checkpoint holds none."""
        try:
            self.model.load_state_dict(state["model"])
            self.w_optimizer.load_state_dict(state["w_optimizer"])
            self.method.load_state_dict(state["architect"])
        except (RuntimeError, KeyError, ValueError) as exc:
            raise NasError(f"does not match this supernet ({one_line(exc, 160)})") from None
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.global_step = int(state["global_step"])
        self.elapsed = float(state["elapsed"])
        self.train_meter = Meter(state["train_meter"])
        self.arch_meter = Meter(state["arch_meter"])
        history = state.get("history")
        self.rows = list(history) if history is not None else [r for r in rows if r.get("epoch", -1) < self.epoch]
        self.last_within_limit = state.get("last_within_limit")
        self.stopped_early = bool(state.get("stopped_early", False))
        set_rng_state(state["rng"])

    # -- one epoch ---------------------------------------------------------------

    def _lr(self) -> float:
        opt = self.config.optimizer
        return cosine_lr(self.epoch, self.config.epochs, opt.lr, opt.lr_min)

    def train_epoch(self, net: nn.Module) -> None:
        cfg = self.config
        lr = self._lr()
        for group in self.w_optimizer.param_groups:
            group["lr"] = lr
        warm = in_warmup(self.epoch, cfg.guards.warmup_epochs) or not self.method.trains_arch
        self.schedule = self.method.begin_epoch(self.epoch, cfg.epochs)
        weights = list(self.model.weight_parameters())
        self.train_loader.set_epoch(self.epoch)
        steps = len(self.train_loader)
        arch_batches = arch_stream(self.arch_loader, self.epoch, self.step)
        bar = self._bar(steps)
        t0 = time.perf_counter()
        for (x, y), (vx, vy) in zip(self.train_loader.batches(self.step), arch_batches):
            xs, ys, vxs, vys = (ddp.shard(t, self.ctx) for t in (x, y, vx, vy))
            if len(ys) and len(vys) and min(len(x), len(vx)) >= self.ctx.world_size:
                if not warm:
                    info = self.method.arch_step((xs, ys), (vxs, vys), w_lr=lr, w_optimizer=self.w_optimizer)
                    if info.loss is not None:
                        self.arch_meter.add_loss(float(info.loss), len(vys))
                self.w_optimizer.zero_grad(set_to_none=True)
                logits = net(xs)
                loss = F.cross_entropy(logits, ys)
                if not torch.isfinite(loss):
                    raise RuntimeError(f"non-finite training loss at epoch {self.epoch} step {self.step}")
                loss.backward()
                if cfg.optimizer.grad_clip > 0:
                    nn.utils.clip_grad_norm_(weights, cfg.optimizer.grad_clip)
                self.w_optimizer.step()
                self.train_meter.add(loss, logits, ys)
            self.step += 1
            self.global_step += 1
            if bar is not None:
                n = max(self.train_meter.sums[2].item(), 1.0)
                bar.set_postfix(
                    loss=f"{self.train_meter.sums[0].item() / n:.3f}",
                    acc=f"{100 * self.train_meter.sums[1].item() / n:.1f}",
                )
                bar.update(1)
            if cfg.checkpoint_every_steps and self.global_step % cfg.checkpoint_every_steps == 0 and self.step < steps:
                self.elapsed += time.perf_counter() - t0
                t0 = time.perf_counter()
                self.save()
        self.elapsed += time.perf_counter() - t0
        if bar is not None:
            bar.close()

    def _bar(self, steps: int) -> tqdm | None:
        if not self.progress:
            return None
        return tqdm(
            total=steps,
            initial=self.step,
            desc=f"epoch {self.epoch + 1}/{self.config.epochs}",
            leave=False,
            dynamic_ncols=True,
        )

    def derive(self) -> Genotype:
        return self.method.derive(self.config.guards.max_skip)

    def conclude_epoch(self, net: nn.Module) -> dict[str, Any]:
        """The epoch's row of ``history.jsonl``: losses, accuracies, genotype, weights, skip counts."""
        t0 = time.perf_counter()
        cfg = self.config
        train_loss, train_acc = self.train_meter.summary(self.ctx)
        extra = self.method.end_epoch(self.epoch, cfg.epochs, self)
        val_loss = val_acc = None
        if cfg.evaluate_every_epoch:
            val_loss, val_acc = evaluate(net, self.eval_loader, self.ctx)
        arch_loss = self.arch_meter.mean_loss(self.ctx)
        genotype = self.derive()
        raw = self.method.derive(None) if cfg.guards.max_skip is not None else genotype
        record: dict[str, Any] = {
            "epoch": self.epoch,
            "lr": self._lr(),
            "warmup": in_warmup(self.epoch, cfg.guards.warmup_epochs),
            "train_loss": train_loss,
            "train_acc": train_acc,
            "val_loss": val_loss,
            "val_acc": val_acc,
            "arch_loss": arch_loss,
            "genotype": to_text(genotype),
            "genotype_json": to_dict(genotype),
            "skip_counts": skip_counts(genotype),
            "raw_skip_counts": skip_counts(raw),
            "arch_weights": _round(weights_json(self.method)),
            "nb201": None,
            "method": cfg.method.name,
            **self.schedule,
            **extra,
        }
        if self.table is not None and isinstance(genotype, NB201Genotype):
            rec = self.table.query(genotype)
            record["nb201"] = {"c10_valid": rec.c10_valid, "c10_test": rec.c10_test}
        # DARTS+ watches the uncapped cell: a P-DARTS cap would hide the collapse it detects.
        limit = cfg.guards.early_stop_skip
        if early_stop(raw, limit):
            self.stopped_early = True
            record["early_stop"] = True
        elif limit is not None:
            self.last_within_limit = to_json(genotype)
        self.elapsed += time.perf_counter() - t0
        record["elapsed_s"] = round(self.elapsed, 3)
        return record

    def final_genotype(self) -> Genotype:
        """The selected genotype; after a DARTS+ stop, the last one derived within the skip limit."""
        if self.stopped_early and self.last_within_limit is not None:
            return from_json(self.last_within_limit, "checkpoint")
        t0 = time.perf_counter()
        ctx = SelectionContext(
            search=self.config,
            supernet=self.model,
            method=self.method,
            train_loader=self.train_loader,
            arch_loader=self.arch_loader,
            eval_loader=self.eval_loader,
            w_optimizer=self.w_optimizer,
            device=self.device,
            echo=self.echo,
        )
        genotype = self.selection.select(ctx)
        self.elapsed += time.perf_counter() - t0  # a selection's time is search time (Zero-Cost-PT: all of it)
        return genotype

    def echo_epoch(self, record: Mapping[str, Any]) -> None:
        parts = [f"epoch {record['epoch'] + 1}/{self.config.epochs}"]
        parts.append(f"train {record['train_loss']:.3f} / {record['train_acc']:.1f}%")
        if record["val_loss"] is not None:
            parts.append(f"val {record['val_loss']:.3f} / {record['val_acc']:.1f}%")
        parts.append("skips " + " ".join(f"{k} {v}" for k, v in record["skip_counts"].items()))
        if record["nb201"]:
            parts.append(f"NB201 test {record['nb201']['c10_test']:.2f}%")
        if record.get("warmup"):
            parts.append("(warm-up)")
        self.echo("  ".join(parts))
        self.echo(f"  {record['genotype']}")
        if record.get("early_stop"):
            self.echo(f"  DARTS+ early stop: more than {self.config.guards.early_stop_skip} skip connections")

    # -- whole run ---------------------------------------------------------------

    def run(self, log: EpochLog) -> None:
        """Epochs until the last one (or a DARTS+ stop); a checkpoint after each."""
        net = ddp.wrap(self.model, self.ctx, self.device)
        opt = self.method.arch_optimizer()
        hook = None if opt is None else ddp.sync_optimizer_gradients(opt, self.ctx)
        try:
            while self.epoch < self.config.epochs and not self.stopped_early:
                self.train_epoch(net)
                record = self.conclude_epoch(net)
                self.rows.append(record)
                log.epoch(record)
                self.echo_epoch(record)
                self.epoch += 1
                self.step = 0
                self.train_meter = Meter()
                self.arch_meter = Meter()
                self.save()
        finally:
            if hook is not None:
                hook.remove()
