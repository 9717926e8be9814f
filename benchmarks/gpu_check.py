"""Is the toolkit right and fast on this GPU? One command, at most ~8 minutes on one CUDA GPU.

    python benchmarks/gpu_check.py            # writes benchmarks/results/gpu_check.json and .md

No download: random tensors where images do not matter, the CIFAR-10 files of
``$NAS_DATA_DIR`` (else ``../shared/data``) for the two real trainings. Sections:

1. **correctness** -- the derived DARTS_V2 network (lean kernels on and off, NCHW and
   channels-last) and the DARTS and NAS-Bench-201 supernets on the GPU against the same
   weights on the CPU, TF32 off: outputs and every gradient within tolerance.
2. **speed** -- interleaved rounds, medians, ``cudnn.benchmark`` on as the DARTS
   ``train.py`` sets it: DARTS_V2 (C=36, 20 cells, batch 96, auxiliary, drop-path 0.2)
   as the reference network (``_darts_reference.py``), our network on plain layers and on
   the lean kernels; the DARTS supernet (C=16, 8 cells, batch 64) lean and reference,
   first and second order; ResNet-20. Each in NCHW and channels-last, float32, float16
   autocast with a GradScaler and bfloat16. Images/s, peak ``max_memory_allocated`` and
   GFLOP/s against this GPU's measured matrix-product rate.
3. **training** -- ResNet-20, 2 epochs on a CIFAR-10 slice through the shared trainer
   (``nas.training.job.train_job``, what ``nas train`` runs), with the run's recorded
   device and execution choice (:mod:`nas.device_defaults`).
4. **tune** -- one Ray Tune search (``nas search``) of two trials with
   ``--gpus-per-trial 0.5 --workers 2``: both share the GPU; each trial's recorded
   ``CUDA_VISIBLE_DEVICES`` and device are reported.

Without CUDA it prints one line and exits 2. ``--device cpu --budget tiny`` runs every
code path at toy sizes (what ``tests/test_gpu_check.py`` does); such a result is marked
``budget: tiny`` and the device table never uses it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import ROOT, write_result  # noqa: E402

FORMAT = 1  # nas.device_defaults.GPU_CHECK_FORMAT reads this


@dataclass(frozen=True)
class Budget:
    derived: tuple[int, int, int]  # channels, cells, batch
    supernet: tuple[int, int, int]
    resnet_batch: int
    check: tuple[int, int, int]  # correctness sizes
    rounds: int  # interleaved rounds (the supernet's second-order steps are slow: fewer there)
    steps: int  # timed steps per round
    warmup: int
    supernet_rounds: int
    speed_s: float  # a speed group that would start after this many seconds of the section is not run (recorded)
    matmul_n: int
    train_subset: int
    test_subset: int
    tune_subset: int
    small: bool = False  # a covering subset of the speed grid and a 2-node, 5-operation supernet


BUDGETS = {
    "full": Budget((36, 20, 96), (16, 8, 64), 128, (8, 5, 8), 5, 2, 1, 3, 300.0, 4096, 5000, 1000, 1000),
    "tiny": Budget((2, 2, 2), (2, 2, 2), 2, (2, 2, 2), 1, 1, 0, 1, 600.0, 128, 100, 50, 40, small=True),
}
TOLERANCE = {"output": 1e-3, "grad": 1e-2}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--device", default="cuda", help="cuda (default), cuda:N, or cpu for the code-path test")
    p.add_argument("--budget", choices=sorted(BUDGETS), default="full", help="full sizes, or tiny for the CPU test")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "gpu_check.json"))
    p.add_argument("--data-dir", default=None, help="CIFAR-10 directory (default: $NAS_DATA_DIR, else ../shared/data)")
    p.add_argument("--sections", default="correctness,speed,training,tune", help="comma list (default: all four)")
    args = p.parse_args(argv)

    import torch

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print(
            f"gpu_check: CUDA is not available here (torch {torch.__version__}, built for CUDA "
            f"{torch.version.cuda}); nothing measured"
        )
        return 2
    if device.type not in ("cuda", "cpu"):
        print(f"gpu_check: --device: expected cuda, cuda:N or cpu, got {args.device!r}")
        return 2
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = sorted(set(sections) - {"correctness", "speed", "training", "tune"})
    if unknown:
        print(f"gpu_check: --sections: unknown {', '.join(unknown)} (correctness, speed, training, tune)")
        return 2
    data_dir = args.data_dir or os.environ.get("NAS_DATA_DIR") or str(ROOT.parent / "shared" / "data")
    budget = BUDGETS[args.budget]
    start = time.perf_counter()
    given = sys.argv[1:] if argv is None else list(argv)
    doc: dict[str, Any] = {
        "command": " ".join(["python", "benchmarks/gpu_check.py", *given]),  # also when called in-process
        "format": FORMAT,
        "device_type": device.type,
        "budget": args.budget,
        "sizes": asdict(budget),
        "gpu": gpu_facts(device),
        "sections_run": sections,
        "seconds": {},
    }
    steps = {"correctness": correctness, "speed": speed, "training": training, "tune": tune}
    for name in sections:
        t = time.perf_counter()
        print(f"gpu_check: {name} ...", file=sys.stderr, flush=True)
        try:
            doc[name] = steps[name](device, budget, data_dir)
        except Exception as exc:  # e.g. no CIFAR-10 for the training: keep the other sections' figures
            doc[name] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
            print(f"gpu_check: {name} failed: {doc[name]['error']}", file=sys.stderr, flush=True)
        doc["seconds"][name] = round(time.perf_counter() - t, 1)
    doc["seconds"]["total"] = round(time.perf_counter() - start, 1)
    out = write_result(args.out, doc)
    md = out.with_suffix(".md")
    from nas.runs.atomic import write_text

    write_text(md, markdown(json.loads(out.read_text(encoding="utf-8"))))
    print(f"gpu_check: wrote {out} and {md} in {doc['seconds']['total']:.0f} s")
    failed = [name for name in sections if "error" in doc[name]]
    if "tune" in doc and "error" not in doc["tune"] and doc["tune"]["exit_status"] != 0:
        failed.append("tune")
    return 0 if doc.get("correctness", {}).get("ok", True) and not failed else 1


def gpu_facts(device: Any) -> dict[str, Any]:
    import torch

    facts: dict[str, Any] = {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
    }
    if device.type != "cuda":
        return {**facts, "name": "cpu (code-path run, not a GPU measurement)"}
    props = torch.cuda.get_device_properties(device)
    facts.update(
        name=torch.cuda.get_device_name(device),
        capability=".".join(map(str, torch.cuda.get_device_capability(device))),
        memory_gb=round(props.total_memory / 1e9, 1),
        multiprocessors=props.multi_processor_count,
        devices=torch.cuda.device_count(),
    )
    smi = shutil.which("nvidia-smi")
    if smi:
        q = subprocess.run(
            [smi, "--query-gpu=driver_version", "--format=csv,noheader"], capture_output=True, text=True, check=False
        )
        facts["driver"] = q.stdout.strip().splitlines()[0] if q.stdout.strip() else None
    return facts


def correctness(device: Any, budget: Budget, data_dir: str) -> dict[str, Any]:
    from benchmarks._gpu_measure import correctness as check

    C, layers, batch = budget.check
    result = check(device, C, layers, batch, TOLERANCE, small=budget.small)
    for row in result["rows"]:
        if not row["ok"]:
            print(f"gpu_check: MISMATCH {row}", file=sys.stderr)
    return result


def speed(device: Any, budget: Budget, data_dir: str) -> dict[str, Any]:
    import torch

    saved = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True  # as the DARTS reference train.py
    try:
        return _speed(device, budget)
    finally:
        torch.backends.cudnn.benchmark = saved  # the training sections run as nas train does


def _speed(device: Any, budget: Budget) -> dict[str, Any]:
    import torch

    from benchmarks._gpu_measure import (
        count_flops,
        cover,
        derived_variants,
        matmul_rates,
        resnet_variants,
        supernet_variants,
        timed_rows,
    )

    rates = matmul_rates(device, budget.matmul_n, max(3, budget.rounds))
    C, L, B = budget.derived
    Cs, Ls, Bs = budget.supernet
    groups = {  # cheapest first: a group that would start too late is recorded as not run
        "darts_v2": (lambda: derived_variants(device, C, L, B), B, budget.rounds),
        "resnet20": (lambda: resnet_variants(device, budget.resnet_batch), budget.resnet_batch, budget.rounds),
        "supernet": (lambda: supernet_variants(device, Cs, Ls, Bs, budget.small), Bs, budget.supernet_rounds),
    }
    axes = ("impl", "order", "format", "precision")
    rows: list[dict[str, Any]] = []
    not_run: dict[str, str] = {}
    flops: dict[str, int] = {}
    start = time.perf_counter()
    for group, (make_variants, batch, rounds) in groups.items():
        elapsed = time.perf_counter() - start
        if elapsed > budget.speed_s:
            not_run[group] = f"not run: the speed section had used {elapsed:.0f} s of its {budget.speed_s:.0f} s"
            print(f"gpu_check: speed/{group}: {not_run[group]}", file=sys.stderr, flush=True)
            continue
        variants = make_variants()
        if budget.small:
            variants = cover(variants, tuple(a for a in axes if a in next(iter(variants.values()))[0]))
        for facts, make in variants.values():  # the reference's float32 NCHW step counts the model's arithmetic
            key = facts["flops_key"]
            first = facts["impl"] in ("reference", "plain") and facts["precision"] == "fp32"
            if key not in flops and first and facts["format"] == "contiguous":
                flops[key] = count_flops(make)
        t = time.perf_counter()
        rows += timed_rows(variants, device, rounds, budget.steps, budget.warmup, batch, flops, rates)
        print(f"gpu_check: speed/{group}: {len(variants)} variants in {time.perf_counter() - t:.0f} s", file=sys.stderr)
        if device.type == "cuda":
            torch.cuda.empty_cache()
    _ratios(rows)
    return {
        "cudnn_benchmark": True,
        "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        "tf32_cudnn": torch.backends.cudnn.allow_tf32,
        "matmul_gflop_per_s": rates,
        "matmul_n": budget.matmul_n,
        "rows": rows,
        "errors": [r["variant"] for r in rows if "error" in r],
        "not_run": not_run,
    }


def _ratios(rows: list[dict[str, Any]]) -> None:
    """Each row's speed and memory against the reference of the same model, step kind and precision, in NCHW."""
    refs = {}
    for r in rows:
        if r.get("impl") == "reference" and r["format"] == "contiguous" and "images_per_s" in r:
            refs[(r["model"], r.get("order"), r["precision"])] = r
    for r in rows:
        ref = refs.get((r["model"], r.get("order"), r["precision"]))
        if ref is None or "images_per_s" not in r:
            continue
        r["speed_vs_reference"] = round(r["images_per_s"] / ref["images_per_s"], 3)
        if r.get("step_peak_mb") and ref.get("step_peak_mb"):
            r["memory_vs_reference"] = round(r["step_peak_mb"] / ref["step_peak_mb"], 3)


