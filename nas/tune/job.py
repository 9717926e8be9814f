"""Trial-based searches as a search job: a controller proposes genotypes, Ray Tune runs the trials.

:func:`run` is the one entry (``nas search`` reaches it through :class:`TrialJob`):

1. checks what would otherwise fail inside a Ray worker (the NAS-Bench-201 table, the
   recipe and its overrides, the dataset, the cluster address), before Ray starts;
2. checks the run directory (``search_config.json``: a new run writes it with a fresh
   run id, a rerun must hold the same config and keeps its run id);
3. starts or joins Ray (:mod:`nas.tune.session`), builds or restores the experiment
   (:mod:`nas.tune.tuner`) and runs it, printing one line per finished trial;
4. writes the leaderboard, best genotype, Pareto front and summary (:mod:`nas.tune.outputs`).

Running the same command again after an interruption (even SIGKILL) restores the
experiment: finished trials are kept, unfinished ones resume from their checkpoints,
and the searcher (controller or Optuna study) continues from its saved state. Rerunning
a finished search reports it again (``already_finished``) without running a trial.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from nas.data import load_dataset, resolve_data_dir
from nas.errors import NasError
from nas.genotypes.codec import from_dict
from nas.nb201_table import NB201Table, find_table
from nas.runs.atomic import read_json, remove_leftovers, write_json
from nas.runs.rundir import RunStatus, check_run_dir
from nas.search_protocol.job import Echo, SearchResult
from nas.search_protocol.storage import open_storage, remember_password
from nas.trainer import TrainConfig
from nas.training.recipes import load_recipe
from nas.tune import orphans, trust
from nas.tune.config import SearchConfig, compared_part, load_config
from nas.tune.outputs import Outputs, write_outputs
from nas.tune.session import check_address, ray_session
from nas.tune.settings import TrialSettings

#: The run directory's record of the search: run id, resolved config, the compared part.
CONFIG_FILE = "search_config.json"
#: Written once the experiment's outputs are: a rerun then only reports.
SUMMARY_FILE = "summary.json"
#: Counts in the summary that say whether a rerun ran anything.
_COUNTS = ("trials", "completed", "stopped_early", "failed")


class TrialJob:
    """One job per controller name of :mod:`nas.controllers`."""

    uses_ray = True

    def __init__(self, name: str) -> None:
        self.name = name
        self.description = f"{name}: trials on Ray Tune, any space"

    def load_config(self, raw: Mapping[str, Any], *, source: str, overridden: Mapping[str, str]) -> SearchConfig:
        return load_config({**raw, "controller": self.name}, source=source, overridden=overridden)

    def run(self, config: Any, run_dir: str | Path, *, progress: bool = True, echo: Echo = print) -> SearchResult:
        return run(config, run_dir, progress=progress, echo=echo)


# --------------------------------------------------------------------------- #
# Checks that must fail fast, before Ray starts
# --------------------------------------------------------------------------- #


def table_path(config: SearchConfig) -> str:
    """The NAS-Bench-201 table, loaded once here so a malformed one is a one-line error, not a worker's."""
    path = Path(config.trial.table) if config.trial.table else find_table(config.data_dir)
    if path is None:
        raise NasError("trial.table: NAS-Bench-201 table not found; give trial.table or set NAS_DATA_DIR")
    NB201Table.load(path)
    return str(Path(path).absolute())


def check_training(config: SearchConfig, data_dir: str) -> TrainConfig:
    """Validate the recipe and its overrides and load the dataset once (warms the decode cache)."""
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


def check_proxy(config: SearchConfig, data_dir: str) -> None:
    """Load the recipe and the dataset a zero-shot search scores on, and check the minibatch fits."""
    recipe = load_recipe(config.trial.recipe)
    data = load_dataset(recipe.dataset, data_dir, cache_dir=config.cache_dir)
    if config.trial.proxy_batch_size > len(data.train_labels):
        raise NasError(
            f"trial.proxy_batch_size: {data.name} has {len(data.train_labels)} training images, "
            f"got {config.trial.proxy_batch_size}"
        )


def trial_settings(config: SearchConfig, run_dir: Path, table: str | None, data_dir: str | None) -> TrialSettings:
    """What every trial of this search shares."""
    return TrialSettings(
        run_dir=str(run_dir),
        space=config.space,
        seed=config.seed,
        threads=max(1, int(config.cpus_per_trial)),
        recipe=config.trial.recipe,
        epochs=config.trial_epochs,
        train=dict(config.trial.train),
        build_options=dict(config.trial.build_options),
        data_dir=data_dir,
        cache_dir=config.cache_dir,
        table=table,
        proxy=config.trial.proxy,
        proxy_batch_size=config.trial.proxy_batch_size,
    )


# --------------------------------------------------------------------------- #
# The run directory
# --------------------------------------------------------------------------- #


def open_run_dir(config: SearchConfig, run_dir: Path) -> tuple[str, RunStatus]:
    """The run id (new, or kept across resumes) and the directory's status; a different config is refused."""
    status = check_run_dir(
        run_dir,
        config.compared(),
        config_file=CONFIG_FILE,
        saved_part=lambda doc: compared_part(doc["compared"]),
        checkpoint=None,  # Ray's experiment state is the checkpoint
        complete_marker=SUMMARY_FILE,
        tolerated=("ray",),
    )
    if status == "new":
        run_id = uuid.uuid4().hex[:12]
        doc = {"run_id": run_id, "config": config.saved(), "compared": config.compared()}
        write_json(run_dir / CONFIG_FILE, doc)
        return run_id, status
    for directory in (run_dir, *sorted((run_dir / "trials").glob("*"))):
        remove_leftovers(directory)  # temporary files of writes a kill interrupted
    return str(read_json(run_dir / CONFIG_FILE, "the run's config")["run_id"]), status


