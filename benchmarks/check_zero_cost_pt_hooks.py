"""Does Zero-Cost-PT's ReLU-code rule change the cells it finds? The authors' rule against one code per unit.

    OMP_NUM_THREADS=1 python benchmarks/check_zero_cost_pt_hooks.py --data-dir ../shared/data \\
        --seeds 0,1,2,3,4 --against benchmarks/results/weight_sharing_nb201_zero_cost_pt.json

The authors' ``Jocab_Score`` hooks every module whose type name contains "ReLU", so a
ReLU-conv-BN operation's codes count twice; Zero-Cost-PT's ``nwot_hooks`` follows it by default
(``relu_in_type_name``). The rows of ``--against`` were measured before that option existed, with
one code per ReLU unit (``relu_units``, the NASWOT paper's definition). This script runs the
shipped config (``zero_cost_pt_nb201_cpu.yaml``, the benchmark's "Zero-Cost-PT (CPU size)") on
``--seeds`` and lists, per seed, both cells and their table accuracy, so a reader knows whether
the earlier rows still describe the shipped default. Run directories under ``--out`` are reused.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

from _common import ROOT, write_result
from bench_weight_sharing_nb201 import run_one

from nas.errors import NasError
from nas.nb201_table import NB201Table, find_table
from nas.runs.atomic import read_json, write_text

METHOD = "Zero-Cost-PT (CPU size)"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", required=True, help="holds cifar10-jpeg.tar.gz and nasbench201/nb201.csv")
    p.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated seeds")
    p.add_argument("--against", required=True, help="a weight_sharing_nb201 result file with the earlier rows")
    p.add_argument("--out", default=str(ROOT / "runs" / "check_zero_cost_pt_hooks"))
    p.add_argument("--results", default=str(ROOT / "benchmarks" / "results" / "zero_cost_pt_hooks"))
    return p.parse_args(argv)


def earlier_rows(path: str, seeds: list[int]) -> dict[int, dict[str, Any]]:
    """The ``--against`` rows of :data:`METHOD` by seed; a missing one is a one-line error."""
    doc = read_json(path, "--against result file")
    runs = doc.get("runs") if isinstance(doc, dict) else None
    if not isinstance(runs, list):
        raise NasError(f"--against {path}: expected a weight_sharing_nb201 result file with a 'runs' list")
    rows = {r.get("seed"): r for r in runs if isinstance(r, dict) and r.get("method") == METHOD}
    missing = [s for s in seeds if s not in rows or not rows[s].get("cell")]
    if missing:
        raise NasError(f"--against {path}: no {METHOD!r} row for seed {missing[0]}")
    return {s: {**rows[s], "commit": (doc.get("machine") or {}).get("git_commit")} for s in seeds}


def markdown(doc: dict[str, Any]) -> str:
    lines = [
        "# Zero-Cost-PT: the authors' ReLU-code rule against one code per ReLU unit (NB201, CPU size)",
        "",
        f"Command: `{doc['command']}`  ",
        f"Date: {doc['date']}; machine: {doc['machine'].get('cpu_model')} x{doc['machine'].get('cpu_count')}.  ",
        f"Earlier rows (`relu_units`): {doc['against']}.",
        "",
        f"Same cell on {doc['same_cell']} of {len(doc['rows'])} seeds; mean table test accuracy "
        f"{doc['mean_default']:.2f} (`relu_in_type_name`, the default) against {doc['mean_earlier']:.2f} "
        "(`relu_units`).",
        "",
        "| seed | default cell | test % | earlier cell | test % | same | default s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in doc["rows"]:
        lines.append(
            f"| {r['seed']} | `{r['cell']}` | {r['c10_test']:.2f} | `{r['earlier_cell']}` | "
            f"{r['earlier_c10_test']:.2f} | {'yes' if r['same'] else 'no'} | {r['search_time_s']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        print(f"error: --seeds: expected comma-separated integers, got {args.seeds!r}", file=sys.stderr)
        return 2
    try:
        earlier = earlier_rows(args.against, seeds)
        table_path = find_table(args.data_dir)
        if table_path is None:
            raise NasError(f"--data-dir: no NAS-Bench-201 table (nasbench201/nb201.csv) under {args.data_dir}")
    except NasError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    table = NB201Table.load(table_path)
    rows = []
    for seed in seeds:
        row = run_one(METHOD, seed, {"data_dir": args.data_dir}, Path(args.out), table)
        old = earlier[seed]
        rows.append(
            {
                "seed": seed,
                "cell": row["cell"],
                "c10_test": row["c10_test"],
                "search_time_s": row["search_time_s"],
                "earlier_cell": old["cell"],
                "earlier_c10_test": table.query(old["cell"]).c10_test,
                "same": row["cell"] == old["cell"],
            }
        )
        print(f"seed {seed}: {row['c10_test']} ({row['cell']}) vs earlier {rows[-1]['earlier_c10_test']}", flush=True)
    payload = {
        "method": METHOD,
        "seeds": seeds,
        "against": f"{args.against} (commit {earlier[seeds[0]]['commit']})",
        "same_cell": sum(r["same"] for r in rows),
        "mean_default": round(statistics.fmean(r["c10_test"] for r in rows), 3),
        "mean_earlier": round(statistics.fmean(r["earlier_c10_test"] for r in rows), 3),
        "rows": rows,
    }
    path = write_result(Path(args.results).with_suffix(".json"), payload)
    write_text(Path(args.results).with_suffix(".md"), markdown(read_json(path, "the result just written")))
    print(f"same cell on {payload['same_cell']} of {len(rows)} seeds; wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
