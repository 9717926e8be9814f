"""Trial-based search on Ray Tune: searchers, the NB201 protocol through Tune, real trials, resume, bad input.

Searches run the way ``nas search`` runs them: through :func:`nas.search_jobs.runner.run`
(which picks :class:`nas.tune.job.TrialJob`), or the command line itself. Tests marked
``ray`` share one local Ray instance (session fixture) and must run serially; the
SIGKILL resume tests start their own drivers (``python -m nas.cli search``).
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
import yaml

from nas.config_io import apply_overrides, parse_override, read_yaml
from nas.errors import NasError
from nas.genotypes.codec import load_genotype_file, to_json, to_text
from nas.search_jobs import runner
from nas.search_protocol.job import SearchResult

REPO = Path(__file__).resolve().parents[1]
QUIET_ENV = {
    "RAY_AUTH_MODE": "disabled",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_AIR_NEW_OUTPUT": "0",
    "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",
}


# --------------------------------------------------------------------------- #
# Fixtures
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="session")
def ray_local():
    """One local Ray instance for the session (idempotent; Ray's files in a short temp dir)."""
    os.environ.update(QUIET_ENV)
    import ray

    tmp = tempfile.mkdtemp(prefix="nas-rt-")
    os.environ["RAY_TMPDIR"] = tmp
    started = False
    if not ray.is_initialized():
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            log_to_driver=False,
            object_store_memory=200 * 2**20,
            _temp_dir=tmp,
        )
        started = True
    yield ray
    if started:
        ray.shutdown()
    shutil.rmtree(tmp, ignore_errors=True)


