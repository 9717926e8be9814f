"""``nas train`` and ``nas evaluate``: the shared trainer from the command line.

``nas train`` builds a zoo model or a genotype's network with a recipe's options and
trains it once per seed (``OUT/`` for one seed, ``OUT/seed-N/`` and ``OUT/summary.json``
for several). Running the same command again resumes or reports the finished runs.
``--init-from RUN_DIR`` starts from a trained run's weights (loaded bottom-up by
:func:`nas.finetune.transfer_weights`, so a new classifier for other classes stays fresh)
and ``--finetune`` chooses what trains; the run directory records both (``transfer.json``).

``nas evaluate`` rebuilds the network of run directories from their ``config.json`` and
measures the test accuracy of their weights (optionally with flip TTA); several runs that
share a test set are also evaluated as an ensemble, by :mod:`nas.ensemble`.
:func:`export_trained_model` is ``nas export --format onnx|torchscript`` for such runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nas.errors import NasError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a zoo model or a genotype's network with a recipe (resumable)",
        description="Train a model with the shared trainer. Run the same command again to resume.",
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--model", metavar="NAME", help="a zoo model (see `nas models`) or a named genotype")
    what.add_argument("--genotype", metavar="FILE-OR-NAME", help="a genotype: name, JSON file, run dir, DARTS text")
    p.add_argument("--recipe", required=True, metavar="NAME-OR-PATH", help="e.g. quick, cifar_200ep, darts_eval")
    p.add_argument("--epochs", type=int, help="override the recipe's epochs")
    p.add_argument("--batch-size", type=int, help="override the recipe's batch size")
    p.add_argument("--lr", type=float, help="override the recipe's learning rate")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any recipe field, e.g. --set train_subset=500 --set model_options.darts.layers=5",
    )
    p.add_argument("--seeds", metavar="0,1,2", help="train once per seed (default: the recipe's seed)")
    p.add_argument("--dataset", help="override the recipe's dataset (cifar10, cifar100, mnist, ...)")
    p.add_argument("--data-dir", help="data directory (default: $NAS_DATA_DIR, else ./data)")
    p.add_argument("--download", action="store_true", help="let torchvision download a missing dataset")
    p.add_argument("--device", help="auto (default), cpu, cuda or cuda:N")
    p.add_argument("--out", required=True, metavar="DIR", help="run directory (OUT/seed-N with several seeds)")
    tune = p.add_argument_group("fine-tuning")
    tune.add_argument(
        "--init-from",
        metavar="RUN_DIR",
        help="start from a trained run's model (its best.pt/final.pt, or a weights file): its layers are "
        "loaded bottom-up until the first one that does not fit (e.g. a classifier for other classes)",
    )
    tune.add_argument(
        "--finetune",
        metavar="all|head|top:K",
        help="with --init-from: train every layer (default), only the final classifier, or the last K layers",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars or per-epoch lines")
    p.add_argument("--json", action="store_true", help="print the result(s) as JSON")
    p.set_defaults(handler=cmd_train)

    e = sub.add_parser(
        "evaluate",
        help="test accuracy of trained run directories (flip TTA, ensembles)",
        description="Rebuild each run's network from its config.json and evaluate its weights on the test set.",
    )
    e.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run directories written by `nas train`")
    e.add_argument(
        "--checkpoint",
        choices=("selected", "best", "final", "last"),
        default="selected",
        help="weights: the run's selected model (default), best.pt, final.pt or the last checkpoint",
    )
    e.add_argument("--tta", choices=("none", "flip"), default="none", help="test-time augmentation")
    e.add_argument(
        "--ensemble",
        action="store_true",
        help="require an ensemble row (the average of the runs' softmax outputs); several runs that share a "
        "test set are always ensembled, and with this flag runs that do not are an error",
    )
    e.add_argument("--data-dir", help="data directory (default: the one recorded in the run)")
    e.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    e.add_argument("--batch-size", type=int, default=256, help="evaluation batch size")
    e.add_argument("--json", action="store_true", help="print the results as JSON")
    e.set_defaults(handler=cmd_evaluate)


# --------------------------------------------------------------------------- #
# nas train
# --------------------------------------------------------------------------- #


def parse_seeds(text: str | None, default: int) -> list[int]:
    """``"0,1,2"`` -> ``[0, 1, 2]`` (distinct non-negative integers)."""
    if text is None:
        return [default]
    seeds = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit():
            raise NasError(f"--seeds: expected comma-separated non-negative integers, got {text!r}")
        seeds.append(int(part))
    if len(set(seeds)) != len(seeds):
        raise NasError(f"--seeds: seeds are repeated in {text!r}")
    return seeds


def _mean_std(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"mean": None, "std": None, "n": 0, "values": []}
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"mean": statistics.fmean(values), "std": std, "n": len(values), "values": values}


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


#: Written into a fine-tuning run directory: where its weights came from and what was loaded.
TRANSFER_FILE = "transfer.json"


def _finetune_args(init_from: str | None, finetune: str | None) -> tuple[Path | None, str]:
    """``--init-from`` as the weights file to load and ``--finetune`` checked (default ``all``)."""
    from nas.finetune import FREEZE_MODES, _parse_mode

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
    if not (src / "config.json").is_file():
        seeds = sorted(p.name for p in src.glob("seed-*") if (p / "config.json").is_file())
        if seeds:
            raise NasError(f"--init-from {src}: holds several seeds; pick one of them ({', '.join(seeds)})")
    try:
        return _weights_path(src, "selected")
    except NasError as exc:
        if "not found" not in str(exc):
            raise
        raise NasError(
            f"--init-from {src}: no model file (best.pt or final.pt); expected a run directory written by `nas train`"
        ) from None


def _previous_finetune(run_dir: Path) -> dict[str, Any] | None:
    """The ``finetune`` record of the run already in ``run_dir`` (None when it has none)."""
    path = run_dir / "config.json"
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # train() reports an unreadable config.json
    record = doc.get("meta", {}).get("finetune") if isinstance(doc, dict) else None
    return record if isinstance(record, dict) else None


def _refuse_finetuning_run(run_dir: Path) -> None:
    previous = _previous_finetune(run_dir)
    if previous is not None:
        raise NasError(
            f"{run_dir}: holds a fine-tuning run (--init-from {previous.get('init_from')} "
            f"--finetune {previous.get('mode')}); repeat those flags to resume it, or use another --out"
        )


def _prepare_finetune(model: Any, run_dir: Path, weights: Path, mode: str) -> dict[str, Any]:
    """Load ``weights`` into ``model`` bottom-up (fresh runs only) and freeze it per ``mode``.

    A run being resumed (or already complete) gets its weights from its own checkpoint,
    so nothing is transferred over them; only ``requires_grad`` is set again, so the
    optimiser has the parameter groups its saved state was made for.
    """
    from nas.finetune import freeze, load_state_dict_file, transfer_weights

    started = (run_dir / "checkpoint.pt").exists() or (run_dir / "result.json").exists()
    previous = _previous_finetune(run_dir) if started else None
    if started and previous is None and (run_dir / "config.json").exists():
        raise NasError(f"{run_dir}: holds a run trained without --init-from; use another --out to fine-tune")
    if previous is not None:
        if (previous.get("weights"), previous.get("mode")) != (str(weights.resolve()), mode):
            raise NasError(
                f"{run_dir}: holds a fine-tuning run of --init-from {previous.get('init_from')} --finetune "
                f"{previous.get('mode')}, not of {weights} --finetune {mode}; use another --out"
            )
        trainable = freeze(model, mode)
        if not (run_dir / "result.json").exists():
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


def cmd_train(args: argparse.Namespace) -> int:
    from nas.data import load_dataset, resolve_data_dir
    from nas.recipes import load_recipe, recipe_overrides
    from nas.trainer import build_model, describe_spec, resolve_spec, seed_everything, train
    from nas.training.checkpoint import write_json

    overrides = recipe_overrides(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, assignments=args.set)
    if args.dataset is not None:
        overrides.append((f"--dataset {args.dataset}", "dataset", args.dataset))
    recipe = load_recipe(args.recipe, overrides)
    seeds = parse_seeds(args.seeds, recipe.seed)
    device = args.device if args.device is not None else recipe.device
    configs = [recipe.train_config(seed=seed, device=device) for seed in seeds]
    spec = resolve_spec(model=args.model, genotype=args.genotype, model_options=recipe.model_options)
    out = Path(args.out)
    if len(seeds) > 1 and (out / "config.json").exists():
        raise NasError(f"{out}: is a single-seed run directory; use another --out for several seeds")
    init, mode = _finetune_args(args.init_from, args.finetune)
    data = load_dataset(recipe.dataset, args.data_dir, download=args.download)
    data_dir = resolve_data_dir(args.data_dir)
    meta = {
        "recipe": recipe.name,
        "recipe_description": recipe.description,
        "arguments": {k: v for k, v in vars(args).items() if k not in ("handler", "command")},
    }
    progress = not args.quiet
    rows = []
    for seed, config in zip(seeds, configs):
        run_dir = out if len(seeds) == 1 else out / f"seed-{seed}"
        seed_everything(seed)
        model = build_model(
            spec, num_classes=data.num_classes, in_channels=data.in_channels, image_size=data.image_size
        )
        finetune = _prepare_finetune(model, run_dir, init, mode) if init is not None else None
        if finetune is None:
            _refuse_finetuning_run(run_dir)
        if progress:
            print(
                f"training {describe_spec(spec)} (seed {seed}) with recipe {recipe.name} -> {run_dir}", file=sys.stderr
            )
        run_meta = meta if finetune is None else {**meta, "finetune": finetune}
        result = train(
            model, data, config, run_dir, progress=progress, model_spec=spec, data_dir=data_dir, meta=run_meta
        )
        if result.already_complete:
            print(f"{run_dir}: already complete; not retraining (delete it to train again)", file=sys.stderr)
        if spec["source"] == "genotype" and not (run_dir / "genotype.json").exists():
            from nas.formats import from_dict, save_genotype

            save_genotype(from_dict(spec["genotype"], source="model spec"), run_dir / "genotype.json")
        row = {"seed": seed, "run_dir": str(run_dir), **result.to_dict()}
        if finetune is not None:
            write_json(run_dir / TRANSFER_FILE, finetune)
            row["finetune"] = {k: finetune[k] for k in ("init_from", "weights", "mode", "summary")}
        rows.append(row)

    summary = None
    if len(seeds) > 1:
        summary = {
            "model": describe_spec(spec),
            "recipe": recipe.name,
            "dataset": recipe.dataset,
            "seeds": seeds,
            "test_top1": _mean_std([r["test_top1"] for r in rows if r["test_top1"] is not None]),
            "test_final_top1": _mean_std([r["test_final_top1"] for r in rows if r["test_final_top1"] is not None]),
            "best_val_top1": _mean_std([r["best_val_top1"] for r in rows if r["best_val_top1"] is not None]),
            "runs": rows,
        }
        write_json(out / "summary.json", summary)
    if args.json:
        print(json.dumps(summary if summary is not None else rows[0], indent=2))
    else:
        _print_train_table(describe_spec(spec), recipe.name, data.name, rows, summary)
    return 0


def _print_train_table(model: str, recipe: str, dataset: str, rows: list[dict], summary: dict | None) -> None:
    print(f"{model} | recipe {recipe} | {dataset}")
    header = (
        f"{'seed':>4}  {'epochs':>7}  {'best ep':>7}  {'val top1':>8}  {'test top1':>9}  "
        f"{'test top1 (final)':>17}  {'test top5':>9}  {'img/s':>6}  {'time':>7}"
    )
    print(header)
    for r in rows:
        print(
            f"{r['seed']:>4}  {str(r['epochs_completed']) + '/' + str(r['epochs']):>7}  "
            f"{r['best_epoch'] if r['best_epoch'] is not None else '-':>7}  {_fmt(r['best_val_top1']):>8}  "
            f"{_fmt(r['test_top1']):>9}  {_fmt(r['test_final_top1']):>17}  {_fmt(r['test_top5']):>9}  "
            f"{r['images_per_s']:>6.0f}  {_duration(r['train_time_s'] + r['eval_time_s']):>7}"
        )
    if summary is not None:
        t, v, f = summary["test_top1"], summary["best_val_top1"], summary["test_final_top1"]

        def pm(s: dict) -> str:
            return "-" if s["mean"] is None else f"{s['mean']:.2f}±{s['std']:.2f}"

        print(f"{'mean±std':>4}  {'':>7}  {'':>7}  {pm(v):>8}  {pm(t):>9}  {pm(f):>17}")
    selection = rows[0]["selection"]
    if selection == "final":
        print("test top1 is the final model's (no validation split, so no selection)")
    else:
        print("test top1 is the model of the best validation epoch; the final model's is shown beside it")


# --------------------------------------------------------------------------- #
# nas evaluate
# --------------------------------------------------------------------------- #


def _read_run_config(run: Path) -> dict[str, Any]:
    path = run / "config.json"
    if not path.is_file():
        raise NasError(f"{run}: not a run directory (no config.json)")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise NasError(f"{path}: cannot read ({exc.__class__.__name__})") from None
    if not isinstance(doc, dict) or not {"model", "dataset", "train"} <= set(doc):
        raise NasError(f"{path}: not a config.json written by the trainer")
    return doc


def _weights_path(run: Path, which: str) -> Path:
    if which == "selected":
        result = run / "result.json"
        if result.is_file():
            try:
                selection = json.loads(result.read_text(encoding="utf-8")).get("selection")
            except (OSError, ValueError):
                raise NasError(f"{result}: cannot read") from None
            which = "best" if selection == "best_val" else "final"
        else:
            which = "best" if (run / "best.pt").is_file() else "final"
    name = {"best": "best.pt", "final": "final.pt", "last": "checkpoint.pt"}[which]
    path = run / name
    if not path.is_file():
        hint = " (the run is not complete; try --checkpoint last)" if which in ("final", "best") else ""
        raise NasError(f"{path}: not found{hint}")
    return path


@dataclass
class LoadedRun:
    """A run directory's network rebuilt with trained weights, with its data and test split."""

    run: Path
    model: Any  # torch.nn.Module holding the weights
    weights: Path
    data: Any  # nas.data.ImageDataset
    config: Any  # nas.trainer.TrainConfig (device and eval batch size as asked here)
    test: Any  # row indices of the run's test split

    @property
    def dataset(self) -> str:
        return str(self.data.name)


