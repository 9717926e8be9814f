"""A training run read back: its files, the one rule for its "selected" weights, its network rebuilt.

Everything that reads a ``nas train`` run directory goes through here: ``nas train`` on a
finished run and ``--init-from``, ``nas evaluate``, ``nas export --format onnx|torchscript``,
``nas cam`` and ``nas report``. The **selected** weights are the run's own choice, recorded in
``result.json``: ``best.pt`` when it selected on validation (``selection: best_val``), else
``final.pt``. A run without ``result.json`` (interrupted) has no choice yet: its best epoch so
far (``best.pt``) when it has one, else ``final.pt``. ``last`` is the newest checkpoint's model.

A weights file that exists but cannot be read (truncated by a full disk, a copy killed halfway)
is a one-line error naming it and the way forward, never a silently skipped load.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError
from torch import nn

from nas.data import BatchLoader, ImageDataset, load_dataset
from nas.errors import NasError
from nas.runs.atomic import load_torch, read_json
from nas.runs.checkpoints import load_checkpoint, previous_path
from nas.training.config import TrainConfig, describe_error
from nas.training.record import CHECKPOINT_FILE, CONFIG_FILE
from nas.training.result import RESULT_FILE
from nas.training.spec import build_model
from nas.training.splits import make_loader, make_splits
from nas.training.weights import load_weights

#: ``which`` weights -> file in the run directory (``selected`` picks best or final).
WEIGHT_FILES: dict[str, str] = {"best": "best.pt", "final": "final.pt", "last": CHECKPOINT_FILE}
#: The ``--checkpoint`` choices of the commands that read a run.
CHECKPOINT_CHOICES: tuple[str, ...] = ("selected", "best", "final", "last")


def selected_weights(run_dir: str | Path) -> str:
    """``best`` or ``final``: which weights are the run's model (the rule of this module's docstring)."""
    run_dir = Path(run_dir)
    result = run_dir / RESULT_FILE
    if result.is_file():
        doc = read_json(result, "the run's result")
        return "best" if isinstance(doc, dict) and doc.get("selection") == "best_val" else "final"
    return "best" if (run_dir / WEIGHT_FILES["best"]).is_file() else "final"


def weights_path(run_dir: str | Path, which: str = "selected") -> Path:
    """The file of ``which`` weights (``selected``, ``best``, ``final`` or ``last``); it must exist."""
    run_dir = Path(run_dir)
    if which not in CHECKPOINT_CHOICES:
        raise NasError(f"--checkpoint: expected one of {', '.join(CHECKPOINT_CHOICES)}, got {which!r}")
    if which == "selected":
        which = selected_weights(run_dir)
    path = run_dir / WEIGHT_FILES[which]
    if which == "last" and not path.is_file() and previous_path(path).is_file():
        return path  # read_weights falls back to the previous checkpoint
    if not path.is_file():
        raise NasError(f"{path}: not found{_missing_hint(run_dir, which)}")
    return path


def _missing_hint(run_dir: Path, which: str) -> str:
    if which == "last":
        return ""
    if not (run_dir / RESULT_FILE).is_file():
        return " (the run is not complete; try --checkpoint last)"
    if which == "best" and selected_weights(run_dir) == "final":
        return " (the run had no validation split, so no best epoch; its model is final.pt)"
    return f" (the last epoch's weights are still in {CHECKPOINT_FILE}: --checkpoint last)"


def read_weights(
    run_dir: str | Path, which: str = "selected", *, warn: Callable[[str], None] | None = None
) -> tuple[dict[str, torch.Tensor], Path]:
    """``(state dict, file)`` of ``which`` weights, loaded ``weights_only``.

    ``last`` reads the newest checkpoint's model, falling back to the previous checkpoint
    with one ``warn`` line (default: on stderr) when the newest is unreadable.
    """
    path = weights_path(run_dir, which)
    if path.name == CHECKPOINT_FILE:
        found = load_checkpoint(path, "checkpoint", warn=warn or _stderr)
        if found is None or not isinstance(found[0].get("model"), dict):
            raise NasError(f"{path}: not a checkpoint written by the trainer")
        return found[0]["model"], found[1]
    try:
        return load_torch(path, "weights"), path
    except NasError as exc:
        raise NasError(
            f"{exc}; the last epoch's weights are still in {CHECKPOINT_FILE} (--checkpoint last), "
            "or delete the run directory to train it again"
        ) from None


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


@dataclass(frozen=True)
class TrainedRun:
    """The files of a ``nas train`` run directory: ``config.json`` and, once complete, ``result.json``."""

    path: Path
    config: dict[str, Any]
    result: dict[str, Any] | None

    @property
    def spec(self) -> dict[str, Any]:
        """The model spec (:mod:`nas.training.spec`) the network is rebuilt from."""
        return dict(self.config["model"])

    @property
    def dataset(self) -> dict[str, Any]:
        return dict(self.config["dataset"])


def open_run(run_dir: str | Path) -> TrainedRun:
    """The config and result of a run directory written by ``nas train`` (one-line errors otherwise)."""
    run = Path(run_dir)
    if not run.is_dir():
        raise NasError(f"{run}: run directory not found")
    path = run / CONFIG_FILE
    if not path.is_file():
        raise NasError(f"{run}: not a run directory of nas train (no {CONFIG_FILE})")
    config = read_json(path, "the run's config")
    if not isinstance(config, dict) or not all(isinstance(config.get(k), dict) for k in ("model", "dataset")):
        raise NasError(f"{path}: not a config.json written by the trainer (expected model and dataset sections)")
    result = read_json(run / RESULT_FILE, "the run's result") if (run / RESULT_FILE).is_file() else None
    return TrainedRun(path=run, config=config, result=result if isinstance(result, dict) else None)


@dataclass
class LoadedRun:
    """A run's network rebuilt with trained weights, with its dataset and test split."""

    run: Path
    model: nn.Module
    weights: Path
    data: ImageDataset
    config: TrainConfig  # the run's training fields; device and eval batch size as asked when loading
    test: torch.Tensor  # row indices of the run's test split
    trained: TrainedRun

    @property
    def dataset(self) -> str:
        return str(self.data.name)

    def test_loader(
        self, *, device: torch.device | str = "cpu", channels_last: bool = False, count: int | None = None
    ) -> BatchLoader:
        """The run's test split (its first ``count`` images, if given), normalised as in training."""
        indices = self.test if count is None else self.test[:count]
        return make_loader(self.data, self.config, "test", indices, device=device, channels_last=channels_last)


