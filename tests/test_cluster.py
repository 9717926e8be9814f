"""Scaling out with Ray on a real multi-node cluster started on this machine (tests/ray_cluster.py):
``nas search --address`` runs trials on both nodes and records where; a worker node SIGKILLed
mid-trial, and a SIGKILLed driver, both end in the full search with no trial repeated; a node
declaring GPUs it does not have runs four 0.5-GPU trials at once, each on the CPU with the
CUDA_VISIBLE_DEVICES Ray gave it. Every test leaves no process of its nodes or drivers behind."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import yaml
from ray_cluster import Cluster, ray_env, session_pids

from nas.runs import device as device_mod
from nas.runs.device import resolve_device

REPO = Path(__file__).resolve().parents[1]


def test_assigned_gpus_without_cuda_fall_back_to_cpu_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: auto picks it")  # the CI machine has none
    monkeypatch.setattr(device_mod, "_warned", set())
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cpu")
    err = capsys.readouterr().err.splitlines()
    assert err == ["warning: CUDA_VISIBLE_DEVICES=1 is set but CUDA is not available here; using cpu"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # nothing assigned: nothing to say
    monkeypatch.setattr(device_mod, "_warned", set())
    assert resolve_device("auto") == torch.device("cpu") and capsys.readouterr().err == ""


# --------------------------------------------------------------------------- #
# Helpers
# --------------------------------------------------------------------------- #


def search_config(data_dir: Path, **extra: object) -> dict:
    """A CPU-sized real-CIFAR-10 random search: 200 training images, tiny NB201 networks."""
    cfg: dict = {
        "controller": "random",
        "space": "nb201",
        "seed": 0,
        "num_trials": 4,
        "trial": {
            "kind": "train",
            "recipe": "quick",
            "epochs": 1,
            "train": {"train_subset": 200, "val_fraction": 0.2, "test_subset": 100, "batch_size": 50,
                      "tensorboard": False},
            "build_options": {"channels": 8, "cells_per_stage": 1},
        },
        "workers": 2,
        "cpus_per_trial": 1,
        "data_dir": str(data_dir),
    }  # fmt: skip
    for key, value in extra.items():
        if key == "epochs":
            cfg["trial"]["epochs"] = value
        else:
            cfg[key] = value
    return cfg


def nas_search(config: Path, run: Path, *flags: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "nas.cli", "search", "--config", str(config), "--out", str(run), "--no-progress"]
    env = ray_env(PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    return subprocess.Popen([*cmd, *flags], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)  # fmt: skip


def finish(proc: subprocess.Popen, timeout: float = 600) -> str:
    try:
        out, _ = proc.communicate(timeout=timeout)
    finally:
        kill_session(proc)
    assert proc.returncode == 0, out[-3000:]
    return out


def kill_session(proc: subprocess.Popen) -> None:
    """SIGKILL a driver and whatever it started in its session (Ray's agents of an embedded instance)."""
    for pid in [proc.pid, *session_pids(proc.pid)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.wait(timeout=30)


def write(path: Path, cfg: dict) -> Path:
    path.write_text(yaml.safe_dump(cfg))
    return path


def board(run: Path) -> list[dict]:
    rows = json.loads((run / "leaderboard.json").read_text())
    for r in rows:  # the node each trial trained on, from the trainer's record of its run
        doc = json.loads((run / "trials" / r["key"] / "train" / "config.json").read_text())
        r.setdefault("node", doc["environment"]["ray_node"])
    return rows


def node_ids(cluster: Cluster) -> dict[str, str]:
    """Node id -> 'head' or 'worker', asked from the cluster."""
    script = (
        "import json,ray,sys; ray.init(address=sys.argv[1], log_to_driver=False, logging_level='ERROR');"
        "print(json.dumps({n['NodeID']: bool(n['Resources'].get('node:__internal_head__')) for n in ray.nodes()"
        " if n['Alive']}))"
    )
    out = subprocess.run([sys.executable, "-c", script, cluster.address], env=ray_env(), capture_output=True,
                         text=True, timeout=120).stdout  # fmt: skip
    return {k: "head" if v else "worker" for k, v in json.loads(out.strip().splitlines()[-1]).items()}


def assert_no_repeats(run: Path, rows: list[dict], epochs: int) -> None:
    assert len({r["key"] for r in rows}) == len(rows)
    for r in rows:
        lines = (run / "trials" / r["key"] / "train" / "metrics.jsonl").read_text().splitlines()
        assert [json.loads(x)["epoch"] for x in lines] == list(range(1, epochs + 1))  # no epoch trained twice


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """A head and a worker node, one CPU each."""
    c = Cluster()
    try:
        c.start_head(num_cpus=1)
        c.add_node(num_cpus=1)
        c.wait_for(2)
        yield c
    finally:
        sids = [n.sid for n in c.nodes]
        c.shutdown()
        assert not any(session_pids(s) for s in sids), "Ray node processes left running"


# --------------------------------------------------------------------------- #
# A search on two nodes
# --------------------------------------------------------------------------- #


@pytest.mark.ray
@pytest.mark.data
@pytest.mark.slow
def test_search_on_a_two_node_cluster_survives_its_driver_and_runs_on_both(
    tmp_path: Path, cifar10_dir: Path, cluster: Cluster
) -> None:
    """``nas search --address``: SIGKILL the driver mid-trial, run the same command again."""
    epochs = 2
    config = write(tmp_path / "c.yaml", search_config(cifar10_dir, epochs=epochs))
    run = tmp_path / "run"
    driver = nas_search(config, run, "--address", cluster.address)
    try:
        deadline = time.monotonic() + 300
        while not list(run.glob("trials/*/train/checkpoint.pt")):  # a trial is mid-training
            assert driver.poll() is None and time.monotonic() < deadline, "no trial started in time"
            time.sleep(0.2)
        assert not (run / "leaderboard.json").exists()
    finally:
        kill_session(driver)
    again = nas_search(config, run, "--address", cluster.address)
    finish(again)
    rows = board(run)
    assert len(rows) == 4 and all(r["status"] == "completed" for r in rows)
    assert {r["node"] for r in rows} == set(node_ids(cluster))  # trials ran on both nodes; the leaderboard says which
    assert_no_repeats(run, rows, epochs)
    resumed = [json.loads((run / "trials" / r["key"] / "train" / "result.json").read_text())["resumed_from_epoch"]
               for r in rows]  # fmt: skip
    assert any(e > 0 for e in resumed)  # the trial the kill interrupted continued from its checkpoint
    assert not session_pids(driver.pid) and not session_pids(again.pid)  # nothing of either driver is left


# --------------------------------------------------------------------------- #
# GPU scheduling on a node that declares GPUs it does not have
# --------------------------------------------------------------------------- #


@pytest.mark.ray
@pytest.mark.data
@pytest.mark.slow
def test_fractional_gpus_run_four_trials_at_once_on_the_cpu(
    tmp_path: Path, cifar10_dir: Path, cluster: Cluster
) -> None:
    # A third node declares 2 GPUs it does not have, and this machine's 2 cores (a raylet starts
    # at most num_cpus worker processes at a time; with 1 CPU the four trials would start ~10 s
    # apart, each importing torch, and the first would be done before the last began).
    before = set(node_ids(cluster))
    gpu_node = cluster.add_node(num_cpus=2, num_gpus=2)
    try:
        cluster.wait_for(3)
        (gpu_id,) = set(node_ids(cluster)) - before
        cfg = search_config(cifar10_dir, workers=4, cpus_per_trial=0.25, epochs=4)
        cfg["trial"]["train"]["train_subset"] = 400
        config = write(tmp_path / "c.yaml", cfg)
        run = tmp_path / "run"
        out = finish(nas_search(config, run, "--address", cluster.address, "--gpus-per-trial", "0.5"))
    finally:
        gpu_node.kill()
        cluster.nodes.remove(gpu_node)
    rows = board(run)
    assert len(rows) == 4 and all(r["status"] == "completed" for r in rows)
    assert {r["node"] for r in rows} == {gpu_id}  # only the node with (declared) GPUs can take them
    starts, ends, visible = [], [], []
    for r in rows:
        train = run / "trials" / r["key"] / "train"
        doc = json.loads((train / "config.json").read_text())
        assert doc["environment"]["device"] == "cpu"  # no CUDA here: the trainer fell back
        visible.append(doc["environment"]["cuda_visible_devices"])
        starts.append((train / "config.json").stat().st_mtime)  # written when the trial starts training
        ends.append((train / "result.json").stat().st_mtime)  # written when it has finished
    assert sorted(visible) == ["0", "0", "1", "1"]  # two trials per declared GPU, each told which one
    # Trials training at once: Ray admits all four (0.5 GPU each on 2 GPUs), but on this 2-core
    # machine their processes come up ~16 s apart (each imports torch and loads the images), so
    # a CPU-sized trial may end before the fourth begins; at least three are seen together.
    events = sorted([(t, 1) for t in starts] + [(t, -1) for t in ends])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    assert peak >= 3, (starts, ends)
    assert "Traceback" not in out


# --------------------------------------------------------------------------- #
# Node loss
# --------------------------------------------------------------------------- #


@pytest.mark.ray
@pytest.mark.data
@pytest.mark.slow
def test_worker_node_lost_mid_trial_is_retried_from_its_checkpoint(tmp_path: Path, cifar10_dir: Path) -> None:
    epochs = 4
    config = write(tmp_path / "c.yaml", search_config(cifar10_dir, num_trials=3, epochs=epochs, max_failures=2))
    run = tmp_path / "run"
    with Cluster() as c:
        c.start_head(num_cpus=1)
        worker = c.add_node(num_cpus=1)
        c.wait_for(2)
        sids = [n.sid for n in c.nodes]
        driver = nas_search(config, run, "--address", c.address)
        try:
            deadline = time.monotonic() + 400
            (worker_id,) = {k for k, v in node_ids(c).items() if v == "worker"}
            victim = None
            while victim is None:  # a trial training on the worker node, past its first checkpoint
                assert driver.poll() is None and time.monotonic() < deadline, "no trial reached epoch 1 in time"
                for train in run.glob("trials/*/train"):
                    try:
                        doc = json.loads((train / "config.json").read_text())
                    except (OSError, ValueError):
                        continue
                    mid = (train / "checkpoint.pt").exists() and not (train / "result.json").exists()
                    if doc["environment"].get("ray_node") == worker_id and mid:
                        victim = train
                time.sleep(0.2)
            os.kill(worker.raylet_pid(), signal.SIGKILL)
            finish(driver, timeout=600)
        finally:
            kill_session(driver)
    assert not any(session_pids(s) for s in sids)
    rows = board(run)
    assert len(rows) == 3 and all(r["status"] == "completed" for r in rows)
    assert_no_repeats(run, rows, epochs)  # the lost trial's finished epochs were not trained again
    lost = json.loads((victim / "result.json").read_text())
    assert lost["resumed_from_epoch"] > 0  # it continued from its checkpoint ...
    assert json.loads((victim / "config.json").read_text())["environment"]["ray_node"] != worker_id  # ... elsewhere
