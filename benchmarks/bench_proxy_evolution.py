"""Regularized evolution with and without proxy help (warm-up, move proposal) under the NAS-Bench-201 protocol.

Every query is charged its 12-epoch cost (12,000 s budget), the reward is the 12-epoch
validation accuracy and the reported number is the test accuracy of the best-reward
cell (:mod:`nas.nb201_protocol`); the proxy scores are free. Four rows on the same seeds:
``evolution`` (plain), ``warmup`` (initial population = the best-scored of
``--warmup`` random cells), ``move`` (move proposal over every single-decision
neighbour, a random one with probability 0.25) and ``warmup+move``, all with the same
evolution options (``--population``, ``--sample``; default: the shipped tuned 20, 10).

The scores: ``--scores FILE`` (a proxy table from ``benchmarks/build_proxy_table.py``,
complete for all 15,625 cells), or ``--table-column params_M`` (a column of the table
itself as the score: the parameter count, a free baseline proxy; named in the result).

    python benchmarks/bench_proxy_evolution.py --table-column params_M --seeds 500 \
        --out benchmarks/results/nb201_proxy_evolution_params.json
"""

from __future__ import annotations

import argparse
import csv
import statistics
import tempfile
import time
from pathlib import Path

import _common

from nas.controllers.proxy_evolution import ProxyAssistedEvolution
from nas.nb201_protocol import PUBLISHED, simulate, simulate_controller, summarize
from nas.nb201_table import NB201Table, find_table
from nas.search_spaces import get_space


def table_scores(table: NB201Table, column: str, folder: Path) -> Path:
    """A proxy table whose score is a column of the NAS-Bench-201 table (e.g. ``params_M``)."""
    path = folder / f"table_{column}.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["arch", "score", "proxy", "seed", "batch_size"])
        for rec in table:
            w.writerow([rec.arch_str, getattr(rec, column), f"table:{column}", 0, 0])
    return path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--scores", help="proxy table CSV (arch,score) for every cell")
    src.add_argument("--table-column", help="use this column of the NB201 table as the score (e.g. params_M)")
    p.add_argument("--seeds", type=int, default=50)
    p.add_argument("--seed-start", type=int, default=0)
    p.add_argument("--population", type=int, default=20)
    p.add_argument("--sample", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3000, help="random cells the warm-up ranks (notebook: 3000)")
    p.add_argument("--table", default=None)
    p.add_argument("--out", default=None, help="result JSON (default: print only)")
    args = p.parse_args()
    table = NB201Table.load(args.table or find_table())
    base = {"population_size": args.population, "sample_size": args.sample, "avoid_duplicates": True}
    variants = {
        "random": "random",
        "evolution": None,
        "warmup": {"warmup_samples": args.warmup, "move_proposal": False},
        "move": {"move_proposal": True},
        "warmup+move": {"warmup_samples": args.warmup, "move_proposal": True},
    }
    seeds = range(args.seed_start, args.seed_start + args.seeds)
    rows = {}
    with tempfile.TemporaryDirectory() as d:
        scores = args.scores or str(table_scores(table, args.table_column, Path(d)))
        for name, extra in variants.items():
            started = time.perf_counter()
            results = []
            for s in seeds:
                if extra == "random":
                    r = simulate(table, "random", s)
                elif extra is None:
                    r = simulate(table, "evolution", s, options=base)
                else:
                    opts = {**base, "scores": scores, **extra}
                    r = simulate_controller(table, ProxyAssistedEvolution(get_space("nb201"), seed=s, options=opts), s)
                results.append(r)
            summary = summarize(results)
            rows[name] = {
                "mean": summary["mean"],
                "std": summary["std"],
                "queries_mean": statistics.mean(r.queries for r in results),
                "runs": len(results),
                "seconds": round(time.perf_counter() - started, 1),
                "curve": summary["curve"],  # mean test accuracy of the best-reward cell so far, per simulated time
            }
            print(f"{name:12s} {rows[name]['mean']:.2f} +- {rows[name]['std']:.2f}  (n={len(results)})", flush=True)
    if args.out:
        payload = {
            "protocol": "NAS-Bench-201 paper protocol (12-epoch reward, 12,000 s budget, every query paid)",
            "score": args.scores or f"table column {args.table_column}",
            "seeds": [seeds.start, seeds.stop - 1],
            "options": {**base, "warmup_samples": args.warmup, "move_random_prob": 0.25, "move_candidates": "all"},
            "published_evolution": PUBLISHED["evolution"],
            "rows": rows,
        }
        print(_common.write_result(args.out, payload))


if __name__ == "__main__":
    main()