# --------------------------------------------------------------------------- #
# The entry
# --------------------------------------------------------------------------- #


def run(config: SearchConfig, run_dir: str | Path, *, progress: bool = True, echo: Echo = print) -> SearchResult:
    """Run, resume or report one search into ``run_dir``."""
    run_dir = Path(run_dir).absolute()
    if config.optuna_options is not None and config.optuna_options.storage:
        remember_password(config.optuna_options.storage)  # for the storage objects a restore unpickles
    tabular = config.trial.kind == "nb201_table"
    table = table_path(config) if tabular else None
    data_dir = None if tabular else str(resolve_data_dir(config.data_dir))
    epochs = None
    if config.trial.kind == "proxy" and data_dir is not None:
        check_proxy(config, data_dir)
    elif data_dir is not None:
        epochs = check_training(config, data_dir).epochs
    if config.address is not None:
        check_address(config.address)
    config.controller_options.check_resources()  # e.g. proxy_evolution's score table
    if config.optuna_options is not None and config.optuna_options.storage:
        open_storage(config.optuna_options.storage, "options.optuna.storage").engine.dispose()  # down: fail now
    run_dir.mkdir(parents=True, exist_ok=True)
    run_id, status = open_run_dir(config, run_dir)
    orphans.cleanup(run_dir, say=echo)  # Ray processes a killed run of this directory left behind
    trust.verify(run_dir, run_dir / "tune")  # before Ray starts, and before anything is unpickled
    before = _previous_summary(run_dir) if status == "complete" else {}
    settings = trial_settings(config, run_dir, table, data_dir)
    started = time.perf_counter()
    outputs = _run_experiment(config, run_dir, run_id, settings, epochs, progress=progress, echo=echo)
    summary = outputs.summary
    already_finished = bool(before) and all(before.get(k) == summary.get(k) for k in _COUNTS)
    wall_time_s = round(time.perf_counter() - started, 1)
    summary["wall_time_s"] = before.get("wall_time_s", wall_time_s) if already_finished else wall_time_s
    write_json(run_dir / SUMMARY_FILE, summary)
    return _result(config, run_dir, outputs, already_finished, echo)


def _previous_summary(run_dir: Path) -> dict[str, Any]:
    """The summary a finished run wrote (empty when unreadable: the rerun then writes a new one)."""
    try:
        summary = read_json(run_dir / SUMMARY_FILE, "summary")
    except NasError:
        return {}
    return summary if isinstance(summary, dict) else {}


def _run_experiment(
    config: SearchConfig,
    run_dir: Path,
    run_id: str,
    settings: TrialSettings,
    epochs: int | None,
    *,
    progress: bool,
    echo: Echo,
) -> Outputs:
    # Ray Tune (several seconds to import) only once a search really starts.
    from nas.tune.progress import trial_output
    from nas.tune.tuner import make_tuner

    with ray_session(config, run_dir) as session, _recording_digests(run_dir):
        # Restoring warns about trials without Tune's own result files (we do not write them).
        logging.getLogger("ray.tune").setLevel(logging.ERROR)
        tuner, restored = make_tuner(config, run_dir, run_id, settings, epochs)
        echo(
            f"{'resuming' if restored else 'starting'} {config.controller} search of {config.space} in {run_dir} "
            f"(ray: {session.address}, {session.resources})"
        )
        total = None if config.trial.kind == "nb201_table" else config.num_trials
        with trial_output(echo, progress=progress, total=total):
            results = tuner.fit()
        return write_outputs(config, run_dir, results)


@contextlib.contextmanager
def _recording_digests(run_dir: Path) -> Iterator[None]:
    """Record the digests of what Tune saves into ``run_dir`` (see :mod:`nas.tune.trust`)."""
    trust.begin(run_dir)
    try:
        yield
    finally:
        trust.end()


def _result(config: SearchConfig, run_dir: Path, outputs: Outputs, already_finished: bool, echo: Echo) -> SearchResult:
    best = outputs.best
    if best is None:
        echo("no trial finished; nothing exported")
        raise NasError(f"{run_dir}: no trial finished, so no genotype was exported (see leaderboard.csv)")
    if config.trial.kind == "proxy":
        echo(f"best: {config.trial.proxy} {best['val_accuracy']:.6g}  {best['genotype']}")
    else:
        echo(f"best: val {best['val_accuracy']:.2f}%  {best['genotype']}")
    echo(f"genotype: {run_dir / 'genotype.json'}  leaderboard: {run_dir / 'leaderboard.csv'}")
    return SearchResult(
        run_dir=run_dir,
        genotype=from_dict(best["genotype_json"]),
        controller=config.controller,
        already_finished=already_finished,
        score=best["val_accuracy"],
        trials=outputs.summary["completed"],
        leaderboard=tuple(outputs.leaderboard),
        pareto=tuple(outputs.pareto),
        nb201=outputs.summary.get("nb201"),
        summary=outputs.summary,
    )
