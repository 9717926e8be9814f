"""Overhead of the shared trainer's inner loop against a bare PyTorch loop.

Both loops run the same model (same initial weights) over the same pre-made batches
(random normalised images, so data loading is excluded: ``bench_data.py`` measures
that). The bare loop is ``zero_grad(set_to_none=True)``, forward, cross-entropy,
backward, ``SGD.step``; the trainer is :meth:`nas.trainer.Engine.train_epoch` (loss and
top-1/top-5 accumulated on the device, NaN watch, per-step cosine schedule). Rounds
alternate bare/trainer so that load from other processes hits both alike; the median
round is reported. Variants: channels-last and ``torch.compile`` through the trainer.

Two clocks: wall time, and the process CPU time. On a machine shared with other jobs
the wall clock swings by tens of percent between rounds; the CPU time of a 1-thread
run moves less (its best round is reported), so ``--threads 1`` with the CPU-time
overhead is the fairer comparison there.

    python benchmarks/bench_trainer.py --steps 10 --rounds 3 --out benchmarks/results/trainer.json
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from benchmarks._common import interleave, loadavg, timer, write_result  # noqa: E402
from nas.trainer import Engine, TrainConfig  # noqa: E402


def make_model(name: str) -> nn.Module:
    if name == "resnet20":
        from nas.zoo import create_model

        return create_model("resnet20", num_classes=10)
    if name == "darts_v2":
        from nas.genotypes import named
        from nas.networks import build

        return build(named.get("DARTS_V2"), num_classes=10, channels=16, layers=8)
    raise SystemExit(f"unknown model {name!r} (resnet20, darts_v2)")


def make_batches(steps: int, batch_size: int, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [
        (torch.randn(batch_size, 3, 32, 32, generator=g), torch.randint(0, 10, (batch_size,), generator=g))
        for _ in range(steps)
    ]


Runner = Callable[[list], tuple[float, float]]


def timed(fn: Callable[[list], object]) -> Runner:
    """Wrap ``fn(batches)`` to return (wall seconds, process CPU seconds)."""

    def run(batches: list) -> tuple[float, float]:
        with timer() as t:
            fn(batches)
        return t.wall, t.cpu

    return run


def bare_runner(model: nn.Module, config: TrainConfig) -> Runner:
    """The reference: the minimal correct loop a user would write."""
    opt = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    criterion = nn.CrossEntropyLoss()

    def run(batches: list) -> None:
        model.train()
        for x, y in batches:
            opt.zero_grad(set_to_none=True)
            out = model(x)
            loss = criterion(out[0] if isinstance(out, tuple) else out, y)
            loss.backward()
            opt.step()

    return timed(run)


def trainer_runner(model: nn.Module, config: TrainConfig, steps: int) -> Runner:
    engine = Engine(model, config, steps_per_epoch=steps)
    return timed(engine.train_epoch)


def measure(args: argparse.Namespace, name: str) -> list[dict]:
    torch.manual_seed(0)
    base = make_model(name)
    batches = make_batches(args.steps, args.batch_size)
    warm = batches[: args.warmup]
    config = TrainConfig(
        epochs=1_000, batch_size=args.batch_size, lr=0.01, device="cpu", tensorboard=False, crop_padding=0
    )
    variants: dict[str, Runner] = {
        "bare loop": bare_runner(copy.deepcopy(base), config),
        "trainer": trainer_runner(copy.deepcopy(base), config, args.steps),
    }
    if not args.no_channels_last:
        variants["trainer + channels_last"] = trainer_runner(
            copy.deepcopy(base), config.model_copy(update={"channels_last": True}), args.steps
        )
    compile_s = None
    if args.compile:
        runner = trainer_runner(copy.deepcopy(base), config.model_copy(update={"compile": True}), args.steps)
        compile_s, _ = runner(warm)  # first call compiles
        variants["trainer + compile"] = runner
    for runner in variants.values():
        runner(warm)
    samples = interleave({k: (lambda run=run: run(batches)) for k, run in variants.items()}, args.rounds)
    wall, cpu = samples.wall, samples.cpu
    images = args.steps * args.batch_size
    # Wall: the median round. CPU: the fastest round (contention only ever adds CPU time, as in timeit).
    bare_wall, bare_cpu = statistics.median(wall["bare loop"]), min(cpu["bare loop"])
    rows = []
    for key in variants:
        w, c = statistics.median(wall[key]), min(cpu[key])
        rows.append(
            {
                "model": name,
                "variant": key,
                "images_per_s": images / w,
                "images_per_cpu_s": images / c,
                "wall_s_all": wall[key],
                "cpu_s_all": cpu[key],
                "vs_bare_wall_pct": 100.0 * (w - bare_wall) / bare_wall,
                "vs_bare_cpu_pct": 100.0 * (c - bare_cpu) / bare_cpu,
                "compile_s": compile_s if key == "trainer + compile" else None,
            }
        )
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="resnet20,darts_v2")
    p.add_argument("--steps", type=int, default=10, help="steps per timed round")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--warmup", type=int, default=2, help="untimed warm-up steps per variant")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--compile", action="store_true", help="also time torch.compile (slow to compile on CPU)")
    p.add_argument("--no-channels-last", action="store_true")
    p.add_argument("--out", "--json-out", dest="out", help="also write the results here (with the machine)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    load_before = loadavg()
    rows = []
    for name in args.models.split(","):
        rows += measure(args, name.strip())
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"torch {torch.__version__}, {args.threads} threads, batch {args.batch_size}, {args.steps} steps x "
        f"{args.rounds} rounds (wall: median, CPU: best), load average {load:.1f} on {os.cpu_count()} CPUs"
    )
    print(f"{'model':<10} {'variant':<24} {'img/s':>7} {'vs bare':>8} {'img/cpu-s':>9} {'vs bare':>8} {'compile':>8}")
    for r in rows:
        comp = "-" if r["compile_s"] is None else f"{r['compile_s']:.0f}s"
        print(
            f"{r['model']:<10} {r['variant']:<24} {r['images_per_s']:>7.1f} {r['vs_bare_wall_pct']:>+7.1f}% "
            f"{r['images_per_cpu_s']:>9.1f} {r['vs_bare_cpu_pct']:>+7.1f}% {comp:>8}"
        )
    doc = {
        "torch": torch.__version__,
        "threads": args.threads,
        "batch_size": args.batch_size,
        "steps": args.steps,
        "rounds": args.rounds,
        "load_average": load,
        "loadavg_before": load_before,
        "loadavg_after": loadavg(),
        "rows": rows,
    }
    print(json.dumps(doc, indent=2))
    if args.out:
        print("wrote", write_result(args.out, doc))


if __name__ == "__main__":
    main()
