"""Tune the controllers' options for the NAS-Bench-201 protocol, on validation accuracy only.

Every point of a small explicit grid per controller runs the paper's protocol (every
proposal paid, 12,000 s) on the tuning seeds (default 10000-10099; the slow LSTM and Optuna
controllers 10000-10039), disjoint from the reported seeds 0-499, which this script refuses
to use. (Grids and seed counts are small because the shared 2-core machine was saturated
when this ran; a larger run is one command line away.) The objective of a point is the
mean, over those seeds, of the **200-epoch validation accuracy** (``c10_valid``) of the cell
each search returns: what the returned cell is worth after a full training, measured on
the validation split only. The search's own reward (``c10_valid_12ep``) is a poorer
objective (it rewards options that overfit the noisy short-training proxy), and the test
accuracy (``c10_test``) is never read: the worker sends back only the objective column,
the reward and counts.

    python benchmarks/tune_nb201_controllers.py --jobs 2
    python benchmarks/tune_nb201_controllers.py --controllers evolution --seeds 50

Writes every grid point to ``benchmarks/results/nb201_tuning.{json,md}`` (with command,
date and machine) and prints the chosen options; they go into ``options`` of
``experiments/nb201_controllers.yaml`` (a test checks the two agree).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

from bench_nb201_controllers import REPO, Job, provenance, run_jobs

from nas.controllers import list_controllers
from nas.nb201_protocol import BUDGET_S, PAPER_OPTIONS
from nas.nb201_table import find_table

#: Columns a tuning objective may use (validation figures only).
VALIDATION_COLUMNS = ("c10_valid", "c10_valid_12ep")
#: Seeds the benchmark reports; tuning must not touch them.
REPORTED_SEEDS = range(0, 500)
#: Controllers that take ~0.4 s per search (the others ~20 ms): tuned on fewer seeds (--slow-seeds).
SLOW = ("lstm", "optuna")


def grid(base: dict[str, Any], **axes: list[Any]) -> list[dict[str, Any]]:
    """Every combination of ``axes`` on top of ``base`` (dotted names go into ``sampler_options``)."""
    points = []
    for values in itertools.product(*axes.values()):
        point = json.loads(json.dumps(base))
        for key, value in zip(axes, values):
            if key.startswith("sampler_options."):
                point.setdefault("sampler_options", {})[key.split(".", 1)[1]] = value
            else:
                point[key] = value
        points.append(point)
    return points


GRIDS: dict[str, list[dict[str, Any]]] = {
    "random": [{}],  # nothing to tune
    "evolution": [
        p
        for p in grid({}, population_size=[10, 20, 50], sample_size=[3, 10, 25], avoid_duplicates=[False, True])
        if p["sample_size"] <= p["population_size"]
    ],
    "reinforce": grid(
        {"entropy_weight": 0.0, "baseline_momentum": 0.9},
        learning_rate=[0.02, 0.05, 0.1, 0.2, 0.5],
        baseline_includes_reward=[False, True],
    ),
    "lstm": grid(
        {"hidden_size": 32, "entropy_weight": 0.0001, "tanh_constant": 2.5, "temperature": 1.0},
        learning_rate=[0.001, 0.005, 0.02],
    ),
    "optuna": [
        {"sampler": "tpe", "sampler_options": {"n_startup_trials": 7, "n_ei_candidates": 4, "multivariate": True}},
        {"sampler": "tpe", "sampler_options": {"n_startup_trials": 10, "multivariate": True}},
        {"sampler": "tpe", "sampler_options": {"n_startup_trials": 20, "multivariate": False}},
    ],
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=100)
    p.add_argument(
        "--slow-seeds",
        type=int,
        default=40,
        help=f"seeds for the slow controllers ({', '.join(SLOW)}): the first N of the tuning seeds",
    )
    p.add_argument("--seed-start", type=int, default=10_000)
    p.add_argument("--controllers", default=",".join(n for n in list_controllers() if n in PAPER_OPTIONS))
    p.add_argument("--objective", default="c10_valid", choices=VALIDATION_COLUMNS)
    p.add_argument("--table", default=None)
    p.add_argument("--budget", type=float, default=BUDGET_S)
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "nb201_tuning"))
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    seeds = list(range(args.seed_start, args.seed_start + args.seeds))
    if set(seeds) & set(REPORTED_SEEDS):
        print(f"--seed-start: tuning seeds must not overlap the reported seeds {REPORTED_SEEDS}", file=sys.stderr)
        return 2
    if args.objective not in VALIDATION_COLUMNS:  # argparse checks too; this is the rule, stated once more
        print(f"--objective: expected a validation column, got {args.objective}", file=sys.stderr)
        return 2
    table_path = args.table or find_table()
    if table_path is None:
        print("NAS-Bench-201 table not found: give --table or set NAS_NB201_TABLE", file=sys.stderr)
        return 2
    names = [n.strip() for n in args.controllers.split(",") if n.strip()]
    points = [(name, i, opts) for name in names for i, opts in enumerate(GRIDS[name])]
    # Interleaved seed by seed, so the time per search of every point sees the same machine.
    seeds_of = {name: seeds[: args.slow_seeds] if name in SLOW else seeds for name in names}
    jobs = [
        Job(name, seed, opts, args.budget, columns=(args.objective,), full=False, tag=f"{name}/{i}")
        for seed in seeds
        for name, i, opts in points
        if seed in seeds_of[name]
    ]
    print(f"{len(points)} grid points, {len(jobs)} searches", flush=True)
    start = time.perf_counter()
    runs = run_jobs(jobs, str(table_path), args.jobs)
    wall = time.perf_counter() - start
    log: list[dict[str, Any]] = []
    for name, i, opts in points:
        mine = [r for j, r in zip(jobs, runs) if j.tag == f"{name}/{i}"]
        values = [r["values"][args.objective] for r in mine]
        n = len(values)
        mean = sum(values) / n
        sem = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1) / n) if n > 1 else float("nan")
        log.append(
            {
                "controller": name,
                "point": i,
                "options": opts,
                "seeds": [min(r["seed"] for r in mine), max(r["seed"] for r in mine)],
                "objective_mean": mean,
                "objective_sem": sem,
                "reward_mean": sum(r["best_reward"] for r in mine) / n,
                "queries_mean": sum(r["queries"] for r in mine) / n,
                "distinct_mean": sum(r["distinct"] for r in mine) / n,
                "seconds_per_search": sum(r["seconds"] for r in mine) / n,
            }
        )
    chosen = {}
    for name in names:
        entries = [e for e in log if e["controller"] == name]
        best = max(entries, key=lambda e: (e["objective_mean"], -e["point"]))  # ties: the earlier point
        chosen[name] = best["options"]
        print(f"{name:10s} chose {json.dumps(best['options'])}: {args.objective} {best['objective_mean']:.3f}")
    report = {
        "provenance": provenance(argv),
        "objective": f"mean {args.objective} of the returned cell over the tuning seeds (higher is better)",
        "rules": "paper's protocol: every proposal paid, reward c10_valid_12ep, budget "
        f"{args.budget:.0f} s; c10_test is never read",
        "seeds": [seeds[0], seeds[-1]],
        "table": str(table_path),
        "wall_s": wall,
        "points": log,
        "chosen": chosen,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    out.with_suffix(".md").write_text(markdown(report, args.objective), encoding="utf-8")
    print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.md')}")
    return 0


def markdown(report: dict[str, Any], objective: str) -> str:
    prov = report["provenance"]
    lines = [
        f"# Tuning the NAS-Bench-201 controllers (seeds {report['seeds'][0]}..{report['seeds'][1]})",
        "",
        f"Command: `{prov['command']}`  ",
        f"Date: {prov['date']}; machine: {prov['machine']}, {prov['cpu']} ({prov['cpus']} CPUs)  ",
        f"Objective: {report['objective']}. Rules: {report['rules']}. Wall time {report['wall_s']:.0f} s.",
        "",
        f"| controller | point | options | seeds | {objective} (mean ± s.e.) | reward c10_valid_12ep | queries "
        "| distinct | chosen |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for e in report["points"]:
        mark = "**yes**" if report["chosen"].get(e["controller"]) == e["options"] else ""
        opts = json.dumps(e["options"], separators=(", ", ": ")).replace('"', "")
        lines.append(
            f"| {e['controller']} | {e['point']} | `{opts}` | {e['seeds'][0]}-{e['seeds'][1]} "
            f"| {e['objective_mean']:.3f} ± {e['objective_sem']:.3f} "
            f"| {e['reward_mean']:.3f} | {e['queries_mean']:.1f} | {e['distinct_mean']:.1f} | {mark} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