def load_run(
    run: str | Path,
    *,
    checkpoint: str = "selected",
    data_dir: str | Path | None = None,
    device: str = "auto",
    batch_size: int = 256,
    cache: dict[Any, ImageDataset] | None = None,
) -> LoadedRun:
    """Rebuild a run's network from its ``config.json``, load its ``checkpoint`` weights and its data.

    ``data_dir`` defaults to the one the run recorded; ``cache`` shares datasets between runs.
    """
    trained = open_run(run)
    spec, ds = trained.spec, trained.dataset
    if spec.get("source") not in ("zoo", "genotype"):
        raise NasError(
            f"{trained.path}: the model was built in Python ({spec.get('class', 'unknown class')}) "
            "and cannot be rebuilt here"
        )
    root = data_dir if data_dir is not None else ds.get("data_dir")
    cache = {} if cache is None else cache
    key = (ds.get("name"), None if root is None else str(root))
    if key not in cache:
        cache[key] = load_dataset(str(ds.get("name")), root)
    data = cache[key]
    if (data.num_classes, data.in_channels) != (ds.get("num_classes"), ds.get("in_channels")):
        raise NasError(
            f"{trained.path}: was trained on {ds.get('num_classes')} classes x {ds.get('in_channels')} channels, "
            f"the dataset found has {data.num_classes} x {data.in_channels}"
        )
    config = _eval_config(trained, device=device, batch_size=batch_size)
    model = build_model(spec, num_classes=data.num_classes, in_channels=data.in_channels, image_size=data.image_size)
    state, path = read_weights(trained.path, checkpoint)
    load_weights(model, state, path)
    test = make_splits(data, config).test
    return LoadedRun(run=trained.path, model=model, weights=path, data=data, config=config, test=test, trained=trained)


def _eval_config(trained: TrainedRun, *, device: str, batch_size: int) -> TrainConfig:
    saved: Mapping[str, Any] = trained.config.get("train") or {}
    fields = {k: v for k, v in saved.items() if k in TrainConfig.model_fields}
    try:
        return TrainConfig(**{**fields, "device": device, "eval_batch_size": batch_size, "compile": False})
    except ValidationError as exc:
        raise NasError(f"{trained.path / CONFIG_FILE}: train: {describe_error(exc)}") from None
