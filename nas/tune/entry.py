"""``nas search`` for trial-based controllers: validate, start (or join) Ray, run Tune, report.

The search is one Ray Tune experiment in ``RUN_DIR/tune`` (``storage_path`` is the run
directory, so nothing goes to ``~/ray_results``). Locally an embedded Ray instance is
started with its session files under the run directory (through a short symlink when
the run directory's path is too long for Ray's socket names) and shut down at the end;
with ``address`` the driver joins a cluster started with ``ray start`` instead.

Running the same command again after an interruption (even SIGKILL) restores the
experiment: finished trials are kept, unfinished ones resume from their checkpoints,
and the searcher (controller or Optuna study) continues from its saved state.

Outputs in the run directory: ``leaderboard.json``/``.csv`` (every trial: genotype,
validation accuracy, parameters, FLOPs, epochs trained, trial time, status),
``genotype.json`` (the best genotype, canonical JSON: ``nas train --genotype RUN_DIR``
retrains it), ``pareto.json``/``.csv`` for multi-objective searches,
``nb201_result.json`` for NAS-Bench-201 protocol runs, and ``summary.json``.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import hashlib
import io
import json
import logging
import os
import socket
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from nas.errors import NasError
from nas.tune.config import SearchConfig, load_config, load_config_file

__all__ = ["load_config", "run", "run_search", "check_address"]

#: Ray's socket paths (``TMP/session_<date>_<pid>/sockets/plasma_store``) must fit in 107 bytes.
MAX_RAY_TMPDIR = 40
#: Seconds to wait for a cluster given with ``address``.
CONNECT_TIMEOUT_S = 5.0

Echo = Callable[[str], None]


# --------------------------------------------------------------------------- #
# The run directory
# --------------------------------------------------------------------------- #


def _check_run_dir(config: SearchConfig, run_dir: Path) -> str:
    """Write or compare ``search_config.json``; returns the run id (kept across resumes)."""
    path = run_dir / "search_config.json"
    if path.is_file():
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
            old = saved["compared"]
        except (OSError, ValueError, KeyError, TypeError):
            raise NasError(f"{path}: unreadable; remove the run directory or use another --out") from None
        new = config.compared()
        diffs = [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
        if diffs:
            raise NasError(
                f"{run_dir}: holds a search with a different config ({', '.join(diffs)} differ); use another --out"
            )
        return str(saved["run_id"])
    if run_dir.exists() and any(p.name != "ray" for p in run_dir.iterdir()):
        raise NasError(f"{run_dir}: is not empty and holds no search_config.json; use another --out")
    run_id = uuid.uuid4().hex[:12]
    doc = {"run_id": run_id, "config": config.model_dump(mode="json"), "compared": config.compared()}
    _write_json(path, doc)
    return run_id


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# --------------------------------------------------------------------------- #
# Checks that must fail fast, before Ray starts
# --------------------------------------------------------------------------- #


def check_address(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """A one-line error unless a Ray cluster answers at ``host:port`` (``auto`` is checked by Ray)."""
    if address in ("auto", "local"):
        return
    target = address.removeprefix("ray://")
    host, sep, port = target.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise NasError(f"--address {address}: expected HOST:PORT (e.g. 10.0.0.1:6379) or auto")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise NasError(
            f"--address {address}: no Ray cluster answers there ({reason}); start one with `ray start --head` "
            "or drop --address to use a local instance"
        ) from None


def _table_path(config: SearchConfig) -> str:
    from nas.nb201_table import NB201Table, find_table

    path = Path(config.trial.table) if config.trial.table else find_table(config.data_dir)
    if path is None:
        raise NasError("trial.table: NAS-Bench-201 table not found; give trial.table or set NAS_DATA_DIR")
    NB201Table.load(path)  # unreadable or malformed tables are one-line errors now, not in a worker
    return str(Path(path).absolute())


def _data_dir(config: SearchConfig) -> str:
    from nas.data import resolve_data_dir

    return str(resolve_data_dir(config.data_dir))


def _check_training(config: SearchConfig, data_dir: str) -> Any:
    """Validate the recipe and its overrides and load the dataset once (warms the decode cache)."""
    from nas.data import load_dataset
    from nas.recipes import load_recipe

    recipe = load_recipe(config.trial.recipe)
    changes = dict(config.trial.train)
    if config.trial_epochs:
        changes["epochs"] = config.trial_epochs
    try:
        train_config = recipe.train_config(**changes)
    except NasError as exc:
        raise NasError(f"trial.train: {exc}") from None
    if train_config.val_fraction <= 0:
        raise NasError("trial.train.val_fraction: trials are scored on validation accuracy; expected > 0")
    load_dataset(recipe.dataset, data_dir, cache_dir=config.cache_dir)
    return train_config


# --------------------------------------------------------------------------- #
# Ray
# --------------------------------------------------------------------------- #


def _ray_tmpdir(config: SearchConfig, run_dir: Path) -> tuple[str, Path | None]:
    """Ray's temp dir: ``RUN_DIR/ray``, reached through a short ``/tmp`` symlink when needed."""
    if config.ray_tmpdir:
        return str(Path(config.ray_tmpdir).absolute()), None
    target = run_dir / "ray"
    target.mkdir(parents=True, exist_ok=True)
    if len(str(target)) <= MAX_RAY_TMPDIR:
        return str(target), None
    # One link name per run directory, so a run killed before it could remove its link
    # leaves a single stale link that the rerun takes over.
    digest = hashlib.sha1(str(target).encode("utf-8")).hexdigest()[:12]
    link = Path(tempfile.gettempdir()) / f"nas-ray-{digest}"
    if link.is_symlink():
        link.unlink()
    elif link.exists():  # not ours: fall back to a fresh name
        link = Path(tempfile.mkdtemp(prefix="nas-ray-"))
        link.rmdir()
    link.symlink_to(target, target_is_directory=True)
    return str(link), link