def write_config(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def search(config: Path, out: Path, overrides: Sequence[str] = (), *, echo=print, progress=False) -> SearchResult:
    """``nas search --config CONFIG --out OUT --set ...`` as the command line runs it (one seed)."""
    values, flags = {}, {}
    for text in overrides:
        key, value = parse_override(text)
        values[key], flags[key] = value, f"--set {text}"
    raw = apply_overrides(read_yaml(config), values)
    (result,) = runner.run(raw, out, source=config.name, overridden=flags, progress=progress, echo=echo)
    return result


def train_config(controller: str, space: str = "nb201", **extra) -> dict:
    """A tiny real-CIFAR-10 search: 200 training images, small networks, 1 epoch."""
    cfg = {
        "controller": controller,
        "space": space,
        "seed": 0,
        "num_trials": 3,
        "options": {"evolution": {"population_size": 2, "sample_size": 2}},
        "trial": {
            "kind": "train",
            "recipe": "quick",
            "epochs": 1,
            "train": {"train_subset": 200, "val_fraction": 0.2, "test_subset": 100, "batch_size": 50},
            "build_options": {"channels": 8, "cells_per_stage": 1} if space == "nb201" else {},
        },
        "workers": 2,
        "cpus_per_trial": 1,
    }
    cfg["trial"]["train"]["tensorboard"] = False
    for key, value in extra.items():
        cfg[key] = value
    return cfg


# --------------------------------------------------------------------------- #
# Searchers (no Ray runtime needed)
# --------------------------------------------------------------------------- #


def test_controller_searcher_limits_concurrency_and_finishes() -> None:
    from ray.tune.search import Searcher

    from nas.tune.searchers import ControllerSearcher

    s = ControllerSearcher("random", "vgg", seed=0, max_trials=3, max_concurrent=2)
    a, b = s.suggest("a"), s.suggest("b")
    assert a["key"].startswith("00000-") and b["key"].startswith("00001-")
    assert s.suggest("c") is None  # two running: wait
    s.on_trial_complete("a", {"val_accuracy": 50.0})
    assert s.suggest("c")["index"] == 2
    assert s.suggest("d") == Searcher.FINISHED
    s.on_trial_complete("b", None, error=True)
    assert s.controller.num_failed == 1 and s.controller.num_observed == 1
    s.on_trial_complete("zzz", {"val_accuracy": 1.0})  # unknown trial (retried after a restore): ignored
    assert s.controller.num_observed == 1


@pytest.mark.parametrize("controller", ["random", "evolution", "reinforce", "lstm"])
def test_controller_searcher_save_restore_replays_the_same_suggestions(tmp_path: Path, controller: str) -> None:
    from nas.tune.searchers import ControllerSearcher

    def fresh() -> ControllerSearcher:
        return ControllerSearcher(controller, "resnet", seed=1, options={}, max_trials=50)

    s = fresh()
    for i in range(6):
        s.suggest(f"t{i}")
        s.on_trial_complete(f"t{i}", {"val_accuracy": float(i * 7 % 11), "params": 1e5})
    s.save(str(tmp_path / "state.json"))  # Tune's experiment checkpoint
    state = s.get_state()  # Ray's convention, the same data as the file
    assert json.loads((tmp_path / "state.json").read_text()) == json.loads(json.dumps(state))
    lost = s.suggest("x1")  # asked, then the driver dies before the next checkpoint
    restored = fresh()
    restored.restore(str(tmp_path / "state.json"))
    replay = restored.suggest("y1")
    assert replay == lost  # same genotype, same key: the trial finds its own checkpoint
    assert json.loads((tmp_path / "state.json").read_text())["controller"]["num_observed"] == 6
    again = fresh()
    again.set_state(state)
    assert again.suggest("z1") == lost


def _optuna_searcher(db: Path, run_id: str = "run1"):
    import functools

    import optuna

    from nas.controllers.optuna_controller import make_sampler
    from nas.tune.searchers import NasOptunaSearch, define_by_run

    return NasOptunaSearch(
        space=functools.partial(define_by_run, space="nb201", encoding="categorical", run_id=run_id),
        metric="val_accuracy",
        mode="max",
        sampler=make_sampler("tpe", 0),
        study_name="nas",
        storage=optuna.storages.RDBStorage(f"sqlite:///{db}"),
        run_id=run_id,
        max_concurrent=2,
    )


def test_optuna_searcher_reuses_a_trial_asked_before_a_kill_and_never_tells_twice(tmp_path: Path) -> None:
    import optuna

    db = tmp_path / "optuna.db"
    s = _optuna_searcher(db)
    first = s.suggest("t1")
    s.save(str(tmp_path / "searcher.pkl"))  # experiment checkpoint
    orphan = s.suggest("t2")  # asked, then the driver is killed before the next checkpoint
    assert s.suggest("t3") is None  # concurrency limit of 2, without Tune's ConcurrencyLimiter
    del s

    s = _optuna_searcher(db)
    s.restore(str(tmp_path / "searcher.pkl"))
    again = s.suggest("t4")
    assert again["key"] == orphan["key"] and again["genotype"] == orphan["genotype"]
    s.on_trial_complete("t1", {"val_accuracy": 50.0, "epoch": 3, "epochs_total": 3})
    s.on_trial_complete("t1", {"val_accuracy": 50.0, "epoch": 3, "epochs_total": 3})  # repeated: ignored
    s.on_trial_complete("t4", {"val_accuracy": 40.0, "epoch": 1, "epochs_total": 3})  # stopped by ASHA
    study = optuna.load_study(study_name="nas", storage=f"sqlite:///{db}")
    states = [t.state for t in study.trials]
    assert len(study.trials) == 2  # no trial asked twice
    assert states == [optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED]
    assert first["key"] != again["key"]
    other = _optuna_searcher(db, run_id="someone-else")  # another run's orphans are never taken
    other.suggest("u1")
    assert len(optuna.load_study(study_name="nas", storage=f"sqlite:///{db}").trials) == 3


def test_trial_settings_are_frozen_and_pickle() -> None:
    from nas.tune.settings import TrialSettings

    settings = TrialSettings(run_dir="/r", space="nb201", seed=3, threads=1, recipe="quick", train={"lr": 0.1})
    assert pickle.loads(pickle.dumps(settings)) == settings
    with pytest.raises(ValueError):
        settings.seed = 4
    with pytest.raises(ValueError):
        TrialSettings(run_dir="/r", space="nb201", seed=3, threads=1, recipe="quick", epoch=2)  # a typo


def test_searchers_pickle() -> None:
    from nas.tune.searchers import ControllerSearcher

    s = ControllerSearcher("lstm", "nb201", seed=0)
    s.suggest("a")
    assert pickle.loads(pickle.dumps(s)).live == s.live


# --------------------------------------------------------------------------- #
# Bad input: one-line errors before anything starts
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"controller": "simulated_annealing"}, "controller: unknown controller 'simulated_annealing'"),
        ({"space": "mobilenet"}, "space: search space 'mobilenet' is unknown"),
        ({"controller": "optuna", "options": {"optuna": {"sampler": "grid-walk"}}}, "unknown sampler 'grid-walk'"),
        ({"workers": 0}, "workers: expected a positive integer"),
        ({"scheduler": {"kind": "pbt"}}, "scheduler.kind"),
    ],
)
def test_bad_config_values_are_one_line_errors(tmp_path: Path, overrides: dict, needle: str) -> None:
    from nas.tune.config import load_config_file

    cfg = train_config("random")
    cfg.update(overrides)
    with pytest.raises(NasError) as err:
        load_config_file(write_config(tmp_path / "c.yaml", cfg))
    assert needle in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        (
            {"options": {"evolution": {"population_size": 0}}},
            "c.yaml: options.evolution.population_size: expected a positive integer, got 0",
        ),
        (
            {"options": {"evolution": {"population_size": 4, "sample_size": 5}}},
            "options.evolution.sample_size: expected at most population_size (4), got 5",
        ),
        ({"options": {"evolution": {"pop": 3}}}, "options.evolution.pop: unknown key (known: population_size,"),
        (
            {"options": {"bayes": {}}},
            "options.bayes: unknown key (known: random, evolution, reinforce, lstm, optuna, proxy_evolution)",
        ),
        ({"options": {"reinforce": {"learning_rate": "fast"}}}, "options.reinforce.learning_rate: expected a number"),
        ({"options": {"optuna": {"sampler_options": {"bogus": 1}}}}, "options.optuna.sampler_options: not accepted"),
        ({"options": {"optuna": {"objectives": ["params"]}}}, "options.optuna.objectives: expected 'accuracy'"),
        ({"options": {"rea": {}, "evolution": {}}}, "options: expected each controller's options once"),
        ({"seed": 2**40}, "seed: expected a"),
    ],
)
def test_controller_options_are_validated_with_field_paths(tmp_path: Path, overrides: dict, needle: str) -> None:
    from nas.tune.config import load_config_file

    cfg = nb201_config(budget=500)
    cfg.update(overrides)
    with pytest.raises(NasError) as err:
        load_config_file(write_config(tmp_path / "c.yaml", cfg))
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_config_options_are_typed_with_defaults_and_alias_keys(tmp_path: Path) -> None:
    from nas.controllers import RegularizedEvolution
    from nas.tune.config import load_config, load_config_file

    cfg = load_config_file(REPO / "experiments" / "nb201_controllers.yaml")
    opts = cfg.controller_options
    assert isinstance(opts, RegularizedEvolution.Options)
    assert (opts.population_size, opts.sample_size, opts.max_mutation_tries) == (20, 10, 50)  # file, file, default
    with pytest.raises(ValueError):
        opts.population_size = 3  # frozen
    raw = {"controller": "rea", "space": "nb201", "options": {"regularized-evolution": {"population_size": 7}}}
    assert load_config(raw).controller_options.population_size == 7  # an alias as the key is that controller's
    optuna = load_config_file(REPO / "experiments" / "optuna_resnet_cifar10_cpu.yaml")
    assert optuna.objectives == ["accuracy", "params"] and optuna.constraints == {"params": 150000.0}
    # Only the chosen controller's options (defaults filled in) decide whether a run may resume.
    assert cfg.compared()["options"] == {"evolution": opts.model_dump(mode="json")}
    switched = load_config_file(REPO / "experiments" / "nb201_controllers.yaml", {"options.lstm.hidden_size": 64})
    assert switched.compared() == cfg.compared()


