"""Seeded subsets and train/validation splits of a dataset's indices.

Its own module because every split here is a pure function of the labels and a seed, stratified
by class, and chosen from the training set only (the test set never chooses anything): searches,
training runs and benchmarks that share a seed share the same images.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from nas.data.dataset import ImageDataset, describe_tensor
from nas.errors import NasError


def _check_labels(labels: torch.Tensor, what: str) -> torch.Tensor:
    labels = torch.as_tensor(labels)
    if labels.dim() != 1 or labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise NasError(f"{what}: labels must be a 1-D integer tensor, got {describe_tensor(labels)}")
    return labels.cpu().long()


def _class_groups(labels: torch.Tensor) -> list[torch.Tensor]:
    """Indices of each class present, in class order (stable: ascending indices within a class)."""
    order = torch.argsort(labels, stable=True)
    _, counts = torch.unique(labels, return_counts=True)
    return list(order.split(counts.tolist()))


def _stratified_sample(labels: torch.Tensor, k: int, seed: int) -> torch.Tensor:
    """Exactly ``k`` indices, each class getting its share (largest remainder), sorted."""
    groups = _class_groups(labels)
    counts = torch.tensor([len(g) for g in groups], dtype=torch.float64)
    quota = counts * k / max(len(labels), 1)
    take = quota.floor().long()
    extra = k - int(take.sum())
    if extra:
        take[torch.argsort(quota - take, descending=True, stable=True)[:extra]] += 1
    g = torch.Generator().manual_seed(seed)
    chosen = [grp[torch.randperm(len(grp), generator=g)[: int(n)]] for grp, n in zip(groups, take)]
    return torch.sort(torch.cat(chosen) if chosen else torch.empty(0, dtype=torch.long)).values


def split_train_val(labels: torch.Tensor, val_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Split training indices into (train, val), stratified by class and a pure function of ``seed``.

    The validation part is carved from the training set, so the test set never chooses anything.
    Both index tensors are sorted, disjoint, and together cover ``range(len(labels))``.
    """
    labels = _check_labels(labels, "split_train_val")
    if not 0.0 <= float(val_fraction) < 1.0:
        raise NasError(f"val_fraction: expected a number in [0, 1), got {val_fraction}")
    val = _stratified_sample(labels, round(len(labels) * float(val_fraction)), seed)
    keep = torch.ones(len(labels), dtype=torch.bool)
    keep[val] = False
    return keep.nonzero().squeeze(1), val


def take_per_class(labels: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """``n`` random indices of every class present (sorted): small balanced slices for tests and CPU runs."""
    labels = _check_labels(labels, "take_per_class")
    if n < 0:
        raise NasError(f"take_per_class: n must be >= 0, got {n}")
    g = torch.Generator().manual_seed(seed)
    chosen = []
    for grp in _class_groups(labels):
        if len(grp) < n:
            cls = int(labels[grp[0]])
            raise NasError(f"take_per_class: class {cls} has only {len(grp)} images, asked for {n}")
        chosen.append(grp[torch.randperm(len(grp), generator=g)[:n]])
    return torch.sort(torch.cat(chosen) if chosen else torch.empty(0, dtype=torch.long)).values


def subset(
    ds: ImageDataset,
    train_indices: torch.Tensor | Sequence[int] | None = None,
    test_indices: torch.Tensor | Sequence[int] | None = None,
    *,
    test_limit: int | None = None,
) -> ImageDataset:
    """A slice of ``ds`` (e.g. CPU-sized runs). Keeps the parent's mean/std: normalisation must not drift.

    ``test_limit`` keeps at most that many test images, stratified by class (a fixed choice).
    """
    tr_x, tr_y, te_x, te_y = ds.train_images, ds.train_labels, ds.test_images, ds.test_labels
    if train_indices is not None:
        idx = torch.as_tensor(train_indices, dtype=torch.long)
        tr_x, tr_y = tr_x[idx], tr_y[idx]
    if test_indices is not None:
        idx = torch.as_tensor(test_indices, dtype=torch.long)
        te_x, te_y = te_x[idx], te_y[idx]
    if test_limit is not None:
        if test_limit < 0:
            raise NasError(f"test_limit: must be >= 0, got {test_limit}")
        if test_limit < len(te_y):
            idx = _stratified_sample(te_y, test_limit, seed=0)
            te_x, te_y = te_x[idx], te_y[idx]
    return ImageDataset(ds.name, tr_x, tr_y, te_x, te_y, classes=ds.classes, mean=ds.mean, std=ds.std)
