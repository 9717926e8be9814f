"""``nas train`` and ``nas evaluate`` end to end, on a tiny image folder (and a slice of real CIFAR-10)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nas.cli import main

NB201 = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|skip_connect~1|avg_pool_3x3~2|"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 classes of 32x32 PNGs (24 train, 8 test each), each class tinted one colour."""
    root = tmp_path_factory.mktemp("folder")
    rng = np.random.default_rng(0)
    for split, count in (("train", 24), ("test", 8)):
        for c, name in enumerate(("red", "green", "blue")):
            (root / split / name).mkdir(parents=True)
            for i in range(count):
                img = rng.integers(0, 90, (32, 32, 3), dtype=np.uint8)
                img[..., c] += 140
                Image.fromarray(img).save(root / split / name / f"{i:03d}.png")
    return root


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAS_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "nas-cache"))


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def tiny_args(folder: Path, out: Path, *extra: str) -> list[str]:
    return [
        "train",
        "--recipe",
        "quick",
        "--dataset",
        "folder",
        "--data-dir",
        folder,
        "--set",
        "train_subset=null",
        "--set",
        "test_subset=null",
        "--set",
        "val_fraction=0.25",
        "--epochs",
        "2",
        "--batch-size",
        "16",
        "--device",
        "cpu",
        "--out",
        out,
        *extra,
    ]


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("nas ") and "error:" in lines[0]
    return lines[0]


