"""Start-up time of the quick ``nas`` commands: wall and CPU time of the whole process.

Each command is a fresh ``python -m nas.cli ...`` run from the checkout's root (so the
checkout's own ``nas`` runs), once as a warm-up (file cache), then ``--runs`` times with
the commands interleaved round by round, order reversed every other round (as
:func:`benchmarks._common.interleave`), so load from other jobs hits all of them alike.
CPU time is the child's user + system time (``resource.getrusage(RUSAGE_CHILDREN)``):
on a shared machine it moves far less with the load than wall time does, so both are
reported, as medians, against the issue's targets: ``sample`` and ``convert`` under 1 s,
``spaces`` under 1.5 s, ``show`` (with parameter and FLOP counts) under 3 s.
``--baseline DIR`` also runs every command from another checkout (e.g. ``git archive``
of an older commit) in the same rounds, for before/after figures under the same load.

    python benchmarks/bench_startup.py --runs 5 --out benchmarks/results/startup.json
    git archive 6e7f661 | tar -x -C /tmp/base   # the commit before the start-up work
    python benchmarks/bench_startup.py --runs 5 --baseline /tmp/base --baseline-label "6e7f661" --out ...
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import ROOT, loadavg, write_result  # noqa: E402

#: command (arguments of ``nas``) -> target seconds (None: reported, no target in the issue)
COMMANDS: dict[str, float | None] = {
    "sample nb201 --n 3": 1.0,
    "convert PC_DARTS --to json": 1.0,
    "spaces": 1.5,
    "show DARTS_V2": 3.0,
    "--help": None,
}


def run_once(command: str, root: Path) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one ``python -m nas.cli COMMAND`` run from ``root``."""
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "nas.cli", *command.split()], cwd=root, env=env, check=True, stdout=subprocess.DEVNULL
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def measure(variants: dict[str, tuple[str, Path]], runs: int) -> dict[str, dict[str, list[float]]]:
    """``variants[name] = (command, root)``: one warm-up each, then ``runs`` interleaved rounds."""
    for command, root in variants.values():
        run_once(command, root)
    names = list(variants)
    samples: dict[str, dict[str, list[float]]] = {n: {"wall": [], "cpu": []} for n in names}
    for r in range(runs):
        for name in names if r % 2 == 0 else names[::-1]:
            wall, cpu = run_once(*variants[name])
            samples[name]["wall"].append(wall)
            samples[name]["cpu"].append(cpu)
    return samples


def _row(command: str, target: float | None, s: dict[str, list[float]]) -> dict[str, Any]:
    wall, cpu = statistics.median(s["wall"]), statistics.median(s["cpu"])
    return {
        "command": f"nas {command}",
        "runs": len(s["wall"]),
        "wall_s_median": round(wall, 3),
        "wall_s_min": round(min(s["wall"]), 3),
        "wall_s_max": round(max(s["wall"]), 3),
        "cpu_s_median": round(cpu, 3),
        "cpu_s_min": round(min(s["cpu"]), 3),
        "target_s": target,
        "met_wall": None if target is None else wall < target,
        "met_cpu": None if target is None else cpu < target,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--baseline", metavar="DIR", help="also time the commands from this checkout (same rounds)")
    p.add_argument("--baseline-label", default="", help="what the baseline is (e.g. 'git archive 6e7f661')")
    p.add_argument("--out", default="", help="write the results here (through benchmarks/_common.write_result)")
    args = p.parse_args(argv)
    if args.runs < 1:
        p.error("--runs: expected a positive integer")
    variants = {f"current {c}": (c, ROOT) for c in COMMANDS}
    if args.baseline:
        base = Path(args.baseline).resolve()
        if not (base / "nas" / "cli.py").is_file():
            p.error(f"--baseline {args.baseline}: expected a checkout with nas/cli.py")
        variants.update({f"baseline {c}": (c, base) for c in COMMANDS})
    before = loadavg()
    samples = measure(variants, args.runs)
    after = loadavg()
    payload: dict[str, Any] = {"runs": args.runs, "loadavg_before": before, "loadavg_after": after}
    for which in ("current", "baseline") if args.baseline else ("current",):
        rows = [_row(c, t, samples[f"{which} {c}"]) for c, t in COMMANDS.items()]
        payload["results" if which == "current" else "baseline_results"] = rows
        print(f"{which}:")
        for r in rows:
            target = (
                ""
                if r["target_s"] is None
                else f"target < {r['target_s']} s  met wall {r['met_wall']} cpu {r['met_cpu']}"
            )
            print(f"  {r['command']:32s} wall {r['wall_s_median']:6.2f} s  cpu {r['cpu_s_median']:6.2f} s  {target}")
    if args.baseline:
        payload["baseline_dir"] = str(Path(args.baseline).resolve())
        payload["baseline_label"] = args.baseline_label
    print(f"load average before {before}, after {after}")
    if args.out:
        print("wrote", write_result(args.out, payload))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
