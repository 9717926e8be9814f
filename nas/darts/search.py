"""The DARTS search job: bilevel optimisation of a supernet, with a resumable run directory.

One call, :func:`run_search`, owns a run directory::

    config.json     the fully resolved config (compared on resume)
    checkpoint.pt   full state, rewritten atomically every epoch (and every N steps)
    history.jsonl   one line per epoch: losses, accuracies, genotype, alphas, skip counts
    tb/             TensorBoard scalars
    genotype.json   the derived genotype (canonical JSON), plus genotype.txt
    alphas.json     the final architecture weights
    result.json     written last: its presence means the run is finished

Why every detail of the state is checkpointed (RNG, optimiser moments, the position in
the epoch): a search killed at any moment and run again must end exactly where an
uninterrupted run ends, or seeds and ablations stop being comparable. The data order
is a pure function of (seed, epoch), so a mid-epoch checkpoint only needs the step.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nas.darts import distributed as ddp
from nas.darts.config import DartsSearchConfig, config_differences
from nas.darts.guards import early_stop, fair_darts_loss, in_warmup, skip_counts
from nas.errors import NasError
from nas.formats import from_json, to_darts_text, to_dict, to_json, to_nb201_string
from nas.genotype import DartsGenotype, Genotype, NB201Genotype
from nas.runs.atomic import load_torch, save_torch, write_json
from nas.runs.rng import rng_state, seed_everything, set_rng_state

CHECKPOINT_FORMAT = 1
FILES = ("config.json", "checkpoint.pt", "history.jsonl", "genotype.json", "genotype.txt", "alphas.json", "result.json")

Echo = Callable[[str], None]


@dataclass(frozen=True)
class SearchResult:
    """What a finished search found (also in ``result.json``)."""

    run_dir: Path
    genotype: Genotype
    epochs_run: int
    stopped_early: bool
    already_finished: bool = False
    #: Final architecture weights as the supernet reports them (``arch_weights()``), per cell type.
    arch_weights: dict[str, list[list[float]]] | None = None


# --------------------------------------------------------------------------- #
# Data
# --------------------------------------------------------------------------- #


def synthetic_dataset(seed: int = 0, per_class: int = 100, size: int = 32, classes: int = 10) -> Any:
    """Learnable random images (a class-specific colour blob on noise) for tests and smoke runs."""
    from nas.data import ImageDataset

    g = torch.Generator().manual_seed(10_000 + seed)
    palette = torch.randint(0, 256, (classes, 3, 1, 1), generator=g)

    def make(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        labels = torch.arange(classes).repeat_interleave(n)
        noise = torch.randint(0, 256, (len(labels), 3, size, size), generator=g)
        q = size // 4
        images = noise.clone()
        images[:, :, q : 3 * q, q : 3 * q] = (palette[labels] * 3 + noise[:, :, q : 3 * q, q : 3 * q]) // 4
        return images.to(torch.uint8), labels

    tr_x, tr_y = make(per_class)
    te_x, te_y = make(max(1, per_class // 5))
    mean = tuple(float(v) for v in tr_x.float().div(255).mean(dim=(0, 2, 3)))
    std = tuple(float(v) for v in tr_x.float().div(255).std(dim=(0, 2, 3)))
    names = tuple(f"class{i}" for i in range(classes))
    return ImageDataset("synthetic", tr_x, tr_y, te_x, te_y, classes=names, mean=mean, std=std)


@dataclass
class _Data:
    images: torch.Tensor
    labels: torch.Tensor
    mean: tuple[float, ...]
    std: tuple[float, ...]
    num_classes: int
    in_channels: int
    train_idx: torch.Tensor  # trains the weights
    val_idx: torch.Tensor  # trains the architecture (never the test set)


def _load_data(config: DartsSearchConfig) -> _Data:
    from nas import data as nasdata

    if config.dataset.lower() == "synthetic":
        ds = synthetic_dataset(seed=0)
    else:
        ds = nasdata.load_dataset(config.dataset, config.data_dir)
    labels = ds.train_labels
    pool = torch.arange(len(labels))
    if config.train_subset is not None:
        per_class = config.train_subset // ds.num_classes
        if per_class < 2:
            raise NasError(
                f"train_subset: {config.train_subset} images leave fewer than 2 per class of {ds.num_classes}"
            )
        pool = nasdata.take_per_class(labels, per_class, config.seed)
    tr, va = nasdata.split_train_val(labels[pool], config.val_fraction, config.seed)
    train_idx, val_idx = pool[tr], pool[va]
    if len(train_idx) == 0 or len(val_idx) == 0:
        raise NasError(f"val_fraction: {config.val_fraction} leaves an empty half of {len(pool)} images")
    return _Data(
        ds.train_images, labels, tuple(ds.mean), tuple(ds.std), ds.num_classes, ds.in_channels, train_idx, val_idx
    )


def _loaders(config: DartsSearchConfig, data: _Data, device: torch.device) -> tuple[Any, Any, Any]:
    from nas.data import Augment, BatchLoader

    aug = Augment(config.augment.crop_padding, config.augment.flip, config.augment.cutout)
    common = {"batch_size": config.batch_size, "mean": data.mean, "std": data.std, "device": device}
    train = BatchLoader(data.images, data.labels, augment=aug, seed=config.seed, indices=data.train_idx, **common)
    # The architecture half: its own order (seed + 1), augmented like the weights' half as in DARTS.
    arch = BatchLoader(data.images, data.labels, augment=aug, seed=config.seed + 1, indices=data.val_idx, **common)
    evaluate = BatchLoader(data.images, data.labels, shuffle=False, indices=data.val_idx, **common)
    return train, arch, evaluate


def _arch_stream(loader: Any, epoch: int, skip: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Endless architecture batches for ``epoch``: pass r of the arch half uses loader epoch (epoch, r)."""
    per_pass = len(loader)
    for r in count(skip // per_pass):
        loader.set_epoch(epoch * 1000 + r)
        yield from loader.batches(skip % per_pass if r == skip // per_pass else 0)


# --------------------------------------------------------------------------- #
# Model
# --------------------------------------------------------------------------- #


def build_supernet(config: DartsSearchConfig, num_classes: int, in_channels: int) -> nn.Module:
    """The supernet of ``config.space`` with the config's options."""
    from nas.darts import DartsSupernet, NB201Supernet

    net = config.supernet
    if config.space == "darts":
        return DartsSupernet(
            channels=net.channels,
            layers=net.layers,
            num_classes=num_classes,
            steps=net.steps,
            multiplier=net.multiplier,
            stem_multiplier=net.stem_multiplier,
            partial_channels=net.partial_channels,
            edge_normalization=net.edge_normalization,
            weighting=net.weighting,
            in_channels=in_channels,
        )
    return NB201Supernet(
        channels=net.channels,
        cells_per_stage=net.cells_per_stage,
        num_classes=num_classes,
        weighting=net.weighting,
        partial_channels=net.partial_channels,
        in_channels=in_channels,
    )


def resolve_device(name: str) -> torch.device:
    """``auto`` is CUDA when available, else the CPU; an unusable device is a one-line error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise NasError(f"device: expected cpu, cuda, cuda:N or auto, got {name!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise NasError(f"device: {name!r} requested but CUDA is not available")
    return device


def cosine_lr(epoch: int, epochs: int, lr: float, lr_min: float) -> float:
    """Cosine annealing from ``lr`` (epoch 0) towards ``lr_min`` (the closed form of CosineAnnealingLR)."""
    return lr_min + 0.5 * (lr - lr_min) * (1.0 + math.cos(math.pi * epoch / epochs))


def genotype_text(genotype: Genotype) -> str:
    """DARTS text or NB201 string: the form papers print."""
    if isinstance(genotype, DartsGenotype):
        return to_darts_text(genotype)
    if isinstance(genotype, NB201Genotype):
        return to_nb201_string(genotype)
    return str(genotype)


def _weights_json(model: Any) -> dict[str, list[list[float]]]:
    return {name: w.detach().cpu().double().tolist() for name, w in model.arch_weights().items()}


def _round(obj: Any, digits: int = 6) -> Any:
    if isinstance(obj, float):
        return round(obj, digits)
    if isinstance(obj, list):
        return [_round(v, digits) for v in obj]
    if isinstance(obj, dict):
        return {k: _round(v, digits) for k, v in obj.items()}
    return obj


@contextlib.contextmanager
def _determinism(config: DartsSearchConfig) -> Iterator[None]:
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


# --------------------------------------------------------------------------- #
# The run directory
# --------------------------------------------------------------------------- #


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise NasError(f"{path}: cannot read JSON ({exc.__class__.__name__})") from None


def check_run_dir(config: DartsSearchConfig, run_dir: Path) -> str:
    """``new``, ``resume`` or ``finished``; refuses a run dir that holds another config."""
    saved = run_dir / "config.json"
    if not saved.is_file():
        if run_dir.is_dir() and (run_dir / "checkpoint.pt").exists():
            raise NasError(f"{run_dir}: has a checkpoint but no config.json; use another --out")
        return "new"
    old = read_json(saved)
    if not isinstance(old, dict):
        raise NasError(f"{saved}: expected a JSON object")
    diffs = config_differences(old, config.resolved())
    if diffs:
        shown = ", ".join(diffs[:8]) + (f" and {len(diffs) - 8} more" if len(diffs) > 8 else "")
        raise NasError(
            f"{run_dir}: holds a run with a different config (differs in {shown}); "
            "use another --out, or delete the directory to start over"
        )
    return "finished" if (run_dir / "result.json").is_file() else "resume"


def _trim_history(path: Path, epochs_done: int) -> None:
    """Drop history lines of epochs the checkpoint does not cover (written just before a kill)."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by the kill
        if isinstance(record, dict) and record.get("epoch", epochs_done) < epochs_done:
            kept.append(line)
    text = "".join(k + "\n" for k in kept)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def load_finished(run_dir: Path) -> Genotype:
    """The genotype of a finished run directory."""
    return from_json((run_dir / "genotype.json").read_text(encoding="utf-8"), str(run_dir / "genotype.json"))


# --------------------------------------------------------------------------- #
# The search
# --------------------------------------------------------------------------- #


class _Meter:
    """Running sums (loss * n, correct, n) kept as a tensor so ranks can all-reduce and resume it."""

    def __init__(self, state: torch.Tensor | None = None) -> None:
        self.sums = torch.zeros(3, dtype=torch.float64) if state is None else state.clone().double()

    def add(self, loss: torch.Tensor, logits: torch.Tensor, target: torch.Tensor) -> None:
        n = target.numel()
        correct = (logits.argmax(dim=1) == target).sum().item()
        self.sums += torch.tensor([float(loss.detach()) * n, float(correct), float(n)], dtype=torch.float64)

    def summary(self, ctx: ddp.DistContext) -> tuple[float, float]:
        total = ddp.all_reduce_sum(self.sums, ctx)
        n = max(total[2].item(), 1.0)
        return total[0].item() / n, 100.0 * total[1].item() / n


def _evaluate(model: nn.Module, loader: Any, ctx: ddp.DistContext) -> tuple[float, float]:
    meter = _Meter()
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


class _Writers:
    """history.jsonl, TensorBoard and the console; only rank 0 writes."""

    def __init__(self, run_dir: Path, ctx: ddp.DistContext, purge_step: int | None, echo: Echo) -> None:
        self.run_dir = run_dir
        self.enabled = ctx.is_main
        self.echo = echo if ctx.is_main else (lambda _s: None)
        self.tb = None
        if self.enabled:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(run_dir / "tb"), purge_step=purge_step)
            except ImportError:  # pragma: no cover - tensorboard is a dependency, but stay usable without it
                self.echo("tensorboard is not installed; skipping tb/ scalars")

    def epoch(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with (self.run_dir / "history.jsonl").open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, sort_keys=True) + "\n")
            handle.flush()
        if self.tb is not None:
            e = record["epoch"]
            for key, tag in _TB_TAGS.items():
                if record.get(key) is not None:
                    self.tb.add_scalar(tag, record[key], e)
            for cell, n in record["skip_counts"].items():
                self.tb.add_scalar(f"skips/{cell}", n, e)
            for key, value in (record.get("nb201") or {}).items():
                self.tb.add_scalar(f"nb201/{key}", value, e)
            self.tb.flush()

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