def load_run(
    run: str | Path,
    *,
    checkpoint: str = "selected",
    data_dir: str | None = None,
    device: str = "auto",
    batch_size: int = 256,
    cache: dict | None = None,
) -> LoadedRun:
    """Rebuild a run's network from its ``config.json``, load its weights (``weights_only``) and its data."""
    from nas.data import load_dataset
    from nas.trainer import TrainConfig, build_model, load_torch, load_weights, make_splits

    run = Path(run)
    doc = _read_run_config(run)
    spec = doc["model"]
    if spec.get("source") not in ("zoo", "genotype"):
        raise NasError(
            f"{run}: the model was built in Python ({spec.get('class', 'unknown class')}) and cannot be rebuilt here"
        )
    ds_info = doc["dataset"]
    root = data_dir if data_dir is not None else ds_info.get("data_dir")
    key = (ds_info["name"], root)
    cache = {} if cache is None else cache
    if key not in cache:
        cache[key] = load_dataset(ds_info["name"], root)
    data = cache[key]
    if (data.num_classes, data.in_channels) != (ds_info["num_classes"], ds_info["in_channels"]):
        raise NasError(
            f"{run}: was trained on {ds_info['num_classes']} classes x {ds_info['in_channels']} channels, "
            f"the dataset found has {data.num_classes} x {data.in_channels}"
        )
    train_fields = {k: v for k, v in doc["train"].items() if k in TrainConfig.model_fields}
    try:
        config = TrainConfig(**{**train_fields, "device": device, "eval_batch_size": batch_size, "compile": False})
    except Exception as exc:
        raise NasError(f"{run / 'config.json'}: invalid training config ({exc.__class__.__name__})") from None
    splits = make_splits(data, config)
    model = build_model(spec, num_classes=data.num_classes, in_channels=data.in_channels, image_size=data.image_size)
    path = _weights_path(run, checkpoint)
    state = load_torch(path, "weights")
    if path.name == "checkpoint.pt":
        if not isinstance(state, dict) or "model" not in state:
            raise NasError(f"{path}: not a checkpoint written by the trainer")
        state = state["model"]
    load_weights(model, state, path)
    return LoadedRun(run=run, model=model, weights=path, data=data, config=config, test=splits.test)


