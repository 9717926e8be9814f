"""Accuracy against wall-time budget of every weight-sharing search in NB201, from the result files.

Why: a user picks a search by the minutes they have. Nothing is run here: for each search
recorded by ``bench_weight_sharing_nb201.py``, the cell it *holds* at a budget of T seconds
is the last cell it had produced by then, and its table accuracy is read from the file:

- the final cell, at the search's own wall time (``search_time_s``);
- before that, the cell recorded after each epoch, but only when the final cell *is* the
  last per-epoch cell (arg-max methods; SPOS, whose per-epoch cell is a short candidate
  search): a selection that picks its cell another way at the end (DARTS-PT, Zero-Cost-PT)
  holds no cell before it ends.

Per-epoch cells come from the full search (its learning-rate schedule is the full search's),
so "the cell at 3 minutes" is an anytime reading, not a 3-minute search. Files written before
the per-epoch times were recorded get them spread evenly over the search time (marked).
Wall times are as recorded, on whatever load the search shared the cores with.

    python benchmarks/weight_sharing_budget.py [--budgets 60,180,600]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

from _common import ROOT, write_result
from plot_results import WEIGHT_SHARING_FILES

RESULTS = ROOT / "benchmarks" / "results"
#: Seeds checked after the reporting (never tuned or reported on): a row of their own.
HELD_OUT_FILES = ("weight_sharing_nb201_zero_cost_pt_heldout.json",)


def timeline(run: dict[str, Any]) -> tuple[list[tuple[float, float]], bool]:
    """(seconds, test accuracy) of each cell the search held, in order, and whether times were spread."""
    final = (float(run["search_time_s"]), float(run["c10_test"]))
    cells, tests = run.get("per_epoch_cell") or [], run.get("per_epoch_test") or []
    if not cells or cells[-1] != run["cell"] or len(tests) != len(cells):
        return [final], False
    elapsed = run.get("per_epoch_elapsed_s")
    spread = not elapsed or len(elapsed) != len(cells)
    if spread:
        elapsed = [final[0] * (i + 1) / len(cells) for i in range(len(cells))]
    points = [(float(t), float(a)) for t, a in zip(elapsed, tests) if a is not None]
    return [*points[:-1], final], spread


def held_at(points: list[tuple[float, float]], budget: float) -> float | None:
    """The accuracy of the last cell produced within ``budget`` seconds (``None``: none yet)."""
    held = [acc for t, acc in points if t <= budget]
    return held[-1] if held else None


def rows_of(data: dict[str, Any], source: str, budgets: list[float], *, held_out: bool = False) -> list[dict[str, Any]]:
    by: dict[str, list[dict[str, Any]]] = {}
    for run in data["runs"]:
        if run.get("c10_test") is not None:
            by.setdefault(run["method"], []).append(run)
    out = []
    for method, runs in by.items():
        lines = [timeline(r) for r in runs]
        row: dict[str, Any] = {
            "method": f"{method} (held-out seeds)" if held_out else method,
            "file": source,
            "seeds": sorted(r["seed"] for r in runs),
            "anytime": any(len(points) > 1 for points, _ in lines),
            "times_spread": any(spread for _, spread in lines),
            "final_mean": round(statistics.fmean(r["c10_test"] for r in runs), 2),
            "median_search_s": round(statistics.median(r["search_time_s"] for r in runs)),
        }
        for budget in budgets:
            held = [a for a in (held_at(points, budget) for points, _ in lines) if a is not None]
            row[f"at_{int(budget)}s"] = {
                "mean": round(statistics.fmean(held), 2) if held else None,
                "with_a_cell": len(held),
                "of": len(runs),
            }
        out.append(row)
    return out


def markdown(rows: list[dict[str, Any]], budgets: list[float]) -> str:
    heads = [f"at {int(b) // 60} min" if b % 60 == 0 else f"at {int(b)} s" for b in budgets]
    lines = [
        "# Weight-sharing searches in NB201: the table accuracy of the cell held at each budget",
        "",
        "Mean test % over the seeds holding a cell by then (in brackets: how many of the seeds); "
        "`anytime`: the method's cell after every epoch counts (its final cell is the last of them), "
        "otherwise only the final cell. Wall times as recorded (cores often shared). *: per-epoch times spread evenly "
        "(the file predates their record).",
        "",
        "| method | seeds | anytime | " + " | ".join(heads) + " | final | median s / search | file |",
        "|---|---|---|" + "---|" * len(heads) + "---|---|---|",
    ]
    for r in rows:
        cells = []
        for b in budgets:
            at = r[f"at_{int(b)}s"]
            cells.append("-" if at["mean"] is None else f"{at['mean']:.2f} ({at['with_a_cell']}/{at['of']})")
        seeds = r["seeds"]
        seed_text = f"{seeds[0]}-{seeds[-1]}" if seeds == list(range(seeds[0], seeds[-1] + 1)) else str(seeds)
        mark = "*" if r["times_spread"] else ""
        lines.append(
            f"| {r['method']}{mark} | {seed_text} | {'yes' if r['anytime'] else 'no'} | "
            + " | ".join(cells)
            + f" | {r['final_mean']:.2f} | {r['median_search_s']} | `{r['file']}` |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--budgets", default="60,180,600", help="comma-separated budgets in seconds")
    p.add_argument("--results", default=str(RESULTS), help="the directory of the result files")
    p.add_argument("--out", default=str(RESULTS / "weight_sharing_budget"))
    args = p.parse_args(argv)
    try:
        budgets = [float(b) for b in args.budgets.split(",")]
    except ValueError:
        raise SystemExit(f"--budgets: expected comma-separated seconds, got {args.budgets!r}") from None
    rows: list[dict[str, Any]] = []
    for name in (*WEIGHT_SHARING_FILES, *HELD_OUT_FILES):
        path = Path(args.results) / name
        if path.is_file():
            rows += rows_of(
                json.loads(path.read_text(encoding="utf-8")), name, budgets, held_out=name in HELD_OUT_FILES
            )
    write_result(Path(args.out).with_suffix(".json"), {"budgets_s": budgets, "rows": rows})
    Path(args.out).with_suffix(".md").write_text(markdown(rows, budgets), encoding="utf-8")
    print(markdown(rows, budgets))
    return 0


if __name__ == "__main__":
    sys.exit(main())
