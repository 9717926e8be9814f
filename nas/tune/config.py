"""The validated configuration of a trial-based search on Ray Tune (one YAML file, overrides).

One file says which controller proposes genotypes of which space, how a trial evaluates
a genotype (train it with the shared trainer on a CIFAR-10 slice, or look it up in the
NAS-Bench-201 table), and how trials are spread over Ray workers. ``options`` holds the
options of several controllers at once (``options.evolution``, ``options.reinforce``...),
each validated against that controller's ``Options`` model (:class:`nas.controllers.OptionsByController`):
only those of the chosen ``controller`` are used, so ``--set controller=reinforce``
switches the method without editing the file.

Fields in :data:`RUN_ONLY_FIELDS` say where and how fast the search runs (workers, GPUs,
the cluster address); a run may be resumed with other values of them, but not with a
different value of anything else. The options of controllers that are not chosen do
not count either.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from nas.config_io import (
    NonNegFloat,
    NonNegInt,
    PosFloat,
    PosInt,
    Seed,
    apply_overrides,
    no_bool,
    read_yaml,
    validation_error,
)
from nas.controllers import ControllerOptions, OptionsByController, controller_class
from nas.controllers.optuna_controller import OptunaController
from nas.errors import NasError
from nas.registry import normalize
from nas.search_protocol.storage import without_password
from nas.search_spaces import get_space

RUN_ONLY_FIELDS: frozenset[str] = frozenset(
    {
        "workers",
        "cpus_per_trial",
        "gpus_per_trial",
        "address",
        "data_dir",
        "cache_dir",
        "ray_tmpdir",
        "object_store_mb",
        "experiment_checkpoint_s",
        "num_cpus",
        "num_gpus",
    }
)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class TrialConfig(_Section):
    """How one trial evaluates a genotype.

    ``train``: build the network and train it with the shared trainer (``recipe`` plus
    ``train`` overrides such as ``train_subset``; ``build_options`` override the recipe's
    network options). ``nb201_table``: look the cell up in the NAS-Bench-201 table
    (reward ``c10_valid_12ep``, cost ``cost_12ep_s``, report ``c10_test``) under the paper's
    simulated ``budget_s``; every proposal is a paid query unless ``skip_known`` (the lenient
    variant: known cells are free, and ``max_stale`` of them in a row end the search).
    ``proxy``: zero-shot search; the reward is the zero-cost score ``proxy`` (higher is
    better, :mod:`nas.proxies`) of the untrained network, built at the recipe's network
    size (plus ``build_options``) and scored on one seeded minibatch of ``proxy_batch_size``
    real training images of the recipe's dataset (seed: the search's). One score only: a
    combination (rank average, z-scores) needs the scores of the whole population, which a
    single trial does not have.
    """

    kind: Literal["train", "nb201_table", "proxy"] = "train"
    recipe: str = "quick"
    epochs: PosInt | None = None
    train: dict[str, Any] = Field(default_factory=dict)
    build_options: dict[str, Any] = Field(default_factory=dict)
    table: str | None = None
    budget_s: PosFloat = 12_000.0
    skip_known: bool = False
    max_stale: PosInt = 1_000
    proxy: str | None = None
    proxy_batch_size: Annotated[int, BeforeValidator(no_bool), Field(ge=2)] = 64


class SchedulerConfig(_Section):
    """Early stopping of poor trials: ASHA or Hyperband (time unit: trained epochs)."""

    kind: Literal["none", "asha", "hyperband"] = "none"
    grace_period: PosInt = 1
    reduction_factor: Annotated[float, BeforeValidator(no_bool), Field(gt=1)] = 3.0


class SearchConfig(_Section):
    """A trial-based search: controller, space, trials, resources."""

    controller: str
    space: str
    seed: Seed = 0
    num_trials: PosInt = 10
    options: OptionsByController = Field(default_factory=OptionsByController)
    trial: TrialConfig = Field(default_factory=TrialConfig)
    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig)
    epochs: PosInt | None = None  # shortcut for trial.epochs (what ``nas search --epochs`` sets)
    max_failures: NonNegInt = 0  # retries of a crashed trial (from its checkpoint)
    resume_errored: bool = True  # on restore, retry trials that had failed
    # -- where and how fast (may change on resume) --------------------------
    workers: PosInt = 1  # trials at once
    cpus_per_trial: PosFloat = 1.0
    gpus_per_trial: NonNegFloat = 0.0
    address: str | None = None  # join a running Ray cluster (host:port or "auto"); else an embedded instance
    num_cpus: PosInt | None = None  # of the embedded instance (default: this machine's)
    num_gpus: NonNegInt | None = None  # of the embedded instance (default: detected)
    data_dir: str | None = None
    cache_dir: str | None = None  # decoded-dataset cache (default: nas.data's)
    ray_tmpdir: str | None = None  # Ray's session files (default: RUN_DIR/ray, or a short /tmp path)
    object_store_mb: PosInt = 200
    experiment_checkpoint_s: NonNegFloat = 1.0  # how often Tune saves the experiment state

    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            data = dict(data)
            for key in ("controller", "space"):
                if isinstance(data.get(key), str):
                    data[key] = normalize(data[key])
        return data

    @model_validator(mode="after")
    def _check(self) -> SearchConfig:
        name = controller_class(self.controller).name  # unknown names raise with the known ones
        object.__setattr__(self, "controller", name)
        try:
            get_space(self.space)
        except NasError as exc:
            raise NasError(f"space: {exc}") from None
        if self.trial.kind == "nb201_table" and self.space != "nb201":
            raise NasError(f"trial.kind: nb201_table needs space nb201, got {self.space!r}")
        if self.trial.kind == "proxy":
            self._check_proxy()
        elif self.trial.proxy is not None:
            raise NasError(f"trial.proxy: only used with trial.kind proxy, got kind {self.trial.kind!r}")
        return self

    def _check_proxy(self) -> None:
        from nas.proxies.registry import get_proxy  # the score modules (torch) only for zero-shot searches

        if self.trial.proxy is None:
            raise NasError("trial.proxy: trial.kind proxy needs the name of a zero-cost score, e.g. synflow")
        if not isinstance(self.trial.proxy, str) or "," in self.trial.proxy:
            raise NasError(
                f"trial.proxy: expected one score name (a combination needs population statistics), "
                f"got {self.trial.proxy!r}"
            )
        try:
            name = get_proxy(self.trial.proxy).name
        except NasError as exc:
            raise NasError(f"trial.{exc}") from None
        object.__setattr__(self.trial, "proxy", name)

    @property
    def controller_options(self) -> ControllerOptions:
        """The options of the chosen controller (its ``Options`` model, defaults filled in)."""
        return self.options.of(self.controller)

    @property
    def optuna_options(self) -> OptunaController.Options | None:
        """The chosen controller's options when it is Optuna (objectives and budgets), else ``None``."""
        options = self.controller_options
        return options if isinstance(options, OptunaController.Options) else None

    @property
    def trial_epochs(self) -> int | None:
        return self.epochs if self.epochs is not None else self.trial.epochs

    @property
    def objectives(self) -> list[str]:
        """``accuracy`` first, then the size objectives an Optuna search minimises."""
        return list(self.optuna_options.objectives) if self.optuna_options is not None else ["accuracy"]

    @property
    def constraints(self) -> dict[str, float]:
        """Size budgets (``params``/``flops`` -> maximum) a trial must meet to be exported."""
        return self.optuna_options.constraints if self.optuna_options is not None else {}

    def saved(self) -> dict[str, Any]:
        """The config as written to the run directory: storage URLs without their password."""
        return scrub_passwords(self.model_dump(mode="json"))

    def compared(self) -> dict[str, Any]:
        """What defines what the search computes (checked on resume): all but where and how fast it runs.

        Of ``options`` only the chosen controller's count, with its defaults filled in.
        """
        return compared_part(self.model_dump(mode="json"))


