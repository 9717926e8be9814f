"""Where a dataset comes from: the data directory, which layout in it holds the dataset, and reading it.

:func:`load_dataset` is the one entry point: it finds the source (torchvision's on-disk formats,
read by torchvision itself, or an image tree read by :mod:`nas.data.trees`), fingerprints it, and
goes through :mod:`nas.data.cache` so that each version of a source is decoded at most once. Kept
apart from the readers so that every "not found" message lists the same places looked.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from nas.data.cache import cached
from nas.data.dataset import ImageDataset, RawDataset
from nas.data.trees import SPLITS, is_archive, read_tree
from nas.errors import NasError
from nas.runs.atomic import one_line

#: Names accepted by :func:`load_dataset` (dashes, underscores and case are ignored).
DATASET_NAMES: tuple[str, ...] = ("cifar10", "cifar100", "mnist", "fashion_mnist", "folder")

_HOWTO = "pass --data-dir DIR or set NAS_DATA_DIR"

# name -> (torchvision class name, the folder torchvision reads under the data directory)
_TORCHVISION = {
    "cifar10": ("CIFAR10", "cifar-10-batches-py"),
    "cifar100": ("CIFAR100", "cifar-100-python"),
    "mnist": ("MNIST", "MNIST/raw"),
    "fashion_mnist": ("FashionMNIST", "FashionMNIST/raw"),
}
# name -> image-folder layouts that also hold it (a directory, and the same as an archive)
_IMAGE_TREES = {"cifar10": ("cifar10-jpeg", "cifar10-jpeg.tar.gz")}


class _Source(NamedTuple):
    kind: str  # "torchvision" or "tree"
    path: Path  # what the cache key fingerprints: the torchvision folder, the tree dir or the archive


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The data directory: the argument, else ``$NAS_DATA_DIR``, else ``./data`` (absolute)."""
    if data_dir is None or str(data_dir) == "":
        data_dir = os.environ.get("NAS_DATA_DIR") or "data"
    return Path(data_dir).expanduser().absolute()


def load_dataset(
    name: str,
    data_dir: str | os.PathLike | None = None,
    *,
    download: bool = False,
    cache_dir: str | os.PathLike | None = None,
) -> ImageDataset:
    """Load a dataset whole into memory, decoding it at most once per source version (then cached).

    ``name`` is one of :data:`DATASET_NAMES`. For ``folder`` the data directory itself is the image
    tree (``train/<class>/*`` and ``test/`` or ``val/``) or an archive holding one. ``download`` lets
    torchvision fetch the named datasets when they are missing.
    """
    canon = _canonical_name(name)
    root = resolve_data_dir(data_dir)
    source = _find_source(canon, root, download)

    def build() -> ImageDataset:
        raw = _read_torchvision(canon, root) if source.kind == "torchvision" else read_tree(canon, source.path)
        return ImageDataset.from_raw(canon, raw)

    return cached(canon, source.path, source.kind, _fingerprint(source), cache_dir, build)


def _canonical_name(name: str) -> str:
    key = str(name).lower().replace("-", "").replace("_", "")
    for canon in DATASET_NAMES:
        if canon.replace("_", "") == key:
            return canon
    raise NasError(f"dataset: unknown name {name!r}; expected one of {', '.join(DATASET_NAMES)}")


def _find_source(canon: str, root: Path, download: bool) -> _Source:
    looked: list[str] = []
    if canon == "folder":
        if is_archive(root):
            return _Source("tree", root)
        if (root / "train").is_dir():
            return _Source("tree", root)
        where = "directory does not exist; " if not root.exists() else ""
        raise NasError(
            f"folder: no image folder at {root} ({where}looked for train/<class>/* with test/<class>/* or "
            f"val/<class>/*, or a .tar/.tar.gz archive of them); {_HOWTO}"
        )
    if canon in _TORCHVISION:
        folder = _TORCHVISION[canon][1]
        looked.append(folder + "/")
        if (root / folder).is_dir():
            return _Source("torchvision", root / folder)
    tree_dir, tree_archive = _IMAGE_TREES.get(canon, (None, None))
    if tree_dir and tree_archive:
        looked += [f"{tree_dir}/", tree_archive]
        if (root / tree_dir / "train").is_dir():
            return _Source("tree", root / tree_dir)
        if (root / tree_archive).is_file():
            return _Source("tree", root / tree_archive)
        # Also accept --data-dir pointing at the extracted tree or at the archive itself.
        looked.append("train/ and test/ directly in it")
        if (root / "train").is_dir():
            return _Source("tree", root)
        if is_archive(root):
            return _Source("tree", root)
    where = "directory does not exist; " if not root.exists() else ""
    missing = f"{canon}: not found in {root} ({where}looked for {', '.join(looked)})"
    if download:
        try:
            _torchvision_class(canon)(str(root), train=True, download=True)
        except Exception as e:  # network and archive errors come in many types
            raise NasError(f"{missing} and the download failed ({one_line(e)}); {_HOWTO}") from e
        return _Source("torchvision", root / _TORCHVISION[canon][1])
    raise NasError(f"{missing}; {_HOWTO}, or --download when online")


def _torchvision_class(canon: str) -> Callable:
    import torchvision.datasets  # lazy: importing torchvision costs time the tensor paths never need

    return getattr(torchvision.datasets, _TORCHVISION[canon][0])


def _read_torchvision(canon: str, root: Path) -> RawDataset:
    cls = _torchvision_class(canon)
    folder = root / _TORCHVISION[canon][1]
    parts: list[torch.Tensor] = []
    classes: tuple[str, ...] = ()
    for train in (True, False):
        try:
            ds = cls(str(root), train=train, download=False)
        except Exception as e:  # torchvision raises RuntimeError, pickle and OS errors
            raise NasError(
                f"{canon}: {folder} is incomplete or corrupt ({one_line(e)}); "
                "replace it with a fresh copy, or delete it and use --download when online"
            ) from e
        data = ds.data
        if isinstance(data, np.ndarray):  # CIFAR: numpy [N, H, W, C]
            images = torch.from_numpy(data).permute(0, 3, 1, 2).contiguous()
        else:  # MNIST: tensor [N, H, W]
            images = torch.as_tensor(data, dtype=torch.uint8).unsqueeze(1).contiguous()
        parts += [images, torch.as_tensor(ds.targets, dtype=torch.int64).clone()]
        classes = tuple(str(c) for c in ds.classes)
    return RawDataset(*parts, classes)


def _fingerprint(source: _Source) -> str:
    """Size and mtime of the archive, or of every file the source reads: changes when the data changes."""
    h = hashlib.sha256()
    if source.path.is_file():
        st = source.path.stat()
        h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
        return h.hexdigest()
    tops = [source.path / s for s in SPLITS] if source.kind == "tree" else [source.path]
    for top in tops:
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames.sort()
            for fname in sorted(filenames):
                full = os.path.join(dirpath, fname)
                st = os.stat(full)
                h.update(f"{os.path.relpath(full, source.path)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()
