"""Model zoo: every classic network by name, with one constructor signature.

``create_model(name, num_classes=10, in_channels=3, **options)`` builds either a
*plain* model (this package, one file each) or a named macro genotype
(:mod:`nas.genotypes.named.classic`: VGG, GoogLeNet, ResNet, PreAct/SE-ResNet, ResNeXt,
DenseNet), and ``list_models()`` describes them all (``nas models`` prints it).

Why a few networks are plain modules and not genotypes: a macro genotype is a stem,
stages of one classic family (VGG, Inception, ResNet, DenseNet) and a global-pooling
head. LeNet-5 and AlexNet end in a flatten-to-fully-connected classifier over a
spatial map (and LeNet-5 uses unpadded 5x5 convolutions), which that head cannot
express; MobileNetV2's inverted residual block (1x1 expansion, depthwise 3x3, linear
1x1 projection) belongs to none of the four families. Making them genotypes would mean
new block kinds in :mod:`nas.genotypes.types` that no search space uses.
"""

from nas.zoo.registry import ModelInfo, create_model, has_model, list_models, model_names, register_model

__all__ = ["ModelInfo", "create_model", "has_model", "list_models", "model_names", "register_model"]
