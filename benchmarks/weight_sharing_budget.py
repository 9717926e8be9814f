"""One table of every weight-sharing search in NB201, with accuracy at 1, 3 and 10 minutes.

Why: a user picks a search by the minutes they have, and the methods' rows live in several
result files of ``bench_weight_sharing_nb201.py`` (one per batch of methods or seeds). Nothing
is run here: each file's searches are summarised again by that benchmark's own ``summarise``
(so "the cell a search holds at T seconds" has one definition, ``_cell_at`` there: the final
cell if the search ended by then, else the arg-max cell of the last epoch finished by then;
selections that choose at the end hold none before), and the rows are gathered in one table.
Files written before per-epoch times were recorded can only show the final cell.

    python benchmarks/weight_sharing_budget.py
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

from _common import ROOT, write_result
from bench_weight_sharing_nb201 import BUDGETS_S, summarise
from plot_results import WEIGHT_SHARING_FILES, method_label

from nas.errors import NasError
from nas.runs.atomic import read_json

RESULTS = ROOT / "benchmarks" / "results"
#: Seeds checked after the reporting (never tuned or reported on): rows of their own.
HELD_OUT_FILES = (
    "weight_sharing_nb201_zero_cost_pt_heldout.json",
    "weight_sharing_nb201_zero_cost_pt_as_published_heldout.json",
    "weight_sharing_nb201_zero_cost_pt_synflow_heldout.json",
)


def rows_of(data: dict[str, Any], source: str, *, held_out: bool = False) -> list[dict[str, Any]]:
    """The benchmark's summary rows of one result file, with its seeds, median time and source."""
    runs = [r for r in data["runs"] if r.get("c10_test") is not None]
    names = list(dict.fromkeys(r["method"] for r in runs))
    out = []
    for row in summarise(runs, names):
        mine = [r for r in runs if r["method"] == row["method"]]
        label = method_label(source, row["method"])
        row["method"] = f"{label} (held-out seeds)" if held_out else label
        row["seeds"] = sorted(r["seed"] for r in mine)
        row["search_time_s_median"] = round(statistics.median(r["search_time_s"] for r in mine))
        row["per_epoch_times"] = all("per_epoch_elapsed_s" in r for r in mine)
        row["file"] = source
        out.append(row)
    return out


def markdown(rows: list[dict[str, Any]]) -> str:
    heads = [f"at {b // 60} min" for b in BUDGETS_S]
    lines = [
        "# Weight-sharing searches in NB201 at CPU size: every method, accuracy against wall time",
        "",
        "The NB201 table's 200-epoch CIFAR-10 test accuracy of the derived cell; at 1 / 3 / 10 min: "
        "the mean over seeds of the cell each search holds by then ('-' when a seed holds none). "
        "*: the file predates per-epoch times, so only finished searches count. Wall times as "
        "recorded, one core per search, cores often shared (the file of each row names its load).",
        "",
        "| method | seeds | test % (mean ± std) | worst | " + " | ".join(heads) + " | median s / search | file |",
        "|---|---|---|---|" + "---|" * len(heads) + "---|---|",
    ]

    def cell(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f}"

    for r in rows:
        seeds = r["seeds"]
        seed_text = f"{seeds[0]}-{seeds[-1]}" if seeds == list(range(seeds[0], seeds[-1] + 1)) else str(seeds)
        seed_text = str(seeds[0]) if len(seeds) == 1 else seed_text
        at = " | ".join(cell(r.get(f"c10_test_at_{b}s")) for b in BUDGETS_S)
        lines.append(
            f"| {r['method']}{'' if r['per_epoch_times'] else '*'} | {seed_text} | "
            f"{r['c10_test_mean']:.2f} ± {r['c10_test_std']:.2f} | {r['c10_test_min']:.2f} | {at} | "
            f"{r['search_time_s_median']} | `{r['file']}` |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--results", default=str(RESULTS), help="the directory of the result files")
    p.add_argument("--out", default=str(RESULTS / "weight_sharing_budget"))
    args = p.parse_args(argv)
    rows: list[dict[str, Any]] = []
    for name in (*WEIGHT_SHARING_FILES, *HELD_OUT_FILES):
        path = Path(args.results) / name
        if path.is_file():
            rows += rows_of(read_json(path, "a weight-sharing result"), name, held_out=name in HELD_OUT_FILES)
    write_result(Path(args.out).with_suffix(".json"), {"budgets_s": list(BUDGETS_S), "rows": rows})
    text = markdown(rows)
    Path(args.out).with_suffix(".md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except NasError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
