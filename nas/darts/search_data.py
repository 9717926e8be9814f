"""The data of a DARTS search: the training images, split once into a weight half and an architecture half.

DARTS never looks at the test set: it takes ``train_subset`` images of the training set
(balanced per class), gives ``val_fraction`` of them to the architecture step and the
rest to the weight step, both split by ``seed``. Every loader's order is a pure function
of ``(seed, epoch)``, so a resumed search reads exactly the batches an uninterrupted one
reads, and under ``torchrun`` every rank reads the same batches (keeping its shard).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import count

import torch

from nas.darts.config import DartsSearchConfig
from nas.data import Augment, BatchLoader, ImageDataset, load_dataset, split_train_val, take_per_class
from nas.errors import NasError


def synthetic_dataset(seed: int = 0, per_class: int = 100, size: int = 32, classes: int = 10) -> ImageDataset:
    """Learnable random images (a class-specific colour blob on noise) for tests and smoke runs."""
    g = torch.Generator().manual_seed(10_000 + seed)
    palette = torch.randint(0, 256, (classes, 3, 1, 1), generator=g)

    def make(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        labels = torch.arange(classes).repeat_interleave(n)
        noise = torch.randint(0, 256, (len(labels), 3, size, size), generator=g)
        q = size // 4
        images = noise.clone()
        images[:, :, q : 3 * q, q : 3 * q] = (palette[labels] * 3 + noise[:, :, q : 3 * q, q : 3 * q]) // 4
        return images.to(torch.uint8), labels

    tr_x, tr_y = make(per_class)
    te_x, te_y = make(max(1, per_class // 5))
    mean = tuple(float(v) for v in tr_x.float().div(255).mean(dim=(0, 2, 3)))
    std = tuple(float(v) for v in tr_x.float().div(255).std(dim=(0, 2, 3)))
    names = tuple(f"class{i}" for i in range(classes))
    return ImageDataset("synthetic", tr_x, tr_y, te_x, te_y, classes=names, mean=mean, std=std)


@dataclass
class SearchData:
    """The training images and the two disjoint halves a search uses."""

    images: torch.Tensor
    labels: torch.Tensor
    mean: tuple[float, ...]
    std: tuple[float, ...]
    num_classes: int
    in_channels: int
    train_idx: torch.Tensor  # trains the weights
    val_idx: torch.Tensor  # trains the architecture (never the test set)


def load_data(config: DartsSearchConfig) -> SearchData:
    """The config's dataset (``synthetic`` for tests), subset and weight/architecture split."""
    if config.dataset.lower() == "synthetic":
        ds = synthetic_dataset(seed=0)
    else:
        ds = load_dataset(config.dataset, config.data_dir)
    labels = ds.train_labels
    pool = torch.arange(len(labels))
    if config.train_subset is not None:
        per_class = config.train_subset // ds.num_classes
        if per_class < 2:
            raise NasError(
                f"train_subset: {config.train_subset} images leave fewer than 2 per class of {ds.num_classes}"
            )
        pool = take_per_class(labels, per_class, config.seed)
    tr, va = split_train_val(labels[pool], config.val_fraction, config.seed)
    train_idx, val_idx = pool[tr], pool[va]
    if len(train_idx) == 0 or len(val_idx) == 0:
        raise NasError(f"val_fraction: {config.val_fraction} leaves an empty half of {len(pool)} images")
    return SearchData(
        ds.train_images, labels, tuple(ds.mean), tuple(ds.std), ds.num_classes, ds.in_channels, train_idx, val_idx
    )


def loaders(
    config: DartsSearchConfig, data: SearchData, device: torch.device
) -> tuple[BatchLoader, BatchLoader, BatchLoader]:
    """``(weights, architecture, evaluation)`` loaders: the two halves augmented, the architecture half plain."""
    aug = Augment(config.augment.crop_padding, config.augment.flip, config.augment.cutout)

    def loader(indices: torch.Tensor, augment: Augment | None, seed: int, shuffle: bool) -> BatchLoader:
        return BatchLoader(
            data.images,
            data.labels,
            batch_size=config.batch_size,
            mean=data.mean,
            std=data.std,
            device=device,
            augment=augment,
            seed=seed,
            shuffle=shuffle,
            indices=indices,
        )

    train = loader(data.train_idx, aug, config.seed, True)
    # The architecture half: its own order (seed + 1), augmented like the weights' half as in DARTS.
    arch = loader(data.val_idx, aug, config.seed + 1, True)
    # Evaluation: one fixed shuffled order (seed 0, epoch 0). The half's own order is sorted by
    # class, and a cell whose batch norms keep no running statistics (GDAS, SPOS) normalised
    # batches of one class each scored ~10% whatever it had learnt.
    evaluate = loader(data.val_idx, None, 0, True)
    return train, arch, evaluate


def arch_stream(loader: BatchLoader, epoch: int, skip: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Endless architecture batches for ``epoch``: pass r of the arch half uses loader epoch (epoch, r)."""
    per_pass = len(loader)
    for r in count(skip // per_pass):
        loader.set_epoch(epoch * 1000 + r)
        yield from loader.batches(skip % per_pass if r == skip // per_pass else 0)