class _Search:
    """The state of one search process (one rank)."""

    def __init__(self, config: DartsSearchConfig, run_dir: Path, ctx: ddp.DistContext, echo: Echo, progress: bool):
        from nas.darts import Architect

        self.config = config
        self.run_dir = run_dir
        self.ctx = ctx
        self.echo = echo if ctx.is_main else (lambda _s: None)
        self.progress = progress and ctx.is_main
        self.device = resolve_device(config.device)

        seed_everything(config.seed)
        self.data = _load_data(config)
        self.train_loader, self.arch_loader, self.eval_loader = _loaders(config, self.data, self.device)
        self.model = build_supernet(config, self.data.num_classes, self.data.in_channels).to(self.device)
        opt = config.optimizer
        self.w_optimizer = torch.optim.SGD(
            list(self.model.weight_parameters()), lr=opt.lr, momentum=opt.momentum, weight_decay=opt.weight_decay
        )
        arch = config.arch_optimizer
        self.architect = Architect(
            self.model,
            lr=arch.lr,
            betas=tuple(arch.betas),
            weight_decay=arch.weight_decay,
            second_order=config.order == "second",
            w_momentum=opt.momentum,
            w_weight_decay=opt.weight_decay,
            extra_loss=fair_darts_loss(config.guards.fair_darts_weight),
        )
        self.table = self._nb201_table()
        # Progress: the next (epoch, step) to run, and what epochs so far concluded.
        self.epoch = 0
        self.step = 0
        self.global_step = 0
        self.elapsed = 0.0
        self.train_meter = _Meter()
        self.arch_meter = _Meter()
        self.last_within_limit: str | None = None  # DARTS+: genotype JSON of the last epoch within the limit
        self.stopped_early = False

    # -- setup ------------------------------------------------------------------

    def _nb201_table(self) -> Any:
        if self.config.space != "nb201":
            return None
        from nas.nb201_table import NB201Table, find_table

        path = find_table(self.config.data_dir)
        if path is None:
            self.echo("NAS-Bench-201 table not found (set NAS_DATA_DIR); the derived cells are not looked up")
            return None
        return NB201Table.load(path)

    def _arch_optimizer(self) -> torch.optim.Optimizer:
        for name in ("optimizer", "arch_optimizer", "_optimizer"):
            opt = getattr(self.architect, name, None)
            if isinstance(opt, torch.optim.Optimizer):
                return opt
        raise RuntimeError("Architect exposes no torch optimizer; cannot sync architecture gradients")

    # -- checkpoints -------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "config": self.config.resolved(),
            "epoch": self.epoch,
            "step": self.step,
            "global_step": self.global_step,
            "elapsed": self.elapsed,
            "model": self.model.state_dict(),
            "w_optimizer": self.w_optimizer.state_dict(),
            "architect": self.architect.state_dict(),
            "rng": rng_state(),
            "train_meter": self.train_meter.sums.clone(),
            "arch_meter": self.arch_meter.sums.clone(),
            "last_within_limit": self.last_within_limit,
            "stopped_early": self.stopped_early,
        }

    def save(self) -> None:
        if self.ctx.is_main:
            save_torch(self.state(), self.run_dir / "checkpoint.pt")

    def load(self, path: Path) -> None:
        state = load_torch(path, "search checkpoint")
        if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
            raise NasError(f"{path}: not a search checkpoint of format {CHECKPOINT_FORMAT}")
        try:
            self.model.load_state_dict(state["model"])
            self.w_optimizer.load_state_dict(state["w_optimizer"])
            self.architect.load_state_dict(state["architect"])
        except (RuntimeError, KeyError, ValueError) as exc:
            reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else exc.__class__.__name__
            raise NasError(f"{path}: does not match this supernet ({reason})") from None
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.global_step = int(state["global_step"])
        self.elapsed = float(state["elapsed"])
        self.train_meter = _Meter(state["train_meter"])
        self.arch_meter = _Meter(state["arch_meter"])
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
        warm = in_warmup(self.epoch, cfg.guards.warmup_epochs)
        weights = list(self.model.weight_parameters())
        self.train_loader.set_epoch(self.epoch)
        steps = len(self.train_loader)
        arch_batches = _arch_stream(self.arch_loader, self.epoch, self.step)
        bar = self._bar(steps)
        t0 = time.perf_counter()
        for (x, y), (vx, vy) in zip(self.train_loader.batches(self.step), arch_batches):
            xs, ys, vxs, vys = (ddp.shard(t, self.ctx) for t in (x, y, vx, vy))
            if len(ys) and len(vys) and min(len(x), len(vx)) >= self.ctx.world_size:
                if not warm:
                    info = self.architect.step(xs, ys, vxs, vys, w_lr=lr, w_optimizer=self.w_optimizer)
                    arch_loss = (info or {}).get("loss", (info or {}).get("val_loss"))
                    if arch_loss is not None:
                        n = len(vys)
                        self.arch_meter.sums += torch.tensor([float(arch_loss) * n, 0.0, float(n)], dtype=torch.float64)
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

    def _bar(self, steps: int) -> Any:
        if not self.progress:
            return None
        from tqdm import tqdm

        return tqdm(
            total=steps,
            initial=self.step,
            desc=f"epoch {self.epoch + 1}/{self.config.epochs}",
            leave=False,
            dynamic_ncols=True,
        )

    def derive(self) -> Genotype:
        return self.model.genotype(max_skip=self.config.guards.max_skip)

    def conclude_epoch(self, net: nn.Module) -> dict[str, Any]:
        t0 = time.perf_counter()
        cfg = self.config
        train_loss, train_acc = self.train_meter.summary(self.ctx)
        val_loss = val_acc = None
        if cfg.evaluate_every_epoch:
            val_loss, val_acc = _evaluate(net, self.eval_loader, self.ctx)
        arch_n = ddp.all_reduce_sum(self.arch_meter.sums, self.ctx)
        arch_loss = arch_n[0].item() / arch_n[2].item() if arch_n[2].item() else None
        genotype = self.derive()
        raw = self.model.genotype() if cfg.guards.max_skip is not None else genotype
        record: dict[str, Any] = {
            "epoch": self.epoch,
            "lr": self._lr(),
            "warmup": in_warmup(self.epoch, cfg.guards.warmup_epochs),
            "train_loss": train_loss,
            "train_acc": train_acc,
            "val_loss": val_loss,
            "val_acc": val_acc,
            "arch_loss": arch_loss,
            "genotype": genotype_text(genotype),
            "genotype_json": to_dict(genotype),
            "skip_counts": skip_counts(genotype),
            "raw_skip_counts": skip_counts(raw),
            "arch_weights": _round(_weights_json(self.model)),
            "nb201": None,
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
        if self.stopped_early and self.last_within_limit is not None:
            return from_json(self.last_within_limit, "checkpoint")
        return self.derive()

    def echo_epoch(self, record: dict[str, Any]) -> None:
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

    def run(self, writers: _Writers) -> None:
        net = ddp.wrap(self.model, self.ctx, self.device)
        hook = ddp.sync_optimizer_gradients(self._arch_optimizer(), self.ctx)
        try:
            while self.epoch < self.config.epochs and not self.stopped_early:
                self.train_epoch(net)
                record = self.conclude_epoch(net)
                writers.epoch(record)
                self.echo_epoch(record)
                self.epoch += 1
                self.step = 0
                self.train_meter = _Meter()
                self.arch_meter = _Meter()
                self.save()
        finally:
            if hook is not None:
                hook.remove()

    def write_outputs(self) -> Genotype:
        genotype = self.final_genotype()
        if not self.ctx.is_main:
            return genotype
        from nas.formats import save_genotype

        save_genotype(genotype, self.run_dir / "genotype.json")
        write_text(self.run_dir / "genotype.txt", genotype_text(genotype) + "\n")
        alphas = {
            "space": self.config.space,
            "weighting": self.config.supernet.weighting,
            "ops": list(getattr(self.model, "ops", ())),
            "weights": _weights_json(self.model),
            "alphas": [p.detach().cpu().double().tolist() for p in self.model.arch_parameters()],
        }
        write_json(self.run_dir / "alphas.json", alphas)
        result: dict[str, Any] = {
            "controller": "darts",
            "space": self.config.space,
            "seed": self.config.seed,
            "genotype": genotype_text(genotype),
            "skip_counts": skip_counts(genotype),
            "epochs_run": self.epoch,
            "stopped_early": self.stopped_early,
            "search_time_s": round(self.elapsed, 3),
            "world_size": self.ctx.world_size,
            "nb201": None,
        }
        if self.table is not None and isinstance(genotype, NB201Genotype):
            result["nb201"] = self.table.query(genotype).to_dict()
        history = self.run_dir / "history.jsonl"
        last = history.read_text(encoding="utf-8").splitlines()[-1:] if history.is_file() else []
        if last:
            rec = json.loads(last[0])
            result.update({k: rec.get(k) for k in ("train_loss", "train_acc", "val_loss", "val_acc")})
        write_json(self.run_dir / "result.json", result)
        return genotype


def write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def run_search(
    config: DartsSearchConfig,
    run_dir: str | Path,
    *,
    progress: bool = True,
    echo: Echo = print,
) -> SearchResult:
    """Run (or resume, or report) the DARTS search of ``config`` in ``run_dir``.

    Under ``torchrun`` each rank calls this; rank 0 alone writes the run directory.
    """
    run_dir = Path(run_dir)
    device = resolve_device(config.device)
    ctx = ddp.init(device)
    if ctx.enabled and config.batch_size < ctx.world_size:
        raise NasError(f"batch_size: {config.batch_size} cannot be sharded over {ctx.world_size} processes")
    say = echo if ctx.is_main else (lambda _s: None)
    status = check_run_dir(config, run_dir)
    if status == "finished":
        genotype = load_finished(run_dir)
        result = read_json(run_dir / "result.json")
        say(f"{run_dir}: search already finished ({result.get('epochs_run', '?')} epochs); genotype:")
        say(genotype_text(genotype))
        epochs_run, stopped = int(result.get("epochs_run", 0)), bool(result.get("stopped_early"))
        alphas = run_dir / "alphas.json"
        weights = read_json(alphas).get("weights") if alphas.is_file() else None
        return SearchResult(run_dir, genotype, epochs_run, stopped, already_finished=True, arch_weights=weights)
    with _determinism(config):
        search = _Search(config, run_dir, ctx, echo, progress)
        checkpoint = run_dir / "checkpoint.pt"
        if status == "resume" and checkpoint.is_file():
            search.load(checkpoint)
            say(f"resuming {run_dir} at epoch {search.epoch + 1}, step {search.step}")
        if ctx.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
            write_json(run_dir / "config.json", config.resolved())
            _trim_history(run_dir / "history.jsonl", search.epoch)
        ddp.barrier(ctx)
        # On resume, TensorBoard drops events of epochs the checkpoint does not cover (logged just before a kill).
        writers = _Writers(run_dir, ctx, purge_step=search.epoch if status == "resume" else None, echo=echo)
        try:
            search.run(writers)
        finally:
            writers.close()
        genotype = search.write_outputs()
    ddp.barrier(ctx)
    how = f"{'DARTS+ early stop after ' if search.stopped_early else ''}{search.epoch} epochs"
    say(f"genotype ({how}): {run_dir / 'genotype.json'}")
    say(genotype_text(genotype))
    weights = _weights_json(search.model)
    return SearchResult(run_dir, genotype, search.epoch, search.stopped_early, arch_weights=weights)