def test_every_experiment_file_still_validates() -> None:
    from nas.search_jobs import registry

    files = sorted((REPO / "experiments").glob("*.yaml"))
    trial_based = 0
    for path in files:
        raw = read_yaml(path)
        if raw.get("controller", "darts") == "darts":  # recipes and DARTS searches
            continue
        job = registry.get(raw["controller"])
        if job.uses_ray:
            job.load_config(raw, source=path.name, overridden={})
            trial_based += 1
    assert trial_based >= 6


def test_unknown_sampler_is_checked_before_ray(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c.yaml", train_config("optuna"))
    start = time.perf_counter()
    with pytest.raises(NasError, match="unknown sampler 'annealing'"):
        search(cfg, tmp_path / "run", ["options.optuna.sampler=annealing"])
    assert time.perf_counter() - start < 5


def test_unreachable_address_fails_fast(tmp_path: Path, nb201_csv: Path) -> None:
    from nas.tune.session import check_address

    cfg = write_config(tmp_path / "c.yaml", nb201_config(budget=500, table=str(nb201_csv)))
    start = time.perf_counter()
    with pytest.raises(NasError) as err:
        search(cfg, tmp_path / "run", ["address=127.0.0.1:9"])
    assert "--address 127.0.0.1:9: no Ray cluster answers there" in str(err.value)
    assert "\n" not in str(err.value)
    with pytest.raises(NasError, match="expected HOST:PORT"):
        check_address("nowhere")
    assert time.perf_counter() - start < 15


def test_unreadable_table_is_a_one_line_error(tmp_path: Path) -> None:
    bad = tmp_path / "nb201.csv"
    bad.write_text("arch_str\n|x|\n", encoding="utf-8")
    cfg = write_config(tmp_path / "c.yaml", nb201_config(budget=500))
    with pytest.raises(NasError, match="missing columns"):
        search(cfg, tmp_path / "run", [f"trial.table={bad}"])
    with pytest.raises(NasError, match="cannot read it"):
        search(cfg, tmp_path / "run2", [f"trial.table={tmp_path / 'none.csv'}"])


@pytest.mark.ray
def test_a_run_directory_of_another_config_is_refused(tmp_path: Path, nb201_csv: Path, ray_local) -> None:
    cfg = write_config(tmp_path / "c.yaml", nb201_config(budget=300, table=str(nb201_csv)))
    first = search(cfg, tmp_path / "run")
    assert not first.already_finished
    run_id = json.loads((tmp_path / "run" / "search_config.json").read_text())["run_id"]
    with pytest.raises(NasError, match="different config \\(seed: 0 there, 3 now\\)"):
        search(cfg, tmp_path / "run", ["seed=3"])
    key = first.leaderboard[0]["key"]
    leftovers = [tmp_path / "run" / ".leaderboard.json.k1ll3d.tmp", tmp_path / "run" / "trials" / key / ".x.tmp"]
    for path in leftovers:  # what a kill during an atomic write leaves
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    lines: list[str] = []
    again = search(cfg, tmp_path / "run", ["workers=2", "options.lstm.hidden_size=8"], echo=lines.append)
    assert not any(path.exists() for path in leftovers)
    assert again.already_finished and again.genotype == first.genotype and again.leaderboard == first.leaderboard
    assert not any(line.startswith("trial ") for line in lines)  # nothing ran again
    assert json.loads((tmp_path / "run" / "search_config.json").read_text())["run_id"] == run_id
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["wall_time_s"] == first.summary["wall_time_s"]  # the search's time, not the report's


@pytest.mark.ray
def test_a_run_directory_saved_by_the_previous_layout_resumes(tmp_path: Path, nb201_csv: Path, ray_local) -> None:
    """Before typed options, ``compared`` held every controller's options as written in the file."""
    cfg = write_config(tmp_path / "c.yaml", nb201_config(budget=300, table=str(nb201_csv)))
    search(cfg, tmp_path / "run")
    path = tmp_path / "run" / "search_config.json"
    doc = json.loads(path.read_text())
    doc["compared"]["options"] = nb201_config(budget=300)["options"]
    path.write_text(json.dumps(doc), encoding="utf-8")
    assert search(cfg, tmp_path / "run").already_finished
    shipped = doc["compared"]["options"]["evolution"]["population_size"]
    doc["compared"]["options"]["evolution"]["population_size"] = shipped + 1
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(NasError, match=f"options.evolution.population_size: {shipped + 1} there, {shipped} now"):
        search(cfg, tmp_path / "run")


# --------------------------------------------------------------------------- #
# NAS-Bench-201 through Ray Tune = in-process
# --------------------------------------------------------------------------- #


def nb201_config(budget: float, table: str | None = None, controller: str = "evolution") -> dict:
    options = yaml.safe_load((REPO / "experiments" / "nb201_controllers.yaml").read_text())["options"]
    return {
        "controller": controller,
        "space": "nb201",
        "seed": 0,
        "num_trials": 100000,
        "options": options,
        "trial": {"kind": "nb201_table", "table": table, "budget_s": budget},
        "workers": 1,
    }


@pytest.mark.ray
@pytest.mark.parametrize(("controller", "seed"), [("evolution", 0), ("reinforce", 1), ("optuna", 2)])
def test_nb201_protocol_through_ray_equals_in_process(
    tmp_path: Path, nb201_csv: Path, ray_local, controller: str, seed: int
) -> None:
    from nas.nb201_protocol import simulate as in_process
    from nas.nb201_table import NB201Table

    budget = 1500.0
    cfg = write_config(tmp_path / "c.yaml", nb201_config(budget, str(nb201_csv), controller))
    result = search(cfg, tmp_path / "run", [f"seed={seed}"])
    through_ray = json.loads((tmp_path / "run" / "nb201_result.json").read_text())
    options = nb201_config(budget)["options"][controller]
    expected = in_process(NB201Table.load(nb201_csv), controller, seed, options=options, budget_s=budget).as_dict()
    expected["curve"] = [list(p) for p in expected["curve"]]
    assert through_ray == expected
    board = json.loads((tmp_path / "run" / "leaderboard.json").read_text())
    assert len(board) == expected["queries"]  # one Tune trial per paid query; known cells made no trial
    assert json.loads(to_json(load_genotype_file(tmp_path / "run"))) == board[0]["genotype_json"]
    assert board[0]["rank"] == 1
    assert result.controller == controller and result.genotype == load_genotype_file(tmp_path / "run")
    assert list(result.leaderboard) == board and result.score == board[0]["val_accuracy"]
    assert result.nb201 is not None and result.nb201["test"] == expected["test"]


# --------------------------------------------------------------------------- #
# Real CIFAR-10 trials through Ray Tune
# --------------------------------------------------------------------------- #


@pytest.mark.ray
@pytest.mark.data
def test_real_trials_export_leaderboard_and_genotype(tmp_path: Path, cifar10_dir: Path, ray_local) -> None:
    from nas.tune.outputs import LEADERBOARD_COLUMNS

    cfg = write_config(tmp_path / "c.yaml", train_config("reinforce", data_dir=str(cifar10_dir)))
    result = search(cfg, tmp_path / "run")
    run = tmp_path / "run"
    board = json.loads((run / "leaderboard.json").read_text())
    assert len(board) == 3 and {r["status"] for r in board} == {"completed"}
    assert len({r["key"] for r in board}) == 3
    for r in board:
        assert 0 <= r["val_accuracy"] <= 100 and r["params"] > 0 and r["flops"] > 0 and r["epochs"] == 1
        assert r["trial_time_s"] > 0 and r["test_accuracy"] is not None
    header = (run / "leaderboard.csv").read_text().splitlines()[0].split(",")
    assert header == list(LEADERBOARD_COLUMNS)
    genotype = load_genotype_file(run)
    assert json.loads(to_json(genotype)) == board[0]["genotype_json"]
    assert (run / "genotype.json").read_text() == to_json(genotype) + "\n"  # canonical JSON
    state = json.loads((run / "controller_state.json").read_text())
    assert state["controller"]["num_observed"] == 3
    assert not (Path.home() / "ray_results").exists()
    assert result.trials == 3 and list(result.leaderboard) == board and result.pareto == ()


@pytest.mark.ray
@pytest.mark.data
def test_failing_trials_are_recorded_and_the_search_goes_on(tmp_path: Path, cifar10_dir: Path, ray_local) -> None:
    cfg = train_config("random", data_dir=str(cifar10_dir), num_trials=2)
    cfg["trial"]["train"].update({"lr": 1.0e12, "grad_clip": 0.0})  # diverges: NaN loss in every trial
    with pytest.raises(NasError, match="no trial finished, so no genotype was exported"):
        search(write_config(tmp_path / "c.yaml", cfg), tmp_path / "run")
    board = json.loads((tmp_path / "run" / "leaderboard.json").read_text())
    assert len(board) == 2 and all(r["status"] == "failed" for r in board)
    assert all("loss is" in (r["error"] or "") for r in board)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["failed"] == 2 and summary["best"] is None and not (tmp_path / "run" / "genotype.json").exists()


@pytest.mark.ray
@pytest.mark.data
def test_optuna_multi_objective_with_asha_and_sqlite(tmp_path: Path, cifar10_dir: Path, ray_local) -> None:
    import optuna

    cfg = train_config("optuna", data_dir=str(cifar10_dir), num_trials=3)
    cfg["trial"]["epochs"] = 2
    cfg["options"]["optuna"] = {"objectives": ["accuracy", "params"], "max_params": 60000}
    cfg["scheduler"] = {"kind": "asha", "grace_period": 1, "reduction_factor": 2}
    result = search(write_config(tmp_path / "c.yaml", cfg), tmp_path / "run")
    run = tmp_path / "run"
    board = json.loads((run / "leaderboard.json").read_text())
    study = optuna.load_study(study_name="nas", storage=f"sqlite:///{run / 'optuna.db'}")
    assert len(study.trials) == len(board) == 3
    finished = {t.state for t in study.trials}
    assert finished <= {optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED}
    pruned = sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials)
    assert pruned == sum(r["status"] == "stopped early" for r in board)
    front = json.loads((run / "pareto.json").read_text())
    assert front["objectives"] == ["accuracy", "params"] and front["front"]
    assert list(result.pareto) == front["front"]
    for r in front["front"]:
        assert r["params"] <= 60000
        assert not any(
            o["val_accuracy"] >= r["val_accuracy"]
            and o["params"] <= r["params"]
            and o["key"] != r["key"]
            and (o["val_accuracy"], o["params"]) != (r["val_accuracy"], r["params"])
            for o in board
            if o["status"] != "failed" and o["params"] <= 60000
        )


