"""Fidelity check: the authors' search code against ours, same CPU-size slice, same seeds, judged by the table.

    OMP_NUM_THREADS=1 python benchmarks/compare_official_nb201.py --official PATH_TO_AutoDL-Projects \\
        --data-dir ../shared/data --seeds 0,1,2,3,4 --algos gdas,darts-v1 \\
        [--ours benchmarks/results/weight_sharing_nb201.json] [--work DIR] [--jobs 1]
    OMP_NUM_THREADS=1 python benchmarks/compare_official_nb201.py --codebase beta-darts \\
        --official PATH_TO_Beta-DARTS --data-dir ../shared/data --seeds 0,1,2,3,4 \\
        --ours benchmarks/results/weight_sharing_nb201_beta_darts.json

``--codebase`` names the authors' repository (:data:`CODEBASES`: D-X-Y/AutoDL-Projects for GDAS
and DARTS-V1, Sunshine-Ye/Beta-DARTS for β-DARTS, xiangning-chen/DrNAS for DrNAS, ruocwang/darts-pt
for DARTS-PT, qgh1223/zerocostpt for Zero-Cost-PT);
``--official`` is a checkout of it (never copied into this repository). Each of their searches
runs in its own process (the codebase's runner module: their own search script with the
run-time edits it lists) on exactly the slice our benchmark draws from the seed; a run
directory under ``--work`` that already holds ``result.json`` is reused, so an interrupted
comparison resumes. Our side either reruns our search with the same configs
(``bench_weight_sharing_nb201.run_one``) or, with ``--ours``, reads the rows of an earlier
``weight_sharing_nb201*.json`` (the result file says which).

Both derived cells are looked up in the NAS-Bench-201 table (200-epoch CIFAR-10 test accuracy).
Whether the two distributions differ beyond seed noise is judged by a two-sided Mann-Whitney U
test and an exact permutation test of the difference of means over the seeds; with 5 seeds a
side only large, consistent differences can show (the smallest possible U-test p is 0.008).
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import datetime as dt
import json
import math
import os
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _common import ROOT, write_result
from _official_common import Codebase
from _official_nb201_runner import CODEBASE as AUTODL

from nas.errors import NasError
from nas.genotypes.codec import from_nb201_string, to_nb201_string
from nas.nb201_table import NB201Table, find_table
from nas.runs.atomic import read_json, write_text

#: --codebase -> the runner module (one file per authors' codebase, holding its ``CODEBASE``).
CODEBASES = {
    "autodl": "_official_nb201_runner",
    "beta-darts": "_official_beta_darts_runner",
    "darts-pt": "_official_darts_pt_runner",
    "drnas": "_official_drnas_runner",
    "zero-cost-pt": "_official_zero_cost_pt_runner",
}
#: p-value below which a difference is called beyond noise.
ALPHA = 0.05


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--codebase", default="autodl", help="the authors' codebase: " + ", ".join(CODEBASES))
    p.add_argument("--official", required=True, help="path to a checkout of that codebase's repository")
    p.add_argument("--data-dir", required=True, help="holds cifar10-jpeg.tar.gz and nasbench201/nb201.csv")
    p.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated seeds (default 0-4)")
    p.add_argument("--algos", default=None, help="comma-separated (default: every one of the codebase)")
    p.add_argument(
        "--ours", default=None, help="read our rows from this weight_sharing_nb201.json instead of rerunning"
    )
    p.add_argument("--work", default=str(ROOT / "runs" / "compare_official_nb201"), help="their run dirs and logs")
    p.add_argument("--jobs", type=int, default=1, help="their searches at once (default 1)")
    p.add_argument(
        "--only-finished",
        action="store_true",
        help="start none of their searches: report those whose result.json exists, list the rest as not run",
    )
    p.add_argument(
        "--results", default=None, help="result prefix (default benchmarks/results/compare_official_nb201[_CODEBASE])"
    )
    return p.parse_args(argv)


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2"`` -> ``[0, 1, 2]``; a one-line error naming ``--seeds`` otherwise."""
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise NasError(f"--seeds: expected comma-separated integers, got {text!r}") from None
    if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise NasError(f"--seeds: expected distinct non-negative integers, got {text!r}")
    return seeds


