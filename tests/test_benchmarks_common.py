"""benchmarks/_common.py: the memory figure a benchmark worker reports is its own."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_a_spawned_worker_reports_its_own_peak_not_the_parents(tmp_path: Path) -> None:
    """``ru_maxrss`` survives ``execve``, so a worker would inherit its parent's peak; ``memory_gb`` must not."""
    prelude = (
        f"import json, subprocess, sys\nsys.path.insert(0, {str(REPO)!r})\nfrom benchmarks._common import memory_gb\n"
    )
    child = tmp_path / "child.py"
    child.write_text(prelude + "print(json.dumps(memory_gb()))\n")
    parent = tmp_path / "parent.py"
    parent.write_text(
        prelude
        + "big = bytearray(600 * 2**20)\n"
        + "big[::4096] = b'x' * len(big[::4096])\n"  # touch every page so it is resident
        + "peak = memory_gb()[1]\n"
        + "del big\n"
        + f"out = subprocess.run([sys.executable, {str(child)!r}], capture_output=True, text=True, check=True)\n"
        + "print(json.dumps({'parent_peak': peak, 'child': json.loads(out.stdout)}))\n"
    )
    done = subprocess.run([sys.executable, str(parent)], capture_output=True, text=True, check=True)
    out = json.loads(done.stdout)
    child_rss, child_peak = out["child"]
    assert out["parent_peak"] > 0.6, out  # the parent really held ~630 MB
    assert 0 < child_rss <= child_peak < 0.3, out  # a bare interpreter: its own tens of MB, not the parent's peak


def test_step_flops_counts_a_depthwise_backward_as_twice_its_forward_like_any_convolution() -> None:
    """torch's formula ignores ``groups`` in the weight gradient; the benchmarks' GFLOP/s must not."""
    import torch
    import torch.nn.functional as F

    sys.path.insert(0, str(REPO))
    try:
        from benchmarks._common import step_flops
    finally:
        sys.path.remove(str(REPO))
    B, C, H, W = 4, 24, 8, 8
    x = torch.randn(B, C, H, W, requires_grad=True)
    for weight, groups, macs in (
        (torch.randn(C, 1, 3, 3, requires_grad=True), C, B * C * H * W * 9),  # depthwise
        (torch.randn(C, C, 1, 1, requires_grad=True), 1, B * C * H * W * C),  # pointwise
        (torch.randn(C, C // 4, 3, 3, requires_grad=True), 4, B * C * H * W * 9 * C // 4),  # grouped
    ):
        both = step_flops(lambda w=weight, g=groups: F.conv2d(x, w, None, 1, w.shape[-1] // 2, 1, g).sum().backward())
        assert both == 3 * 2 * macs  # forward, grad-input, grad-weight
        only_w = step_flops(
            lambda w=weight, g=groups: F.conv2d(x.detach(), w, None, 1, w.shape[-1] // 2, 1, g).sum().backward()
        )
        assert only_w == 2 * 2 * macs