# --------------------------------------------------------------------------- #
# Resume after SIGKILL of the driver
# --------------------------------------------------------------------------- #


def _driver(config: Path, run: Path) -> subprocess.Popen:
    """``nas search`` in its own process (the one a user kills)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "nas.cli", "search", "--config", str(config), "--out", str(run), "--no-progress"]
    return subprocess.Popen(cmd, env=env, cwd=REPO)


def _kill_mid_trial(proc: subprocess.Popen, run: Path, timeout_s: float = 240) -> None:
    """SIGKILL the driver once one trial has finished and another is part-way through."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        progress = sorted(run.glob("trials/*/progress.json"))
        states = [json.loads(p.read_text()) for p in progress if p.stat().st_size]
        done = [s for s in states if s["epoch"] == s["epochs_total"]]
        partial = [s for s in states if 0 < s["epoch"] < s["epochs_total"]]
        if done and partial:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return
        if proc.poll() is not None:
            pytest.fail("the driver ended before it could be killed")
        time.sleep(0.2)
    proc.kill()
    pytest.fail("no trial reached the middle of its training in time")


@pytest.mark.ray
@pytest.mark.data
@pytest.mark.parametrize("controller", ["evolution", "optuna"])
def test_sigkill_then_rerun_loses_and_repeats_nothing(tmp_path: Path, cifar10_dir: Path, controller: str) -> None:
    cfg = train_config(controller, data_dir=str(cifar10_dir), num_trials=4, workers=1)
    cfg["trial"]["epochs"] = 4
    config = write_config(tmp_path / "c.yaml", cfg)
    run = tmp_path / "run"
    _kill_mid_trial(_driver(config, run), run)
    before = {p.parents[1].name: p.stat().st_mtime_ns for p in run.glob("trials/*/train/result.json")}
    assert before  # at least one trial had finished

    assert _driver(config, run).wait(timeout=600) == 0
    board = json.loads((run / "leaderboard.json").read_text())
    assert len(board) == 4 and len({r["key"] for r in board}) == 4
    assert all(r["status"] == "completed" and r["epochs"] == 4 for r in board)
    for key, mtime in before.items():  # finished trials were not trained again
        assert (run / "trials" / key / "train" / "result.json").stat().st_mtime_ns == mtime
    resumed = []
    for r in board:
        train_dir = run / "trials" / r["key"] / "train"
        lines = (train_dir / "metrics.jsonl").read_text().splitlines()
        assert [json.loads(x)["epoch"] for x in lines] == [1, 2, 3, 4]  # no epoch trained twice
        resumed.append(json.loads((train_dir / "result.json").read_text())["resumed_from_epoch"])
    assert any(e > 0 for e in resumed)  # the interrupted trial continued from its checkpoint
    if controller == "optuna":
        import optuna

        study = optuna.load_study(study_name="nas", storage=f"sqlite:///{run / 'optuna.db'}")
        assert len(study.trials) == 4
        assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    else:
        state = json.loads((run / "controller_state.json").read_text())
        assert state["controller"]["num_observed"] == 4 and len(state["completed"]) == 4


