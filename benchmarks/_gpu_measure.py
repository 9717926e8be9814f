"""The measurements of ``gpu_check.py``: correctness against the CPU, and interleaved speed.

Kept apart from the command so that each half stays readable. Everything takes a
``device`` and sizes, so the CPU test runs the very same code with tiny sizes.

The supernets come from :mod:`nas.darts` through their constructors and ``forward`` only;
their architecture parameters are the parameters the top module holds itself
(``parameters(recurse=False)``), the weights are the rest, and the architecture steps are
written here from the DARTS paper (first order: the validation gradient; second order:
one virtual SGD step and the finite-difference Hessian-vector product of the reference
``architect.py``), so the check does not depend on the search code being refactored.
"""

from __future__ import annotations

import copy
import importlib.util
import statistics
import sys
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks._common import ROOT, interleave, step_flops, timer
from benchmarks._darts_reference import ReferenceNetworkCIFAR
from nas.genotypes import named
from nas.networks import build, set_execution
from nas.ops import use_lean_kernels, use_plain_layers

DARTS_V2 = named.get("DARTS_V2")
PRECISIONS = ("fp32", "fp16", "bf16")
FORMATS = ("contiguous", "channels_last")
_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextmanager
def exact_float32() -> Any:
    """No TF32 while comparing with the CPU (TF32 rounds products to 10 mantissa bits)."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark = saved


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| over max |b| (both moved to the CPU in float64)."""
    a, b = a.detach().cpu().double(), b.detach().cpu().double()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-12))


def _outputs(out: Any) -> list[torch.Tensor]:
    return [t for t in (out if isinstance(out, tuple) else (out,)) if t is not None]


