"""TorchScript and ONNX export, each checked by running the exported file against PyTorch (library and CLI)."""

from __future__ import annotations

import importlib.util
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from nas.cli import main
from nas.errors import NasError
from nas.genotypes import named
from nas.networks import build
from nas.tools.export_model import export_onnx, export_torchscript
from nas.zoo import create_model

MODELS = {
    # small versions: the exported graph has the same structure at any width and depth
    "darts_v2": lambda: build(named.get("DARTS_V2"), channels=4, layers=3, auxiliary=True),
    "resnet20": lambda: create_model("resnet20"),
    "nb201": lambda: build(named.get("NB201_best"), channels=4, cells_per_stage=1),
}


def _model(name: str) -> nn.Module:
    torch.manual_seed(0)
    model = MODELS[name]()
    with torch.no_grad():  # non-trivial BN statistics, so eval vs train mode matters
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    return model.train()  # exports must switch to eval themselves


@pytest.fixture
def example() -> torch.Tensor:
    return torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))


@pytest.mark.parametrize("name", list(MODELS))
def test_torchscript_roundtrip(tmp_path, example, name):
    model = _model(name)
    report = export_torchscript(model, tmp_path / f"{name}.pt", example)
    assert model.training  # mode restored
    assert report.max_abs_diff is not None and report.max_abs_diff < 1e-4
    assert report.batch_sizes == (2, 3) and report.checked_with == "torch.jit.load"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        loaded = torch.jit.load(str(report.path))
    out = loaded(example)
    assert isinstance(out, torch.Tensor) and out.shape == (2, 10)  # logits only, even with an auxiliary head
    model.eval()
    torch.testing.assert_close(out, model(example).detach(), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", list(MODELS))
def test_onnx_roundtrip_with_onnxruntime(tmp_path, example, name):
    pytest.importorskip("onnxruntime", reason="ONNX outputs are compared with onnxruntime (pip install onnxruntime)")
    model = _model(name)
    # 'legacy' keeps this test fast; the default exporter is covered by the slow test below
    report = export_onnx(model, tmp_path / f"{name}.onnx", example, method="legacy")
    assert model.training
    assert report.checked_with == "onnxruntime" and report.max_abs_diff < 1e-4
    import onnxruntime as ort

    session = ort.InferenceSession(str(report.path), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["logits"]  # no auxiliary output
    (out,) = session.run(None, {"images": torch.randn(5, 3, 32, 32).numpy()})  # any batch size
    assert out.shape == (5, 10)


def test_onnx_dynamo_exporter(tmp_path, example):
    pytest.importorskip("onnxruntime", reason="needs onnxruntime")
    if importlib.util.find_spec("onnxscript") is None:
        pytest.skip("the dynamo ONNX exporter needs onnxscript")
    report = export_onnx(_model("nb201"), tmp_path / "nb201.onnx", example, method="dynamo")
    assert report.max_abs_diff < 1e-4 and report.batch_sizes == (2, 3)


class Drifting(nn.Module):
    """A Python-side counter changes the output each call: tracing freezes it, so the check must fail."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.fc(x.mean((2, 3))) * self.calls


def test_the_check_catches_a_wrong_export(tmp_path, example):
    with pytest.raises(NasError, match="outputs differ from PyTorch"):
        export_torchscript(Drifting(), tmp_path / "drift.pt", example)


def test_bad_input(tmp_path, example):
    model = _model("resnet20")
    with pytest.raises(NasError, match="ending in .onnx"):
        export_onnx(model, tmp_path / "m.pt", example)
    with pytest.raises(NasError, match="ending in"):
        export_torchscript(model, tmp_path / "m.onnx", example)
    with pytest.raises(NasError, match="example"):
        export_torchscript(model, tmp_path / "m.pt", example[0])
    with pytest.raises(NasError, match="method"):
        export_onnx(model, tmp_path / "m.onnx", example, method="fast")


# --------------------------------------------------------------------------- #
# nas export RUN_DIR --format torchscript|onnx: a training run's model, on its test images
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny NB-201 network (C=4, with batch norm) trained for one epoch on a 3-class image folder."""
    root = tmp_path_factory.mktemp("export-cli")
    rng = np.random.default_rng(0)
    for split, count in (("train", 6), ("test", 6)):
        for c in range(3):
            (root / "data" / split / f"c{c}").mkdir(parents=True)
            for i in range(count):
                img = rng.integers(0, 90, (32, 32, 3), dtype=np.uint8)
                img[..., c] += 140
                Image.fromarray(img).save(root / "data" / split / f"c{c}" / f"{i}.png")
    argv = ["train", "--model", "NB201_best", "--recipe", "quick", "--dataset", "folder", "--data-dir", root / "data"]
    argv += ["--set", "train_subset=null", "--set", "test_subset=null", "--set", "val_fraction=0"]
    argv += ["--set", "model_options.nb201.channels=4", "--epochs", "1", "--batch-size", "6", "--device", "cpu"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NAS_CACHE_DIR", str(root / "cache"))
        assert main([str(a) for a in [*argv, "--out", root / "run", "--quiet"]]) == 0
    return root / "run"


@pytest.fixture
def cli(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture):
    monkeypatch.setenv("NAS_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "nas-cache"))

    def call(*argv: object) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err

    return call


def _real_test_images(run: Path) -> tuple[nn.Module, torch.Tensor]:
    """The run's network with its trained weights (eval mode) and its normalised test images."""
    from nas.training.finished import load_run

    loaded = load_run(run, device="cpu")
    data = loaded.data
    mean, std = torch.tensor(data.mean).view(1, -1, 1, 1), torch.tensor(data.std).view(1, -1, 1, 1)
    images = (data.test_images[loaded.test].float() / 255 - mean) / std
    return loaded.model.eval(), images


def test_cli_export_torchscript(trained_run, cli):
    code, out, err = cli("export", trained_run, "--format", "torchscript")
    assert code == 0, err
    path = trained_run / "model.ts"  # the default --out
    assert out.startswith(f"wrote torchscript -> {path} (max |diff| ") and "checked with torch.jit.load" in out
    assert "batches of 16, 17" in out and "on 16 test images of folder" in out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        loaded = torch.jit.load(str(path))
    model, images = _real_test_images(trained_run)
    assert len(images) == 18
    with torch.no_grad():
        torch.testing.assert_close(loaded(images), model(images), atol=1e-5, rtol=1e-4)


def test_cli_export_onnx(trained_run, cli, tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime", reason="ONNX exports are checked with onnxruntime (pip install -e '.[export]')")
    import onnxruntime as ort

    target = tmp_path / "net.onnx"
    argv = ["export", trained_run, "--format", "onnx", "--onnx-method", "legacy", "--out", target, "--images", "4"]
    code, out, err = cli(*argv)
    assert code == 0, err
    assert f"onnx -> {target}" in out and "checked with onnxruntime on batches of 4, 5" in out and "max |diff|" in out
    session = ort.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    model, images = _real_test_images(trained_run)
    (got,) = session.run(["logits"], {"images": images.numpy()})
    with torch.no_grad():
        torch.testing.assert_close(torch.from_numpy(got), model(images), atol=1e-4, rtol=1e-4)

    monkeypatch.setattr("nas.tools.export_model.onnxruntime_available", lambda: False)
    code, _, err = cli(*argv)
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("nas export: error: --format onnx: onnxruntime is needed")
    assert "pip install -e '.[export]'" in err


def test_cli_export_errors(trained_run, cli, tmp_path):
    search = tmp_path / "search"
    search.mkdir()
    (search / "genotype.json").write_text("{}")
    cases = [
        (["export", search, "--format", "torchscript"], "not a training run directory (a search run (genotype.json))"),
        (["export", tmp_path / "none", "--format", "onnx", "--onnx-method", "legacy"], "run directory not found"),
        (["export", trained_run, "--format", "torchscript", "--images", "0"], "--images: expected a positive"),
        (["export", trained_run, "--format", "json", "--images", "3"], "--images: only for --format onnx or"),
        (["export", trained_run, "--format", "torchscript", "--out", tmp_path / "m.onnx"], "ending in .pt"),
        (["export", trained_run, "--format", "torchscript", "--data-dir", tmp_path / "gone"], "folder: no image"),
        (["export", trained_run, "--format", "torchscript", "--checkpoint", "best"], "best.pt: not found"),
    ]
    for argv, message in cases:
        code, _, err = cli(*argv)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and message in lines[0], (argv, err)
    broken = tmp_path / "broken"
    shutil.copytree(trained_run, broken)
    (broken / "final.pt").write_bytes(b"not weights")
    code, _, err = cli("export", broken, "--format", "torchscript")
    assert code == 2 and f"{broken / 'final.pt'}: cannot read weights" in err
