"""Figures of searches: trial progress, DARTS architecture weights and skip connections, Pareto fronts.

Like :mod:`nas.viz.plots`, each function takes plain rows (as the searches write them to
``history.jsonl`` and ``leaderboard.json``) and writes one figure, returning its path.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from nas.errors import NasError
from nas.viz.figures import COLORS, new_figure, number, records, save_figure, target_path

__all__ = ["pareto_front", "plot_arch_weights", "plot_pareto", "plot_search_progress", "plot_skip_counts"]


# --------------------------------------------------------------------------- #
# Search progress
# --------------------------------------------------------------------------- #


def _best_so_far(values: list[float | None], mode: str) -> list[float | None]:
    best: float | None = None
    out: list[float | None] = []
    for v in values:
        if v is not None and (best is None or (v > best if mode == "max" else v < best)):
            best = v
        out.append(best)
    return out


def _elapsed(trials: list[Mapping[str, Any]], time_key: str | None) -> tuple[list[float | None], str] | None:
    """Elapsed time of each trial: an ``elapsed`` column as is, a duration column summed."""
    keys = [time_key] if time_key else ["elapsed_s", "time_s", "trial_time_s"]
    for key in keys:
        values = [number(t.get(key)) for t in trials]
        if not any(v is not None for v in values):
            continue
        if key == "trial_time_s" or key.endswith("duration_s"):
            total, out = 0.0, []
            for v in values:
                total += v or 0.0
                out.append(total)
            return out, "cumulative trial time"
        return values, "elapsed time"
    if time_key:
        raise NasError(f"search progress: no trial has a numeric {time_key!r}")
    return None


def _time_unit(seconds: float) -> tuple[float, str]:
    if seconds >= 3 * 3600:
        return 3600.0, "h"
    if seconds >= 3 * 60:
        return 60.0, "min"
    return 1.0, "s"


def plot_search_progress(
    trials: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Mapping[str, Any]]],
    path: str | Path,
    *,
    metric: str = "val_accuracy",
    mode: str = "max",
    time_key: str | None = None,
    title: str | None = None,
) -> Path:
    """Each trial's ``metric`` and the best so far, against trial index and against time.

    ``trials`` is one search's records in the order they were run, or a dict
    ``{name: records}`` to compare searches (e.g. controllers). Failed trials (no
    numeric ``metric``) count in the index but draw no point. Time comes from
    ``time_key``; by default ``elapsed_s`` or ``time_s`` (elapsed since the start) or
    else ``trial_time_s`` (durations, summed). Without any time column only the first
    panel is drawn.
    """
    if mode not in ("max", "min"):
        raise NasError(f"mode: expected 'max' or 'min', got {mode!r}")
    runs = dict(trials) if isinstance(trials, Mapping) else {"": trials}
    if not runs:
        raise NasError("search progress: no searches given")
    data = {name: records(rs, f"search progress {name}".strip()) for name, rs in runs.items()}
    if not any(number(t.get(metric)) is not None for rs in data.values() for t in rs):
        raise NasError(f"search progress: no trial has a numeric {metric!r}")
    times = {name: _elapsed(rs, time_key) for name, rs in data.items()}
    with_time = any(t is not None for t in times.values())
    p = target_path(path)
    fig = new_figure(11 if with_time else 5.8, 3.8)
    axes = fig.subplots(1, 2 if with_time else 1, squeeze=False)[0]
    for k, (name, rs) in enumerate(data.items()):
        color = COLORS[k % len(COLORS)]
        values = [number(t.get(metric)) for t in rs]
        best = _best_so_far(values, mode)
        idx = list(range(1, len(rs) + 1))
        label = f"{name}: best so far" if name else "best so far"
        pts = [(i, v) for i, v in zip(idx, values) if v is not None]
        if pts:
            axes[0].scatter(*zip(*pts), s=12, color=color, alpha=0.35, label=f"{name}: trials" if name else "trials")
        bpts = [(i, b) for i, b in zip(idx, best) if b is not None]
        axes[0].step(*zip(*bpts), where="post", color=color, linewidth=2, label=label)
        tm = times[name]
        if with_time and tm is not None:
            elapsed, kind = tm
            scale, unit = _time_unit(max([e for e in elapsed if e is not None] or [1.0]))
            tpts = [(e / scale, b) for e, b in zip(elapsed, best) if e is not None and b is not None]
            if tpts:
                axes[1].step(*zip(*tpts), where="post", color=color, linewidth=2, label=name or None)
                axes[1].set_xlabel(f"{kind} ({unit})")
    axes[0].set_xlabel("trial")
    for ax in axes:
        ax.set_ylabel(f"{metric} ({'higher' if mode == 'max' else 'lower'} is better)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    if with_time:
        axes[1].set_ylim(axes[0].get_ylim())  # same scale in both panels
        axes[1].set_title("best so far vs time", fontsize=10)
        if len(data) > 1:
            axes[1].legend(fontsize=8)
    axes[0].set_title("trials and best so far", fontsize=10)
    if title:
        fig.suptitle(title)
    return save_figure(fig, p)


# --------------------------------------------------------------------------- #
# DARTS architecture weights and skip connections
# --------------------------------------------------------------------------- #


def _cell_structure(num_edges: int) -> tuple[int, int] | None:
    """``(first node's inputs, nodes)`` when edges come node by node with one more input each."""
    for first in (2, 1):  # DARTS cells (two cell inputs), NAS-Bench-201 cells (one)
        total, nodes = 0, 0
        while total < num_edges:
            total += first + nodes
            nodes += 1
        if total == num_edges:
            return first, nodes
    return None


def _matrix(value: Any, where: str) -> list[list[float]]:
    if hasattr(value, "tolist"):
        value = value.tolist()
    if not isinstance(value, Sequence) or isinstance(value, (str, bytes)) or not value:
        raise NasError(f"{where}: expected a non-empty [num_edges, num_ops] matrix")
    rows = []
    for i, row in enumerate(value):
        if not isinstance(row, Sequence) or isinstance(row, (str, bytes)):
            raise NasError(f"{where}[{i}]: expected a row of numbers")
        nums = [number(v) for v in row]
        if any(v is None for v in nums):
            raise NasError(f"{where}[{i}]: expected finite numbers")
        rows.append(nums)
    return rows  # type: ignore[return-value]


def _softmax(row: list[float]) -> list[float]:
    m = max(row)
    e = [math.exp(v - m) for v in row]
    s = sum(e)
    return [v / s for v in e]


def plot_arch_weights(
    epochs: Sequence[Mapping[str, Any]],
    op_names: Sequence[str],
    path: str | Path,
    *,
    normalize: str = "auto",
    title: str | None = None,
) -> Path:
    """Heatmaps of each edge's operation weights over the epochs, one grid per cell type.

    ``epochs[e]`` maps a cell type (``normal``, ``reduce``; ``cell`` for NB201) to a
    ``[num_edges, num_ops]`` matrix (an optional ``epoch`` key numbers the rows; else
    1, 2, ...). Edges listed node by node (DARTS: 2, 3, 4, ... inputs; NB201: 1, 2, 3)
    are drawn as a node x input grid; other counts as a plain row of edges.
    ``normalize``: ``softmax`` (raw alphas), ``none`` (already weights) or ``auto``
    (softmax unless every row is already a distribution). Colours span the weights'
    range. Each panel's title names the strongest operation other than ``none`` at the
    last epoch: what the derived genotype would keep for that edge if it were chosen.
    """
    epochs = records(epochs, "arch weights")
    if not epochs:
        raise NasError("arch weights: no epochs given")
    if normalize not in ("auto", "softmax", "none"):
        raise NasError(f"normalize: expected 'auto', 'softmax' or 'none', got {normalize!r}")
    ops = list(op_names)
    cells = [k for k in epochs[0] if k != "epoch"]
    if not cells:
        raise NasError("arch weights[0]: expected cell types (e.g. 'normal', 'reduce') mapping to matrices")
    series: dict[str, list[list[list[float]]]] = {c: [] for c in cells}  # cell -> epoch -> edge -> op
    for e, rec in enumerate(epochs):
        for c in cells:
            if c not in rec:
                raise NasError(f"arch weights[{e}]: missing cell type {c!r}")
            m = _matrix(rec[c], f"arch weights[{e}].{c}")
            if any(len(row) != len(ops) for row in m):
                raise NasError(f"arch weights[{e}].{c}: expected {len(ops)} weights per edge (one per op name)")
            if series[c] and len(m) != len(series[c][0]):
                raise NasError(f"arch weights[{e}].{c}: {len(m)} edges, epoch 0 has {len(series[c][0])}")
            series[c].append(m)
    is_dist = all(
        all(v >= 0 for v in row) and abs(sum(row) - 1.0) < 1e-3 for ms in series.values() for m in ms for row in m
    )
    if normalize == "softmax" or (normalize == "auto" and not is_dist):
        series = {c: [[_softmax(row) for row in m] for m in ms] for c, ms in series.items()}
    xs = [number(r.get("epoch")) for r in epochs]
    epoch_ids = [int(x) if x is not None else i + 1 for i, x in enumerate(xs)]

    layouts = []
    for c in cells:
        n_edges = len(series[c][0])
        structure = _cell_structure(n_edges)
        if structure is None:
            grid = [[(k, f"edge {k}") for k in range(n_edges)]]
        else:
            first, nodes = structure
            grid, k = [], 0
            for j in range(nodes):
                row = []
                for i in range(first + j):
                    if first == 2:
                        src = ("c_{k-2}", "c_{k-1}")[i] if i < 2 else f"node {i - 2}"
                        row.append((k, f"node {j} <- {src}"))
                    else:
                        row.append((k, f"node {j + 1} <- {i}"))
                    k += 1
                grid.append(row)
        layouts.append((c, grid))
    ncols = max(len(row) for _, grid in layouts for row in grid)
    # A fixed grid placed in inches (constrained layout takes seconds for ~30 panels).
    left, pw, gx, right = 1.15, 1.55, 0.18, 1.45
    ph = 0.1 + 0.16 * len(ops)
    gy, header, top_pad = 0.72, 0.45, 0.55 if title else 0.1
    width = left + ncols * pw + (ncols - 1) * gx + right
    height = top_pad + sum(header + len(grid) * (ph + gy) for _, grid in layouts) + 0.05
    p = target_path(path)
    try:
        # matplotlib only when drawing: import cost, and nas.viz works without it
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - depends on the environment
        raise NasError("plots: matplotlib is required (pip install matplotlib)") from None
    fig = Figure(figsize=(width, height))

    def rect(x: float, y_top: float, w: float, h: float) -> tuple[float, float, float, float]:
        return (x / width, 1 - (y_top + h) / height, w / width, h / height)

    ticks = sorted({0, len(epochs) - 1} | ({(len(epochs) - 1) // 2} if len(epochs) > 4 else set()))
    y = top_pad
    for c, grid in layouts:
        name = {"normal": "normal cell", "reduce": "reduction cell"}.get(c, c)
        fig.text(0.12 / width, 1 - (y + 0.2) / height, name, fontsize=11, weight="bold", va="center")
        y += header
        block_top = y
        # DARTS weights stay near 1/num_ops for long, and the genotype is their argmax however small the
        # margins: colours span the data's range (the colour bar gives it), not [0, 1].
        values = [v for m in series[c] for row in m for v in row]
        vmin, vmax = min(values), max(values)
        if vmax <= vmin:
            vmin, vmax = vmin - 1e-6, vmax + 1e-6
        image = None
        for r, row in enumerate(grid):
            y_panel = y + 0.38  # room for the two-line panel title
            for col, (k, label) in enumerate(row):
                ax = fig.add_axes(rect(left + col * (pw + gx), y_panel, pw, ph))
                data = [[series[c][e][k][o] for e in range(len(epochs))] for o in range(len(ops))]
                image = ax.imshow(data, aspect="auto", vmin=vmin, vmax=vmax, cmap="viridis", interpolation="nearest")
                last = [(series[c][-1][k][o], ops[o]) for o in range(len(ops)) if ops[o] != "none"]
                ax.set_title(f"{label}\n-> {max(last)[1] if last else ''}", fontsize=7.5)
                ax.set_yticks(range(len(ops)))
                ax.set_yticklabels(ops if col == 0 else [], fontsize=7)
                ax.set_xticks(ticks)
                ax.set_xticklabels([str(epoch_ids[t]) for t in ticks], fontsize=7)
                if r + 1 >= len(grid) or col >= len(grid[r + 1]):  # nothing below this panel
                    ax.set_xlabel("epoch", fontsize=7, labelpad=1)
            y += ph + gy
        if image is not None:
            block_h = y - block_top - gy + 0.38
            cax = fig.add_axes(rect(width - right + 0.3, block_top + 0.38, 0.15, max(block_h - 0.38, 0.5)))
            fig.colorbar(image, cax=cax, label="operation weight")
    if title:
        fig.suptitle(title, y=1 - 0.25 / height, va="center")
    return save_figure(fig, p)


def plot_skip_counts(
    rows: Sequence[Mapping[str, Any]],
    path: str | Path,
    *,
    key: str = "skip_counts",
    limit: int | None = None,
    title: str | None = None,
) -> Path:
    """Skip connections of the derived cell(s) per epoch: the DARTS collapse symptom.

    Each row has ``epoch`` and either ``row[key]`` (a dict ``{cell: count}``, as in the
    DARTS search's ``history.jsonl``) or the counts at top level. ``limit`` draws a
    dashed line (e.g. the DARTS+ early-stop threshold).
    """
    rows = records(rows, "skip counts")
    series: dict[str, list[tuple[float, float]]] = {}
    for i, r in enumerate(rows):
        counts = r.get(key, {k: v for k, v in r.items() if k != "epoch"})
        if not isinstance(counts, Mapping):
            raise NasError(f"skip counts[{i}].{key}: expected a dict of cell type -> count")
        x = number(r.get("epoch", i + 1))
        for cell, n in counts.items():
            v = number(n)
            if x is not None and v is not None:
                series.setdefault(str(cell), []).append((x, v))
    if not series:
        raise NasError(f"skip counts: no row has numeric counts (under {key!r} or at top level)")
    p = target_path(path)
    fig = new_figure(6.0, 3.6)
    ax = fig.subplots()
    for k, (cell, pts) in enumerate(series.items()):
        xs, ys = zip(*pts)
        ax.step(xs, ys, where="mid", color=COLORS[k % len(COLORS)], linewidth=2,
                marker="o" if len(xs) <= 30 else None, markersize=3, label=f"{cell} cell")  # fmt: skip
    if limit is not None:
        ax.axhline(limit, color="#d62728", linestyle="--", linewidth=1, label=f"limit {limit}")
    top = max(max(y for _, y in pts) for pts in series.values())
    ax.set_ylim(-0.3, max(top, limit or 0) + 0.7)
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("epoch")
    ax.set_ylabel("skip_connect edges in the derived cell")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return save_figure(fig, p)


# --------------------------------------------------------------------------- #
# Pareto fronts
# --------------------------------------------------------------------------- #


def pareto_front(points: Sequence[Mapping[str, Any]], x: str = "params", y: str = "val_accuracy") -> list[int]:
    """Indices of the non-dominated points: ``x`` as small and ``y`` as large as possible.

    Points missing either value are ignored. Ties (equal ``x`` and ``y``) are all kept.
    Returned in increasing ``x``.
    """
    pts = [(i, number(p.get(x)), number(p.get(y))) for i, p in enumerate(points)]
    ok = [(i, a, b) for i, a, b in pts if a is not None and b is not None]
    front = [
        (i, a, b)
        for i, a, b in ok
        if not any(a2 <= a and b2 >= b and (a2 < a or b2 > b) for _, a2, b2 in ok)  # type: ignore[operator]
    ]
    return [i for i, _, _ in sorted(front, key=lambda t: (t[1], -t[2]))]  # type: ignore[operator]


def plot_pareto(
    points: Sequence[Mapping[str, Any]],
    path: str | Path,
    *,
    x: str = "params",
    y: str = "val_accuracy",
    label_key: str | None = "name",
    log_x: bool | None = None,
    title: str | None = None,
) -> Path:
    """Accuracy against size (params or FLOPs) with the Pareto front highlighted and labelled.

    ``log_x=None`` uses a log axis when ``x`` spans more than a factor of 30.
    """
    points = records(points, "pareto")
    front = pareto_front(points, x, y)
    if not front:
        raise NasError(f"pareto: no point has numeric {x!r} and {y!r}")
    # matplotlib only when drawing: import cost, and nas.viz works without it
    from matplotlib.ticker import EngFormatter

    p = target_path(path)
    fig = new_figure(6.4, 4.4)
    ax = fig.subplots()
    on_front = set(front)
    valid = [i for i, q in enumerate(points) if number(q.get(x)) is not None and number(q.get(y)) is not None]
    rest = [(float(points[i][x]), float(points[i][y])) for i in valid if i not in on_front]
    if rest:
        ax.scatter(*zip(*rest), s=18, color="#9a9a9a", alpha=0.6, label="dominated")
    fx = [float(points[i][x]) for i in front]
    fy = [float(points[i][y]) for i in front]
    ax.step(fx, fy, where="post", color=COLORS[1], linewidth=1.5, alpha=0.8)
    ax.scatter(fx, fy, s=36, color=COLORS[1], zorder=3, label=f"Pareto front ({len(front)})")
    if label_key:
        for k, i in enumerate(front):
            name = points[i].get(label_key)
            if name is not None:  # alternate above/below so neighbours on the front do not collide
                ax.annotate(str(name)[:28], (float(points[i][x]), float(points[i][y])), xytext=(4, 4 if k % 2 else -10),
                            textcoords="offset points", fontsize=7)  # fmt: skip
    xs = fx + [a for a, _ in rest]
    if log_x is None:
        log_x = min(xs) > 0 and max(xs) / min(xs) > 30
    if log_x:
        ax.set_xscale("log")
    ax.xaxis.set_major_formatter(EngFormatter())
    ax.set_xlabel(x + (" (log scale)" if log_x else ""))
    ax.set_ylabel(y)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="lower right")
    if title:
        ax.set_title(title)
    return save_figure(fig, p)
