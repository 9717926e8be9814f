"""Draw the results page's plots from the committed result files (benchmarks/results/ -> docs/img/).

Figures a reader would rather look at than read: the best-so-far curves of the NAS-Bench-201
controllers and of proxy-assisted evolution against simulated time, the weight-sharing
methods' accuracy against search time, and the zero-cost proxies' rank correlations. Nothing
is measured here: every point comes from a result file, so the plots are redrawn, never
edited by hand (`make docs` runs this first).

    python benchmarks/plot_results.py [--results benchmarks/results] [--out docs/img] [--nb201-table PATH]

The proxies' scatter plots need each cell's true accuracy, which only the NAS-Bench-201
table holds (not committed: `nas nb201 import`); found through ``--nb201-table``,
``$NAS_NB201_TABLE``, ``$NAS_DATA_DIR/nasbench201/nb201.csv`` or
``../shared/data/nasbench201/nb201.csv``. Without it that figure
says where it looked instead of plotting.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
OUT = REPO / "docs" / "img"
DPI = 110

#: File name -> what it shows (the results page embeds them under these names).
PLOTS = {
    "nb201_controllers_curves.png": "best-so-far test accuracy of the controllers against simulated time",
    "nb201_proxy_evolution_curves.png": "best-so-far test accuracy of proxy-assisted evolution",
    "weight_sharing_accuracy_vs_time.png": "weight-sharing methods: derived cell's accuracy against search time",
    "proxies_spearman.png": "zero-cost proxies: Spearman rank correlation with test accuracy",
    "proxies_scatter.png": "zero-cost proxies: score rank against the table's test accuracy",
}


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SystemExit(f"plot_results: result file {path} not found") from None
    except json.JSONDecodeError as exc:
        raise SystemExit(f"plot_results: {path} is not JSON ({exc.msg}, line {exc.lineno})") from None


def _save(fig: Figure, out: Path, name: str) -> Path:
    path = out / name
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def _curve_axes(ax: Any, rows: Sequence[tuple[str, list[dict[str, float]]]], title: str, optimum: float) -> None:
    for label, curve in rows:
        points = [(p["time_s"], p["test_mean"]) for p in curve if p.get("test_mean") is not None]
        ax.plot([t for t, _ in points], [a for _, a in points], marker=".", label=label)
    ax.axhline(optimum, color="grey", linestyle=":", linewidth=1, label=f"optimum of the table ({optimum})")
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("simulated training time (s)")
    ax.set_ylabel("CIFAR-10 test accuracy (%), mean over seeds")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")


def controller_curves(results: Path, setting: str) -> tuple[int, list[tuple[str, list[dict[str, float]]]]]:
    """Seeds and (label, best-so-far curve) per controller of nb201_controllers_<setting>.json."""
    data = _load(results / f"nb201_controllers_{setting}.json")
    rows = [(f"{r['controller']} ({r['mean']:.2f})", r["curve"]) for r in data["rows"]]
    return data["rows"][0]["runs"], rows


def plot_controllers(results: Path, out: Path) -> Path:
    """Paper's settings and our tuned settings side by side (nb201_controllers_{paper,tuned}.json)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, setting in zip(axes, ("paper", "tuned")):
        runs, rows = controller_curves(results, setting)
        _curve_axes(ax, rows, f"NAS-Bench-201 controllers, {setting} settings ({runs} seeds)", 94.37)
    axes[0].set_ylim(92.0, 94.5)
    return _save(fig, out, "nb201_controllers_curves.png")


