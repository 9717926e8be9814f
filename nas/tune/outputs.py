"""What a finished (or interrupted) trial search leaves in its run directory, from Tune's results.

- ``leaderboard.json`` / ``.csv``: every trial (in a zero-shot search, ``val_accuracy`` is
  the proxy score at initialisation and ``proxy`` names it) (genotype, validation and test accuracy,
  parameters, FLOPs, epochs trained, trial time, status, error), best validation first.
- ``genotype.json``: the best feasible trial that trained to the end (a trial stopped
  early by ASHA only competes when none did), canonical JSON.
- ``pareto.json`` / ``.csv``: the non-dominated trials of a multi-objective search.
- ``nb201_result.json``: the NAS-Bench-201 protocol's result for table searches.
- ``summary.json``: counts, the best trial, and the above in short.

Every file is written atomically; the rows are plain JSON data.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from nas.controllers import create_controller
from nas.errors import NasError
from nas.genotypes.codec import from_dict, from_json, save_genotype, to_text
from nas.nb201_protocol import BudgetedSearch
from nas.runs.atomic import read_json, write_json, write_text
from nas.search_spaces import get_space
from nas.tune.config import SearchConfig

LEADERBOARD_COLUMNS = (
    "rank",
    "key",
    "status",
    "feasible",
    "val_accuracy",
    "test_accuracy",
    "params",
    "flops",
    "epochs",
    "trial_time_s",
    "node",
    "genotype",
    "trial_id",
    "error",
    "proxy",
)

Row = dict[str, Any]


class Results(Protocol):
    """What the outputs read of Tune's ``ResultGrid``: its ``Result`` s by position."""

    def __len__(self) -> int: ...

    def __getitem__(self, i: int) -> Any: ...


@dataclass(frozen=True)
class Outputs:
    """The rows written: the leaderboard, its best trial, the Pareto front (multi-objective only), the summary."""

    leaderboard: list[Row]
    best: Row | None
    pareto: list[Row]
    summary: dict[str, Any]


def _status(result: Any, metrics: Mapping[str, Any]) -> str:
    if result.error is not None or metrics.get("val_accuracy") is None:
        return "failed"
    if metrics.get("epoch", 0) < metrics.get("epochs_total", 0):
        return "stopped early"
    return "completed"


def _test_accuracy(run_dir: Path, key: str | None, metrics: Mapping[str, Any], tabular: bool) -> Any:
    """The table's test accuracy, or the trainer's (``result.json``) for trained trials."""
    test = metrics.get("test_accuracy")
    if not tabular and key:
        path = run_dir / "trials" / key / "train" / "result.json"
        if path.is_file():
            with contextlib.suppress(NasError, AttributeError):
                test = read_json(path, "trial result").get("test_top1")
    return test


def _node(run_dir: Path, key: str | None, metrics: Mapping[str, Any], tabular: bool) -> str | None:
    """The Ray node a trained trial ran on (its last run, after a retry), from the trainer's ``config.json``."""
    if tabular or not key:
        return None
    path = run_dir / "trials" / key / "train" / "config.json"
    if not path.is_file():
        return None
    with contextlib.suppress(NasError, AttributeError):
        return read_json(path, "trial config").get("environment", {}).get("ray_node")
    return None


def _error(result: Any) -> str | None:
    if result.error is None:
        return None
    text = str(result.error).strip()
    return text.splitlines()[-1][:300] if text else "error"


def trial_row(result: Any, run_dir: Path, tabular: bool) -> Row | None:
    """One leaderboard row from a Tune ``Result`` (``None`` for a trial that never got a genotype)."""
    config = result.config or {}
    text = config.get("genotype")
    if not text:
        return None
    metrics = dict(result.metrics or {})
    key = config.get("key")
    return {
        "rank": None,
        "key": key,
        "status": _status(result, metrics),
        "val_accuracy": metrics.get("val_accuracy"),
        "test_accuracy": _test_accuracy(run_dir, key, metrics, tabular),
        "params": metrics.get("params"),
        "flops": metrics.get("flops"),
        "epochs": metrics.get("epoch"),
        "trial_time_s": metrics.get("trial_time_s"),
        "node": _node(run_dir, key, metrics, tabular),
        "genotype": to_text(from_json(text)),
        "genotype_json": json.loads(text),
        "trial_id": config.get("trial_id") or getattr(result, "path", "").rsplit("trial_", 1)[-1],
        "error": _error(result),
        "proxy": metrics.get("proxy"),  # zero-shot trials: val_accuracy is this score at initialisation
    }


