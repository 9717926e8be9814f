"""The same CPU-sized search on a Ray cluster of 1 node, of 2 nodes, and on a local embedded Ray.

Three set-ups, each running the identical random search (same seed, same trials: tiny
NB201 networks trained on a real CIFAR-10 slice, one thread per trial) with ``nas search``:

* ``1 node x 1 CPU``: a cluster of one head node with one CPU (``--address``), 1 worker;
* ``2 nodes x 1 CPU``: a head and a second node joined with ``ray start --address``,
  one CPU each, 2 workers;
* ``local, 2 workers``: the embedded Ray instance ``nas search`` starts itself, 2 CPUs.

Nodes are separate ``ray start --block`` processes on this machine (loopback), started and
ended by PID (tests/ray_cluster.py), never ``ray stop``. For each run: the driver's wall
time, the per-trial overhead (slot time not spent in a trial's training, per trial:
``(wall * workers - sum(trial_time_s)) / trials``) and how many trials each node ran.
Rounds are interleaved (1 node, 2 nodes, local, then again) and medians reported; the
cluster start-up is timed apart. Target: 2 nodes >= 1.7x the 1-node throughput.

    python benchmarks/bench_cluster.py --data-dir ../shared/data [--rounds 2] [--trials 6] \
        [--epochs 2] [--train-subset 600]

Longer CPU-bound trials (``--epochs``, ``--train-subset``) make the per-trial start-up
(process start, ``import torch``) a smaller share of each trial.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from ray_cluster import Cluster, ray_env  # noqa: E402
from search_runs import search_config as tiny_search  # noqa: E402

SETUPS = ("1 node x 1 CPU", "2 nodes x 1 CPU", "local, 2 workers")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default=os.environ.get("NAS_DATA_DIR"), help="CIFAR-10 (default: $NAS_DATA_DIR)")
    p.add_argument("--trials", type=int, default=6)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--train-subset", type=int, default=600)
    p.add_argument("--rounds", type=int, default=2, help="interleaved rounds of the three set-ups")
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "cluster.json"))
    return p.parse_args(argv)


def search_config(args: argparse.Namespace, workers: int) -> dict[str, Any]:
    """The tests' CPU-sized trial recipe (tests/search_runs.py), sized by ``--trials/--epochs/--train-subset``."""
    return tiny_search(args.data_dir, num_trials=args.trials, epochs=args.epochs, train_subset=args.train_subset,
                       test_subset=200, workers=workers, cpus_per_trial=1)  # fmt: skip


def run_search(cfg: dict[str, Any], work: Path, name: str, address: str | None) -> dict[str, Any]:
    """One ``nas search`` in a fresh run directory: wall time, trial times, trials per node."""
    config = work / f"{name}.yaml"
    config.write_text(yaml.safe_dump(cfg))
    run = work / name
    cmd = [sys.executable, "-m", "nas.cli", "search", "--config", str(config), "--out", str(run), "--no-progress"]
    if address:
        cmd += ["--address", address]
    env = ray_env(PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=3600)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{name}: nas search failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    rows = json.loads((run / "leaderboard.json").read_text())
    nodes = Counter()
    for r in rows:
        doc = json.loads((run / "trials" / r["key"] / "train" / "config.json").read_text())
        nodes[(doc["environment"].get("ray_node") or "?")[:8]] += 1
    trial_times = [float(r["trial_time_s"]) for r in rows if r.get("trial_time_s") is not None]
    workers = int(cfg["workers"])
    return {
        "wall_s": wall,
        "trials": len(rows),
        "completed": sum(r["status"] == "completed" for r in rows),
        "trial_time_s_median": statistics.median(trial_times) if trial_times else None,
        "overhead_per_trial_s": (wall * workers - sum(trial_times)) / max(len(rows), 1),
        "trials_per_node": sorted(nodes.values(), reverse=True),
        "throughput_trials_per_min": 60.0 * len(rows) / wall,
    }


def one_round(args: argparse.Namespace, work: Path, rnd: int) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for setup in SETUPS:
        name = f"r{rnd}-{setup.split(',')[0].replace(' ', '')}"
        if setup.startswith("local"):
            out[setup] = run_search(search_config(args, 2), work, name, None)
            continue
        nodes = 2 if setup.startswith("2") else 1
        with Cluster() as cluster:
            t0 = time.perf_counter()
            cluster.start_head(num_cpus=1)
            for _ in range(nodes - 1):
                cluster.add_node(num_cpus=1)
            cluster.wait_for(nodes)
            startup = time.perf_counter() - t0
            result = run_search(search_config(args, nodes), work, name, cluster.address)
        result["cluster_start_s"] = startup
        out[setup] = result
        print(f"round {rnd} {setup}: {result['wall_s']:.1f} s", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.data_dir:
        raise SystemExit("--data-dir (or NAS_DATA_DIR): where cifar10-jpeg.tar.gz is")
    work = Path(tempfile.mkdtemp(prefix="nas-bench-cluster-"))
    load_start = os.getloadavg()[0]
    rounds = []
    try:
        for rnd in range(args.rounds):
            rounds.append(one_round(args, work, rnd))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summary: dict[str, Any] = {}
    for setup in SETUPS:
        runs = [r[setup] for r in rounds]
        summary[setup] = {
            "wall_s": statistics.median(r["wall_s"] for r in runs),
            "overhead_per_trial_s": statistics.median(r["overhead_per_trial_s"] for r in runs),
            "trial_time_s_median": statistics.median(r["trial_time_s_median"] for r in runs),
            "throughput_trials_per_min": statistics.median(r["throughput_trials_per_min"] for r in runs),
            "trials_per_node": [r["trials_per_node"] for r in runs],
            "cluster_start_s": statistics.median(r.get("cluster_start_s", 0.0) for r in runs),
        }
    one, two, local = (summary[s]["throughput_trials_per_min"] for s in SETUPS)
    doc = {
        "command": "python benchmarks/bench_cluster.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "loadavg_start": load_start,
        "loadavg_end": os.getloadavg()[0],
        "trials": args.trials,
        "epochs": args.epochs,
        "train_subset": args.train_subset,
        "rounds": rounds,
        "median": summary,
        "speedup_2_nodes_vs_1": two / one,
        "speedup_local_2_workers_vs_1_node": local / one,
        "target_2_nodes": 1.7,
    }
    Path(args.out).write_text(json.dumps(doc, indent=2) + "\n")
    print(f"{'set-up':<18} {'wall s':>7} {'trial s':>8} {'overhead/trial s':>17} {'trials/min':>11}  trials per node")
    for setup in SETUPS:
        s = summary[setup]
        print(f"{setup:<18} {s['wall_s']:7.1f} {s['trial_time_s_median']:8.1f} {s['overhead_per_trial_s']:17.1f} "
              f"{s['throughput_trials_per_min']:11.2f}  {s['trials_per_node']}")  # fmt: skip
    print(f"2 nodes vs 1 node: {two / one:.2f}x (target 1.7x); local 2 workers vs 1 node: {local / one:.2f}x")
    print(f"load average {load_start:.2f} -> {doc['loadavg_end']:.2f}; written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