def _trainer_record(run_dir: Path) -> dict[str, Any]:
    env = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))["environment"]
    keys = ("device", "amp", "channels_last", "lean_kernels", "execution", "cuda_visible_devices")
    return {k: env.get(k) for k in keys}


def training(device: Any, budget: Budget, data_dir: str) -> dict[str, Any]:
    """ResNet-20, 2 epochs on a CIFAR-10 slice, through the shared trainer's job (``nas train``)."""
    from nas.training.job import train_job

    sets = {"epochs": 2, "train_subset": budget.train_subset, "test_subset": budget.test_subset, "tensorboard": False}
    overrides = [(f"--set {k}={json.dumps(v)}", k, v) for k, v in sets.items()]
    with tempfile.TemporaryDirectory(prefix="gpu_check_train_") as tmp:
        t = time.perf_counter()
        job = train_job(
            out=Path(tmp) / "run",
            model="resnet20",
            recipe="quick",
            overrides=overrides,
            device=str(device),
            data_dir=data_dir,
            progress=False,
        )
        wall = time.perf_counter() - t
        record = _trainer_record(Path(tmp) / "run")
    row = job.rows[0]
    keys = ("epochs_completed", "train_time_s", "images_per_s", "best_val_top1", "test_best_top1", "final_train_loss")
    return {
        "command": f"nas train --model resnet20 --recipe quick --device {device} "
        + " ".join(f"--set {k}={json.dumps(v)}" for k, v in sets.items()),
        "wall_s": round(wall, 1),
        **{k: row.get(k) for k in keys},
        "record": record,
    }


