"""A training run's ``config.json``: what it records, what must match to resume, and ``--extend``.

The document holds the training fields, the model spec, the dataset, the environment and
free-form ``meta``. Running the same thing again compares the fields that define what is
learnt (:func:`compared_fields`) with the saved ones through :func:`nas.runs.rundir.check_run_dir`;
execution fields (device, compile, ...) may change between resumes.

Extending a run (``extend=True``, ``nas train --extend``) is the one sanctioned change:
``epochs`` may grow. The run continues from its checkpoint, and ``config.json`` keeps the
history in ``extensions`` (one entry per change: the old and new epoch counts, the epoch
reached, the time).
"""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nas.errors import NasError
from nas.metrics import count_parameters
from nas.runs.atomic import read_json, write_json
from nas.runs.device import resolve_device
from nas.runs.rundir import RunStatus, check_run_dir, previous_name
from nas.training.config import EXECUTION_FIELDS, TrainConfig
from nas.training.loop import execution_for, precision, precision_name
from nas.training.result import RESULT_FILE
from nas.training.splits import Splits

CONFIG_FORMAT = 1
CONFIG_FILE = "config.json"
CHECKPOINT_FILE = "checkpoint.pt"


def config_document(
    config: TrainConfig,
    data: Any,
    splits: Splits,
    model: nn.Module,
    *,
    model_spec: Mapping[str, Any] | None,
    data_dir: str | Path | None,
    meta: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The resolved config written to ``config.json`` (and compared when a run is resumed)."""
    device = resolve_device(config.device)
    execution = execution_for(config, device, model)
    if model_spec is None:
        model_spec = {"source": "module", "class": f"{type(model).__module__}.{type(model).__qualname__}"}
    return {
        "format": CONFIG_FORMAT,
        "model": dict(model_spec),
        "dataset": {
            "name": data.name,
            "num_classes": data.num_classes,
            "in_channels": data.in_channels,
            "image_size": data.image_size,
            "train_images": len(splits.train),
            "val_images": 0 if splits.val is None else len(splits.val),
            "test_images": len(splits.test),
            "data_dir": None if data_dir is None else str(data_dir),
        },
        "train": config.model_dump(),
        "num_parameters": int(count_parameters(model)),
        "environment": {
            "torch": torch.__version__,
            "python": platform.python_version(),
            "device": str(device),
            "channels_last": execution.channels_last,
            "lean_kernels": execution.lean_kernels,
            # why: the per-device table of nas.device_defaults, or the config
            "execution": execution.to_dict(),
            "amp": precision_name(precision(config.amp, device, config.cpu_bf16)[0]),
            "threads": torch.get_num_threads(),
            # the GPUs a scheduler (Ray) gave this process; the device above says what was used
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "ray_node": ray_node_id(),
        },
        "meta": dict(meta or {}),
        "extensions": [],
    }


def ray_node_id() -> str | None:
    """The Ray node this process runs on (a trial on a cluster), else None; never imports Ray itself."""
    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():
        return None
    try:
        return str(ray.get_runtime_context().get_node_id())
    except Exception:  # pragma: no cover - a Ray without a runtime context: the record just lacks the node
        return None


def compared_fields(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a config document that define what is learnt (training fields at the top level)."""
    flat: dict[str, Any] = {}
    for key, value in doc.get("train", {}).items():
        if key not in EXECUTION_FIELDS:
            flat[key] = value
    for key, value in doc.get("model", {}).items():
        if key != "spec":  # how the user spelled the genotype; the genotype itself is compared
            flat[f"model.{key}"] = value
    for key, value in doc.get("dataset", {}).items():
        if key != "data_dir":
            flat[f"dataset.{key}"] = value
    return flat


def _saved_fields(doc: Any) -> dict[str, Any]:
    if not isinstance(doc, dict) or doc.get("format") != CONFIG_FORMAT:
        raise ValueError("not a trainer config")
    return compared_fields(doc)


def _epochs_of(doc: Any) -> int | None:
    epochs = doc.get("train", {}).get("epochs") if isinstance(doc, dict) else None
    return epochs if isinstance(epochs, int) else None


def prepare_run_dir(run_dir: Path, doc: dict[str, Any], *, extend: bool = False) -> RunStatus:
    """Check ``run_dir`` against ``doc``: ``new``, ``resume`` or ``complete``.

    With ``extend``, a run saved with fewer ``epochs`` is reopened: its ``result.json`` is
    removed (it is no longer complete) and the status is ``resume``. ``doc`` then carries
    the saved ``extensions`` (see :func:`write_config`). Without it, a different epoch count
    is refused like any other difference, with a hint about ``--extend``.
    """
    compared = compared_fields(doc)
    try:
        ignore = ("epochs",) if extend else ()
        status = check_run_dir(run_dir, compared, saved_part=_saved_fields, ignore=ignore, checkpoint=CHECKPOINT_FILE)
    except NasError as exc:
        saved = _saved_doc(run_dir)
        if saved is not None and _only_epochs_differ(saved, compared):
            raise NasError(f"{exc}; or add --extend to train it for {compared['epochs']} epochs") from None
        raise
    saved = _saved_doc(run_dir)
    if saved is None:
        return status
    doc["extensions"] = list(saved.get("extensions") or [])
    old, new = _epochs_of(saved), doc["train"]["epochs"]
    if status == "new" or old is None or old == new:
        return status  # "new": killed before its first checkpoint, so nothing to extend
    # only reached with extend=True: check_run_dir compared every other field
    if new < old:
        raise NasError(f"--extend: {run_dir} holds a run of {old} epochs; expected more than {old} epochs, got {new}")
    if not any((run_dir / name).is_file() for name in (CHECKPOINT_FILE, previous_name(CHECKPOINT_FILE))):
        raise NasError(f"--extend: {run_dir} holds no {CHECKPOINT_FILE} to continue from; train it again elsewhere")
    # after_epoch: the epoch of the checkpoint the run continues from, filled in by write_config
    doc["extensions"].append({"from_epochs": old, "to_epochs": new, "after_epoch": None, "time": _now()})
    (run_dir / RESULT_FILE).unlink(missing_ok=True)  # before config.json: a kill in between leaves a resumable run
    return "resume"


def write_config(run_dir: Path, doc: Mapping[str, Any], *, epochs_done: int) -> None:
    """Write ``config.json``; an extension recorded by :func:`prepare_run_dir` gets the epoch it starts from."""
    extensions = doc.get("extensions")
    if extensions and extensions[-1].get("after_epoch") is None:
        extensions[-1]["after_epoch"] = epochs_done
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / CONFIG_FILE, doc)


def _saved_doc(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / CONFIG_FILE
    if not path.is_file():
        return None
    doc = read_json(path, "the run's config")
    return doc if isinstance(doc, dict) else None


def _only_epochs_differ(saved: Mapping[str, Any], compared: Mapping[str, Any]) -> bool:
    try:
        old = _saved_fields(saved)
    except ValueError:
        return False
    return old.get("epochs") != compared.get("epochs") and {**old, "epochs": None} == {**compared, "epochs": None}


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
