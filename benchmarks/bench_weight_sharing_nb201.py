"""Weight-sharing searches in the NAS-Bench-201 space on real CIFAR-10 images: GDAS, SPOS, DARTS.

Every method searches the same CPU-sized slice (2,000 CIFAR-10 training images, half for
the weights and half for the architecture / candidate scoring; C=8, 3 cells per stage,
15 epochs, batch 64; one thread) and the derived cell is looked up in the NAS-Bench-201
table afterwards (200-epoch CIFAR-10 test accuracy, its percentile among the 15,625 cells).
No method sees the table while searching: SPOS picks by supernet validation accuracy,
GDAS and DARTS by the arg-max of their architecture weights.

    OMP_NUM_THREADS=1 python benchmarks/bench_weight_sharing_nb201.py --data-dir ../shared/data --seeds 0,1,2,3,4

Methods run one after the other (all seeds of GDAS first, then SPOS, then DARTS); each
search is a resumable run directory under ``--out`` (rerun the same command to continue),
and the result files are rewritten after every search, so an interrupted benchmark leaves
what it has. ``--deadline HH:MM`` (UTC) starts no search that would, at the last search's
pace (``--estimate`` before the first), end after it. ``--reuse FILE`` takes the rows of an
earlier result file for the searches whose run directory is gone (a fresh checkout), so a
benchmark finished across machines or sessions is gathered without running those again; such
rows say ``"reused_from"``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from _common import ROOT, write_result

from nas.config_io import apply_overrides, parse_override, read_yaml
from nas.darts.config import load_config
from nas.darts.job import DartsJob
from nas.genotypes.codec import to_text
from nas.nb201_table import NB201Table, find_table

EXP = ROOT / "experiments"
#: name -> (config file, overrides). The DARTS guard is the best of bench_collapse_nb201 (README: warm-up);
#: PC-DARTS with it (7 of 15 epochs: "half") is what tune_weight_sharing_nb201.py chose for PC-DARTS on
#: validation seeds, in TUNED below (the logs: benchmarks/results/tune_*.md). PC-DARTS here is partial
#: channels only (K=2 of C=8), without PC-DARTS' edge normalisation.
METHODS: dict[str, tuple[str, dict[str, Any]]] = {
    "GDAS": ("nb201_gdas.yaml", {}),
    "SPOS+evolution": ("nb201_spos.yaml", {"method.strategy": "evolution"}),
    "SPOS+random": ("nb201_spos.yaml", {"method.strategy": "random"}),
    "DARTS 1st order": ("darts_nb201_quick.yaml", {}),
    "DARTS 1st + warm-up (half)": ("darts_nb201_quick.yaml", {"guards.warmup_epochs": "half"}),
    "DARTS 2nd order": ("darts_nb201_quick.yaml", {"method.order": "second"}),
    "PC-DARTS (K=2)": ("darts_nb201_quick.yaml", {"supernet.partial_channels": 2}),
    "PC-DARTS (K=2) + warm-up (half)": (
        "darts_nb201_quick.yaml",
        {"supernet.partial_channels": 2, "guards.warmup_epochs": "half"},
    ),
    # The other collapse guards of bench_collapse_nb201.py, with the same settings.
    "DARTS 1st + P-DARTS cap (max 1 skip)": ("darts_nb201_quick.yaml", {"guards.max_skip": 1}),
    "DARTS 1st + DARTS+ early stop (1 skip)": ("darts_nb201_quick.yaml", {"guards.early_stop_skip": 1}),
    "Fair DARTS (sigmoid, w=10)": (
        "darts_nb201_quick.yaml",
        {"method.name": "fair_darts", "method.zero_one_weight": 10.0},
    ),
    # Issue 19: the methods that fixed DARTS (same slice and supernet; their own settings otherwise).
    "PC-DARTS (K=2) + edge normalisation": (
        "darts_nb201_quick.yaml",
        {"supernet.partial_channels": 2, "supernet.edge_normalization": True},
    ),
    "beta-DARTS": ("darts_nb201_quick.yaml", {"method.name": "beta_darts"}),
    "DrNAS": ("darts_nb201_quick.yaml", {"method.name": "drnas"}),
    "DARTS-PT": ("darts_nb201_quick.yaml", {"selection.name": "darts_pt"}),
    "DARTS-PT (fix alpha)": (
        "darts_nb201_quick.yaml",
        {"method": {"name": "fixed_alpha"}, "selection.name": "darts_pt"},
    ),
    "Zero-Cost-PT (CPU size)": ("zero_cost_pt_nb201_cpu.yaml", {}),
    # beta-DARTS' named deviation: the Beta-Decay weight's schedule over the search's epochs (authors: /100).
    "beta-DARTS (stretched schedule)": (
        "darts_nb201_quick.yaml",
        {"method.name": "beta_darts", "method.schedule_epochs": None},
    ),
    # Zero-Cost-PT as this toolkit ran it before 2026-12-05's fidelity fixes (both named options): one code
    # per ReLU unit (authors: ReLU-named modules) and each cell validated on the next batches of the stream
    # (authors: every cell on the same first images). The rows of weight_sharing_nb201_zero_cost_pt*.json.
    "Zero-Cost-PT (CPU size, per-unit codes, streamed validation)": (
        "zero_cost_pt_nb201_cpu.yaml",
        {"selection.nwot_hooks": "relu_units", "selection.validation_batches": "stream"},
    ),
    # The pool's final cell chosen by synflow of its stand-alone network instead of NASWOT (authors):
    # the value tune_weight_sharing_nb201.py chose on validation seeds 100-104, in TUNED below.
    "Zero-Cost-PT (CPU size, synflow post-validation)": (
        "zero_cost_pt_nb201_cpu.yaml",
        {"selection.validation_score": "synflow"},
    ),
}
DEFAULT_METHODS = ",".join(str(i) for i in range(1, len(METHODS) + 1))
#: method -> (tuning log in benchmarks/results/, the tuned key): the value the log chose is the method's.
TUNED = {
    "PC-DARTS (K=2) + warm-up (half)": ("tune_pc-darts_k2_guards_warmup_epochs.json", "guards.warmup_epochs"),
    "Zero-Cost-PT (CPU size, synflow post-validation)": (
        "tune_zero-cost-pt_cpu_size_selection_validation_score.json",
        "selection.validation_score",
    ),
}
#: Published CIFAR-10 test accuracies (NAS-Bench-201 paper, Table 5 / GDAS on NB201) printed beside ours.
ANCHORS = {
    "GDAS": "93.61 ± 0.09",
    "SPOS+evolution": "RSPS 87.66 ± 1.69",
    "SPOS+random": "RSPS 87.66 ± 1.69",
    "DARTS 1st order": "54.30 ± 0.00",
    "DARTS 2nd order": "54.30 ± 0.00",
}
OTHER_ANCHORS = {"random search (table)": "93.70 ± 0.36", "table median": "90.73"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default=None, help="data directory (default: the config's, else $NAS_DATA_DIR)")
    p.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated seeds")
    p.add_argument("--methods", default=DEFAULT_METHODS, help="1-based numbers of: " + ", ".join(METHODS))
    p.add_argument("--set", dest="overrides", action="append", default=[], help="key=value for every method")
    p.add_argument("--deadline", default=None, help="UTC HH:MM: start no search that would end after it")
    p.add_argument(
        "--estimate", type=float, default=300.0, help="seconds a search is assumed to take until one is timed"
    )
    p.add_argument("--reuse", default=None, help="an earlier result .json: its rows stand in for missing run dirs")
    p.add_argument("--out", default=str(ROOT / "runs" / "bench_weight_sharing_nb201"))
    p.add_argument("--results", default=str(ROOT / "benchmarks" / "results" / "weight_sharing_nb201"))
    return p.parse_args(argv)


def _deadline(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    hh, mm = (int(v) for v in text.split(":"))
    now = dt.datetime.now(dt.UTC)
    return now.replace(hour=hh, minute=mm, second=0, microsecond=0)


def slug_of(name: str) -> str:
    """The run directory name of a method."""
    return name.lower().replace(" ", "_").replace("+", "_").replace("(", "").replace(")", "").replace("=", "")


def run_one(name: str, seed: int, common: dict[str, Any], out: Path, table: NB201Table | None) -> dict[str, Any]:
    """One search (resumed if its run directory has a checkpoint) and its row."""
    file, overrides = METHODS[name]
    raw = apply_overrides(read_yaml(EXP / file), {**common, "seed": seed})
    epochs = int(raw.get("epochs", 50))
    extra = {k: (epochs // 2 if v == "half" else v) for k, v in overrides.items()}
    config = load_config(apply_overrides(raw, extra), source=file)
    run_dir = out / f"{slug_of(name)}-seed{seed}"
    t0 = time.perf_counter()
    result = DartsJob().run(config, run_dir, progress=False, echo=lambda _s: None)
    wall = time.perf_counter() - t0
    saved = json.loads((run_dir / "result.json").read_text())
    history = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    steps = math.ceil(round(config.train_subset * (1 - config.val_fraction)) / config.batch_size) * result.epochs_run
    row: dict[str, Any] = {
        "method": name,
        "seed": seed,
        "cell": to_text(result.genotype),
        "skips": sum(op == "skip_connect" for op in result.genotype.ops),
        "epochs_run": result.epochs_run,
        "search_val_acc": saved.get("val_acc"),
        "search_time_s": saved.get("search_time_s"),
        "time_per_step_s": round(saved["search_time_s"] / steps, 4) if saved.get("search_time_s") and steps else None,
        "wall_s_this_call": round(wall, 1),
        "already_finished": result.already_finished,
        "per_epoch_cell": [h["genotype"] for h in history],
        "per_epoch_test": [(h.get("nb201") or {}).get("c10_test") for h in history],
        "per_epoch_elapsed_s": [h.get("elapsed_s") for h in history],
        "run_dir": str(run_dir),
        "selection": saved.get("selection", "argmax"),
    }
    if history and history[-1].get("spos"):
        row["spos"] = history[-1]["spos"]
    if table is not None:
        rec = table.query(result.genotype)
        n = len(table) if hasattr(table, "__len__") else 15625
        rank = table.rank(result.genotype)
        row.update(c10_test=rec.c10_test, c10_valid=rec.c10_valid, rank=rank, percentile=100.0 * (n - rank + 1) / n)
    return row


#: Wall-time budgets (s) of the accuracy-against-time columns: what a user who stops the search then gets.
BUDGETS_S = (60, 180, 600)


def _cell_at(row: dict[str, Any], budget: float) -> float | None:
    """Test accuracy of the cell a search hands back within ``budget`` seconds of search time.

    The final cell when the search ends by then; else the cell derived after the last epoch that
    ended by then (methods whose cell exists only at the end, such as PT selections, have none).
    """
    if row.get("search_time_s") is not None and row["search_time_s"] <= budget:
        return row.get("c10_test")
    if row.get("selection", "argmax") != "argmax":
        return None
    best = None
    for t, acc in zip(row.get("per_epoch_elapsed_s") or [], row.get("per_epoch_test") or []):
        if t is not None and t <= budget:
            best = acc
    return best


def _at_budget(rows: list[dict[str, Any]], budget: float) -> float | None:
    """Mean over seeds of :func:`_cell_at`; None unless every seed has a cell by then."""
    values = [_cell_at(r, budget) for r in rows]
    if not values or any(v is None for v in values):
        return None
    return round(statistics.fmean(v for v in values if v is not None), 3)


def summarise(rows: list[dict[str, Any]], names: list[str]) -> list[dict[str, Any]]:
    out = []
    for name in names:
        mine = [r for r in rows if r["method"] == name and r.get("c10_test") is not None]
        if not mine:
            continue
        accs = [r["c10_test"] for r in mine]
        times = [r["search_time_s"] for r in mine if r["search_time_s"]]
        steps = [r["time_per_step_s"] for r in mine if r["time_per_step_s"]]
        out.append(
            {
                "method": name,
                "runs": len(mine),
                "c10_test_mean": round(statistics.fmean(accs), 3),
                "c10_test_std": round(statistics.stdev(accs), 3) if len(accs) > 1 else 0.0,
                "c10_test_min": min(accs),
                "percentile_mean": round(statistics.fmean(r["percentile"] for r in mine), 2),
                "skips_mean": round(statistics.fmean(r["skips"] for r in mine), 2),
                "search_time_s_mean": round(statistics.fmean(times), 1) if times else None,
                "time_per_step_s_mean": round(statistics.fmean(steps), 4) if steps else None,
                "published": ANCHORS.get(name),
                **{f"c10_test_at_{b}s": _at_budget(mine, b) for b in BUDGETS_S},
            }
        )
    return out


def markdown(summary: list[dict[str, Any]], rows: list[dict[str, Any]], command: str) -> str:
    lines = [
        "# Weight-sharing searches in NAS-Bench-201 (CIFAR-10, CPU-sized)",
        "",
        f"Command: `{command}` (date, machine: the .json file). Test accuracy: the NB201 table's",
        "200-epoch CIFAR-10 test accuracy of the derived cell (never used by any search); percentile:",
        "share of the 15,625 cells at or below it. Std: sample std over seeds.",
        "",
        "| method | runs | test acc % (mean ± std) | worst seed | percentile | skips | s / search | s / step "
        "| at 1 min | at 3 min | at 10 min | published |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def cell(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f}"

    for s in summary:
        at = " | ".join(cell(s.get(f"c10_test_at_{b}s")) for b in BUDGETS_S)
        lines.append(
            f"| {s['method']} | {s['runs']} | {s['c10_test_mean']:.2f} ± {s['c10_test_std']:.2f} | "
            f"{cell(s.get('c10_test_min'))} | {s['percentile_mean']:.1f} | {s['skips_mean']:.1f} | "
            f"{s['search_time_s_mean']} | {s['time_per_step_s_mean']} | {at} | {s['published'] or '-'} |"
        )
    lines += [
        "",
        "At 1 / 3 / 10 min: mean test accuracy of the cell each search hands back within that much search time",
        "(the final cell, or the one derived after the last epoch finished by then; '-' when a seed has none).",
    ]
    lines += ["", "Other anchors: " + "; ".join(f"{k} {v}" for k, v in OTHER_ANCHORS.items()), ""]
    lines += ["## Every search", "", "| method | seed | test % | pct | skips | search val acc % | s | cell |"]
    lines.append("|---|---|---|---|---|---|---|---|")
    for r in rows:
        lines.append(
            f"| {r['method']} | {r['seed']} | {r.get('c10_test')} | {r.get('percentile', 0):.1f} | {r['skips']} | "
            f"{r['search_val_acc']} | {r['search_time_s']} | `{r['cell']}` |"
        )
    return "\n".join(lines + per_epoch_lines(rows)) + "\n"


def per_epoch_lines(rows: list[dict[str, Any]]) -> list[str]:
    """Mean over seeds of the derived cell's table test accuracy after each epoch, per method."""
    names = list(dict.fromkeys(r["method"] for r in rows))
    curves = {}
    for name in names:
        per_seed = [r["per_epoch_test"] for r in rows if r["method"] == name and r.get("per_epoch_test")]
        width = min((len(c) for c in per_seed), default=0)
        cols = [[c[e] for c in per_seed if c[e] is not None] for e in range(width)]
        curves[name] = [statistics.fmean(c) if c else None for c in cols]
    width = max((len(c) for c in curves.values()), default=0)
    if not width:
        return []
    lines = ["", "## The derived cell after each epoch (test %, mean over seeds)", ""]
    lines.append("| method | " + " | ".join(str(e + 1) for e in range(width)) + " |")
    lines.append("|---|" + "---|" * width)
    for name, curve in curves.items():
        cells = [f"{v:.1f}" if v is not None else "-" for v in curve] + ["-"] * (width - len(curve))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def reusable_rows(path: str | None) -> dict[tuple[str, int], dict[str, Any]]:
    """(method, seed) -> row of an earlier result file; a bad file is one line, not a traceback."""
    if not path:
        return {}
    try:
        runs = json.loads(Path(path).read_text(encoding="utf-8"))["runs"]
        return {(r["method"], int(r["seed"])): {**r, "reused_from": path} for r in runs}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SystemExit(f"--reuse {path}: expected a result .json of this benchmark with 'runs' ({exc})") from None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    reuse = reusable_rows(args.reuse)
    common: dict[str, Any] = dict(parse_override(o) for o in args.overrides)
    if args.data_dir is not None:
        common["data_dir"] = args.data_dir
    seeds = [int(s) for s in args.seeds.split(",")]
    all_names = list(METHODS)
    names = [all_names[int(i) - 1] for i in args.methods.split(",")]
    table_path = find_table(common.get("data_dir"))
    table = NB201Table.load(table_path) if table_path else None
    deadline = _deadline(args.deadline)
    out, results = Path(args.out), Path(args.results)
    rows: list[dict[str, Any]] = []
    skipped: list[str] = []
    last_wall = args.estimate
    for name in names:
        for seed in seeds:
            now = dt.datetime.now(dt.UTC)
            run_dir = out / f"{slug_of(name)}-seed{seed}"
            finished = (run_dir / "result.json").is_file()  # reported at no cost
            if not run_dir.exists() and (name, seed) in reuse:
                row = reuse[(name, seed)]
            elif not finished and deadline is not None and now + dt.timedelta(seconds=last_wall) > deadline:
                skipped.append(f"{name} seed {seed}")
                continue
            else:
                row = run_one(name, seed, common, out, table)
                if not row["already_finished"]:
                    last_wall = row["wall_s_this_call"]
            rows.append(row)
            print(
                f"{name:28s} seed {seed}: test {row.get('c10_test')}  pct {row.get('percentile', 0):.1f}  "
                f"skips {row['skips']}  {row['search_time_s']} s  {row['cell']}"
                + ("  (reused)" if "reused_from" in row else ""),
                flush=True,
            )
            summary = summarise(rows, names)
            payload = {
                "seeds": seeds,
                "methods": names,
                "common_overrides": common,
                "anchors": {**ANCHORS, **OTHER_ANCHORS},
                "summary": summary,
                "runs": rows,
                "not_run_deadline": skipped,
            }
            write_result(results.with_suffix(".json"), payload)
            command = " ".join(["python", *sys.argv])
            (results.with_suffix(".md")).write_text(markdown(summary, rows, command), encoding="utf-8")
    print()
    for s in summarise(rows, names):
        print(
            f"{s['method']:28s} {s['runs']} runs  {s['c10_test_mean']:.2f} ± {s['c10_test_std']:.2f}  "
            f"pct {s['percentile_mean']:.1f}  skips {s['skips_mean']:.1f}  published {s['published']}"
        )
    print("anchors: " + "; ".join(f"{k} {v}" for k, v in OTHER_ANCHORS.items()))
    if skipped:
        print("not run before the deadline: " + ", ".join(skipped))
    return 0


if __name__ == "__main__":
    sys.exit(main())
