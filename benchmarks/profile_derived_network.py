"""Where one training step of the derived DARTS_V2 network spends its time, by operator and shape.

The step is ``bench_derived_network``'s (forward, auxiliary loss, backward, clipping,
SGD; drop-path 0.2), profiled with ``torch.profiler`` after two warm-up steps. Two views:
the top operators by self CPU time, and the top (operator, layer kind, input shape)
triples of the convolutions and batch norms, which say which layer shapes to work on.
Self CPU time sums over threads, so the percentages are shares of the work, not of the
wall time. The shape view comes from a second profiled step that records input shapes,
which slows the lean kernels' step severalfold: its shares are of that step and its wall
time is reported next to the unprofiled one. Example::

    python benchmarks/profile_derived_network.py --size large --variant default \\
        --out benchmarks/results/derived_network_profile_large.json
"""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402

from benchmarks._common import timer, write_result  # noqa: E402
from benchmarks.bench_derived_network import SIZES, VARIANTS, prepare  # noqa: E402

_SHAPED = ("aten::convolution_backward", "aten::mkldnn_convolution", "aten::native_batch_norm_backward")


def _layer_kind(weight_shape: list[int]) -> str:
    """``dw`` (depthwise), ``pw`` (1x1) or ``kHxW`` from a convolution weight's shape."""
    if weight_shape[1] == 1:
        return "dw"
    if weight_shape[2:] == [1, 1]:
        return "pw"
    return f"k{weight_shape[2]}x{weight_shape[3]}"


def profile_step(size: str, variant: str, threads: int, top: int) -> dict[str, Any]:
    """Profile one step; return the top operators and the top shaped convolution/BN calls."""
    torch.set_num_threads(threads)
    step, info = prepare(variant, size, 0.2)
    for _ in range(2):
        step()
    with timer() as plain:
        step()
    with profile(activities=[ProfilerActivity.CPU]) as prof, timer() as profiled:
        step()
    ops = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
    total = sum(e.self_cpu_time_total for e in ops) / 1e3
    # Recording shapes slows the lean kernels' steps severalfold (1.9 s -> 9.5 s measured at
    # `large`), so the shape view comes from its own pass, with shares of that pass.
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as shaped, timer() as shaped_wall:
        step()
    shaped_total = sum(e.self_cpu_time_total for e in shaped.key_averages()) / 1e3
    by_shape: dict[tuple[str, ...], float] = collections.defaultdict(float)
    for e in shaped.events():
        if e.name not in _SHAPED or not e.input_shapes:
            continue
        shapes = e.input_shapes
        if e.name == "aten::native_batch_norm_backward":
            key = (e.name[6:], "bn", str(tuple(shapes[1])))
        else:  # convolution_backward(grad, input, weight, ...) / mkldnn_convolution(input, weight, ...)
            x, w = (shapes[1], shapes[2]) if e.name == "aten::convolution_backward" else (shapes[0], shapes[1])
            key = (e.name[6:], _layer_kind(list(w)), str(tuple(x)))
        by_shape[key] += e.self_cpu_time_total / 1e3
    return {
        "size": size,
        "variant": variant,
        "threads": threads,
        "params": info["params"],
        "step_s_unprofiled": round(plain.wall, 3),
        "step_s_profiled": round(profiled.wall, 3),
        "step_s_recording_shapes": round(shaped_wall.wall, 3),
        "self_cpu_ms_total": round(total, 1),
        "self_cpu_ms_total_recording_shapes": round(shaped_total, 1),
        "top_operators": [
            {
                "op": e.key,
                "self_cpu_ms": round(e.self_cpu_time_total / 1e3, 1),
                "share": round(e.self_cpu_time_total / 1e3 / total, 3),
                "calls": e.count,
            }
            for e in ops[:top]
        ],  # fmt: skip
        "top_shapes": [
            {"op": op, "layer": kind, "input": shape, "self_cpu_ms": round(ms, 1), "share": round(ms / shaped_total, 3)}
            for (op, kind, shape), ms in sorted(by_shape.items(), key=lambda kv: -kv[1])[:top]
        ],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="large", choices=sorted(SIZES))
    parser.add_argument("--variant", default="default", choices=[v for v in VARIANTS if v != "compile"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--top", type=int, default=15, help="rows of each view")
    parser.add_argument("--out", default="", help="write the result here (through benchmarks/_common.write_result)")
    args = parser.parse_args(argv)
    result = profile_step(args.size, args.variant, args.threads, args.top)
    for row in result["top_operators"]:
        print(f"{row['op'][:44]:44s} {row['self_cpu_ms']:9.1f} ms {100 * row['share']:5.1f}%  n={row['calls']}")
    print("--- by layer and shape")
    for row in result["top_shapes"]:
        where = f"{row['op']:28s} {row['layer']:5s} {row['input']:22s}"
        print(f"{where} {row['self_cpu_ms']:9.1f} ms {100 * row['share']:5.1f}%")
    if args.out:
        write_result(args.out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
