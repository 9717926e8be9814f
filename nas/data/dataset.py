"""What a dataset is once loaded: uint8 tensors, class names, and the training images' statistics.

Kept apart from the readers, the cache, the splits and the loader because all of them produce or
consume an :class:`ImageDataset`, and the checks on its tensors and the definition of its
normalisation statistics must be the same whichever path built it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch

from nas.errors import NasError


def describe_tensor(t: torch.Tensor) -> str:
    """``uint8 [N, 3, 32, 32]``: how error messages name a tensor that has the wrong form."""
    return f"{str(t.dtype).removeprefix('torch.')} {list(t.shape)}"


class RawDataset(NamedTuple):
    """What a reader decodes: the splits as uint8 ``[N, C, H, W]`` and int64 labels, and the class names."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    classes: tuple[str, ...]


def channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Exact per-channel mean and (population) std in [0, 1], from a 256-bin histogram per channel."""
    values = torch.arange(256, dtype=torch.float64)
    means, stds = [], []
    for c in range(images.shape[1]):
        hist = torch.bincount(images[:, c].reshape(-1), minlength=256).to(torch.float64)
        n = hist.sum()
        mean = (hist * values).sum() / n
        var = (hist * (values - mean) ** 2).sum() / n
        means.append(float(mean) / 255.0)
        stds.append(math.sqrt(float(var)) / 255.0)
    return tuple(means), tuple(stds)


@dataclass(frozen=True, eq=False)
class ImageDataset:
    """A whole dataset as uint8 ``[N, C, H, W]`` tensors; ``mean``/``std`` are of the training images."""

    name: str
    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    classes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self) -> None:
        channels = len(self.mean)
        for split in ("train", "test"):
            images, labels = getattr(self, f"{split}_images"), getattr(self, f"{split}_labels")
            if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] != channels:
                raise NasError(
                    f"{self.name}: {split}_images must be uint8 [N, {channels}, H, W], got {describe_tensor(images)}"
                )
            if labels.dtype != torch.int64 or labels.shape != (images.shape[0],):
                raise NasError(
                    f"{self.name}: {split}_labels must be int64 [{images.shape[0]}], got {describe_tensor(labels)}"
                )
            if labels.numel() and not 0 <= int(labels.min()) <= int(labels.max()) < len(self.classes):
                raise NasError(f"{self.name}: {split}_labels must lie in [0, {len(self.classes)})")
        if self.test_images.shape[2:] != self.train_images.shape[2:]:
            raise NasError(
                f"{self.name}: test images are {describe_tensor(self.test_images)}, "
                f"train {describe_tensor(self.train_images)}"
            )
        if len(self.std) != channels or min(self.std) <= 0:
            raise NasError(f"{self.name}: std must hold {channels} positive values, got {self.std}")

    @classmethod
    def from_raw(cls, name: str, raw: RawDataset) -> ImageDataset:
        """The dataset a reader decoded, with the statistics of its training images."""
        mean, std = channel_stats(raw.train_images)
        return cls(name, *raw[:4], classes=raw.classes, mean=mean, std=std)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def in_channels(self) -> int:
        return int(self.train_images.shape[1])

    @property
    def image_size(self) -> int:
        """Image height (all built-in datasets have square images; see ``image_shape``)."""
        return int(self.train_images.shape[2])

    @property
    def image_shape(self) -> tuple[int, int, int]:
        c, h, w = (int(s) for s in self.train_images.shape[1:])
        return c, h, w

    def __repr__(self) -> str:
        c, h, w = self.image_shape
        return (
            f"ImageDataset(name={self.name!r}, train={len(self.train_labels)}, test={len(self.test_labels)}, "
            f"shape={c}x{h}x{w}, classes={self.num_classes})"
        )
