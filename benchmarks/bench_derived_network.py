"""Training-step throughput and peak memory of the derived DARTS_V2 network on CPU.

One step as the DARTS reference ``train.py`` takes it: forward, loss plus 0.4 times
the auxiliary loss, backward, gradient clipping at 5, SGD step (momentum 0.9, weight
decay 3e-4), drop-path 0.2, float32. Two sizes: ``small`` (C=16, 8 cells, batch 96)
and ``large`` (C=36, 20 cells, batch 64). Variants:

* ``reference``: the faithful re-implementation of the reference ``NetworkCIFAR``
  (``benchmarks/_darts_reference.py``: same modules, ops, in-place drop-path and
  auxiliary head as ``cnn/model.py``/``cnn/operations.py``), NCHW as it runs, with the
  same initial weights as ours;
* ``reference_cl``: that network and its input converted to channels-last, nothing
  else changed (what the memory format alone buys);
* ``contiguous``: :class:`nas.networks.darts_network.DartsNetwork` built NCHW (what
  the forward-pass changes alone buy: the part that carries over to a GPU);
* ``default``: ``DartsNetwork`` as built by default (channels-last);
* ``compile``: ``torch.compile`` of the default network (opt-in: compile time is
  reported separately, then steady-state steps are timed like the others).

Variants are timed in interleaved rounds (one step of each per round, order reversed
every other round) so that load from other processes on the shared CPU hits all of them
alike; warm-up steps are excluded; medians of wall and process CPU time are reported and
the ratios are same-run ratios against ``reference``. How close to the machine's limit:
each size also records the GFLOP one step needs (``torch.utils.flop_counter`` on the
reference network: convolutions and matrix products, forward and backward, with
``_common.step_flops``'s fix for depthwise backward) and what this
machine attains (a large float32 matmul; a depthwise-separable convolution, forward and
backward, at each stage's shape); each row's ``gflop_per_s`` is that GFLOP over its median
step time, also as a fraction of both. Memory (``--memory``), in a fresh subprocess
per variant: the ``VmHWM`` high-water mark (peak) and that minus the RSS before the
first step (what the step itself adds). Example::

    python benchmarks/bench_derived_network.py --sizes small --memory --out benchmarks/results/derived_network.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from benchmarks._common import (  # noqa: E402
    attainable_gflops,
    interleave,
    loadavg,
    machine,
    memory_gb,
    step_flops,
    write_result,
)
from benchmarks._darts_reference import ReferenceNetworkCIFAR  # noqa: E402
from nas.genotypes import named  # noqa: E402
from nas.metrics import count_parameters  # noqa: E402
from nas.networks.darts_network import DartsNetwork  # noqa: E402

DARTS_V2 = named.get("DARTS_V2")  # the published cell (nas/genotypes/named/cells.py)

#: name -> (channels, layers, batch)
SIZES: dict[str, tuple[int, int, int]] = {"small": (16, 8, 96), "large": (36, 20, 64)}
VARIANTS = ("reference", "reference_cl", "contiguous", "default", "compile")


def make_step(model: nn.Module, optimizer: torch.optim.Optimizer) -> Callable[[torch.Tensor, torch.Tensor], None]:
    """One step of the reference ``train.py``: loss + 0.4 * auxiliary loss, clip 5, SGD."""
    params = [p for p in model.parameters() if p.requires_grad]

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        out = model(x)
        logits, aux = out if isinstance(out, tuple) else (out, None)
        loss = F.cross_entropy(logits, y)
        if aux is not None:
            loss = loss + 0.4 * F.cross_entropy(aux, y)
        loss.backward()
        nn.utils.clip_grad_norm_(params, 5.0)
        optimizer.step()

    return step


def build(variant: str, C: int, layers: int, drop_path: float) -> tuple[nn.Module, torch.memory_format]:
    """The variant's model, every one with the weights of ``DartsNetwork`` seeded with 0."""
    torch.manual_seed(0)
    fmt = "contiguous" if variant in ("reference", "contiguous") else "channels_last"
    net = DartsNetwork(DARTS_V2, channels=C, layers=layers, auxiliary=True, drop_path_prob=drop_path, memory_format=fmt)
    memory_format = torch.contiguous_format if fmt == "contiguous" else torch.channels_last
    if not variant.startswith("reference"):
        return net, memory_format
    ref = ReferenceNetworkCIFAR(C, 10, layers, True, DARTS_V2, drop_path)
    ref.load_state_dict(net.state_dict())
    return ref.to(memory_format=memory_format), memory_format


