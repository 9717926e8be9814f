"""What every trial of one search shares, as one frozen model that Ray passes to the trial functions.

The trial functions of :mod:`nas.tune.trainable` take it as their second argument
(``tune.with_parameters``): Ray pickles it once into its object store instead of into
every trial's config, and the trials read it with attribute access instead of string
keys. It is built again by each run of the search, so a resumed search's trials see
that run's values of the fields that may change on resume (data and cache directories,
threads).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class TrialSettings(BaseModel):
    """The fixed part of every trial (the searcher's suggestion adds ``genotype``, ``key`` and ``index``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The search's run directory; a trial works in ``RUN_DIR/trials/KEY``.
    run_dir: str
    space: str
    seed: int
    #: torch threads per trial (the trial's CPUs, at least one).
    threads: int
    #: The training recipe, its overrides, and an epoch count overriding both (``train`` trials).
    recipe: str
    epochs: int | None = None
    train: dict[str, Any] = {}
    #: Network options over the recipe's (e.g. ``channels``, ``layers``).
    build_options: dict[str, Any] = {}
    data_dir: str | None = None
    cache_dir: str | None = None
    #: The NAS-Bench-201 table (``nb201_table`` trials).
    table: str | None = None
    #: The zero-cost score and its minibatch size (``proxy`` trials).
    proxy: str | None = None
    proxy_batch_size: int = 64