@contextlib.contextmanager
def ray_session(config: SearchConfig, run_dir: Path) -> Iterator[dict[str, Any]]:
    """Start an embedded Ray instance (or join ``config.address``) with quiet, self-contained settings."""
    env = {
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_AIR_NEW_OUTPUT": "0",
        "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",
        "TUNE_GLOBAL_CHECKPOINT_S": str(config.experiment_checkpoint_s),
        "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "1000000",
    }
    import ray

    link = None
    if ray.is_initialized():  # a caller's Ray (e.g. a test session): use it as it is
        pass
    elif config.address is None:
        env["RAY_AUTH_MODE"] = os.environ.get("RAY_AUTH_MODE", "disabled")
        tmpdir, link = _ray_tmpdir(config, run_dir)
        env["RAY_TMPDIR"] = tmpdir
    else:
        check_address(config.address)
        name = "RAY_gcs_rpc_server_reconnect_timeout_s"  # Ray's own (lower-case) spelling
        env[name] = os.environ.get(name, "10")
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    started = False
    info: dict[str, Any] = {"address": config.address or "embedded"}
    try:
        if not ray.is_initialized():
            try:
                if config.address is None:
                    ray.init(
                        num_cpus=config.num_cpus,
                        num_gpus=config.num_gpus,
                        include_dashboard=False,
                        log_to_driver=False,
                        object_store_memory=config.object_store_mb * 2**20,
                        _temp_dir=env["RAY_TMPDIR"],
                        logging_level=logging.WARNING,
                    )
                else:
                    ray.init(address=config.address, log_to_driver=False, logging_level=logging.WARNING)
            except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
                where = f"--address {config.address}" if config.address else "ray"
                raise NasError(f"{where}: cannot start or join Ray ({first[:160]})") from None
            started = True
        info["resources"] = {k: v for k, v in ray.cluster_resources().items() if k in ("CPU", "GPU")}
        for key, field, need in (
            ("CPU", "cpus_per_trial", config.cpus_per_trial),
            ("GPU", "gpus_per_trial", config.gpus_per_trial),
        ):
            have = info["resources"].get(key, 0.0)
            if need > have:
                raise NasError(f"{field}: a trial needs {need:g} {key}s but the Ray cluster has {have:g}")
        yield info
    finally:
        if started:
            ray.shutdown()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if link is not None:
            with contextlib.suppress(OSError):
                link.unlink()


# --------------------------------------------------------------------------- #
# Tune
# --------------------------------------------------------------------------- #


def trial_dirname(trial: Any) -> str:
    """Short trial directory names (the default embeds the whole config)."""
    return f"trial_{trial.trial_id}"


def _echo_callback() -> Any:
    from ray import tune

    class EchoTrials(tune.Callback):
        """One line per finished or failed trial on the driver's stdout."""

        def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            m = trial.last_result or {}
            val = m.get("val_accuracy")
            val_text = "-" if val is None else f"{val:.2f}%"
            print(
                f"trial {m.get('key', trial.trial_id)}: val {val_text}  epochs {m.get('epoch', '-')}"
                f"  {m.get('trial_time_s', 0.0):.1f}s",
                flush=True,
            )

        def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            print(f"trial {trial.config.get('key', trial.trial_id)}: FAILED", flush=True)

    return EchoTrials()