def prepare(variant: str, size: str, drop_path: float) -> tuple[Callable[[], None], dict[str, Any]]:
    """A zero-argument training step of ``variant`` at ``size`` (warmed up), and facts about it."""
    C, layers, batch = SIZES[size]
    model, fmt = build(variant, C, layers, drop_path)
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(batch, 3, 32, 32, generator=g).contiguous(memory_format=fmt)
    y = torch.randint(0, 10, (batch,), generator=g)
    info: dict[str, Any] = {"params": count_parameters(model)}
    step = make_step(torch.compile(model) if variant == "compile" else model, optimizer)
    if variant == "compile":
        t = time.perf_counter()
        step(x, y)
        info["compile_s"] = round(time.perf_counter() - t, 1)
        info["dynamo_after_first_step"] = dynamo_counts()
    return (lambda: step(x, y)), info


def dynamo_counts() -> dict[str, int]:
    """torch.compile's own tallies (frames compiled, graphs, graph breaks): recompiles are frames after the first step.

    Private counters (``torch._dynamo.utils.counters``), read only here, because the public
    ``TORCH_LOGS=recompiles`` prints to the log instead of counting.
    """
    from torch._dynamo.utils import counters

    return {
        "frames_compiled": int(counters["frames"]["total"]),
        "unique_graphs": int(counters["stats"]["unique_graphs"]),
        "graph_breaks": int(sum(counters["graph_break"].values())),
    }


def check_equivalence(C: int, layers: int) -> float:
    """Largest |logit difference| / logit scale, ours against the reference (train mode, no drop-path)."""
    ours, _ = build("default", C, layers, 0.0)
    ref, _ = build("reference", C, layers, 0.0)
    x = torch.randn(8, 3, 32, 32)
    with torch.no_grad():
        a, b = ours.train()(x)[0], ref.train()(x)[0]
    return float((a - b).abs().max() / b.abs().max())


def memory_worker(variant: str, size: str, drop_path: float, threads: int) -> dict[str, Any]:
    """Run in a fresh process: RSS before the first step and the high-water mark after two."""
    torch.set_num_threads(threads)
    step, _ = prepare(variant, size, drop_path)  # no step yet (compile's one excepted)
    base = memory_gb()[0]
    for _ in range(2):
        step()
    peak = memory_gb()[1]
    return {
        "base_rss_gb": round(base, 3),
        "peak_rss_gb": round(peak, 3),
        "step_gb": round(peak - base, 3),
    }