# --------------------------------------------------------------------------- #
# `nas search` dispatches every trial-based controller to Ray Tune
# --------------------------------------------------------------------------- #


@pytest.mark.ray
def test_nas_search_cli_runs_a_trial_controller_and_exports(tmp_path: Path, nb201_csv: Path, ray_local, capsys) -> None:
    from nas.cli import main

    cfg = write_config(tmp_path / "c.yaml", nb201_config(600.0, str(nb201_csv), "random"))
    out = tmp_path / "run"
    assert main(["search", "--config", str(cfg), "--out", str(out), "--no-progress", "--workers", "1"]) == 0
    assert "best: val" in capsys.readouterr().out
    assert json.loads((out / "search_config.json").read_text())["config"]["controller"] == "random"
    assert main(["export", str(out), "--format", "nb201"]) == 0
    assert capsys.readouterr().out.strip() == to_text(load_genotype_file(out / "genotype.json"))


def test_nas_search_cli_flag_errors(tmp_path: Path, capsys) -> None:
    from nas.cli import main

    darts = str(REPO / "experiments" / "quickstart.yaml")
    assert main(["search", "--config", darts, "--workers", "2", "--out", str(tmp_path / "a")]) == 2
    assert "--workers: only for trial-based controllers" in capsys.readouterr().err
    cfg = str(REPO / "experiments" / "nb201_controllers.yaml")
    assert main(["search", "--config", cfg, "--set", "controller=hillclimb", "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert "controller" in err and "hillclimb" in err and "evolution" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


@pytest.mark.ray
def test_no_progress_keeps_the_per_trial_lines(tmp_path: Path, nb201_csv: Path, ray_local, capsys) -> None:
    """``--no-progress`` hides the bar only: every trial's result line is still printed (not so before)."""
    from nas.cli import main

    cfg = write_config(tmp_path / "c.yaml", nb201_config(400.0, str(nb201_csv), "random"))
    out = tmp_path / "run"
    assert main(["search", "--config", str(cfg), "--out", str(out), "--no-progress"]) == 0
    captured = capsys.readouterr()
    board = json.loads((out / "leaderboard.json").read_text())
    lines = [line for line in captured.out.splitlines() if line.startswith("trial ")]
    assert len(lines) == len(board) > 0
    assert {line.split(":")[0].removeprefix("trial ") for line in lines} == {r["key"] for r in board}
    assert all(" val " in line and "%" in line for line in lines)
    assert "finished" not in captured.err  # no progress bar


def test_every_controller_name_and_alias_is_a_search_job() -> None:
    from nas import controllers
    from nas.search_jobs import registry
    from nas.tune.config import load_config

    names = [*controllers.CONTROLLERS, *controllers.ALIASES]
    for name in names:
        canonical = controllers.controller_class(name).name
        job = registry.get(name)
        assert job.uses_ray and job.name == canonical
        raw = {"controller": name, "space": "nb201", "trial": {"kind": "nb201_table"}}
        assert job.load_config(raw, source="c.yaml", overridden={}).controller == canonical
        assert load_config(raw).controller == canonical
    assert set(controllers.ALIASES) <= set(registry.aliases())


@pytest.mark.ray
@pytest.mark.parametrize(("alias", "canonical"), [("rea", "evolution"), ("tpe", "optuna"), ("enas", "lstm")])
def test_nas_search_accepts_the_registry_aliases(
    tmp_path: Path, nb201_csv: Path, ray_local, capsys, alias: str, canonical: str
) -> None:
    from nas.cli import main

    cfg = write_config(tmp_path / "c.yaml", nb201_config(300.0, str(nb201_csv), alias))
    out = tmp_path / "run"
    assert main(["search", "--config", str(cfg), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert f"starting {canonical} search of nb201" in captured.out
    assert any(line.startswith("trial ") for line in captured.out.splitlines())
    assert "finished:" in captured.err  # the progress bar (stderr), without --no-progress
    assert json.loads((out / "search_config.json").read_text())["config"]["controller"] == canonical
    assert load_genotype_file(out / "genotype.json").kind == "nb201"
