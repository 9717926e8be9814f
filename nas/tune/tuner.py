"""The Ray Tune experiment of one search: its searcher, its scheduler, and the Tuner (new or restored).

The experiment lives in ``RUN_DIR/tune`` (``storage_path`` is the run directory, so
nothing goes to ``~/ray_results``). When it exists, it is restored: finished trials are
kept, unfinished ones resume from their checkpoints, and the searcher continues from
its saved state. This module imports Ray; :mod:`nas.tune.job` imports it only when a
search runs.
"""

from __future__ import annotations

import functools
import os
import pickle
from pathlib import Path
from typing import Any

import optuna
from ray import tune
from ray.tune.schedulers import ASHAScheduler, HyperBandScheduler, TrialScheduler
from ray.tune.search import Searcher

from nas.controllers.optuna_controller import OptunaController, study_seed
from nas.errors import NasError
from nas.runs.atomic import one_line
from nas.search_protocol.storage import open_storage, remember_password
from nas.tune import trainable, trust
from nas.tune.config import SearchConfig
from nas.tune.progress import TrialLines
from nas.tune.searchers import METRIC, ControllerSearcher, NasOptunaSearch, TableProtocol, define_by_run
from nas.tune.settings import TrialSettings

#: Trials a budget-limited (NAS-Bench-201 table) search may ask for: the budget ends it first.
UNBOUNDED_TRIALS = 1_000_000


def trial_dirname(trial: Any) -> str:
    """Short trial directory names (the default embeds the whole config)."""
    return f"trial_{trial.trial_id}"


def controller_searcher(config: SearchConfig, run_dir: Path, table_path: str | None) -> ControllerSearcher:
    """Our controller as Tune's searcher; for table trials it also runs the NAS-Bench-201 protocol."""
    protocol = None
    if table_path is not None:
        protocol = TableProtocol(table_path, config.trial.budget_s, config.trial.max_stale, config.trial.skip_known)
    options = config.controller_options
    if isinstance(options, OptunaController.Options) and options.storage:
        # the searcher is pickled into Tune's state: its URL without the password (kept in this process)
        options = options.model_copy(update={"storage": remember_password(options.storage)})
    return ControllerSearcher(
        config.controller,
        config.space,
        seed=config.seed,
        options=options,
        max_trials=config.num_trials,
        max_concurrent=config.workers,
        protocol=protocol,
        state_file=str(run_dir / "controller_state.json"),
    )


def optuna_searcher(config: SearchConfig, run_dir: Path, run_id: str) -> NasOptunaSearch:
    """Tune's OptunaSearch over the space's decisions, its study in ``RUN_DIR/optuna.db`` unless given."""
    opts = config.optuna_options
    if opts is None:
        raise ValueError(f"optuna_searcher: the controller is {config.controller}, not optuna")
    storage = open_storage(opts.storage or f"sqlite:///{run_dir / 'optuna.db'}", "options.optuna.storage")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space_fn = functools.partial(
        define_by_run,
        space=config.space,
        encoding=opts.parameter_encoding,
        run_id=run_id,
        constraints=opts.constraints or None,
        build_options=config.trial.build_options,
    )
    single = len(opts.objectives) == 1
    return NasOptunaSearch(
        space=space_fn,
        metric=METRIC if single else [METRIC, *opts.objectives[1:]],
        mode="max" if single else ["max"] + ["min"] * (len(opts.objectives) - 1),
        sampler=opts.make_sampler(config.seed),
        study_name=opts.study_name,
        storage=storage,
        run_id=run_id,
        max_concurrent=config.workers,
        sampler_for=functools.partial(_sampler_for, opts, config.seed),
    )


def _sampler_for(opts: OptunaController.Options, seed: int, number: int) -> optuna.samplers.BaseSampler:
    """The sampler of a study's trial ``number`` (module level: the searcher is pickled with it)."""
    return opts.make_sampler(study_seed(opts.sampler, seed, number))


def searcher(config: SearchConfig, run_dir: Path, run_id: str, table_path: str | None) -> Searcher:
    """Optuna's own searcher for trained or proxy-scored Optuna searches; else our controllers (and NB201 protocol)."""
    if config.optuna_options is not None and config.trial.kind != "nb201_table":
        return optuna_searcher(config, run_dir, run_id)
    # The NAS-Bench-201 protocol (simulated budget, cache of known cells) lives in
    # ControllerSearcher; Optuna then runs as our in-process controller behind it.
    return controller_searcher(config, run_dir, table_path)


