"""``train()``: the one training procedure of the toolkit, with its run directory.

Everything a controller, a derived genotype or a baseline is trained with goes through
here, so their numbers are comparable. A run directory makes a run restartable: run the
same thing again and it resumes from ``checkpoint.pt`` (bitwise identical to an
uninterrupted run on CPU), reports a finished run instead of retraining it, and refuses
to mix a different config into it.

Run directory::

    config.json     the fully resolved config: training fields, model spec, dataset, environment
    metrics.jsonl   one line per epoch (see nas.training.metrics_log.COLUMNS)
    tb/             TensorBoard scalars
    checkpoint.pt   full state after the last completed epoch (atomic; weights_only-loadable)
    best.pt         state dict of the best epoch on validation
    final.pt        state dict after the last epoch
    genotype.json   (written by ``nas train`` for genotypes) so the run dir is a genotype spec
    result.json     written last: its presence means the run is complete
"""

from __future__ import annotations

import json
import math
import platform
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nas.errors import NasError
from nas.training.checkpoint import (
    CHECKPOINT_FORMAT,
    clone_state,
    load_torch,
    load_weights,
    rng_state,
    save_torch,
    seed_everything,
    set_rng_state,
    write_json,
)
from nas.training.config import EXECUTION_FIELDS, TrainConfig
from nas.training.loop import Engine, NonFiniteLoss, resolve_device
from nas.training.metrics_log import MetricsLog

#: ``callback(epoch, metrics)`` after every epoch (1-based ``epoch``; ``metrics`` is the
#: ``metrics.jsonl`` row). Returning True, or raising :class:`StopTraining`, stops the
#: run after this epoch; any other exception propagates and leaves the run resumable.
EpochCallback = Callable[[int, dict[str, Any]], "bool | None"]

CONFIG_FORMAT = 1


class StopTraining(Exception):
    """Raise from an epoch callback to stop the run early (e.g. a Ray Tune scheduler's decision)."""


# --------------------------------------------------------------------------- #
# Data selection
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Splits:
    """Row indices into the dataset's train (``train``, ``val``) and test (``test``) tensors."""

    train: torch.Tensor
    val: torch.Tensor | None
    test: torch.Tensor


def make_splits(data: Any, config: TrainConfig) -> Splits:
    """Balanced training subset, then the validation split carved from it, then the test subset.

    All three are pure functions of ``split_seed`` (not of ``seed``), so several training
    seeds see the same images. ``train_subset``/``test_subset`` are totals, divided evenly
    among the classes (rounded down).
    """
    from nas.data import split_train_val, take_per_class

    classes = data.num_classes
    labels = data.train_labels
    pool = torch.arange(len(labels))
    if config.train_subset is not None:
        per_class = config.train_subset // classes
        if per_class < 1:
            raise NasError(
                f"train_subset: expected at least one image per class ({classes}), got {config.train_subset}"
            )
        pool = take_per_class(labels, per_class, config.split_seed)
    val = None
    train = pool
    if config.val_fraction > 0:
        keep, held = split_train_val(labels[pool], config.val_fraction, config.split_seed)
        if len(held) > 0:
            train, val = pool[keep], pool[held]
    if len(train) == 0:
        raise NasError("val_fraction: leaves no training image; lower val_fraction or raise train_subset")
    test = torch.arange(len(data.test_labels))
    if config.test_subset is not None and config.test_subset < len(test):
        per_class = config.test_subset // classes
        if per_class < 1:
            raise NasError(f"test_subset: expected at least one image per class ({classes}), got {config.test_subset}")
        test = take_per_class(data.test_labels, per_class, config.split_seed)
    return Splits(train=train, val=val, test=test)


def _loader(data: Any, config: TrainConfig, split: str, indices: torch.Tensor, engine: Engine) -> Any:
    from nas.data import Augment, BatchLoader

    training = split == "train"
    images = data.train_images if split in ("train", "val") else data.test_images
    labels = data.train_labels if split in ("train", "val") else data.test_labels
    batch = config.batch_size if training else config.eval_batch_size
    # A last training batch of one image breaks batch norm on 1x1 maps: drop it only then.
    drop_last = training and len(indices) % batch == 1 and len(indices) > 1
    augment = Augment(config.crop_padding, config.flip, config.cutout) if training else None
    return BatchLoader(
        images,
        labels,
        batch_size=batch,
        mean=data.mean,
        std=data.std,
        augment=augment,
        shuffle=training,
        drop_last=drop_last,
        seed=config.seed,
        device=engine.device,
        channels_last=engine.channels_last,
        indices=indices,
    )


