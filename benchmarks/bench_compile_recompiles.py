"""Does ``torch.compile`` recompile the derived network when the trainer changes its drop-path probability?

The shared trainer ramps ``drop_path_prob`` every epoch (``nas/training/loop.py``). This trains a
tiny DARTS_V2 network (C=4, 3 cells, batch 8: the count, not the speed, is the point) compiled
once, then sets a new probability before each of ``--epochs`` steps, as the ramp does, and
records torch.compile's frame count and the step's time after each change.

    OMP_NUM_THREADS=1 python benchmarks/bench_compile_recompiles.py \\
        --out benchmarks/results/compile_recompiles.json
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from benchmarks._common import write_result  # noqa: E402
from benchmarks.bench_derived_network import dynamo_counts  # noqa: E402
from nas.genotypes.resolve import parse_genotype  # noqa: E402
from nas.networks import build  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=5, help="drop-path changes after the first compile")
    p.add_argument("--drop-path", type=float, default=0.2, help="the ramp's final probability")
    p.add_argument("--out", default="", help="result file (through benchmarks/_common.write_result)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    net = build(parse_genotype("DARTS_V2"), 10, channels=4, layers=3, drop_path_prob=args.drop_path).train()
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    compiled = torch.compile(net)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(8, 3, 32, 32, generator=g), torch.randint(0, 10, (8,), generator=g)

    def step() -> float:
        t = time.perf_counter()
        opt.zero_grad()
        out = compiled(x)
        out = out[0] if isinstance(out, tuple) else out
        torch.nn.functional.cross_entropy(out, y).backward()
        opt.step()
        return round(time.perf_counter() - t, 2)

    rows = [{"event": "first step", "drop_path_prob": args.drop_path, "s": step(), **dynamo_counts()}]
    rows.append({"event": "same probability", "drop_path_prob": args.drop_path, "s": step(), **dynamo_counts()})
    for epoch in range(1, args.epochs + 1):
        net.drop_path_prob = args.drop_path * epoch / (args.epochs + 1)
        rows.append({"event": f"epoch {epoch}", "drop_path_prob": net.drop_path_prob, "s": step(), **dynamo_counts()})
    for r in rows:
        print(f"{r['event']:<17} p={r['drop_path_prob']:.3f}  frames {r['frames_compiled']}  {r['s']} s")
    recompiles = rows[-1]["frames_compiled"] - rows[1]["frames_compiled"]
    print(f"recompiles after {args.epochs} drop-path changes: {recompiles}")
    if args.out:
        write_result(args.out, {"torch": torch.__version__, "rows": rows, "recompiles": recompiles})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
