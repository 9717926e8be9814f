"""In-memory image datasets, a seeded train/validation split and a batched tensor loader.

Why in memory: CIFAR-sized datasets fit in RAM as uint8 (150 MB for CIFAR-10), and augmenting
whole batches with a few tensor ops is far faster on two cores than torchvision's per-image PIL
pipeline in worker processes. Images are decoded once and cached as uint8 tensors, so later
loads take a fraction of a second.

Layouts read by :func:`load_dataset`:

* torchvision's on-disk formats (``cifar-10-batches-py/``, ``cifar-100-python/``, ``MNIST/raw/``,
  ``FashionMNIST/raw/``), read by torchvision itself;
* image folders ``<root>/train/<class>/*`` plus ``<root>/test/<class>/*`` (or ``val/``), either
  as a directory or inside a ``.tar``/``.tar.gz`` archive that is read without extracting it.

Class order is always the sorted class names (for CIFAR this equals torchvision's order).

The modules, each importing only the ones above it:

* :mod:`nas.data.dataset`: :class:`ImageDataset` (the tensors, checked) and its channel statistics;
* :mod:`nas.data.trees`: reading and decoding image trees (directory or archive);
* :mod:`nas.data.cache`: the decoded uint8 tensors on disk, keyed by a fingerprint of the source;
* :mod:`nas.data.sources`: the data directory, finding a dataset's layout in it, :func:`load_dataset`;
* :mod:`nas.data.splits`: seeded, stratified subsets and train/validation splits;
* :mod:`nas.data.loader`: :class:`Augment` and :class:`BatchLoader`, batched augmentation in memory.

Import the public names from ``nas.data``; the module layout is free to change.
"""

from __future__ import annotations

from nas.data.cache import resolve_cache_dir
from nas.data.dataset import ImageDataset
from nas.data.loader import Augment, BatchLoader
from nas.data.sources import DATASET_NAMES, load_dataset, resolve_data_dir
from nas.data.splits import split_train_val, subset, take_per_class
from nas.data.trees import IMAGE_EXTENSIONS

__all__ = [
    "DATASET_NAMES",
    "IMAGE_EXTENSIONS",
    "Augment",
    "BatchLoader",
    "ImageDataset",
    "load_dataset",
    "resolve_cache_dir",
    "resolve_data_dir",
    "split_train_val",
    "subset",
    "take_per_class",
]
