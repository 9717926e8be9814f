"""Zero-cost scores on NAS-Bench-201: how well each one ranks cells, measured on real CIFAR-10 images.

Every score of :mod:`nas.proxies` is computed at initialisation for a fixed, seeded random
sample of NAS-Bench-201 cells (the table's network, C=16, N=5) on one minibatch of real
CIFAR-10 training images, and compared with the table's CIFAR-10 test accuracy:
Spearman and Kendall correlation, overlap of the top 10%, seconds per cell.

* Cells: ``--cells`` (1,000) reported cells and ``--select-cells`` (500) other cells,
  disjoint, drawn with ``--sample-seed``; combinations (rank average, vote) are chosen on
  the selection cells only and reported on the reported cells.
* Seeds: seed ``s`` draws minibatch ``s`` (``--batch-size`` 64, the zero-cost-proxies
  protocol; training augmentation) and initialises every network with ``s``. Seed 0 on
  every cell; the other ``--seeds`` on the first ``--spread-cells`` reported cells.
* ``naswot`` is also computed at batch 128 (Mellor et al.'s setting) as its own row.
* Timing: on the first ``--timed-cells`` reported cells every score runs alone (its
  seconds per cell); elsewhere the scores run together (shared passes). One thread by
  default (the machine is shared); ``--timing`` times every score and the reported
  combinations again, wall and CPU seconds, with 1 and 2 threads.

Every row is appended to ``--rows`` as soon as it is computed, so a killed run resumes
where it stopped::

    python benchmarks/bench_proxies.py --data-dir ../shared/data            # collect, then analyse
    python benchmarks/bench_proxies.py --analyse-only                        # tables from the rows
    python benchmarks/bench_proxies.py --analyse-only --timing               # + timing, wall and CPU
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import itertools
import json
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from nas.genotypes.codec import from_nb201_string  # noqa: E402
from nas.nb201_table import NB201Table, find_table  # noqa: E402
from nas.proxies import build_network, combine, proxy_names, rank_quality, sample_batch, score  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
SIZE_SCORES = ("params", "flops")  # independent of the seed: computed with seed 0 only
TRUTH = "c10_test"
#: Published NAS-Bench-201 CIFAR-10 Spearman figures (Abdelfattah et al. 2021, Table 2).
PUBLISHED = {"synflow": 0.74, "jacov": 0.73, "snip": 0.58, "grad_norm": 0.58, "vote(synflow,jacov,snip)": 0.82}
#: Fixed a priori (not chosen on data): the paper's vote.
FIXED_COMBINATIONS = [("vote", ("synflow", "jacov", "snip")), ("rank_average", ("synflow", "jacov", "snip"))]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default=None, help="CIFAR-10 and nasbench201/nb201.csv (default: $NAS_DATA_DIR)")
    p.add_argument("--table", default=None, help="nb201.csv (default: found in the data directory)")
    p.add_argument("--cells", type=int, default=1000, help="reported cells")
    p.add_argument("--select-cells", type=int, default=500, help="cells to choose combinations on (disjoint)")
    p.add_argument("--sample-seed", type=int, default=0, help="seed of the cell sample")
    p.add_argument("--seeds", default="0,1,2", help="minibatch and initialisation seeds")
    p.add_argument("--spread-cells", type=int, default=None, help="reported cells that get every seed (default all)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--timed-cells", type=int, default=200, help="reported cells on which each score runs alone")
    p.add_argument("--threads", type=int, default=1, help="torch threads while collecting")
    p.add_argument("--rows", default=str(RESULTS / "proxies_rows.jsonl"), help="per-cell rows (resumable)")
    p.add_argument("--out", default=str(RESULTS / "proxies"), help="writes OUT.json and OUT.md")
    p.add_argument("--analyse-only", action="store_true", help="do not collect; analyse the rows there are")
    p.add_argument(
        "--timing", action="store_true", help="time every score alone and the reported combinations (wall and CPU)"
    )
    p.add_argument("--timing-cells", type=int, default=50, help="cells for --timing")
    p.add_argument("--max-members", type=int, default=4, help="largest combination searched")
    p.add_argument("--budget-s", type=float, default=1.0, help="time budget per cell of the fast combination")
    return p.parse_args(argv)


# --------------------------------------------------------------------------- #
# The sample and the jobs
# --------------------------------------------------------------------------- #


def sample_cells(table: NB201Table, n_report: int, n_select: int, seed: int) -> tuple[list[str], list[str]]:
    """Two disjoint seeded samples of arch strings: reported cells, then selection cells."""
    archs = sorted(r.arch_str for r in table)
    if n_report + n_select > len(archs):
        raise SystemExit(f"--cells + --select-cells must be at most {len(archs)}")
    drawn = random.Random(seed).sample(archs, n_report + n_select)
    return drawn[:n_report], drawn[n_report:]


def jobs(report: list[str], select: list[str], seeds: list[int], spread: int) -> list[tuple[str, str, int]]:
    """(split, arch, seed) in the order they are computed: what matters most comes first."""
    first, rest = seeds[0], seeds[1:]
    out = [("report", a, first) for a in report]
    out += [("select", a, first) for a in select]
    out += [("report", a, s) for a in report[:spread] for s in rest]
    return out


def _key(row: dict[str, Any]) -> tuple[str, str, int, int]:
    return row["split"], row["arch"], row["seed"], row["batch_size"]


def read_rows(path: Path) -> list[dict[str, Any]]:
    rows = []
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line:
                with contextlib.suppress(json.JSONDecodeError):  # a line cut by a kill is recomputed
                    rows.append(json.loads(line))
    return rows


def _load1() -> float:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except OSError:
        return float("nan")


def _finite(v: float) -> float | None:
    return v if np.isfinite(v) else None


def collect(args: argparse.Namespace, table: NB201Table, report: list[str], select: list[str]) -> None:
    from nas.data import load_dataset

    seeds = [int(s) for s in args.seeds.split(",")]
    spread = len(report) if args.spread_cells is None else min(args.spread_cells, len(report))
    todo = jobs(report, select, seeds, spread)
    path = Path(args.rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    done = {_key(r) for r in read_rows(path)}
    todo = [j for j in todo if (j[0], j[1], j[2], args.batch_size) not in done]
    print(f"{len(done)} rows already in {path}; {len(todo)} to compute", flush=True)
    if not todo:
        return
    torch.set_num_threads(args.threads)
    data = load_dataset("cifar10", args.data_dir)
    batches: dict[tuple[int, int], Any] = {}
    names = proxy_names()
    timed = set(report[: args.timed_cells])
    start = time.perf_counter()
    with path.open("a", encoding="utf-8") as out:
        for i, (split, arch, seed) in enumerate(todo):
            for size in (args.batch_size, 128):
                if (seed, size) not in batches:
                    batches[seed, size] = sample_batch(data, size, seed)
            t0 = time.perf_counter()
            model = build_network(from_nb201_string(arch), seed)
            row: dict[str, Any] = {
                "split": split,
                "arch": arch,
                "seed": seed,
                "batch_size": args.batch_size,
                "build_s": time.perf_counter() - t0,
            }
            wanted = [n for n in names if seed == seeds[0] or n not in SIZE_SCORES]
            batch = batches[seed, args.batch_size]
            if split == "report" and seed == seeds[0] and arch in timed:
                values, seconds = {}, {}
                for n in wanted:
                    t0 = time.perf_counter()
                    values.update(score(model, [n], batch, seed))
                    seconds[n] = time.perf_counter() - t0
                row["seconds"] = seconds
            else:
                t0 = time.perf_counter()
                values = score(model, wanted, batch, seed)
                row["seconds_together"] = time.perf_counter() - t0
            row["scores"] = {n: _finite(v) for n, v in values.items()}
            if split == "report":
                t0 = time.perf_counter()
                row["naswot_b128"] = _finite(score(model, ["naswot"], batches[seed, 128], seed)["naswot"])
                row["naswot_b128_s"] = time.perf_counter() - t0
            row["threads"] = torch.get_num_threads()
            row["load1"] = _load1()
            out.write(json.dumps(row) + "\n")
            out.flush()
            os.fsync(out.fileno())
            if (i + 1) % 25 == 0 or i + 1 == len(todo):
                rate = (time.perf_counter() - start) / (i + 1)
                print(
                    f"{i + 1}/{len(todo)} rows, {rate:.2f} s/row, ~{rate * (len(todo) - i - 1) / 60:.0f} min left, "
                    f"load {row['load1']:.1f}",
                    flush=True,
                )


# --------------------------------------------------------------------------- #
# Analysis
# --------------------------------------------------------------------------- #


def _column(rows: dict[str, dict[str, Any]], archs: list[str], name: str, sizes: dict[str, dict[str, Any]]) -> list:
    out = []
    for a in archs:
        r = rows[a]
        if name == "naswot_b128":
            v = r.get("naswot_b128")
        elif name in SIZE_SCORES:
            v = sizes[a]["scores"][name]
        else:
            v = r["scores"][name]
        out.append(float("nan") if v is None else float(v))
    return out


def _by_seed(all_rows: list[dict[str, Any]], split: str, seed: int, batch_size: int) -> dict[str, dict[str, Any]]:
    return {
        r["arch"]: r for r in all_rows if r["split"] == split and r["seed"] == seed and r["batch_size"] == batch_size
    }


def _median(values: list[float]) -> float | None:
    values = [v for v in values if v is not None and np.isfinite(v)]
    return statistics.median(values) if values else None


def choose_combinations(
    select_rows: dict[str, dict[str, Any]], archs: list[str], truth: dict[str, float], names: list[str], max_k: int
) -> list[dict[str, Any]]:
    """Every rank average and vote of 2..max_k scores, ranked by Spearman on the selection cells."""
    cols = {n: _column(select_rows, archs, n, select_rows) for n in names}
    y = [truth[a] for a in archs]
    found = []
    for k in range(2, max_k + 1):
        for members in itertools.combinations(names, k):
            for how in ("rank_average", "vote"):
                values = combine(how, {m: cols[m] for m in members})
                found.append({"how": how, "members": list(members), **rank_quality(values.tolist(), y)})
    found.sort(key=lambda c: -c["spearman"])
    return found


def analyse(
    args: argparse.Namespace,
    table: NB201Table,
    report: list[str],
    select: list[str],
    cpu_costs: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Every score's rank quality, its spread over seeds, and the combinations.

    ``cpu_costs`` (CPU seconds per cell of each score alone, from :func:`time_scores`) picks the
    best combination within ``--budget-s`` besides the best one overall.
    """
    rows = read_rows(Path(args.rows))
    seeds = [int(s) for s in args.seeds.split(",")]
    names = proxy_names()
    truth = {r.arch_str: getattr(r, TRUTH) for r in table}
    first = _by_seed(rows, "report", seeds[0], args.batch_size)
    cells = [a for a in report if a in first]
    y = [truth[a] for a in cells]
    result: dict[str, Any] = {"cells": len(cells), "scores": {}, "anchors": {}, "combinations": {}}

    # Anchors from the table.
    every = list(table)
    ty = [r.c10_test for r in every]
    for label, col in (
        ("params (table)", "params_M"),
        ("flops (table)", "flops_M"),
        ("12-epoch validation", "c10_valid_12ep"),
    ):
        result["anchors"][label] = {
            "all_15625": rank_quality([getattr(r, col) for r in every], ty),
            "sample": rank_quality([getattr(table.query(a), col) for a in cells], y) if len(cells) >= 3 else None,
        }

    # Every score on seed 0, with its time, and its spread over the seeds.
    spread_rows = {s: _by_seed(rows, "report", s, args.batch_size) for s in seeds}
    spread_cells = [a for a in cells if all(a in spread_rows[s] for s in seeds)]
    timed = [first[a] for a in cells if "seconds" in first[a]]
    for name in [*names, "naswot_b128"]:
        entry = rank_quality(_column(first, cells, name, first), y) if len(cells) >= 3 else {}
        if name == "naswot_b128":
            entry["seconds_per_cell"] = _median([first[a].get("naswot_b128_s") for a in cells])
        else:
            entry["seconds_per_cell"] = _median([r["seconds"][name] for r in timed])
        if len(spread_cells) >= 3 and len(seeds) > 1:
            per_seed = []
            for s in seeds:
                col = _column(spread_rows[s], spread_cells, name, first)
                per_seed.append(rank_quality(col, [truth[a] for a in spread_cells]))
            entry["spread"] = {
                "cells": len(spread_cells),
                "seeds": seeds,
                "spearman": [q["spearman"] for q in per_seed],
                "kendall": [q["kendall"] for q in per_seed],
                "top_overlap": [q["top_overlap"] for q in per_seed],
            }
        result["scores"][name] = entry
    result["build_s_per_cell"] = _median([first[a]["build_s"] for a in cells])
    result["timed_cells"] = len(timed)
    result["together_s_per_cell"] = _median([r.get("seconds_together") for r in first.values()])

    # Combinations: chosen on the selection cells, reported on the reported cells.
    sel = _by_seed(rows, "select", seeds[0], args.batch_size)
    sel_cells = [a for a in select if a in sel]
    result["selection_cells"] = len(sel_cells)
    chosen: list[tuple[str, tuple[str, ...], str]] = [(h, m, "fixed (the paper's vote)") for h, m in FIXED_COMBINATIONS]
    if len(sel_cells) >= 3:
        ranking = choose_combinations(sel, sel_cells, truth, names, args.max_members)
        result["combinations"]["searched"] = len(ranking)
        result["combinations"]["top_on_selection"] = ranking[:10]
        best = ranking[0]
        chosen.append((best["how"], tuple(best["members"]), "best on the selection cells"))
        if cpu_costs:
            # Conservative: members alone, each with its own passes, plus building the network.
            fast = [c for c in ranking if cpu_costs["build"] + sum(cpu_costs[m] for m in c["members"]) <= args.budget_s]
            if fast and (fast[0]["how"], fast[0]["members"]) != (best["how"], best["members"]):
                why = (
                    f"best on the selection cells whose members alone cost <= {args.budget_s:g} CPU s per cell "
                    "with the network's construction"
                )
                chosen.append((fast[0]["how"], tuple(fast[0]["members"]), why))
    reported = []
    for how, members, why in chosen:
        cols = {m: _column(first, cells, m, first) for m in members}
        entry = {"how": how, "members": list(members), "why": why, **rank_quality(combine(how, cols).tolist(), y)}
        sel_q = None
        if len(sel_cells) >= 3:
            sel_cols = {m: _column(sel, sel_cells, m, sel) for m in members}
            sel_q = rank_quality(combine(how, sel_cols).tolist(), [truth[a] for a in sel_cells])["spearman"]
        entry["spearman_on_selection"] = sel_q
        entry["sum_of_member_seconds"] = sum(result["scores"][m]["seconds_per_cell"] or 0.0 for m in members)
        if len(spread_cells) >= 3 and len(seeds) > 1:
            entry["spread_spearman"] = [
                rank_quality(
                    combine(how, {m: _column(spread_rows[s], spread_cells, m, first) for m in members}).tolist(),
                    [truth[a] for a in spread_cells],
                )["spearman"]
                for s in seeds
            ]
        reported.append(entry)
    result["combinations"]["reported"] = reported
    loads = [r.get("load1") for r in rows if r.get("load1") is not None]
    result["load1"] = {"median": _median(loads), "min": min(loads, default=None), "max": max(loads, default=None)}
    return result


