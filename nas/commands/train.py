"""``nas train`` and ``nas evaluate``: the shared trainer from the command line.

``nas train`` builds a zoo model or a genotype's network with a recipe's options and
trains it once per seed (``OUT/`` for one seed, ``OUT/seed-N/`` and ``OUT/summary.json``
for several). Running the same command again resumes or reports the finished runs;
``--extend`` with a larger ``--epochs`` continues a run's schedule. ``--init-from RUN_DIR``
starts from a trained run's weights and ``--finetune`` chooses what trains
(:mod:`nas.training.finetune`; the run directory records both in ``transfer.json``).

``nas evaluate`` rebuilds the network of run directories (:func:`nas.training.finished.load_run`)
and measures the test accuracy of their weights (optionally with flip TTA); several runs that
share a test set are also evaluated as an ensemble (:func:`nas.tools.ensemble.evaluate_runs`).
This module only turns flags into those calls and prints their results.
"""

from __future__ import annotations

import argparse
import json
import sys

from nas.commands import Subcommands
from nas.config_io import parse_seeds
from nas.errors import NasError
from nas.tools.ensemble import evaluate_runs
from nas.training.finished import CHECKPOINT_CHOICES, load_run
from nas.training.job import train_job
from nas.training.recipes import recipe_overrides


def register(sub: Subcommands) -> None:
    p = sub.add_parser(
        "train",
        description="Train a model with the shared trainer. Run the same command again to resume.",
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--model", metavar="NAME", help="a zoo model (see `nas models`) or a named genotype")
    what.add_argument("--genotype", metavar="FILE-OR-NAME", help="a genotype: name, JSON file, run dir, DARTS text")
    p.add_argument("--recipe", required=True, metavar="NAME-OR-PATH", help="e.g. quick, cifar_200ep, darts_eval")
    p.add_argument("--epochs", type=int, help="override the recipe's epochs")
    p.add_argument(
        "--extend",
        action="store_true",
        help="allow --epochs to exceed the epochs of the run already in --out (finished or interrupted): it "
        "continues from its last checkpoint, and config.json records the change. The cosine learning rate is "
        "re-planned over the new total: the further epochs get the rates a run planned for the new --epochs "
        "would have there (the rate rises to that value, then anneals to lr_min at the new end)",
    )
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
        description="Rebuild each run's network from its config.json and evaluate its weights on the test set.",
    )
    e.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run directories written by `nas train`")
    e.add_argument(
        "--checkpoint",
        choices=CHECKPOINT_CHOICES,
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


def cmd_train(args: argparse.Namespace) -> int:
    overrides = recipe_overrides(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, assignments=args.set)
    if args.dataset is not None:
        overrides.append((f"--dataset {args.dataset}", "dataset", args.dataset))
    job = train_job(
        out=args.out,
        model=args.model,
        genotype=args.genotype,
        recipe=args.recipe,
        overrides=overrides,
        seeds=None if args.seeds is None else parse_seeds(args.seeds, "--seeds"),
        device=args.device,
        data_dir=args.data_dir,
        download=args.download,
        init_from=args.init_from,
        finetune=args.finetune,
        extend=args.extend,
        progress=not args.quiet,
        arguments={k: v for k, v in vars(args).items() if k not in ("handler", "command")},
    )
    if args.json:
        print(json.dumps(job.summary if job.summary is not None else job.rows[0], indent=2))
    else:
        _print_train_table(job.model, job.recipe, job.dataset, job.rows, job.summary)
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


def cmd_evaluate(args: argparse.Namespace) -> int:
    """One pass over the test set evaluates every run and, with several runs, their ensemble."""
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
    evaluation = evaluate_runs(
        loaded, tta_flip=args.tta == "flip", require_ensemble=args.ensemble, checkpoint=args.checkpoint
    )
    if not evaluation.shared:
        print("the runs have different test sets: no ensemble", file=sys.stderr)
    rows = evaluation.rows
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
    if evaluation.ensembled:
        best = max(rows[:-1], key=lambda r: r["test_top1"])
        gain = rows[-1]["test_top1"] - best["test_top1"]
        print(f"ensemble top1 {rows[-1]['test_top1']:.2f} vs best member {best['test_top1']:.2f} ({gain:+.2f})")
    return 0