def tune(device: Any, budget: Budget, data_dir: str) -> dict[str, Any]:
    """Two trials sharing the GPU (``--gpus-per-trial 0.5 --workers 2``); what each trial saw."""
    gpus = 0.5 if device.type == "cuda" else 0.0
    config = {
        "controller": "random",
        "space": "resnet",
        "seed": 0,
        "num_trials": 2,
        "trial": {
            "kind": "train",
            "recipe": "quick",
            "epochs": 1,
            "train": {
                "train_subset": budget.tune_subset,
                "val_fraction": 0.2,
                "test_subset": max(20, budget.tune_subset // 5),
                "tensorboard": False,
                "device": "auto" if device.type == "cuda" else "cpu",
            },
        },
        "workers": 2,
        "cpus_per_trial": 1,
        "gpus_per_trial": gpus,
        "data_dir": data_dir,
    }
    nas = Path(sys.executable).with_name("nas")
    with tempfile.TemporaryDirectory(prefix="gpu_check_tune_") as tmp:
        cfg = Path(tmp) / "search.yaml"
        cfg.write_text(json.dumps(config), encoding="utf-8")  # JSON is YAML
        out = Path(tmp) / "run"
        cmd = [str(nas) if nas.exists() else "nas", "search", "--config", str(cfg), "--out", str(out)]
        cmd += ["--workers", "2", "--gpus-per-trial", str(gpus)]
        t = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=tmp)
        wall = time.perf_counter() - t
        trials = []
        for cfg_file in sorted(out.glob("trials/*/train/config.json")):
            trials.append({"trial": cfg_file.parent.parent.name, **_trainer_record(cfg_file.parent)})
    shown = ["nas", "search", "--config", "search.yaml", "--out", "run", *cmd[6:]]
    result = {
        "command": " ".join(shown),
        "config": config,
        "exit_status": proc.returncode,
        "wall_s": round(wall, 1),
        "trials": trials,
        # both trials saw the same one GPU (None on the CPU code path, where no GPU is given out)
        "shared_one_gpu": None if gpus == 0 else _one_gpu(trials),
    }
    if proc.returncode != 0:
        result["stderr_tail"] = proc.stderr.strip().splitlines()[-5:]
    return result


