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
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from nas.config_io import (  # noqa: F401  (re-exported: the DARTS config's public helpers)
    Fraction,
    NonNegFloat,
    NonNegInt,
    PosFloat,
    PosInt,
    Seed,
    apply_overrides,
    parse_override,
    read_yaml,
    validation_error,
)
from nas.darts.methods import METHODS, method_class
from nas.darts.methods import config_classes as method_configs
from nas.darts.selection import config_classes as selection_configs
from nas.darts.selection import selection_class
from nas.errors import NasError

#: Fields that only say *where/how* a run executes, not *what* it computes: a run may be
#: resumed with different values (another data directory, checkpoints more often).
RUN_ONLY_FIELDS: frozenset[str] = frozenset({"data_dir", "device", "checkpoint_every_steps", "threads"})

#: The fields that set a search's size; left out, the paper's size is used.
SIZE_FIELDS: frozenset[str] = frozenset({"epochs", "train_subset"})


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
    edge_normalization: bool = False  # PC-DARTS: per-edge weights (betas), softmax over each node's inputs


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
    """Counter-measures against the collapse of DARTS into parameter-free cells (any method with alphas).

    ``max_skip``: P-DARTS cap of skip connections in the derived normal cell.
    ``early_stop_skip``: DARTS+ stop once the derived normal cell has more skips than this.
    ``warmup_epochs``: weight-only epochs before the architecture starts to move.
    (Fair DARTS is a method of its own: ``method: {name: fair_darts}``.)
    """

    max_skip: NonNegInt | None = None
    early_stop_skip: NonNegInt | None = None
    warmup_epochs: NonNegInt = 0


def _union(classes: list[type]) -> Any:
    return Annotated[Union[tuple(classes)], Field(discriminator="name")]  # noqa: UP007 - built at run time


#: ``method``: one section per registered method (nas.darts.methods), picked by its ``name``.
MethodSection = _union(method_configs())
#: ``selection``: one section per registered selection (nas.darts.selection), picked by its ``name``.
SelectionSection = _union(selection_configs())

#: Top-level keys of earlier versions that now live in the method's section.
_LEGACY_SECTIONS = ("gdas", "spos")


