"""Real ``nas search`` processes for the cluster and PostgreSQL tests (and benchmarks/bench_cluster.py).

One CPU-sized trial recipe (tiny NB201 networks on a real CIFAR-10 slice), one way to start
``nas search`` as a child in its own session, and one way to end it with all it started.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from ray_cluster import ray_env, session_pids

REPO = Path(__file__).resolve().parents[1]


def tiny_trial(epochs: int = 1, train_subset: int = 200, test_subset: int = 100) -> dict[str, Any]:
    """A CPU-sized ``trial:`` section: ``train_subset`` CIFAR-10 images, 8-channel one-cell-per-stage NB201."""
    return {
        "kind": "train",
        "recipe": "quick",
        "epochs": epochs,
        "train": {"train_subset": train_subset, "val_fraction": 0.2, "test_subset": test_subset, "batch_size": 50,
                  "tensorboard": False},
        "build_options": {"channels": 8, "cells_per_stage": 1},
    }  # fmt: skip


def search_config(
    data_dir: Path | str, *, controller: str = "random", num_trials: int = 4, epochs: int = 1,
    train_subset: int = 200, test_subset: int = 100, **extra: Any,
) -> dict[str, Any]:  # fmt: skip
    """A search config of ``tiny_trial`` trials; ``extra`` are further top-level keys (workers, options, ...)."""
    cfg: dict[str, Any] = {
        "controller": controller,
        "space": "nb201",
        "seed": 0,
        "num_trials": num_trials,
        "trial": tiny_trial(epochs, train_subset, test_subset),
        "workers": 2,
        "cpus_per_trial": 1,
        "data_dir": str(data_dir),
    }
    cfg.update(extra)
    return cfg


def write(path: Path, cfg: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(cfg))
    return path


def nas_search(config: Path, run: Path, *flags: str) -> subprocess.Popen:
    """``nas search --config --out`` of this worktree as a child in its own session (output piped)."""
    cmd = [sys.executable, "-m", "nas.cli", "search", "--config", str(config), "--out", str(run), "--no-progress"]
    env = ray_env(PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    return subprocess.Popen([*cmd, *flags], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)  # fmt: skip


def kill_session(proc: subprocess.Popen) -> None:
    """SIGKILL a driver and whatever it started in its session (Ray's agents of an embedded instance)."""
    for pid in [proc.pid, *session_pids(proc.pid)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.wait(timeout=30)


def finish(proc: subprocess.Popen, timeout: float = 600) -> str:
    """Its output once it has exited with 0 (asserted); its session is ended on every path."""
    try:
        out, _ = proc.communicate(timeout=timeout)
    finally:
        kill_session(proc)
    assert proc.returncode == 0, out[-3000:]
    return out


def assert_no_repeats(run: Path, rows: list[dict], epochs: int) -> None:
    """Each leaderboard key once, and each trial's epochs 1..epochs trained once each."""
    assert len({r["key"] for r in rows}) == len(rows)
    for r in rows:
        lines = (run / "trials" / r["key"] / "train" / "metrics.jsonl").read_text().splitlines()
        assert [json.loads(x)["epoch"] for x in lines] == list(range(1, epochs + 1))  # no epoch trained twice