def _settings(config: SearchConfig, run_dir: Path, table_path: str | None, data_dir: str | None) -> dict[str, Any]:
    return {
        "run_dir": str(run_dir),
        "space": config.space,
        "seed": config.seed,
        "threads": max(1, int(config.cpus_per_trial)),
        "recipe": config.trial.recipe,
        "epochs": config.trial_epochs,
        "train": dict(config.trial.train),
        "build_options": dict(config.trial.build_options),
        "data_dir": data_dir,
        "cache_dir": config.cache_dir,
        "table": table_path,
    }


def _searcher(config: SearchConfig, run_dir: Path, run_id: str, table_path: str | None) -> Any:
    from nas.tune.searchers import METRIC, ControllerSearcher, NasOptunaSearch, define_by_run

    if config.controller != "optuna" or config.trial.kind == "nb201_table":
        # The NAS-Bench-201 protocol (simulated budget; with skip_known, the cache) lives in
        # ControllerSearcher; Optuna then runs as our in-process controller behind it.
        protocol = None
        if config.trial.kind == "nb201_table":
            protocol = {
                "budget_s": config.trial.budget_s,
                "skip_known": config.trial.skip_known,
                "max_stale": config.trial.max_stale,
                "table": table_path,
            }
        return ControllerSearcher(
            config.controller,
            config.space,
            seed=config.seed,
            options=config.controller_options,
            max_trials=config.num_trials,
            max_concurrent=config.workers,
            protocol=protocol,
            state_file=str(run_dir / "controller_state.json"),
        )
    import optuna

    from nas.controllers.optuna_controller import SIZE_OBJECTIVES, check_objectives, make_sampler, sampler_key

    opts = config.controller_options
    key = sampler_key(opts.get("sampler", "tpe"))
    objectives = check_objectives(opts.get("objectives", "accuracy"))
    encoding = opts.get("encoding", "auto")
    if encoding == "auto":
        encoding = "int" if key == "cmaes" else "categorical"
    constraints = {k: float(opts[f"max_{k}"]) for k in SIZE_OBJECTIVES if opts.get(f"max_{k}") is not None}
    url = opts.get("storage") or f"sqlite:///{run_dir / 'optuna.db'}"
    try:
        storage = optuna.storages.RDBStorage(url)
    except Exception as exc:
        raise NasError(f"options.optuna.storage: cannot open {url!r} ({exc.__class__.__name__})") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space_fn = functools.partial(
        define_by_run,
        space=config.space,
        encoding=encoding,
        run_id=run_id,
        constraints=constraints or None,
        build_options=config.trial.build_options,
    )
    metrics: Any = METRIC if len(objectives) == 1 else [METRIC, *objectives[1:]]
    modes: Any = "max" if len(objectives) == 1 else ["max"] + ["min"] * (len(objectives) - 1)
    return NasOptunaSearch(
        space=space_fn,
        metric=metrics,
        mode=modes,
        sampler=make_sampler(key, config.seed, opts.get("sampler_options")),
        study_name=opts.get("study_name", "nas"),
        storage=storage,
        run_id=run_id,
        max_concurrent=config.workers,
    )


def _scheduler(config: SearchConfig, epochs: int | None) -> Any:
    if config.scheduler.kind == "none" or config.trial.kind != "train":
        return None
    from ray.tune.schedulers import ASHAScheduler, HyperBandScheduler

    max_t = epochs or 1
    if config.scheduler.kind == "asha":
        return ASHAScheduler(
            time_attr="epoch",
            max_t=max_t,
            grace_period=min(config.scheduler.grace_period, max_t),
            reduction_factor=config.scheduler.reduction_factor,
        )
    return HyperBandScheduler(time_attr="epoch", max_t=max_t, reduction_factor=config.scheduler.reduction_factor)


def _tuner(config: SearchConfig, run_dir: Path, run_id: str, settings: dict[str, Any], progress: bool) -> Any:
    from ray import tune

    from nas.tune import trainable
    from nas.tune.searchers import METRIC

    fn = trainable.nb201_trial if config.trial.kind == "nb201_table" else trainable.train_trial
    fn = tune.with_resources(fn, {"cpu": config.cpus_per_trial, "gpu": config.gpus_per_trial})
    param_space = {"settings": settings}
    experiment = run_dir / "tune"
    if tune.Tuner.can_restore(str(experiment)):
        return tune.Tuner.restore(
            str(experiment), trainable=fn, resume_errored=config.resume_errored, param_space=param_space
        ), True
    tabular = config.trial.kind == "nb201_table"
    tune_config = tune.TuneConfig(
        search_alg=_searcher(config, run_dir, run_id, settings["table"]),
        scheduler=_scheduler(config, settings["epochs"] or None),
        metric=METRIC,
        mode="max",
        num_samples=1_000_000 if tabular else config.num_trials,
        reuse_actors=True,
        trial_dirname_creator=trial_dirname,
    )
    run_config = tune.RunConfig(
        name="tune",
        storage_path=str(run_dir),
        verbose=0,
        failure_config=tune.FailureConfig(max_failures=config.max_failures),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
        callbacks=[_echo_callback()] if progress else [],
    )
    return tune.Tuner(fn, param_space=param_space, tune_config=tune_config, run_config=run_config), False


