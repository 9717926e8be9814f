"""NAS-Bench-201 protocol: every trial-based controller over many seeds, in-process.

Reproduces the paper's comparison (Dong & Yang, 2020, CIFAR-10): the reward of a query is
the 12-epoch validation accuracy, each new cell costs its simulated 12-epoch training
time, a search stops when the next query would exceed 12,000 s, and the reported number
is the 200-epoch test accuracy of the best-reward cell. A cell already queried is
answered from a cache (free, not a new query). Controller options come from
``experiments/nb201_controllers.yaml`` (tuned on seeds 10000-10299; the default seeds
here are 0..N-1, disjoint from them).

    python benchmarks/bench_nb201_controllers.py --seeds 500
    python benchmarks/bench_nb201_controllers.py --seeds 100 --controllers random,evolution --jobs 2

Prints a table (mean +- std against the published figures) and the best-so-far curve
(mean over seeds at simulated-time checkpoints), and writes both as JSON and Markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from nas.config_io import read_yaml  # noqa: E402
from nas.controllers import list_controllers  # noqa: E402
from nas.nb201_protocol import BUDGET_S, CHECKPOINTS_S, PUBLISHED, run_search, summarize  # noqa: E402
from nas.nb201_table import NB201Table, find_table  # noqa: E402

_TABLE: NB201Table | None = None


def _init(table_path: str) -> None:
    global _TABLE
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    _TABLE = NB201Table.load(table_path)


def _one(job: tuple[str, int, dict[str, Any], float]) -> dict[str, Any]:
    name, seed, options, budget = job
    assert _TABLE is not None
    start = time.perf_counter()
    result = run_search(_TABLE, name, seed, options=options, budget_s=budget)
    out = result.as_dict()
    out["seconds"] = time.perf_counter() - start
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=500, help="number of seeds per controller (0..N-1)")
    p.add_argument("--seed-start", type=int, default=0)
    p.add_argument("--controllers", default=",".join(list_controllers()))
    p.add_argument("--config", default=str(REPO / "experiments" / "nb201_controllers.yaml"))
    p.add_argument("--table", default=None, help="nb201.csv (default: found like nas.nb201_table.find_table)")
    p.add_argument("--budget", type=float, default=BUDGET_S)
    p.add_argument("--jobs", type=int, default=1, help="worker processes (the machine may be shared)")
    p.add_argument(
        "--ray-seeds",
        default="",
        help="comma-separated seeds to run again through Ray Tune (sequential trials) and compare with in-process",
    )
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "nb201_controllers"))
    return p.parse_args(argv)


def through_ray(names: list[str], seeds: list[int], config: str, table: str, budget: float) -> dict[str, Any]:
    """The same searches through Ray Tune (one table-lookup trial per paid query): identical results?"""
    import tempfile

    import ray

    from nas.tune.config import load_config_file
    from nas.tune.job import run

    for key, value in {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0", "RAY_AIR_NEW_OUTPUT": "0"}.items():
        os.environ.setdefault(key, value)
    work = Path(tempfile.mkdtemp(prefix="nas-nb201-ray-"))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _temp_dir=str(work / "ray"))
    out: dict[str, Any] = {}
    try:
        for name in names:
            for seed in seeds:
                overrides = {"controller": name, "seed": seed, "trial.table": table, "trial.budget_s": budget}
                cfg = load_config_file(config, overrides)
                start = time.perf_counter()
                run(cfg, work / f"{name}-{seed}", progress=False, echo=lambda _: None)
                wall = time.perf_counter() - start
                got = json.loads((work / f"{name}-{seed}" / "nb201_result.json").read_text(encoding="utf-8"))
                assert _TABLE is not None
                want = run_search(_TABLE, name, seed, options=cfg.controller_options, budget_s=budget).as_dict()
                want["curve"] = [list(p) for p in want["curve"]]
                same = got == want
                out[f"{name}/{seed}"] = {
                    "identical": same,
                    "test": got["test"],
                    "queries": got["queries"],
                    "wall_s": wall,
                }
                print(
                    f"ray {name} seed {seed}: test {got['test']:.2f}, {got['queries']} trials in {wall:.0f} s, "
                    f"identical to in-process: {same}",
                    flush=True,
                )
    finally:
        ray.shutdown()
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    table_path = args.table or find_table()
    if table_path is None:
        print("NAS-Bench-201 table not found: give --table or set NAS_DATA_DIR", file=sys.stderr)
        return 2
    options = read_yaml(args.config).get("options", {})
    names = [n.strip() for n in args.controllers.split(",") if n.strip()]
    seeds = list(range(args.seed_start, args.seed_start + args.seeds))
    _init(str(table_path))
    report: dict[str, Any] = {
        "protocol": {
            "budget_s": args.budget,
            "reward": "c10_valid_12ep",
            "cost": "cost_12ep_s",
            "reported": "c10_test of the best-reward cell",
            "cache": "known cells are free and not new queries",
            "seeds": [seeds[0], seeds[-1]] if seeds else [],
            "table": str(table_path),
        },
        "controllers": {},
    }
    for name in names if args.seeds > 0 else []:
        opts = dict(options.get(name, {}))
        jobs = [(name, s, opts, args.budget) for s in seeds]
        start = time.perf_counter()
        if args.jobs > 1:
            with ProcessPoolExecutor(args.jobs, initializer=_init, initargs=(str(table_path),)) as pool:
                runs = list(pool.map(_one, jobs, chunksize=8))
        else:
            runs = [_one(j) for j in jobs]
        wall = time.perf_counter() - start
        from nas.nb201_protocol import SearchResult

        results = [SearchResult(**{k: v for k, v in r.items() if k != "seconds"}) for r in runs]
        summary = summarize(results, CHECKPOINTS_S)
        summary["options"] = opts
        summary["seconds_per_search"] = sum(r["seconds"] for r in runs) / len(runs)
        summary["wall_s"] = wall
        summary["per_seed"] = [{"seed": r["seed"], "test": r["test"], "queries": r["queries"]} for r in runs]
        report["controllers"][name] = summary
        pub = PUBLISHED.get(name)
        pub_text = f"{pub[0]:.2f} ± {pub[1]:.2f}" if pub else "-"
        print(
            f"{name:10s} {summary['mean']:.2f} ± {summary['std']:.2f}  (published {pub_text})  "
            f"queries {summary['queries_mean']:.1f}  {summary['seconds_per_search'] * 1000:.0f} ms/search",
            flush=True,
        )
    if args.ray_seeds:
        ray_seeds = [int(x) for x in args.ray_seeds.split(",") if x.strip()]
        report["through_ray"] = through_ray(names, ray_seeds, args.config, str(table_path), args.budget)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    md = markdown(report)
    out.with_suffix(".md").write_text(md, encoding="utf-8")
    print()
    print(md)
    print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.md')}")
    return 0


def markdown(report: dict[str, Any]) -> str:
    ctrls = report["controllers"]
    seeds = report["protocol"]["seeds"]
    lines = [
        f"NAS-Bench-201, CIFAR-10, {report['protocol']['budget_s']:.0f} s simulated budget"
        + (f", seeds {seeds[0]}..{seeds[1]}" if seeds else ""),
    ]
    if ctrls:
        lines += _tables(ctrls)
    if report.get("through_ray"):
        lines += ["", "Through Ray Tune (sequential trials, one trial per paid query), same seeds as in-process:", ""]
        lines += ["| controller/seed | test | trials | wall time | identical to in-process |", "|---|---|---|---|---|"]
        for key, r in report["through_ray"].items():
            lines.append(f"| {key} | {r['test']:.2f} | {r['queries']} | {r['wall_s']:.0f} s | {r['identical']} |")
    return "\n".join(lines) + "\n"


def _tables(ctrls: dict[str, Any]) -> list[str]:
    lines = [
        "",
        "| controller | test accuracy (mean ± std) | published | runs | queries (mean) | time per search |",
        "|---|---|---|---|---|---|",
    ]
    for name, s in ctrls.items():
        pub = PUBLISHED.get(name)
        lines.append(
            f"| {name} | {s['mean']:.2f} ± {s['std']:.2f} | {f'{pub[0]:.2f} ± {pub[1]:.2f}' if pub else '-'} "
            f"| {s['runs']} | {s['queries_mean']:.1f} | {s['seconds_per_search'] * 1000:.0f} ms |"
        )
    lines += ["", "Best-so-far test accuracy (mean over seeds) against simulated time:", ""]
    lines.append("| time (s) | " + " | ".join(ctrls) + " |")
    lines.append("|---|" + "---|" * len(ctrls))
    times = [p["time_s"] for p in next(iter(ctrls.values()))["curve"]] if ctrls else []
    for i, t in enumerate(times):
        cells = []
        for s in ctrls.values():
            v = s["curve"][i]["test_mean"]
            cells.append("-" if v is None else f"{v:.2f}")
        lines.append(f"| {t:.0f} | " + " | ".join(cells) + " |")
    return lines


if __name__ == "__main__":
    sys.exit(main())
