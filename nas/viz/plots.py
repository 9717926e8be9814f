"""Figures of training runs, from plain data (lists of dicts as read from JSON lines) to PNG files.

Nothing here imports the trainer, the searches or their run directories: each function
takes rows whose keys are documented (defaults match what those writers produce, e.g.
``train_top1``/``val_top1`` from the trainer's ``metrics.jsonl``) and writes one
figure: training curves, and a comparison of runs over seeds. The figures of searches
are in :mod:`nas.viz.search_plots`; both share :mod:`nas.viz.figures`.

Every function returns the written path; bad input (no usable rows, ragged matrices,
an unknown format) raises :class:`~nas.errors.NasError` naming the argument.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from nas.errors import NasError
from nas.viz.figures import COLORS, new_figure, number, records, save_figure, target_path

__all__ = ["plot_run_comparison", "plot_training_curves", "summarize_runs"]


# --------------------------------------------------------------------------- #
# Training curves
# --------------------------------------------------------------------------- #

#: Metric panels of the training curves: (column suffix, axis label).
CURVE_METRICS: tuple[tuple[str, str], ...] = (
    ("loss", "loss"),
    ("top1", "top-1 accuracy (%)"),
    ("top5", "top-5 accuracy (%)"),
)
#: Column prefixes recognised as data splits, in legend order.
CURVE_SPLITS: tuple[str, ...] = ("train", "val", "valid", "test")


def plot_training_curves(rows: Sequence[Mapping[str, Any]], path: str | Path, *, title: str | None = None) -> Path:
    """Loss, top-1 and top-5 against ``epoch`` for every split present.

    ``rows`` are per-epoch records with ``epoch`` and columns ``{split}_{metric}``
    (``split`` in train/val/valid/test, ``metric`` in loss/top1/top5), as in the
    trainer's ``metrics.jsonl``; ``{split}_acc`` stands for top-1 when there is no
    ``{split}_top1`` (the DARTS search's ``history.jsonl``). Missing or null values
    leave gaps; a metric no row has gets no panel.
    """
    rows = records(rows, "training curves")
    p = target_path(path)
    panels = []
    for metric, label in CURVE_METRICS:
        series = []
        for split in CURVE_SPLITS:
            key = f"{split}_{metric}"
            if metric == "top1" and not any(key in r for r in rows):
                key = f"{split}_acc"  # the DARTS search logs top-1 as ``*_acc``
            pts = [(number(r.get("epoch", i + 1)), number(r.get(key))) for i, r in enumerate(rows)]
            pts = [(x, y) for x, y in pts if x is not None and y is not None]
            if pts:
                series.append((split, pts))
        if series:
            panels.append((metric, label, series))
    if not panels:
        wanted = ", ".join(f"{s}_{m}" for s in ("train", "val") for m, _ in CURVE_METRICS)
        raise NasError(f"training curves: no row has any of the columns {wanted}")
    fig = new_figure(4.2 * len(panels), 3.4)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    styles = {
        "train": ("-", COLORS[0]),
        "val": ("--", COLORS[1]),
        "valid": ("--", COLORS[1]),
        "test": (":", COLORS[2]),
    }
    for ax, (metric, label, series) in zip(axes, panels):
        for split, pts in series:
            style, color = styles[split]
            xs, ys = zip(*pts)
            ax.plot(xs, ys, style, color=color, marker="o" if len(xs) <= 30 else None, markersize=3, label=split)
        held_out = [(y, split) for split, pts in series if split != "train" for _, y in pts]
        if metric != "loss" and held_out:
            best = max(held_out)
            ax.axhline(best[0], color="#999999", linewidth=0.8, linestyle=":")
            ax.annotate(f"best {best[1]} {best[0]:.2f}", xy=(0.98, 0.03), xycoords="axes fraction",
                        ha="right", va="bottom", fontsize=8, color="#555555")  # fmt: skip
        ax.set_xlabel("epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return save_figure(fig, p)


# --------------------------------------------------------------------------- #
# Comparison of runs over seeds
# --------------------------------------------------------------------------- #


def summarize_runs(
    runs: Mapping[str, Sequence[float]] | Sequence[Mapping[str, Any]],
    *,
    metric: str = "test_top1",
    name_key: str = "name",
) -> list[dict[str, Any]]:
    """``[{name, mean, std, n, values}]``: mean and sample standard deviation over seeds.

    ``runs`` is ``{name: [value per seed]}`` or records with ``name_key`` and ``metric``
    (one per seed). Names keep their first-seen order; a name with one value has std 0.
    """
    groups: dict[str, list[float]] = {}
    if isinstance(runs, Mapping):
        for name, values in runs.items():
            if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
                raise NasError(f"runs[{name!r}]: expected a list of values (one per seed)")
            groups[str(name)] = [v for v in (number(x) for x in values) if v is not None]
    else:
        for i, r in enumerate(records(runs, "runs")):
            if name_key not in r:
                raise NasError(f"runs[{i}]: missing {name_key!r}")
            v = number(r.get(metric))
            groups.setdefault(str(r[name_key]), [])
            if v is not None:
                groups[str(r[name_key])].append(v)
    out = []
    for name, vals in groups.items():
        if not vals:
            continue
        mean = sum(vals) / len(vals)
        std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else 0.0
        out.append({"name": name, "mean": mean, "std": std, "n": len(vals), "values": vals})
    if not out:
        raise NasError(f"runs: no numeric {metric!r} values")
    return out


def plot_run_comparison(
    runs: Mapping[str, Sequence[float]] | Sequence[Mapping[str, Any]],
    path: str | Path,
    *,
    metric: str = "test_top1",
    name_key: str = "name",
    ylabel: str | None = None,
    from_zero: bool = False,
    title: str | None = None,
) -> Path:
    """Bar chart of each run's mean over seeds with ±1 std error bars and the seeds as dots.

    Accuracies of good CIFAR models differ by tenths of a percent, so by default the
    axis starts just below the lowest seed (the axis label says so); ``from_zero``
    starts it at 0.
    """
    stats = summarize_runs(runs, metric=metric, name_key=name_key)
    p = target_path(path)
    fig = new_figure(max(4.5, 1.0 + 1.1 * len(stats)), 4.2)
    ax = fig.subplots()
    positions = list(range(len(stats)))
    lows = [min([s["mean"] - s["std"]] + s["values"]) for s in stats]
    highs = [max([s["mean"] + s["std"]] + s["values"]) for s in stats]
    span = max(highs) - min(lows) or abs(max(highs)) * 0.05 or 1.0
    bottom = 0.0 if from_zero else min(lows) - 0.35 * span
    means = [s["mean"] for s in stats]
    ax.bar(positions, [m - bottom for m in means], bottom=bottom, color=[COLORS[i % len(COLORS)] for i in positions],
           alpha=0.75, yerr=[s["std"] for s in stats], capsize=6, ecolor="#222222", width=0.6)  # fmt: skip
    for i, s in enumerate(stats):
        n = len(s["values"])
        offsets = [(k - (n - 1) / 2) * 0.06 for k in range(n)]
        ax.scatter([i + o for o in offsets], s["values"], s=14, color="#111111", zorder=3)
        ax.annotate(f"{s['mean']:.2f} ± {s['std']:.2f}\n(n={n})", (i, s["mean"] + s["std"]), xytext=(0, 5),
                    textcoords="offset points", ha="center", va="bottom", fontsize=8)  # fmt: skip
    ax.set_xticks(positions)
    ax.set_xticklabels(
        [s["name"] for s in stats], rotation=20 if len(stats) > 4 else 0, ha="right" if len(stats) > 4 else "center"
    )
    ax.set_ylim(bottom, max(highs) + 0.3 * span)
    label = ylabel or metric
    ax.set_ylabel(label if from_zero else f"{label} (axis not from 0)")
    ax.grid(alpha=0.3, axis="y")
    if title:
        ax.set_title(title)
    return save_figure(fig, p)