def _test_loader(
    loaded: LoadedRun, batch_size: int, *, device: Any = "cpu", channels_last: bool = False, count: int | None = None
) -> Any:
    """The run's test split, normalised as in training (the first ``count`` images only, if given)."""
    from nas.data import BatchLoader

    data = loaded.data
    return BatchLoader(
        data.test_images,
        data.test_labels,
        batch_size=batch_size,
        mean=data.mean,
        std=data.std,
        shuffle=False,
        device=device,
        channels_last=channels_last,
        indices=loaded.test if count is None else loaded.test[:count],
    )


def _predictor(engine: Any, tta_flip: bool) -> Any:
    """The engine's model as an ensemble member: logits, or log-probabilities averaged over flips.

    :mod:`nas.ensemble` applies a softmax to what a member returns; the softmax of
    ``log p`` is ``p``, so flip TTA (an average of probabilities) passes through unchanged.
    Runs under the engine's autocast, like training-time evaluation.
    """
    import torch
    from torch import nn

    from nas.training.loop import split_output

    class Member(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = engine.model

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            with engine.autocast():
                logits = split_output(engine.module(x))[0].float()
                if not tta_flip:
                    return logits
                flipped = split_output(engine.module(x.flip(-1)))[0].float()
            return ((logits.softmax(1) + flipped.softmax(1)) / 2).log()

    return Member()


def _same_test_set(a: LoadedRun, b: LoadedRun) -> bool:
    import torch

    if a.dataset != b.dataset or a.test.shape != b.test.shape or not torch.equal(a.test, b.test):
        return False
    return a.data is b.data or torch.equal(a.data.test_labels[a.test], b.data.test_labels[b.test])


def cmd_evaluate(args: argparse.Namespace) -> int:
    """One pass over the test set evaluates every run and, with several runs, their ensemble.

    The accuracy of members and ensemble both come from :func:`nas.ensemble.evaluate_ensemble`.
    """
    from nas.ensemble import evaluate_ensemble
    from nas.trainer import Engine

    if args.batch_size < 1:
        raise NasError(f"--batch-size: expected a positive integer, got {args.batch_size}")
    cache: dict = {}
    loaded = [
        load_run(
            run,
            checkpoint=args.checkpoint,
            data_dir=args.data_dir,
            device=args.device,
            batch_size=args.batch_size,
            cache=cache,
        )
        for run in args.runs
    ]
    groups: list[list[int]] = []  # runs sharing a test set: evaluated together
    for i, item in enumerate(loaded):
        for group in groups:
            if _same_test_set(loaded[group[0]], item):
                group.append(i)
                break
        else:
            if groups and args.ensemble:
                raise NasError(f"{item.run}: its test set differs from {loaded[0].run}'s; cannot ensemble them")
            groups.append([i])
    ensemble = len(loaded) > 1 and len(groups) == 1
    if len(groups) > 1:
        print("the runs have different test sets: no ensemble", file=sys.stderr)
    rows: list[dict[str, Any]] = [{} for _ in loaded]
    for group in groups:
        engines = [Engine(loaded[i].model, loaded[i].config, steps_per_epoch=1) for i in group]
        result = evaluate_ensemble(
            [_predictor(engine, args.tta == "flip") for engine in engines],
            _test_loader(
                loaded[group[0]], args.batch_size, device=engines[0].device, channels_last=engines[0].channels_last
            ),
            names=[str(loaded[i].run) for i in group],
        )
        for i, member in zip(group, result.members):
            rows[i] = _evaluate_row(member["name"], loaded[i].weights.name, args.tta, member, result.count, loaded[i])
        if ensemble:
            ens = {"top1": result.top1, "top5": result.top5}
            rows.append(
                _evaluate_row(f"ensemble of {len(group)}", args.checkpoint, args.tta, ens, result.count, loaded[0])
            )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len("run"), *(len(r["run"]) for r in rows))
    print(f"{'run':<{width}}  {'weights':<13}  {'tta':<4}  {'test top1':>9}  {'test top5':>9}  {'images':>6}")
    for r in rows:
        print(
            f"{r['run']:<{width}}  {r['weights']:<13}  {r['tta']:<4}  {r['test_top1']:>9.2f}  "
            f"{r['test_top5']:>9.2f}  {r['images']:>6}"
        )
    if ensemble:
        best = max(rows[:-1], key=lambda r: r["test_top1"])
        gain = rows[-1]["test_top1"] - best["test_top1"]
        print(f"ensemble top1 {rows[-1]['test_top1']:.2f} vs best member {best['test_top1']:.2f} ({gain:+.2f})")
    return 0