def scrub_passwords(value: Any) -> Any:
    """``value`` with the password taken out of every URL in it (a run directory never holds one)."""
    if isinstance(value, Mapping):
        return {k: scrub_passwords(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_passwords(v) for v in value]
    if isinstance(value, str) and "://" in value:
        return without_password(value)
    return value


def compared_part(dumped: Mapping[str, Any]) -> dict[str, Any]:
    """The compared fields of a dumped (or saved) config; the chosen controller's options resolved.

    Also reads the ``compared`` part that earlier versions saved (all controllers' options, as given).
    Storage URLs are compared without their password (which is never saved).
    """
    part = {k: v for k, v in scrub_passwords(dumped).items() if k not in RUN_ONLY_FIELDS}
    name = controller_class(part["controller"]).name
    part["options"] = {
        name: scrub_passwords(
            OptionsByController.model_validate(part.get("options") or {}).of(name).model_dump(mode="json")
        )
    }
    return part


def load_config(
    raw: Mapping[str, Any], *, source: str = "config", overridden: Mapping[str, str] | None = None
) -> SearchConfig:
    """Validate a merged mapping (file + overrides); errors name the file or flag and the field."""
    try:
        return SearchConfig.model_validate(dict(raw))
    except NasError as exc:
        raise NasError(f"{_origin(str(exc), source, overridden)}: {exc}") from None
    except ValidationError as exc:
        nested = _nested_nas_error(exc)
        if nested is not None:
            raise NasError(f"{_origin(str(nested), source, overridden)}: {nested}") from None
        raise validation_error(exc, SearchConfig, source, overridden) from None


def _origin(message: str, source: str, overridden: Mapping[str, str] | None) -> str:
    """The flag that set the field a message starts with (``options.optuna.sampler: ...``), else the file."""
    path = message.split(":", 1)[0].strip()
    for key, flag in (overridden or {}).items():
        if path == key or path.startswith(key + ".") or key.startswith(path + "."):
            return flag
    return source


def _nested_nas_error(exc: ValidationError) -> NasError | None:
    for err in exc.errors():
        ctx = err.get("ctx") or {}
        inner = ctx.get("error")
        if isinstance(inner, NasError):
            return inner
    return None


def load_config_file(path: str | Path, overrides: Mapping[str, Any] | None = None) -> SearchConfig:
    """Read, override and validate a search config file (for tests, benchmarks and ``run_search``)."""
    overrides = dict(overrides or {})
    raw = apply_overrides(read_yaml(path), overrides)
    flags = {k: f"--set {k}={v}" for k, v in overrides.items()}
    return load_config(raw, source=Path(path).name, overridden=flags)
