"""What every benchmark shares: timers, interleaved rounds, the machine record, result files.

Why one module: a figure in the README is only as good as the file it comes from, so
every ``benchmarks/results/*.json`` names the same things (the command, the UTC date,
the machine, the load before and after, the checkout's commit and the ``nas`` that was
actually imported) and every timing is taken the same way (wall and process CPU time,
variants interleaved in rounds with alternating order, medians).

Importing this module puts the repository root first on ``sys.path``, so
``python benchmarks/bench_x.py`` measures this checkout's ``nas`` and not an installed
copy; ``machine()["nas_file"]`` records which one ran.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path[:1]:
    sys.path.insert(0, str(ROOT))


@dataclass
class Timing:
    """Wall-clock and process-CPU seconds of one timed block."""

    wall: float = 0.0
    cpu: float = 0.0


@contextmanager
def timer() -> Iterator[Timing]:
    """``with timer() as t: ...`` then ``t.wall``, ``t.cpu`` (CPU time is less sensitive to other load)."""
    t = Timing()
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        yield t
    finally:
        t.wall = time.perf_counter() - wall
        t.cpu = time.process_time() - cpu


@dataclass
class Samples:
    """Per-variant wall and CPU samples of :func:`interleave`."""

    wall: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)

    def median(self, name: str) -> float:
        return statistics.median(self.wall[name])

    def cpu_median(self, name: str) -> float:
        return statistics.median(self.cpu[name])

    def ratio(self, base: str, name: str, *, cpu: bool = False) -> float:
        """``base``'s median over ``name``'s: > 1 when ``name`` is faster."""
        get = self.cpu_median if cpu else self.median
        return get(base) / get(name)

    def summary(self, name: str) -> dict[str, Any]:
        w, c = self.wall[name], self.cpu[name]
        return {
            "n": len(w),
            "s_median": round(statistics.median(w), 4),
            "s_min": round(min(w), 4),
            "s_max": round(max(w), 4),
            "cpu_s_median": round(statistics.median(c), 4),
        }


def interleave(fns: Mapping[str, Callable[[], object]], rounds: int) -> Samples:
    """Run each ``fns[name]()`` once per round, order reversed every other round; time each call.

    Load from other processes on a shared CPU then hits all variants alike, and no
    variant always runs right after the same other one (cache and allocator effects).
    """
    names = list(fns)
    out = Samples({n: [] for n in names}, {n: [] for n in names})
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            with timer() as t:
                fns[name]()
            out.wall[name].append(t.wall)
            out.cpu[name].append(t.cpu)
    return out


def loadavg() -> list[float]:
    """1, 5 and 15 minute load averages (empty where the OS has none)."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return []


def memory_gb() -> tuple[float, float]:
    """This process's resident set size now and its high-water mark, in GB.

    Read from ``/proc/self/status`` (``VmRSS``, ``VmHWM``) rather than ``ru_maxrss``:
    Linux keeps ``ru_maxrss`` across ``execve``, so a worker started by a parent that
    has already run a big step would report the parent's peak; ``VmHWM`` belongs to
    the worker's own address space.
    """
    fields: dict[str, float] = {}
    with open("/proc/self/status", encoding="utf-8") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0]) * 1024 / 1e9  # kB
    return fields["VmRSS"], fields["VmHWM"]


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git(*args: str) -> str:
    try:
        out = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip()


def machine() -> dict[str, Any]:
    """The machine and software a result was measured on."""
    import torch

    import nas

    status = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "nas_file": nas.__file__,
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(status),
    }


def write_result(path: str | os.PathLike[str], payload: Mapping[str, Any]) -> Path:
    """Write ``payload`` to ``path`` (atomically), adding the command, UTC date and machine."""
    from nas.runs.atomic import write_json

    doc = {
        "command": " ".join(["python", *sys.argv]),
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine(),
        **payload,
    }
    return write_json(path, doc)


