"""Bottom-up weight transfer (stops at the first mismatch) and freezing for fine-tuning."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nas.errors import NasError
from nas.genotypes import named
from nas.networks import build
from nas.training.finetune import freeze, load_state_dict_file, transfer_weights
from nas.zoo import create_model


@pytest.fixture(scope="module")
def cifar10_resnet20() -> nn.Module:
    torch.manual_seed(0)
    model = create_model("resnet20")
    with torch.no_grad():  # distinctive values, including the BN running statistics
        for t in model.state_dict().values():
            if t.is_floating_point():
                t.normal_()
    return model


def test_resnet20_into_100_classes_loads_everything_but_the_classifier(cifar10_resnet20):
    torch.manual_seed(1)
    target = create_model("resnet20", num_classes=100)
    before = target.head.classifier.weight.detach().clone()
    report = transfer_weights(target, cifar10_resnet20.state_dict())
    assert report.stopped_at == "head.classifier" and report.not_loaded == ["head.classifier"]
    assert "shape [100, 64]" in report.reason and "[10, 64]" in report.reason
    assert len(report.loaded) == 38 and all(a == b for a, b in report.loaded)  # same names, same order
    src = cifar10_resnet20.state_dict()
    for key, value in target.state_dict().items():
        if key.startswith("head.classifier"):
            continue
        assert torch.equal(value, src[key]), key
    assert torch.equal(target.head.classifier.weight, before)  # left as initialised
    assert report.elements == sum(v.numel() for k, v in src.items() if not k.startswith("head.classifier"))
    assert report.summary().startswith("loaded 38/39 layers")


def test_different_architecture_stops_at_the_first_mismatch(cifar10_resnet20):
    torch.manual_seed(2)
    deeper = create_model("resnet56")
    fresh = {k: v.clone() for k, v in deeper.state_dict().items()}
    report = transfer_weights(deeper, cifar10_resnet20.state_dict())
    # stem (conv, bn) and the three blocks of ResNet-20's first stage match; ResNet-56's fourth
    # block is then compared with ResNet-20's strided 16 -> 32 block and differs
    assert report.stopped_at == "stages.0.3.body.0"
    assert "[16, 16, 3, 3]" in report.reason and "[32, 16, 3, 3]" in report.reason
    assert len(report.loaded) == 2 + 3 * 4
    loaded = {name for name, _ in report.loaded}
    for key, value in deeper.state_dict().items():
        layer = key.rpartition(".")[0]
        if layer in loaded:
            assert torch.equal(value, cifar10_resnet20.state_dict()[key]), key
        else:  # nothing after the mismatch, even layers whose shapes would fit (e.g. the classifier)
            assert torch.equal(value, fresh[key]), key
    assert "head.classifier" in report.not_loaded


def test_mismatch_at_the_first_layer(cifar10_resnet20):
    report = transfer_weights(create_model("vgg11"), cifar10_resnet20.state_dict())
    assert report.loaded == [] and report.stopped_at == "stages.0.0.0"
    assert "bias" in report.reason  # VGG convolutions have a bias, ResNet's do not


def test_auxiliary_heads_take_part_only_when_both_have_one():
    g = named.get("DARTS_V2")
    torch.manual_seed(0)
    with_aux = build(g, channels=4, layers=3, auxiliary=True)
    plain = build(g, channels=4, layers=3)
    report = transfer_weights(plain, with_aux.state_dict())
    assert report.complete and report.stopped_at is None
    assert not any("auxiliary" in a for a, _ in report.loaded)
    torch.manual_seed(1)
    other_aux = build(g, channels=4, layers=3, auxiliary=True)
    report = transfer_weights(other_aux, with_aux.state_dict())
    assert report.complete and any("auxiliary" in a for a, _ in report.loaded)
    assert torch.equal(other_aux.auxiliary_head.classifier.weight, with_aux.auxiliary_head.classifier.weight)


def test_checkpoint_files(tmp_path, cifar10_resnet20):
    sd = cifar10_resnet20.state_dict()
    torch.save(sd, tmp_path / "best.pt")
    torch.save({"model": {f"module.{k}": v for k, v in sd.items()}, "epoch": 3}, tmp_path / "checkpoint.pt")
    for name in ("best.pt", "checkpoint.pt"):
        loaded = load_state_dict_file(tmp_path / name)
        assert list(loaded) == list(sd)
    target = create_model("resnet20", num_classes=100)
    assert len(transfer_weights(target, tmp_path / "checkpoint.pt").loaded) == 38
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(NasError, match="junk.pt: cannot read checkpoint"):
        load_state_dict_file(tmp_path / "junk.pt")
    with pytest.raises(NasError, match="checkpoint not found"):
        load_state_dict_file(tmp_path / "missing.pt")
    torch.save({"epoch": 3}, tmp_path / "noweights.pt")
    with pytest.raises(NasError, match="expected a state dict"):
        load_state_dict_file(tmp_path / "noweights.pt")


def _trainable(model: nn.Module) -> set[str]:
    return {n for n, p in model.named_parameters() if p.requires_grad}


def test_freeze_modes():
    model = build(named.get("DARTS_V2"), channels=4, layers=3, auxiliary=True)
    assert freeze(model, "head") == ["classifier"]
    assert _trainable(model) == {"classifier.weight", "classifier.bias"}
    layers = freeze(model, "top:3")
    assert len(layers) == 3 and layers[-1] == "classifier" and not any("auxiliary" in n for n in layers)
    assert {n.rpartition(".")[0] for n in _trainable(model)} == set(layers)
    freeze(model, "all")
    assert _trainable(model) == {n for n, _ in model.named_parameters()}
    resnet = create_model("resnet20")
    assert freeze(resnet, "top:1000")[-1] == "head.classifier"  # more than there are: all
    assert _trainable(resnet) == {n for n, _ in resnet.named_parameters()}


@pytest.mark.parametrize("mode", ["", "top:0", "top:x", "top", "bottom:2", None, 3])
def test_freeze_bad_mode(mode):
    with pytest.raises(NasError, match="freeze: expected 'all', 'head' or 'top:K'"):
        freeze(create_model("lenet5"), mode)  # type: ignore[arg-type]


def test_freeze_head_needs_a_linear_layer():
    with pytest.raises(NasError, match="nn.Linear"):
        freeze(nn.Sequential(nn.Conv2d(3, 4, 3)), "head")
