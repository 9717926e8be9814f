"""MacroNetwork: literature parameter counts, hybrid stages, auxiliary head, shortcuts."""

from __future__ import annotations

import random

import pytest
import torch
from torch import nn

from nas.errors import NasError
from nas.genotypes import named
from nas.genotypes.types import DenseBlock, Head, InceptionBlock, MacroGenotype, ResNetBlock, Stage, Stem, VGGBlock
from nas.metrics import count_parameters
from nas.networks import build
from nas.networks.blocks import PadShortcut, ResidualBlock
from nas.networks.macro_network import MacroNetwork, auxiliary_stage_index

# name -> (parameters for 10 classes, source). Exact where the source is an exact count.
EXPECTED_PARAMS: dict[str, tuple[int, str]] = {
    "vgg11": (9_231_114, "kuangliu/pytorch-cifar vgg.py VGG('VGG11')"),
    "vgg13": (9_416_010, "kuangliu/pytorch-cifar vgg.py VGG('VGG13')"),
    "vgg16": (14_728_266, "kuangliu/pytorch-cifar vgg.py VGG('VGG16')"),
    "vgg19": (20_040_522, "kuangliu/pytorch-cifar vgg.py VGG('VGG19')"),
    "googlenet": (6_166_250, "kuangliu/pytorch-cifar googlenet.py (double 3x3 branch)"),
    "resnet18": (11_173_962, "kuangliu/pytorch-cifar resnet.py ResNet18"),
    "resnet34": (21_282_122, "kuangliu/pytorch-cifar resnet.py ResNet34"),
    "resnet50": (23_520_842, "kuangliu/pytorch-cifar resnet.py ResNet50"),
    "resnet20": (269_722, "He et al. 2016 option A (akamaster/pytorch_resnet_cifar10: 0.27M)"),
    "resnet56": (853_018, "He et al. 2016 option A (akamaster/pytorch_resnet_cifar10: 0.85M)"),
    "resnet110": (1_727_962, "He et al. 2016 option A (akamaster: 1.7M; 1,730,714 is option B)"),
    "preact_resnet18": (11_172_170, "kuangliu preact_resnet.py 11,171,146 + final BN of He et al. 2016b"),
    "se_resnet18": (11_263_042, "ResNet-18 + SE ratio 16 with biased FCs (11.26M)"),
    "resnext29_8x64d": (34_426_698, "Xie et al. 2017 Table 7: 34.4M; bearpaw/pytorch-classification: 34.43M"),
    "resnext29_2x64d": (9_130_314, "Xie et al. design, cardinality 2 (kuangliu's 1x1-stem version: 9,128,778)"),
    "densenet_bc_100": (769_162, "Huang et al. 2017: 0.8M; bamos/densenet.pytorch: 769,162"),
    "densenet121": (6_956_298, "kuangliu/pytorch-cifar densenet.py DenseNet121"),
}


def test_every_classic_genotype_has_an_expected_count():
    from nas.genotypes.named import classic

    entries = {a for a, v in vars(classic).items() if isinstance(v, MacroGenotype)}
    assert entries == set(EXPECTED_PARAMS)
    assert all(named.get(n) is getattr(classic, n) for n in entries)


@pytest.mark.parametrize("name", sorted(EXPECTED_PARAMS))
def test_parameter_count_matches_literature(name: str):
    expected, source = EXPECTED_PARAMS[name]
    model = build(named.get(name), num_classes=10)
    assert count_parameters(model) == expected, source


def test_count_scales_with_classes_only_in_the_classifier():
    a = count_parameters(build(named.get("resnet20"), num_classes=10))
    b = count_parameters(build(named.get("resnet20"), num_classes=100))
    assert b - a == 90 * 64 + 90


def _stage_shapes(model: MacroNetwork, x: torch.Tensor) -> list[tuple[int, int]]:
    shapes = []
    hooks = [s.register_forward_hook(lambda m, i, o: shapes.append((o.shape[1], o.shape[2]))) for s in model.stages]
    try:
        model(x)
    finally:
        for h in hooks:
            h.remove()
    return shapes


