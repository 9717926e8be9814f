"""The validated training configuration shared by every network the toolkit trains.

One :class:`TrainConfig` describes *how* a network is trained (optimiser, schedule,
regularisation, data selection, precision). Controllers build it in code, recipes
build it from YAML: both go through the same pydantic validation, and every error
becomes one line naming the field and what was expected (:func:`describe_error`).
"""

from __future__ import annotations

import difflib
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from nas.config_io import Seed

#: Fields that change how fast or where a run executes, not what it learns. A run may
#: be resumed with different values of these (e.g. on another machine); every other
#: field must match the run directory's ``config.json``.
#: ``amp`` and ``cpu_bf16`` are among them: like ``device``, precision is how a run executes (an
#: ``auto`` run is float16 on a GPU and float32 on a CPU), so a run may be resumed elsewhere.
EXECUTION_FIELDS: frozenset[str] = frozenset(
    {
        "device",
        "compile",
        "channels_last",
        "lean_kernels",
        "eval_batch_size",
        "log_interval",
        "tensorboard",
        "amp",
        "cpu_bf16",
    }
)

#: ``amp`` values: ``auto`` is fp16 + GradScaler on CUDA and off elsewhere (bf16 on the CPU with
#: ``cpu_bf16``); ``fp16`` always uses a GradScaler; ``bf16`` needs none (float32's exponent range).
AMP_MODES = ("auto", "off", "fp16", "bf16")
Amp = Literal["auto", "off", "fp16", "bf16"]

_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?|mps)$")