class DartsSearchConfig(_Section):
    """Everything a weight-sharing search run depends on."""

    controller: Literal["darts"] = "darts"
    method: MethodSection = Field(default_factory=lambda: method_class("darts").Config())
    selection: SelectionSection = Field(default_factory=lambda: selection_class("argmax").Config())
    space: Literal["darts", "nb201"] = "darts"  # the search_spaces space relaxed into a supernet (same names)
    dataset: str = "cifar10"
    data_dir: str | None = None
    train_subset: PosInt | None = None  # total images taken from the training set, balanced per class
    val_fraction: Fraction = 0.5  # share of those images that trains the architecture, not the weights
    augment: AugmentConfig = AugmentConfig()
    supernet: SupernetConfig = SupernetConfig()
    epochs: NonNegInt = 50  # 0: no supernet training (a selection that needs none, e.g. zero_cost_pt)
    batch_size: PosInt = 64
    optimizer: WeightOptimizerConfig = WeightOptimizerConfig()
    arch_optimizer: ArchOptimizerConfig = ArchOptimizerConfig()
    guards: GuardConfig = GuardConfig()
    evaluate_every_epoch: bool = True  # full pass over the arch half each epoch (val loss/accuracy)
    seed: Seed = 0  # at most 2**32 - 1, as every job
    device: str = "cpu"
    threads: PosInt | None = None  # torch intra-op threads; fix it for bit-reproducible CPU runs
    deterministic: bool = True
    checkpoint_every_steps: PosInt | None = None

    @model_validator(mode="before")
    @classmethod
    def _method_section(cls, data: Any) -> Any:
        """``method: gdas`` is ``method: {name: gdas}``; earlier top-level keys move into the section.

        ``order`` (DARTS' first/second order) and the ``gdas``/``spos`` sections of earlier
        configs are the method's settings now; they are accepted where they mean the same.
        """
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        method = data.get("method", {"name": "darts"})
        if isinstance(method, str):
            method = {"name": method}
        if not isinstance(method, Mapping):
            return data
        method = dict(method)
        try:
            name = METHODS.canonical(method.get("name", "darts"))
        except NasError as exc:
            raise ValueError(str(exc).replace("method: ", "method.name: ", 1)) from None
        method["name"] = name
        for legacy in _LEGACY_SECTIONS:
            if legacy in data:
                section = data.pop(legacy)
                if legacy != name:
                    raise ValueError(f"{legacy}: settings of method {legacy}, but the method is {name}")
                if isinstance(section, Mapping):
                    method = {**section, **method}
        if "order" in data:
            order = data.pop("order")
            if "order" in method_class(name).Config.model_fields:
                method.setdefault("order", order)
            elif order != "first":
                raise ValueError(f"order: {name} is first order (no unrolled step), got {order}")
        data["method"] = method
        selection = data.get("selection")
        if isinstance(selection, str):
            data["selection"] = {"name": selection}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> DartsSearchConfig:
        net_set = self.supernet.model_fields_set
        if self.space == "nb201":
            darts_only = sorted(net_set & {"layers", "steps", "multiplier", "stem_multiplier"})
            if darts_only:
                raise ValueError(f"supernet.{darts_only[0]}: not used by the nb201 space (it has cells_per_stage)")
        elif "cells_per_stage" in net_set:
            raise ValueError("supernet.cells_per_stage: only the nb201 space has it (the darts space uses layers)")
        if self.space == "darts" and self.supernet.layers < 3:
            raise ValueError(
                f"supernet.layers: expected at least 3 cells (two are reductions), got {self.supernet.layers}"
            )
        if self.epochs and self.guards.warmup_epochs >= self.epochs:
            raise ValueError(
                f"guards.warmup_epochs: {self.guards.warmup_epochs} warm-up epochs leave no search epoch "
                f"out of {self.epochs}"
            )
        method = method_class(self.method.name)
        if self.space not in method.spaces:
            raise ValueError(f"method: {method.name} is defined in the {', '.join(method.spaces)} space only")
        if method.single_path:
            for key in ("partial_channels", "edge_normalization"):
                if key in net_set:
                    raise ValueError(f"supernet.{key}: not used by method {method.name} (one operation per edge)")
        method.check(self.method, self)
        selection = selection_class(self.selection.name)
        if selection.needs_mixed and method.single_path:
            raise ValueError(
                f"selection: {selection.name} perturbs every operation of a mixed supernet; "
                f"method {method.name} trains a single-path one"
            )
        selection.check(self.selection, self)
        if self.epochs == 0 and selection.trained_supernet == "required":
            raise ValueError(
                f"epochs: expected a positive integer, got 0 (selection {selection.name} reads the trained "
                "supernet; only one that trains nothing, such as zero_cost_pt, takes 0)"
            )
        if self.epochs > 0 and selection.trained_supernet == "unused":
            raise ValueError(
                f"epochs: expected 0, got {self.epochs} (selection {selection.name} scores an untrained supernet "
                "of its own: the trained one would be thrown away)"
            )
        if self.optimizer.lr_min > self.optimizer.lr:
            raise ValueError(f"optimizer.lr_min: {self.optimizer.lr_min} exceeds optimizer.lr {self.optimizer.lr}")
        return self

    def resolved(self) -> dict[str, Any]:
        """Plain JSON-ready dict with every default filled in (what ``config.json`` holds)."""
        return self.model_dump(mode="json")


# --------------------------------------------------------------------------- #
# Loading
# --------------------------------------------------------------------------- #


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


def paper_scale_notice(config: DartsSearchConfig) -> str | None:
    """One line naming the paper-scale defaults a config leaves in place, or None when it sets its size.

    A config holding only ``controller: darts`` is a full DARTS search (Liu et al., 2019:
    50 epochs on all 50,000 CIFAR-10 training images). The paper reports 1.5 GPU-days for
    four first-order searches and 4 for four second-order ones; on a CPU it is days (the
    supernet step of the README, 17 s at batch 64 on 2 cores, makes 50 x 391 steps about 4
    days). Worth a line before it starts, not a refusal: it is also what the paper's config means.
    """
    if SIZE_FIELDS & config.model_fields_set or config.dataset.lower() == "synthetic":
        return None
    return (
        f"using the paper's defaults epochs={config.epochs}, train_subset=all (every {config.dataset} training "
        "image: 50,000 for CIFAR-10): up to a GPU-day, several days on a CPU; "
        "set epochs and train_subset in the config to silence this"
    )