def load_codebase(name: str) -> tuple[Codebase, Path]:
    """(the codebase's description, its runner script) for ``--codebase``; a one-line error otherwise."""
    import importlib

    module = CODEBASES.get(name.strip().lower())
    if module is None:
        raise NasError(f"--codebase: expected one of {', '.join(CODEBASES)}, got {name!r}")
    return importlib.import_module(module).CODEBASE, Path(__file__).resolve().parent / f"{module}.py"


def parse_algos(text: str | None, codebase: Codebase = AUTODL) -> list[str]:
    """``"gdas,darts-v1"`` -> the list (None: all of the codebase's); unknown names name ``--algos``."""
    if text is None:
        return list(codebase.ours)
    algos = [a.strip().lower() for a in text.split(",") if a.strip()]
    bad = [a for a in algos if a not in codebase.ours]
    if not algos or bad:
        raise NasError(f"--algos: expected some of {', '.join(codebase.ours)}, got {text!r}")
    return algos


def check_official(path: str | os.PathLike[str], codebase: Codebase = AUTODL) -> Path:
    """The checkout's root, or a one-line error when ``path`` is not a checkout of ``codebase``."""
    root = Path(path).expanduser()
    missing = [n for n in codebase.needed if not (root / n).is_file()]
    if missing:
        raise NasError(f"--official: {path} is not a checkout of {codebase.repository} (no {missing[0]})")
    return root.resolve()


def nodes_to_nb201(nodes: Sequence[Sequence[Sequence[Any]]]) -> str:
    """Their genotype's nodes ``[[(op, input), ...], ...]`` as a validated NB201 arch string.

    The runner also records their own ``Structure.tostr()``; the harness checks the two agree, so
    a change in their string format cannot silently send a wrong cell to the table.
    """
    parts = []
    for node in nodes:
        tokens = []
        for edge in node:
            if len(edge) != 2:
                raise NasError(f"their genotype: expected (operation, input) pairs, got {edge!r}")
            tokens.append(f"{edge[0]}~{int(edge[1])}")
        parts.append("|" + "|".join(tokens) + "|")
    return to_nb201_string(from_nb201_string("+".join(parts)))  # validates ops and the edge layout


def describe(values: Sequence[float]) -> dict[str, float | int]:
    """n, mean, sample std, min, max (rounded for the result file)."""
    n = len(values)
    return {
        "n": n,
        "mean": round(statistics.fmean(values), 3) if n else math.nan,
        "std": round(statistics.stdev(values), 3) if n > 1 else 0.0,
        "min": round(min(values), 3) if n else math.nan,
        "max": round(max(values), 3) if n else math.nan,
    }


def compare(ours: Sequence[float], theirs: Sequence[float], alpha: float = ALPHA) -> dict[str, Any]:
    """Ours vs theirs over seeds: the two descriptions, the difference, the two p-values and a verdict."""
    from scipy import stats

    if len(ours) < 2 or len(theirs) < 2:
        raise NasError(f"compare: need at least 2 seeds a side, got {len(ours)} ours and {len(theirs)} theirs")
    u = stats.mannwhitneyu(ours, theirs, alternative="two-sided", method="auto")
    perm = stats.permutation_test(
        (list(ours), list(theirs)),
        lambda a, b: statistics.fmean(a) - statistics.fmean(b),
        permutation_type="independent",
        alternative="two-sided",
        n_resamples=math.inf,
        vectorized=False,
    )
    p_u, p_perm = float(u.pvalue), float(perm.pvalue)
    beyond = p_u < alpha and p_perm < alpha
    diff = statistics.fmean(ours) - statistics.fmean(theirs)
    if beyond:
        verdict = f"beyond noise: ours {'above' if diff > 0 else 'below'} theirs by {abs(diff):.2f} points"
    else:
        verdict = f"within noise (difference of means {diff:+.2f} points)"
    return {
        "ours": describe(ours),
        "theirs": describe(theirs),
        "mean_difference": round(diff, 3),
        "mannwhitney_u": float(u.statistic),
        "mannwhitney_p": round(p_u, 4),
        "permutation_p": round(p_perm, 4),
        "alpha": alpha,
        "beyond_noise": beyond,
        "verdict": verdict + f" (Mann-Whitney p={p_u:.3f}, permutation p={p_perm:.3f}, n={len(ours)}+{len(theirs)})",
    }


