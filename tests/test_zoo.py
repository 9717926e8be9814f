"""The model zoo: every model trains one step; names, options, listing and `nas models`."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from nas.cli import main
from nas.errors import NasError
from nas.metrics import count_parameters
from nas.zoo import create_model, has_model, list_models, model_names, register_model

PLAIN_PARAMS = {
    "lenet5": 62_006,  # 456 + 2,416 + 48,120 + 10,164 + 850
    "alexnet": 2_472_266,  # bearpaw/pytorch-classification CIFAR AlexNet
    "mobilenetv2": 2_296_922,  # kuangliu/pytorch-cifar mobilenetv2.py ("2.30M")
}


@pytest.mark.parametrize("name", model_names())
def test_every_model_takes_one_training_step(name: str):
    torch.manual_seed(0)
    model = create_model(name).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(2, 3, 32, 32), torch.tensor([1, 7])
    logits = model(x)
    assert logits.shape == (2, 10)
    loss = nn.functional.cross_entropy(logits, y)
    assert torch.isfinite(loss)
    before = next(model.parameters()).detach().clone()
    loss.backward()
    opt.step()
    assert not torch.equal(before, next(model.parameters()))


@pytest.mark.parametrize("name", sorted(PLAIN_PARAMS))
def test_plain_model_parameter_counts(name: str):
    assert count_parameters(create_model(name)) == PLAIN_PARAMS[name]


@pytest.mark.parametrize("name", ["lenet5", "mobilenetv2", "resnet20", "densenet_bc_100"])
def test_num_classes_and_in_channels(name: str):
    model = create_model(name, num_classes=100, in_channels=1).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 1, 32, 32)).shape == (2, 100)


def test_googlenet_auxiliary_through_the_zoo():
    model = create_model("googlenet", auxiliary=True).train()
    logits, aux = model(torch.randn(2, 3, 32, 32))
    assert logits.shape == aux.shape == (2, 10)


def test_unknown_name_suggests_the_nearest():
    with pytest.raises(NasError, match=r"unknown; did you mean resnet18") as exc:
        create_model("resnet19")
    assert "\n" not in str(exc.value)
    with pytest.raises(NasError, match="mobilenetv2"):
        create_model("mobilenet_v3")


def test_names_ignore_case_and_separators():
    assert has_model("ResNet-20") and has_model("densenet-bc-100") and has_model("LeNet5")
    assert not has_model("resnet19")
    assert count_parameters(create_model("ResNet-20")) == 269_722


def test_cell_genotype_name_is_not_a_model():
    with pytest.raises(NasError, match="darts cell genotype"):
        create_model("DARTS_V2")


def test_bad_options_are_nas_errors():
    with pytest.raises(NasError, match="auxiliary not valid for lenet5"):
        create_model("lenet5", auxiliary=True)
    with pytest.raises(NasError, match="channels"):
        create_model("resnet20", channels=16)
    with pytest.raises(NasError, match="num_classes"):
        create_model("alexnet", num_classes=0)
    with pytest.raises(NasError, match="in_channels"):
        create_model("resnet20", in_channels=True)


def test_register_model_requires_the_common_arguments():
    with pytest.raises(TypeError, match="in_channels"):

        @register_model("broken_model", family="test")
        def broken(num_classes: int = 10) -> nn.Module:
            return nn.Linear(1, num_classes)

    assert not has_model("broken_model")


def test_list_models_is_complete_and_lazy():
    infos = {m.name: m for m in list_models()}
    assert set(infos) == set(model_names())
    assert infos["lenet5"].kind == "plain" and infos["lenet5"].family == "lenet"
    assert infos["resnet20"].kind == "genotype" and infos["resnet20"].family == "resnet"
    assert infos["googlenet"].family == "inception"
    lenet = infos["lenet5"]
    assert "params" not in lenet.__dict__ and "flops" not in lenet.__dict__  # nothing measured yet
    assert lenet.params == 62_006
    # LeNet-5 multiply-adds: 28*28*6*75 + 10*10*16*150 + 400*120 + 120*84 + 84*10.
    assert lenet.macs == 651_720 and lenet.flops == 2 * 651_720


def test_models_command_json(capsys):
    assert main(["models", "--family", "lenet", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows == [
        {"name": "lenet5", "kind": "plain", "family": "lenet", "params": 62_006, "flops": 1_303_440, "macs": 651_720}
    ]


def test_models_command_table_and_errors(capsys):
    assert main(["models", "--family", "alexnet"]) == 0
    out = capsys.readouterr().out
    assert "alexnet" in out and "2.47" in out and "MACs" in out
    assert main(["models", "--family", "nope", "--no-flops"]) == 2
    assert "unknown family 'nope'" in capsys.readouterr().err
