"""The shared trainer on tiny synthetic data: optimisation, selection, run directories, resume."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from nas.data import ImageDataset
from nas.errors import NasError
from nas.runs.atomic import load_torch
from nas.trainer import (
    Engine,
    StopTraining,
    TrainConfig,
    accuracy,
    lr_at,
    make_splits,
    seed_everything,
    topk_correct,
    train,
)
from nas.training.loop import CosineSchedule, make_optimizer
from nas.training.recipes import list_recipes, load_recipe

# --------------------------------------------------------------------------- #
# Fixtures: an easy synthetic dataset and tiny models
# --------------------------------------------------------------------------- #


def _easy_images(n: int, classes: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Classes 0-2 brighten channel ``c``, class 3 all channels a little: learnable in a few steps."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % classes
    images = torch.randint(0, 80, (n, 3, 8, 8), generator=g, dtype=torch.uint8)
    for c in range(classes):
        if c < 3:
            images[labels == c, c] += 150
        else:
            images[labels == c] += 60
    return images, labels.long()


def _easy_dataset() -> ImageDataset:
    tr_x, tr_y = _easy_images(240, 4, seed=1)
    te_x, te_y = _easy_images(80, 4, seed=2)
    return ImageDataset("easy", tr_x, tr_y, te_x, te_y, ("a", "b", "c", "d"), (0.35,) * 3, (0.3,) * 3)


@pytest.fixture(scope="module")
def easy() -> ImageDataset:
    return _easy_dataset()


class Tiny(nn.Module):
    """Conv-BN-ReLU-dropout-linear, with an optional auxiliary head and a drop_path_prob attribute."""

    def __init__(self, classes: int = 4, auxiliary: bool = False, aux_heads: int = 1) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.dropout = nn.Dropout(0.2)
        self.classifier = nn.Linear(8, classes)
        self.auxiliary = auxiliary
        self.auxiliary_heads = nn.ModuleList(nn.Linear(8, classes) for _ in range(aux_heads)) if auxiliary else None
        self.drop_path_prob = 0.0
        self.poison = False  # set to make the next forward return NaN
        self.seen_drop_path: list[float] = []

    def forward(self, x: torch.Tensor):  # noqa: ANN201
        if self.training:
            self.seen_drop_path.append(self.drop_path_prob)
        h = self.features(x).mean(dim=(2, 3))
        logits = self.classifier(self.dropout(h))
        if self.poison:
            logits = logits * float("nan")
        if self.training and self.auxiliary_heads is not None:
            aux = tuple(head(h) for head in self.auxiliary_heads)
            return logits, aux[0] if len(aux) == 1 else aux
        return logits


def _config(**changes) -> TrainConfig:
    base = dict(epochs=3, batch_size=32, lr=0.05, weight_decay=1e-4, crop_padding=1, eval_batch_size=64)
    base.update(changes)
    return TrainConfig(**base)


def _fresh(seed: int = 0, **kw) -> Tiny:
    seed_everything(seed)
    return Tiny(**kw)


# --------------------------------------------------------------------------- #
# Pieces
# --------------------------------------------------------------------------- #


def test_topk_counts_and_percentages() -> None:
    logits = torch.tensor(
        [
            [0.9, 0.1, 0.0, 0.0, 0.0, 0.0],  # target 0: top-1 hit
            [0.1, 0.9, 0.5, 0.4, 0.3, 0.2],  # target 0: rank 6, miss in top-5
            [0.5, 0.4, 0.3, 0.2, 0.1, 0.0],  # target 4: rank 5, top-5 hit only
            [0.0, 0.1, 0.9, 0.2, 0.0, 0.0],  # target 3: rank 2
        ]
    )
    target = torch.tensor([0, 0, 4, 3])
    assert topk_correct(logits, target).tolist() == [1, 3]
    assert accuracy(logits, target) == [25.0, 75.0]
    # fewer classes than k: top-5 counts every row
    assert accuracy(logits[:, :3], torch.tensor([0, 1, 2, 2])) == [75.0, 100.0]


def test_cosine_schedule_with_warmup_values() -> None:
    assert lr_at(0, 10, 0, 0.1, 0.0) == pytest.approx(0.1)
    assert lr_at(5, 10, 0, 0.1, 0.0) == pytest.approx(0.05)
    assert lr_at(9, 10, 0, 0.1, 0.001) == pytest.approx(0.001 + 0.099 * 0.5 * (1 + math.cos(math.pi * 0.9)))
    # warm-up: linear to lr at the last warm-up unit, then cosine from lr
    assert [lr_at(t, 12, 4, 0.2, 0.0) for t in range(4)] == pytest.approx([0.05, 0.1, 0.15, 0.2])
    assert lr_at(4, 12, 4, 0.2, 0.0) == pytest.approx(0.2)
    assert lr_at(8, 12, 4, 0.2, 0.0) == pytest.approx(0.1)
    # the schedule object sets every param group, per step
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = CosineSchedule(opt, total=12, warmup=4, lr=0.2, lr_min=0.0)
    seen = []
    for _ in range(12):
        seen.append(opt.param_groups[0]["lr"])
        sched.step()
    assert seen == pytest.approx([lr_at(t, 12, 4, 0.2, 0.0) for t in range(12)])


def test_per_epoch_schedule_keeps_lr_constant_within_an_epoch(easy: ImageDataset) -> None:
    rows = []
    train(
        _fresh(),
        easy,
        _config(schedule_unit="epoch", epochs=4),
        None,
        progress=False,
        callback=lambda e, m: rows.append(m),
    )
    assert [r["lr"] for r in rows] == pytest.approx([lr_at(t, 4, 0, 0.05, 0.0) for t in range(4)])


def test_label_smoothing_enters_the_training_loss(easy: ImageDataset) -> None:
    model = _fresh()
    model.dropout.p = 0.0
    x = torch.randn(16, 3, 8, 8)
    y = torch.arange(16) % 4
    with torch.no_grad():
        model.train()
        logits = model(x)
    expected = nn.functional.cross_entropy(logits, y, label_smoothing=0.3).item()
    plain = nn.functional.cross_entropy(logits, y).item()
    engine = Engine(model, _config(label_smoothing=0.3), steps_per_epoch=1)
    stats = engine.train_epoch([(x, y)])
    assert stats["loss"] == pytest.approx(expected, rel=1e-5)
    assert abs(expected - plain) > 1e-3


@pytest.mark.parametrize("heads", [1, 2])
def test_auxiliary_losses_are_weighted_and_trained(heads: int) -> None:
    x = torch.randn(16, 3, 8, 8)
    y = torch.arange(16) % 4
    model = _fresh(auxiliary=True, aux_heads=heads)
    model.dropout.p = 0.0
    with torch.no_grad():
        logits, aux = model(x)
    aux = aux if isinstance(aux, tuple) else (aux,)
    ce = nn.functional.cross_entropy
    expected = ce(logits, y).item() + 0.4 * sum(ce(a, y).item() for a in aux)
    engine = Engine(model, _config(auxiliary_weight=0.4), steps_per_epoch=1)
    assert engine.train_epoch([(x, y)])["loss"] == pytest.approx(expected, rel=1e-5)
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.auxiliary_heads.parameters())

    # weight 0: the auxiliary heads get no gradient
    model = _fresh(auxiliary=True, aux_heads=heads)
    Engine(model, _config(auxiliary_weight=0.0), steps_per_epoch=1).train_epoch([(x, y)])
    assert all(p.grad is None for p in model.auxiliary_heads.parameters())


def test_drop_path_ramps_linearly_over_epochs(easy: ImageDataset) -> None:
    model = _fresh()
    train(model, easy, _config(epochs=4, drop_path_prob=0.2), None, progress=False)
    assert sorted(set(model.seen_drop_path)) == pytest.approx([0.0, 0.05, 0.1, 0.15])


def test_gradient_clipping_bounds_the_update() -> None:
    model = _fresh()
    before = [p.detach().clone() for p in model.parameters()]
    cfg = _config(lr=1.0, momentum=0.0, weight_decay=0.0, grad_clip=0.01)
    Engine(model, cfg, steps_per_epoch=1).train_epoch([(torch.randn(8, 3, 8, 8) * 10, torch.arange(8) % 4)])
    step = torch.cat([(p.detach() - b).flatten() for p, b in zip(model.parameters(), before)])
    assert 0 < step.norm().item() <= 0.01 + 1e-6


def test_weight_decay_can_skip_norms_and_biases() -> None:
    model = _fresh()
    groups = make_optimizer(model, _config(decay_norm_and_bias=False)).param_groups
    assert [g["weight_decay"] for g in groups] == [1e-4, 0.0]
    assert all(p.ndim > 1 for p in groups[0]["params"]) and all(p.ndim == 1 for p in groups[1]["params"])
    assert len(make_optimizer(model, _config()).param_groups) == 1


def test_splits_are_balanced_disjoint_and_seed_independent(easy: ImageDataset) -> None:
    s = make_splits(easy, _config(train_subset=100, val_fraction=0.2, test_subset=40, seed=5))
    assert len(s.train) == 80 and len(s.val) == 20 and len(s.test) == 40
    assert not set(s.train.tolist()) & set(s.val.tolist())
    assert torch.bincount(easy.train_labels[torch.cat([s.train, s.val])]).tolist() == [25] * 4
    assert torch.bincount(easy.test_labels[s.test]).tolist() == [10] * 4
    other = make_splits(easy, _config(train_subset=100, val_fraction=0.2, test_subset=40, seed=6))
    assert torch.equal(s.val, other.val)  # the training seed never moves the split


def test_config_validation_messages() -> None:
    with pytest.raises(Exception) as info:
        TrainConfig(lr=-1)
    from nas.trainer import describe_error

    assert describe_error(info.value) == "lr: expected a positive number, got -1"
    for kwargs, text in [
        ({"epochs": True}, "epochs: expected an integer, got true"),
        ({"epochs": 0}, "epochs: expected an integer >= 1, got 0"),
        ({"lr_min": 0.5}, "lr_min: expected at most lr (0.1), got 0.5"),
        ({"schedule_unit": "batch"}, "schedule_unit: expected one of 'step' or 'epoch', got 'batch'"),
        ({"epoch": 3}, "epoch: unknown field; did you mean epochs?"),
        ({"device": "gpu"}, "device: expected auto, cpu, cuda or cuda:N, got 'gpu'"),
    ]:
        with pytest.raises(Exception) as info:
            TrainConfig(**kwargs)
        assert describe_error(info.value) == text


# --------------------------------------------------------------------------- #
# train(): learning, selection, run directory
# --------------------------------------------------------------------------- #


def test_training_learns_and_writes_the_run_directory(easy: ImageDataset, tmp_path: Path) -> None:
    run = tmp_path / "run"
    result = train(_fresh(), easy, _config(epochs=4, lr=0.2), run, progress=False, model_spec={"source": "test"})
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
    assert rows[-1]["train_loss"] < rows[0]["train_loss"] * 0.7
    assert result.test_top1 is not None and result.test_top1 > 80
    # selection is on validation: the best epoch is the first epoch with the highest val top-1
    vals = [r["val_top1"] for r in rows]
    assert result.best_epoch == vals.index(max(vals)) + 1 and result.best_val_top1 == max(vals)
    assert result.selection == "best_val" and result.test_best_top1 is not None
    for name in ("config.json", "checkpoint.pt", "best.pt", "final.pt", "result.json"):
        assert (run / name).is_file(), name
    assert any((run / "tb").iterdir())
    doc = json.loads((run / "config.json").read_text())
    assert doc["train"]["lr"] == 0.2 and doc["model"] == {"source": "test"}
    assert doc["environment"]["torch"] == torch.__version__ and doc["dataset"]["val_images"] == 24
    ckpt = torch.load(run / "checkpoint.pt", weights_only=True)
    assert ckpt["epoch"] == 4 and set(ckpt["rng"]) == {"python", "numpy", "torch", "cuda"}
    saved = json.loads((run / "result.json").read_text())
    assert saved["test_top1"] == result.test_top1 and saved["images_per_s"] > 0


def test_without_validation_the_final_model_is_reported(easy: ImageDataset) -> None:
    result = train(_fresh(), easy, _config(val_fraction=0.0, epochs=2), None, progress=False)
    assert result.selection == "final" and result.best_epoch is None and result.best_val_top1 is None
    assert result.test_top1 == result.test_final_top1 is not None and result.test_best_top1 is None


def test_resume_after_a_kill_equals_an_uninterrupted_run(easy: ImageDataset, tmp_path: Path) -> None:
    cfg = _config(epochs=3, cutout=2, drop_path_prob=0.1)  # augmentation, dropout: RNG state matters
    train(_fresh(), easy, cfg, tmp_path / "a", progress=False)

    def kill_after_first(epoch: int, metrics: dict) -> None:
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(_fresh(), easy, cfg, tmp_path / "b", progress=False, callback=kill_after_first)
    assert load_torch(tmp_path / "b" / "checkpoint.pt")["epoch"] == 1
    assert not (tmp_path / "b" / "result.json").exists()
    resumed = train(_fresh(seed=123), easy, cfg, tmp_path / "b", progress=False)
    assert resumed.resumed_from_epoch == 1 and resumed.epochs_completed == 3
    for name in ("final.pt", "best.pt"):
        a, b = load_torch(tmp_path / "a" / name), load_torch(tmp_path / "b" / name)
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a), name
    rows = {}
    for run in ("a", "b"):
        lines = (tmp_path / run / "metrics.jsonl").read_text().splitlines()
        rows[run] = [
            {k: v for k, v in json.loads(x).items() if k not in ("epoch_time_s", "images_per_s")} for x in lines
        ]
    assert rows["a"] == rows["b"] and len(rows["a"]) == 3


def test_a_different_config_is_refused_and_a_finished_run_reported(easy: ImageDataset, tmp_path: Path) -> None:
    run = tmp_path / "run"
    first = train(_fresh(), easy, _config(epochs=2), run, progress=False)
    stamp = (run / "final.pt").stat().st_mtime_ns
    with pytest.raises(NasError, match=r"different config \(epochs: 2 there, 3 now; lr: 0.05 there, 0.1 now\)"):
        train(_fresh(), easy, _config(epochs=3, lr=0.1), run, progress=False)
    again = train(_fresh(), easy, _config(epochs=2, eval_batch_size=17), run, progress=False)  # execution field
    assert again.already_complete and again.test_top1 == first.test_top1
    assert (run / "final.pt").stat().st_mtime_ns == stamp
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(NasError, match="not empty and holds no config.json"):
        train(_fresh(), easy, _config(), tmp_path / "other", progress=False)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(easy: ImageDataset, tmp_path: Path) -> None:
    model = _fresh()

    def poison(epoch: int, metrics: dict) -> None:
        if epoch == 2:
            model.poison = True

    run = tmp_path / "run"
    with pytest.raises(NasError) as info:
        train(model, easy, _config(epochs=4), run, progress=False, callback=poison)
    message = str(info.value)
    assert message.startswith(f"epoch 3, step 1: loss is nan; the last good checkpoint (epoch 2) is kept in {run}")
    assert "lower the learning rate (lr=0.05)" in message and "\n" not in message
    ckpt = load_torch(run / "checkpoint.pt")
    assert ckpt["epoch"] == 2 and all(torch.isfinite(v).all() for v in ckpt["model"].values() if v.is_floating_point())
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 2 and not (run / "result.json").exists()


@pytest.mark.parametrize("how", ["return", "raise"])
def test_callback_stops_early(easy: ImageDataset, tmp_path: Path, how: str) -> None:
    seen = []

    def stop_at_two(epoch: int, metrics: dict) -> bool:
        seen.append((epoch, set(metrics)))
        if epoch == 2:
            if how == "raise":
                raise StopTraining
            return True
        return False

    result = train(_fresh(), easy, _config(epochs=5), tmp_path / "r", progress=False, callback=stop_at_two)
    assert result.stopped_early and result.epochs_completed == 2 and len(seen) == 2
    assert {"val_top1", "train_loss", "lr"} <= seen[0][1]
    assert result.test_top1 is None and result.best_val_top1 is not None
    assert json.loads((tmp_path / "r" / "result.json").read_text())["stopped_early"] is True


# --------------------------------------------------------------------------- #
# Recipes
# --------------------------------------------------------------------------- #


def test_presets_load_with_their_published_values() -> None:
    assert {"quick", "cifar_200ep", "darts_eval"} <= set(list_recipes())
    d = load_recipe("darts_eval")
    assert (d.epochs, d.batch_size, d.lr, d.lr_min, d.momentum, d.weight_decay) == (600, 96, 0.025, 0.0, 0.9, 3e-4)
    assert (d.grad_clip, d.drop_path_prob, d.cutout, d.auxiliary_weight) == (5.0, 0.2, 16, 0.4)
    assert d.model_options["darts"] == {"channels": 36, "layers": 20, "auxiliary": True}
    c = load_recipe("cifar_200ep")
    assert (c.epochs, c.batch_size, c.lr, c.weight_decay, c.crop_padding, c.flip) == (200, 128, 0.1, 5e-4, 4, True)
    q = load_recipe("quick")
    assert q.train_subset == 5000 and q.epochs <= 5 and q.model_options["darts"]["layers"] == 8
    assert q.train_config(seed=3).seed == 3


def test_bad_recipe_values_are_one_line_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochs: 3\nlr: -1\n")
    with pytest.raises(NasError, match=r"^recipe bad.yaml: lr: expected a positive number, got -1$"):
        load_recipe(str(bad))
    with pytest.raises(NasError, match=r"^--set lr=-1: lr: expected a positive number, got -1$"):
        load_recipe("quick", [("--set lr=-1", "lr", -1)])
    with pytest.raises(NasError, match=r"^--epochs 0: epochs: expected an integer >= 1, got 0$"):
        load_recipe("quick", [("--epochs 0", "epochs", 0)])
    bad.write_text("epoch: 3\n")
    with pytest.raises(NasError, match="recipe bad.yaml: epoch: unknown field; did you mean epochs"):
        load_recipe(str(bad))
    bad.write_text("lr: [0.1\n")
    with pytest.raises(NasError, match="recipe bad.yaml: not valid YAML at line"):
        load_recipe(str(bad))
    with pytest.raises(NasError, match="recipe 'nope': not found .*quick"):
        load_recipe("nope")


_KILLED_RUN = """
import os, signal, sys
sys.path.insert(0, {tests!r})
import torch
torch.set_num_threads(1)
from test_trainer import _config, _easy_dataset, _fresh
from nas.trainer import train

