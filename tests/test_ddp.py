"""DARTS under DDP (gloo, 2 processes started by torchrun) checked against one process.

* A supernet without batch norm: 2 ranks give the architecture and network weights of one
  process on the same global batches, first and second order (the second-order virtual
  step is averaged over ranks, so both ranks unroll the whole batch's step).
* The real DARTS supernet normalises each rank's shard with that shard's statistics: 2 ranks
  give what one process gives when it accumulates the gradients of the two half-batches
  (ghost batch norm). The test pins that definition (nas/darts/distributed.py says it).
* Resume: SIGKILL of one rank (torchrun then ends the other), and of all ranks, mid-search;
  a rerun of the same command ends where an uninterrupted 2-process search ends.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
import yaml
from torch import nn

from nas.darts import distributed as ddp
from nas.darts.config import load_config
from nas.darts.search_data import arch_stream
from nas.darts.search_loop import Search, silent
from nas.runs.atomic import load_torch

REPO = Path(__file__).resolve().parents[1]

TINY: dict[str, Any] = {
    "controller": "darts",
    "space": "darts",
    "dataset": "synthetic",
    "train_subset": 80,
    "supernet": {"channels": 4, "layers": 3, "steps": 2, "multiplier": 2, "stem_multiplier": 1},
    "epochs": 1,
    "batch_size": 10,
    "threads": 1,
    "seed": 0,
    "evaluate_every_epoch": False,
}


def _env() -> dict[str, str]:
    env = dict(os.environ)
    path = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env.update({"OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", "PYTHONPATH": path})
    return env


def _torchrun(*args: str) -> list[str]:
    # a free rendezvous port per launch (--standalone), so parallel test runs do not collide
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *args]


def _run(cmd: list[str], timeout: float = 240) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, env=_env(), cwd=REPO, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _close(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], atol: float = 2e-5) -> None:
    assert set(a) == set(b)
    for key in a:
        assert torch.allclose(a[key].double(), b[key].double(), rtol=1e-4, atol=atol), (
            key,
            float((a[key].double() - b[key].double()).abs().max()),
        )


# --------------------------------------------------------------------------- #
# Without batch norm: DDP computes what one process computes
# --------------------------------------------------------------------------- #

TOY_SCRIPT = r'''
import sys
import torch
from torch import nn
from nas.darts import distributed as ddp, search_loop
from nas.darts.config import load_config
import yaml


class Toy(nn.Module):
    """Three mixed candidate ops on a conv stem, no batch norm: each image's output is its own."""

    def __init__(self, num_classes, in_channels):
        super().__init__()
        self.stem = nn.Conv2d(in_channels, 4, 3, padding=1)
        self.ops = nn.ModuleList([nn.Conv2d(4, 4, 3, padding=1), nn.Conv2d(4, 4, 1), nn.AvgPool2d(3, 1, 1)])
        self.alpha = nn.Parameter(1e-3 * torch.randn(2, 3))
        self.head = nn.Linear(4, num_classes)
        self.sampler = None

    # the supernet protocol of nas.darts.methods.base, as little as the loop and DARTS use
    def set_sampler(self, sampler):
        self.sampler = sampler

    def cell_alphas(self):
        return {"cell": self.alpha}

    def edge_weights(self, cell_type):
        return None

    def forward(self, x):
        h = torch.relu(self.stem(x))
        weights = self.sampler(self.training)["cell"].weights
        for row in weights:
            h = torch.relu(sum(w * op(h) for w, op in zip(row, self.ops)))
        return self.head(h.mean(dim=(2, 3)))

    def weight_parameters(self):
        return [p for n, p in self.named_parameters() if n != "alpha"]

    def arch_parameters(self):
        return [self.alpha]


search_loop.build_supernet = lambda config, num_classes, in_channels: Toy(num_classes, in_channels)
out = {}
ctx = ddp.init(torch.device("cpu"))
for order in ("first", "second"):
    raw = yaml.safe_load(open(sys.argv[1]))
    raw["order"], raw["epochs"], raw["arch_optimizer"] = order, 2, {"lr": 3e-3}
    config = load_config(raw)
    with search_loop.determinism(config):
        search = search_loop.Search(config, ctx, torch.device("cpu"), save=lambda s: None, echo=print, progress=False)
        net = ddp.wrap(search.model, ctx, torch.device("cpu"))
        hook = ddp.sync_optimizer_gradients(search.method.arch_optimizer(), ctx)
        out[order + "_alpha0"] = search.model.alpha.detach().clone()
        for epoch in range(2):
            search.epoch, search.step = epoch, 0
            search.train_epoch(net)
        if hook is not None:
            hook.remove()
    out[order] = {k: v.detach().clone() for k, v in search.model.state_dict().items()}
    out[order + "_steps"] = search.global_step