def compare(model: nn.Module, device: torch.device, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """Outputs and every gradient of ``model`` on ``device`` against a CPU copy with the same weights."""
    results = []
    twin = copy.deepcopy(model).to(device)  # before the CPU step touches the batch-norm statistics
    for m, dev in ((model, torch.device("cpu")), (twin, device)):
        m.train()
        m.zero_grad(set_to_none=True)
        outs = _outputs(m(x.to(dev)))
        sum(F.cross_entropy(o.float(), y.to(dev)) for o in outs).backward()
        grads = {n: p.grad for n, p in m.named_parameters() if p.grad is not None}
        results.append((outs, grads))
    (ref_out, ref_g), (out, g) = results
    missing = sorted(set(ref_g) ^ set(g))
    return {
        "output_rel_err": max(rel_err(a, b) for a, b in zip(out, ref_out)),
        "grad_rel_err": max(rel_err(g[n], ref_g[n]) for n in ref_g) if not missing else float("inf"),
        "grads": len(ref_g),
    }


def load_reference_supernet() -> type[nn.Module]:
    """The plain DARTS supernet of the tests (one module per operation, as the reference ``MixedOp``)."""
    spec = importlib.util.spec_from_file_location("_ref_supernet", ROOT / "tests" / "test_darts_supernet.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.RefNetwork


def supernets(C: int, layers: int, small: bool = False) -> dict[str, nn.Module]:
    """The two supernets of :mod:`nas.darts`, built by keyword (nothing else of the package is used).

    ``small``: two nodes and four operations (the CPU code-path test), else the search space's own.
    """
    from nas.darts import DartsSupernet, NB201Supernet

    torch.manual_seed(0)
    return {
        "darts_supernet": DartsSupernet(channels=C, layers=layers, **supernet_options(small)),
        "nb201_supernet": NB201Supernet(channels=C, cells_per_stage=max(1, layers // 3)),
    }


def supernet_options(small: bool) -> dict[str, Any]:
    return {"steps": 2, "multiplier": 2, "ops": SMALL_OPS} if small else {}


#: operations of the small supernet of the CPU code-path test (one of each kind of kernel)
SMALL_OPS = ("none", "max_pool_3x3", "skip_connect", "sep_conv_3x3", "dil_conv_3x3")


def cover(variants: dict[str, Any], axes: tuple[str, ...]) -> dict[str, Any]:
    """A few variants in which every value of every axis occurs at least once (greedy set cover).

    The CPU code-path test runs these instead of the whole grid: every branch of the code,
    a fraction of the steps. The first variant (the reference in float32 NCHW) is always kept.
    """
    names = list(variants)
    wanted = {(a, variants[n][0][a]) for n in names for a in axes}
    kept = [names[0]]
    wanted -= {(a, variants[names[0]][0][a]) for a in axes}
    while wanted:
        best = max(names, key=lambda n: len(wanted & {(a, variants[n][0][a]) for a in axes}))
        kept.append(best)
        wanted -= {(a, variants[best][0][a]) for a in axes}
    return {n: variants[n] for n in names if n in kept}


def correctness(
    device: torch.device, C: int, layers: int, batch: int, tol: dict[str, float], small: bool = False
) -> dict[str, Any]:
    """Derived DARTS_V2 (lean kernels on and off, both layouts) and both supernets: device against CPU."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 3, 32, 32, generator=g)
    y = torch.randint(0, 10, (batch,), generator=g)
    rows = []
    with exact_float32():
        for lean in (True, False):
            for fmt in FORMATS:
                torch.manual_seed(0)
                net = build(DARTS_V2, channels=C, layers=layers, auxiliary=True)
                set_execution(net, lean_kernels=lean, channels_last=fmt == "channels_last")
                use_lean_kernels(net, lean)
                rows.append({"model": "darts_v2", "lean_kernels": lean, "format": fmt, **compare(net, device, x, y)})
        for name, net in supernets(C, layers, small).items():
            rows.append({"model": name, "lean_kernels": True, "format": "channels_last", **compare(net, device, x, y)})
    for row in rows:
        row["ok"] = row["output_rel_err"] <= tol["output"] and row["grad_rel_err"] <= tol["grad"]
    lean_rows = [r for r in rows if r["model"] == "darts_v2" and r["lean_kernels"]]
    return {
        "sizes": {"channels": C, "layers": layers, "batch": batch},
        "tolerance": tol,
        "tf32": False,
        "rows": rows,
        "ok": all(r["ok"] for r in rows),
        "lean_kernels_ok": all(r["ok"] for r in lean_rows),
    }


# --------------------------------------------------------------------------- speed


def make_scaler(precision: str, device: torch.device) -> torch.amp.GradScaler | None:
    return torch.amp.GradScaler(device.type) if precision == "fp16" else None


def _autocast(precision: str, device: torch.device) -> Any:
    if precision == "fp32":
        return torch.autocast(device.type, enabled=False)
    return torch.autocast(device.type, dtype=_DTYPES[precision])


def _loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, precision: str, device: torch.device) -> torch.Tensor:
    with _autocast(precision, device):
        out = model(x)
        logits, aux = out if isinstance(out, tuple) else (out, None)
        loss = F.cross_entropy(logits, y)
        if aux is not None:
            loss = loss + 0.4 * F.cross_entropy(aux, y)
    return loss


def train_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, precision: str, device: torch.device) -> Callable:
    """One step of the reference ``train.py`` (auxiliary 0.4, clip 5, SGD) in ``precision``."""
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=0.025, momentum=0.9, weight_decay=3e-4)
    scaler = make_scaler(precision, device)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss = _loss(model, x, y, precision, device)
        if scaler is None:
            loss.backward()
            nn.utils.clip_grad_norm_(params, 5.0)
            opt.step()
        else:
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
            nn.utils.clip_grad_norm_(params, 5.0)
            scaler.step(opt)
            scaler.update()

    return step


def search_step(model: nn.Module, batches: tuple, order: str, precision: str, device: torch.device) -> Callable:
    """A DARTS architecture step (``first`` or ``second`` order), then the weight step."""
    arch = list(model.parameters(recurse=False))
    arch_ids = {id(p) for p in arch}
    weights = [p for p in model.parameters() if id(p) not in arch_ids]
    w_opt = torch.optim.SGD(weights, lr=0.025, momentum=0.9, weight_decay=3e-4)
    a_opt = torch.optim.Adam(arch, lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)
    scaler = make_scaler(precision, device)
    x, y, vx, vy = batches
    lr = 0.025

    def grads(loss: torch.Tensor, params: list[torch.Tensor]) -> list[torch.Tensor]:
        if scaler is None:
            gs = torch.autograd.grad(loss, params, allow_unused=True)
            return [torch.zeros_like(p) if g is None else g for g, p in zip(gs, params)]
        scale = scaler.get_scale()
        gs = torch.autograd.grad(scaler.scale(loss), params, allow_unused=True)
        return [torch.zeros_like(p) if g is None else g / scale for g, p in zip(gs, params)]

    def arch_step() -> None:
        if order == "first":
            da = grads(_loss(model, vx, vy, precision, device), arch)
        else:
            saved = [w.detach().clone() for w in weights]
            gw = grads(_loss(model, x, y, precision, device), weights)
            with torch.no_grad():
                for w, g in zip(weights, gw):
                    w.sub_(lr * g)  # the virtual step w' = w - lr * dL_train/dw
            gv = grads(_loss(model, vx, vy, precision, device), arch + weights)
            da, dw = gv[: len(arch)], gv[len(arch) :]
            eps = 0.01 / torch.sqrt(sum((d.float() ** 2).sum() for d in dw)).clamp_min(1e-12)
            hv = []
            for sign in (1.0, -2.0):
                with torch.no_grad():
                    for w, s, d in zip(weights, saved, dw):
                        w.copy_(s + (eps * d if sign > 0 else -eps * d))
                hv.append(grads(_loss(model, x, y, precision, device), arch))
            with torch.no_grad():
                for w, s in zip(weights, saved):
                    w.copy_(s)
            da = [a - lr * (p - m) / (2 * eps) for a, p, m in zip(da, *hv)]
        a_opt.zero_grad(set_to_none=True)
        for p, g in zip(arch, da):
            p.grad = g
        a_opt.step()

    def weight_step() -> None:
        w_opt.zero_grad(set_to_none=True)
        loss = _loss(model, x, y, precision, device)
        if scaler is None:
            loss.backward()
            nn.utils.clip_grad_norm_(weights, 5.0)
            w_opt.step()
        else:
            scaler.scale(loss).backward()
            scaler.unscale_(w_opt)
            nn.utils.clip_grad_norm_(weights, 5.0)
            scaler.step(w_opt)
            scaler.update()

    def step() -> None:
        arch_step()
        weight_step()

    return step


def matmul_rates(device: torch.device, n: int, rounds: int) -> dict[str, float]:
    """GFLOP/s of an ``n x n`` matrix product per precision (fp32 without TF32), median of ``rounds``."""
    out = {}
    for name in PRECISIONS:
        dtype = _DTYPES.get(name, torch.float32)
        if device.type == "cpu" and name == "fp16":
            dtype = torch.float32  # CPU float16 matmul is an emulation: measure what runs
        a = torch.randn(n, n, device=device, dtype=dtype)
        b = torch.randn(n, n, device=device, dtype=dtype)
        with exact_float32():
            a @ b
            sync(device)
            ts = []
            for _ in range(rounds):
                with timer() as t:
                    a @ b
                    sync(device)
                ts.append(t.wall)
        out[name] = round(2 * n**3 / max(statistics.median(ts), 1e-9) / 1e9, 3)
    return out


def _memory(device: torch.device, step: Callable[[], None]) -> dict[str, float | None]:
    """Peak bytes one step allocates on a CUDA device (beyond what was resident), and the absolute peak."""
    if device.type != "cuda":
        step()
        return {"peak_mb": None, "step_peak_mb": None}
    sync(device)
    before = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    step()
    sync(device)
    peak = torch.cuda.max_memory_allocated(device)
    return {"peak_mb": round(peak / 2**20, 1), "step_peak_mb": round((peak - before) / 2**20, 1)}


def timed_rows(
    variants: dict[str, tuple[dict[str, Any], Callable[[], Callable[[], None]]]],
    device: torch.device,
    rounds: int,
    steps: int,
    warmup: int,
    batch: int,
    flops: dict[str, int],
    rates: dict[str, float],
) -> list[dict[str, Any]]:
    """Prepare every variant (one warm-up step measures its memory), then time them interleaved.

    ``variants[name] = (facts, make)``: ``make()`` returns the zero-argument step. A
    variant that fails is reported with its error, never dropped.
    """
    ready: dict[str, Callable[[], None]] = {}
    rows: dict[str, dict[str, Any]] = {}
    for name, (facts, make) in variants.items():
        row = rows[name] = {"variant": name, **facts, "batch": batch}
        try:
            step = make()
            row.update(_memory(device, step))
            for _ in range(warmup):
                step()
        except Exception as exc:  # reported in the result, never silently dropped
            row["error"] = f"{type(exc).__name__}: {exc}"[:300]
            print(f"gpu_check: {name} failed: {row['error']}", file=sys.stderr, flush=True)
            continue

        def timed(step: Callable[[], None] = step) -> None:
            for _ in range(steps):
                step()
            sync(device)

        ready[name] = timed
    samples = interleave(ready, rounds)
    for name in ready:
        row = rows[name]
        s = statistics.median(samples.wall[name]) / steps
        row.update({"rounds": rounds, "steps_per_round": steps, "s_per_step": round(s, 5)})
        row["images_per_s"] = round(batch / s, 1)
        key = row.get("flops_key", "")
        if key in flops:
            gflops = flops[key] / s / 1e9
            row["gflop_per_step"] = round(flops[key] / 1e9, 3)
            row["gflop_per_s"] = round(gflops, 1)
            rate = rates.get(row["precision"], 0.0)
            row["vs_matmul"] = round(gflops / rate, 4) if rate > 0 else None
    return list(rows.values())


def count_flops(make: Callable[[], Callable[[], None]]) -> int:
    return step_flops(make())


def derived_variants(device: torch.device, C: int, layers: int, batch: int) -> dict[str, Any]:
    """Reference / plain / lean DARTS_V2 x layout x precision: the same weights, the same batch."""
    g = torch.Generator().manual_seed(1)
    x_cpu = torch.randn(batch, 3, 32, 32, generator=g)
    y = torch.randint(0, 10, (batch,), generator=g).to(device)
    torch.manual_seed(0)
    base = build(DARTS_V2, channels=C, layers=layers, auxiliary=True, drop_path_prob=0.2)
    state = base.state_dict()
    variants: dict[str, Any] = {}
    for impl in ("reference", "plain", "lean"):
        for fmt in FORMATS:
            for prec in PRECISIONS:

                def make(impl: str = impl, fmt: str = fmt, prec: str = prec) -> Callable[[], None]:
                    mf = torch.channels_last if fmt == "channels_last" else torch.contiguous_format
                    if impl == "reference":
                        net: nn.Module = ReferenceNetworkCIFAR(C, 10, layers, True, DARTS_V2, 0.2)
                        net.load_state_dict(state)
                        net.to(device).to(memory_format=mf)
                    else:
                        net = copy.deepcopy(base).to(device)
                        set_execution(net, lean_kernels=impl == "lean", channels_last=fmt == "channels_last")
                        use_lean_kernels(net, impl == "lean")
                    x = x_cpu.to(device).contiguous(memory_format=mf)
                    return train_step(net.train(), x, y, prec, device)

                facts = {"model": "darts_v2", "impl": impl, "format": fmt, "precision": prec, "flops_key": "darts_v2"}
                variants[f"darts_v2/{impl}/{fmt}/{prec}"] = (facts, make)
    return variants


def supernet_variants(device: torch.device, C: int, layers: int, batch: int, small: bool = False) -> dict[str, Any]:
    """Lean DARTS supernet against the plain reference supernet, first/second order x layout x precision."""
    from nas.darts import DartsSupernet

    g = torch.Generator().manual_seed(2)
    data = [torch.randn(batch, 3, 32, 32, generator=g), torch.randint(0, 10, (batch,), generator=g)] * 2
    data[2] = torch.randn(batch, 3, 32, 32, generator=g)
    Ref = load_reference_supernet()
    variants: dict[str, Any] = {}
    for impl in ("reference", "lean"):
        for order in ("first", "second"):
            for fmt in FORMATS:
                for prec in PRECISIONS:

                    def make(impl: str = impl, order: str = order, fmt: str = fmt, prec: str = prec) -> Callable:
                        mf = torch.channels_last if fmt == "channels_last" else torch.contiguous_format
                        torch.manual_seed(0)
                        if impl == "lean":
                            net: nn.Module = DartsSupernet(channels=C, layers=layers, **supernet_options(small))
                        else:
                            net = use_plain_layers(Ref(C, 10, layers, **supernet_options(small)))
                        net = net.to(device).to(memory_format=mf).train()
                        batches = tuple(
                            t.to(device).contiguous(memory_format=mf) if t.dim() == 4 else t.to(device) for t in data
                        )
                        return search_step(net, batches, order, prec, device)

                    facts = {
                        "model": "darts_supernet",
                        "impl": impl,
                        "order": order,
                        "format": fmt,
                        "precision": prec,
                        "flops_key": f"supernet_{order}",
                    }
                    variants[f"supernet/{impl}/{order}/{fmt}/{prec}"] = (facts, make)
    return variants


def resnet_variants(device: torch.device, batch: int) -> dict[str, Any]:
    """ResNet-20 (a model outside the cell family) in both layouts and three precisions."""
    from nas.zoo import create_model

    g = torch.Generator().manual_seed(3)
    x_cpu = torch.randn(batch, 3, 32, 32, generator=g)
    y = torch.randint(0, 10, (batch,), generator=g).to(device)
    variants: dict[str, Any] = {}
    for fmt in FORMATS:
        for prec in PRECISIONS:

            def make(fmt: str = fmt, prec: str = prec) -> Callable[[], None]:
                mf = torch.channels_last if fmt == "channels_last" else torch.contiguous_format
                torch.manual_seed(0)
                net = create_model("resnet20", num_classes=10).to(device).to(memory_format=mf).train()
                return train_step(net, x_cpu.to(device).contiguous(memory_format=mf), y, prec, device)

            facts = {"model": "resnet20", "impl": "plain", "format": fmt, "precision": prec, "flops_key": "resnet20"}
            variants[f"resnet20/{fmt}/{prec}"] = (facts, make)
    return variants
