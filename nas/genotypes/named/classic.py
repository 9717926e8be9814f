"""Hand-designed CIFAR-10 networks as named macro genotypes.

A baseline is just a genotype, so ResNet-20 trains, evaluates and counts exactly like a
searched architecture. Each entry reproduces a widely used CIFAR version; the comment
gives its parameter count for 10 classes (built by :class:`nas.networks.macro_network.MacroNetwork`)
and the source it agrees with. ``tests/test_macro_networks.py`` checks every count.

Sources, by short name:

* *pytorch-cifar*: kuangliu/pytorch-cifar ``models/*.py``, the common CIFAR versions of
  the ImageNet networks (3x3 stem of 64, no initial max-pool).
* *resnet-cifar*: He et al. 2016, Sec. 4.2 (16/32/64 widths, option-A shortcuts), as in
  akamaster/pytorch_resnet_cifar10 (whose README lists 0.27M / 0.85M / 1.7M).
* *DenseNet paper*: Huang et al. 2017, Table 2 (DenseNet-BC L=100 k=12, 0.8M).
* *ResNeXt paper*: Xie et al. 2017, Sec. 5.3 / Table 7 (ResNeXt-29 8x64d, 34.4M).

Differences from the sources that do not change the count: down-sampling is a 2x2
pooling on stage entry where GoogLeNet uses a 3x3 stride-2 pooling (same output size
on even inputs), and VGG's last 2x2 max-pool plus flatten is the head's global max pool.
"""

from __future__ import annotations

from nas.genotypes.named import register
from nas.genotypes.types import DenseBlock, Head, InceptionBlock, MacroGenotype, ResNetBlock, Stage, Stem, VGGBlock

# --------------------------------------------------------------------------- #
# VGG (with batch norm): stages of 3x3 convolutions, 2x2 max-pool between them
# --------------------------------------------------------------------------- #

_VGG_DEPTHS = {
    "vgg11": (1, 1, 2, 2, 2),
    "vgg13": (2, 2, 2, 2, 2),
    "vgg16": (2, 2, 3, 3, 3),
    "vgg19": (2, 2, 4, 4, 4),
}
_VGG_WIDTHS = (64, 128, 256, 512, 512)


def _vgg(depths: tuple[int, ...]) -> MacroGenotype:
    stages = tuple(
        Stage(VGGBlock(width), depth=depth, downsample="none" if i == 0 else "max_pool")
        for i, (width, depth) in enumerate(zip(_VGG_WIDTHS, depths))
    )
    # The reference max-pools the final 2x2 map to 1x1 and flattens: a global max pool.
    return MacroGenotype(stem=Stem(0), stages=stages, head=Head(pool="max"))


# Counts (pytorch-cifar vgg.py, exact): 9,231,114 / 9,416,010 / 14,728,266 / 20,040,522.
vgg11 = register("vgg11", _vgg(_VGG_DEPTHS["vgg11"]))
vgg13 = register("vgg13", _vgg(_VGG_DEPTHS["vgg13"]))
vgg16 = register("vgg16", _vgg(_VGG_DEPTHS["vgg16"]))
vgg19 = register("vgg19", _vgg(_VGG_DEPTHS["vgg19"]))

# --------------------------------------------------------------------------- #
# GoogLeNet (Inception v1), CIFAR version
# --------------------------------------------------------------------------- #

# (b1, b2_reduce, b2, b3_reduce, b3, pool_proj) of modules 3a..5b, from Szegedy et al.
# 2015, Table 1. The CIFAR version replaces the 5x5 branch by two 3x3 convolutions.
_INCEPTION = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}


def _googlenet() -> MacroGenotype:
    stages = tuple(
        Stage(InceptionBlock(*widths, double_3x3=True), downsample="max_pool" if name in ("4a", "5a") else "none")
        for name, widths in _INCEPTION.items()
    )
    return MacroGenotype(stem=Stem(192), stages=stages)


# 6,166,250 (pytorch-cifar googlenet.py, exact; "6.17M"). The same modules with the
# paper's single 5x5 convolution give 5,879,066, which matches no published CIFAR count.
googlenet = register("googlenet", _googlenet())

# --------------------------------------------------------------------------- #
# ResNet, ImageNet-style widths (64..512) with a 3x3 stem, as on CIFAR
# --------------------------------------------------------------------------- #


def _resnet(depths: tuple[int, ...], kind: str = "basic", *, preact: bool = False, se: int = 0) -> MacroGenotype:
    expansion = 4 if kind == "bottleneck" else 1
    stages = tuple(
        Stage(
            ResNetBlock(64 * 2**i * expansion, kind=kind, preact=preact, se_reduction=se),
            depth=depth,
            downsample="none" if i == 0 else "stride",
        )
        for i, depth in enumerate(depths)
    )
    # Pre-activation networks: no BN-ReLU after the stem, a final BN-ReLU before pooling.
    return MacroGenotype(stem=Stem(64, norm_act=not preact), stages=stages, head=Head(preact=preact))