def plot_proxy_evolution(results: Path, out: Path) -> Path:
    """Evolution with and without warm-up and move proposal, scored by params and by synflow."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, score in zip(axes, ("params", "synflow")):
        data = _load(results / f"nb201_proxy_evolution_{score}.json")
        rows = [(f"{name} ({row['mean']:.2f})", row["curve"]) for name, row in data["rows"].items()]
        runs = next(iter(data["rows"].values()))["runs"]
        _curve_axes(ax, rows, f"proxy-assisted evolution, score: {score} ({runs} seeds)", 94.37)
    axes[0].set_ylim(92.0, 94.5)
    return _save(fig, out, "nb201_proxy_evolution_curves.png")


#: The reported weight-sharing result files of the NB201 benchmark (seeds 0-9 or fewer), drawn together;
#: `weight_sharing_budget.py` tabulates the same files.
WEIGHT_SHARING_FILES = (
    "weight_sharing_nb201_more_seeds.json",  # the 2026-12-03 rows (reused) and the seeds run since
    "weight_sharing_nb201_zero_cost_pt.json",
    "weight_sharing_nb201_zero_cost_pt_as_published.json",  # the same config after the 2026-12-05 fidelity fixes
    "weight_sharing_nb201_zero_cost_pt_synflow.json",  # its pool's final cell by synflow (tuned on seeds 100-104)
    "weight_sharing_nb201_beta_darts.json",
    "weight_sharing_nb201_drnas.json",
    "weight_sharing_nb201_pc_darts_edge_norm.json",
    "weight_sharing_nb201_darts_pt.json",
    "weight_sharing_nb201_darts_pt_fix_alpha.json",
)

#: Rows measured before a method's default changed, by file: what their method is called now.
#: Zero-Cost-PT's seeds 0-14 ran before its two fidelity options existed, with what they now name.
MEASURED_AS = {
    (file, "Zero-Cost-PT (CPU size)"): "Zero-Cost-PT (CPU size, per-unit codes, streamed validation)"
    for file in ("weight_sharing_nb201_zero_cost_pt.json", "weight_sharing_nb201_zero_cost_pt_heldout.json")
}


def method_label(file: str, method: str) -> str:
    """A row's method as the benchmark names what it ran (:data:`MEASURED_AS`)."""
    return MEASURED_AS.get((file, method), method)


def plot_weight_sharing(results: Path, out: Path) -> Path:
    """Each method's seeds (dots) and mean ± std (error bars): test accuracy of the derived cell against time.

    The x position of a method is its median search time: a few searches run while the cores
    were shared would drag a mean far from what a search takes.
    """
    files = [(name, _load(results / name)) for name in WEIGHT_SHARING_FILES if (results / name).is_file()]
    fig, ax = plt.subplots(figsize=(9, 5.2))
    cmap = plt.get_cmap("tab20")
    i = 0
    for name, data in files:
        for row in data["summary"]:
            method, color = row["method"], cmap(i % 20)
            i += 1
            runs = [r for r in data["runs"] if r["method"] == method and r.get("c10_test") is not None]
            times = [r["search_time_s"] for r in runs]
            ax.scatter(times, [r["c10_test"] for r in runs], color=color, s=14, alpha=0.6)
            ax.errorbar(
                statistics.median(times),
                row["c10_test_mean"],
                yerr=row["c10_test_std"],
                fmt="o",
                color=color,
                markersize=7,
                capsize=3,
                label=f"{method_label(name, method)}: {row['c10_test_mean']:.2f} ± {row['c10_test_std']:.2f} "
                f"({len(runs)} seeds)",
            )
    ax.axhline(94.37, color="grey", linestyle=":", linewidth=1, label="optimum of the table (94.37)")
    ax.set_ylim(0, 100)
    ax.set_xscale("log")
    ax.set_xlabel("search time (s, log scale; one core per search, cores sometimes shared)")
    ax.set_ylabel("derived cell's CIFAR-10 test accuracy (%)")
    ax.set_title("Weight-sharing searches in the NB201 space (seeds per method: in the legend)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6.5, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return _save(fig, out, "weight_sharing_accuracy_vs_time.png")


def plot_proxy_spearman(results: Path, out: Path) -> Path:
    """Spearman of every score on the 1,000 report cells, with the spread over seeds 0-2 as a range."""
    data = _load(results / "proxies.json")["result"]
    names = list(data["scores"])
    values = [data["scores"][n]["spearman"] for n in names]
    spreads = [data["scores"][n].get("spread", {}).get("spearman") or [v] for n, v in zip(names, values)]
    colors = ["tab:blue"] * len(names)
    for combo in data["combinations"].get("reported", []):
        names.append(f"{combo['how']}(\n{', '.join(combo['members'])})")
        values.append(combo["spearman"])
        spreads.append(combo.get("spread_spearman") or [combo["spearman"]])
        colors.append("tab:green")
    fig, ax = plt.subplots(figsize=(12, 4.5))
    ax.bar(names, values, color=colors, alpha=0.8, label=f"Spearman on {data['cells']} cells (green: combinations)")
    ax.tick_params(axis="x", labelsize=7, rotation=45)
    for x, spread in enumerate(spreads):
        ax.plot([x, x], [min(spread), max(spread)], color="black", linewidth=2)
    ax.plot([], [], color="black", linewidth=2, label="range over seeds 0-2 (first 200 cells)")
    params = data["scores"].get("params", {}).get("spearman")
    if params is not None:
        ax.axhline(params, color="tab:red", linestyle="--", linewidth=1, label=f"params ({params:.3f})")
    ax.axhline(0.82, color="grey", linestyle=":", linewidth=1, label="target 0.82")
    ax.set_ylim(0.4, 1.0)
    ax.set_ylabel("Spearman with CIFAR-10 test accuracy")
    ax.set_title("Zero-cost proxies and their combinations on NAS-Bench-201", fontsize=10)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=7, loc="lower right")
    return _save(fig, out, "proxies_spearman.png")