def test_train_resume_complete_and_evaluate(folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "lenet"
    code, stdout, stderr = run(capsys, *tiny_args(folder, out, "--model", "lenet5"))
    assert code == 0, stderr
    assert "lenet5 | recipe quick | folder" in stdout and "epoch 2/2" in stderr  # progress is on stderr
    result = json.loads((out / "result.json").read_text())
    doc = json.loads((out / "config.json").read_text())
    assert doc["model"] == {"source": "zoo", "name": "lenet5", "options": {}}
    assert doc["train"]["epochs"] == 2 and doc["train"]["batch_size"] == 16 and doc["train"]["val_fraction"] == 0.25
    assert (
        doc["dataset"]["train_images"] == 54 and doc["dataset"]["val_images"] == 18 and doc["meta"]["recipe"] == "quick"
    )
    assert doc["dataset"]["data_dir"] == str(folder)

    code, stdout, stderr = run(capsys, *tiny_args(folder, out, "--model", "lenet5", "--quiet"))
    assert code == 0 and "already complete" in stderr and f"{result['test_top1']:.2f}" in stdout

    code, stdout, _ = run(capsys, "evaluate", out, "--json", "--device", "cpu")
    assert code == 0
    [row] = json.loads(stdout)
    assert row["weights"] == "best.pt" and row["images"] == 24
    assert row["test_top1"] == pytest.approx(result["test_top1"]) and row["test_top5"] == pytest.approx(100.0)
    code, stdout, _ = run(capsys, "evaluate", out, "--checkpoint", "final", "--tta", "flip")
    assert code == 0 and "final.pt" in stdout and "flip" in stdout


def test_several_seeds_write_a_summary(folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "nb201"
    argv = tiny_args(folder, out, "--genotype", NB201, "--seeds", "0,1", "--quiet")
    argv += ["--set", "model_options.nb201.channels=4"]
    code, stdout, stderr = run(capsys, *argv)
    assert code == 0, stderr
    summary = json.loads((out / "summary.json").read_text())
    tops = [r["test_top1"] for r in summary["runs"]]
    assert summary["seeds"] == [0, 1] and summary["test_top1"]["values"] == tops
    assert summary["test_top1"]["mean"] == pytest.approx(sum(tops) / 2)
    assert summary["test_top1"]["std"] == pytest.approx(abs(tops[0] - tops[1]) / 2**0.5)
    assert "mean±std" in stdout
    for seed in (0, 1):
        run_dir = out / f"seed-{seed}"
        doc = json.loads((run_dir / "config.json").read_text())
        assert doc["train"]["seed"] == seed and doc["model"]["options"] == {"channels": 4, "cells_per_stage": 1}
        assert json.loads((run_dir / "genotype.json").read_text())["kind"] == "nb201"
    a = torch.load(out / "seed-0" / "final.pt", weights_only=True)
    b = torch.load(out / "seed-1" / "final.pt", weights_only=True)
    assert any(not torch.equal(a[k], b[k]) for k in a)  # different seeds, different networks

    code, stdout, _ = run(capsys, "evaluate", out / "seed-0", out / "seed-1", "--ensemble", "--json")
    rows = json.loads(stdout)
    assert code == 0 and len(rows) == 3 and rows[2]["run"] == "ensemble of 2"
    assert rows[0]["test_top1"] == pytest.approx(tops[0])
    # the ensemble by hand: the average of the two networks' softmax outputs on the test split
    from nas.training.finished import load_run

    members = [load_run(out / f"seed-{seed}", device="cpu") for seed in (0, 1)]
    data, test = members[0].data, members[0].test
    mean, std = torch.tensor(data.mean).view(1, -1, 1, 1), torch.tensor(data.std).view(1, -1, 1, 1)
    images = (data.test_images[test].float() / 255 - mean) / std
    with torch.no_grad():
        probs = sum(m.model.eval()(images).softmax(1) for m in members) / 2
    labels = data.test_labels[test]
    assert rows[2]["test_top1"] == pytest.approx(100.0 * float((probs.argmax(1) == labels).float().mean()))
    assert rows[2]["images"] == len(labels) == 24

    code, stdout, _ = run(capsys, "evaluate", out / "seed-0", out / "seed-1", "--tta", "flip")  # no flag needed
    lines = stdout.splitlines()
    assert code == 0 and lines[3].startswith("ensemble of 2") and "flip" in lines[3]
    assert lines[4].startswith("ensemble top1 ") and "vs best member" in lines[4]


def test_evaluate_rejects_unreadable_and_mismatched_weights(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "run"
    assert run(capsys, *tiny_args(folder, out, "--model", "lenet5", "--quiet", "--epochs", "1"))[0] == 0
    broken = tmp_path / "broken"
    shutil.copytree(out, broken)
    (broken / "best.pt").write_bytes(b"not a checkpoint")
    code, _, err = run(capsys, "evaluate", broken)
    assert code == 2 and f"{broken / 'best.pt'}: cannot read weights" in one_error_line(err)

    state = torch.load(out / "best.pt", weights_only=True)
    key = next(k for k, v in state.items() if v.dim() == 4)
    state[key] = torch.zeros(1, 1, 1, 1)
    torch.save(state, broken / "best.pt")
    code, _, err = run(capsys, "evaluate", broken)
    line = one_error_line(err)
    assert code == 2 and f"{broken / 'best.pt'}: weights do not match the model: {key} has shape (1, 1, 1, 1)" in line

    del state[key]
    torch.save(state, broken / "best.pt")
    code, _, err = run(capsys, "evaluate", broken)
    assert code == 2 and "1 missing (e.g. " in one_error_line(err)
    code, _, err = run(capsys, "evaluate", tmp_path)
    assert code == 2 and "not a run directory of nas train (no config.json)" in one_error_line(err)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--model", "resnet21"], "model name 'resnet21' is unknown; did you mean resnet20"),
        (["--model", "lenet5", "--lr", "-1"], "--lr -1.0: lr: expected a positive number, got -1.0"),
        (["--model", "lenet5", "--set", "momentum=1.5"], "--set momentum=1.5: momentum: expected a number < 1.0"),
        (["--model", "lenet5", "--set", "epoch=3"], "epoch: unknown field; did you mean epochs?"),
        (["--model", "lenet5", "--seeds", "0,x"], "--seeds: expected comma-separated non-negative integers"),
        (["--model", "lenet5", "--device", "cuda"], "device: cuda was asked for but CUDA is not available"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture, extra: list[str], message: str
) -> None:
    if "cuda" in extra and torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    code, _, err = run(capsys, *tiny_args(folder, tmp_path / "x", "--quiet", *extra))
    assert code == 2 and message in one_error_line(err)


def test_missing_data_and_recipe_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    argv = ["train", "--model", "lenet5", "--recipe", "quick", "--data-dir", tmp_path / "none", "--out", tmp_path / "o"]
    code, _, err = run(capsys, *argv)
    line = one_error_line(err)
    assert code == 2 and "cifar10: not found in" in line and "--data-dir" in line
    code, _, err = run(capsys, "train", "--model", "lenet5", "--recipe", "quick2", "--out", tmp_path / "o")
    assert code == 2 and "recipe 'quick2': not found" in one_error_line(err)


@pytest.mark.data
def test_real_cifar10_slice_through_the_cli(cifar10_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "r20"
    argv = ["train", "--model", "resnet20", "--recipe", "quick", "--data-dir", cifar10_dir, "--out", out]
    argv += ["--set", "train_subset=500", "--set", "test_subset=500", "--epochs", "1", "--quiet", "--device", "cpu"]
    code, stdout, stderr = run(capsys, *argv)
    assert code == 0, stderr
    result = json.loads((out / "result.json").read_text())
    doc = json.loads((out / "config.json").read_text())
    assert doc["dataset"]["name"] == "cifar10" and doc["dataset"]["train_images"] == 450
    assert doc["dataset"]["test_images"] == 500 and result["epochs_completed"] == 1
    # four steps of training: far from converged, but every number must be a real measurement
    assert 0.0 <= result["test_top1"] <= result["test_top5"] <= 100.0 and result["best_val_top1"] is not None
    assert 0.0 < result["final_train_loss"] < 5.0
    assert "resnet20 | recipe quick | cifar10" in stdout


@pytest.fixture(scope="module")
def folder10(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10 classes of 32x32 PNGs (6 train, 2 test each): the 'pre-training' dataset of the fine-tuning tests."""
    root = tmp_path_factory.mktemp("folder10")
    rng = np.random.default_rng(1)
    for split, count in (("train", 6), ("test", 2)):
        for c in range(10):
            (root / split / f"class{c}").mkdir(parents=True)
            for i in range(count):
                img = rng.integers(0, 120, (32, 32, 3), dtype=np.uint8)
                img[..., c % 3] += 12 * c
                Image.fromarray(img).save(root / split / f"class{c}" / f"{i:03d}.png")
    return root


@pytest.fixture(scope="module")
def pretrained(folder10: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """LeNet-5 trained for one epoch on the 10-class folder."""
    out = tmp_path_factory.mktemp("pretrained") / "lenet10"
    with pytest.MonkeyPatch.context() as mp:  # the autouse cache fixture is per test: not set up yet
        mp.setenv("NAS_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "nas-cache"))
        code = main([str(a) for a in tiny_args(folder10, out, "--model", "lenet5", "--epochs", "1", "--quiet")])
    assert code == 0
    return out


def _parameters(path: Path) -> dict[str, torch.Tensor]:
    state = torch.load(path, weights_only=True)
    return {k: v for k, v in state.items() if k.endswith((".weight", ".bias"))}


def test_finetune_a_10_class_run_on_3_classes(
    folder: Path, pretrained: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from nas.trainer import build_model, seed_everything

    out = tmp_path / "ft"
    argv = tiny_args(folder, out, "--model", "lenet5", "--init-from", pretrained, "--finetune", "head", "--quiet")
    code, stdout, stderr = run(capsys, *argv)
    assert code == 0, stderr
    source = pretrained / "best.pt"  # the pre-training run has a validation split: its selected model
    assert json.loads((pretrained / "result.json").read_text())["selection"] == "best_val"
    assert f"init from {source}: loaded 4/5 layers" in stderr and "stopped at classifier.4" in stderr
    assert "trainable (--finetune head): classifier.4" in stderr

    record = json.loads((out / "transfer.json").read_text())
    body = ["features.0", "features.3", "classifier.0", "classifier.2"]
    assert [a for a, _ in record["transfer"]["loaded"]] == body and record["transfer"]["not_loaded"] == ["classifier.4"]
    assert "[3, 84]" in record["transfer"]["reason"] and "[10, 84]" in record["transfer"]["reason"]
    assert record["init_from"] == str(pretrained.resolve()) and record["weights"] == str(source.resolve())
    assert record["mode"] == "head" and record["trainable"] == ["classifier.4"]
    doc = json.loads((out / "config.json").read_text())
    assert doc["meta"]["finetune"] == record and doc["meta"]["arguments"]["finetune"] == "head"
    assert doc["dataset"]["num_classes"] == 3

    # frozen layers keep the pre-trained values exactly; the new head trained away from its initialisation
    before, after = _parameters(source), _parameters(out / "final.pt")
    for key, value in after.items():
        if key.startswith("classifier.4"):
            continue
        assert torch.equal(value, before[key]), key
    seed_everything(doc["train"]["seed"])  # what `nas train` built before loading the weights
    fresh = build_model(doc["model"], num_classes=3).state_dict()
    assert after["classifier.4.weight"].shape == (3, 84)
    assert not torch.equal(after["classifier.4.weight"], fresh["classifier.4.weight"])
    assert not torch.equal(after["classifier.4.bias"], fresh["classifier.4.bias"])

    # runs of different datasets are evaluated side by side, but not ensembled
    code, stdout, stderr = run(capsys, "evaluate", pretrained, out, "--json", "--device", "cpu")
    rows = json.loads(stdout)
    assert code == 0 and [r["dataset"] for r in rows] == ["folder", "folder"] and len(rows) == 2
    assert "different test sets: no ensemble" in stderr
    code, _, err = run(capsys, "evaluate", pretrained, out, "--ensemble")
    assert code == 2 and "its test set differs" in one_error_line(err)


def test_resuming_a_finetuning_run_does_not_transfer_again(
    folder: Path, pretrained: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nas.training.run as run_module

    flags = ["--model", "lenet5", "--init-from", pretrained, "--finetune", "top:2", "--quiet"]
    code, _, stderr = run(capsys, *tiny_args(folder, tmp_path / "whole", *flags))
    assert code == 0, stderr

    calls = {"n": 0}
    original = run_module.MetricsLog.append

    def interrupt_after_first_epoch(self, row):  # noqa: ANN001, ANN202
        original(self, row)
        calls["n"] += 1
        raise KeyboardInterrupt

    out = tmp_path / "interrupted"
    monkeypatch.setattr(run_module.MetricsLog, "append", interrupt_after_first_epoch)
    code, _, stderr = run(capsys, *tiny_args(folder, out, *flags))
    assert code == 130 and calls["n"] == 1 and (out / "checkpoint.pt").exists()
    assert not (out / "result.json").exists()
    monkeypatch.setattr(run_module.MetricsLog, "append", original)

    code, _, err = run(capsys, *tiny_args(folder, out, "--model", "lenet5", "--quiet"))
    assert code == 2 and "holds a fine-tuning run" in one_error_line(err)
    other = ["--model", "lenet5", "--init-from", pretrained, "--finetune", "head", "--quiet"]
    code, _, err = run(capsys, *tiny_args(folder, out, *other))
    assert code == 2 and "use another --out" in one_error_line(err)

    code, _, stderr = run(capsys, *tiny_args(folder, out, *flags))
    assert code == 0, stderr
    assert "resuming a fine-tuning run" in stderr and "init from" not in stderr
    assert json.loads((out / "result.json").read_text())["resumed_from_epoch"] == 1
    assert json.loads((out / "transfer.json").read_text())["trainable"] == ["classifier.2", "classifier.4"]
    whole, resumed = _parameters(tmp_path / "whole" / "final.pt"), _parameters(out / "final.pt")
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)  # as if never interrupted
    before = _parameters(pretrained / "best.pt")
    assert torch.equal(resumed["features.0.weight"], before["features.0.weight"])  # frozen
    assert not torch.equal(resumed["classifier.2.weight"], before["classifier.2.weight"])  # trained


def test_finetune_flag_errors(folder: Path, pretrained: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [
        (["--finetune", "head"], "--finetune: needs --init-from RUN_DIR"),
        (["--init-from", pretrained, "--finetune", "top:0"], "--finetune: expected 'all', 'head' or 'top:K'"),
        (["--init-from", empty], f"--init-from {empty}: no model file (best.pt or final.pt)"),
        (["--init-from", tmp_path / "nothing"], f"--init-from {tmp_path / 'nothing'}: not found"),
    ]
    for extra, message in cases:
        code, _, err = run(capsys, *tiny_args(folder, tmp_path / "x", "--model", "lenet5", "--quiet", *extra))
        assert code == 2 and message in one_error_line(err), extra
    # a network with nothing in common with the checkpoint: nothing would be fine-tuned
    code, _, err = run(capsys, *tiny_args(folder, tmp_path / "x", "--model", "resnet20", "--init-from", pretrained))
    assert code == 2 and "no layer fits the new model" in one_error_line(err)
    assert not (tmp_path / "x").exists()


# --------------------------------------------------------------------------- #
# Faults found by trying the toolkit as a new user (issue 9, part 7)
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--seeds", "99999999999999999999"],
            "--seeds: seed 99999999999999999999 is too large (expected 0 to 4294967295)",
        ),
        (["--seeds", "0,4294967296"], "--seeds: seed 4294967296 is too large"),
        (["--set", "seed=99999999999999999999"], "seed: expected an integer <= 4294967295, got 99999999999999999999"),
        (["--set", "split_seed=99999999999999999999"], "split_seed: expected an integer <= 4294967295"),
    ],
)
def test_seeds_beyond_what_the_libraries_accept_are_one_line(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture, extra: list[str], message: str
) -> None:
    code, _, err = run(capsys, *tiny_args(folder, tmp_path / "x", "--model", "lenet5", "--quiet", *extra))
    assert code == 2 and message in one_error_line(err)
    assert not (tmp_path / "x").exists()


def _interrupt_after(monkeypatch: pytest.MonkeyPatch, epochs: int) -> None:
    """Make the next training stop like a Ctrl-C right after epoch ``epochs`` was logged."""
    import nas.training.run as run_module

    original = run_module.MetricsLog.append

    def append(self, row):  # noqa: ANN001, ANN202
        original(self, row)
        if row["epoch"] == epochs:
            monkeypatch.setattr(run_module.MetricsLog, "append", original)
            raise KeyboardInterrupt

    monkeypatch.setattr(run_module.MetricsLog, "append", append)


def test_a_corrupt_newest_checkpoint_falls_back_to_the_previous_one(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = ["--model", "lenet5", "--quiet", "--epochs", "3", "--json"]
    code, _, err = run(capsys, *tiny_args(folder, tmp_path / "straight", *argv))
    assert code == 0, err
    out = tmp_path / "run"
    _interrupt_after(monkeypatch, 2)
    assert run(capsys, *tiny_args(folder, out, *argv))[0] == 130
    checkpoint = out / "checkpoint.pt"
    assert (out / "checkpoint.prev.pt").is_file()
    checkpoint.write_bytes(checkpoint.read_bytes()[:1000])  # truncated: a full disk, a copy killed halfway

    code, stdout, err = run(capsys, *tiny_args(folder, out, *argv))
    assert code == 0, err
    [line] = [x for x in err.splitlines() if "checkpoint" in x]
    assert line.startswith(f"{checkpoint}: cannot read checkpoint (") and line.endswith(
        "; resuming from the previous checkpoint checkpoint.prev.pt"
    )
    result = json.loads(stdout)
    assert result["resumed_from_epoch"] == 1 and result["epochs_completed"] == 3
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3]  # epoch 2 trained again, not logged twice
    straight = _parameters(tmp_path / "straight" / "final.pt")
    resumed = _parameters(out / "final.pt")
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)  # as if never interrupted

    # both unreadable: one line naming both files and the way forward
    _interrupt_after(monkeypatch, 2)
    other = tmp_path / "both"
    assert run(capsys, *tiny_args(folder, other, *argv))[0] == 130
    (other / "checkpoint.pt").write_bytes(b"")
    (other / "checkpoint.prev.pt").write_bytes(b"\x00" * 10)
    code, _, err = run(capsys, *tiny_args(folder, other, *argv))
    line = one_error_line(err)
    assert code == 2 and f"{other / 'checkpoint.pt'}: cannot read checkpoint" in line
    assert f"{other / 'checkpoint.prev.pt'}: cannot read checkpoint" in line and "to start over" in line


def test_leftover_temporary_files_are_removed_on_resume(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    argv = ["--model", "lenet5", "--quiet"]
    _interrupt_after(monkeypatch, 1)
    assert run(capsys, *tiny_args(folder, out, *argv))[0] == 130
    leftovers = [out / ".checkpoint.pt.k1ll3d.tmp", out / ".best.pt.x2.tmp"]  # what a SIGKILL mid-write leaves
    for path in leftovers:
        path.write_bytes(b"")
    code, _, err = run(capsys, *tiny_args(folder, out, *argv))
    assert code == 0, err
    assert not any(p.exists() for p in leftovers) and not list(out.glob(".*.tmp"))


def test_extend_a_finished_run(folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from nas.trainer import lr_at

    out = tmp_path / "run"
    argv = ["--model", "lenet5", "--quiet", "--json"]
    assert run(capsys, *tiny_args(folder, out, *argv))[0] == 0  # 2 epochs
    # without --extend a longer schedule is still a different config, refused with the existing message
    code, _, err = run(capsys, *tiny_args(folder, out, *argv, "--epochs", "3"))
    line = one_error_line(err)
    assert code == 2 and "holds a run with a different config (epochs: 2 there, 3 now)" in line
    assert "add --extend" in line
    code, _, err = run(capsys, *tiny_args(folder, out, *argv, "--epochs", "1", "--extend"))
    assert code == 2 and "--extend: " in one_error_line(err) and "expected more than 2 epochs, got 1" in err

    code, stdout, err = run(capsys, *tiny_args(folder, out, *argv, "--epochs", "3", "--extend"))
    assert code == 0, err
    result = json.loads(stdout)
    assert (result["epochs"], result["epochs_completed"], result["resumed_from_epoch"]) == (3, 3, 2)
    doc = json.loads((out / "config.json").read_text())
    assert doc["train"]["epochs"] == 3
    [extension] = doc["extensions"]
    assert (extension["from_epochs"], extension["to_epochs"], extension["after_epoch"]) == (2, 3, 2)
    assert extension["time"].endswith("Z")
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    # the cosine is re-planned over 3 epochs: epoch 3 starts where a 3-epoch schedule is after 2 epochs
    steps = 4  # 54 training images in batches of 16
    assert rows[1]["lr"] == pytest.approx(lr_at(steps, 2 * steps, 0, 0.05, 0.0))
    assert rows[2]["lr"] == pytest.approx(lr_at(2 * steps, 3 * steps, 0, 0.05, 0.0))

    # the extended run is a finished 3-epoch run now, with or without the flag
    for extra in ([], ["--extend"]):
        code, _, err = run(capsys, *tiny_args(folder, out, *argv, "--epochs", "3", *extra))
        assert code == 0 and "already complete" in err
    assert len(json.loads((out / "config.json").read_text())["extensions"]) == 1


def test_extend_an_interrupted_run(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    argv = ["--model", "lenet5", "--quiet", "--json"]
    _interrupt_after(monkeypatch, 1)
    assert run(capsys, *tiny_args(folder, out, *argv))[0] == 130  # 1 of 2 epochs
    code, stdout, err = run(capsys, *tiny_args(folder, out, *argv, "--epochs", "4", "--extend"))
    assert code == 0, err
    result = json.loads(stdout)
    assert (result["epochs_completed"], result["resumed_from_epoch"]) == (4, 1)
    [extension] = json.loads((out / "config.json").read_text())["extensions"]
    assert (extension["from_epochs"], extension["to_epochs"], extension["after_epoch"]) == (2, 4, 1)


def test_a_finished_run_notices_corrupt_or_missing_weights(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "run"
    argv = ["--model", "lenet5", "--quiet", "--json"]
    code, stdout, _ = run(capsys, *tiny_args(folder, out, *argv))
    assert code == 0 and json.loads(stdout)["selection"] == "best_val"
    best = out / "best.pt"
    best.write_bytes(best.read_bytes()[:500])
    for command in (tiny_args(folder, out, *argv), ["evaluate", out], ["export", out, "--format", "torchscript"]):
        code, _, err = run(capsys, *command)
        line = one_error_line(err)
        assert code == 2 and line.count(f"{best}: cannot read weights (") == 1, command
        assert "(--checkpoint last)" in line and "delete the run directory to train it again" in line
    code, stdout, err = run(capsys, "evaluate", out, "--checkpoint", "last", "--json")
    assert code == 0, err
    [row] = json.loads(stdout)
    assert row["weights"] == "checkpoint.pt" and 0 <= row["test_top1"] <= 100

    best.unlink()  # a finished run without its selected weights is not silently "complete"
    code, _, err = run(capsys, *tiny_args(folder, out, *argv))
    line = one_error_line(err)
    assert code == 2 and f"{best}: not found (the last epoch's weights are still in checkpoint.pt" in line