# --------------------------------------------------------------------------- #
# Result
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class TrainResult:
    """What a run produced. ``test_*`` are None when the run stopped early (not a finished model).

    ``selection`` says which weights are "the model": ``best_val`` (best validation top-1;
    ties go to the earlier epoch) or ``final`` (no validation split, so no selection).
    """

    run_dir: str | None
    epochs: int
    epochs_completed: int
    selection: str
    best_epoch: int | None
    best_val_top1: float | None
    best_val_top5: float | None
    final_val_top1: float | None
    final_val_top5: float | None
    final_train_loss: float | None
    final_train_top1: float | None
    test_best_top1: float | None
    test_best_top5: float | None
    test_final_top1: float | None
    test_final_top5: float | None
    stopped_early: bool
    resumed_from_epoch: int
    train_time_s: float
    eval_time_s: float
    images_per_s: float
    num_parameters: int
    already_complete: bool = field(default=False, compare=False)

    @property
    def test_top1(self) -> float | None:
        """Test top-1 of the selected model (best on validation, else final)."""
        return self.test_best_top1 if self.selection == "best_val" else self.test_final_top1

    @property
    def test_top5(self) -> float | None:
        return self.test_best_top5 if self.selection == "best_val" else self.test_final_top5

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("already_complete")
        out["test_top1"], out["test_top5"] = self.test_top1, self.test_top5
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, already_complete: bool = False) -> TrainResult:
        names = {f.name for f in cls.__dataclass_fields__.values()} - {"already_complete"}
        missing = names - set(data)
        if missing:
            raise NasError(f"result.json: missing fields {', '.join(sorted(missing))}")
        return cls(**{k: data[k] for k in names}, already_complete=already_complete)


def read_result(run_dir: str | Path) -> TrainResult:
    """The result of a completed run directory."""
    path = Path(run_dir) / "result.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NasError(f"{path}: not found (the run is not complete)") from None
    except (OSError, ValueError) as exc:
        raise NasError(f"{path}: cannot read ({exc.__class__.__name__})") from None
    return TrainResult.from_dict(data, already_complete=True)


# --------------------------------------------------------------------------- #
# Run directory
# --------------------------------------------------------------------------- #


def _num_parameters(model: nn.Module) -> int:
    try:
        from nas.metrics import count_parameters

        return int(count_parameters(model))
    except ImportError:  # pragma: no cover
        return sum(p.numel() for n, p in model.named_parameters() if "auxiliary" not in n)


