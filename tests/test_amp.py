"""Mixed precision in the shared trainer: the ``amp`` modes, bfloat16 autocast on the CPU (the
mixed-precision path this machine can run for real), and float16 + GradScaler on the CPU to
check that a NaN/inf step under the scaler is skipped instead of failing the run."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from pydantic import ValidationError
from torch import nn

from nas.data import ImageDataset
from nas.runs.rng import seed_everything
from nas.training.config import EXECUTION_FIELDS, TrainConfig, describe_error
from nas.training.loop import Engine, NonFiniteLoss, precision
from nas.training.run import train


def _images(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 3
    images = torch.randint(0, 80, (n, 3, 8, 8), generator=g, dtype=torch.uint8)
    for c in range(3):
        images[labels == c, c] += 150
    return images, labels.long()


@pytest.fixture(scope="module")
def easy() -> ImageDataset:
    (tr_x, tr_y), (te_x, te_y) = _images(192, 1), _images(60, 2)
    return ImageDataset("easy", tr_x, tr_y, te_x, te_y, ("a", "b", "c"), (0.3,) * 3, (0.3,) * 3)


class Net(nn.Module):
    """Conv-BN-ReLU-linear; ``poison`` lists the 1-based training forward passes whose logits are inf."""

    def __init__(self, poison: tuple[int, ...] | range = ()) -> None:
        super().__init__()
        seed_everything(0)
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.head = nn.Linear(8, 3)
        self.poison = set(poison)
        self.calls = 0
        self.dtypes: list[torch.dtype] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x)
        self.dtypes.append(h.dtype)
        logits = self.head(h.mean(dim=(2, 3)))
        if self.training:
            self.calls += 1
            if self.calls in self.poison:
                logits = logits * float("inf")
        return logits


def _config(**changes: object) -> TrainConfig:
    base = dict(epochs=2, batch_size=32, lr=0.1, weight_decay=1e-4, device="cpu", val_fraction=0.0, log_interval=2)
    base.update(changes)
    return TrainConfig(**base)


def _batches(n: int = 6, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    x, y = _images(32 * n, seed)
    x = (x.float() / 255 - 0.4) / 0.3
    return list(zip(x.split(32), y.split(32)))


# --------------------------------------------------------------------------- #
# The modes
# --------------------------------------------------------------------------- #


def test_modes_resolve_per_device() -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert precision("auto", cuda) == (torch.float16, True)
    assert precision("auto", cpu) == (None, False)
    assert precision("auto", cpu, cpu_bf16=True) == (torch.bfloat16, False)  # the older cpu_bf16 switch
    assert precision("off", cuda) == (None, False)
    assert precision("fp16", cpu) == (torch.float16, True)
    assert precision("bf16", cuda) == (torch.bfloat16, False)


def test_config_values_and_errors() -> None:
    assert TrainConfig().amp == "auto"
    assert TrainConfig(amp=True).amp == "auto" and TrainConfig(amp=False).amp == "off"  # configs before the modes
    assert TrainConfig(amp="BF16").amp == "bf16"
    # precision is how a run executes, like the device: a CUDA fp16 run may be resumed on a CPU
    assert {"amp", "cpu_bf16"} <= EXECUTION_FIELDS
    for bad, shown in (("half", "'half'"), (16, "16")):
        with pytest.raises(ValidationError) as err:
            TrainConfig(amp=bad)
        message = describe_error(err.value)
        assert message.startswith("amp: ") and "auto" in message and "bf16" in message and shown in message, message


# --------------------------------------------------------------------------- #
# bfloat16 autocast on the CPU
# --------------------------------------------------------------------------- #


def test_auto_on_cpu_runs_in_float32() -> None:
    model = Net()
    engine = Engine(model, _config(), steps_per_epoch=6)
    assert engine.autocast_dtype is None and engine.scaler is None
    engine.train_epoch(_batches(2))
    assert set(model.dtypes) == {torch.float32}


def test_bf16_autocast_trains_on_cpu(easy: ImageDataset, tmp_path: Path) -> None:
    model = Net()
    result = train(model, easy, _config(amp="bf16", epochs=3), tmp_path / "bf16", progress=False)
    assert torch.bfloat16 in model.dtypes  # the convolution ran in bfloat16 under autocast
    assert all(p.dtype == torch.float32 for p in model.parameters())  # the weights stay float32
    assert result.final_train_loss is not None and math.isfinite(result.final_train_loss)
    assert result.test_top1 is not None and result.test_top1 > 60  # three easy classes: chance is 33%
    doc = json.loads((tmp_path / "bf16" / "config.json").read_text())
    assert doc["train"]["amp"] == "bf16" and doc["environment"]["amp"] == "bf16"
    # and it computes what float32 computes, to bfloat16's ~3 significant digits
    fp32 = Engine(Net(), _config(amp="off"), steps_per_epoch=6).train_epoch(_batches())
    bf16 = Engine(Net(), _config(amp="bf16"), steps_per_epoch=6).train_epoch(_batches())
    assert bf16["loss"] == pytest.approx(fp32["loss"], rel=0.05)


# --------------------------------------------------------------------------- #
# A NaN/inf step under the GradScaler
# --------------------------------------------------------------------------- #


def test_nonfinite_step_under_the_scaler_is_skipped() -> None:
    model = Net(poison=(3,))
    engine = Engine(model, _config(amp="fp16"), steps_per_epoch=6)
    assert engine.scaler is not None and engine.autocast_dtype == torch.float16
    updates: list[int] = []
    engine.optimizer.register_step_post_hook(lambda *_: updates.append(model.calls))
    scale = engine.scaler.get_scale()
    stats = engine.train_epoch(_batches())
    assert stats["skipped_steps"] == 1 and stats["steps"] == 6
    assert updates == [1, 2, 4, 5, 6]  # the optimizer did not step on the poisoned batch
    assert engine.scaler.get_scale() < scale  # and the scaler lowered its scale
    assert math.isfinite(stats["loss"]) and all(torch.isfinite(p).all() for p in model.parameters())


def test_nonfinite_step_without_a_scaler_still_fails() -> None:
    for amp in ("off", "bf16"):
        with pytest.raises(NonFiniteLoss) as err:
            Engine(Net(poison=(3,)), _config(amp=amp), steps_per_epoch=6).train_epoch(_batches())
        assert err.value.step == 3


def test_an_epoch_of_only_skipped_steps_is_divergence() -> None:
    engine = Engine(Net(poison=range(1, 100)), _config(amp="fp16"), steps_per_epoch=6)
    with pytest.raises(NonFiniteLoss) as err:
        engine.train_epoch(_batches())
    assert err.value.step == 1


def test_a_run_with_a_skipped_step_finishes_and_records_it(easy: ImageDataset, tmp_path: Path) -> None:
    model = Net(poison=(2,))
    result = train(model, easy, _config(amp="fp16"), tmp_path / "fp16", progress=False)
    assert result.test_top1 is not None and result.final_train_loss is not None
    rows = [json.loads(line) for line in (tmp_path / "fp16" / "metrics.jsonl").read_text().splitlines()]
    assert [r["skipped_steps"] for r in rows] == [1, 0]
    assert json.loads((tmp_path / "fp16" / "config.json").read_text())["environment"]["amp"] == "fp16"
