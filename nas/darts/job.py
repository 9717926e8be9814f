"""DARTS as a search job: the weight-sharing search of :mod:`nas.darts.search` behind :class:`SearchJob`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nas.darts import config as darts_config
from nas.darts import search as darts_search
from nas.search.job import Echo, SearchResult


class DartsJob:
    name = "darts"
    description = "DARTS: differentiable search of a supernet (darts or nb201 space)"
    uses_ray = False

    def load_config(self, raw: Mapping[str, Any], *, source: str, overridden: Mapping[str, str]) -> Any:
        return darts_config.load_config(raw, source=source, overridden=overridden)

    def run(self, config: Any, run_dir: str | Path, *, progress: bool = True, echo: Echo = print) -> SearchResult:
        r = darts_search.run_search(config, run_dir, progress=progress, echo=echo)
        return SearchResult(
            run_dir=Path(r.run_dir),
            genotype=r.genotype,
            controller=self.name,
            already_finished=r.already_finished,
            epochs_run=r.epochs_run,
            stopped_early=r.stopped_early,
            arch_weights=r.arch_weights,
        )
