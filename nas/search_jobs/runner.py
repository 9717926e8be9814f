"""Run a search from a config mapping: the one code path of ``nas search`` and :func:`nas.api.search`.

It picks the job from the ``controller`` key, refuses what cannot be meant (an empty
config, Ray flags for a torchrun job), validates every seed's config before the first
long search starts, and writes the seed-agreement report when several seeds ran.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from nas.config_io import MAX_SEED, apply_overrides
from nas.errors import NasError
from nas.runs import lock
from nas.runs.atomic import write_json
from nas.search_jobs import registry
from nas.search_jobs.agreement import format_agreement, seed_agreement
from nas.search_protocol.job import Echo, SearchJob, SearchResult

#: Config keys that only trial-based (Ray Tune) jobs understand: key -> the flag users type.
RAY_KEYS: dict[str, str] = {"workers": "--workers", "gpus_per_trial": "--gpus-per-trial", "address": "--address"}


def select_job(raw: Mapping[str, Any], *, source: str, overridden: Mapping[str, str], echo: Echo = print) -> SearchJob:
    """The job a merged config asks for; an empty config is refused rather than run at full scale."""
    if not raw:
        raise NasError(
            f"{source}: the config is empty; expected at least `controller` ({', '.join(registry.names())}) "
            "and the search's size (see experiments/quickstart.yaml)"
        )
    if "controller" not in raw:
        echo(f"{source}: no `controller` given; running darts")
    job = registry.get(raw.get("controller", "darts"))
    check_seed(raw, source=source, overridden=overridden)
    if not job.uses_ray:
        # named as the user gave it: the flag (--workers), or the key of the config file
        given = [
            overridden[key].split()[0] if key in overridden else f"{source}: {key}" for key in RAY_KEYS if key in raw
        ]
        if given:
            raise NasError(f"{given[0]}: only for trial-based controllers; a {job.name} search uses torchrun for GPUs")
    return job


def check_seed(raw: Mapping[str, Any], *, source: str, overridden: Mapping[str, str]) -> None:
    """Every job's ``seed`` within what python, numpy and torch all accept (one rule, whichever job reads it)."""
    value = raw.get("seed")
    if isinstance(value, int) and not isinstance(value, bool) and not 0 <= value <= MAX_SEED:  # others: the job says
        origin = overridden.get("seed", source)
        raise NasError(f"{origin}: seed: expected an integer from 0 to {MAX_SEED}, got {value!r}")


def is_main_process() -> bool:
    """False on the non-zero ranks of a torchrun job (only rank 0 writes shared files)."""
    return int(os.environ.get("RANK", "0")) == 0


def run(
    raw: Mapping[str, Any],
    out: str | Path,
    *,
    source: str = "config",
    overridden: Mapping[str, str] | None = None,
    seeds: Sequence[int] | None = None,
    progress: bool = True,
    echo: Echo = print,
) -> list[SearchResult]:
    """Run (or resume) the search of ``raw`` into ``out``, or one per seed into ``out/seed-N``."""
    overridden = dict(overridden or {})
    job = select_job(raw, source=source, overridden=overridden, echo=echo)
    out = Path(out)
    if not seeds:
        config = job.load_config(raw, source=source, overridden=overridden)
        with lock.hold(out):  # one process per run directory, whatever the job
            return [job.run(config, out, progress=progress, echo=echo)]
    flags = {**overridden, "seed": "--seeds"}
    configs = [job.load_config(apply_overrides(raw, {"seed": s}), source=source, overridden=flags) for s in seeds]
    with lock.hold(out):
        results = []
        for seed, config in zip(seeds, configs):
            run_dir = out / f"seed-{seed}"
            echo(f"== seed {seed}: {run_dir}")
            with lock.hold(run_dir):  # also against a single-seed run into OUT/seed-N
                results.append(job.run(config, run_dir, progress=progress, echo=echo))
        return _agreement(seeds, results, out, echo)


def _agreement(seeds: Sequence[int], results: list[SearchResult], out: Path, echo: Echo) -> list[SearchResult]:
    """Write (on the main process) and print how far the seeds' searches agree."""
    if is_main_process():
        report = seed_agreement({s: r.run_dir for s, r in zip(seeds, results)})
        write_json(out / "agreement.json", report)
        echo(format_agreement(report))
        echo(f"agreement: {out / 'agreement.json'}")
    return results
