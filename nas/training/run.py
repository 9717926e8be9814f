"""``train()``: the one training procedure of the toolkit, with its run directory.

Everything a controller, a derived genotype or a baseline is trained with goes through
here, so their numbers are comparable. A run directory makes a run restartable: run the
same thing again and it resumes from ``checkpoint.pt`` (bitwise identical to an
uninterrupted run on CPU), reports a finished run instead of retraining it, and refuses
to mix a different config into it (:mod:`nas.training.record`), except a longer schedule
asked for explicitly (``extend=True``).

Run directory::

    config.json         the fully resolved config: training fields, model spec, dataset, environment,
                        and ``extensions`` (every change of ``epochs`` made with ``extend``)
    metrics.jsonl       one line per epoch (see nas.training.metrics_log.COLUMNS)
    tb/                 TensorBoard scalars
    checkpoint.pt       full state after the last completed epoch (atomic; weights_only-loadable)
    checkpoint.prev.pt  the one before it: resuming falls back to it, with one line, when the newest is unreadable
    best.pt             state dict of the best epoch on validation
    final.pt            state dict after the last epoch
    genotype.json       (written by ``nas train`` for genotypes) so the run dir is a genotype spec
    result.json         written last: its presence means the run is complete

Files, checks and history go through :mod:`nas.runs`; a finished run is read back by
:mod:`nas.training.finished`, whose rule picks the selected weights.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from torch import nn
from tqdm import tqdm

from nas.errors import NasError
from nas.runs.atomic import remove_leftovers, save_torch, write_json
from nas.runs.checkpoints import load_checkpoint, save_checkpoint
from nas.runs.rng import rng_state, seed_everything, set_rng_state
from nas.training.config import TrainConfig
from nas.training.finished import read_weights
from nas.training.loop import Engine, NonFiniteLoss
from nas.training.metrics_log import MetricsLog
from nas.training.record import CHECKPOINT_FILE, config_document, prepare_run_dir, write_config
from nas.training.result import RESULT_FILE, TrainResult, read_result
from nas.training.splits import make_loader, make_splits, steps_per_epoch
from nas.training.weights import clone_state, load_weights

#: ``callback(epoch, metrics)`` after every epoch (1-based ``epoch``; ``metrics`` is the
#: ``metrics.jsonl`` row). Returning True, or raising :class:`StopTraining`, stops the
#: run after this epoch; any other exception propagates and leaves the run resumable.
EpochCallback = Callable[[int, dict[str, Any]], "bool | None"]


class StopTraining(Exception):
    """Raise from an epoch callback to stop the run early (e.g. a Ray Tune scheduler's decision)."""


def _as_train_config(config: TrainConfig) -> TrainConfig:
    if type(config) is TrainConfig:
        return config
    return TrainConfig(**{name: getattr(config, name) for name in TrainConfig.model_fields})


def _say(message: str, progress: bool) -> None:
    if progress:
        tqdm.write(message, file=sys.stderr)


def _warn(message: str) -> None:
    """Shown even without progress output: the run continues, but not as the user may assume."""
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
    extend: bool = False,
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

    ``extend=True`` lets ``config.epochs`` exceed the epochs of the run already in
    ``run_dir`` (finished, stopped or interrupted): training continues from its last
    checkpoint up to the new count, and ``config.json`` records the change. The learning
    rate schedule is re-planned over the new total: each further epoch (or step) gets the
    rate a run planned for ``config.epochs`` from the start would have there, so the rate
    rises from where the old schedule ended to the new cosine's value at that point, then
    anneals to ``lr_min`` at the new end (the drop-path ramp is re-planned the same way).
    Epochs already trained keep the rates they had.
    """
    config = _as_train_config(config)
    run_path = None if run_dir is None else Path(run_dir)
    splits = make_splits(data, config)
    doc = config_document(config, data, splits, model, model_spec=model_spec, data_dir=data_dir, meta=meta)
    checkpoint, extending = None, False
    if run_path is not None:
        finished, checkpoint, extending = _open_run_dir(run_path, doc, model, extend=extend)
        if finished is not None:
            return finished
    if checkpoint is None:
        seed_everything(config.seed)

    engine = Engine(model, config, steps_per_epoch=steps_per_epoch(len(splits.train), config.batch_size))
    _warn(engine.execution.describe())  # once per run: how it executes and why
    loader_options = {"device": engine.device, "channels_last": engine.channels_last}
    train_loader = make_loader(data, config, "train", splits.train, **loader_options)
    val_loader = None if splits.val is None else make_loader(data, config, "val", splits.val, **loader_options)
    test_loader = make_loader(data, config, "test", splits.test, **loader_options)

    history: list[dict[str, Any]] = []
    best: dict[str, Any] = {"epoch": 0, "val_top1": -math.inf, "val_top5": None, "model": None}
    totals = {"train_s": 0.0, "eval_s": 0.0, "images": 0.0}
    start_epoch = 0
    if checkpoint is not None:
        state, path = checkpoint
        start_epoch = _restore(engine, state, path)
        history = list(state["history"])
        totals = dict(state["totals"])
        saved_best = state["best"]
        if saved_best["epoch"] > 0:
            best = dict(saved_best)
            save_torch(best["model"], path.parent / "best.pt")
        if extending:
            old = doc["extensions"][-1]["from_epochs"]
            _say(f"extending {run_path} from {old} to {config.epochs} epochs after epoch {start_epoch}", progress)
        else:
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
                state = _checkpoint(engine, row["epoch"], best, history, totals, config)
                save_checkpoint(state, run_path / CHECKPOINT_FILE)
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


def _open_run_dir(
    run_path: Path, doc: dict[str, Any], model: nn.Module, *, extend: bool
) -> tuple[TrainResult | None, tuple[dict[str, Any], Path] | None, bool]:
    """``(result of a finished run, checkpoint to resume from, whether this run is being extended)``.

    A finished run's selected weights are loaded into ``model``; otherwise ``config.json`` is written.
    """
    remove_leftovers(run_path)  # temporary files of writes a kill interrupted
    status = prepare_run_dir(run_path, doc, extend=extend)
    if status == "complete":
        result = read_result(run_path)
        state, path = read_weights(run_path, "selected")
        load_weights(model, state, path)
        return result, None, False
    checkpoint = load_checkpoint(run_path / CHECKPOINT_FILE, warn=_warn) if status == "resume" else None
    extending = bool(doc["extensions"]) and doc["extensions"][-1]["after_epoch"] is None
    write_config(run_path, doc, epochs_done=0 if checkpoint is None else int(checkpoint[0]["epoch"]))
    return None, checkpoint, extending


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
        "skipped_steps": int(stats["skipped_steps"]),  # NaN/inf steps the float16 GradScaler skipped
        "_train_s": stats["seconds"],
        "_eval_s": end - eval_start,
        "_images": stats["images"],
    }


def _nan_message(epoch: int, exc: NonFiniteLoss, run_path: Path | None, config: TrainConfig) -> str:
    value = "nan" if math.isnan(exc.value) else str(exc.value)  # "inf" or "-inf"
    if run_path is None:
        kept = "no run directory was given, so nothing was saved"
    elif epoch > 1:
        kept = f"the last good checkpoint (epoch {epoch - 1}) is kept in {run_path / CHECKPOINT_FILE}"
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


def _restore(engine: Engine, checkpoint: Mapping[str, Any], path: Path) -> int:
    """Put the state of ``checkpoint`` (read from ``path``) into the engine; the epoch it was saved after."""
    try:
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
        write_json(run_path / RESULT_FILE, result.to_dict())
    return result
