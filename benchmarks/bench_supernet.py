"""Per-step time and peak memory of the DARTS supernet (lean vs. a plain reference) on CPU.

Each (implementation, step kind, batch size) runs in a *fresh subprocess*, so its peak
memory is that process's RSS high-water mark (``VmHWM``, which includes the Python
and torch baseline; ``base_rss_gb``, ~0.7 GB here, is the RSS after building the model and
the batches, before the first step). Times are wall-clock per step (the best and the
median of ``--steps`` steps after one warm-up step) plus process CPU time, which is
less sensitive to other processes sharing the cores.

Step kinds (CIFAR-sized inputs, C=16, 8 cells by default):

* ``weights`` -- forward, backward, SGD step (momentum 0.9, weight decay 3e-4);
* ``first``   -- a first-order architecture step on a validation batch, then the weight step;
* ``second``  -- a second-order (unrolled) architecture step, then the weight step;
* ``pc4-*``   -- the same with partial channels K=4 and edge normalisation (PC-DARTS).

``--impl reference`` runs the plain one-module-per-operation network of
``tests/test_darts_supernet.py`` (the reference ``MixedOp`` formulation, NCHW, its first
order step back-propagating into every parameter as the reference does).

With ``--rounds R`` the whole list of configurations runs R times, in reversed order
every other round, and each configuration reports the median of its per-round medians
(so load from other processes on a shared CPU hits every configuration alike).

    python benchmarks/bench_supernet.py --threads 2 --batch-sizes 32,64 --out benchmarks/results/supernet.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import loadavg, memory_gb, timer, write_result  # noqa: E402

DEFAULT_KINDS = ("weights", "first", "second", "pc4-weights", "pc4-first")


def _reference_model(args: argparse.Namespace, k: int, edge_norm: bool) -> Any:
    from nas.ops import use_plain_layers

    spec = importlib.util.spec_from_file_location("_ref_supernet", ROOT / "tests" / "test_darts_supernet.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)

    class Reference(mod.RefNetwork):
        def weight_parameters(self) -> list:
            arch = {id(p) for p in self.arch_parameters()}
            return [p for p in self.parameters() if id(p) not in arch]

    # plain layers: the reference runs every op as the one-module-per-layer original does
    return use_plain_layers(Reference(args.channels, 10, args.layers, k=k, edge_norm=edge_norm))


def worker(args: argparse.Namespace) -> dict[str, Any]:
    """Run one configuration in this process and return its measurements."""
    import torch
    import torch.nn.functional as F

    from nas.darts import Architect, DartsSupernet

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    kind = args.kind
    pc = kind.startswith("pc4-")
    step_kind = kind.removeprefix("pc4-")
    k, edge_norm = (4, True) if pc else (1, False)
    if args.impl == "lean":
        model = DartsSupernet(
            channels=args.channels, layers=args.layers, partial_channels=k, edge_normalization=edge_norm
        )
    else:
        model = _reference_model(args, k, edge_norm)
    model.train()
    B = args.batch_size
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(B, 3, args.size, args.size, generator=gen)
    y = torch.randint(0, 10, (B,), generator=gen)
    vx = torch.randn(B, 3, args.size, args.size, generator=gen)
    vy = torch.randint(0, 10, (B,), generator=gen)
    w_opt = torch.optim.SGD(model.weight_parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)
    architect = None
    if step_kind in ("first", "second"):
        architect = Architect(model, second_order=step_kind == "second")
    base = memory_gb()[0]

    def weight_step() -> None:
        w_opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        w_opt.step()

    def step() -> None:
        if architect is not None:
            if args.impl == "reference" and step_kind == "first":
                # the reference first-order step back-propagates into every parameter
                architect.optimizer.zero_grad()
                F.cross_entropy(model(vx), vy).backward()
                architect.optimizer.step()
            else:
                architect.step(x, y, vx, vy, w_lr=0.025, w_optimizer=w_opt)
        weight_step()

    walls, cpus = [], []
    for i in range(args.steps + 1):
        with timer() as t:
            step()
        if i > 0:  # the first step warms up allocators and oneDNN primitives
            walls.append(t.wall)
            cpus.append(t.cpu)
    return {
        "impl": args.impl,
        "kind": kind,
        "batch_size": B,
        "threads": args.threads,
        "steps": args.steps,
        "best_s": min(walls),
        "median_s": statistics.median(walls),
        "cpu_best_s": min(cpus),
        "cpu_median_s": statistics.median(cpus),
        "base_rss_gb": base,
        "peak_rss_gb": memory_gb()[1],
    }


def run_config(args: argparse.Namespace, impl: str, kind: str, batch: int) -> dict[str, Any]:
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        "--impl",
        impl,
        "--kind",
        kind,
        "--batch-size",
        str(batch),
        "--steps",
        str(args.steps),
        "--threads",
        str(args.threads),
        "--channels",
        str(args.channels),
        "--layers",
        str(args.layers),
        "--size",
        str(args.size),
    ]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    if out.returncode != 0:
        return {"impl": impl, "kind": kind, "batch_size": batch, "error": out.stderr.strip().splitlines()[-1:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=3, help="measured steps per configuration (after one warm-up)")
    p.add_argument("--batch-sizes", default="32,64", help="comma-separated batch sizes")
    p.add_argument("--kinds", default=",".join(DEFAULT_KINDS), help="weights, first, second, pc4-weights, ...")
    p.add_argument("--impl", default="lean", help="lean, reference, or both (comma-separated)")
    p.add_argument("--second-order-batch", type=int, default=32, help="second order runs at this batch size only")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--channels", type=int, default=16)
    p.add_argument("--layers", type=int, default=8)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--rounds", type=int, default=1, help="repeat every configuration this many times (interleaved)")
    p.add_argument("--out", "--json-out", dest="out", default=None, help="write the results here (with the machine)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--kind", default="weights", help=argparse.SUPPRESS)
    p.add_argument("--batch-size", type=int, default=32, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args)))
        return 0
    impls = ["lean", "reference"] if args.impl == "both" else args.impl.split(",")
    batches = [int(b) for b in args.batch_sizes.split(",") if b]
    kinds = [k for k in args.kinds.split(",") if k]
    configs = [
        (impl, kind, batch)
        for impl in impls
        for kind in kinds
        for batch in batches
        if not (kind.endswith("second") and batch != args.second_order_batch)
    ]
    load_before = loadavg()
    runs: dict[tuple[str, str, int], list[dict[str, Any]]] = {c: [] for c in configs}
    print(f"{'impl':10s} {'step':14s} {'batch':>5s} {'best s':>8s} {'median s':>9s} {'cpu s':>7s} {'peak GB':>8s}")
    for rnd in range(args.rounds):
        for impl, kind, batch in configs if rnd % 2 == 0 else configs[::-1]:
            r = run_config(args, impl, kind, batch)
            runs[(impl, kind, batch)].append(r)
            if "error" in r:
                print(f"{impl:10s} {kind:14s} {batch:5d} error: {r['error']}")
                continue
            print(
                f"{impl:10s} {kind:14s} {batch:5d} {r['best_s']:8.2f} {r['median_s']:9.2f} "
                f"{r['cpu_best_s']:7.2f} {r['peak_rss_gb']:8.2f}",
                flush=True,
            )
    results = []
    for rs in runs.values():
        ok = [r for r in rs if "error" not in r]
        if not ok:
            results.append(rs[-1])
            continue
        row = dict(ok[0])
        for key in ("best_s", "cpu_best_s"):
            row[key] = min(r[key] for r in ok)
        for key in ("median_s", "cpu_median_s", "peak_rss_gb", "base_rss_gb"):
            row[key] = statistics.median(r[key] for r in ok)
        row["rounds"] = len(ok)
        row["median_s_per_round"] = [round(r["median_s"], 3) for r in ok]
        results.append(row)
    doc = {"threads": args.threads, "channels": args.channels, "layers": args.layers, "size": args.size,
           "memory": "peak RSS (VmHWM) of a fresh subprocess per configuration",
           "loadavg_before": load_before, "loadavg_after": loadavg(), "results": results}  # fmt: skip
    print(json.dumps(doc))
    if args.out:
        print("wrote", write_result(args.out, doc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
