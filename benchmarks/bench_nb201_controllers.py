"""NAS-Bench-201 protocol: every trial-based controller over many seeds, in-process.

Reproduces the paper's comparison (Dong & Yang, 2020, CIFAR-10) under its rules: the
reward of a query is the 12-epoch validation accuracy, every proposal is a query that
costs its simulated 12-epoch training time (a cell proposed again is paid again), a
search stops when the next query would exceed 12,000 s, and the reported number is the
200-epoch test accuracy of the best-reward cell. Three rows per controller:

* ``paper``: the paper's settings (``nas.nb201_protocol.PAPER_OPTIONS``, from the official scripts);
* ``tuned``: our settings (``options`` of ``experiments/nb201_controllers.yaml``, chosen by
  ``benchmarks/tune_nb201_controllers.py`` on validation accuracy, seeds 10000-10099);
* ``lenient``: the earlier table's options under the lenient cache-and-skip rules (known
  cells free), kept for comparison only.

    python benchmarks/bench_nb201_controllers.py --seeds 500 --jobs 2
    python benchmarks/bench_nb201_controllers.py --seeds 500 --jobs 2 --settings tuned   # after a new tuning
    python benchmarks/bench_nb201_controllers.py --seeds 0 --ray-seeds 0,1,2 --controllers evolution,reinforce,optuna

Writes ``benchmarks/results/nb201_controllers_<setting>.json`` per setting it runs (with the
command, date and machine) and ``nb201_controllers.md`` from every such file present: the
tables against the published figures, the best-so-far curves and the sources of the
paper's settings.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from nas.config_io import read_yaml  # noqa: E402
from nas.controllers import list_controllers  # noqa: E402
from nas.nb201_protocol import (  # noqa: E402
    BUDGET_S,
    CHECKPOINTS_S,
    PAPER_OPTIONS,
    PUBLISHED,
    SearchResult,
    simulate,
    summarize,
)
from nas.nb201_table import NB201Table, find_table  # noqa: E402

#: The options of the README's earlier table, run under the lenient cache-and-skip rules
#: (how they were chosen was not recorded; they are kept only to show what the leniency gave).
LENIENT_OPTIONS: dict[str, dict[str, Any]] = {
    "random": {},
    "evolution": {"population_size": 30, "sample_size": 15, "avoid_duplicates": True},
    "reinforce": {"learning_rate": 0.08, "baseline_momentum": 0.9, "entropy_weight": 0.0},
    "lstm": {"hidden_size": 32, "learning_rate": 0.005, "entropy_weight": 0.0001, "tanh_constant": 2.5},
    "optuna": {"sampler": "tpe", "sampler_options": {"n_startup_trials": 10, "multivariate": True}},
}
SETTINGS = ("paper", "tuned", "lenient")
#: Result files: PREFIX_<setting>.json, and PREFIX.md made from all of them.
PREFIX = "nb201_controllers"
#: Published counterpart of each controller (Optuna TPE stands where the paper has BOHB).
PUBLISHED_AS = {"random": "random", "evolution": "evolution", "reinforce": "reinforce", "optuna": "bohb"}
#: The issue's target for the best controller (mean CIFAR-10 test accuracy, paper's rules).
BEST_TARGET = 94.10

PROTOCOL_NOTES = """\
## The paper's protocol and settings: what the official code does