def _evaluate_row(
    name: str, weights: str, tta: str, acc: dict[str, Any], images: int, loaded: LoadedRun
) -> dict[str, Any]:
    return {
        "run": name,
        "weights": weights,
        "tta": tta,
        "test_top1": float(acc["top1"]),
        "test_top5": float(acc["top5"]),
        "images": images,
        "dataset": loaded.dataset,
    }


# --------------------------------------------------------------------------- #
# nas export --format onnx|torchscript (registered with the genotype export in nas.commands.search)
# --------------------------------------------------------------------------- #

#: Model formats of ``nas export`` and the default file name of each in the run directory.
MODEL_FORMATS: dict[str, str] = {"onnx": "model.onnx", "torchscript": "model.ts"}


def export_trained_model(
    run_dir: str | Path,
    fmt: str,
    out: str | Path | None = None,
    *,
    checkpoint: str = "selected",
    images: int = 16,
    data_dir: str | None = None,
    onnx_method: str = "auto",
) -> tuple[Any, int, str]:
    """Export a training run's model to ONNX or TorchScript and check it on real test images.

    The network is rebuilt from ``config.json`` with its trained weights (loaded
    ``weights_only``), exported on the CPU, then the written file is run on the first
    ``images`` test images of the run's dataset (and on a second batch of another size)
    and compared with PyTorch. Returns the :class:`nas.export_model.ExportReport`, the
    number of test images used and the dataset's name.
    """
    from nas.export_model import export_onnx, export_torchscript, onnxruntime_available

    if fmt not in MODEL_FORMATS:
        raise NasError(f"--format: expected one of {', '.join(MODEL_FORMATS)} for a trained model, got {fmt!r}")
    if fmt == "onnx" and not onnxruntime_available():
        raise NasError("--format onnx: onnxruntime is needed to check the exported model; pip install -e '.[export]'")
    if images < 1:
        raise NasError(f"--images: expected a positive integer, got {images}")
    run = Path(run_dir)
    if not run.is_dir():
        raise NasError(f"{run}: run directory not found")
    if not (run / "config.json").is_file():
        what = "a search run (genotype.json)" if (run / "genotype.json").is_file() else "no config.json"
        raise NasError(
            f"{run}: not a training run directory ({what}); --format {fmt} exports a model trained with `nas train`"
        )
    loaded = load_run(run, checkpoint=checkpoint, data_dir=data_dir, device="cpu", batch_size=images)
    if len(loaded.test) == 0:
        raise NasError(f"{run}: the run's test split is empty; no images to check the export on")
    example, _ = next(iter(_test_loader(loaded, images, count=images)))
    target = Path(out) if out is not None else run / MODEL_FORMATS[fmt]
    if fmt == "onnx":
        report = export_onnx(loaded.model, target, example, method=onnx_method)
    else:
        report = export_torchscript(loaded.model, target, example)
    return report, len(example), loaded.dataset
