"""``nas search``: run (or resume) a search from a YAML config.

The config's ``controller`` key names the search job (:mod:`nas.search_jobs.registry`:
``darts`` and every controller of :mod:`nas.controllers`, aliases included); this module
only turns flags into config overrides and hands them to :func:`nas.search_jobs.runner.run`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from nas import search_configs
from nas.commands import Subcommands
from nas.config_io import apply_overrides, parse_override, parse_seeds, read_yaml
from nas.errors import NasError
from nas.search_jobs import registry, runner
from nas.search_protocol.storage import mask_password


def register(sub: Subcommands) -> None:
    p = sub.add_parser(
        "search",
        description="Run an architecture search. Running the same command again resumes an interrupted run.",
    )
    p.add_argument(
        "--config",
        help=f"a shipped config by name (see --list) or a YAML file; its `controller`: {', '.join(registry.names())}",
    )
    p.add_argument("--list", action="store_true", help="list the shipped search configs, one line each, and exit")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value (dotted keys: guards.max_skip=2); repeatable",
    )
    p.add_argument("--epochs", type=int, help="override the number of search epochs")
    p.add_argument("--seeds", help="comma-separated seeds: independent searches in OUT/seed-N plus agreement.json")
    p.add_argument("--data-dir", help="data directory (default: the config's data_dir, else $NAS_DATA_DIR)")
    p.add_argument("--out", help="run directory (default: runs/<config name>)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (epoch lines are still printed)")
    ray = p.add_argument_group("trial-based controllers (Ray Tune)")
    ray.add_argument("--workers", type=int, help="trials run at once")
    ray.add_argument("--gpus-per-trial", type=float, help="GPUs per trial (fractions share a GPU)")
    ray.add_argument("--address", help="join a Ray cluster started with `ray start` (host:port or auto)")
    ray.add_argument(
        "--storage",
        metavar="URL",
        help="the optuna controller's study storage (default: sqlite in the run directory), "
        "e.g. postgresql://USER:PASSWORD@HOST:5432/DB; runs naming one study share it",
    )
    p.add_argument(
        "--cleanup",
        metavar="RUN_DIR",
        help="end the Ray processes a killed trial search of RUN_DIR left behind (a rerun does it too), then exit",
    )
    p.set_defaults(handler=search_command)


def overrides_from_args(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, str]]:
    """``--set``, ``--epochs``, ``--data-dir`` and the Ray flags as config overrides, and the flag behind each."""
    overrides: dict[str, Any] = {}
    flags: dict[str, str] = {}
    for text in args.overrides:
        key, value = parse_override(text)
        overrides[key], flags[key] = value, f"--set {text}"
    if args.epochs is not None:
        overrides["epochs"], flags["epochs"] = args.epochs, f"--epochs {args.epochs}"
    if args.data_dir is not None:
        overrides["data_dir"], flags["data_dir"] = args.data_dir, f"--data-dir {args.data_dir}"
    for key, flag in runner.RAY_KEYS.items():
        value = getattr(args, key)
        if value is not None:
            overrides[key], flags[key] = value, f"{flag} {value}"
    if args.storage is not None:
        key = "options.optuna.storage"
        overrides[key], flags[key] = args.storage, f"--storage {mask_password(args.storage)}"
    return overrides, flags


def cleanup_command(run_dir: Path) -> int:
    from nas.runs import lock
    from nas.tune import orphans

    if not run_dir.is_dir():
        raise NasError(f"--cleanup {run_dir}: no such run directory")
    with lock.hold(run_dir):  # never the processes of a search that is running
        ended = orphans.cleanup(run_dir)
    if not ended:
        print(f"{run_dir}: no processes of an interrupted Ray session left")
    return 0


def search_command(args: argparse.Namespace) -> int:
    if args.cleanup is not None:
        if args.config is not None:
            raise NasError("--cleanup: give either --cleanup RUN_DIR or --config, not both")
        return cleanup_command(Path(args.cleanup))
    if args.list:
        for name in search_configs.list_configs():
            print(f"{name:34s} {search_configs.describe(search_configs.find_config(name))}")
        return 0
    if not args.config:
        raise NasError("--config: expected the name of a shipped config (see `nas search --list`) or a YAML file")
    config_path = search_configs.find_config(args.config)
    overrides, flags = overrides_from_args(args)
    raw = apply_overrides(read_yaml(config_path), overrides)
    if args.storage is not None:
        job = registry.get(raw.get("controller", "darts"))
        if job.name != "optuna":  # it would be ignored: the run would not be in the study the user named
            raise NasError(
                f"--storage: only the optuna controller keeps a study; {config_path.name} runs {job.name} "
                "(use --set controller=optuna, or drop --storage)"
            )
    out = Path(args.out) if args.out else Path("runs") / config_path.stem
    seeds = parse_seeds(args.seeds) if args.seeds else None
    runner.run(raw, out, source=config_path.name, overridden=flags, seeds=seeds, progress=not args.no_progress)
    return 0
