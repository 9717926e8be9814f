"""Search jobs by the name a config's ``controller`` key uses, aliases included.

One :class:`~nas.registry.Registry` of job factories: ``darts`` (weight sharing, one
process or torchrun + DDP), then every controller of :data:`nas.controllers.REGISTRY`
with its aliases, so a new controller needs no change in this file or in the command
line. Entries are imported on first use: naming the jobs imports neither DARTS nor Ray.
"""

from __future__ import annotations

from collections.abc import Callable

from nas import controllers
from nas.errors import NasError
from nas.registry import Registry
from nas.search_protocol.job import SearchJob

#: Name -> a factory of the job (a lazy ``"module:Class"`` or a callable).
JOBS: Registry[Callable[[], SearchJob]] = Registry("controller", "controller")
JOBS.register("darts", "nas.darts.job:DartsJob")


def _trial_job(name: str) -> Callable[[], SearchJob]:
    def make() -> SearchJob:
        from nas.tune.job import TrialJob  # Ray Tune only for trial-based searches

        return TrialJob(name)

    return make


for _name in controllers.list_controllers():
    _aliases = tuple(a for a, n in controllers.ALIASES.items() if n == _name)
    JOBS.register(_name, _trial_job(_name), aliases=_aliases)


def names() -> list[str]:
    """Every canonical job name: weight-sharing first, then the trial-based controllers."""
    return JOBS.names()


def aliases() -> dict[str, str]:
    """Other spellings -> canonical name (the controller registry's aliases)."""
    return JOBS.aliases()


def get(name: object) -> SearchJob:
    """The job for ``name`` (spelled as :func:`nas.registry.normalize` allows, aliases accepted); one line otherwise."""
    if name not in JOBS:
        raise NasError(
            f"controller: unknown controller {name!r} (known: {', '.join(names())}; aliases: {', '.join(aliases())})"
        )
    return JOBS.get(name)()