def _timed(fn: Any) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of ``fn()``."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def _timing_setup(args: argparse.Namespace, report: list[str]) -> tuple[Any, list[str]]:
    from nas.data import load_dataset

    return sample_batch(load_dataset("cifar10", args.data_dir), args.batch_size, 0), report[: args.timing_cells]


def _summary(samples: list[tuple[float, float]]) -> dict[str, float]:
    wall, cpu = zip(*samples)
    return {"wall_s": statistics.median(wall), "cpu_s": statistics.median(cpu)}


def time_scores(args: argparse.Namespace, report: list[str]) -> dict[str, Any]:
    """Wall and CPU seconds per cell of every score alone (1 thread), interleaved cell by cell.

    CPU seconds (``time.process_time``) are what a cell costs the machine; on a shared machine
    wall time also holds the waits for the other processes' time slices.
    """
    batch, cells = _timing_setup(args, report)
    torch.set_num_threads(1)
    samples: dict[str, list[tuple[float, float]]] = {n: [] for n in [*proxy_names(), "build"]}
    loads = []
    for arch in cells:
        genotype = from_nb201_string(arch)
        samples["build"].append(_timed(lambda g=genotype: build_network(g, 0)))
        model = build_network(genotype, 0)
        for n in proxy_names():
            samples[n].append(_timed(lambda n=n, m=model: score(m, [n], batch, 0)))
        loads.append(_load1())
    out = {"cells": len(cells), "load1_median": statistics.median(loads)}
    out["scores"] = {n: _summary(v) for n, v in samples.items()}
    print(f"scores alone: {out}", flush=True)
    return out


