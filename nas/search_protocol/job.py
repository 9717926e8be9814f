"""The search-job contract (in the spirit of Archai's ``Searcher.search()``): validate a config, run it.

A job owns its config model and its run-directory layout; the command line and the
Python API only know this protocol. ``run`` resumes an interrupted run and reports a
finished one without redoing it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from nas.genotypes.types import Genotype

Echo = Callable[[str], None]


@dataclass(frozen=True)
class SearchResult:
    """What one search found; the same type for weight-sharing and trial-based searches."""

    run_dir: Path
    genotype: Genotype
    #: The job that ran (``darts``, ``evolution``, ...).
    controller: str
    #: True when the run directory already held the finished search (nothing was run).
    already_finished: bool = False
    #: The chosen genotype's search score (validation top-1 %, or the trial's reward), when known.
    score: float | None = None
    #: Weight-sharing searches: epochs run, and whether a guard (DARTS+) stopped early.
    epochs_run: int | None = None
    stopped_early: bool = False
    #: Final architecture weights per cell type, as the supernet reports them.
    arch_weights: Mapping[str, list[list[float]]] | None = None
    #: Trial-based searches: completed trials, the leaderboard and the Pareto front (rows as written).
    trials: int | None = None
    leaderboard: tuple[Mapping[str, Any], ...] = ()
    pareto: tuple[Mapping[str, Any], ...] = ()
    #: The NAS-Bench-201 table row of the genotype, when the search looked it up.
    nb201: Mapping[str, Any] | None = None
    #: Anything else the job wrote to its summary (wall time, resources, ...).
    summary: Mapping[str, Any] = field(default_factory=dict)


class SearchJob(Protocol):
    """One search algorithm family; instances are stateless and cheap."""

    #: Registry name (the config's ``controller``).
    name: str
    #: One line for ``nas search --help`` and ``nas spaces``.
    description: str
    #: True for trial-based jobs, which run on Ray Tune (``--workers``, ``--gpus-per-trial``, ``--address``).
    uses_ray: bool

    def load_config(self, raw: Mapping[str, Any], *, source: str, overridden: Mapping[str, str]) -> Any:
        """Validate the merged config mapping; errors name ``source`` or the overriding flag."""
        ...

    def run(self, config: Any, run_dir: str | Path, *, progress: bool = True, echo: Echo = print) -> SearchResult:
        """Run, resume or report the search of ``config`` in ``run_dir``."""
        ...