def read_ours(
    path: str | os.PathLike[str], algos: Sequence[str], seeds: Sequence[int], codebase: Codebase = AUTODL
) -> dict[tuple[str, int], dict]:
    """Our rows for every (algo, seed) from a ``weight_sharing_nb201.json``; a missing one is a one-line error."""
    doc = read_json(path, "--ours result file")
    runs = doc.get("runs") if isinstance(doc, dict) else None
    if not isinstance(runs, list):
        raise NasError(f"--ours {path}: expected a weight_sharing_nb201 result file with a 'runs' list")
    commit = (doc.get("machine") or {}).get("git_commit")
    by_key = {(r.get("method"), r.get("seed")): r for r in runs if isinstance(r, dict)}
    out = {}
    for algo in algos:
        for seed in seeds:
            row = by_key.get((codebase.ours[algo], seed))
            if row is None or row.get("cell") is None:
                raise NasError(f"--ours {path}: no row for method {codebase.ours[algo]!r} seed {seed}")
            out[(algo, seed)] = {
                "cell": row["cell"],
                "search_time_s": row.get("search_time_s"),
                "run_dir": row.get("run_dir"),
                "source": f"read from {path} (date {doc.get('date')}, commit {commit})",
            }
    return out


def run_ours(algo: str, seed: int, data_dir: str, work: Path, codebase: Codebase = AUTODL) -> dict[str, Any]:
    """Rerun our search for (algo, seed) with the benchmark's config and return its row."""
    import bench_weight_sharing_nb201 as bench

    row = bench.run_one(codebase.ours[algo], seed, {"data_dir": data_dir}, work / "ours", None)
    return {"cell": row["cell"], "search_time_s": row["search_time_s"], "run_dir": row["run_dir"], "source": "rerun"}


def run_theirs(
    official: Path, algo: str, seed: int, data_dir: str, work: Path, start: bool = True, runner: Path | None = None
) -> dict[str, Any]:
    """Their search for (algo, seed) in its own process (reused when its result.json exists)."""
    out = work / f"{algo}-seed{seed}"
    result = out / "result.json"
    if not result.is_file() and not start:
        raise NasError(f"their {algo} seed {seed}: not run (--only-finished and no {result})")
    if not result.is_file():
        log = work / f"{algo}-seed{seed}.log"
        work.mkdir(parents=True, exist_ok=True)
        script = runner or Path(__file__).resolve().parent / f"{CODEBASES['autodl']}.py"
        cmd = [sys.executable, str(script), "--official", str(official), "--algo", algo, "--seed", str(seed)]
        cmd += ["--data-dir", data_dir, "--out", str(out)]
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        with open(log, "w", encoding="utf-8") as fh:
            code = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, check=False).returncode
        if code != 0 or not result.is_file():
            raise NasError(f"their {algo} seed {seed}: the search failed (exit {code}); see {log}")
    return read_json(result, f"their {algo} seed {seed} result")


