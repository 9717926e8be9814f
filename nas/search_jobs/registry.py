"""Search jobs by the name a config's ``controller`` key uses, aliases included.

The trial-based names come from the controller registry (:mod:`nas.controllers`), so
every controller and alias it accepts is accepted here too, and a new controller needs
no change in this file or in the command line.
"""

from __future__ import annotations

from nas import controllers
from nas.darts.job import DartsJob
from nas.errors import NasError
from nas.search_jobs.job import SearchJob
from nas.tune.job import TrialJob

#: Weight-sharing jobs (one process, or torchrun + DDP).
WEIGHT_SHARING: dict[str, SearchJob] = {job.name: job for job in (DartsJob(),)}


def names() -> list[str]:
    """Every canonical job name: weight-sharing first, then the trial-based controllers."""
    return [*WEIGHT_SHARING, *controllers.list_controllers()]


def aliases() -> dict[str, str]:
    """Other spellings -> canonical name (the controller registry's aliases)."""
    return dict(controllers.ALIASES)


def get(name: object) -> SearchJob:
    """The job for ``name`` (case-insensitive, ``-`` or ``_``, aliases accepted); a one-line error otherwise."""
    key = name.strip().lower().replace("-", "_") if isinstance(name, str) else ""
    if key in WEIGHT_SHARING:
        return WEIGHT_SHARING[key]
    try:
        cls = controllers.controller_class(key)
    except NasError:
        known = ", ".join(names())
        raise NasError(
            f"controller: unknown controller {name!r} (known: {known}; aliases: {', '.join(aliases())})"
        ) from None
    return TrialJob(cls.name)
