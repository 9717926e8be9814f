"""The validated configuration of a DARTS search (one YAML file, ``--set`` overrides).

A search is expensive and its config file is long, so every key is checked before any
work starts: unknown keys, wrong types and out-of-range values are one-line errors that
name the file and the dotted field (``quickstart.yaml: epochs: expected a positive
integer, got 0``). The resolved config is written to the run directory and compared on
resume, so a run is never silently continued with different settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from nas.errors import NasError

# Fields that only say *where/how* a run executes, not *what* it computes: a run may be
# resumed with different values (another data directory, checkpoints more often).
RUN_ONLY_FIELDS: frozenset[str] = frozenset({"data_dir", "device", "checkpoint_every_steps", "threads"})


def _no_bool(value: Any) -> Any:
    # YAML `yes`/`true` must not silently become 1 in a numeric field.
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {str(value).lower()}")
    return value


PosInt = Annotated[int, BeforeValidator(_no_bool), Field(gt=0)]
NonNegInt = Annotated[int, BeforeValidator(_no_bool), Field(ge=0)]
PosFloat = Annotated[float, BeforeValidator(_no_bool), Field(gt=0)]
NonNegFloat = Annotated[float, BeforeValidator(_no_bool), Field(ge=0)]
Fraction = Annotated[float, BeforeValidator(_no_bool), Field(gt=0, lt=1)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SupernetConfig(_Section):
    """The over-parameterised network. DARTS space: C, cells, nodes; NB201: C, cells per stage."""

    channels: PosInt = 16
    layers: PosInt = 8
    steps: PosInt = 4
    multiplier: PosInt = 4
    stem_multiplier: PosInt = 3
    cells_per_stage: PosInt = 5
    partial_channels: PosInt = 1
    edge_normalization: bool = False
    weighting: Literal["softmax", "sigmoid"] = "softmax"


class WeightOptimizerConfig(_Section):
    """SGD on the network weights, cosine-annealed from ``lr`` to ``lr_min`` over the epochs."""

    lr: PosFloat = 0.025
    lr_min: NonNegFloat = 0.001
    momentum: NonNegFloat = 0.9
    weight_decay: NonNegFloat = 3e-4
    grad_clip: NonNegFloat = 5.0  # 0 disables clipping


class ArchOptimizerConfig(_Section):
    """Adam on the architecture weights (alphas)."""

    lr: PosFloat = 3e-4
    betas: tuple[Fraction, Fraction] = (0.5, 0.999)
    weight_decay: NonNegFloat = 1e-3


class AugmentConfig(_Section):
    """Augmentation of the weight-training half (the arch half is augmented alike, as in DARTS)."""

    crop_padding: NonNegInt = 4
    flip: bool = True
    cutout: NonNegInt = 0


class GuardConfig(_Section):
    """Counter-measures against the collapse of DARTS into parameter-free cells.

    ``max_skip``: P-DARTS cap of skip connections in the derived normal cell.
    ``early_stop_skip``: DARTS+ stop once the derived normal cell has more skips than this.
    ``fair_darts_weight``: weight of the Fair DARTS zero-one loss (needs sigmoid weighting).
    ``warmup_epochs``: weight-only epochs before the architecture starts to move.
    """

    max_skip: NonNegInt | None = None
    early_stop_skip: NonNegInt | None = None
    fair_darts_weight: NonNegFloat = 0.0
    warmup_epochs: NonNegInt = 0


class DartsSearchConfig(_Section):
    """Everything a DARTS search run depends on."""

    controller: Literal["darts"] = "darts"
    space: Literal["darts", "nb201"] = "darts"
    dataset: str = "cifar10"
    data_dir: str | None = None
    train_subset: PosInt | None = None  # total images taken from the training set, balanced per class
    val_fraction: Fraction = 0.5  # share of those images that trains the architecture, not the weights
    augment: AugmentConfig = AugmentConfig()
    supernet: SupernetConfig = SupernetConfig()
    order: Literal["first", "second"] = "first"
    epochs: PosInt = 50
    batch_size: PosInt = 64
    optimizer: WeightOptimizerConfig = WeightOptimizerConfig()
    arch_optimizer: ArchOptimizerConfig = ArchOptimizerConfig()
    guards: GuardConfig = GuardConfig()
    evaluate_every_epoch: bool = True  # full pass over the arch half each epoch (val loss/accuracy)
    seed: NonNegInt = 0
    device: str = "cpu"
    threads: PosInt | None = None  # torch intra-op threads; fix it for bit-reproducible CPU runs
    deterministic: bool = True
    checkpoint_every_steps: PosInt | None = None

    @model_validator(mode="after")
    def _consistent(self) -> DartsSearchConfig:
        net_set = self.supernet.model_fields_set
        if self.space == "nb201":
            darts_only = sorted(net_set & {"layers", "steps", "multiplier", "stem_multiplier", "edge_normalization"})
            if darts_only:
                raise ValueError(f"supernet.{darts_only[0]}: not used by the nb201 space (it has cells_per_stage)")
        elif "cells_per_stage" in net_set:
            raise ValueError("supernet.cells_per_stage: only the nb201 space has it (the darts space uses layers)")
        if self.space == "darts" and self.supernet.layers < 3:
            raise ValueError(
                f"supernet.layers: expected at least 3 cells (two are reductions), got {self.supernet.layers}"
            )
        if self.guards.fair_darts_weight > 0 and self.supernet.weighting != "sigmoid":
            raise ValueError("guards.fair_darts_weight: Fair DARTS needs supernet.weighting: sigmoid")
        if self.guards.warmup_epochs >= self.epochs:
            raise ValueError(
                f"guards.warmup_epochs: {self.guards.warmup_epochs} warm-up epochs leave no search epoch "
                f"out of {self.epochs}"
            )
        if self.optimizer.lr_min > self.optimizer.lr:
            raise ValueError(f"optimizer.lr_min: {self.optimizer.lr_min} exceeds optimizer.lr {self.optimizer.lr}")
        return self

    def resolved(self) -> dict[str, Any]:
        """Plain JSON-ready dict with every default filled in (what ``config.json`` holds)."""
        return self.model_dump(mode="json")


# --------------------------------------------------------------------------- #
# Loading, overrides and one-line errors
# --------------------------------------------------------------------------- #


def read_yaml(path: str | Path) -> dict[str, Any]:
    """The mapping in a YAML file; unreadable or non-mapping files are one-line errors."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NasError(f"{p}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise NasError(f"{p}: cannot read config file ({exc.__class__.__name__})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise NasError(f"{p.name}: not valid YAML{where}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise NasError(f"{p.name}: expected a mapping of keys to values, got {type(data).__name__}")
    return data


def parse_override(text: str) -> tuple[str, Any]:
    """``key.sub=value`` -> (``key.sub``, YAML-parsed value), so ``3``, ``true`` and ``null`` are typed."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise NasError(f"--set {text}: expected key=value (e.g. epochs=5 or guards.max_skip=2)")
    try:
        parsed = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError:
        parsed = value
    return key, parsed


def apply_overrides(raw: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of ``raw`` with dotted ``overrides`` set (sections created as needed)."""

    def copy(value: Any) -> Any:
        return {k: copy(v) for k, v in value.items()} if isinstance(value, dict) else value

    data = copy(dict(raw))
    for key, value in overrides.items():
        parts = key.split(".")
        node = data
        for i, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise NasError(f"--set {key}: {'.'.join(parts[: i + 1])} is not a section")
            node = child
        node[parts[-1]] = value
    return data


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    for part in loc:
        field = model.model_fields.get(str(part))
        ann = getattr(field, "annotation", None)
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return None
        model = ann
    return model


def _describe(err: Mapping[str, Any], model: type[BaseModel]) -> tuple[str, str]:
    """(dotted field, readable message) of one pydantic error."""
    loc = tuple(err.get("loc", ()))
    path = ".".join(str(p) for p in loc)
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    got = err.get("input")
    got_text = repr(got) if isinstance(got, str) else yaml.safe_dump(got, default_flow_style=True).strip()
    got_text = got_text.removesuffix("...").strip()
    if kind == "extra_forbidden":
        parent = _model_at(model, loc[:-1])
        known = f" (known: {', '.join(parent.model_fields)})" if parent is not None else ""
        return path, f"unknown key{known}"
    if kind == "missing":
        if loc and isinstance(loc[-1], int):
            return ".".join(str(p) for p in loc[:-1]), f"expected {loc[-1] + 1} values, got fewer"
        return path, "required"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return path, f"expected an integer, got {got_text}"
    if kind in ("float_type", "float_parsing"):
        return path, f"expected a number, got {got_text}"
    if kind in ("bool_type", "bool_parsing"):
        return path, f"expected true or false, got {got_text}"
    if kind in ("string_type",):
        return path, f"expected a string, got {got_text}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return path, f"expected a section (a mapping of keys), got {got_text}"
    if kind in ("tuple_type", "too_short", "too_long"):
        return path, f"expected a list of {ctx.get('expected', 'the right number of')} values, got {got_text}"
    if kind == "literal_error":
        return path, f"expected one of {ctx.get('expected', '?')}, got {got_text}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        is_int = isinstance(got, int)
        bounds = {
            "greater_than": f"> {ctx.get('gt')}",
            "greater_than_equal": f">= {ctx.get('ge')}",
            "less_than": f"< {ctx.get('lt')}",
            "less_than_equal": f"<= {ctx.get('le')}",
        }[kind]
        if is_int and kind == "greater_than" and ctx.get("gt") == 0:
            return path, f"expected a positive integer, got {got_text}"
        if is_int and kind == "greater_than_equal" and ctx.get("ge") == 0:
            return path, f"expected a non-negative integer, got {got_text}"
        if path.endswith(("val_fraction", "betas.0", "betas.1")):
            return path, f"expected a fraction strictly between 0 and 1, got {got_text}"
        return path, f"expected a {'integer' if is_int else 'number'} {bounds}, got {got_text}"
    message = str(err.get("msg", "invalid value"))
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if kind == "value_error" and ": " in message and not path:
        path, _, message = message.partition(": ")  # model validators name their own field
        return path, message
    return path, f"{message[:1].lower()}{message[1:]}" + ("" if "got" in message else f", got {got_text}")


def validation_error(
    exc: ValidationError, model: type[BaseModel], source: str, overridden: Mapping[str, str] | None = None
) -> NasError:
    """Turn the first pydantic error into one line naming the file (or flag) and the field."""
    err = exc.errors()[0]
    path, message = _describe(err, model)
    flags = overridden or {}
    origin = next((flag for key, flag in flags.items() if path == key or path.startswith(key + ".")), source)
    return NasError(f"{origin}: {path}: {message}" if path else f"{origin}: {message}")


def load_config(
    raw: Mapping[str, Any],
    *,
    source: str = "config",
    overridden: Mapping[str, str] | None = None,
) -> DartsSearchConfig:
    """Validate an already-merged mapping (file + overrides).

    ``overridden`` maps dotted keys to the flag that set them (``--set epochs=0``), so an
    error in a value that came from the command line names the flag, not the file.
    """
    try:
        return DartsSearchConfig.model_validate(dict(raw))
    except ValidationError as exc:
        raise validation_error(exc, DartsSearchConfig, source, overridden) from None


def load_config_file(path: str | Path, overrides: Mapping[str, Any] | None = None) -> DartsSearchConfig:
    """Read, override and validate a search config (the API tests and benchmarks use)."""
    overrides = dict(overrides or {})
    raw = apply_overrides(read_yaml(path), overrides)
    flags = {k: f"--set {k}={v}" for k, v in overrides.items()}
    return load_config(raw, source=Path(path).name, overridden=flags)


def config_differences(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted names of the fields that differ, ignoring run-only fields (where/how a run executes)."""
    diffs = []
    for key in sorted(set(old) | set(new)):
        name = f"{prefix}{key}"
        if not prefix and key in RUN_ONLY_FIELDS:
            continue
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            diffs.extend(config_differences(a, b, prefix=f"{name}."))
        elif a != b:
            diffs.append(name)
    return diffs
