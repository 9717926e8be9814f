"""Ray Tune trial functions: look a cell up in the NAS-Bench-201 table, train its network, or score it.

:func:`nb201_trial` is a query of the NAS-Bench-201 table: the reward is the 12-epoch
validation accuracy, the cost the table's simulated training time, and the test
accuracy is passed on for the report only.

:func:`train_trial` trains the genotype's network with the shared trainer
(:mod:`nas.tune.training_trial`). It imports torch and the training stack when it is
first called, so the workers of a table search never pay that start-up (seconds each).

:func:`proxy_trial` scores the untrained network with a zero-cost proxy
(:mod:`nas.tune.proxy_trial`): a zero-shot search.

All take the search's :class:`~nas.tune.settings.TrialSettings` as a second argument
(``tune.with_parameters``: Ray ships it once through its object store) and the
searcher's suggestion (``genotype``, ``key``, ``index``) as the trial's config. Tables
and datasets are cached per worker process, so with ``reuse_actors`` later trials pay
nothing to load them.
"""

from __future__ import annotations

from typing import Any

from ray import tune

from nas.genotypes.codec import from_json
from nas.genotypes.types import NB201Genotype
from nas.nb201_table import NB201Table
from nas.tune.settings import TrialSettings

_TABLES: dict[str, NB201Table] = {}


def table(path: str) -> NB201Table:
    """The NAS-Bench-201 table, loaded once per worker process."""
    if path not in _TABLES:
        _TABLES[path] = NB201Table.load(path)
    return _TABLES[path]


def nb201_trial(config: dict[str, Any], settings: TrialSettings) -> None:
    """One NAS-Bench-201 query (a table lookup)."""
    genotype = from_json(config["genotype"])
    if settings.table is None or not isinstance(genotype, NB201Genotype):
        raise ValueError("nb201_trial: a table trial needs the search's table and a NAS-Bench-201 cell")
    record = table(settings.table).query(genotype)
    tune.report(
        {
            "val_accuracy": record.c10_valid_12ep,
            "test_accuracy": record.c10_test,
            "cost_s": record.cost_12ep_s,
            "params": record.params_M * 1e6,
            "flops": record.flops_M * 1e6,
            "epoch": 12,
            "epochs_total": 12,
            "trial_time_s": record.cost_12ep_s,
            "key": config["key"],
        }
    )


def train_trial(config: dict[str, Any], settings: TrialSettings) -> None:
    """Train the suggested genotype's network; report validation accuracy every epoch."""
    from nas.tune import training_trial  # torch and the trainer: seconds to import, only where trials train

    training_trial.run(config, settings)


def proxy_trial(config: dict[str, Any], settings: TrialSettings) -> None:
    """Score the suggested genotype's untrained network with a zero-cost proxy (zero-shot search)."""
    from nas.tune import proxy_trial as scoring  # torch and the scores: only where trials score

    scoring.run(config, settings)