def _one_gpu(trials: list[dict[str, Any]]) -> bool:
    seen = {t["cuda_visible_devices"] for t in trials}
    return len(trials) == 2 and len(seen) == 1 and None not in seen and "," not in str(next(iter(seen)))


def markdown(doc: dict[str, Any]) -> str:
    """The short human summary next to the JSON."""
    g, m = doc["gpu"], doc["machine"]
    lines = [
        "# GPU check",
        "",
        f"- command: `{doc['command']}`",
        f"- date: {doc['date']} (budget {doc['budget']}, {doc['seconds'].get('total')} s)",
        f"- machine: {m['cpu_model']}, {m['cpu_count']} CPUs; commit {m['git_commit'][:10]}",
        f"- GPU: {g.get('name')} (capability {g.get('capability')}, {g.get('memory_gb')} GB, driver {g.get('driver')})",
        f"- torch {g['torch']}, CUDA {g['cuda']}, cuDNN {g['cudnn']}",
        "",
    ]
    for name in doc["sections_run"]:
        if "error" in doc[name]:
            lines += [f"## {name}: FAILED", "", f"`{doc[name]['error']}`", ""]
    doc = {k: v for k, v in doc.items() if not (isinstance(v, dict) and "error" in v)}
    if "correctness" in doc:
        c = doc["correctness"]
        lines += [f"## Correctness against the CPU: {'ok' if c['ok'] else 'MISMATCH'}", ""]
        lines += [
            "| model | lean kernels | format | output rel. err | grad rel. err | ok |",
            "|---|---|---|---|---|---|",
        ]
        for r in c["rows"]:
            lines.append(
                f"| {r['model']} | {r['lean_kernels']} | {r['format']} | {r['output_rel_err']:.2e} "
                f"| {r['grad_rel_err']:.2e} | {r['ok']} |"
            )
        lines.append("")
    if "speed" in doc:
        s = doc["speed"]
        lines += [f"## Speed (matmul GFLOP/s: {s['matmul_gflop_per_s']})", ""]
        lines += [
            "| variant | images/s | vs reference | step peak MB | GFLOP/s | of matmul |",
            "|---|---|---|---|---|---|",
        ]
        for r in s["rows"]:
            if "error" in r:
                lines.append(f"| {r['variant']} | error: {r['error'][:80]} | | | | |")
                continue
            lines.append(
                f"| {r['variant']} | {r['images_per_s']} | {r.get('speed_vs_reference', '')} "
                f"| {r.get('step_peak_mb')} | {r.get('gflop_per_s', '')} | {r.get('vs_matmul', '')} |"
            )
        for group, why in s.get("not_run", {}).items():
            lines.append(f"| {group} | {why} | | | | |")
        lines.append("")
    if "training" in doc:
        t = doc["training"]
        lines += [
            "## Training",
            "",
            f"`{t['command']}`: {t['epochs_completed']} epochs, {t['images_per_s']:.0f} img/s, "
            f"test top-1 {t['test_best_top1']}; executed as: {t['record']['execution']['reason']}",
            "",
        ]
    if "tune" in doc:
        u = doc["tune"]
        seen = ", ".join(
            f"{t['trial']}: CUDA_VISIBLE_DEVICES={t['cuda_visible_devices']} on {t['device']}" for t in u["trials"]
        )
        lines += ["## Ray Tune", "", f"`{u['command']}`: exit {u['exit_status']}, {u['wall_s']} s; {seen}", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
