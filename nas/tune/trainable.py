"""Ray Tune trial functions: train a genotype's network with the shared trainer, or look a cell up.

:func:`train_trial` builds the network of the suggested genotype, trains it with
:func:`nas.trainer.train` and reports after every epoch (``val_accuracy`` = best
validation top-1 so far, the number searchers maximise) with a Tune checkpoint holding
the trainer's run directory; the last epoch is reported after the trainer has finished
(test split evaluated, ``result.json`` written), so a scheduler cannot cut that short.
The trainer works in ``RUN_DIR/trials/KEY/train`` (the key comes from the searcher); a
retried or restored trial first copies its Tune checkpoint there if that is newer, then
the trainer resumes from it. A finished trial run again reports its final result without
training. A training failure (NaN loss, exception) propagates, so Tune records the trial
as failed and the search goes on.

:func:`nb201_trial` is a query of the NAS-Bench-201 table: the reward is the 12-epoch
validation accuracy, the cost the table's simulated training time, and the test
accuracy is passed on for the report only.

Both read their fixed settings from ``config["settings"]`` (the Tuner's ``param_space``).
Datasets and tables are cached per worker process, so with ``reuse_actors`` later trials
pay nothing to load them.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from ray import tune

from nas.formats import from_json, save_genotype, to_dict

_DATASETS: dict[tuple[str, str | None, str | None], Any] = {}
_TABLES: dict[str, Any] = {}

#: Files of the trainer's run directory that make up a trial checkpoint.
CHECKPOINT_FILES = ("config.json", "checkpoint.pt", "best.pt", "metrics.jsonl", "result.json", "final.pt")


def dataset(name: str, data_dir: str | None, cache_dir: str | None) -> Any:
    key = (name, data_dir, cache_dir)
    if key not in _DATASETS:
        from nas.data import load_dataset

        _DATASETS[key] = load_dataset(name, data_dir, cache_dir=cache_dir)
    return _DATASETS[key]


def table(path: str) -> Any:
    if path not in _TABLES:
        from nas.nb201_table import NB201Table

        _TABLES[path] = NB201Table.load(path)
    return _TABLES[path]


def nb201_trial(config: dict[str, Any]) -> None:
    """One NAS-Bench-201 query (a table lookup)."""
    settings = config["settings"]
    record = table(settings["table"]).query(from_json(config["genotype"]))
    tune.report(
        {
            "val_accuracy": record.c10_valid_12ep,
            "test_accuracy": record.c10_test,
            "cost_s": record.cost_12ep_s,
            "params": record.params_M * 1e6,
            "flops": record.flops_M * 1e6,
            "epoch": 12,
            "epochs_total": 12,
            "trial_time_s": record.cost_12ep_s,
            "key": config["key"],
        }
    )


def _local_epoch(train_dir: Path) -> int:
    progress = train_dir.parent / "progress.json"
    if not (train_dir / "checkpoint.pt").is_file() or not progress.is_file():
        return 0
    return int(json.loads(progress.read_text(encoding="utf-8")).get("epoch", 0))


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
        epoch = int(json.loads(progress.read_text(encoding="utf-8")).get("epoch", 0))
        if epoch <= _local_epoch(train_dir):
            return
        train_dir.mkdir(parents=True, exist_ok=True)
        for name in CHECKPOINT_FILES:
            if (src / "train" / name).is_file():
                shutil.copy2(src / "train" / name, train_dir / name)
        shutil.copy2(progress, train_dir.parent / "progress.json")


def _report(metrics: dict[str, Any], trial_dir: Path, with_checkpoint: bool) -> None:
    progress = trial_dir / "progress.json"
    tmp = progress.with_name(".progress.json.tmp")
    tmp.write_text(json.dumps(metrics, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(progress)
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


def train_trial(config: dict[str, Any]) -> None:
    """Train the suggested genotype's network; report validation accuracy every epoch."""
    import torch

    from nas.metrics import count_flops, count_parameters
    from nas.recipes import load_recipe
    from nas.trainer import seed_everything, train
    from search_spaces import get_space

    settings = config["settings"]
    torch.set_num_threads(max(1, int(settings["threads"])))
    genotype = from_json(config["genotype"])
    key = config["key"]
    trial_dir = Path(settings["run_dir"]) / "trials" / key
    train_dir = trial_dir / "train"
    trial_dir.mkdir(parents=True, exist_ok=True)
    save_genotype(genotype, trial_dir / "genotype.json")
    _restore_from_tune(train_dir)

    recipe = load_recipe(settings["recipe"])
    changes = dict(settings["train"])
    changes["seed"] = settings["seed"]
    if settings.get("epochs"):
        changes["epochs"] = settings["epochs"]
    train_config = recipe.train_config(**changes)
    build_options = {**recipe.model_options.get(genotype.kind, {}), **settings["build_options"]}
    data = dataset(recipe.dataset, settings["data_dir"], settings["cache_dir"])

    seed_everything(train_config.seed)
    model = get_space(settings["space"]).build(genotype, num_classes=data.num_classes, **build_options)
    params = float(count_parameters(model))
    flops = float(count_flops(model, (1, *data.image_shape)))
    spec = {"source": "genotype", "kind": genotype.kind, "spec": key, "genotype": to_dict(genotype)}
    spec["options"] = build_options
    previous = json.loads((trial_dir / "progress.json").read_text()) if (trial_dir / "progress.json").is_file() else {}
    state = {"best": _as_float(previous.get("val_accuracy")), "time": float(previous.get("trial_time_s", 0.0))}
    started = time.perf_counter()

    def metrics(epoch: int, epoch_val: float | None, best: float | None) -> dict[str, Any]:
        return {
            "val_accuracy": best,
            "epoch_val_accuracy": epoch_val,
            "epoch": epoch,
            "epochs_total": train_config.epochs,
            "params": params,
            "flops": flops,
            "trial_time_s": state["time"] + time.perf_counter() - started,
            "key": key,
        }

    def on_epoch(epoch: int, row: dict[str, Any]) -> None:
        val = _as_float(row.get("val_top1"))
        if val is not None and (state["best"] is None or val > state["best"]):
            state["best"] = val
        if epoch < train_config.epochs:  # the last epoch is reported once the run is complete (below)
            _report(metrics(epoch, val, state["best"]), trial_dir, with_checkpoint=True)

    result = train(
        model,
        data,
        train_config,
        train_dir,
        callback=on_epoch,
        progress=False,
        model_spec=spec,
        data_dir=settings["data_dir"],
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
