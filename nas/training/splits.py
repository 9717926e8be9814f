"""Which images a run trains, selects and tests on, and the loaders that serve them.

The subset and the validation split are pure functions of ``split_seed`` (not of
``seed``), so several training seeds see the same images and their numbers compare.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from nas.data import Augment, BatchLoader, split_train_val, take_per_class
from nas.errors import NasError
from nas.training.config import TrainConfig


@dataclass(frozen=True)
class Splits:
    """Row indices into the dataset's train (``train``, ``val``) and test (``test``) tensors."""

    train: torch.Tensor
    val: torch.Tensor | None
    test: torch.Tensor


def make_splits(data: Any, config: TrainConfig) -> Splits:
    """Balanced training subset, then the validation split carved from it, then the test subset.

    ``train_subset``/``test_subset`` are totals, divided evenly among the classes (rounded down).
    """
    classes = data.num_classes
    labels = data.train_labels
    pool = torch.arange(len(labels))
    if config.train_subset is not None:
        per_class = config.train_subset // classes
        if per_class < 1:
            raise NasError(
                f"train_subset: expected at least one image per class ({classes}), got {config.train_subset}"
            )
        pool = take_per_class(labels, per_class, config.split_seed)
    val = None
    train = pool
    if config.val_fraction > 0:
        keep, held = split_train_val(labels[pool], config.val_fraction, config.split_seed)
        if len(held) > 0:
            train, val = pool[keep], pool[held]
    if len(train) == 0:
        raise NasError("val_fraction: leaves no training image; lower val_fraction or raise train_subset")
    test = torch.arange(len(data.test_labels))
    if config.test_subset is not None and config.test_subset < len(test):
        per_class = config.test_subset // classes
        if per_class < 1:
            raise NasError(f"test_subset: expected at least one image per class ({classes}), got {config.test_subset}")
        test = take_per_class(data.test_labels, per_class, config.split_seed)
    return Splits(train=train, val=val, test=test)


def make_loader(
    data: Any,
    config: TrainConfig,
    split: str,
    indices: torch.Tensor,
    *,
    device: torch.device | str = "cpu",
    channels_last: bool = False,
) -> BatchLoader:
    """Batches of ``split`` (train: shuffled and augmented; val/test: in order), normalised as in training."""
    training = split == "train"
    images = data.train_images if split in ("train", "val") else data.test_images
    labels = data.train_labels if split in ("train", "val") else data.test_labels
    batch = config.batch_size if training else config.eval_batch_size
    # A last training batch of one image breaks batch norm on 1x1 maps: drop it only then.
    drop_last = training and len(indices) % batch == 1 and len(indices) > 1
    augment = Augment(config.crop_padding, config.flip, config.cutout) if training else None
    return BatchLoader(
        images,
        labels,
        batch_size=batch,
        mean=data.mean,
        std=data.std,
        augment=augment,
        shuffle=training,
        drop_last=drop_last,
        seed=config.seed,
        device=device,
        channels_last=channels_last,
        indices=indices,
    )


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Optimiser steps of an epoch over ``n`` images (a last batch of one image is dropped)."""
    steps = -(-n // batch_size)
    return steps - 1 if n % batch_size == 1 and n > 1 else steps