def markdown(doc: dict[str, Any]) -> str:
    """The .md twin of the result file: the verdicts, every seed side by side, the edits."""
    lines = [
        "# Fidelity: the authors' NAS-Bench-201 search code against ours (CIFAR-10, CPU size)",
        "",
        f"Command: `{doc['command']}`  ",
        f"Date: {doc['date']}; machine: {doc['machine'].get('cpu_model')} x{doc['machine'].get('cpu_count')}, "
        f"torch {doc['machine'].get('torch')}, one thread per search.  ",
        f"Their code: {doc.get('their_repository', AUTODL.repository)} at commit `{doc['their_commit']}`, "
        f"`{doc.get('their_script', AUTODL.script)}`.  ",
        f"Ours: {doc['ours_source']}.",
        "",
        "Test accuracy: the NAS-Bench-201 table's 200-epoch CIFAR-10 test accuracy of the derived cell. "
        f"Both sides search the same {doc['slice']}. p-values are two-sided, over seeds; with "
        "5 seeds a side only large, consistent differences can reach p < 0.05 (the smallest possible "
        "Mann-Whitney p is 0.008; with 2 a side no p-value can fall below 0.33), so 'within noise' is weak "
        "evidence of agreement, not proof. " + doc.get("published", AUTODL.published),
        "",
        "| algorithm | seeds | ours (mean ± std) | theirs (mean ± std) | ours - theirs | Mann-Whitney p | "
        "permutation p | verdict |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for algo, s in doc["summary"].items():
        o, t = s["ours"], s["theirs"]
        lines.append(
            f"| {algo} | {o['n']} | {o['mean']:.2f} ± {o['std']:.2f} | {t['mean']:.2f} ± {t['std']:.2f} | "
            f"{s['mean_difference']:+.2f} | {s['mannwhitney_p']:.3f} | {s['permutation_p']:.3f} | "
            f"{'beyond noise' if s['beyond_noise'] else 'within noise'} |"
        )
    for algo, s in doc["summary"].items():
        e = s.get("ours_every_seed")
        if e and e["n"] != s["ours"]["n"]:
            lines.append(
                f"\n{algo}: theirs ran on {s['theirs']['n']} seeds only; ours over all {e['n']} seeds: "
                f"{e['mean']:.2f} ± {e['std']:.2f} (min {e['min']:.2f})."
            )
    lines += ["", "## Every seed", "", "| algorithm | seed | ours % | our cell | theirs % | their cell | their s |"]
    lines.append("|---|---|---|---|---|---|---|")
    for r in doc["runs"]:
        lines.append(
            f"| {r['algo']} | {r['seed']} | {r['ours_c10_test']:.2f} | `{r['ours_cell']}` | "
            f"{r['theirs_c10_test']:.2f} | `{r['theirs_cell']}` | {r['theirs_search_wall_s']} |"
        )
    if doc.get("not_run"):
        lines += ["", "Their searches not run or failed: " + ", ".join(doc["not_run"]) + "."]
    lines += [
        "",
        "Their wall times (s) are as their runs recorded them, often with other jobs sharing the 2 cores: "
        "not a speed comparison.",
        "",
        f"## {doc.get('trail', 'Their derived cell after each epoch')} (table test accuracy %)",
        "",
    ]
    for r in doc["runs"]:
        trail = ", ".join(f"{v:.1f}" for v in r.get("theirs_per_epoch_test", []))
        lines.append(f"- {r['algo']} seed {r['seed']}: {trail}")
    lines += ["", "## Edits to their code (all at run time, in a separate process; their files are unchanged)", ""]
    lines += [f"{i}. {e}" for i, e in enumerate(doc["edits"], start=1)]
    lines += ["", "Their settings otherwise as in the checkout: " + doc["their_settings"], ""]
    if doc.get("implementation_differences"):
        lines += ["## Where the two implementations differ (not edits; where to look first)", ""]
        lines += [f"- {d}" for d in doc["implementation_differences"]] + [""]
    return "\n".join(lines)


def write_results(prefix: str | os.PathLike[str], payload: dict[str, Any]) -> tuple[Path, Path]:
    """Write ``prefix.json`` (with command, date, machine) and ``prefix.md`` from it, both atomically."""
    base = Path(prefix)
    jpath = write_result(base.with_suffix(".json"), payload)
    doc = json.loads(jpath.read_text(encoding="utf-8"))
    mpath = write_text(base.with_suffix(".md"), markdown(doc))
    return jpath, mpath


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        codebase, runner = load_codebase(args.codebase)
        official = check_official(args.official, codebase)
        seeds, algos = parse_seeds(args.seeds), parse_algos(args.algos, codebase)
        if args.jobs < 1:
            raise NasError(f"--jobs: expected at least 1, got {args.jobs}")
        table_path = find_table(args.data_dir)
        if table_path is None:
            raise NasError(f"--data-dir: no NAS-Bench-201 table (nasbench201/nb201.csv) under {args.data_dir}")
        table = NB201Table.load(table_path)
        ours = read_ours(args.ours, algos, seeds, codebase) if args.ours else {}
    except NasError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    work = Path(args.work)
    jobs = [(a, s) for s in seeds for a in algos]
    theirs: dict[tuple[str, int], dict[str, Any]] = {}
    failed: list[str] = []
    with cf.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        start = not args.only_finished
        futures = {pool.submit(run_theirs, official, a, s, args.data_dir, work, start, runner): (a, s) for a, s in jobs}
        for fut in cf.as_completed(futures):
            a, s = futures[fut]
            try:
                theirs[(a, s)] = fut.result()
                print(f"theirs {a} seed {s}: {theirs[(a, s)]['cell']}", flush=True)
            except NasError as exc:
                failed.append(f"{a} seed {s}" if args.only_finished else f"{a} seed {s} ({exc})")
                print(f"error: {exc}", file=sys.stderr)
    if not args.ours:
        for a, s in jobs:
            ours[(a, s)] = run_ours(a, s, args.data_dir, work, codebase)
    rows = []
    for a, s in jobs:
        if (a, s) not in theirs:
            continue
        t = theirs[(a, s)]
        converted = nodes_to_nb201(t["nodes"])
        if converted != t["cell"]:
            print(f"error: their {a} seed {s}: tostr() {t['cell']} != nodes {converted}", file=sys.stderr)
            return 2
        o = ours[(a, s)]
        rows.append(
            {
                "algo": a,
                "seed": s,
                "ours_cell": o["cell"],
                "ours_c10_test": table.query(o["cell"]).c10_test,
                "ours_search_time_s": o["search_time_s"],
                "theirs_cell": converted,
                "theirs_c10_test": table.query(converted).c10_test,
                "theirs_search_wall_s": t["search_wall_s"],
                "theirs_per_epoch_cell": t["per_epoch_cell"],
                "theirs_per_epoch_test": [table.query(c).c10_test for c in t["per_epoch_cell"]],
                "theirs_per_epoch_valid_acc": t["per_epoch_valid_acc"],
                "theirs_run_dir": str(work / f"{a}-seed{s}"),
            }
        )
    summary = {}
    for a in algos:
        mine = [r for r in rows if r["algo"] == a]
        if len(mine) >= 2:
            summary[a] = compare([r["ours_c10_test"] for r in mine], [r["theirs_c10_test"] for r in mine])
            # Ours over every requested seed, for context when some of theirs did not run.
            every = [table.query(ours[(a, s)]["cell"]).c10_test for s in seeds if (a, s) in ours]
            summary[a]["ours_every_seed"] = describe(every)
    commits = {t.get("their_commit") for t in theirs.values()}
    payload = {
        "seeds": seeds,
        "algos": algos,
        "their_commit": ", ".join(sorted(c for c in commits if c)) or "unknown",
        "their_repository": codebase.repository,
        "their_script": codebase.script,
        "their_settings": codebase.settings,
        "published": codebase.published,
        "ours_configs": {a: codebase.configs[a] for a in algos},
        "ours_source": (
            f"rows read from {args.ours} (not rerun)"
            if args.ours
            else "rerun by this command with the configs of bench_weight_sharing_nb201.py"
        ),
        "slice": codebase.slice,
        "trail": codebase.trail,
        "table": str(table_path),
        "edits": list(codebase.edits),
        "implementation_differences": list(codebase.differences),
        "summary": summary,
        "runs": rows,
        "not_run": failed,
        "finished": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    default = "compare_official_nb201" + ("" if args.codebase == "autodl" else "_" + args.codebase.replace("-", "_"))
    jpath, mpath = write_results(args.results or ROOT / "benchmarks" / "results" / default, payload)
    for a, s in summary.items():
        print(f"{a}: {s['verdict']}")
    print(f"wrote {jpath} and {mpath}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
