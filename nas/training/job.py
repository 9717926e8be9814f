"""A training job: a zoo model or a genotype, a recipe, one or more seeds -> run directories.

The one code path of ``nas train`` and :func:`nas.api.train`: the recipe and its
overrides are validated for every seed before the first epoch, each seed trains into
``OUT/`` (one seed) or ``OUT/seed-N/`` with ``OUT/summary.json`` (several), and running
the same job again resumes or reports what is already finished.
"""

from __future__ import annotations

import contextlib
import statistics
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nas.data import load_dataset, resolve_data_dir
from nas.errors import NasError
from nas.genotypes.codec import from_dict, save_genotype
from nas.runs import lock
from nas.runs.atomic import write_json
from nas.runs.rng import seed_everything
from nas.training.finetune import TRANSFER_FILE, finetune_args, prepare_finetune, refuse_finetuning_run
from nas.training.recipes import load_recipe
from nas.training.run import train
from nas.training.spec import build_model, describe_spec, resolve_spec

#: ``(flag as the user typed it, dotted recipe key, value)``: how overrides name their origin in errors.
Override = tuple[str, str, Any]


@dataclass(frozen=True)
class TrainJobResult:
    """One row per seed (``TrainResult.to_dict()`` plus seed and run dir) and, for several seeds, the summary."""

    model: str
    recipe: str
    dataset: str
    rows: list[dict[str, Any]]
    summary: dict[str, Any] | None


def mean_std(values: Sequence[float]) -> dict[str, Any]:
    if not values:
        return {"mean": None, "std": None, "n": 0, "values": []}
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"mean": statistics.fmean(values), "std": std, "n": len(values), "values": list(values)}


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def train_job(
    *,
    out: str | Path,
    model: str | None = None,
    genotype: str | None = None,
    recipe: str = "quick",
    overrides: Sequence[Override] = (),
    seeds: Sequence[int] | None = None,
    device: str | None = None,
    data_dir: str | Path | None = None,
    download: bool = False,
    init_from: str | None = None,
    finetune: str | None = None,
    extend: bool = False,
    progress: bool = True,
    arguments: Mapping[str, Any] | None = None,
    say: Callable[[str], None] = _stderr,
) -> TrainJobResult:
    """Train ``model`` (a zoo name) or ``genotype`` (name, file or text) with ``recipe`` once per seed."""
    loaded = load_recipe(recipe, list(overrides))
    seeds = [loaded.seed] if not seeds else list(seeds)
    device = device if device is not None else loaded.device
    configs = [loaded.train_config(seed=seed, device=device) for seed in seeds]
    spec = resolve_spec(model=model, genotype=genotype, model_options=loaded.model_options)
    out = Path(out)
    if len(seeds) > 1 and (out / "config.json").exists():
        raise NasError(f"{out}: is a single-seed run directory; use another --out for several seeds")
    init, mode = finetune_args(init_from, finetune)
    data = load_dataset(loaded.dataset, data_dir, download=download)
    meta = {"recipe": loaded.name, "recipe_description": loaded.description, "arguments": dict(arguments or {})}
    with contextlib.ExitStack() as stack:
        stack.enter_context(lock.hold(out, warn=say))  # one process per run directory
        rows = []
        for seed, config in zip(seeds, configs):
            run_dir = out if len(seeds) == 1 else out / f"seed-{seed}"
            seed_lock = stack.enter_context(contextlib.ExitStack())
            if run_dir != out:  # against a single-seed run into OUT/seed-N too
                seed_lock.enter_context(lock.hold(run_dir, warn=say))
            seed_everything(seed)
            net = build_model(
                spec, num_classes=data.num_classes, in_channels=data.in_channels, image_size=data.image_size
            )
            transfer = prepare_finetune(net, run_dir, init, mode) if init is not None else None
            if transfer is None:
                refuse_finetuning_run(run_dir)
            if progress:
                say(f"training {describe_spec(spec)} (seed {seed}) with recipe {loaded.name} -> {run_dir}")
            run_meta = meta if transfer is None else {**meta, "finetune": transfer}
            result = train(
                net,
                data,
                config,
                run_dir,
                progress=progress,
                model_spec=spec,
                data_dir=resolve_data_dir(data_dir),
                meta=run_meta,
                extend=extend,
            )
            if result.already_complete:
                say(f"{run_dir}: already complete; not retraining (delete it to train again)")
            if spec["source"] == "genotype" and not (run_dir / "genotype.json").exists():
                save_genotype(from_dict(spec["genotype"], source="model spec"), run_dir / "genotype.json")
            row = {"seed": seed, "run_dir": str(run_dir), **result.to_dict()}
            if transfer is not None:
                write_json(run_dir / TRANSFER_FILE, transfer)
                row["finetune"] = {k: transfer[k] for k in ("init_from", "weights", "mode", "summary")}
            rows.append(row)
            seed_lock.close()
        summary = _summary(spec, loaded, seeds, rows, out) if len(seeds) > 1 else None
    return TrainJobResult(describe_spec(spec), loaded.name, data.name, rows, summary)


def _summary(spec: Any, recipe: Any, seeds: Sequence[int], rows: list[dict[str, Any]], out: Path) -> dict[str, Any]:
    def column(key: str) -> dict[str, Any]:
        return mean_std([r[key] for r in rows if r[key] is not None])

    summary = {
        "model": describe_spec(spec),
        "recipe": recipe.name,
        "dataset": recipe.dataset,
        "seeds": list(seeds),
        "test_top1": column("test_top1"),
        "test_final_top1": column("test_final_top1"),
        "best_val_top1": column("best_val_top1"),
        "runs": rows,
    }
    write_json(out / "summary.json", summary)
    return summary