class TrainConfig(BaseModel):
    """Every knob of the shared trainer; defaults are the plain CIFAR SGD baseline.

    Epoch numbers in logs are 1-based. ``schedule_unit='step'`` updates the learning
    rate every iteration (smooth warm-up and cosine); ``'epoch'`` keeps it constant
    within an epoch, as the DARTS reference code does.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, allow_inf_nan=False)

    # -- identity of the run ------------------------------------------------
    seed: Seed = Field(0, description="seeds python, numpy, torch and the data order (0 to 2**32-1)")
    device: str = Field("auto", description="auto (cuda when available, else cpu), cpu, cuda or cuda:N")

    # -- data selection -----------------------------------------------------
    train_subset: int | None = Field(
        None, ge=1, description="train on this many training images, balanced per class (None: all)"
    )
    val_fraction: float = Field(
        0.1, ge=0, lt=1, description="held-out fraction of the training images for model selection (0: none)"
    )
    test_subset: int | None = Field(None, ge=1, description="test on this many test images, balanced per class")
    split_seed: Seed = Field(0, description="seed of the subset and split (fixed across training seeds)")

    # -- optimisation -------------------------------------------------------
    epochs: int = Field(200, ge=1)
    batch_size: int = Field(128, ge=1)
    lr: float = Field(0.1, gt=0)
    lr_min: float = Field(0.0, ge=0, description="final learning rate of the cosine schedule")
    warmup_epochs: int = Field(0, ge=0, description="linear warm-up from lr/warmup_steps to lr")
    schedule_unit: Literal["step", "epoch"] = "step"
    momentum: float = Field(0.9, ge=0, lt=1)
    nesterov: bool = False
    weight_decay: float = Field(5e-4, ge=0)
    decay_norm_and_bias: bool = Field(True, description="false: no weight decay on 1-d params (norms, biases)")
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    grad_clip: float = Field(0.0, ge=0, description="clip the gradient norm to this value (0: off)")
    auxiliary_weight: float = Field(0.0, ge=0, description="weight of each auxiliary-head loss")
    drop_path_prob: float = Field(0.0, ge=0, lt=1, description="ramped linearly from 0 over the epochs")

    # -- augmentation -------------------------------------------------------
    crop_padding: int = Field(4, ge=0, description="random crop after zero padding (0: off)")
    flip: bool = True
    cutout: int = Field(0, ge=0, description="side of the Cutout square (0: off)")

    # -- execution ----------------------------------------------------------
    amp: Amp = Field(
        "auto",
        description="auto (fp16 + GradScaler on CUDA, off on CPU), off, fp16 (+ GradScaler) or bf16 autocast;"
        " true/false mean auto/off",
    )
    cpu_bf16: bool = Field(False, description="with amp: auto, bfloat16 autocast on CPU")
    channels_last: bool | Literal["auto"] = Field(
        "auto", description="auto: the per-device table of nas.device_defaults (null means auto)"
    )
    lean_kernels: bool | Literal["auto"] = Field(
        "auto", description="sep/dil convs on the lean kernels of nas.kernels; auto: the per-device table"
    )
    compile: bool = Field(
        False,
        description="torch.compile the model (each new drop-path probability of the ramp recompiles it, torch 2.14)",
    )
    eval_batch_size: int = Field(256, ge=1)
    log_interval: int = Field(20, ge=1, description="steps between progress updates and NaN checks")
    tensorboard: bool = True

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_numbers(cls, value: Any, info: Any) -> Any:
        # pydantic would read `epochs: true` as 1; a bool is never a valid number here.
        field = cls.model_fields[info.field_name]
        if isinstance(value, bool) and field.annotation in (int, float, int | None, float | None):
            raise ValueError(f"expected {_number_kind(field.annotation)}, got {str(value).lower()}")
        return value

    @field_validator("amp", mode="before")
    @classmethod
    def _amp(cls, value: Any) -> Any:
        # Configs written before amp had modes said true (fp16 on CUDA) or false.
        if isinstance(value, bool):
            return "auto" if value else "off"
        if isinstance(value, str) and value.lower() in AMP_MODES:
            return value.lower()
        if not isinstance(value, str):
            raise ValueError(f"expected one of {', '.join(AMP_MODES)}, got {_show(value)}")
        return value

    @field_validator("channels_last", "lean_kernels", mode="before")
    @classmethod
    def _auto(cls, value: Any) -> Any:
        # configs written before the device table said null for "the device decides"
        if value is None or (isinstance(value, str) and value.lower() == "auto"):
            return "auto"
        if not isinstance(value, bool):
            raise ValueError(f"expected true, false or auto, got {_show(value)}")
        return value

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        if not _DEVICE.match(value):
            raise ValueError(f"expected auto, cpu, cuda or cuda:N, got {value!r}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> TrainConfig:
        if self.lr_min > self.lr:
            raise ValueError(f"lr_min: expected at most lr ({self.lr}), got {self.lr_min}")
        if self.warmup_epochs >= self.epochs:
            raise ValueError(f"warmup_epochs: expected fewer than epochs ({self.epochs}), got {self.warmup_epochs}")
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov: Nesterov momentum needs momentum > 0")
        return self

    def training_fields(self) -> dict[str, Any]:
        """The fields that define what is learnt (compared when a run is resumed)."""
        return {k: v for k, v in self.model_dump().items() if k not in EXECUTION_FIELDS}


def _number_kind(annotation: Any) -> str:
    return "an integer" if annotation in (int, int | None) else "a number"


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)) or value is None:
        return "null" if value is None else str(value)
    return repr(value)


def describe_error(exc: ValidationError, model: type[BaseModel] = TrainConfig) -> str:
    """The first validation error as ``field: expected ..., got ...`` (one line)."""
    err = exc.errors(include_url=False)[0]
    loc = ".".join(str(p) for p in err["loc"])
    kind, ctx, value = err["type"], err.get("ctx", {}), err.get("input")
    fields = model.model_fields
    annotation = fields[str(err["loc"][0])].annotation if err["loc"] and err["loc"][0] in fields else None
    what = _number_kind(annotation)
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(str(err["loc"][-1]), list(fields), n=1)
        hint = f"; did you mean {close[0]}?" if close else f" (known: {', '.join(fields)})"
        return f"{loc}: unknown field{hint}"
    if kind == "missing":
        return f"{loc}: required field is missing"
    if kind == "value_error":
        message = str(ctx.get("error", err["msg"]))
        return message if not loc else f"{loc}: {message}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        expected = "an integer"
    elif kind in ("float_type", "float_parsing"):
        expected = "a number"
    elif kind == "finite_number":
        expected = "a finite number"
    elif kind in ("bool_type", "bool_parsing"):
        expected = "true or false"
    elif kind in ("string_type",):
        expected = "a string"
    elif kind in ("dict_type", "mapping_type"):
        expected = "a mapping"
    elif kind == "greater_than":
        expected = f"a positive {what.split(' ', 1)[1]}" if ctx["gt"] == 0 else f"{what} > {ctx['gt']}"
    elif kind == "greater_than_equal":
        expected = f"a non-negative {what.split(' ', 1)[1]}" if ctx["ge"] == 0 else f"{what} >= {ctx['ge']}"
    elif kind == "less_than":
        expected = f"{what} < {ctx['lt']}"
    elif kind == "less_than_equal":
        expected = f"{what} <= {ctx['le']}"
    elif kind == "literal_error":
        expected = f"one of {ctx.get('expected', '')}"
    else:
        expected = err["msg"][0].lower() + err["msg"][1:]
        return f"{loc}: {expected}, got {_show(value)}"
    return f"{loc}: expected {expected}, got {_show(value)}"
