"""Tune one setting of a weight-sharing search in NAS-Bench-201 on validation data only.

Runs a method of ``bench_weight_sharing_nb201.py`` (same data slice, supernet and budget)
once per grid value and tuning seed, and ranks the values by the mean **200-epoch
CIFAR-10 validation accuracy** (``c10_valid``, the ``cifar10-valid`` split a search may
look at) of the derived cells. The test column is never read: rows carry no test
accuracy, rank or percentile. The tuning seeds must be disjoint from the reported ones
(0-9); the default 100,101 are.

    OMP_NUM_THREADS=1 python benchmarks/tune_weight_sharing_nb201.py --data-dir ../shared/data \\
        --method GDAS --key arch_optimizer.lr --values 3e-4,1e-3,3e-3,1e-2 --seeds 100,101

Every search is a resumable run directory under ``--out``; the log (every search, the
objective per value, the winner) is ``benchmarks/results/tune_<slug>.{json,md}``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

from _common import ROOT, write_result
from bench_weight_sharing_nb201 import METHODS, run_one, slug_of

from nas.config_io import parse_override
from nas.errors import NasError
from nas.nb201_table import NB201Table, find_table

REPORTED_SEEDS = frozenset(range(10))
#: Row fields the tuning log keeps: nothing derived from the test column.
KEPT = ("method", "seed", "cell", "skips", "c10_valid", "search_val_acc", "search_time_s", "time_per_step_s")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default=None)
    p.add_argument("--method", default="GDAS", choices=list(METHODS))
    p.add_argument("--key", default="arch_optimizer.lr", help="dotted config key to tune")
    p.add_argument("--values", default="3e-4,1e-3,3e-3,1e-2", help="comma-separated values (YAML scalars)")
    p.add_argument("--seeds", default="100,101", help="tuning seeds, disjoint from the reported 0-9")
    p.add_argument("--out", default=str(ROOT / "runs" / "tune_weight_sharing_nb201"))
    p.add_argument("--results", default=None, help="result path without suffix (default: results/tune_<slug>)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    if REPORTED_SEEDS & set(seeds):
        print(f"--seeds: {sorted(REPORTED_SEEDS & set(seeds))} are reported seeds; tune on others", file=sys.stderr)
        return 2
    table_path = find_table(args.data_dir)
    if table_path is None:
        print("the NAS-Bench-201 table was not found (--data-dir DIR with nasbench201/nb201.csv)", file=sys.stderr)
        return 2
    table = NB201Table.load(table_path)
    values = [parse_override(f"{args.key}={v}")[1] for v in args.values.split(",")]
    slug = f"{slug_of(args.method)}_{args.key.replace('.', '_')}"
    results = Path(args.results) if args.results else ROOT / "benchmarks" / "results" / f"tune_{slug}"
    common: dict[str, Any] = {} if args.data_dir is None else {"data_dir": args.data_dir}
    rows: list[dict[str, Any]] = []
    for value in values:  # seeds inside: a value's figure is complete before the next starts
        for seed in seeds:
            out = Path(args.out) / f"{slug}={value}"
            full = run_one(args.method, seed, {**common, args.key: value}, out, table)
            row = {k: full.get(k) for k in KEPT}
            row[args.key] = value
            rows.append(row)
            print(f"{args.key}={value} seed {seed}: valid {row['c10_valid']}  skips {row['skips']}  {row['cell']}")
    objective = []
    for value in values:
        mine = [r["c10_valid"] for r in rows if r[args.key] == value]
        objective.append({"value": value, "c10_valid_mean": round(statistics.fmean(mine), 3), "runs": len(mine)})
    best = max(objective, key=lambda o: o["c10_valid_mean"])
    command = " ".join(["python", *sys.argv])
    payload = {"method": args.method, "key": args.key, "seeds": seeds, "by_value": objective, "chosen": best["value"],
               "objective": "mean c10_valid of the derived cell", "runs": rows}  # fmt: skip
    write_result(results.with_suffix(".json"), payload)
    lines = [f"# Tuning {args.method}: {args.key}", "", f"Command: `{command}` (date, machine: the .json file).",
             f"Objective: mean 200-epoch CIFAR-10 *validation* accuracy (`c10_valid`) of the derived cell over seeds "
             f"{args.seeds} (disjoint from the reported 0-9); the test column is never read.", "",
             "| value | runs | mean c10_valid % |", "|---|---|---|"]  # fmt: skip
    lines += [f"| {o['value']} | {o['runs']} | {o['c10_valid_mean']:.2f} |" for o in objective]
    lines += ["", f"Chosen: **{best['value']}**", ""]
    lines += ["| value | seed | c10_valid % | skips | search val acc % | s | cell |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {r[args.key]} | {r['seed']} | {r['c10_valid']} | {r['skips']} | {r['search_val_acc']} | "
              f"{r['search_time_s']} | `{r['cell']}` |" for r in rows]  # fmt: skip
    results.with_suffix(".md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"chosen {args.key}={best['value']} (mean c10_valid {best['c10_valid_mean']:.2f})")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except NasError as exc:  # a bad --key or --values: one line, the finished searches are kept
        print(f"tune_weight_sharing_nb201: error: {exc}", file=sys.stderr)
        sys.exit(2)