def ratios(samples: Samples, base: str, names: Sequence[str]) -> dict[str, dict[str, float]]:
    """Wall and CPU median ratios of each name against ``base`` (> 1: faster than base)."""
    return {
        n: {"wall": round(samples.ratio(base, n), 3), "cpu": round(samples.ratio(base, n, cpu=True), 3)}
        for n in names
        if n in samples.wall and base in samples.wall
    }


def _conv_backward_flop(
    grad_out_shape: Sequence[int],
    x_shape: Sequence[int],
    w_shape: Sequence[int],
    _bias: Any,
    _stride: Any,
    _padding: Any,
    _dilation: Any,
    transposed: bool,
    _output_padding: Any,
    _groups: int,
    output_mask: Sequence[bool],
    out_shape: Any = None,
    **kwargs: Any,
) -> int:
    """A convolution's backward: each requested gradient costs what the forward costs.

    torch's own formula (2.14) ignores ``groups`` in the weight gradient and so counts a
    depthwise convolution's backward ``channels`` times too high (1.54 GFLOP instead of
    21 MFLOP for a 3x3 depthwise at 64x144x8x8), which inflated every separable-conv
    figure. Grad-input and grad-weight each repeat the forward's multiply-adds, grouped
    or not, transposed or not.
    """
    from torch.utils.flop_counter import conv_flop_count

    forward = conv_flop_count(list(x_shape), list(w_shape), list(grad_out_shape), transposed)
    return forward * (int(bool(output_mask[0])) + int(bool(output_mask[1])))


def step_flops(step: Callable[[], object]) -> int:
    """Floating-point operations of one call of ``step`` (forward, backward, all of it).

    Counted by :class:`torch.utils.flop_counter.FlopCounterMode`, which counts matrix
    products and convolutions (forward and both gradients), not elementwise work: the
    figure is the arithmetic the step cannot avoid, so GFLOP/s from it compare to the
    machine's matrix-product rate. The convolution backward uses
    :func:`_conv_backward_flop`, which counts grouped (depthwise) convolutions right.
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    mapping = {torch.ops.aten.convolution_backward: _conv_backward_flop}
    with FlopCounterMode(display=False, custom_mapping=mapping) as counter:
        step()
    return int(counter.get_total_flops())


def attainable_gflops(shapes: Sequence[tuple[int, int, int, int]], rounds: int = 5) -> dict[str, Any]:
    """This machine's attainable float32 GFLOP/s at the current thread count.

    ``matmul``: a 2048 x 2048 matrix product (the ceiling dense arithmetic reaches);
    ``sep_conv``: per ``(batch, channels, height, width)`` shape, a 3x3 depthwise then a
    1x1 pointwise convolution in channels-last layout, forward and backward (the
    network's own building block at its own sizes: what the convolution kernels reach
    when nothing else is in the way). Medians of ``rounds`` timed calls after one warm-up.
    """
    import torch
    import torch.nn.functional as F

    def rate(fn: Callable[[], object], flops: float) -> float:
        fn()
        ts = []
        for _ in range(rounds):
            with timer() as t:
                fn()
            ts.append(t.wall)
        return round(flops / statistics.median(ts) / 1e9, 1)

    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    out: dict[str, Any] = {"threads": torch.get_num_threads(), "matmul": rate(lambda: a @ b, 2 * 2048**3)}
    seps = {}
    for B, C, H, W in shapes:
        x = torch.randn(B, C, H, W).contiguous(memory_format=torch.channels_last).requires_grad_()
        wd = torch.randn(C, 1, 3, 3, requires_grad=True)
        wp = torch.randn(C, C, 1, 1, requires_grad=True)

        def sep(x: torch.Tensor = x, wd: torch.Tensor = wd, wp: torch.Tensor = wp) -> None:
            F.conv2d(F.conv2d(x, wd, None, 1, 1, 1, x.shape[1]), wp).sum().backward()

        seps[f"{B}x{C}x{H}x{W}"] = rate(sep, step_flops(sep))
    out["sep_conv"] = seps
    return out