Read in D-X-Y/AutoDL-Projects (the NAS-Bench-201 authors' code):

* Charging: `exps/NAS-Bench-201-algos/R_EA.py` (`train_and_eval`, shared by `RANDOM.py` and
  `reinforce.py`) charges every query `train-all-time + valid-per-time` of the 12-epoch
  training (`hp="12"`, dataset `cifar10-valid`) and returns its validation accuracy; nothing is
  cached, so a cell proposed twice is paid twice. `RANDOM.py` and `R_EA.py` stop before the
  query that would exceed `--time_budget 12000` (the scripts in `scripts-search/NAS-Bench-201-algos/`).
* Final answer: the cell with the best reward among all queries (`max(history, key=accuracy)`,
  `max(trace)`), reported by its 200-epoch results (`query_by_arch(best_arch, "200")`).
* Reward: `get_more_info(..., hp="12", is_random=True)`, i.e. the validation accuracy of **one
  randomly drawn training seed**. Our table holds the seed-averaged `c10_valid_12ep`, a less noisy
  reward: the one difference from the paper's rules that this table cannot remove.
* Random search: `Random.sh` has no options.
* Regularized evolution: `R-EA.sh` sets `--ea_population 10` and takes the sample size as an
  argument; `docs/NAS-Bench-201.md` runs it as `R-EA.sh cifar10 3 -1` (sample size 3). `R_EA.py`
  draws the tournament with replacement (`random.choice` `sample_size` times), mutates one edge to a
  different operation and keeps duplicates. Ours: `population_size: 10, sample_size: 3,
  avoid_duplicates: false, sample_with_replacement: true`.
* REINFORCE: `REINFORCE.sh` sets `--EMA_momentum 0.9` and takes the learning rate as an argument;
  `docs/NAS-Bench-201.md` runs it as `REINFORCE.sh 0.5 -1` (the script's own comment says 0.001;
  `hps/GRID-RL.sh` searched 0.01-0.5). `reinforce.py`: a softmax per edge, Adam, no entropy term,
  advantage `reward - EMA` where the bias-corrected EMA is updated with the reward first. Ours:
  `learning_rate: 0.5, baseline_momentum: 0.9, entropy_weight: 0, baseline_includes_reward: true`
  (the official logits start at 1e-3 x N(0,1), ours at 0). `reinforce.py` also puts the query that
  overran the budget into the candidates for the final answer (it is appended to `trace` before the
  budget check); we do not give it that unpaid query.
* BOHB: `BOHB.sh` sets `--n_iters 50 --num_samples 4 --random_fraction 0.0 --bandwidth_factor 3`
  (hpbandster). We have no BOHB: the `optuna` row is Optuna's TPE (single fidelity), with BOHB's
  settings carried over where TPE has them (`n_ei_candidates: 4`, hpbandster's default
  `min_points_in_model` = 6 decisions + 1 = `n_startup_trials: 7`, `multivariate: true`), and is
  compared with BOHB's published figure.
* LSTM: the paper has no multi-trial LSTM controller; the `paper` row uses the ENAS controller's
  settings from the same code (`ENAS.sh`: entropy weight 0.0001, baseline decay 0.99;
  `configs/nas-benchmark/algos/ENAS.config`: Adam lr 0.001; the controller's defaults: 32 units,
  tanh constant 2.5, temperature 5). Differences: ENAS uses 2 LSTM layers and Adam betas (0, 0.999),
  ours 1 layer and (0.9, 0.999); ENAS trains it on shared-weight rewards, here on table rewards.
"""


@dataclass(frozen=True)
class Job:
    """One search: which controller with which options under which rules, and what to send back."""

    name: str
    seed: int
    options: dict[str, Any]
    budget_s: float
    skip_known: bool = False
    columns: tuple[str, ...] = ("c10_valid", "c10_test")  # table columns of the returned cell
    full: bool = True  # also the whole SearchResult (its curve holds test accuracies)
    tag: str = field(default="", compare=False)


_TABLE: NB201Table | None = None


def _init(table_path: str) -> None:
    global _TABLE
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    _TABLE = NB201Table.load(table_path)


def _one(job: Job) -> dict[str, Any]:
    assert _TABLE is not None
    start = time.perf_counter()
    result = simulate(_TABLE, job.name, job.seed, options=job.options, budget_s=job.budget_s, skip_known=job.skip_known)
    seconds = time.perf_counter() - start
    rec = _TABLE.query(result.best_arch)
    out: dict[str, Any] = result.as_dict() if job.full else {}
    out.update(
        seed=job.seed,
        best_arch=result.best_arch,
        best_reward=result.best_reward,
        queries=result.queries,
        distinct=result.distinct,
        seconds=seconds,
        values={c: getattr(rec, c) for c in job.columns},
    )
    return out


def run_jobs(jobs: list[Job], table_path: str, workers: int) -> list[dict[str, Any]]:
    """Results of ``jobs`` in order, in ``workers`` processes (1: in this process); progress on stderr."""
    out: list[dict[str, Any]] = []
    step = max(1, len(jobs) // 20)

    def note(result: dict[str, Any]) -> None:
        out.append(result)
        if len(out) % step == 0 or len(out) == len(jobs):
            print(f"  {len(out)}/{len(jobs)} searches", file=sys.stderr, flush=True)

    if workers > 1:
        with ProcessPoolExecutor(workers, initializer=_init, initargs=(table_path,)) as pool:
            for result in pool.map(_one, jobs, chunksize=4):
                note(result)
        return out
    _init(table_path)
    for job in jobs:
        note(_one(job))
    return out


def provenance(argv: list[str] | None) -> dict[str, Any]:
    """Command, date and machine, for the results file."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    script = Path(sys.argv[0]).resolve()
    try:
        script_text = str(script.relative_to(REPO))
    except ValueError:
        script_text = str(script)
    args = sys.argv[1:] if argv is None else argv
    return {
        "command": " ".join(["python", script_text, *map(shlex.quote, args)]),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": platform.machine(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=500, help="number of seeds per row (seed-start .. seed-start+N-1)")
    p.add_argument("--seed-start", type=int, default=0)
    p.add_argument("--controllers", default=",".join(n for n in list_controllers() if n in PAPER_OPTIONS))
    p.add_argument("--settings", default=",".join(SETTINGS), help=f"rows per controller, any of {', '.join(SETTINGS)}")
    p.add_argument("--config", default=str(REPO / "experiments" / "nb201_controllers.yaml"), help="tuned options")
    p.add_argument("--table", default=None, help="nb201.csv (default: found like nas.nb201_table.find_table)")
    p.add_argument("--budget", type=float, default=BUDGET_S)
    p.add_argument("--jobs", type=int, default=1, help="worker processes (the machine may be shared)")
    p.add_argument(
        "--ray-seeds",
        default="",
        help="comma-separated seeds to run again through Ray Tune (tuned settings, sequential trials)",
    )
    p.add_argument(
        "--out-dir",
        default=str(REPO / "benchmarks" / "results"),
        help=f"writes {PREFIX}_<setting>.json per setting run, and {PREFIX}.md from every such file there",
    )
    return p.parse_args(argv)


def row_options(setting: str, name: str, tuned: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """(options, skip_known) of a row."""
    if setting == "paper":
        return dict(PAPER_OPTIONS[name]), False
    if setting == "tuned":
        return dict(tuned.get(name, {})), False
    return dict(LENIENT_OPTIONS[name]), True


def through_ray(names: list[str], seeds: list[int], config: str, table: str, budget: float) -> dict[str, Any]:
    """The same searches through Ray Tune (one table-lookup trial per paid query): identical results?"""
    import shutil
    import tempfile

    import ray

    from nas.tune.config import load_config_file
    from nas.tune.job import run

    for key, value in {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0", "RAY_AIR_NEW_OUTPUT": "0"}.items():
        os.environ.setdefault(key, value)
    work = Path(tempfile.mkdtemp(prefix="nas-nb201-ray-"))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _temp_dir=str(work / "ray"))
    out: dict[str, Any] = {}
    try:
        for name in names:
            for seed in seeds:
                overrides = {"controller": name, "seed": seed, "trial.table": table, "trial.budget_s": budget}
                cfg = load_config_file(config, overrides)
                start = time.perf_counter()
                run(cfg, work / f"{name}-{seed}", progress=False, echo=lambda _: None)
                wall = time.perf_counter() - start
                got = json.loads((work / f"{name}-{seed}" / "nb201_result.json").read_text(encoding="utf-8"))
                assert _TABLE is not None
                want = simulate(_TABLE, name, seed, options=cfg.controller_options, budget_s=budget).as_dict()
                want["curve"] = [list(p) for p in want["curve"]]
                same = got == want
                out[f"{name}/{seed}"] = {
                    "identical": same,
                    "test": got["test"],
                    "queries": got["queries"],
                    "wall_s": wall,
                }
                print(
                    f"ray {name} seed {seed}: test {got['test']:.2f}, {got['queries']} trials in {wall:.0f} s, "
                    f"identical to in-process: {same}",
                    flush=True,
                )
    finally:
        ray.shutdown()
        shutil.rmtree(work, ignore_errors=True)
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    table_path = args.table or find_table()
    if table_path is None:
        print("NAS-Bench-201 table not found: give --table or set NAS_NB201_TABLE", file=sys.stderr)
        return 2
    tuned = read_yaml(args.config).get("options", {})
    names = [n.strip() for n in args.controllers.split(",") if n.strip()]
    settings = [s.strip() for s in args.settings.split(",") if s.strip()]
    unknown = [s for s in settings if s not in SETTINGS]
    if unknown:
        print(f"--settings: unknown {', '.join(unknown)} (known: {', '.join(SETTINGS)})", file=sys.stderr)
        return 2
    seeds = list(range(args.seed_start, args.seed_start + args.seeds))
    config = Path(args.config).resolve()
    protocol = {
        "budget_s": args.budget,
        "reward": "c10_valid_12ep (seed-averaged; the paper draws one seed per query)",
        "cost": "cost_12ep_s, paid for every proposal (paper, tuned); lenient: known cells free",
        "reported": "c10_test of the best-reward cell",
        "seeds": [seeds[0], seeds[-1]] if seeds else [],
        "table": str(table_path),
        "tuned_options_from": str(config.relative_to(REPO)) if config.is_relative_to(REPO) else str(config),
    }
    # One pool for all rows, interleaved seed by seed, so a busy spell of the shared machine
    # is spread over every row's time per search.
    rows = [(s, n, *row_options(s, n, tuned)) for s in settings for n in names] if seeds else []
    out_dir = Path(args.out_dir)
    # A tuned row whose options are the paper's is the paper row (same rules, seeds, deterministic code).
    paper_rows = {r["controller"]: r for r in _rows_of(out_dir / f"{PREFIX}_paper.json")}
    same_as_paper = {
        n: paper_rows[n]
        for s, n, opts, skip in rows
        if s == "tuned"
        and n in paper_rows
        and opts == PAPER_OPTIONS[n]
        and paper_rows[n]["seeds"] == protocol["seeds"]
        and paper_rows[n]["budget_s"] == args.budget
    }
    rows = [row for row in rows if not (row[0] == "tuned" and row[1] in same_as_paper)]
    jobs = [Job(n, seed, opts, args.budget, skip, tag=f"{s}/{n}") for seed in seeds for (s, n, opts, skip) in rows]
    start = time.perf_counter()
    runs = run_jobs(jobs, str(table_path), args.jobs) if jobs else []
    wall = time.perf_counter() - start
    prov = provenance(argv)
    reports: dict[str, dict[str, Any]] = {
        s: {"provenance": prov, "protocol": protocol, "wall_s": wall, "rows": []} for s in settings if seeds
    }
    for name, paper_row in same_as_paper.items():
        reports["tuned"]["rows"].append({**paper_row, "setting": "tuned", "same_as": "paper"})
        print(f"tuned    {name:10s} the paper's options: the paper row ({paper_row['mean']:.2f})", flush=True)
    for setting, name, opts, skip in rows:
        mine = [r for j, r in zip(jobs, runs) if j.tag == f"{setting}/{name}"]
        summary = _summary(mine, setting, opts, skip)
        summary.update(provenance=prov, seeds=protocol["seeds"], budget_s=args.budget)
        reports[setting]["rows"].append(summary)
        pub = PUBLISHED.get(PUBLISHED_AS.get(name, ""))
        print(
            f"{setting:8s} {name:10s} {summary['mean']:.2f} ± {summary['std']:.2f}  "
            f"(published {f'{pub[0]:.2f}' if pub else '-'})  queries {summary['queries_mean']:.1f} "
            f"(distinct {summary['distinct_mean']:.1f})  {summary['seconds_per_search'] * 1000:.0f} ms/search",
            flush=True,
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    for setting, report in reports.items():
        path = out_dir / f"{PREFIX}_{setting}.json"
        # Rows of controllers not run now stay (each row names its own command, date and seeds).
        ran = {r["controller"] for r in report["rows"]}
        kept = [r for r in _rows_of(path) if r["controller"] not in ran]
        report["rows"] = kept + report["rows"]
        _write(path, json.dumps(report, indent=1) + "\n")
    if args.ray_seeds:
        _init(str(table_path))
        ray_seeds = [int(x) for x in args.ray_seeds.split(",") if x.strip()]
        ray_report = {
            "provenance": provenance(argv),
            "protocol": protocol,
            "through_ray": through_ray(names, ray_seeds, args.config, str(table_path), args.budget),
        }
        _write(out_dir / "nb201_through_ray.json", json.dumps(ray_report, indent=1) + "\n")
        _write(out_dir / "nb201_through_ray.md", ray_markdown(ray_report))
    found = {s: {"rows": rows} for s in SETTINGS if (rows := _rows_of(out_dir / f"{PREFIX}_{s}.json"))}
    if found:
        md = markdown(found)
        _write(out_dir / f"{PREFIX}.md", md)
        print()
        print(md)
    print(f"wrote {', '.join(f'{PREFIX}_{s}.json' for s in reports)} and {PREFIX}.md in {out_dir}")
    return 0


def _rows_of(path: Path) -> list[dict[str, Any]]:
    """The rows of a per-setting results file, each with its provenance and seeds (older files: the file's)."""
    if not path.is_file():
        return []
    report = json.loads(path.read_text(encoding="utf-8"))
    rows = []
    for row in report["rows"]:
        row.setdefault("provenance", report["provenance"])
        row.setdefault("seeds", report["protocol"]["seeds"])
        row.setdefault("budget_s", report["protocol"]["budget_s"])
        rows.append(row)
    return rows


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _summary(mine: list[dict[str, Any]], setting: str, opts: dict[str, Any], skip: bool) -> dict[str, Any]:
    fields = SearchResult.__dataclass_fields__
    results = [SearchResult(**{k: v for k, v in r.items() if k in fields}) for r in mine]
    summary = summarize(results, CHECKPOINTS_S)
    valid = [r["values"]["c10_valid"] for r in mine]
    summary.update(
        setting=setting,
        options=opts,
        skip_known=skip,
        valid_mean=sum(valid) / len(valid),
        seconds_per_search=sum(r["seconds"] for r in mine) / len(mine),
        per_seed=[
            {
                "seed": r["seed"],
                "test": r["test"],
                "valid": r["values"]["c10_valid"],
                "queries": r["queries"],
                "distinct": r["distinct"],
            }
            for r in mine
        ],
    )
    return summary


def _opts_text(opts: dict[str, Any]) -> str:
    return json.dumps(opts, separators=(", ", ": ")).replace('"', "") if opts else "-"


def markdown(reports: dict[str, dict[str, Any]]) -> str:
    """One page from the per-setting rows (as read by :func:`_rows_of`): the tables, the targets, the curves."""
    lines = [
        f"# NAS-Bench-201 controllers, CIFAR-10, {BUDGET_S:.0f} s simulated budget",
        "",
        "Rules: every proposal is a paid query (`paper`, `tuned` rows); the reward is the table's "
        "seed-averaged 12-epoch validation accuracy, where the paper samples one training seed per query; "
        "the reported number is the 200-epoch CIFAR-10 test accuracy of the best-reward cell. "
        "Tuned options: `experiments/nb201_controllers.yaml` (validation-only tuning on seeds 10000+, "
        "`benchmarks/results/nb201_tuning.md`). A row marked `(= paper)` has the paper's options, so it is the "
        "paper row. Time per search is the wall time in a worker process on a shared machine: it says how long a "
        "search takes, not which controller is faster. Rows were produced by:",
        "",
    ]
    rows = [r for report in reports.values() for r in report["rows"]]  # each with provenance and seeds
    commands: dict[str, list[str]] = {}
    for r in rows:
        prov = r["provenance"]
        key = (
            f"`{prov['command']}`, {prov['date']}, {prov['machine']} {prov['cpu']} ({prov['cpus']} CPUs), "
            f"Python {prov['python']}"
        )
        commands.setdefault(key, []).append(
            f"{r['controller']} ({r['setting']}, seeds {r['seeds'][0]}..{r['seeds'][1]})"
        )
    for key, produced in commands.items():
        lines.append(f"* {key}: {', '.join(produced)}")
    order = {n: i for i, n in enumerate(list_controllers())}
    strict = sorted(
        (r for r in rows if not r["skip_known"]), key=lambda r: (order.get(r["controller"], 99), r["setting"])
    )
    if strict:
        lines += _row_table(strict, "Under the paper's rules")
        best = max(strict, key=lambda r: r["mean"])
        ok = round(best["mean"], 2) >= BEST_TARGET
        lines += [
            "",
            f"Best mean under the paper's rules: {best['controller']} ({best['setting']}) {best['mean']:.2f}; "
            f"target {BEST_TARGET:.2f}: {'met' if ok else '**missed**'}.",
        ]
    lenient = [r for r in rows if r["skip_known"]]
    if lenient:
        lines += _row_table(
            lenient, "Lenient cache-and-skip rules (a known cell is free and not a query; not the paper's rules)"
        )
    if strict:
        lines += ["", "Best-so-far test accuracy (mean over seeds) against simulated time, paper's rules:", ""]
        heads = [f"{r['controller']} ({r['setting']})" for r in strict]
        lines.append("| time (s) | " + " | ".join(heads) + " |")
        lines.append("|---|" + "---|" * len(strict))
        for i, point in enumerate(strict[0]["curve"]):
            cells = ["-" if r["curve"][i]["test_mean"] is None else f"{r['curve'][i]['test_mean']:.2f}" for r in strict]
            lines.append(f"| {point['time_s']:.0f} | " + " | ".join(cells) + " |")
    lines += ["", PROTOCOL_NOTES]
    return "\n".join(lines) + "\n"


def ray_markdown(report: dict[str, Any]) -> str:
    prov = report["provenance"]
    lines = [
        f"# NAS-Bench-201 through Ray Tune, {report['protocol']['budget_s']:.0f} s simulated budget",
        "",
        f"Command: `{prov['command']}`, {prov['date']}, {prov['machine']} {prov['cpu']} ({prov['cpus']} CPUs)",
        "",
        "Tuned settings, the paper's rules (every proposal a trial), sequential trials, against the in-process runs:",
        "",
        "| controller/seed | test | trials | wall time | identical to in-process |",
        "|---|---|---|---|---|",
    ]
    for key, r in report["through_ray"].items():
        lines.append(f"| {key} | {r['test']:.2f} | {r['queries']} | {r['wall_s']:.0f} s | {r['identical']} |")
    return "\n".join(lines) + "\n"


def _row_table(rows: list[dict[str, Any]], title: str) -> list[str]:
    lines = [
        "",
        f"{title}:",
        "",
        "| controller | settings | seeds | test accuracy (mean ± std) | published | at least published | "
        "valid (200 ep) of the cell | queries | distinct cells | time per search | options |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        key = PUBLISHED_AS.get(r["controller"])
        pub = PUBLISHED.get(key or "")
        pub_text = f"{pub[0]:.2f} ± {pub[1]:.2f}" + (" (BOHB)" if key == "bohb" else "") if pub else "-"
        met = "-" if pub is None else ("yes" if round(r["mean"], 2) >= pub[0] else "**no**")
        lines.append(
            f"| {r['controller']} | {r['setting']}{' (= paper)' if r.get('same_as') == 'paper' else ''} "
            f"| {r['seeds'][0]}-{r['seeds'][1]} "
            f"| {r['mean']:.2f} ± {r['std']:.2f} | {pub_text} | {met} "
            f"| {r['valid_mean']:.2f} | {r['queries_mean']:.1f} | {r['distinct_mean']:.1f} "
            f"| {r['seconds_per_search'] * 1000:.0f} ms | `{_opts_text(r['options'])}` |"
        )
    return lines


if __name__ == "__main__":
    sys.exit(main())