def config_document(
    config: TrainConfig,
    data: Any,
    splits: Splits,
    model: nn.Module,
    *,
    model_spec: Mapping[str, Any] | None,
    data_dir: str | Path | None,
    meta: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The resolved config written to ``config.json`` (and compared when a run is resumed)."""
    device = resolve_device(config.device)
    if model_spec is None:
        model_spec = {"source": "module", "class": f"{type(model).__module__}.{type(model).__qualname__}"}
    return {
        "format": CONFIG_FORMAT,
        "model": dict(model_spec),
        "dataset": {
            "name": data.name,
            "num_classes": data.num_classes,
            "in_channels": data.in_channels,
            "image_size": data.image_size,
            "train_images": len(splits.train),
            "val_images": 0 if splits.val is None else len(splits.val),
            "test_images": len(splits.test),
            "data_dir": None if data_dir is None else str(data_dir),
        },
        "train": config.model_dump(),
        "num_parameters": _num_parameters(model),
        "environment": {
            "torch": torch.__version__,
            "python": platform.python_version(),
            "device": str(device),
            "channels_last": config.channels_last if config.channels_last is not None else device.type == "cuda",
            "amp": config.amp and device.type == "cuda",
            "threads": torch.get_num_threads(),
        },
        "meta": dict(meta or {}),
    }


def _compared(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a config document that define what is learnt."""
    flat: dict[str, Any] = {}
    for key, value in doc.get("train", {}).items():
        if key not in EXECUTION_FIELDS:
            flat[key] = value
    for key, value in doc.get("model", {}).items():
        if key != "spec":  # how the user spelled the genotype; the genotype itself is compared
            flat[f"model.{key}"] = value
    for key, value in doc.get("dataset", {}).items():
        if key != "data_dir":
            flat[f"dataset.{key}"] = value
    return flat


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def config_differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """``field: OLD there, NEW now`` for every compared field that differs."""
    a, b = _compared(old), _compared(new)
    out = []
    for key in sorted(set(a) | set(b)):
        if a.get(key, "<unset>") != b.get(key, "<unset>"):
            out.append(f"{key}: {_short(a.get(key, '<unset>'))} there, {_short(b.get(key, '<unset>'))} now")
    return out


def _read_config(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise NasError(f"{path}: cannot read the run's config ({exc.__class__.__name__})") from None
    if not isinstance(data, dict) or data.get("format") != CONFIG_FORMAT:
        raise NasError(f"{path}: not a config.json written by this trainer")
    return data


def check_run_dir(run_dir: Path, doc: Mapping[str, Any]) -> str:
    """``fresh``, ``resume`` or ``complete``; refuses a directory holding something else."""
    if run_dir.exists() and not run_dir.is_dir():
        raise NasError(f"{run_dir}: is a file, expected a run directory")
    config_path = run_dir / "config.json"
    if not config_path.exists():
        if run_dir.exists() and any(run_dir.iterdir()):
            raise NasError(f"{run_dir}: is not empty and holds no config.json; refusing to write a run into it")
        return "fresh"
    diffs = config_differences(_read_config(config_path), doc)
    if diffs:
        shown = "; ".join(diffs[:6]) + (f"; and {len(diffs) - 6} more" if len(diffs) > 6 else "")
        raise NasError(f"{run_dir}: holds a run with a different config ({shown}); use another output directory")
    if (run_dir / "result.json").exists():
        return "complete"
    return "resume" if (run_dir / "checkpoint.pt").exists() else "fresh"


# --------------------------------------------------------------------------- #
# train()
# --------------------------------------------------------------------------- #


def _as_train_config(config: TrainConfig) -> TrainConfig:
    if type(config) is TrainConfig:
        return config
    return TrainConfig(**{name: getattr(config, name) for name in TrainConfig.model_fields})


def _say(message: str, progress: bool) -> None:
    if progress:
        from tqdm import tqdm

        tqdm.write(message, file=sys.stderr)


def _format_row(row: Mapping[str, Any], epochs: int) -> str:
    text = (
        f"epoch {row['epoch']}/{epochs}  lr {row['lr']:.4g}  "
        f"train loss {row['train_loss']:.4f} top1 {row['train_top1']:.2f}"
    )
    if row.get("val_top1") is not None:
        text += f"  val loss {row['val_loss']:.4f} top1 {row['val_top1']:.2f} top5 {row['val_top5']:.2f}"
    return text + f"  {row['epoch_time_s']:.1f}s  {row['images_per_s']:.0f} img/s"


def train(
    model: nn.Module,
    data: Any,
    config: TrainConfig,
    run_dir: str | Path | None = None,
    *,
    callback: EpochCallback | None = None,
    progress: bool = True,
    model_spec: Mapping[str, Any] | None = None,
    data_dir: str | Path | None = None,
    meta: Mapping[str, Any] | None = None,
) -> TrainResult:
    """Train ``model`` on ``data`` (an :class:`nas.data.ImageDataset`) as ``config`` says.

    The model's initial weights are the caller's: seed before building it
    (:func:`seed_everything`) for a reproducible run. ``train`` then seeds the RNGs with
    ``config.seed`` (or restores them from the checkpoint) before the first epoch.
    Training uses the train split; the validation split (``val_fraction``) picks the
    best epoch; the test split is only evaluated at the end, for the best and the final
    weights separately. On return ``model`` holds the selected weights.

    ``run_dir`` (optional for quick trials) must be empty, absent or a run directory of the
    same config: pass a directory of its own, not a Ray trial's directory (Ray writes its
    own ``result.json`` there). ``model_spec`` (see :mod:`nas.training.spec`) is recorded
    so ``nas evaluate`` can rebuild the network; ``data_dir`` and ``meta`` are recorded
    for the record only.
    """
    config = _as_train_config(config)
    run_path = None if run_dir is None else Path(run_dir)
    splits = make_splits(data, config)
    doc = config_document(config, data, splits, model, model_spec=model_spec, data_dir=data_dir, meta=meta)
    state = "fresh"
    if run_path is not None:
        state = check_run_dir(run_path, doc)
        if state == "complete":
            result = read_result(run_path)
            weights = run_path / ("best.pt" if result.selection == "best_val" else "final.pt")
            if weights.exists():
                load_weights(model, load_torch(weights, "weights"), weights)
            return result
        run_path.mkdir(parents=True, exist_ok=True)
        write_json(run_path / "config.json", doc)

    checkpoint = load_torch(run_path / "checkpoint.pt") if state == "resume" else None
    if checkpoint is None:
        seed_everything(config.seed)

    steps_per_epoch = _steps_per_epoch(len(splits.train), config.batch_size)
    engine = Engine(model, config, steps_per_epoch=steps_per_epoch)
    train_loader = _loader(data, config, "train", splits.train, engine)
    val_loader = None if splits.val is None else _loader(data, config, "val", splits.val, engine)
    test_loader = _loader(data, config, "test", splits.test, engine)

    history: list[dict[str, Any]] = []
    best: dict[str, Any] = {"epoch": 0, "val_top1": -math.inf, "val_top5": None, "model": None}
    totals = {"train_s": 0.0, "eval_s": 0.0, "images": 0.0}
    start_epoch = 0
    if checkpoint is not None:
        start_epoch = _restore(engine, checkpoint, run_path)  # type: ignore[arg-type]
        history = list(checkpoint["history"])
        totals = dict(checkpoint["totals"])
        saved_best = checkpoint["best"]
        if saved_best["epoch"] > 0:
            best = dict(saved_best)
            if run_path is not None:
                save_torch(best["model"], run_path / "best.pt")
        _say(f"resuming {run_path} after epoch {start_epoch}/{config.epochs}", progress)

    log = None if run_path is None else MetricsLog(run_path, history, tensorboard=config.tensorboard)
    stopped = False
    try:
        for epoch in range(start_epoch, config.epochs):
            row = _run_epoch(engine, train_loader, val_loader, epoch, config, run_path, progress)
            totals["train_s"] += row.pop("_train_s")
            totals["eval_s"] += row.pop("_eval_s")
            totals["images"] += row.pop("_images")
            history.append(row)
            improved = row["val_top1"] is not None and row["val_top1"] > best["val_top1"]
            if improved:
                best = {
                    "epoch": row["epoch"],
                    "val_top1": row["val_top1"],
                    "val_top5": row["val_top5"],
                    "model": clone_state(engine.model),
                }
            if run_path is not None:
                save_torch(_checkpoint(engine, row["epoch"], best, history, totals, config), run_path / "checkpoint.pt")
                if improved:
                    save_torch(best["model"], run_path / "best.pt")
            if log is not None:
                log.append(row)
            _say(_format_row(row, config.epochs), progress)
            if callback is not None:
                try:
                    stopped = bool(callback(row["epoch"], dict(row)))
                except StopTraining:
                    stopped = True
            if stopped:
                _say(f"stopped early by the callback after epoch {row['epoch']}", progress)
                break
    finally:
        if log is not None:
            log.close()

    return _finish(engine, test_loader, config, run_path, history, best, totals, stopped, start_epoch, doc)


def _steps_per_epoch(n: int, batch_size: int) -> int:
    steps = -(-n // batch_size)
    return steps - 1 if n % batch_size == 1 and n > 1 else steps


def _run_epoch(
    engine: Engine,
    train_loader: Any,
    val_loader: Any,
    epoch: int,
    config: TrainConfig,
    run_path: Path | None,
    progress: bool,
) -> dict[str, Any]:
    engine.set_epoch(epoch)
    train_loader.set_epoch(epoch)
    lr = engine.schedule.current()
    bar = None
    on_progress = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(train_loader), desc=f"epoch {epoch + 1}/{config.epochs}", unit="batch", leave=False)

        def on_progress(step: int, stats: dict[str, float]) -> None:
            bar.update(step - bar.n)
            bar.set_postfix(loss=f"{stats['loss']:.3f}", top1=f"{stats['top1']:.1f}", refresh=False)

    start = time.perf_counter()
    try:
        stats = engine.train_epoch(train_loader, on_progress=on_progress)
    except NonFiniteLoss as exc:
        raise NasError(_nan_message(epoch + 1, exc, run_path, config)) from None
    finally:
        if bar is not None:
            bar.close()
    eval_start = time.perf_counter()
    val = engine.evaluate(val_loader) if val_loader is not None else None
    end = time.perf_counter()
    return {
        "epoch": epoch + 1,
        "lr": lr,
        "train_loss": stats["loss"],
        "train_top1": stats["top1"],
        "train_top5": stats["top5"],
        "val_loss": None if val is None else val["loss"],
        "val_top1": None if val is None else val["top1"],
        "val_top5": None if val is None else val["top5"],
        "epoch_time_s": end - start,
        "images_per_s": stats["images"] / max(stats["seconds"], 1e-9),
        "_train_s": stats["seconds"],
        "_eval_s": end - eval_start,
        "_images": stats["images"],
    }


def _nan_message(epoch: int, exc: NonFiniteLoss, run_path: Path | None, config: TrainConfig) -> str:
    value = "nan" if math.isnan(exc.value) else str(exc.value)  # "inf" or "-inf"
    if run_path is None:
        kept = "no run directory was given, so nothing was saved"
    elif epoch > 1:
        kept = f"the last good checkpoint (epoch {epoch - 1}) is kept in {run_path / 'checkpoint.pt'}"
    else:
        kept = "no checkpoint was written (it diverged in the first epoch)"
    clip = f"lower grad_clip (now {config.grad_clip})" if config.grad_clip > 0 else "set grad_clip (e.g. 5)"
    return (
        f"epoch {epoch}, step {exc.step}: loss is {value}; {kept}; lower the learning rate (lr={config.lr}) or {clip}"
    )


def _checkpoint(
    engine: Engine,
    epoch: int,
    best: Mapping[str, Any],
    history: list[dict[str, Any]],
    totals: Mapping[str, float],
    config: TrainConfig,
) -> dict[str, Any]:
    return {
        "format": CHECKPOINT_FORMAT,
        "epoch": epoch,
        "model": engine.model.state_dict(),
        "optimizer": engine.optimizer.state_dict(),
        "schedule": engine.schedule.state_dict(),
        "scaler": engine.scaler.state_dict() if engine.scaler is not None else {},
        "rng": rng_state(),
        "best": {
            "epoch": best["epoch"],
            "val_top1": best["val_top1"],
            "val_top5": best["val_top5"],
            "model": best["model"] if best["model"] is not None else {},
        },
        "history": history,
        "totals": dict(totals),
        "training": config.training_fields(),
    }


def _restore(engine: Engine, checkpoint: Mapping[str, Any], run_path: Path) -> int:
    path = run_path / "checkpoint.pt"
    try:
        if checkpoint.get("format") != CHECKPOINT_FORMAT:
            raise KeyError("format")
        load_weights(engine.model, checkpoint["model"], path)
        engine.optimizer.load_state_dict(checkpoint["optimizer"])
        engine.schedule.load_state_dict(checkpoint["schedule"])
        if engine.scaler is not None and checkpoint["scaler"]:
            engine.scaler.load_state_dict(checkpoint["scaler"])
        set_rng_state(checkpoint["rng"])
        return int(checkpoint["epoch"])
    except NasError:
        raise
    except (KeyError, ValueError, TypeError, RuntimeError) as exc:
        raise NasError(f"{path}: not a checkpoint this trainer can resume ({exc.__class__.__name__}: {exc})") from None


def _finish(
    engine: Engine,
    test_loader: Any,
    config: TrainConfig,
    run_path: Path | None,
    history: list[dict[str, Any]],
    best: dict[str, Any],
    totals: Mapping[str, float],
    stopped: bool,
    start_epoch: int,
    doc: Mapping[str, Any],
) -> TrainResult:
    model = engine.model
    last = history[-1] if history else {}
    has_val = best["model"] is not None
    if run_path is not None:
        save_torch(model.state_dict(), run_path / "final.pt")
    test_final = test_best = None
    eval_s = float(totals["eval_s"])
    start = time.perf_counter()
    if not stopped:
        test_final = engine.evaluate(test_loader)
    if has_val:
        model.load_state_dict(best["model"])  # the model the caller gets back is the selected one
        if not stopped:
            test_best = engine.evaluate(test_loader)
    eval_s += time.perf_counter() - start
    result = TrainResult(
        run_dir=None if run_path is None else str(run_path),
        epochs=config.epochs,
        epochs_completed=int(last.get("epoch", 0)),
        selection="best_val" if has_val else "final",
        best_epoch=best["epoch"] if has_val else None,
        best_val_top1=best["val_top1"] if has_val else None,
        best_val_top5=best["val_top5"] if has_val else None,
        final_val_top1=last.get("val_top1"),
        final_val_top5=last.get("val_top5"),
        final_train_loss=last.get("train_loss"),
        final_train_top1=last.get("train_top1"),
        test_best_top1=None if test_best is None else test_best["top1"],
        test_best_top5=None if test_best is None else test_best["top5"],
        test_final_top1=None if test_final is None else test_final["top1"],
        test_final_top5=None if test_final is None else test_final["top5"],
        stopped_early=stopped,
        resumed_from_epoch=start_epoch,
        train_time_s=float(totals["train_s"]),
        eval_time_s=eval_s,
        images_per_s=float(totals["images"]) / max(float(totals["train_s"]), 1e-9),
        num_parameters=int(doc["num_parameters"]),
    )
    if run_path is not None:
        write_json(run_path / "result.json", result.to_dict())
    return result
