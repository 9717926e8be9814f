"""A short retraining of the DARTS-space quickstart's cell against DARTS_V2 and random cells.

Why: the DARTS space has no table, so what a user can check of a found cell without a GPU
week is its skip count, its size and how it trains against known cells under one protocol.
This benchmark runs the quickstart search (``experiments/quickstart.yaml``, the recommended
DARTS-space search), then trains the found cell, DARTS_V2 and ``--random`` cells drawn
uniformly from the DARTS space (``random.Random(random_seed + i)``) with the same recipe
(default ``quick``: 5,000 balanced CIFAR-10 images, 5 epochs, C=16, 8 cells, a 2,000-image
balanced test subset) and the same training seeds, interleaved (every cell for one seed,
then the next seed). Five epochs rank cells only roughly; the result says how roughly by
showing every row and the spread of the random ones.

    OMP_NUM_THREADS=1 python benchmarks/bench_darts_cell_retrain.py --data-dir ../shared/data

Every search and training is a resumable run directory under ``--out`` (rerun the same
command to continue); the result file is rewritten after every training, and its times are
the ones the run directories recorded (a rerun that trains nothing writes the same rows).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from pathlib import Path
from typing import Any

from _common import ROOT, write_result

from nas.api import genotype as resolve_genotype
from nas.api import search, train
from nas.config_io import parse_override, parse_seeds
from nas.darts.guards import skip_counts
from nas.darts.search import eval_params
from nas.errors import NasError
from nas.genotypes.codec import to_text
from nas.genotypes.types import Genotype
from nas.runs.atomic import read_json
from nas.search_spaces import get_space

SEARCH_CONFIG = ROOT / "experiments" / "quickstart.yaml"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default=None, help="data directory (default: $NAS_DATA_DIR)")
    p.add_argument("--search-seed", type=int, default=0, help="seed of the quickstart search")
    p.add_argument("--random", type=int, default=5, help="how many random DARTS-space cells")
    p.add_argument("--random-seed", type=int, default=0, help="random cell i is drawn with seed random_seed + i")
    p.add_argument("--seeds", default="0", help="comma-separated training seeds (every cell, every seed)")
    p.add_argument("--recipe", default="quick", help="the one training recipe of every cell")
    p.add_argument("--set", dest="overrides", action="append", default=[], help="recipe key=value for every cell")
    p.add_argument("--search-set", dest="search_overrides", action="append", default=[], help="search config key=value")
    p.add_argument("--out", default=str(ROOT / "runs" / "bench_darts_cell_retrain"))
    p.add_argument("--results", default=str(ROOT / "benchmarks" / "results" / "darts_cell_retrain"))
    return p.parse_args(argv)


def _overrides(items: list[str]) -> dict[str, Any]:
    return dict(parse_override(item) for item in items)


def candidates(found: Genotype, n_random: int, random_seed: int) -> list[tuple[str, Genotype]]:
    """The found cell, DARTS_V2 and ``n_random`` uniformly drawn DARTS-space cells, named."""
    space = get_space("darts")
    cells = [("quickstart", found), ("DARTS_V2", resolve_genotype("DARTS_V2"))]
    cells += [(f"random {i}", space.sample(random.Random(random_seed + i))) for i in range(n_random)]
    return cells


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per cell: mean test top-1 over its training seeds, its rank among the cells (1 = best)."""
    by: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by.setdefault(row["cell"], []).append(row)
    out = []
    for name, rs in by.items():
        accs = [r["test_top1"] for r in rs]
        out.append(
            {
                "cell": name,
                "n": len(accs),
                "test_top1_mean": round(statistics.fmean(accs), 2),
                "test_top1_values": accs,
                "skips": rs[0]["skips"],
                "params": rs[0]["params"],
                "eval_params": rs[0]["eval_params"],
                "train_time_s_median": round(statistics.median(r["train_time_s"] for r in rs), 1),
            }
        )
    out.sort(key=lambda r: -r["test_top1_mean"])
    for rank, row in enumerate(out, 1):
        row["rank"] = rank
    return out


