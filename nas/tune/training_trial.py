"""One training trial: build the suggested genotype's network and train it with the shared trainer.

:func:`run` reports after every epoch (``val_accuracy`` = best validation top-1 so far,
the number searchers maximise) with a Tune checkpoint holding the trainer's run
directory; the last epoch is reported after the trainer has finished (test split
evaluated, ``result.json`` written), so a scheduler cannot cut that short. The trainer
works in ``RUN_DIR/trials/KEY/train`` (the key comes from the searcher); a retried or
restored trial first copies its Tune checkpoint there if that is newer, then the
trainer resumes from it. A finished trial run again reports its final result without
training. A training failure (NaN loss, exception) propagates, so Tune records the trial
as failed and the search goes on.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from ray import tune

from nas.data import ImageDataset, load_dataset
from nas.genotypes.codec import from_json, save_genotype, to_dict
from nas.metrics import count_flops, count_parameters
from nas.runs.atomic import read_json, write_json, write_with
from nas.search_spaces import get_space
from nas.trainer import seed_everything, train
from nas.training.recipes import load_recipe
from nas.tune.settings import TrialSettings

_DATASETS: dict[tuple[str, str | None, str | None], ImageDataset] = {}

#: Files of the trainer's run directory that make up a trial checkpoint.
CHECKPOINT_FILES = ("config.json", "checkpoint.pt", "best.pt", "metrics.jsonl", "result.json", "final.pt")


def dataset(name: str, data_dir: str | None, cache_dir: str | None) -> ImageDataset:
    """The decoded dataset, loaded once per worker process."""
    key = (name, data_dir, cache_dir)
    if key not in _DATASETS:
        _DATASETS[key] = load_dataset(name, data_dir, cache_dir=cache_dir)
    return _DATASETS[key]


def _local_epoch(train_dir: Path) -> int:
    progress = train_dir.parent / "progress.json"
    if not (train_dir / "checkpoint.pt").is_file() or not progress.is_file():
        return 0
    return int(read_json(progress, "trial progress").get("epoch", 0))


def _restore_from_tune(train_dir: Path) -> None:
    """Copy the trial's Tune checkpoint into its working directory when it is newer."""
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        return
    with checkpoint.as_directory() as d:
        src = Path(d)
        progress = src / "progress.json"
        if not progress.is_file():
            return
        epoch = int(read_json(progress, "trial progress").get("epoch", 0))
        if epoch <= _local_epoch(train_dir):
            return
        for name in CHECKPOINT_FILES:
            if (src / "train" / name).is_file():
                _copy(src / "train" / name, train_dir / name)
        _copy(progress, train_dir.parent / "progress.json")


def _copy(src: Path, dst: Path) -> None:
    """Copy atomically (a kill mid-copy must not leave half a checkpoint), keeping the file times."""
    with src.open("rb") as source:
        write_with(dst, lambda target: shutil.copyfileobj(source, target))
    shutil.copystat(src, dst)


def _report(metrics: dict[str, Any], trial_dir: Path, with_checkpoint: bool) -> None:
    progress = write_json(trial_dir / "progress.json", metrics, indent=None, sort_keys=True)
    if not with_checkpoint:
        tune.report(metrics)
        return
    with tempfile.TemporaryDirectory(prefix="nas-ckpt-") as d:
        (Path(d) / "train").mkdir()
        for name in CHECKPOINT_FILES:
            src = trial_dir / "train" / name
            if src.is_file():
                shutil.copy2(src, Path(d) / "train" / name)
        shutil.copy2(progress, Path(d) / "progress.json")
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(d))


def run(config: dict[str, Any], settings: TrialSettings) -> None:
    """Train the suggested genotype's network; report validation accuracy every epoch."""
    torch.set_num_threads(settings.threads)
    genotype = from_json(config["genotype"])
    key = config["key"]
    trial_dir = Path(settings.run_dir) / "trials" / key
    train_dir = trial_dir / "train"
    trial_dir.mkdir(parents=True, exist_ok=True)
    save_genotype(genotype, trial_dir / "genotype.json")
    _restore_from_tune(train_dir)

    recipe = load_recipe(settings.recipe)
    changes = {**settings.train, "seed": settings.seed}
    if settings.epochs:
        changes["epochs"] = settings.epochs
    train_config = recipe.train_config(**changes)
    build_options = {**recipe.model_options.get(genotype.kind, {}), **settings.build_options}
    data = dataset(recipe.dataset, settings.data_dir, settings.cache_dir)

    seed_everything(train_config.seed)
    model = get_space(settings.space).build(genotype, num_classes=data.num_classes, **build_options)
    params = float(count_parameters(model))
    flops = float(count_flops(model, (1, *data.image_shape)))
    spec = {"source": "genotype", "kind": genotype.kind, "spec": key, "genotype": to_dict(genotype)}
    spec["options"] = build_options
    previous = (
        read_json(trial_dir / "progress.json", "trial progress") if (trial_dir / "progress.json").is_file() else {}
    )
    best = _as_float(previous.get("val_accuracy"))  # best validation top-1 so far, restores included
    time_before = float(previous.get("trial_time_s", 0.0))  # of the runs of this trial before a restore
    started = time.perf_counter()

    def metrics(epoch: int, epoch_val: float | None, best_val: float | None) -> dict[str, Any]:
        return {
            "val_accuracy": best_val,
            "epoch_val_accuracy": epoch_val,
            "epoch": epoch,
            "epochs_total": train_config.epochs,
            "params": params,
            "flops": flops,
            "trial_time_s": time_before + time.perf_counter() - started,
            "key": key,
        }

    def on_epoch(epoch: int, row: dict[str, Any]) -> None:
        nonlocal best
        val = _as_float(row.get("val_top1"))
        if val is not None and (best is None or val > best):
            best = val
        if epoch < train_config.epochs:  # the last epoch is reported once the run is complete (below)
            _report(metrics(epoch, val, best), trial_dir, with_checkpoint=True)

    result = train(
        model,
        data,
        train_config,
        train_dir,
        callback=on_epoch,
        progress=False,
        model_spec=spec,
        data_dir=settings.data_dir,
        meta={"trial_key": key},
    )
    # Reported after the trainer has evaluated the test split and written result.json, so a
    # scheduler stopping the trial at its last epoch cannot cut that short.
    final = metrics(result.epochs_completed, result.final_val_top1, result.best_val_top1)
    final["test_accuracy"] = result.test_top1
    _report(final, trial_dir, with_checkpoint=True)


def _as_float(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None