torch.save(out, f"{sys.argv[2]}.rank{ctx.rank}.pt")
'''


def test_ddp_equals_one_process_without_batch_norm(tmp_path: Path) -> None:
    cfg = tmp_path / "toy.yaml"
    cfg.write_text(yaml.safe_dump(TINY))
    script = tmp_path / "toy_search.py"
    script.write_text(TOY_SCRIPT)
    _run([sys.executable, str(script), str(cfg), str(tmp_path / "one")])
    _run(_torchrun(str(script), str(cfg), str(tmp_path / "ddp")))
    one = torch.load(tmp_path / "one.rank0.pt", weights_only=True)
    ranks = [torch.load(tmp_path / f"ddp.rank{r}.pt", weights_only=True) for r in (0, 1)]
    for order in ("first", "second"):
        assert one[order + "_steps"] == ranks[0][order + "_steps"] == 8  # 2 epochs x 4 global batches of 10
        moved = (one[order]["alpha"] - one[order + "_alpha0"]).abs().max()
        assert moved > 1e-3, moved  # 8 Adam steps of lr 3e-3 moved the alphas
        for rank in ranks:
            _close(rank[order], one[order])  # weights and alphas, each rank
        assert all(torch.equal(ranks[0][order][k], ranks[1][order][k]) for k in one[order])


# --------------------------------------------------------------------------- #
# The DARTS supernet: per-shard batch norm, pinned
# --------------------------------------------------------------------------- #


def _accumulated_reference(config_raw: dict[str, Any], world: int) -> dict[str, torch.Tensor]:
    """One process, first order, each step's gradients averaged over ``world`` half-batches (ghost BN)."""
    config = load_config(config_raw)
    search = Search(config, ddp.DistContext(), torch.device("cpu"), save=lambda s: None, echo=silent, progress=False)
    model, arch, opt = search.model, search.method.architect, search.w_optimizer
    weights = list(model.weight_parameters())
    for group in opt.param_groups:
        group["lr"] = search._lr()
    search.train_loader.set_epoch(0)
    for (x, y), (vx, vy) in zip(search.train_loader.batches(0), arch_stream(search.arch_loader, 0, 0)):
        shards = list(zip(*(t.tensor_split(world) for t in (x, y, vx, vy))))
        grads = [arch._grads(arch._loss(vxs, vys), arch.arch_params) for _, _, vxs, vys in shards]
        for i, p in enumerate(arch.arch_params):
            p.grad = sum(g[i] for g in grads) / world
        arch.optimizer.step()
        opt.zero_grad(set_to_none=True)
        for xs, ys, _, _ in shards:
            (F.cross_entropy(model(xs), ys) / world).backward()
        if config.optimizer.grad_clip > 0:
            nn.utils.clip_grad_norm_(weights, config.optimizer.grad_clip)
        opt.step()
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def test_darts_supernet_under_ddp_is_one_process_with_per_shard_batch_norm(tmp_path: Path) -> None:
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(TINY))
    run = tmp_path / "run"
    _run(_torchrun("-m", "nas.cli", "search", "--config", str(cfg), "--out", str(run)))
    state = load_torch(run / "checkpoint.pt")
    assert json.loads((run / "result.json").read_text())["world_size"] == 2
    ghost = _accumulated_reference(TINY, world=2)
    _close({k: state["model"][k] for k in ghost}, ghost)
    # ... and not what one process computes on the whole batch of 10 (batch norm sees 5 images per rank)
    whole = _accumulated_reference(TINY, world=1)
    assert max(float((whole[k] - ghost[k]).abs().max()) for k in ghost) > 1e-4


# --------------------------------------------------------------------------- #
# Resume after SIGKILL
# --------------------------------------------------------------------------- #


def _rank_pids(launcher: subprocess.Popen) -> list[int]:
    """The worker processes torchrun started (its children)."""
    children = Path(f"/proc/{launcher.pid}/task/{launcher.pid}/children")
    return [int(p) for p in children.read_text().split()] if children.exists() else []


def _wait_for_checkpoint(run: Path, launcher: subprocess.Popen, after: tuple[int, int], timeout: float = 180) -> None:
    """Until the checkpoint of ``run`` is past ``after`` (epoch, step)."""
    deadline = time.monotonic() + timeout
    while True:
        assert launcher.poll() is None, "the search ended before the checkpoint it was to be killed after"
        assert time.monotonic() < deadline, "no checkpoint in time"
        try:
            state = load_torch(run / "checkpoint.pt")
            if (int(state["epoch"]), int(state["step"])) > after:
                return
        except Exception:  # not written yet, or being replaced
            pass
        time.sleep(0.2)


def _launch_and_kill(cmd: list[str], run: Path, after: tuple[int, int], victims: str) -> tuple[int, int]:
    """Start ``cmd``, SIGKILL one or all ranks once a checkpoint is past ``after``; the checkpoint's position."""
    launcher = subprocess.Popen(cmd, env=_env(), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True, start_new_session=True)  # fmt: skip
    try:
        _wait_for_checkpoint(run, launcher, after)
        ranks = _rank_pids(launcher)
        assert len(ranks) == 2, ranks
        for pid in ranks[:1] if victims == "one" else ranks:
            os.kill(pid, signal.SIGKILL)
        launcher.communicate(timeout=120)
        assert launcher.returncode != 0, "torchrun should report the killed rank"
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)
            launcher.wait()
    assert not (run / "result.json").exists()
    state = load_torch(run / "checkpoint.pt")
    return int(state["epoch"]), int(state["step"])


@pytest.mark.slow
def test_killed_ddp_search_resumes_to_the_uninterrupted_result(tmp_path: Path) -> None:
    raw = dict(TINY, epochs=3, checkpoint_every_steps=2, evaluate_every_epoch=True)
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    cmd = _torchrun("-m", "nas.cli", "search", "--config", str(cfg), "--out")
    straight, run = tmp_path / "straight", tmp_path / "killed"
    _run([*cmd, str(straight)])
    first = _launch_and_kill([*cmd, str(run)], run, (0, 0), victims="one")  # torchrun then ends the other rank
    second = _launch_and_kill([*cmd, str(run)], run, first, victims="all")  # resumed from `first`, killed again
    assert first < second < (3, 0)
    _run([*cmd, str(run)])
    a, b = load_torch(run / "checkpoint.pt"), load_torch(straight / "checkpoint.pt")
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in b["model"])
    history = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in history] == [0, 1, 2]
    assert json.loads((run / "alphas.json").read_text()) == json.loads((straight / "alphas.json").read_text())
