"""Start-up time of the quick ``nas`` commands (wall time of the whole process).

Runs each command ``--runs`` times with ``hyperfine`` when it is installed (Debian
package ``hyperfine``; one warm-up run each, commands interleaved by hyperfine's own
order), else a plain loop of subprocess runs, commands interleaved round by round.
Reports the median and the minimum per command against its target (the issue's:
``sample`` and ``convert`` under 1 s, ``spaces`` under 1.5 s, ``show`` with its
parameter and FLOP counts under 3 s). The checkout's own ``nas`` runs
(``python -m nas.cli`` from the repository root).

    python benchmarks/bench_startup.py --runs 5 --out benchmarks/results/startup.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import ROOT, interleave, loadavg, write_result  # noqa: E402

#: command (arguments of ``nas``) -> target seconds
COMMANDS: dict[str, float] = {
    "sample nb201 --n 3": 1.0,
    "convert PC_DARTS --to json": 1.0,
    "spaces": 1.5,
    "show DARTS_V2": 3.0,
    "--help": 1.0,
}


def _argv(command: str) -> list[str]:
    return [sys.executable, "-m", "nas.cli", *command.split()]


def with_hyperfine(runs: int) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "hf.json"
        cmd = ["hyperfine", "--warmup", "1", "--runs", str(runs), "--export-json", str(out), "-N", "--style", "none"]
        cmd += [" ".join(_argv(c)) for c in COMMANDS]
        subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        results = json.loads(out.read_text())["results"]
    return {c: r["times"] for c, r in zip(COMMANDS, results)}


def with_loop(runs: int) -> dict[str, list[float]]:
    def run(command: str) -> None:
        subprocess.run(_argv(command), cwd=ROOT, check=True, stdout=subprocess.DEVNULL)

    for c in COMMANDS:  # warm-up (file cache)
        run(c)
    return interleave({c: (lambda c=c: run(c)) for c in COMMANDS}, runs).wall


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--no-hyperfine", action="store_true", help="use the subprocess loop even if hyperfine exists")
    p.add_argument("--out", default="", help="write the results here (through benchmarks/_common.write_result)")
    args = p.parse_args(argv)
    tool = "hyperfine" if shutil.which("hyperfine") and not args.no_hyperfine else "subprocess loop"
    before = loadavg()
    times = with_hyperfine(args.runs) if tool == "hyperfine" else with_loop(args.runs)
    rows = []
    for command, target in COMMANDS.items():
        ts = times[command]
        med = statistics.median(ts)
        rows.append(
            {
                "command": f"nas {command}",
                "runs": len(ts),
                "s_median": round(med, 3),
                "s_min": round(min(ts), 3),
                "target_s": target,
                "met": med < target,
            }  # fmt: skip
        )
        print(f"nas {command:30s} median {med:6.2f} s  min {min(ts):6.2f} s  target < {target} s  {rows[-1]['met']}")
    payload = {"tool": tool, "loadavg_before": before, "loadavg_after": loadavg(), "results": rows}
    if args.out:
        print("wrote", write_result(args.out, payload))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
