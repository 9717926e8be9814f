"""Training-step throughput of the derived DARTS_V2 network on CPU.

Measures images/s of one training step (forward, loss with the auxiliary head,
backward, gradient clipping, SGD step) as the DARTS reference ``train.py`` does it,
for two sizes (C=16 with 8 cells and C=36 with 20 cells, batch 96, auxiliary head,
float32) and several variants:

* ``reference``: a plain re-implementation of the reference ``NetworkCIFAR`` forward
  (same modules, same initial weights, NCHW as the reference runs), measured here so
  the ratio is also taken on the same machine under the same load;
* ``reference_cl``: the same reference forward on a channels-last model (separates the
  gain of the memory format from that of the forward pass);
* ``contiguous``: :class:`nas.networks.darts_network.DartsNetwork` built NCHW;
* ``default``: ``DartsNetwork`` as built by default (channels-last);
* ``compile``: ``torch.compile`` of the default network (opt-in: inductor needs minutes
  to compile it on this CPU; compile time is reported, not timed).

Variants are timed in interleaved rounds (one step of each per round) so that load
from other processes on the shared CPU hits all of them alike; warm-up steps are
excluded; the median and the best step are reported, with the process CPU time per
step (less sensitive to other processes than wall time). The reference figures quoted for
this CPU (1.4-1.6 s/step at C=16/8 cells, 10.9-11.8 s/step at C=36/20 cells) are
printed next to the measured ones. Example::

    python benchmarks/bench_derived_network.py --sizes small --variants reference,default
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nas.genotypes import named  # noqa: E402
from nas.metrics import count_parameters
from nas.networks.darts_network import DartsNetwork

DARTS_V2 = named.get("DARTS_V2")  # the published cell (nas/genotypes/named/cells.py)

#: name -> (channels, layers, reference s/step range on this CPU)
SIZES: dict[str, tuple[int, int, tuple[float, float]]] = {
    "small": (16, 8, (1.4, 1.6)),
    "large": (36, 20, (10.9, 11.8)),
}
BATCH = 96


# --------------------------------------------------------------------------- #
# A plain re-implementation of the reference forward pass (baseline)
# --------------------------------------------------------------------------- #


def _ref_drop_path(x: torch.Tensor, drop_prob: float) -> torch.Tensor:
    # As the reference: divide, then multiply by the mask, both in place.
    keep = 1.0 - drop_prob
    mask = torch.empty(x.size(0), 1, 1, 1, dtype=x.dtype, device=x.device).bernoulli_(keep)
    x.div_(keep)
    x.mul_(mask)
    return x


def _ref_op(op: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The reference op: every layer of ``op`` in order with out-of-place ReLUs."""
    seq = getattr(op, "op", None)
    if isinstance(seq, nn.Sequential):
        for layer in seq:
            x = F.relu(x) if isinstance(layer, nn.ReLU) else layer(x)
        return x
    if hasattr(op, "conv_1"):  # FactorizedReduce (even sizes, as the reference)
        x = F.relu(x)
        return op.bn(torch.cat([op.conv_1(x), op.conv_2(x[:, :, 1:, 1:])], dim=1))
    return op(x)