# pytorch-cifar resnet.py, exact: 11,173,962 / 21,282,122 / 23,520,842.
resnet18 = register("resnet18", _resnet((2, 2, 2, 2)))
resnet34 = register("resnet34", _resnet((3, 4, 6, 3)))
resnet50 = register("resnet50", _resnet((3, 4, 6, 3), "bottleneck"))

# 11,172,170 = pytorch-cifar preact_resnet.py (11,171,146) + the final BN (1,024) that
# He et al.'s pre-activation design places before pooling (the reference omits it). 11.17M.
preact_resnet18 = register("preact_resnet18", _resnet((2, 2, 2, 2), preact=True))

# 11,263,042 = ResNet-18 + SE on every block (Hu et al. 2018, ratio 16, FCs with bias):
# 2 x (580 + 2,184 + 8,464 + 33,312) = 89,080 extra. 11.26M, as pytorch-cifar senet.py's
# (pre-activation) SENet18, 11,260,226, also rounds to.
se_resnet18 = register("se_resnet18", _resnet((2, 2, 2, 2), se=16))

# --------------------------------------------------------------------------- #
# ResNet for CIFAR (He et al. 2016): 6n+2 layers, widths 16/32/64, option-A shortcuts
# --------------------------------------------------------------------------- #


def _cifar_resnet(n: int) -> MacroGenotype:
    stages = tuple(
        Stage(ResNetBlock(width, shortcut="pad"), depth=n, downsample="none" if i == 0 else "stride")
        for i, width in enumerate((16, 32, 64))
    )
    return MacroGenotype(stem=Stem(16), stages=stages)


# resnet-cifar, exact: 269,722 (0.27M) / 853,018 (0.85M) / 1,727,962 (1.7M). The often
# quoted 1,730,714 for ResNet-110 is the projection-shortcut (option B) variant: +2,752.
resnet20 = register("resnet20", _cifar_resnet(3))
resnet56 = register("resnet56", _cifar_resnet(9))
resnet110 = register("resnet110", _cifar_resnet(18))

# --------------------------------------------------------------------------- #
# ResNeXt-29 (Xie et al. 2017, CIFAR): 3 stages x 3 grouped bottlenecks, outputs
# 256/512/1024, inner width cardinality x d doubling per stage, projection shortcuts
# --------------------------------------------------------------------------- #


def _resnext29(cardinality: int, base_width: int) -> MacroGenotype:
    stages = tuple(
        Stage(
            ResNetBlock(256 * 2**i, kind="bottleneck", width=cardinality * base_width * 2**i, groups=cardinality),
            depth=3,
            downsample="none" if i == 0 else "stride",
        )
        for i in range(3)
    )
    return MacroGenotype(stem=Stem(64), stages=stages)


# 34,426,698 (ResNeXt paper: 34.4M; bearpaw/pytorch-classification README: 34.43M).
resnext29_8x64d = register("resnext29_8x64d", _resnext29(8, 64))
# 9,130,314 (9.13M): the same design with cardinality 2; pytorch-cifar's ResNeXt29_2x64d
# has the same stages but a 1x1 stem, 1,536 parameters fewer (9,128,778).
resnext29_2x64d = register("resnext29_2x64d", _resnext29(2, 64))

# --------------------------------------------------------------------------- #
# DenseNet (Huang et al. 2017)
# --------------------------------------------------------------------------- #


def _densenet(blocks: tuple[int, ...], growth_rate: int) -> MacroGenotype:
    stages = tuple(
        Stage(
            DenseBlock(growth_rate, bottleneck=4),
            depth=depth,
            downsample="none" if i == 0 else "transition",
            compression=1.0 if i == 0 else 0.5,
        )
        for i, depth in enumerate(blocks)
    )
    # Stem: a plain 3x3 convolution to 2k channels (no BN-ReLU: every dense layer starts with one).
    return MacroGenotype(stem=Stem(2 * growth_rate, norm_act=False), stages=stages, head=Head(preact=True))


# 769,162 (DenseNet paper 0.8M; 0.77M in e.g. bearpaw/pytorch-classification, exact
# 769,162 in bamos/densenet.pytorch). (100 - 4) / 6 = 16 bottleneck layers per block.
densenet_bc_100 = register("densenet_bc_100", _densenet((16, 16, 16), 12))
# 6,956,298 (pytorch-cifar densenet.py DenseNet121, exact; 6.96M).
densenet121 = register("densenet121", _densenet((6, 12, 24, 16), 32))
