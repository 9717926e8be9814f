"""The one shared trainer: every network of the toolkit is trained by :func:`train`.

Children a controller evaluates, networks derived from searched genotypes and
hand-designed baselines all go through the same loop, schedule and selection rule, so
their numbers can be compared. The implementation lives in :mod:`nas.training`; this
module is the public surface::

    from nas.trainer import TrainConfig, train, seed_everything

    seed_everything(0)
    model = build(genotype, num_classes=10, channels=16, layers=8)
    result = train(model, dataset, TrainConfig(epochs=3, lr=0.05), "runs/x", progress=False)

What it does, in short: SGD with momentum (optionally Nesterov), weight decay (on every
parameter by default, optionally not on norms and biases), linear warm-up then cosine to
``lr_min`` per step or per epoch, label smoothing, gradient clipping, auxiliary-head
losses, the DARTS drop-path ramp, mixed precision (``amp``: auto = float16 + GradScaler on CUDA),
channels-last and ``torch.compile`` on request. The best epoch is chosen on a
validation split carved from the training set; the test set is evaluated once at the
end, for the best and for the final weights. See :mod:`nas.training.run` for the run
directory, resuming and extending; :func:`nas.training.finished.load_run` reads a finished run back.
"""

from __future__ import annotations

from nas.runs.rng import seed_everything
from nas.training.config import EXECUTION_FIELDS, TrainConfig, describe_error
from nas.training.loop import Engine, accuracy, lr_at, topk_correct
from nas.training.result import TrainResult, read_result
from nas.training.run import EpochCallback, StopTraining, train
from nas.training.spec import build_model, describe_spec, resolve_spec
from nas.training.splits import Splits, make_splits
from nas.training.weights import load_weights

__all__ = [
    "EXECUTION_FIELDS",
    "Engine",
    "EpochCallback",
    "Splits",
    "StopTraining",
    "TrainConfig",
    "TrainResult",
    "accuracy",
    "build_model",
    "describe_error",
    "describe_spec",
    "load_weights",
    "lr_at",
    "make_splits",
    "read_result",
    "resolve_spec",
    "seed_everything",
    "topk_correct",
    "train",
]
