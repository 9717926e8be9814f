"""Ray Tune's cost for trial-based NAS: overhead per trial, and the speed-up of concurrent trials.

1. Overhead per trial: a search whose trials are NAS-Bench-201 table lookups (microseconds
   of work in-process) run through Ray Tune one at a time; the wall time per trial is what
   Ray Tune itself costs (scheduling, result handling, experiment checkpoints).
2. Speed-up: the same CPU-bound search (random search over NB201 cells, every trial a real
   CIFAR-10 training on one thread, identical trials in both runs) with 1 worker and with
   2 workers. Target: >= 1.7x on 2 idle cores. The machine's own ceiling (the same
   CPU-bound loop in 1 process, then in 2 at once, without Ray) is measured just before,
   since other work on a shared machine takes cores.

Ray starts once (its start-up is reported apart). The machine may be shared: the 1-minute
load average before and after is printed with the results.

    python benchmarks/bench_ray_overhead.py --data-dir ../shared/data [--trials 40] [--train-trials 4]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

for _k, _v in {
    "RAY_AUTH_MODE": "disabled",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_AIR_NEW_OUTPUT": "0",
    "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",
}.items():
    os.environ.setdefault(_k, _v)

from nas.nb201_table import NB201Table, find_table  # noqa: E402
from nas.runs.atomic import write_json  # noqa: E402
from nas.tune.config import load_config  # noqa: E402
from nas.tune.job import run  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default=os.environ.get("NAS_DATA_DIR"), help="CIFAR-10 and the NB201 table")
    p.add_argument("--trials", type=int, default=40, help="table-lookup trials for the overhead measure")
    p.add_argument("--train-trials", type=int, default=4, help="training trials for the speed-up measure")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--train-subset", type=int, default=2000)
    p.add_argument("--skip-speedup", action="store_true")
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "ray_overhead.json"))
    return p.parse_args(argv)


def loadavg() -> float:
    return os.getloadavg()[0]


def overhead(table_path: str, trials: int, work: Path) -> dict[str, Any]:
    table = NB201Table.load(table_path)
    cells = [r.arch_str for r in table][:trials]
    start = time.perf_counter()
    for c in cells:
        table.query(c)
    in_process = (time.perf_counter() - start) / len(cells)
    config = load_config(
        {
            "controller": "random",
            "space": "nb201",
            "num_trials": trials,
            "trial": {"kind": "nb201_table", "table": table_path, "budget_s": 1e12},
            "workers": 1,
        }
    )
    start = time.perf_counter()
    run(config, work / "overhead", progress=False, echo=lambda _: None)
    wall = time.perf_counter() - start
    return {"trials": trials, "wall_s": wall, "per_trial_s": wall / trials, "in_process_lookup_s": in_process}


_BURN = """
import time, torch
torch.set_num_threads(1)
a = torch.randn(256, 256)
for _ in range({n}):
    a = torch.tanh(a @ a / 16)
"""


def machine_ceiling(n: int = 1500) -> dict[str, Any]:
    """The same CPU-bound loop in 1 process, then in 2 at once: what the machine allows right now.

    On a shared machine other work takes cores; Ray's speed-up is to be read against this.
    """
    import subprocess

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-c", _BURN.format(n=n)]
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True)
    one = time.perf_counter() - start
    start = time.perf_counter()
    procs = [subprocess.Popen(cmd, env=env) for _ in range(2)]
    for proc in procs:
        proc.wait()
    two = time.perf_counter() - start
    return {"one_job_s": one, "two_jobs_at_once_s": two, "speedup": 2 * one / two}


def speedup(data_dir: str | None, n: int, epochs: int, subset: int, work: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"trials": n, "epochs": epochs, "train_subset": subset}
    for workers in (1, 2):
        config = load_config(
            {
                "controller": "random",
                "space": "nb201",
                "seed": 0,
                "num_trials": n,
                "trial": {
                    "kind": "train",
                    "recipe": "quick",
                    "epochs": epochs,
                    "train": {
                        "train_subset": subset,
                        "val_fraction": 0.2,
                        "test_subset": 200,
                        "batch_size": 64,
                        "tensorboard": False,
                    },
                    "build_options": {"channels": 16, "cells_per_stage": 1},
                },
                "workers": workers,
                "cpus_per_trial": 1,
                "data_dir": data_dir,
            }
        )
        load = loadavg()
        start = time.perf_counter()
        run(config, work / f"speedup-{workers}", progress=False, echo=lambda _: None)
        out[f"wall_s_{workers}_worker{'s' if workers > 1 else ''}"] = time.perf_counter() - start
        out[f"loadavg_before_{workers}"] = load
    out["speedup"] = out["wall_s_1_worker"] / out["wall_s_2_workers"]
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    table_path = find_table(args.data_dir)
    if table_path is None:
        print("NAS-Bench-201 table not found: give --data-dir", file=sys.stderr)
        return 2
    import ray

    work = Path(tempfile.mkdtemp(prefix="nas-bench-ray-"))
    report: dict[str, Any] = {"cpus": os.cpu_count(), "loadavg_start": loadavg()}
    start = time.perf_counter()
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        object_store_memory=200 * 2**20,
        _temp_dir=str(work / "ray"),
    )
    report["ray_init_s"] = time.perf_counter() - start
    try:
        report["overhead"] = overhead(str(table_path), args.trials, work)
        o = report["overhead"]
        print(
            f"overhead: {o['trials']} table-lookup trials through Ray Tune in {o['wall_s']:.1f} s = "
            f"{o['per_trial_s'] * 1000:.0f} ms per trial (in-process lookup {o['in_process_lookup_s'] * 1e6:.0f} us); "
            f"ray.init {report['ray_init_s']:.1f} s",
            flush=True,
        )
        if not args.skip_speedup:
            report["machine_ceiling"] = c = machine_ceiling()
            print(
                f"machine: 2 CPU-bound processes at once vs 1 (no Ray): {c['speedup']:.2f}x "
                "(the most any scheduler can get right now)",
                flush=True,
            )
            report["speedup"] = speedup(args.data_dir, args.train_trials, args.epochs, args.train_subset, work)
            s = report["speedup"]
            print(
                f"speed-up: {s['trials']} CPU-bound training trials, 1 worker {s['wall_s_1_worker']:.1f} s, "
                f"2 workers {s['wall_s_2_workers']:.1f} s: {s['speedup']:.2f}x",
                flush=True,
            )
    finally:
        ray.shutdown()
        report["loadavg_end"] = loadavg()
        shutil.rmtree(work, ignore_errors=True)
    print(f"load average (1 min): {report['loadavg_start']:.1f} at start, {report['loadavg_end']:.1f} at end")
    out = write_json(args.out, report, indent=1)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