# --------------------------------------------------------------------------- #
# Results
# --------------------------------------------------------------------------- #

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
    "genotype",
    "trial_id",
    "error",
)


def _row(result: Any, run_dir: Path, tabular: bool) -> dict[str, Any] | None:
    from nas.formats import from_json

    config = result.config or {}
    text = config.get("genotype")
    if not text:
        return None
    genotype = from_json(text)
    m = dict(result.metrics or {})
    key = config.get("key")
    test = m.get("test_accuracy")
    if not tabular and key:
        path = run_dir / "trials" / key / "train" / "result.json"
        if path.is_file():
            with contextlib.suppress(OSError, ValueError):
                test = json.loads(path.read_text(encoding="utf-8")).get("test_top1")
    if result.error is not None or m.get("val_accuracy") is None:
        status = "failed"
    elif m.get("epoch", 0) < m.get("epochs_total", 0):
        status = "stopped early"
    else:
        status = "completed"
    error = None
    if result.error is not None:
        error = str(result.error).strip().splitlines()[-1][:300] if str(result.error).strip() else "error"
    return {
        "rank": None,
        "key": key,
        "status": status,
        "val_accuracy": m.get("val_accuracy"),
        "test_accuracy": test,
        "params": m.get("params"),
        "flops": m.get("flops"),
        "epochs": m.get("epoch"),
        "trial_time_s": m.get("trial_time_s"),
        "genotype": str(genotype),
        "genotype_json": json.loads(text),
        "trial_id": config.get("trial_id") or getattr(result, "path", "").rsplit("trial_", 1)[-1],
        "error": error,
    }


def leaderboard(results: Any, run_dir: Path, config: SearchConfig) -> list[dict[str, Any]]:
    """Every trial, best validation accuracy first; failed trials last; ``feasible`` against the budgets."""
    tabular = config.trial.kind == "nb201_table"
    rows = [r for r in (_row(res, run_dir, tabular) for res in results) if r is not None]
    for r in rows:
        r["feasible"] = _feasible(r, config)
    rows.sort(key=lambda r: (r["val_accuracy"] is None or r["status"] == "failed", -(r["val_accuracy"] or 0.0)))
    for i, r in enumerate(rows, start=1):
        r["rank"] = i
    return rows


def pareto_front(rows: Sequence[Mapping[str, Any]], objectives: Sequence[str]) -> list[dict[str, Any]]:
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