def time_combinations(args: argparse.Namespace, combos: list[dict[str, Any]], report: list[str]) -> dict[str, Any]:
    """Wall and CPU seconds per cell of each combination (members scored together, network built),
    with 1 and 2 threads, interleaved cell by cell."""
    batch, cells = _timing_setup(args, report)
    samples: dict[tuple[int, int], list[tuple[float, float]]] = {}
    loads = []
    for arch in cells:
        genotype = from_nb201_string(arch)
        for threads in (1, 2):
            torch.set_num_threads(threads)
            for i, c in enumerate(combos):
                run = lambda c=c, g=genotype: score(build_network(g, 0), c["members"], batch, 0)  # noqa: E731
                samples.setdefault((i, threads), []).append(_timed(run))
        loads.append(_load1())
    torch.set_num_threads(1)
    out: dict[str, Any] = {"cells": len(cells), "load1_median": statistics.median(loads), "combinations": []}
    for i, c in enumerate(combos):
        entry = {"how": c["how"], "members": c["members"]}
        for threads in (1, 2):
            entry[f"threads_{threads}"] = _summary(samples[i, threads])
        out["combinations"].append(entry)
        print(f"combination {entry}", flush=True)
    return out


def _machine() -> dict[str, Any]:
    model = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "torch": torch.__version__, "python": platform.python_version()}


