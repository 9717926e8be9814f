"""Trial-based searches as search jobs: a controller proposes, Ray Tune runs the trials (:mod:`nas.tune.entry`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nas.errors import NasError
from nas.formats import load_genotype_file
from nas.search.job import Echo, SearchResult
from nas.tune import entry


class TrialJob:
    """One job per controller name of :mod:`nas.controllers`."""

    uses_ray = True

    def __init__(self, name: str) -> None:
        self.name = name
        self.description = f"{name}: trials on Ray Tune, any space"

    def load_config(self, raw: Mapping[str, Any], *, source: str, overridden: Mapping[str, str]) -> Any:
        return entry.load_config({**raw, "controller": self.name}, source=source, overridden=overridden)

    def run(self, config: Any, run_dir: str | Path, *, progress: bool = True, echo: Echo = print) -> SearchResult:
        run_dir = Path(run_dir).absolute()
        summary = entry.run(config, run_dir, progress=progress, echo=echo)
        path = run_dir / "genotype.json"
        if not path.is_file():
            raise NasError(f"{run_dir}: no trial finished, so no genotype was exported")
        best = summary.get("best") or {}
        return SearchResult(
            run_dir=run_dir,
            genotype=load_genotype_file(path),
            controller=self.name,
            score=best.get("val_accuracy"),
            trials=summary.get("completed"),
            summary=summary,
        )
