"""DARTS as a search job: what ``nas search`` and the Python API run for ``controller: darts``.

One process, or one per GPU under ``torchrun`` (DDP); no Ray. The config is
:class:`~nas.darts.config.DartsSearchConfig`, the run directory that of
:mod:`nas.darts.search`, the result the common :class:`~nas.search_protocol.job.SearchResult`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nas.darts.config import DartsSearchConfig, load_config
from nas.darts.search import run_search
from nas.errors import NasError
from nas.search_protocol.job import Echo, SearchResult


class DartsJob:
    """The :class:`~nas.search_protocol.job.SearchJob` of differentiable search (darts and nb201 supernets)."""

    name = "darts"
    description = "DARTS: differentiable search of a supernet (darts or nb201 space)"
    uses_ray = False

    def load_config(
        self, raw: Mapping[str, Any], *, source: str = "config", overridden: Mapping[str, str] | None = None
    ) -> DartsSearchConfig:
        """Validate a merged config mapping; errors name ``source`` or the flag in ``overridden``."""
        return load_config(raw, source=source, overridden=overridden)

    def run(
        self, config: DartsSearchConfig, run_dir: str | Path, *, progress: bool = True, echo: Echo = print
    ) -> SearchResult:
        """Run, resume or report the search of ``config`` in ``run_dir``."""
        if not isinstance(config, DartsSearchConfig):
            raise NasError(f"darts: expected the config DartsJob.load_config returns, got {type(config).__name__}")
        return run_search(config, run_dir, progress=progress, echo=echo)