def feasible(row: Mapping[str, Any], constraints: Mapping[str, float]) -> bool:
    """Whether a trial meets every size budget (a trial without the measurement does not)."""
    return all(row.get(k) is not None and float(row[k]) <= budget for k, budget in constraints.items())


def leaderboard(results: Results, run_dir: Path, config: SearchConfig) -> list[Row]:
    """Every trial, best validation accuracy first; failed trials last; ``feasible`` against the budgets."""
    tabular = config.trial.kind == "nb201_table"
    rows = [r for r in (trial_row(results[i], run_dir, tabular) for i in range(len(results))) if r is not None]
    for r in rows:
        r["feasible"] = feasible(r, config.constraints)
    rows.sort(key=lambda r: (r["val_accuracy"] is None or r["status"] == "failed", -(r["val_accuracy"] or 0.0)))
    for i, r in enumerate(rows, start=1):
        r["rank"] = i
    return rows


def pareto_front(rows: Sequence[Mapping[str, Any]], objectives: Sequence[str]) -> list[Row]:
    """Non-dominated trials: validation accuracy up, each size objective down."""
    ok = [r for r in rows if r["status"] != "failed" and all(r.get(o) is not None for o in objectives[1:])]
    ok = [r for r in ok if r["val_accuracy"] is not None]

    def vec(r: Mapping[str, Any]) -> tuple[float, ...]:
        return (-float(r["val_accuracy"]), *(float(r[o]) for o in objectives[1:]))

    front = []
    for r in ok:
        v = vec(r)
        dominated = any(all(a <= b for a, b in zip(vec(o), v)) and vec(o) != v for o in ok)
        if not dominated:
            front.append(dict(r))
    return sorted(front, key=lambda r: -float(r["val_accuracy"]))


def to_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """The leaderboard columns of ``rows`` as CSV text."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=LEADERBOARD_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow(r)
    return buf.getvalue()


def best_trial(rows: Sequence[Row]) -> Row | None:
    """The best feasible trial that trained to the end (one stopped early only when none did)."""
    usable = [r for r in rows if r["status"] != "failed" and r["val_accuracy"] is not None and r["feasible"]]
    candidates = [r for r in usable if r["status"] == "completed"] or usable
    return candidates[0] if candidates else None


def nb201_result(config: SearchConfig, run_dir: Path) -> dict[str, Any] | None:
    """The protocol's result, rebuilt from the searcher's saved state (``controller_state.json``)."""
    path = run_dir / "controller_state.json"
    if not path.is_file():
        return None
    state = read_json(path, "controller state")
    controller = create_controller(
        config.controller, get_space(config.space), seed=config.seed, options=config.controller_options
    )
    search = BudgetedSearch(controller)
    search.load_state_dict(state["search"])
    return search.result(config.controller, config.seed).as_dict()


def _summary(config: SearchConfig, rows: Sequence[Row]) -> dict[str, Any]:
    return {
        "controller": config.controller,
        "space": config.space,
        "seed": config.seed,
        "trials": len(rows),
        "completed": sum(r["status"] == "completed" for r in rows),
        "stopped_early": sum(r["status"] == "stopped early" for r in rows),
        "failed": sum(r["status"] == "failed" for r in rows),
        "best": None,
    }


def write_outputs(config: SearchConfig, run_dir: Path, results: Results) -> Outputs:
    """Leaderboard, best genotype, Pareto front, protocol result and summary in the run directory."""
    rows = leaderboard(results, run_dir, config)
    write_json(run_dir / "leaderboard.json", rows)
    write_text(run_dir / "leaderboard.csv", to_csv(rows))
    summary = _summary(config, rows)
    best = best_trial(rows)
    if best is not None:
        save_genotype(from_dict(best["genotype_json"]), run_dir / "genotype.json")
        summary["best"] = {k: best[k] for k in LEADERBOARD_COLUMNS if k != "error"}
    front: list[Row] = []
    objectives = config.objectives
    if len(objectives) > 1:
        front = pareto_front([r for r in rows if r["feasible"] and r["status"] == "completed"], objectives)
        write_json(run_dir / "pareto.json", {"objectives": objectives, "front": front})
        write_text(run_dir / "pareto.csv", to_csv(front))
        summary["pareto_size"] = len(front)
    if config.trial.kind == "nb201_table":
        nb201 = nb201_result(config, run_dir)
        if nb201 is not None:
            write_json(run_dir / "nb201_result.json", nb201)
            summary["nb201"] = {k: nb201[k] for k in ("test", "best_arch", "best_reward", "queries", "elapsed_s")}
    write_json(run_dir / "summary.json", summary)
    return Outputs(rows, best, front, summary)
