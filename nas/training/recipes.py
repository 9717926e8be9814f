"""Training recipes (the code of :mod:`nas.recipes`): named, validated YAML presets of the shared trainer's config.

A recipe is a :class:`~nas.training.config.TrainConfig` plus what the command line
needs to build the run: the dataset and the model options per genotype kind (e.g.
DARTS networks with 36 channels and 20 cells). The named recipes (``quick``,
``cifar_200ep``, ``darts_eval``) are YAML files shipped in the package ``nas.recipes``, so an
installed wheel finds them (``experiments/NAME.yaml`` in the repository are links to
them); any other recipe is given by path. Files are read by
:func:`nas.config_io.read_yaml`; overrides (``--epochs``, ``--set key=value``, parsed by
:func:`nas.config_io.parse_override`) go through the same validation, and every error
is one line: ``recipe quick.yaml: lr: expected a positive number, got -1``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, Field, ValidationError, field_validator

from nas.config_io import apply_overrides, find_named_yaml, parse_override, read_yaml
from nas.errors import NasError
from nas.training.config import TrainConfig, describe_error

#: Where recipes are found by name: the directory of the package ``nas.recipes`` (installed as
#: package data). Found by path, not imported: ``nas.recipes`` re-exports this module.
RECIPES_DIR = Path(__file__).resolve().parent.parent / "recipes"


#: Network-size options of ``model_options`` sections: positive integers wherever they are given.
SIZE_OPTIONS = frozenset({"channels", "layers", "cells_per_stage", "steps", "multiplier", "stem_multiplier"})


class Recipe(TrainConfig):
    """A TrainConfig with a name, a dataset and model options (``model_options[kind]``).

    ``model_options`` keys are genotype kinds (``darts``, ``nb201``, ``macro``), whose
    options apply to every genotype of that kind, or zoo model names (e.g. ``resnet20``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, allow_inf_nan=False)

    name: str = ""
    description: str = ""
    dataset: str = "cifar10"
    model_options: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @field_validator("model_options", mode="before")
    @classmethod
    def _options(cls, value: Any) -> Any:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise ValueError(f"expected a mapping of kind -> options, got {value!r}")
        for key, options in value.items():
            if not isinstance(options, Mapping):
                raise ValueError(f"{key}: expected a mapping of option -> value, got {options!r}")
            for option, size in options.items():  # checked even where unused (a zoo model ignores `darts:`)
                if option in SIZE_OPTIONS and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
                    raise ValueError(f"{key}.{option}: expected a positive integer, got {size!r}")
        return value

    def train_config(self, **changes: Any) -> TrainConfig:
        """The TrainConfig part, with ``changes`` (e.g. ``seed``, ``device``) validated."""
        values = {name: getattr(self, name) for name in TrainConfig.model_fields}
        values.update(changes)
        try:
            return TrainConfig(**values)
        except ValidationError as exc:
            raise NasError(f"recipe {self.name or 'config'}: {describe_error(exc)}") from None


def list_recipes() -> list[str]:
    """Names of the recipes shipped with the package."""
    if not RECIPES_DIR.is_dir():
        return []
    return sorted(p.stem for p in RECIPES_DIR.iterdir() if p.suffix in (".yaml", ".yml"))


def find_recipe(spec: str | Path) -> Path:
    """The file of a recipe given by name (``quick``) or by path."""
    text = str(spec)
    found = find_named_yaml(text, RECIPES_DIR)
    if found is not None and found.is_file():
        return found
    known = ", ".join(list_recipes()) or "none"
    raise NasError(f"recipe {text!r}: not found (known recipes: {known}; or give the path of a .yaml file)")


def load_recipe(
    spec: str | Path | Mapping[str, Any],
    overrides: Iterable[tuple[str, str, Any]] = (),
) -> Recipe:
    """Read, override and validate a recipe.

    ``spec`` is a name, a path or an already-parsed mapping. ``overrides`` are
    ``(label, dotted_key, value)`` triples applied in order, e.g.
    ``("--set lr=0.05", "lr", 0.05)``; an invalid value is reported with its label.
    """
    if isinstance(spec, Mapping):
        source, raw = "recipe", copy.deepcopy(dict(spec))
    else:
        path = find_recipe(spec)
        source = f"recipe {path.name}"
        try:
            raw = read_yaml(path)
        except NasError as exc:
            raise NasError(f"recipe {exc}") from None
        if not raw:  # would silently be the full default run (200 epochs of CIFAR-10): refused like `nas search`
            raise NasError(
                f"{source}: the recipe is empty; expected at least `epochs` and `dataset` (see the shipped recipes: "
                f"{', '.join(list_recipes())})"
            )
        raw.setdefault("name", path.stem)
    labels: dict[str, str] = {}
    for label, key, value in overrides:
        raw = apply_overrides(raw, {key: value})
        labels[key.split(".")[0]] = label
    try:
        return Recipe(**raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        top = str(first["loc"][0]) if first["loc"] else ""
        where = labels.get(top, source)
        raise NasError(f"{where}: {describe_error(exc, Recipe)}") from None
    except TypeError as exc:  # e.g. a non-string key at the top level
        raise NasError(f"{source}: {exc}") from None


def recipe_overrides(
    *,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    assignments: Iterable[str] = (),
) -> list[tuple[str, str, Any]]:
    """Overrides from the command line: ``--set`` first, then the dedicated flags."""
    out = []
    for text in assignments:
        key, value = parse_override(text)
        out.append((f"--set {text}", key, value))
    for flag, key, value in (
        ("--epochs", "epochs", epochs),
        ("--batch-size", "batch_size", batch_size),
        ("--lr", "lr", lr),
    ):
        if value is not None:
            out.append((f"{flag} {value}", key, value))
    return out