def reference_forward(model: DartsNetwork, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """The reference ``NetworkCIFAR.forward`` on ``model``'s modules (no shared activations)."""
    logits_aux = None
    s0 = s1 = model.stem(x)
    for i, cell in enumerate(model.cells):
        t0, t1 = _ref_op(cell.preprocess0, s0), _ref_op(cell.preprocess1, s1)
        states = [t0, t1]
        for step in range(cell._steps):
            hs = []
            for k in (2 * step, 2 * step + 1):
                op = cell._ops[k]
                h = _ref_op(op, states[cell._indices[k]])
                if model.training and model.drop_path_prob > 0 and not isinstance(op, nn.Identity):
                    h = _ref_drop_path(h, model.drop_path_prob)
                hs.append(h)
            states.append(hs[0] + hs[1])
        s0, s1 = s1, torch.cat([states[j] for j in cell._concat], dim=1)
        if i == model._aux_pos and model._auxiliary and model.training:
            head = model.auxiliary_head
            feats = head.features(F.relu(s1))
            logits_aux = head.classifier(feats.flatten(1))
    logits = model.classifier(model.global_pooling(s1).flatten(1))
    return (logits, logits_aux) if logits_aux is not None else logits


class ReferenceModel(nn.Module):
    """Wraps a DartsNetwork to run the reference forward (same parameters)."""

    def __init__(self, net: DartsNetwork) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        return reference_forward(self.net, x)


# --------------------------------------------------------------------------- #
# Measurement
# --------------------------------------------------------------------------- #

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


def build_variant(variant: str, C: int, layers: int, drop_path: float, seed: int) -> tuple[nn.Module, DartsNetwork]:
    torch.manual_seed(seed)  # every variant starts from the same weights
    fmt = "contiguous" if variant in ("reference", "contiguous") else "channels_last"
    net = DartsNetwork(DARTS_V2, channels=C, layers=layers, auxiliary=True, drop_path_prob=drop_path, memory_format=fmt)
    model: nn.Module = ReferenceModel(net) if variant.startswith("reference") else net
    return model, net


def check_equivalence(C: int, layers: int) -> float:
    """Largest |logit difference| / logit scale between the network and the reference forward.

    Training mode (batch statistics, the fused FactorizedReduce), no drop-path, same weights.
    """
    ours, _ = build_variant("default", C, layers, 0.0, 0)
    ref, _ = build_variant("reference", C, layers, 0.0, 0)
    x = torch.randn(8, 3, 32, 32)
    with torch.no_grad():
        a, b = ours.train()(x)[0], ref.train()(x)[0]
    return float((a - b).abs().max() / b.abs().max())


def run_size(size: str, variants: list[str], rounds: int, warmup: int, drop_path: float) -> list[dict[str, Any]]:
    C, layers, (ref_lo, ref_hi) = SIZES[size]
    x = torch.randn(BATCH, 3, 32, 32)
    y = torch.randint(0, 10, (BATCH,))
    steps: dict[str, Callable[[torch.Tensor, torch.Tensor], None]] = {}
    inputs: dict[str, torch.Tensor] = {}
    info: dict[str, dict[str, Any]] = {}
    for variant in variants:
        model, net = build_variant(variant, C, layers, drop_path, seed=0)
        model.train()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)
        fmt = torch.contiguous_format if variant in ("reference", "contiguous") else torch.channels_last
        inputs[variant] = x.contiguous(memory_format=fmt)
        t = time.perf_counter()
        try:
            step = make_step(torch.compile(model) if variant == "compile" else model, optimizer)
            for _ in range(warmup if variant != "compile" else warmup + 1):
                step(inputs[variant], y)
        except Exception as exc:  # torch.compile may be unusable here: report and go on
            print(f"{size}/{variant}: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            continue
        steps[variant] = step
        info[variant] = {
            "params": count_parameters(net),
            "params_with_auxiliary": count_parameters(net, include_auxiliary=True),
            "setup_s": round(time.perf_counter() - t, 1),
        }
    times: dict[str, list[float]] = {v: [] for v in steps}
    cpu: dict[str, list[float]] = {v: [] for v in steps}
    for _ in range(rounds):
        for variant, step in steps.items():
            t, c = time.perf_counter(), time.process_time()
            step(inputs[variant], y)
            times[variant].append(time.perf_counter() - t)
            cpu[variant].append(time.process_time() - c)
    results = []
    base = statistics.median(times["reference"]) if "reference" in times else None
    base_cpu = statistics.median(cpu["reference"]) if "reference" in cpu else None
    for variant, ts in times.items():
        median = statistics.median(ts)
        ips = BATCH / median
        results.append(
            {
                "size": size,
                "channels": C,
                "layers": layers,
                "variant": variant,
                **info[variant],
                "batch": BATCH,
                "drop_path_prob": drop_path,
                "rounds": rounds,
                "s_per_step_median": round(median, 3),
                "s_per_step_min": round(min(ts), 3),
                "cpu_s_per_step_median": round(statistics.median(cpu[variant]), 3),
                "images_per_s": round(ips, 1),
                "reference_s_per_step": [ref_lo, ref_hi],
                "reference_images_per_s": [round(BATCH / ref_hi, 1), round(BATCH / ref_lo, 1)],
                "ratio_vs_quoted_reference": [round(ips / (BATCH / ref_lo), 2), round(ips / (BATCH / ref_hi), 2)],
                "ratio_vs_measured_reference": None if base is None else round(base / median, 2),
                "cpu_ratio_vs_measured_reference": (
                    None if base_cpu is None else round(base_cpu / statistics.median(cpu[variant]), 2)
                ),
            }
        )
    return results


def tune_malloc() -> bool:
    """Keep freed activation memory in glibc's heap instead of returning it to the kernel.

    By default, blocks above 128 KiB are mmap'ed and unmapped on free, so every step
    page-faults its activations back in (~70,000 faults and ~15% of the CPU time at
    C=16). Raising the mmap threshold to its 32 MiB maximum (and the trim threshold)
    removes most of that. Process-wide: it applies to every variant alike.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    return bool(libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)) and bool(libc.mallopt(M_TRIM_THRESHOLD, 1 << 30))


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
    parser.add_argument("--json", default="", help="also write the results to this file")
    parser.add_argument("--malloc-tuning", action="store_true", help="raise glibc's mmap threshold (all variants)")
    args = parser.parse_args(argv)
    variants = args.variants.split(",")
    unknown = [v for v in variants if v not in VARIANTS]
    sizes = args.sizes.split(",")
    if unknown or any(s not in SIZES for s in sizes):
        parser.error(f"unknown variant or size in {args.variants!r} / {args.sizes!r}")
    torch.set_num_threads(args.threads)
    malloc_tuned = tune_malloc() if args.malloc_tuning else False
    load_before = os.getloadavg()[0]
    results = []
    for size in sizes:
        C, layers, _ = SIZES[size]
        print(f"{size}: max |logits - reference| / max |reference| = {check_equivalence(C, layers):.1e} (train mode)")
        results += run_size(size, variants, args.rounds or (8 if size == "small" else 3), args.warmup, args.drop_path)
        for r in results:
            if r["size"] != size:
                continue
            lo, hi = r["ratio_vs_quoted_reference"]
            measured = r["ratio_vs_measured_reference"]
            print(
                f"{size:6s} C={r['channels']:<3d} L={r['layers']:<3d} {r['variant']:13s} params={r['params']:>9,d} "
                f"{r['s_per_step_median']:7.3f} s/step (best {r['s_per_step_min']:.3f}) {r['images_per_s']:7.1f} img/s"
                f"  cpu {r['cpu_s_per_step_median']:.3f} s  x{lo:.2f}-{hi:.2f} vs quoted ref"
                + (
                    f"  x{measured:.2f} (cpu x{r['cpu_ratio_vs_measured_reference']:.2f}) vs measured ref"
                    if measured is not None
                    else ""
                ),
                flush=True,
            )
    report = {
        "meta": {
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "malloc_tuning": malloc_tuned,
            "cpu_count": os.cpu_count(),
            "load_avg_1m_before": load_before,
            "load_avg_1m_after": os.getloadavg()[0],
            "note": "CPU shared with other processes: absolute numbers vary with their load",
        },
        "results": results,
    }
    print(json.dumps(report, indent=1))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