def _hybrid() -> MacroGenotype:
    return MacroGenotype(
        stem=Stem(16),
        stages=(
            Stage(VGGBlock(24), depth=2),
            Stage(InceptionBlock(8, 8, 16, 4, 8, 8), depth=1, downsample="max_pool"),
            Stage(ResNetBlock(48, kind="bottleneck", width=16, groups=4, se_reduction=4), depth=2, downsample="stride"),
            Stage(DenseBlock(8, bottleneck=2), depth=3, downsample="transition", compression=0.5),
            Stage(ResNetBlock(64, preact=True, shortcut="pad"), depth=1, downsample="stride"),
            Stage(VGGBlock(32, kernel_size=1), depth=1, downsample="avg_pool"),
        ),
        head=Head(pool="max", preact=True, dropout=0.2),
    )


def test_hybrid_genotype_builds_runs_and_matches_feature_shapes():
    genotype = _hybrid()
    assert genotype.family == "hybrid"
    model = build(genotype, num_classes=7)
    x = torch.randn(2, 3, 32, 32)
    assert _stage_shapes(model, x) == genotype.feature_shapes()
    model.train()
    loss = nn.functional.cross_entropy(model(x), torch.tensor([0, 6]))
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is not None for p in model.parameters())


def _random_block(rng: random.Random, family: str):
    if family == "vgg":
        return VGGBlock(rng.choice([4, 8, 12]), rng.choice([1, 3, 5]))
    if family == "inception":
        return InceptionBlock(*(rng.choice([2, 4, 6]) for _ in range(6)), double_3x3=rng.random() < 0.5)
    if family == "resnet":
        kind = rng.choice(["basic", "bottleneck"])
        groups = rng.choice([1, 2])
        return ResNetBlock(
            8 * rng.choice([1, 2, 3]),
            kind=kind,
            width=4 * groups if kind == "bottleneck" else 0,
            groups=groups,
            se_reduction=rng.choice([0, 4]),
            preact=rng.random() < 0.5,
            shortcut="conv",
        )
    return DenseBlock(rng.choice([2, 4]), bottleneck=rng.choice([0, 2]))


@pytest.mark.parametrize("seed", range(12))
def test_random_hybrid_genotypes_agree_with_feature_shapes(seed: int):
    # Odd input sides exercise the rounding of every downsampling kind.
    rng = random.Random(seed)
    side = rng.choice([9, 11, 16])
    stages = []
    for i in range(rng.randint(2, 4)):
        family = rng.choice(["vgg", "inception", "resnet", "densenet"])
        block = _random_block(rng, family)
        choices = ["none", "max_pool", "avg_pool", "transition"] + (["stride"] if family in ("vgg", "resnet") else [])
        down = "none" if i == 0 else rng.choice(choices)
        stages.append(
            Stage(block, depth=rng.randint(1, 2), downsample=down, compression=0.5 if down == "transition" else 1.0)
        )
    genotype = MacroGenotype(stem=Stem(rng.choice([0, 8])), stages=tuple(stages), input_size=side)
    model = build(genotype, num_classes=3)
    x = torch.randn(2, 3, side, side)
    assert _stage_shapes(model, x) == genotype.feature_shapes()
    assert model(x).shape == (2, 3)


def test_auxiliary_head_train_and_eval_outputs():
    model = build(named.get("googlenet"), num_classes=10, auxiliary=True)
    x = torch.randn(2, 3, 32, 32)
    model.train()
    out = model(x)
    assert isinstance(out, tuple) and len(out) == 2
    assert out[0].shape == (2, 10) and out[1].shape == (2, 10)
    model.eval()
    with torch.no_grad():
        out = model(x)
    assert isinstance(out, torch.Tensor) and out.shape == (2, 10)
    # Auxiliary parameters are under `auxiliary_head` and excluded from the headline count.
    aux = sum(p.numel() for n, p in model.named_parameters() if n.startswith("auxiliary_head."))
    assert aux > 0
    assert count_parameters(model) == EXPECTED_PARAMS["googlenet"][0]
    assert count_parameters(model, include_auxiliary=True) == EXPECTED_PARAMS["googlenet"][0] + aux