def _csv(rows: Sequence[Mapping[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=LEADERBOARD_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow(r)
    return buf.getvalue()


def _feasible(row: Mapping[str, Any], config: SearchConfig) -> bool:
    opts = config.controller_options if config.controller == "optuna" else {}
    for key in ("params", "flops"):
        budget = opts.get(f"max_{key}")
        if budget is not None and (row.get(key) is None or float(row[key]) > float(budget)):
            return False
    return True


def _nb201_result(config: SearchConfig, run_dir: Path) -> dict[str, Any] | None:
    from nas.controllers import create_controller
    from nas.nb201_protocol import BudgetedSearch
    from search_spaces import get_space

    path = run_dir / "controller_state.json"
    if not path.is_file():
        return None
    state = json.loads(path.read_text(encoding="utf-8"))
    ctrl = create_controller(config.controller, get_space(config.space), seed=config.seed)
    search = BudgetedSearch(ctrl)
    search.load_state_dict(state["search"])
    return search.result(config.controller, config.seed).as_dict()


def write_outputs(config: SearchConfig, run_dir: Path, results: Any) -> dict[str, Any]:
    """Leaderboard, best genotype, Pareto front, protocol result and summary in the run directory."""
    from nas.formats import from_dict, save_genotype

    tabular = config.trial.kind == "nb201_table"
    rows = leaderboard(results, run_dir, config)
    _write_json(run_dir / "leaderboard.json", rows)
    _write_text(run_dir / "leaderboard.csv", _csv(rows))
    summary: dict[str, Any] = {
        "controller": config.controller,
        "space": config.space,
        "seed": config.seed,
        "trials": len(rows),
        "completed": sum(r["status"] == "completed" for r in rows),
        "stopped_early": sum(r["status"] == "stopped early" for r in rows),
        "failed": sum(r["status"] == "failed" for r in rows),
        "best": None,
    }
    # The best genotype: the best feasible trial that trained to the end (a trial stopped early
    # by ASHA only competes when no trial completed).
    usable = [r for r in rows if r["status"] != "failed" and r["val_accuracy"] is not None and r["feasible"]]
    candidates = [r for r in usable if r["status"] == "completed"] or usable
    if candidates:
        best = candidates[0]
        save_genotype(from_dict(best["genotype_json"]), run_dir / "genotype.json")
        summary["best"] = {k: best[k] for k in LEADERBOARD_COLUMNS if k not in ("error",)}
    objectives = config.objectives
    if len(objectives) > 1:
        front = pareto_front([r for r in rows if r["feasible"] and r["status"] == "completed"], objectives)
        _write_json(run_dir / "pareto.json", {"objectives": objectives, "front": front})
        _write_text(run_dir / "pareto.csv", _csv(front))
        summary["pareto_size"] = len(front)
    if tabular:
        nb201 = _nb201_result(config, run_dir)
        if nb201 is not None:
            _write_json(run_dir / "nb201_result.json", nb201)
            summary["nb201"] = {k: nb201[k] for k in ("test", "best_arch", "best_reward", "queries", "elapsed_s")}
    _write_json(run_dir / "summary.json", summary)
    return summary


# --------------------------------------------------------------------------- #
# Entry points
# --------------------------------------------------------------------------- #


def run(config: SearchConfig, run_dir: str | Path, *, progress: bool = True, echo: Echo = print) -> dict[str, Any]:
    """Run or resume one search into ``run_dir`` (the function ``nas search`` dispatches to)."""
    run_dir = Path(run_dir).absolute()
    tabular = config.trial.kind == "nb201_table"
    table_path = _table_path(config) if tabular else None
    data_dir = None
    if not tabular:
        data_dir = _data_dir(config)
        _check_training(config, data_dir)
    if config.address is not None:
        check_address(config.address)
    run_dir.mkdir(parents=True, exist_ok=True)
    run_id = _check_run_dir(config, run_dir)
    settings = _settings(config, run_dir, table_path, data_dir)
    started = time.perf_counter()
    with ray_session(config, run_dir) as info:
        # Restoring warns about trials without Tune's own result files (we do not write them).
        logging.getLogger("ray.tune").setLevel(logging.ERROR)
        tuner, restored = _tuner(config, run_dir, run_id, settings, progress)
        echo(
            f"{'resuming' if restored else 'starting'} {config.controller} search of {config.space} in {run_dir} "
            f"(ray: {info['address']}, {info.get('resources', {})})"
        )
        results = tuner.fit()
        summary = write_outputs(config, run_dir, results)
    summary["wall_time_s"] = round(time.perf_counter() - started, 1)
    _write_json(run_dir / "summary.json", summary)
    best = summary.get("best")
    if best:
        echo(f"best: val {best['val_accuracy']:.2f}%  {best['genotype']}")
        echo(f"genotype: {run_dir / 'genotype.json'}  leaderboard: {run_dir / 'leaderboard.csv'}")
    else:
        echo("no trial finished; nothing exported")
    return summary


def run_search(
    config_path: str | Path,
    overrides: Sequence[str] = (),
    out: str | Path | None = None,
    *,
    address: str | None = None,
    workers: int | None = None,
    gpus_per_trial: float | None = None,
    seeds: Sequence[int] | None = None,
    progress: bool = True,
    echo: Echo = print,
) -> int:
    """Everything ``nas search --config FILE`` does for these controllers; returns the exit status."""
    from nas.config_io import parse_override

    values: dict[str, Any] = {}
    for text in overrides:
        key, value = parse_override(text)
        values[key] = value
    for key, value in (("address", address), ("workers", workers), ("gpus_per_trial", gpus_per_trial)):
        if value is not None:
            values[key] = value
    out_dir = Path(out) if out else Path("runs") / Path(config_path).stem
    if not seeds:
        run(load_config_file(config_path, values), out_dir, progress=progress, echo=echo)
        return 0
    configs = [load_config_file(config_path, {**values, "seed": s}) for s in seeds]
    for seed, config in zip(seeds, configs):
        echo(f"== seed {seed}: {out_dir / f'seed-{seed}'}")
        run(config, out_dir / f"seed-{seed}", progress=progress, echo=echo)
    return 0
