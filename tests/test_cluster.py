"""Scaling out with Ray on a real multi-node cluster started on this machine (tests/ray_cluster.py):
``nas search --address`` runs trials on both nodes and records where; a worker node SIGKILLed
mid-trial, and a SIGKILLed driver, both end in the full search with no trial repeated; a node
declaring GPUs it does not have runs four 0.5-GPU trials at once, each on the CPU with the
CUDA_VISIBLE_DEVICES Ray gave it. Every test leaves no process of its nodes or drivers behind."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from ray_cluster import Cluster, ray_env, session_pids
from search_runs import assert_no_repeats, finish, kill_session, nas_search, search_config, write

from nas.runs import device as device_mod
from nas.runs.device import resolve_device


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
    # A third node declares 2 GPUs it does not have and 4 CPUs (this machine has 2 cores): a
    # raylet starts at most num_cpus worker processes at a time, so all four 1-CPU 0.5-GPU
    # trials come up together. Their processes still begin training up to ~20 s apart (four
    # import torch and load images at once on 2 cores), so each trains for longer than that
    # (6 epochs of 3000 images, ~25 s alone, ~4 at once).
    before = set(node_ids(cluster))
    gpu_node = cluster.add_node(num_cpus=4, num_gpus=2)
    try:
        cluster.wait_for(3)
        (gpu_id,) = set(node_ids(cluster)) - before
        cfg = search_config(cifar10_dir, workers=4, cpus_per_trial=1, epochs=6, train_subset=3000)
        config = write(tmp_path / "c.yaml", cfg)
        run = tmp_path / "run"
        out = finish(nas_search(config, run, "--address", cluster.address, "--gpus-per-trial", "0.5"))
        logs = {p.resolve() for p in cluster.root.glob("session_*/logs/worker-*.err")}  # session_latest: a link
        warnings = [w for log in logs for w in log.read_text(errors="replace").splitlines() if "CUDA_VISIBLE" in w]
    finally:
        gpu_node.kill()
        cluster.nodes.remove(gpu_node)
    rows = board(run)
    assert len(rows) == 4 and all(r["status"] == "completed" for r in rows)
    assert {r["node"] for r in rows} == {gpu_id}  # only the node with (declared) GPUs can take them
    intervals, visible = [], []
    for r in rows:
        train = run / "trials" / r["key"] / "train"
        doc = json.loads((train / "config.json").read_text())
        assert doc["environment"]["device"] == "cpu"  # no CUDA here: the trainer fell back
        visible.append(doc["environment"]["cuda_visible_devices"])
        # written when the trial starts training, and when it has finished
        intervals.append(((train / "config.json").stat().st_mtime, (train / "result.json").stat().st_mtime))
    assert sorted(visible) == ["0", "0", "1", "1"]  # two trials per declared GPU, each told which one
    # all four trained at once: the last to start began before the first to end had finished
    assert max(s for s, _ in intervals) < min(e for _, e in intervals), intervals
    # each trial process said once that it was given a GPU it cannot use, and which one
    expected = [f"warning: CUDA_VISIBLE_DEVICES={v} is set but CUDA is not available here; using cpu" for v in visible]
    assert sorted(warnings) == sorted(expected), warnings
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
            # The machine is lost: every process of the node at once. SIGKILLing the raylet alone let
            # the trial's worker process live on for up to Ray's raylet-death check and finish its
            # few sub-second epochs before Tune retried it (seen once in CI: resumed_from_epoch 0).
            worker.kill()
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
