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
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import math
import multiprocessing as mp
import os
import tarfile
import tempfile
import threading
import warnings
import zlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image

from nas.errors import NasError

__all__ = [
    "DATASET_NAMES",
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

#: Names accepted by :func:`load_dataset` (dashes, underscores and case are ignored).
DATASET_NAMES: tuple[str, ...] = ("cifar10", "cifar100", "mnist", "fashion_mnist", "folder")

IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp", ".gif")
_SPLITS = ("train", "test", "val")
_ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
# Bump when the cached payload changes meaning, so old caches are rebuilt instead of misread.
_CACHE_VERSION = 1
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


# --------------------------------------------------------------------------- #
# The dataset
# --------------------------------------------------------------------------- #


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
                raise NasError(f"{self.name}: {split}_images must be uint8 [N, {channels}, H, W], got {_desc(images)}")
            if labels.dtype != torch.int64 or labels.shape != (images.shape[0],):
                raise NasError(f"{self.name}: {split}_labels must be int64 [{images.shape[0]}], got {_desc(labels)}")
            if labels.numel() and not 0 <= int(labels.min()) <= int(labels.max()) < len(self.classes):
                raise NasError(f"{self.name}: {split}_labels must lie in [0, {len(self.classes)})")
        if self.test_images.shape[2:] != self.train_images.shape[2:]:
            raise NasError(f"{self.name}: test images are {_desc(self.test_images)}, train {_desc(self.train_images)}")
        if len(self.std) != channels or min(self.std) <= 0:
            raise NasError(f"{self.name}: std must hold {channels} positive values, got {self.std}")

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
        return tuple(int(s) for s in self.train_images.shape[1:])  # type: ignore[return-value]

    def __repr__(self) -> str:
        c, h, w = self.image_shape
        return (
            f"ImageDataset(name={self.name!r}, train={len(self.train_labels)}, test={len(self.test_labels)}, "
            f"shape={c}x{h}x{w}, classes={self.num_classes})"
        )


def _desc(t: torch.Tensor) -> str:
    return f"{str(t.dtype).removeprefix('torch.')} {list(t.shape)}"


# --------------------------------------------------------------------------- #
# Directories
# --------------------------------------------------------------------------- #


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The data directory: the argument, else ``$NAS_DATA_DIR``, else ``./data`` (absolute)."""
    if data_dir is None or str(data_dir) == "":
        data_dir = os.environ.get("NAS_DATA_DIR") or "data"
    return Path(data_dir).expanduser().absolute()


def resolve_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """The cache directory: the argument, else ``$NAS_CACHE_DIR``, else ``~/.cache/nas-toolkit``."""
    if cache_dir is None or str(cache_dir) == "":
        cache_dir = os.environ.get("NAS_CACHE_DIR") or Path.home() / ".cache" / "nas-toolkit"
    return Path(cache_dir).expanduser().absolute()


# --------------------------------------------------------------------------- #
# Loading
# --------------------------------------------------------------------------- #


class _Source(NamedTuple):
    kind: str  # "torchvision" or "tree"
    path: Path  # what the cache key fingerprints: the torchvision folder, the tree dir or the archive


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
    if source.kind == "torchvision":
        return _cached(canon, source, cache_dir, lambda: _read_torchvision(canon, root))
    return _cached(canon, source, cache_dir, lambda: _read_tree(canon, source.path))


def _canonical_name(name: str) -> str:
    key = str(name).lower().replace("-", "").replace("_", "")
    for canon in DATASET_NAMES:
        if canon.replace("_", "") == key:
            return canon
    raise NasError(f"dataset: unknown name {name!r}; expected one of {', '.join(DATASET_NAMES)}")


def _is_archive(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(_ARCHIVE_SUFFIXES)


def _find_source(canon: str, root: Path, download: bool) -> _Source:
    looked: list[str] = []
    if canon == "folder":
        if _is_archive(root):
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
    if tree_dir:
        looked += [f"{tree_dir}/", tree_archive]
        if (root / tree_dir / "train").is_dir():
            return _Source("tree", root / tree_dir)
        if (root / tree_archive).is_file():
            return _Source("tree", root / tree_archive)
        # Also accept --data-dir pointing at the extracted tree or at the archive itself.
        looked.append("train/ and test/ directly in it")
        if (root / "train").is_dir():
            return _Source("tree", root)
        if _is_archive(root):
            return _Source("tree", root)
    where = "directory does not exist; " if not root.exists() else ""
    missing = f"{canon}: not found in {root} ({where}looked for {', '.join(looked)})"
    if download:
        try:
            _torchvision_class(canon)(str(root), train=True, download=True)
        except Exception as e:  # network and archive errors come in many types
            raise NasError(f"{missing} and the download failed ({_one_line(e)}); {_HOWTO}") from e
        return _Source("torchvision", root / _TORCHVISION[canon][1])
    raise NasError(f"{missing}; {_HOWTO}, or --download when online")


def _torchvision_class(canon: str) -> Callable:
    import torchvision.datasets  # lazy: importing torchvision costs time the tensor paths never need

    return getattr(torchvision.datasets, _TORCHVISION[canon][0])


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= 200 else text[:197] + "..."


class _Raw(NamedTuple):
    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    classes: tuple[str, ...]


def _read_torchvision(canon: str, root: Path) -> _Raw:
    cls = _torchvision_class(canon)
    folder = root / _TORCHVISION[canon][1]
    parts: list[torch.Tensor] = []
    classes: tuple[str, ...] = ()
    for train in (True, False):
        try:
            ds = cls(str(root), train=train, download=False)
        except Exception as e:  # torchvision raises RuntimeError, pickle and OS errors
            raise NasError(
                f"{canon}: {folder} is incomplete or corrupt ({_one_line(e)}); "
                "replace it with a fresh copy, or delete it and use --download when online"
            ) from e
        data = ds.data
        if isinstance(data, np.ndarray):  # CIFAR: numpy [N, H, W, C]
            images = torch.from_numpy(data).permute(0, 3, 1, 2).contiguous()
        else:  # MNIST: tensor [N, H, W]
            images = torch.as_tensor(data, dtype=torch.uint8).unsqueeze(1).contiguous()
        parts += [images, torch.as_tensor(ds.targets, dtype=torch.int64).clone()]
        classes = tuple(str(c) for c in ds.classes)
    return _Raw(*parts, classes)


# --------------------------------------------------------------------------- #
# Image trees (directory or archive)
# --------------------------------------------------------------------------- #


class _Entry(NamedTuple):
    split: str
    cls: str
    key: str  # path below the class folder: sorting key within a class
    display: str  # how errors name the file


def _is_image_name(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return not base.startswith(".") and base.lower().endswith(IMAGE_EXTENSIONS)


def _unreadable_dir(e: OSError) -> None:
    raise NasError(f"{e.filename}: cannot read directory ({e.strerror})")


def _walk_dir(root: Path) -> Iterator[tuple[_Entry, Callable[[], bytes]]]:
    for split in _SPLITS:
        split_dir = root / split
        if not split_dir.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(split_dir, onerror=_unreadable_dir):
            dirnames.sort()
            rel = Path(dirpath).relative_to(split_dir).parts
            if not rel:
                continue  # files directly in train/ belong to no class
            for fname in sorted(filenames):
                if _is_image_name(fname):
                    path = Path(dirpath) / fname
                    key = "/".join((*rel[1:], fname))
                    yield _Entry(split, rel[0], key, str(path)), path.read_bytes


def _walk_archive(archive: Path) -> Iterator[tuple[_Entry, Callable[[], bytes]]]:
    prefixes: set[str] = set()
    try:
        with tarfile.open(archive, mode="r|*") as tf:  # streaming: one pass, no random access needed
            for member in tf:
                if not member.isfile() or not _is_image_name(member.name):
                    continue
                parts = PurePosixPath(member.name.removeprefix("./")).parts
                # <split>/<class>/.../file, optionally below one top-level folder
                at = 0 if parts[0] in _SPLITS else 1
                if len(parts) < at + 3 or parts[at] not in _SPLITS:
                    continue
                prefixes.add(parts[0] if at else "")
                if len(prefixes) > 1:
                    found = ", ".join(sorted(p + "/" if p else "(top level)" for p in prefixes))
                    raise NasError(f"{archive}: holds more than one image tree ({found}); expected one")
                blob = tf.extractfile(member).read()  # type: ignore[union-attr]
                entry = _Entry(parts[at], parts[at + 1], "/".join(parts[at + 2 :]), f"{archive}:{member.name}")
                yield entry, lambda b=blob: b
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        raise NasError(f"{archive}: corrupt or unreadable archive ({_one_line(e)})") from e


def _decode(blob: bytes, display: str) -> np.ndarray:
    """Decode one image to ``[H, W]`` (grayscale) or ``[H, W, 3]`` uint8."""
    try:
        with Image.open(io.BytesIO(blob)) as im:
            if im.mode not in ("L", "RGB"):
                im = im.convert("L" if im.mode in ("1", "LA", "I", "I;16") else "RGB")
            else:
                im.load()
            return np.asarray(im)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise NasError(f"{display}: cannot decode image ({_one_line(e)})") from e


def _decode_chunk(chunk: list[tuple[bytes, str]]) -> list[np.ndarray]:
    return [_decode(blob, display) for blob, display in chunk]


_DECODE_CHUNK = 2048


def _decode_pool() -> ProcessPoolExecutor | None:
    """Two forked decoder processes, or None (decode in-process) when they would not help or not be safe.

    Measured on CIFAR-10 (60k JPEGs): with a core idle the workers overlap decoding with reading the
    archive; on a machine already busy they only add pickling and contention, and are slower. Fork is
    used only while this process runs no other Python thread (a thread could hold a lock the child
    would inherit locked); the workers touch only PIL and numpy.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    busy = os.getloadavg()[0] if hasattr(os, "getloadavg") else float(cores)
    if cores < 2 or busy > cores - 1 or "fork" not in mp.get_all_start_methods() or threading.active_count() > 1:
        return None
    return ProcessPoolExecutor(2, mp_context=mp.get_context("fork"))


def _read_tree(canon: str, source: Path) -> _Raw:
    """Decode every image of a tree once; worker processes, if any, decode while the files are read."""
    walk = _walk_archive(source) if source.is_file() else _walk_dir(source)
    entries: list[_Entry] = []
    # (blobs kept for a retry, decoded arrays or their future)
    jobs: list[tuple[list[tuple[bytes, str]], list[np.ndarray] | Future]] = []
    pool: ProcessPoolExecutor | None = None
    asked_for_pool = False
    chunk: list[tuple[bytes, str]] = []
    try:
        for entry, read in walk:
            try:
                chunk.append((read(), entry.display))
            except OSError as e:
                raise NasError(f"{entry.display}: cannot read file ({_one_line(e)})") from e
            entries.append(entry)
            if len(chunk) == _DECODE_CHUNK:
                if not asked_for_pool:  # only datasets of more than one chunk consider processes
                    pool, asked_for_pool = _decode_pool(), True
                jobs.append((chunk, pool.submit(_decode_chunk, chunk)) if pool else ([], _decode_chunk(chunk)))
                chunk = []
        jobs.append(([], _decode_chunk(chunk)))
        arrays: list[np.ndarray] = []
        for blobs, job in jobs:
            if isinstance(job, Future):
                try:
                    arrays += job.result()
                except BrokenProcessPool:  # a worker died (e.g. out of memory): finish in-process
                    arrays += _decode_chunk(blobs)
            else:
                arrays += job
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    h, w = arrays[0].shape[:2] if arrays else (0, 0)
    for entry, arr in zip(entries, arrays):
        if arr.shape[:2] != (h, w):
            raise NasError(
                f"{entry.display}: image is {arr.shape[1]}x{arr.shape[0]}, expected {w}x{h} like {entries[0].display} "
                "(all images of a dataset must have the same size)"
            )

    by_split: dict[str, list[int]] = {s: [] for s in _SPLITS}
    for i, e in enumerate(entries):
        by_split[e.split].append(i)
    eval_split = "test" if by_split["test"] else "val"
    if not by_split["train"] or not by_split[eval_split]:
        raise NasError(
            f"{canon}: {source} holds no images in train/<class>/ and test/<class>/ (or val/<class>/); "
            f"expected files ending in {', '.join(IMAGE_EXTENSIONS)}"
        )
    classes = tuple(sorted({entries[i].cls for i in by_split["train"]}))
    index = {c: k for k, c in enumerate(classes)}
    for i in by_split[eval_split]:
        if entries[i].cls not in index:
            raise NasError(f"{entries[i].display}: class {entries[i].cls!r} has no training images in {source}")
    channels = 3 if any(a.ndim == 3 for a in arrays) else 1

    def assemble(split: str) -> tuple[torch.Tensor, torch.Tensor]:
        order = sorted(by_split[split], key=lambda i: (entries[i].cls, entries[i].key))
        h, w = arrays[0].shape[:2]
        out = np.empty((len(order), h, w, channels), dtype=np.uint8)
        for k, i in enumerate(order):
            a = arrays[i]
            out[k] = a if a.ndim == 3 else a[..., None]  # broadcasting turns gray into RGB when mixed
        labels = torch.tensor([index[entries[i].cls] for i in order], dtype=torch.int64)
        return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous(), labels

    train_images, train_labels = assemble("train")
    test_images, test_labels = assemble(eval_split)
    return _Raw(train_images, train_labels, test_images, test_labels, classes)


# --------------------------------------------------------------------------- #
# Statistics and cache
# --------------------------------------------------------------------------- #


def _channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
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


def _fingerprint(source: _Source) -> str:
    """Size and mtime of the archive, or of every file the source reads: changes when the data changes."""
    h = hashlib.sha256()
    if source.path.is_file():
        st = source.path.stat()
        h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
        return h.hexdigest()
    tops = [source.path / s for s in _SPLITS] if source.kind == "tree" else [source.path]
    for top in tops:
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames.sort()
            for fname in sorted(filenames):
                full = os.path.join(dirpath, fname)
                st = os.stat(full)
                h.update(f"{os.path.relpath(full, source.path)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _cached(
    canon: str, source: _Source, cache_dir: str | os.PathLike | None, build: Callable[[], _Raw]
) -> ImageDataset:
    where = str(source.path.resolve())
    key = f"v{_CACHE_VERSION}|{canon}|{source.kind}|{where}|{_fingerprint(source)}"
    stem = f"{canon}-{hashlib.sha256(where.encode()).hexdigest()[:12]}"
    directory = resolve_cache_dir(cache_dir)
    path = directory / f"{stem}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.pt"
    if path.is_file():
        ds = _read_cache(path, key)
        if ds is not None:
            return ds
    raw = build()
    mean, std = _channel_stats(raw.train_images)
    ds = ImageDataset(canon, *raw[:4], classes=raw.classes, mean=mean, std=std)
    if _write_cache(path, key, ds):
        for stale in directory.glob(f"{stem}-*.pt"):  # older versions of the same source
            if stale != path:
                stale.unlink(missing_ok=True)
    return ds


_TENSOR_FIELDS = ("train_images", "train_labels", "test_images", "test_labels")


def _read_cache(path: Path, key: str) -> ImageDataset | None:
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if payload.get("key") != key:
            return None
        return ImageDataset(
            payload["name"],
            *(payload[f] for f in _TENSOR_FIELDS),
            classes=tuple(payload["classes"]),
            mean=tuple(payload["mean"]),
            std=tuple(payload["std"]),
        )
    except Exception as e:  # any unreadable cache is rebuilt, whatever broke it
        warnings.warn(f"ignoring unreadable data cache {path} ({_one_line(e)}); rebuilding it", stacklevel=4)
        return None


def _write_cache(path: Path, key: str, ds: ImageDataset) -> bool:
    """Write atomically (temp file + rename) so a killed process never leaves a half-written cache."""
    payload = {"key": key, "name": ds.name, "classes": list(ds.classes), "mean": list(ds.mean), "std": list(ds.std)}
    payload.update({f: getattr(ds, f) for f in _TENSOR_FIELDS})
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a cache directory may be shared
        os.replace(tmp, path)
        tmp = None
        return True
    except OSError as e:
        warnings.warn(f"could not write data cache {path} ({_one_line(e)}); the next load decodes again", stacklevel=4)
        return False
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


# --------------------------------------------------------------------------- #
# Splits and slices
# --------------------------------------------------------------------------- #


def _check_labels(labels: torch.Tensor, what: str) -> torch.Tensor:
    labels = torch.as_tensor(labels)
    if labels.dim() != 1 or labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise NasError(f"{what}: labels must be a 1-D integer tensor, got {_desc(labels)}")
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


# --------------------------------------------------------------------------- #
# Batched augmentation and loading
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Augment:
    """Training augmentation, applied per batch with tensor ops.

    ``crop_padding``: zero-pad (black pixels, before normalisation) and crop back at a random offset,
    like torchvision's ``RandomCrop(size, padding=p)``. ``flip``: random horizontal flip.
    ``cutout``: a ``cutout x cutout`` square (clipped at the border) centred anywhere in the image is
    set to 0 *after* normalisation, i.e. to the dataset mean, as the DARTS reference code does.
    """

    crop_padding: int = 4
    flip: bool = True
    cutout: int = 0

    def __post_init__(self) -> None:
        for name in ("crop_padding", "cutout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise NasError(f"augment.{name}: expected an integer >= 0, got {value!r}")
        if not isinstance(self.flip, bool):
            raise NasError(f"augment.flip: expected true or false, got {self.flip!r}")


class _Plan(NamedTuple):
    order: torch.Tensor | None  # dataset rows in epoch order (None: rows 0..n-1 of `images`)
    offsets: torch.Tensor | None  # [n, 2] crop offsets (y, x) in [0, 2 * padding]
    flips: torch.Tensor | None  # [n] bool
    centres: torch.Tensor | None  # [n, 2] cutout centres (y, x)


def _epoch_seed(seed: int, epoch: int) -> int:
    # SeedSequence mixes (seed, epoch) so neighbouring pairs give unrelated streams.
    a, b = np.random.SeedSequence([seed, epoch]).generate_state(2, dtype=np.uint32)
    return (int(a) << 31) ^ int(b)


class BatchLoader:
    """Batches of a uint8 ``[N, C, H, W]`` tensor held in memory, augmented per batch with tensor ops.

    Yields ``(float32 normalised images, int64 labels)`` on ``device``. The order and every random
    choice are a pure function of ``(seed, epoch)``, drawn once per epoch for each sample position, so
    an epoch is reproducible, independent of ``batch_size``, and can resume at any batch
    (:meth:`batches`). Call :meth:`set_epoch` every epoch (like ``DistributedSampler``); otherwise
    every pass repeats epoch 0. ``indices`` restricts the loader to those rows without copying images.

    ``threads`` is how many CPU threads prepare a batch (``torch.set_num_threads`` around each batch,
    restored before it is yielded; ``None`` keeps torch's setting). A batch is a few MB, so splitting
    it gains little even on idle cores, while on a shared 2-core machine two threads made an epoch
    15-40x slower (each parallel op waits for the other thread's time slice).
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        *,
        batch_size: int,
        mean: Sequence[float],
        std: Sequence[float],
        augment: Augment | None = None,
        shuffle: bool = True,
        drop_last: bool = False,
        seed: int = 0,
        device: str | torch.device = "cpu",
        channels_last: bool = False,
        indices: torch.Tensor | Sequence[int] | None = None,
        threads: int | None = 1,
    ) -> None:
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise NasError(f"BatchLoader: images must be uint8 [N, C, H, W], got {_desc(images)}")
        if labels.dim() != 1 or len(labels) != len(images):
            raise NasError(f"BatchLoader: labels must be 1-D with {len(images)} entries, got {_desc(labels)}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise NasError(f"batch_size: expected an integer >= 1, got {batch_size!r}")
        if seed < 0:
            raise NasError(f"seed: expected an integer >= 0, got {seed}")
        if threads is not None and threads < 1:
            raise NasError(f"threads: expected an integer >= 1 or None, got {threads}")
        channels = images.shape[1]
        if len(mean) != channels or len(std) != channels or min(std) <= 0:
            raise NasError(f"BatchLoader: mean and std need {channels} values (std > 0), got {mean} and {std}")
        self.device = torch.device(device)
        self.images = images.to(self.device).contiguous()  # no copy when already there and contiguous
        self.labels = labels.to(self.device, torch.int64)
        self.indices = None if indices is None else torch.as_tensor(indices, dtype=torch.long).cpu()
        if self.indices is not None and len(self.indices):
            lo, hi = int(self.indices.min()), int(self.indices.max())
            if lo < 0 or hi >= len(images):
                raise NasError(f"BatchLoader: indices must lie in [0, {len(images)}), got [{lo}, {hi}]")
        self.num_samples = len(images) if self.indices is None else len(self.indices)
        self.batch_size = batch_size
        self.augment = augment
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = seed
        self.channels_last = channels_last
        self.threads = threads if self.device.type == "cpu" else None
        self.epoch = 0
        std_t = torch.tensor(list(std), dtype=torch.float32)
        mean_t = torch.tensor(list(mean), dtype=torch.float32)
        # x_norm = (x / 255 - mean) / std = x * scale + shift
        self._scale = (1.0 / (255.0 * std_t)).view(1, -1, 1, 1).to(self.device)
        self._shift = (-mean_t / std_t).view(1, -1, 1, 1).to(self.device)
        _, _, h, w = images.shape
        self._rows = torch.arange(h, device=self.device)
        self._cols = torch.arange(w, device=self.device)

    def set_epoch(self, epoch: int) -> None:
        if epoch < 0:
            raise NasError(f"epoch: expected an integer >= 0, got {epoch}")
        self.epoch = int(epoch)

    def __len__(self) -> int:
        if self.drop_last:
            return self.num_samples // self.batch_size
        return -(-self.num_samples // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self.batches()

    def batches(self, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Iterate the current epoch from batch ``start`` (to resume mid-epoch)."""
        with self._cpu_threads():
            plan = self._plan()
        for b in range(start, len(self)):
            lo = b * self.batch_size
            with self._cpu_threads():
                batch = self._batch(plan, lo, min(lo + self.batch_size, self.num_samples))
            yield batch

    @contextlib.contextmanager
    def _cpu_threads(self) -> Iterator[None]:
        previous = torch.get_num_threads()
        if self.threads is None or self.threads == previous:
            yield
            return
        torch.set_num_threads(self.threads)
        try:
            yield
        finally:
            torch.set_num_threads(previous)

    def _plan(self) -> _Plan:
        """Draw the whole epoch's randomness on a CPU generator: identical on every device."""
        n, aug = self.num_samples, self.augment
        g = torch.Generator().manual_seed(_epoch_seed(self.seed, self.epoch))
        order = torch.randperm(n, generator=g) if self.shuffle else None
        if self.indices is not None:
            order = self.indices if order is None else self.indices[order]
        offsets = flips = centres = None
        if aug is not None and aug.crop_padding:
            offsets = torch.randint(0, 2 * aug.crop_padding + 1, (n, 2), generator=g)
        if aug is not None and aug.flip:
            flips = torch.randint(0, 2, (n,), generator=g, dtype=torch.bool)
        if aug is not None and aug.cutout:
            _, _, h, w = self.images.shape
            centres = torch.stack(
                [torch.randint(0, h, (n,), generator=g), torch.randint(0, w, (n,), generator=g)], dim=1
            )
        return _Plan(*(None if t is None else t.to(self.device) for t in (order, offsets, flips, centres)))

    def _batch(self, plan: _Plan, lo: int, hi: int) -> tuple[torch.Tensor, torch.Tensor]:
        if plan.order is None:
            x, y = self.images[lo:hi], self.labels[lo:hi]  # views: no gather needed
        else:
            rows = plan.order[lo:hi]
            x, y = self.images.index_select(0, rows), self.labels.index_select(0, rows)
        if plan.offsets is not None or plan.flips is not None:
            x = self._crop_flip(
                x,
                None if plan.offsets is None else plan.offsets[lo:hi],
                None if plan.flips is None else plan.flips[lo:hi],
            )
        out = x.to(dtype=torch.float32, memory_format=torch.contiguous_format).mul_(self._scale).add_(self._shift)
        if plan.centres is not None:
            out.mul_(self._cutout_keep(plan.centres[lo:hi]))  # a float mask: 20x faster than masked_fill_
        if self.channels_last:
            # Converting the normalised float batch is the cheapest of the layouts measured on CPU.
            out = out.contiguous(memory_format=torch.channels_last)
        return out, y

    def _crop_flip(self, x: torch.Tensor, offsets: torch.Tensor | None, flips: torch.Tensor | None) -> torch.Tensor:
        """Random crop of the zero-padded batch and horizontal flip, as one gather on uint8."""
        b, c, h, w = x.shape
        p = self.augment.crop_padding if offsets is not None else 0  # type: ignore[union-attr]
        if p:
            padded = x.new_zeros((b, c, h + 2 * p, w + 2 * p))
            padded[:, :, p : p + h, p : p + w] = x
        else:
            padded = x.contiguous()
        wp = w + 2 * p
        rows = self._rows.expand(b, h) if offsets is None else offsets[:, :1] + self._rows
        cols = self._cols.expand(b, w)
        if flips is not None:
            cols = torch.where(flips[:, None], w - 1 - self._cols, self._cols)
        if offsets is not None:
            cols = cols + offsets[:, 1:]
        flat = (rows * wp).unsqueeze(2) + cols.unsqueeze(1)  # [b, h, w] positions in the padded image
        gathered = padded.view(b, c, -1).gather(2, flat.view(b, 1, h * w).expand(b, c, h * w))
        return gathered.view(b, c, h, w)

    def _cutout_keep(self, centres: torch.Tensor) -> torch.Tensor:
        """A float ``[b, 1, h, w]`` mask: 0 inside each sample's square, 1 elsewhere."""
        side = self.augment.cutout  # type: ignore[union-attr]
        top = centres[:, :1] - side // 2
        left = centres[:, 1:] - side // 2
        in_rows = (self._rows >= top) & (self._rows < top + side)  # [b, h]
        in_cols = (self._cols >= left) & (self._cols < left + side)  # [b, w]
        return (~(in_rows.unsqueeze(2) & in_cols.unsqueeze(1))).unsqueeze(1).to(torch.float32)
