"""The Python API for notebooks: the same code paths as the command line, as five functions.

    import nas
    cell = nas.genotype("DARTS_V2")                               # nas show / nas convert
    model = nas.build("DARTS_V2", channels=16, layers=8)          # nas show / nas train --genotype
    result = nas.search("experiments/quickstart.yaml", out="runs/q") # nas search
    run = nas.train("resnet20", recipe="quick", out="runs/r20")     # nas train
    loaded = nas.load_run("runs/r20")                              # what nas evaluate/export/report read

Each function validates its input like the command line does (one-line :class:`NasError`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from torch import nn

from nas.config_io import MAX_SEED, apply_overrides, read_yaml
from nas.errors import NasError
from nas.genotypes.codec import to_json
from nas.genotypes.resolve import parse_genotype
from nas.genotypes.types import Genotype
from nas.networks import build as build_network
from nas.search_jobs import runner
from nas.search_protocol.job import Echo, SearchResult
from nas.training.finished import LoadedRun
from nas.training.finished import load_run as load_finished_run
from nas.training.job import TrainJobResult, train_job
from nas.zoo import has_model


def _path(value: Any, name: str, *, optional: bool = False) -> Path | None:
    """``value`` as a path, or a one-line error naming the argument (``None`` only when ``optional``)."""
    if value is None and optional:
        return None
    if isinstance(value, (str, Path)) and str(value).strip():
        return Path(value)
    raise NasError(f"{name}: expected a directory path (str or Path), got {value!r}"[:200])


def _mapping(value: Any, name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, Mapping) and all(isinstance(k, str) for k in value):
        return dict(value)
    raise NasError(
        f"{name}: expected a mapping of dotted keys to values (e.g. {{'epochs': 1}}), got {type(value).__name__}"
    )


def _seeds(value: Any) -> list[int] | None:
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise NasError(f"seeds: expected a list of integers like [0, 1, 2], got {type(value).__name__}")
    for seed in value:
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
            raise NasError(f"seeds: expected integers from 0 to {MAX_SEED}, got {seed!r}")
    if len(set(value)) != len(value):
        raise NasError(f"seeds: repeated seed in {list(value)!r}")
    return list(value)


def genotype(spec: Genotype | str) -> Genotype:
    """A genotype from a name (``DARTS_V2``, ``resnet20``), a JSON file, a run directory or text."""
    if isinstance(spec, Genotype):
        return spec
    if isinstance(spec, (str, Path)):
        return parse_genotype(str(spec))
    raise NasError(f"genotype: expected a genotype, a name, a file or text, got {type(spec).__name__}")


def build(spec: Genotype | str, num_classes: int = 10, **options: Any) -> nn.Module:
    """The network derived from a genotype (``channels``, ``layers``, ``auxiliary``, ... as in ``nas show``)."""
    return build_network(genotype(spec), num_classes=num_classes, **options)


def search(
    config: str | Path | Mapping[str, Any],
    *,
    out: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    seeds: Sequence[int] | None = None,
    progress: bool = False,
    echo: Echo = print,
) -> SearchResult | list[SearchResult]:
    """Run (or resume) a search, exactly as ``nas search --config`` does.

    ``config`` is a YAML file or a mapping; ``overrides`` are dotted keys as with ``--set``
    (``{"epochs": 2, "guards.max_skip": 1}``). One result, or one per seed in ``out/seed-N``.
    """
    if isinstance(config, Mapping):
        raw, source = dict(config), "config"
        default_out = Path("runs") / "search"
    elif isinstance(config, (str, Path)):
        raw, source = read_yaml(config), Path(config).name
        default_out = Path("runs") / Path(config).stem
    else:
        raise NasError(f"config: expected a YAML file (str or Path) or a mapping, got {type(config).__name__}")
    overrides = _mapping(overrides, "overrides")
    seeds = _seeds(seeds)
    out = _path(out, "out", optional=True)
    flags = {key: f"{key}={value}" for key, value in overrides.items()}
    raw = apply_overrides(raw, overrides)
    results = runner.run(
        raw,
        Path(out) if out is not None else default_out,
        source=source,
        overridden=flags,
        seeds=seeds,
        progress=progress,
        echo=echo,
    )
    return results if seeds else results[0]


def train(
    model: Genotype | str,
    *,
    recipe: str = "quick",
    out: str | Path,
    overrides: Mapping[str, Any] | None = None,
    seeds: Sequence[int] | None = None,
    data_dir: str | Path | None = None,
    device: str | None = None,
    progress: bool = False,
) -> TrainJobResult:
    """Train a zoo model (``"resnet20"``) or a genotype (a name, file, text or object), as ``nas train`` does.

    ``overrides`` are recipe keys as with ``--set`` (``{"epochs": 1, "train_subset": 500}``);
    the result holds one row per seed (test and validation accuracy, timings, run dir).
    """
    if isinstance(model, Genotype):
        kind = {"genotype": to_json(model)}
    elif isinstance(model, (str, Path)):
        text = str(model)
        kind = {"model": text} if has_model(text) else {"genotype": text}
    else:
        raise NasError(
            f"model: expected a zoo model name, a genotype or its name/file/text, got {type(model).__name__}"
        )
    flags = [(f"{key}={value}", key, value) for key, value in _mapping(overrides, "overrides").items()]
    if not isinstance(recipe, (str, Path)):
        raise NasError(f"recipe: expected a recipe name or YAML file, got {type(recipe).__name__}")
    if device is not None and not isinstance(device, str):
        raise NasError(f"device: expected auto, cpu, cuda or cuda:N, got {device!r}")
    return train_job(
        out=_path(out, "out"),
        seeds=_seeds(seeds),
        data_dir=_path(data_dir, "data_dir", optional=True),
        recipe=str(recipe),
        overrides=flags,
        device=device,
        progress=progress,
        **kind,
    )


def load_run(path: str | Path, *, checkpoint: str = "selected", data_dir: str | Path | None = None) -> LoadedRun:
    """A finished training run: its network with the selected (or ``checkpoint``) weights, its data and test split."""
    return load_finished_run(path, checkpoint=checkpoint, data_dir=data_dir)