def _f(v: float | None, digits: int = 3) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def markdown(report: dict[str, Any]) -> str:
    res, meta = report["result"], report["meta"]
    scores = res["scores"]
    params_rho = scores.get("params", {}).get("spearman")
    lines = [
        f"Zero-cost scores on NAS-Bench-201 (CIFAR-10 test accuracy of the table), {res['cells']} cells "
        f"(sample seed {meta['sample_seed']}), minibatch of {meta['batch_size']} real CIFAR-10 training images, "
        f"networks C=16, N=5 at initialisation.",
        "",
        f"Command: `{meta['command']}`  ",
        f"Date: {meta['date']}; machine: {meta['machine']['cpu']}, {meta['machine']['cores']} cores, "
        f"torch {meta['machine']['torch']}; collected with {meta['threads']} thread(s); load average during "
        f"the run: median {_f(res['load1']['median'], 1)} (min {_f(res['load1']['min'], 1)}, max "
        f"{_f(res['load1']['max'], 1)}) on {meta['machine']['cores']} cores, i.e. the machine was shared.",
        "",
        "| score | Spearman | Kendall | top-10% overlap | s/cell (alone, 1 thread) | beats params? | "
        "Spearman over seeds (min / max) | published |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, e in scores.items():
        spread = e.get("spread")
        sp = f"{min(spread['spearman']):.3f} / {max(spread['spearman']):.3f}" if spread else "-"
        beats = "-" if name == "params" or params_rho is None else ("yes" if e["spearman"] > params_rho else "no")
        label = "naswot, batch 128 (Mellor et al.)" if name == "naswot_b128" else name
        lines.append(
            f"| {label} | {_f(e.get('spearman'))} | {_f(e.get('kendall'))} | {_f(e.get('top_overlap'), 2)} | "
            f"{_f(e.get('seconds_per_cell'))} | {beats} | {sp} | {PUBLISHED.get(name, '-')} |"
        )
    for c in res["combinations"].get("reported", []):
        label = f"{c['how']}({', '.join(c['members'])})"
        spread = c.get("spread_spearman")
        sp = f"{min(spread):.3f} / {max(spread):.3f}" if spread else "-"
        pub = PUBLISHED.get(f"vote({','.join(c['members'])})", "-") if c["how"] == "vote" else "-"
        lines.append(
            f"| {label}: {c['why']} | {_f(c['spearman'])} | {_f(c['kendall'])} | {_f(c['top_overlap'], 2)} | "
            f"{_f(c['sum_of_member_seconds'])} (sum of members) | "
            f"{'yes' if params_rho is not None and c['spearman'] > params_rho else 'no'} | {sp} | {pub} |"
        )
    lines += [
        "",
        "Anchors from the table (not zero-cost):",
        "",
        "| anchor | Spearman, all 15,625 cells | Spearman, the sample |",
        "|---|---|---|",
    ]
    for label, a in res["anchors"].items():
        lines.append(f"| {label} | {_f(a['all_15625']['spearman'])} | {_f((a['sample'] or {}).get('spearman'))} |")
    lines += [
        "",
        f"Seconds per cell: each score alone on the first {res['timed_cells']} cells (median), one thread; building "
        f"the network takes {_f(res['build_s_per_cell'])} s more. All nine together (shared passes): "
        f"{_f(res['together_s_per_cell'])} s per cell (median over the other rows).",
    ]
    if res["combinations"].get("searched"):
        lines.append(
            f"Combinations: {res['combinations']['searched']} rank averages and votes of 2 to "
            f"{meta['max_members']} scores were ranked on {res['selection_cells']} other cells (disjoint from the "
            "reported ones); the best there is reported here, on the reported cells."
        )
    spread = next((e.get("spread") for e in scores.values() if e.get("spread")), None)
    if spread:
        lines.append(
            f"Spread: seeds {spread['seeds']} (minibatch and initialisation) on {spread['cells']} of the cells."
        )
    ts, tc = report.get("timing_scores"), report.get("timing_combinations")
    if ts:
        lines += [
            "",
            f"Timing (`--timing`): medians over {ts['cells']} cells, load average {ts['load1_median']:.1f} on "
            f"{meta['machine']['cores']} cores. CPU seconds are what a cell costs the machine; wall seconds also "
            "hold the waits for the other processes sharing it.",
            "",
            "| what | wall s/cell, 1 thread | CPU s/cell, 1 thread | wall s/cell, 2 threads | CPU s/cell, 2 threads |",
            "|---|---|---|---|---|",
        ]
        for name, v in ts["scores"].items():
            label = "building the network" if name == "build" else f"{name} alone"
            lines.append(f"| {label} | {v['wall_s']:.3f} | {v['cpu_s']:.3f} | - | - |")
    if tc:
        for c in tc["combinations"]:
            one, two = c["threads_1"], c["threads_2"]
            lines.append(
                f"| {c['how']}({', '.join(c['members'])}), network built | {one['wall_s']:.3f} | "
                f"{one['cpu_s']:.3f} | {two['wall_s']:.3f} | {two['cpu_s']:.3f} |"
            )
        lines.append(f"(combinations: {tc['cells']} cells, load average {tc['load1_median']:.1f})")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    table_path = args.table or find_table(args.data_dir)
    if table_path is None:
        print("NAS-Bench-201 table not found: give --table or --data-dir", file=sys.stderr)
        return 2
    table = NB201Table.load(table_path)
    report, select = sample_cells(table, args.cells, args.select_cells, args.sample_seed)
    if not args.analyse_only:
        collect(args, table, report, select)
    out = Path(args.out)
    previous = json.loads(out.with_suffix(".json").read_text()) if out.with_suffix(".json").is_file() else {}
    timing_scores = time_scores(args, report) if args.timing else previous.get("timing_scores")
    costs = {n: v["cpu_s"] for n, v in timing_scores["scores"].items()} if timing_scores else None
    result = analyse(args, table, report, select, costs)
    doc: dict[str, Any] = {
        "meta": {
            "command": "python benchmarks/bench_proxies.py " + " ".join(sys.argv[1:] if argv is None else argv),
            "date": dt.date.today().isoformat(),
            "machine": _machine(),
            "threads": args.threads,
            "batch_size": args.batch_size,
            "sample_seed": args.sample_seed,
            "seeds": args.seeds,
            "max_members": args.max_members,
            "budget_s": args.budget_s,
            "truth": TRUTH,
            "table": str(table_path),
        },
        "result": result,
    }
    if timing_scores:
        doc["timing_scores"] = timing_scores
    if args.timing:
        doc["timing_combinations"] = time_combinations(args, result["combinations"]["reported"], report)
    elif previous.get("timing_combinations"):
        doc["timing_combinations"] = previous["timing_combinations"]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    md = markdown(doc)
    out.with_suffix(".md").write_text(md, encoding="utf-8")
    print(md)
    print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
