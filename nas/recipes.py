"""Training recipes: named, validated YAML presets of the shared trainer's config.

A recipe is a :class:`~nas.training.config.TrainConfig` plus what the command line
needs to build the run: the dataset and the model options per genotype kind (e.g.
DARTS networks with 36 channels and 20 cells). Recipes live in ``experiments/NAME.yaml``
or anywhere by path. Overrides (``--epochs``, ``--set key=value``) go through the same
validation, and every error is one line: ``recipe quick.yaml: lr: expected a positive
number, got -1``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ConfigDict, Field, ValidationError, field_validator

from nas.errors import NasError
from nas.training.config import TrainConfig, describe_error

#: Where recipes are found by name.
RECIPES_DIR = Path(__file__).resolve().parents[1] / "experiments"


class Recipe(TrainConfig):
    """A TrainConfig with a name, a dataset and model options (``model_options[kind]``).

    ``model_options`` keys are genotype kinds (``darts``, ``nb201``, ``macro``), whose
    options apply to every genotype of that kind, or zoo model names (e.g. ``resnet20``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

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
    """Names of the recipes in ``experiments/``."""
    if not RECIPES_DIR.is_dir():
        return []
    return sorted(p.stem for p in RECIPES_DIR.iterdir() if p.suffix in (".yaml", ".yml"))


def find_recipe(spec: str | Path) -> Path:
    """The file of a recipe given by name (``quick``) or by path."""
    text = str(spec)
    path = Path(text).expanduser()
    if path.is_file():
        return path
    looks_like_path = text.endswith((".yaml", ".yml")) or "/" in text
    if not looks_like_path:
        for suffix in (".yaml", ".yml"):
            candidate = RECIPES_DIR / f"{text}{suffix}"
            if candidate.is_file():
                return candidate
    known = ", ".join(list_recipes()) or "none"
    raise NasError(f"recipe {text!r}: not found (known recipes: {known}; or give the path of a .yaml file)")


def parse_assignment(text: str) -> tuple[str, Any]:
    """``key=value`` with the value read as YAML (``0.1``, ``true``, ``null``, ``[1, 2]``)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise NasError(f"--set {text}: expected KEY=VALUE (e.g. --set lr=0.05)")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return key, value


def _assign(target: dict[str, Any], dotted: str, value: Any, label: str) -> None:
    parts = dotted.split(".")
    node = target
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise NasError(f"{label}: {part} is not a mapping")
        node = child
    node[parts[-1]] = value


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
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise NasError(f"{source}: cannot read ({exc.__class__.__name__})") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            raise NasError(f"{source}: invalid YAML{where}") from None
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise NasError(f"{source}: expected a mapping of field: value, got {type(raw).__name__}")
        raw.setdefault("name", path.stem)
    labels: dict[str, str] = {}
    for label, key, value in overrides:
        _assign(raw, key, value, label)
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
        key, value = parse_assignment(text)
        out.append((f"--set {text}", key, value))
    for flag, key, value in (
        ("--epochs", "epochs", epochs),
        ("--batch-size", "batch_size", batch_size),
        ("--lr", "lr", lr),
    ):
        if value is not None:
            out.append((f"{flag} {value}", key, value))
    return out
