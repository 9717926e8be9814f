"""DARTS collapse in the NAS-Bench-201 space, with and without each collapse guard.

Runs short DARTS searches in the NB201 space on real CIFAR-10 images (a CPU-sized slice)
without guards and with each guard (P-DARTS skip cap, DARTS+ early stop, Fair DARTS,
weight-only warm-up), and reports the NAS-Bench-201 test accuracy of every derived cell
with its number of skip connections: the true worth of what each search found.

    python benchmarks/bench_collapse_nb201.py --data-dir ../shared/data --seeds 0,1

Each search is an ordinary resumable run directory under ``--out`` (interrupt and rerun
the same command to continue). The table is printed and written as JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from nas.config_io import apply_overrides, read_yaml  # noqa: E402
from nas.darts.config import load_config  # noqa: E402
from nas.darts.job import DartsJob  # noqa: E402
from nas.nb201_table import NB201Table, find_table  # noqa: E402

#: Guard variants: name -> config overrides (on top of the base config).
VARIANTS: dict[str, dict[str, Any]] = {
    "plain DARTS": {},
    "P-DARTS max_skip=1": {"guards.max_skip": 1},
    "DARTS+ early_stop_skip=1": {"guards.early_stop_skip": 1},
    "Fair DARTS (sigmoid, w=10)": {"method.name": "fair_darts", "method.zero_one_weight": 10.0},
    "warm-up (half the epochs)": {"guards.warmup_epochs": None},  # filled with epochs // 2
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default=str(REPO / "experiments" / "darts_nb201_quick.yaml"))
    p.add_argument("--data-dir", default=None, help="data directory (default: the config's, else $NAS_DATA_DIR)")
    p.add_argument("--seeds", default="0", help="comma-separated seeds")
    p.add_argument("--epochs", type=int, default=None, help="override the config's epochs")
    p.add_argument("--set", dest="overrides", action="append", default=[], help="extra key=value overrides")
    p.add_argument("--variants", default=None, help="comma-separated subset of variant numbers (1-based)")
    p.add_argument("--out", default=str(REPO / "runs" / "bench_collapse_nb201"))
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from nas.config_io import parse_override

    args = parse_args(argv)
    base = read_yaml(args.config)
    common: dict[str, Any] = dict(parse_override(o) for o in args.overrides)
    if args.epochs is not None:
        common["epochs"] = args.epochs
    if args.data_dir is not None:
        common["data_dir"] = args.data_dir
    seeds = [int(s) for s in args.seeds.split(",")]
    variants = list(VARIANTS.items())
    if args.variants:
        variants = [variants[int(i) - 1] for i in args.variants.split(",")]
    out = Path(args.out)
    table_path = find_table(common.get("data_dir") or base.get("data_dir"))
    table = NB201Table.load(table_path) if table_path else None

    rows = []
    for name, overrides in variants:
        for seed in seeds:
            raw = apply_overrides(base, {**common, "seed": seed})
            epochs = int(raw.get("epochs", 50))
            extra = {k: (epochs // 2 if v is None else v) for k, v in overrides.items()}
            config = load_config(apply_overrides(raw, extra), source=Path(args.config).name)
            slug = name.split(" ")[0].lower().replace("+", "plus").replace("-", "")
            run_dir = out / f"{slug}-seed{seed}"
            t0 = time.perf_counter()
            result = DartsJob().run(config, run_dir, progress=False, echo=lambda _s: None)
            saved = json.loads((run_dir / "result.json").read_text())
            record = table.query(result.genotype) if table else None
            row = {
                "variant": name,
                "seed": seed,
                "cell": str(result.genotype),
                "skips": sum(op == "skip_connect" for op in result.genotype.ops),
                "epochs_run": result.epochs_run,
                "stopped_early": result.stopped_early,
                "c10_test": record.c10_test if record else None,
                "c10_valid": record.c10_valid if record else None,
                "search_val_acc": saved.get("val_acc"),
                "search_time_s": saved.get("search_time_s"),
                "wall_s": round(time.perf_counter() - t0, 1),
                "per_epoch_test": [
                    (h.get("nb201") or {}).get("c10_test")
                    for h in map(json.loads, (run_dir / "history.jsonl").read_text().splitlines())
                ],
            }
            rows.append(row)
            print(f"{name:28s} seed {seed}: {row['skips']} skips, NB201 test {row['c10_test']}  {row['cell']}")
            sys.stdout.flush()

    summary = []
    for name, _ in variants:
        mine = [r for r in rows if r["variant"] == name and r["c10_test"] is not None]
        if mine:
            accs = [r["c10_test"] for r in mine]
            summary.append(
                {
                    "variant": name,
                    "runs": len(mine),
                    "c10_test_mean": statistics.fmean(accs),
                    "c10_test_std": statistics.pstdev(accs) if len(accs) > 1 else 0.0,
                    "skips_mean": statistics.fmean(r["skips"] for r in mine),
                }
            )
    config_used = load_config(apply_overrides(base, {**common, "seed": seeds[0]})).resolved()
    report = {"config": config_used, "seeds": seeds, "runs": rows, "summary": summary}
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")

    print()
    print(f"{'variant':28s} {'runs':>4s} {'skips':>5s} {'NB201 test %':>14s}")
    for s in summary:
        print(
            f"{s['variant']:28s} {s['runs']:4d} {s['skips_mean']:5.1f} "
            f"{s['c10_test_mean']:8.2f} ± {s['c10_test_std']:4.2f}"
        )
    print(f"\nreference: all-skip cell 54.30, optimum 94.37 (NAS-Bench-201); results: {out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