def kill(epoch, metrics):
    if epoch == 2:
        os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no finally blocks: a real kill

train(_fresh(), _easy_dataset(), _config(epochs=3, cutout=2), {run!r}, progress=False, callback=kill)
"""


def test_resume_after_sigkill_in_another_process(easy: ImageDataset, tmp_path: Path) -> None:
    import subprocess
    import sys

    script = _KILLED_RUN.format(tests=str(Path(__file__).parent), run=str(tmp_path / "killed"))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, proc.stderr
    assert load_torch(tmp_path / "killed" / "checkpoint.pt")["epoch"] == 2
    resumed = train(_fresh(seed=7), easy, _config(epochs=3, cutout=2), tmp_path / "killed", progress=False)
    straight = train(_fresh(), easy, _config(epochs=3, cutout=2), tmp_path / "straight", progress=False)
    assert resumed.resumed_from_epoch == 2 and resumed.test_top1 == straight.test_top1
    a, b = load_torch(tmp_path / "killed" / "final.pt"), load_torch(tmp_path / "straight" / "final.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_channels_last_and_cpu_bf16_paths_train(easy: ImageDataset) -> None:
    cfg = _config(epochs=2, channels_last=True, cpu_bf16=True, device="cpu", lr=0.2)
    model = _fresh()
    result = train(model, easy, cfg, None, progress=False)
    assert model.features[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert result.final_train_loss is not None and math.isfinite(result.final_train_loss)
    assert result.test_top1 is not None and result.test_top1 > 50


@pytest.mark.slow
def test_torch_compile_trains_and_checkpoints_plain_keys(easy: ImageDataset, tmp_path: Path) -> None:
    result = train(_fresh(), easy, _config(epochs=2, compile=True, lr=0.2), tmp_path / "c", progress=False)
    state = load_torch(tmp_path / "c" / "final.pt")
    assert not any(k.startswith("_orig_mod.") for k in state) and result.test_top1 is not None