def markdown(summary: list[dict[str, Any]], search_row: dict[str, Any], recipe: str, seeds: list[int]) -> str:
    lines = [
        "# DARTS space: the quickstart's cell, retrained briefly against DARTS_V2 and random cells",
        "",
        f"Quickstart search (seed {search_row['seed']}): {search_row['search_time_s']} s, skip connections "
        + ", ".join(f"{k} {v}" for k, v in search_row["skips"].items())
        + f"; {search_row['eval_params']:,} parameters at C=36, 20 cells.",
        f"Every cell trained with the `{recipe}` recipe, training seeds {seeds}; test top-1 on the "
        "recipe's test subset. Rank 1 = best of the cells.",
        "",
        "| rank | cell | test top-1 % (mean) | values | skips (normal, reduce) | params (recipe size) "
        "| params (C=36, 20 cells) | training s (median) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in summary:
        skips = f"{r['skips'].get('normal', 0)}, {r['skips'].get('reduce', 0)}"
        lines.append(
            f"| {r['rank']} | {r['cell']} | {r['test_top1_mean']:.2f} | "
            f"{', '.join(f'{v:.2f}' for v in r['test_top1_values'])} | {skips} | {r['params']:,} | "
            f"{r['eval_params']:,} | {r['train_time_s_median']} |"
        )
    randoms = [r["test_top1_mean"] for r in summary if r["cell"].startswith("random")]
    if randoms:
        lines += [
            "",
            f"Random cells: median {statistics.median(randoms):.2f}, range {min(randoms):.2f}-{max(randoms):.2f}.",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    seeds = parse_seeds(args.seeds)
    overrides = _overrides(args.overrides)
    out = Path(args.out)
    search_overrides: dict[str, Any] = {**_overrides(args.search_overrides), "seed": args.search_seed}
    if args.data_dir:
        search_overrides["data_dir"] = args.data_dir
    found = search(SEARCH_CONFIG, out=out / f"search-seed{args.search_seed}", overrides=search_overrides)
    recorded = read_json(found.run_dir / "result.json", "the search's result")  # the search's own checks
    search_row = {
        "seed": args.search_seed,
        "genotype": to_text(found.genotype),
        "search_time_s": recorded["search_time_s"],
        "already_finished": found.already_finished,
        "skips": recorded["skip_counts"],
        "eval_params": recorded["eval_params"],
    }
    print(f"quickstart search: {search_row['genotype']}  skips {search_row['skips']}", flush=True)
    cells = candidates(found.genotype, args.random, args.random_seed)
    sizes = {name: eval_params(cell, 10) for name, cell in cells}  # built once per cell, not per seed
    rows: list[dict[str, Any]] = []
    for seed in seeds:
        for name, cell in cells:
            run_dir = out / f"{name.replace(' ', '_')}-seed{seed}"
            job = train(
                cell, recipe=args.recipe, out=run_dir, seeds=[seed], data_dir=args.data_dir, overrides=overrides
            )
            got = job.rows[0]
            rows.append(
                {
                    "cell": name,
                    "seed": seed,
                    "genotype": to_text(cell),
                    "skips": skip_counts(cell),
                    "params": got["num_parameters"],
                    "eval_params": sizes[name],
                    "test_top1": got["test_top1"],
                    "val_top1": got["best_val_top1"],
                    "train_time_s": round(got["train_time_s"] + got["eval_time_s"], 1),
                    "run_dir": str(got["run_dir"]),
                }
            )
            print(f"{name:12s} seed {seed}: test {got['test_top1']:.2f}  {rows[-1]['train_time_s']} s", flush=True)
            summary = summarize(rows)
            payload = {
                "recipe": args.recipe,
                "recipe_overrides": overrides,
                "search_overrides": search_overrides,
                "training_seeds": seeds,
                "random_seed": args.random_seed,
                "search": search_row,
                "summary": summary,
                "rows": rows,
            }
            write_result(Path(args.results).with_suffix(".json"), payload)
            Path(args.results).with_suffix(".md").write_text(
                markdown(summary, search_row, args.recipe, seeds), encoding="utf-8"
            )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except NasError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