def test_without_auxiliary_training_mode_returns_a_tensor():
    model = build(named.get("resnet20")).train()
    assert isinstance(model(torch.randn(2, 3, 32, 32)), torch.Tensor)
    assert model.auxiliary_head is None


def test_auxiliary_rule_two_thirds_of_the_stages():
    assert [auxiliary_stage_index(n) for n in (1, 2, 3, 4, 9)] == [0, 1, 1, 2, 5]
    # GoogLeNet's 9 modules: 3a 3b 4a 4b 4c 4d ... -> after 4d (GoogLeNet's second auxiliary head).
    model = build(named.get("googlenet"), auxiliary=True)
    assert model.aux_index == 5
    assert model.auxiliary_head.features[1].in_channels == 528  # 4d output: 112 + 288 + 64 + 64


def test_auxiliary_must_be_a_bool():
    with pytest.raises(NasError, match="auxiliary"):
        MacroNetwork(named.get("resnet20"), auxiliary="yes")


def test_pad_shortcut_has_no_parameters_and_pads_with_zeros():
    model = build(named.get("resnet20"))
    pads = [m for m in model.modules() if isinstance(m, PadShortcut)]
    assert len(pads) == 2  # entries of stages 2 and 3
    assert all(sum(p.numel() for p in m.parameters()) == 0 for m in pads)
    assert not any(isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1) for m in model.modules())
    x = torch.randn(2, 16, 7, 7)
    y = PadShortcut(16, 32, 2)(x)
    assert y.shape == (2, 32, 4, 4)
    assert torch.equal(y[:, :16], x[:, :, ::2, ::2])
    assert torch.count_nonzero(y[:, 16:]) == 0


def test_conv_shortcut_has_bn_post_activation_and_none_pre_activation():
    post = ResidualBlock(16, ResNetBlock(32), stride=2)
    pre = ResidualBlock(16, ResNetBlock(32, preact=True), stride=2)
    assert isinstance(post.shortcut, nn.Sequential) and isinstance(post.shortcut[1], nn.BatchNorm2d)
    assert isinstance(pre.shortcut, nn.Conv2d)
    assert ResidualBlock(32, ResNetBlock(32)).shortcut is None  # identity when shapes match


def test_resnext_block_uses_grouped_convolution():
    model = build(named.get("resnext29_2x64d"))
    grouped = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.groups > 1]
    assert len(grouped) == 9 and all(m.groups == 2 and m.kernel_size == (3, 3) for m in grouped)


def test_basic_block_groups_must_divide_channels():
    with pytest.raises(NasError, match="groups"):
        ResidualBlock(8, ResNetBlock(12, width=8, groups=8))


def test_stem_bias_follows_the_family_convention():
    google = build(named.get("googlenet"))
    resnet = build(named.get("resnet18"))
    assert google.stem[0].bias is not None
    assert resnet.stem[0].bias is None
    vgg = build(named.get("vgg11"))
    assert isinstance(vgg.stem, nn.Identity)


def test_densenet_stage_widths():
    genotype = named.get("densenet_bc_100")
    assert [c for c, _ in genotype.feature_shapes()] == [24 + 192, 108 + 192, 150 + 192]
    model = build(genotype)
    assert _stage_shapes(model, torch.randn(2, 3, 32, 32)) == [(216, 32), (300, 16), (342, 8)]


def test_build_rejects_bad_num_classes():
    with pytest.raises(NasError, match="num_classes"):
        MacroNetwork(named.get("resnet20"), num_classes=0)
