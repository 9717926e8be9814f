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
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from nas.config_io import (  # noqa: F401  (re-exported: the DARTS config's public helpers)
    Fraction,
    NonNegFloat,
    NonNegInt,
    PosFloat,
    PosInt,
    apply_overrides,
    parse_override,
    read_yaml,
    validation_error,
)

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


class GdasConfig(_Section):
    """GDAS (Dong & Yang 2019): Gumbel temperature annealed linearly from ``tau_max`` to ``tau_min``."""

    tau_max: PosFloat = 10.0
    tau_min: PosFloat = 0.1


class SposConfig(_Section):
    """SPOS/RSPS: the candidate search over the trained supernet (scored on ``val_batches`` fixed batches).

    ``candidates`` paths are scored after the last epoch, ``epoch_candidates`` (random) after
    each earlier one so the history shows a derived cell per epoch.
    """

    strategy: Literal["evolution", "random"] = "evolution"
    candidates: PosInt = 100
    epoch_candidates: PosInt = 20
    val_batches: PosInt = 4
    population: PosInt = 20
    sample_size: PosInt = 5


class DartsSearchConfig(_Section):
    """Everything a DARTS search run depends on."""

    controller: Literal["darts"] = "darts"
    method: Literal["darts", "gdas", "spos"] = "darts"  # gdas/spos: single-path NB201 supernet
    space: Literal["darts", "nb201"] = "darts"  # the search_spaces space relaxed into a supernet (same names)
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
    gdas: GdasConfig = GdasConfig()
    spos: SposConfig = SposConfig()
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
        if self.method != "darts":
            self._check_single_path()
        if self.optimizer.lr_min > self.optimizer.lr:
            raise ValueError(f"optimizer.lr_min: {self.optimizer.lr_min} exceeds optimizer.lr {self.optimizer.lr}")
        return self

    def _check_single_path(self) -> None:
        m = self.method
        if self.space != "nb201":
            raise ValueError(f"method: {m} is implemented in the nb201 space only, got space {self.space}")
        if self.order != "first":
            raise ValueError(f"order: {m} is first order (no unrolled step), got {self.order}")
        for key in ("partial_channels", "weighting"):
            if key in self.supernet.model_fields_set:
                raise ValueError(f"supernet.{key}: not used by method {m} (one operation per edge)")
        if self.guards.fair_darts_weight > 0:
            raise ValueError(f"guards.fair_darts_weight: not used by method {m}")
        if m == "spos":
            for key in ("max_skip", "early_stop_skip", "warmup_epochs"):
                if key in self.guards.model_fields_set and getattr(self.guards, key):
                    raise ValueError(f"guards.{key}: not used by method spos (no architecture parameters)")
        if self.gdas.tau_min > self.gdas.tau_max:
            raise ValueError(f"gdas.tau_min: {self.gdas.tau_min} exceeds gdas.tau_max {self.gdas.tau_max}")
        if self.spos.sample_size > self.spos.population:
            raise ValueError(
                f"spos.sample_size: {self.spos.sample_size} exceeds spos.population {self.spos.population}"
            )

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