def scheduler(config: SearchConfig, epochs: int | None) -> TrialScheduler | None:
    """ASHA or Hyperband over trained epochs; none for table lookups (one report each)."""
    if config.scheduler.kind == "none" or config.trial.kind != "train":
        return None
    max_t = epochs or 1
    if config.scheduler.kind == "asha":
        return ASHAScheduler(
            time_attr="epoch",
            max_t=max_t,
            grace_period=min(config.scheduler.grace_period, max_t),
            reduction_factor=config.scheduler.reduction_factor,
        )
    return HyperBandScheduler(time_attr="epoch", max_t=max_t, reduction_factor=config.scheduler.reduction_factor)


class DigestRecorder(tune.Callback):
    """Records the digests of each save of the experiment state: Tune asks callbacks for state last."""

    def get_state(self) -> dict[str, Any] | None:
        trust.record_staged()
        return None  # nothing of ours to save (and so no callback pickle for Tune to write)


def _restore(experiment: Path, fn: Any, resume_errored: bool) -> tune.Tuner:
    try:
        return tune.Tuner.restore(str(experiment), trainable=fn, resume_errored=resume_errored)
    except (ImportError, AttributeError, pickle.UnpicklingError) as exc:  # pickled by another version of the code
        raise NasError(
            f"{experiment}: the experiment was saved by another version of nas-toolkit ({one_line(exc, 120)}); "
            "finish it with that version, or use another --out"
        ) from None


#: Trial checkpoints Tune keeps, and seconds between its saves of the experiment state. A SIGKILL
#: restores the last saved state, which names the checkpoint that was newest then: Tune must not
#: have deleted it yet. With one kept checkpoint and Tune's default (>= 10 s between saves), a
#: trial reporting twice inside one save period left the state naming a deleted checkpoint, and
#: the rerun failed that trial ("does not exist on storage anymore"). Two kept checkpoints and a
#: 1 s period close that window for any trial slower than 1 s per report.
KEEP_CHECKPOINTS = 2
STATE_SAVE_PERIOD_S = "1"


def make_tuner(
    config: SearchConfig, run_dir: Path, run_id: str, settings: TrialSettings, epochs: int | None
) -> tuple[tune.Tuner, bool]:
    """The search's Tuner, and whether it was restored from ``RUN_DIR/tune``; ``epochs``: a trial's, when trained."""
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", STATE_SAVE_PERIOD_S)  # read by Tune's controller, in this process
    functions = {"nb201_table": trainable.nb201_trial, "train": trainable.train_trial, "proxy": trainable.proxy_trial}
    fn = functions[config.trial.kind]
    fn = tune.with_resources(
        tune.with_parameters(fn, settings=settings), {"cpu": config.cpus_per_trial, "gpu": config.gpus_per_trial}
    )
    experiment = run_dir / "tune"
    trust.verify(run_dir, experiment)  # again (nas.tune.job checked before Ray started): before Tune unpickles
    if tune.Tuner.can_restore(str(experiment)):
        restored = _restore(experiment, fn, config.resume_errored)
        trust.record_tuner(run_dir, experiment)
        return restored, True
    tabular = config.trial.kind == "nb201_table"
    tune_config = tune.TuneConfig(
        search_alg=searcher(config, run_dir, run_id, settings.table),
        scheduler=scheduler(config, epochs),
        metric=METRIC,
        mode="max",
        num_samples=UNBOUNDED_TRIALS if tabular else config.num_trials,
        reuse_actors=True,
        trial_dirname_creator=trial_dirname,
    )
    run_config = tune.RunConfig(
        name="tune",
        storage_path=str(run_dir),
        verbose=0,
        failure_config=tune.FailureConfig(max_failures=config.max_failures),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=KEEP_CHECKPOINTS),
        callbacks=[TrialLines(), DigestRecorder()],
    )
    tuner = tune.Tuner(fn, tune_config=tune_config, run_config=run_config)
    trust.record_tuner(run_dir, experiment)
    return tuner, False