def find_table(explicit: Path | None) -> tuple[Path | None, list[Path]]:
    """The NB201 table (the explicit path, $NAS_NB201_TABLE, $NAS_DATA_DIR, ../shared/data) and where we looked."""
    candidates: list[Path | str] = [p for p in (explicit, os.environ.get("NAS_NB201_TABLE")) if p]
    if os.environ.get("NAS_DATA_DIR"):
        candidates.append(Path(os.environ["NAS_DATA_DIR"]) / "nasbench201" / "nb201.csv")
    candidates.append(REPO.parent / "shared" / "data" / "nasbench201" / "nb201.csv")
    paths = [Path(p) for p in candidates]
    return next((p for p in paths if p.is_file()), None), paths


def _ranks(values: Sequence[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    for rank, i in enumerate(order):
        ranks[i] = rank / max(len(values) - 1, 1)
    return ranks


def plot_proxy_scatter(results: Path, out: Path, table: Path | None, looked: Sequence[Path]) -> Path:
    """Each score's rank among the report cells against the cell's test accuracy from the table."""
    if table is None:
        fig, ax = plt.subplots(figsize=(9, 2))
        ax.axis("off")
        where = ", ".join(str(p) for p in looked)
        ax.text(0.5, 0.5, f"NAS-Bench-201 table not found (looked at: {where});\n"
                "build it with `nas nb201 import` and run benchmarks/plot_results.py again.",
                ha="center", va="center", fontsize=9, wrap=True)  # fmt: skip
        return _save(fig, out, "proxies_scatter.png")
    with table.open(encoding="utf-8", newline="") as f:
        truth = {row["arch_str"]: float(row["c10_test"]) for row in csv.DictReader(f)}
    rows = []
    with (results / "proxies_rows.jsonl").open(encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            if row.get("split") == "report" and row.get("seed", 0) == 0 and row["arch"] in truth:
                rows.append(row)
    if not rows:
        raise SystemExit(f"plot_results: no report cell of proxies_rows.jsonl is in the table {table}")
    names = [n for n in rows[0]["scores"] if n != "flops"]
    cols = 4
    fig, axes = plt.subplots(math.ceil(len(names) / cols), cols, figsize=(12, 2.8 * math.ceil(len(names) / cols)))
    for ax, name in zip(axes.flat, names):
        kept = [r for r in rows if r["scores"].get(name) is not None and math.isfinite(r["scores"][name])]
        accuracy = [truth[r["arch"]] for r in kept]
        ranks = _ranks([r["scores"][name] for r in kept])
        rho = spearmanr(ranks, accuracy).statistic
        ax.scatter(ranks, accuracy, s=3, alpha=0.4)
        ax.set_title(f"{name}: Spearman {rho:.3f} ({len(kept)} finite scores)", fontsize=9)
        ax.set_xlabel("score rank (0 worst, 1 best)", fontsize=8)
        ax.set_ylabel("test accuracy (%)", fontsize=8)
        ax.set_ylim(max(min(accuracy), 60.0) - 1, 95)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    fig.suptitle("Zero-cost scores of 1,000 NAS-Bench-201 cells against the table (seed 0; below 60% clipped)")
    fig.tight_layout()
    return _save(fig, out, "proxies_scatter.png")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=RESULTS, help="the result files (benchmarks/results)")
    parser.add_argument("--out", type=Path, default=OUT, help="where the PNGs go (docs/img)")
    parser.add_argument("--nb201-table", type=Path, default=None, help="nb201.csv, for the proxies' scatter plots")
    args = parser.parse_args(argv)
    if not args.results.is_dir():
        print(f"plot_results: --results {args.results} is not a directory", file=sys.stderr)
        return 2
    if args.nb201_table is not None and not args.nb201_table.is_file():
        print(f"plot_results: --nb201-table {args.nb201_table} is not a file (expected nb201.csv)", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    table, looked = find_table(args.nb201_table)
    written = [
        plot_controllers(args.results, args.out),
        plot_proxy_evolution(args.results, args.out),
        plot_weight_sharing(args.results, args.out),
        plot_proxy_spearman(args.results, args.out),
        plot_proxy_scatter(args.results, args.out, table, looked),
    ]
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