def measure_memory(variant: str, size: str, drop_path: float, threads: int) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--memory-worker", f"{variant}:{size}", "--drop-path", str(drop_path)]
    out = subprocess.run(cmd + ["--threads", str(threads)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def sep_shapes(size: str) -> list[tuple[int, int, int, int]]:
    """The (batch, channels, height, width) of the cells' operations at ``size``: one per stage."""
    C, _, batch = SIZES[size]
    return [(batch, C, 32, 32), (batch, 2 * C, 16, 16), (batch, 4 * C, 8, 8)]


def limits(size: str) -> dict[str, Any]:
    """The arithmetic one step needs (counted on the reference network) and what this machine attains."""
    step, _ = prepare("reference", size, 0.0)
    return {"step_gflop": round(step_flops(step) / 1e9, 2), **attainable_gflops(sep_shapes(size))}


def run_size(size: str, variants: list[str], rounds: int, warmup: int, drop_path: float) -> list[dict[str, Any]]:
    C, layers, batch = SIZES[size]
    steps: dict[str, Callable[[], None]] = {}
    info: dict[str, dict[str, Any]] = {}
    for variant in variants:
        try:
            steps[variant], info[variant] = prepare(variant, size, drop_path)
            for _ in range(warmup):
                steps[variant]()
        except Exception as exc:  # torch.compile may be unusable here: report and go on
            print(f"{size}/{variant}: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            steps.pop(variant, None)
    samples = interleave(steps, rounds)
    rows = []
    for variant in steps:
        s = samples.summary(variant)
        row = {"size": size, "channels": C, "layers": layers, "batch": batch, "variant": variant, **info[variant]}
        if "dynamo_after_first_step" in row:
            row["dynamo_after_all_steps"] = now = dynamo_counts()
            row["recompiles_after_first_step"] = (
                now["frames_compiled"] - row["dynamo_after_first_step"]["frames_compiled"]
            )
        row.update(
            {"drop_path_prob": drop_path, "rounds": rounds, **s, "images_per_s": round(batch / s["s_median"], 1)}
        )
        if "reference" in samples.wall:
            row["speed_vs_reference"] = round(samples.ratio("reference", variant), 3)
            row["cpu_speed_vs_reference"] = round(samples.ratio("reference", variant, cpu=True), 3)
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sizes", default="small,large", help="comma list of: " + ", ".join(SIZES))
    parser.add_argument(
        "--variants", default="reference,reference_cl,contiguous,default", help="comma list of: " + ", ".join(VARIANTS)
    )
    parser.add_argument("--rounds", type=int, default=0, help="timed rounds (default: 8 small, 3 large)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--drop-path", type=float, default=0.2, help="drop-path probability (reference: 0.2)")
    parser.add_argument("--memory", action="store_true", help="also measure peak memory (a subprocess per variant)")
    parser.add_argument("--out", default="", help="write the results here (through benchmarks/_common.write_result)")
    parser.add_argument("--memory-worker", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_worker:
        variant, size = args.memory_worker.split(":")
        print(json.dumps(memory_worker(variant, size, args.drop_path, args.threads)))
        return 0
    variants, sizes = args.variants.split(","), args.sizes.split(",")
    if any(v not in VARIANTS for v in variants) or any(s not in SIZES for s in sizes):
        parser.error(f"unknown variant or size in {args.variants!r} / {args.sizes!r}")
    torch.set_num_threads(args.threads)
    load_before = loadavg()
    rows: list[dict[str, Any]] = []
    machine_limits: dict[str, Any] = {}
    for size in sizes:
        C, layers, _ = SIZES[size]
        print(f"{size}: max |logits - reference| / max |reference| = {check_equivalence(C, layers):.1e} (train mode)")
        lim = machine_limits[size] = limits(size)
        size_rows = run_size(size, variants, args.rounds or (8 if size == "small" else 3), args.warmup, args.drop_path)
        seps = list(lim["sep_conv"].values())
        for r in size_rows:
            # Achieved rate of the arithmetic the step needs, against the machine's (see limits()).
            r["gflop_per_s"] = round(lim["step_gflop"] / r["s_median"], 1)
            r["fraction_of_matmul"] = round(r["gflop_per_s"] / lim["matmul"], 3)
            r["fraction_of_sep_conv"] = round(r["gflop_per_s"] / (sum(seps) / len(seps)), 3)
        print(f"{size}: {lim['step_gflop']} GFLOP/step; attainable GFLOP/s: matmul {lim['matmul']}, {lim['sep_conv']}")
        if args.memory:
            # The timings first: the memory phase is slow on a loaded machine and may be cut short.
            print(json.dumps({"timing": size_rows}), flush=True)
            for r in size_rows:
                r.update(measure_memory(r["variant"], size, args.drop_path, args.threads))
            ref = next((r for r in size_rows if r["variant"] == "reference"), None)
            for r in size_rows:
                if ref is not None:
                    r["peak_rss_vs_reference"] = round(r["peak_rss_gb"] / ref["peak_rss_gb"], 3)
                    r["step_memory_vs_reference"] = round(r["step_gb"] / ref["step_gb"], 3)
        for r in size_rows:
            nan = float("nan")
            line = f"{size:6s} {r['variant']:13s} {r['s_median']:7.3f} s/step (min {r['s_min']:.3f})"
            line += f" cpu {r['cpu_s_median']:.3f}  x{r.get('speed_vs_reference', nan):.2f}"
            line += f" (cpu x{r.get('cpu_speed_vs_reference', nan):.2f})  {r['gflop_per_s']} GFLOP/s"
            if "peak_rss_gb" in r:
                line += f"  peak {r['peak_rss_gb']:.2f} GB, step {r['step_gb']:.2f} GB"
            print(line, flush=True)
        rows += size_rows
    payload = {
        "threads": args.threads,
        "loadavg_before": load_before,
        "loadavg_after": loadavg(),
        "limits": machine_limits,
        "results": rows,
    }
    if args.out:
        print("wrote", write_result(args.out, payload))
    else:
        print(json.dumps({"machine": machine(), **payload}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
