"""CAM and Grad-CAM: exact identities on small networks, layer lookup, overlays and their files."""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn

from nas.errors import NasError
from nas.genotypes import named
from nas.genotypes.types import Head, MacroGenotype, ResNetBlock, Stage, Stem
from nas.networks import build
from nas.tools.cam import (
    class_activation_map,
    find_gap_classifier,
    grad_cam,
    jet,
    overlay,
    save_overlay_grid,
    save_overlays,
    to_uint8,
)
from nas.zoo import create_model


class TinyCNN(nn.Module):
    """conv-ReLU-conv, global average pooling, linear: the CAM architecture in miniature."""

    def __init__(self, classes: int = 4) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(6, 5, 3, padding=1)
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(5, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


@pytest.fixture
def tiny() -> TinyCNN:
    torch.manual_seed(0)
    return TinyCNN()


@pytest.fixture
def images() -> torch.Tensor:
    return torch.randn(3, 3, 8, 8, generator=torch.Generator().manual_seed(1))


def test_cam_is_the_weighted_sum_of_feature_maps(tiny, images):
    result = class_activation_map(tiny, images, target=[0, 2, 3])
    with torch.no_grad():
        feats = tiny.features(images)  # [3, 5, 8, 8]
    w = tiny.fc.weight.detach()
    for b, c in enumerate([0, 2, 3]):
        by_hand = sum(w[c, k] * feats[b, k] for k in range(5))
        torch.testing.assert_close(result.maps[b], by_hand)
    assert result.layer == "pool (input)"
    # GAP is linear, so the map's mean plus the bias is exactly the logit
    logits = tiny(images).detach()
    for b, c in enumerate([0, 2, 3]):
        assert float(result.maps[b].mean() + tiny.fc.bias.detach()[c]) == pytest.approx(float(logits[b, c]), abs=1e-5)
    torch.testing.assert_close(result.logits, logits)


def test_default_target_is_the_prediction(tiny, images):
    result = class_activation_map(tiny, images)
    assert torch.equal(result.target, result.logits.argmax(1))
    assert torch.equal(result.predicted, result.target)
    single = class_activation_map(tiny, images, target=1)
    assert single.target.tolist() == [1, 1, 1]


@pytest.mark.parametrize("target", [4, -1, [0, 1]])
def test_bad_target(tiny, images, target):
    with pytest.raises(NasError, match="target"):
        class_activation_map(tiny, images, target=target)


def test_grad_cam_equals_relu_cam_for_gap_linear(tiny, images):
    cam = class_activation_map(tiny, images, target=[1, 0, 3])
    g = grad_cam(tiny, images, target=[1, 0, 3])
    hw = cam.maps.shape[1] * cam.maps.shape[2]
    torch.testing.assert_close(g.maps * hw, cam.maps.relu())
    # the same with the last convolution named explicitly: its output is the pooled map
    named_layer = grad_cam(tiny, images, target=[1, 0, 3], layer="features.2")
    torch.testing.assert_close(named_layer.maps, g.maps)
    assert named_layer.layer == "features.2"


@pytest.mark.parametrize(
    "make",
    [
        lambda: build(named.get("DARTS_V2"), channels=4, layers=3, auxiliary=True),
        lambda: build(named.get("NB201_best"), channels=4, cells_per_stage=1),
        lambda: create_model("resnet20"),
    ],
    ids=["darts", "nb201", "resnet20"],
)
def test_grad_cam_equals_cam_on_toolkit_networks(make):
    torch.manual_seed(0)
    model = make().train()  # left in training mode on purpose: both must switch to eval and back
    x = torch.randn(2, 3, 32, 32)
    cam = class_activation_map(model, x)
    g = grad_cam(model, x)
    assert model.training
    hw = cam.maps.shape[1] * cam.maps.shape[2]
    assert cam.maps.shape[1:] == (8, 8)
    torch.testing.assert_close(g.maps * hw, cam.maps.relu(), atol=1e-5 * float(cam.maps.abs().max()), rtol=1e-4)
    assert all(p.grad is None for p in model.parameters())  # Grad-CAM leaves parameter gradients alone


def test_layer_lookup_on_the_toolkit_networks():
    darts = build(named.get("DARTS_V2"), channels=4, layers=3, auxiliary=True)
    assert find_gap_classifier(darts)[0::2] == ("global_pooling", "classifier")
    assert find_gap_classifier(create_model("resnet20"))[0::2] == ("head.pool", "head.classifier")
    assert find_gap_classifier(create_model("mobilenetv2"))[0::2] == ("pool", "classifier")
    with pytest.raises(NasError, match="no global average pooling"):
        find_gap_classifier(create_model("lenet5"))


def test_no_cam_without_gap_but_grad_cam_works():
    torch.manual_seed(0)
    lenet = create_model("lenet5")
    x = torch.randn(2, 3, 32, 32)
    with pytest.raises(NasError, match="use grad_cam"):
        class_activation_map(lenet, x)
    g = grad_cam(lenet, x)
    assert g.layer == "features.3" and g.maps.shape == (2, 10, 10)  # the second 5x5 convolution
    assert bool((g.maps >= 0).all())
    # a max-pooling head is not an average: CAM refuses it
    max_head = MacroGenotype(Stem(8), (Stage(ResNetBlock(8), 1),), Head(pool="max"))
    with pytest.raises(NasError, match="no global average pooling"):
        class_activation_map(build(max_head), x)


def test_cam_refuses_layers_between_pool_and_classifier(images):
    class Extra(TinyCNN):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(2.0 * torch.flatten(self.pool(self.features(x)), 1))

    with pytest.raises(NasError, match="not the global average"):
        class_activation_map(Extra(), images)


def test_grad_cam_bad_layer(tiny, images):
    with pytest.raises(NasError, match="no submodule 'features.9'"):
        grad_cam(tiny, images, layer="features.9")
    with pytest.raises(NasError, match="Grad-CAM needs"):
        grad_cam(tiny, images, layer="fc")  # a [B, K] output is not a feature map
    with pytest.raises(NasError, match="images"):
        grad_cam(tiny, images[0])


def test_jet_and_overlay():
    colours = jet(torch.tensor([0.0, 0.5, 1.0]))
    assert colours[:, 0].tolist() == pytest.approx([0.0, 0.0, 0.5])  # dark blue
    assert colours[:, 2].tolist() == pytest.approx([0.5, 0.0, 0.0])  # dark red
    assert colours[1, 1] == 1.0  # green in the middle
    image = torch.full((3, 16, 16), 100, dtype=torch.uint8)
    heat = torch.zeros(4, 4)
    heat[0, 3] = 5.0  # hot top-right corner
    out = overlay(image, heat, alpha=1.0)
    assert out.dtype == torch.uint8 and out.shape == (3, 16, 16)
    assert out[0, 0, 15] > out[2, 0, 15]  # red where hot
    assert out[2, 15, 0] > out[0, 15, 0]  # blue where cold
    assert torch.equal(overlay(image, heat, alpha=0.0), image)
    flat = overlay(image, torch.ones(4, 4), alpha=0.5)  # constant map: no hot spot anywhere
    assert bool((flat == flat[:, :1, :1]).all())
    with pytest.raises(NasError, match="uint8"):
        overlay(image.float(), heat)
    with pytest.raises(NasError, match="heatmap"):
        overlay(image, torch.zeros(2, 2, 2))


def test_to_uint8_undoes_normalisation():
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    raw = torch.rand(2, 3, 4, 4)
    normed = (raw - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None]
    assert torch.equal(to_uint8(normed, mean, std), (raw * 255).round().to(torch.uint8))


def test_save_overlays_names_and_captions(tmp_path, tiny, images):
    result = class_activation_map(tiny, images)
    pil = pytest.importorskip("PIL.Image")
    pytest.importorskip("matplotlib", reason="overlay figures are drawn with matplotlib")
    imgs = to_uint8(images.sigmoid())
    true = [int(result.predicted[0]), (int(result.predicted[1]) + 1) % 4, 0]
    names = ("cat", "dog", "ship", "frog")
    paths = save_overlays(
        imgs,
        result.maps,
        tmp_path,
        predicted=result.predicted,
        true=true,
        class_names=names,
        probabilities=result.probabilities,
    )
    assert len(paths) == 3
    p0 = names[int(result.predicted[0])]
    assert paths[0].name == f"cam_000_pred-{p0}_true-{p0}.png"
    assert f"_true-{names[true[1]]}" in paths[1].name
    for p in paths:
        assert pil.open(p).size[0] > 200
    grid = save_overlay_grid(
        imgs, result.maps, tmp_path / "grid.png", predicted=result.predicted, true=true, class_names=names, columns=2
    )
    assert pil.open(grid).size[0] > 150
    with pytest.raises(NasError, match="predicted"):
        save_overlays(imgs, result.maps, tmp_path, predicted=[0])


# --------------------------------------------------------------------------- #
# nas cam on a run directory in the trainer's format
# --------------------------------------------------------------------------- #


@pytest.fixture
def cam_run(tmp_path, monkeypatch):
    """A tiny image folder (3 tinted classes) and a run directory of an NB201 network trained on it."""
    pytest.importorskip("matplotlib", reason="nas cam draws its overlays with matplotlib")
    import json

    import numpy as np
    from PIL import Image

    from nas.trainer import build_model, resolve_spec

    monkeypatch.setenv("NAS_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "folder"
    rng = np.random.default_rng(0)
    for split, count in (("train", 3), ("test", 4)):
        for c, name in enumerate(("red", "green", "blue")):
            (folder / split / name).mkdir(parents=True)
            for i in range(count):
                img = rng.integers(0, 90, (32, 32, 3), dtype=np.uint8)
                img[..., c] += 140
                Image.fromarray(img).save(folder / split / name / f"{i}.png")
    spec = resolve_spec(genotype="NB201_best", model_options={"nb201": {"channels": 4, "cells_per_stage": 1}})
    run = tmp_path / "run"
    run.mkdir()
    dataset = {"name": "folder", "num_classes": 3, "in_channels": 3, "image_size": 32, "data_dir": str(folder)}
    (run / "config.json").write_text(json.dumps({"model": spec, "dataset": dataset, "train": {}}))
    (run / "result.json").write_text(json.dumps({"selection": "best_val"}))
    torch.manual_seed(0)
    torch.save(build_model(spec, num_classes=3).state_dict(), run / "best.pt")
    return run


def _cam_main(*argv: str) -> int:
    import argparse

    from nas.commands import report

    parser = argparse.ArgumentParser(prog="nas")
    report.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args([str(a) for a in argv])
    return args.handler(args)


def test_cam_command_writes_captioned_overlays(cam_run, tmp_path, capsys):
    assert _cam_main("cam", cam_run, "--images", "5", "--out", tmp_path / "cam") == 0
    files = sorted((tmp_path / "cam").glob("cam_0*.png"))
    assert len(files) == 5 and (tmp_path / "cam" / "cam_grid.png").is_file()
    assert all(re.search(r"_pred-(red|green|blue)_true-(red|green|blue)\.png$", f.name) for f in files)
    out = capsys.readouterr().out
    assert out.startswith("CAM at global_pooling (input): 5 test images")
    assert _cam_main("cam", cam_run, "--images", "2", "--method", "gradcam", "--class", "green") == 0
    assert "Grad-CAM at global_pooling (input): 2 test images" in capsys.readouterr().out
    assert len(list((cam_run / "cam").glob("cam_0*.png"))) == 2  # default output: RUN_DIR/cam


def test_cam_command_errors(cam_run, tmp_path):
    with pytest.raises(NasError, match="--class: expected a class name"):
        _cam_main("cam", cam_run, "--class", "purple")
    with pytest.raises(NasError, match="not a run directory of nas train"):
        _cam_main("cam", tmp_path)
    torch.save(create_model("lenet5").state_dict(), cam_run / "best.pt")
    with pytest.raises(NasError, match="best.pt: weights do not match the model"):
        _cam_main("cam", cam_run)
