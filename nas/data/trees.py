"""Image trees ``train/<class>/*`` plus ``test/<class>/*`` (or ``val/``), as a directory or inside an archive.

Its own module because it is the one reader written here rather than delegated to torchvision: it
walks a directory or streams a ``.tar``/``.tar.gz`` without extracting it, decodes every image once
(in two forked worker processes when a core is idle), and checks that the tree is one dataset
(same image size everywhere, every test class seen in training). Class order is the sorted class
names, files within a class are taken in sorted path order.
"""

from __future__ import annotations

import io
import multiprocessing as mp
import os
import tarfile
import threading
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path, PurePosixPath
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image

from nas.data.dataset import RawDataset
from nas.errors import NasError
from nas.runs.atomic import one_line

IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp", ".gif")
#: The split folders a tree may hold; the evaluation split is ``test/``, else ``val/``.
SPLITS: tuple[str, ...] = ("train", "test", "val")
ARCHIVE_SUFFIXES: tuple[str, ...] = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")

# Images per decoding job: large enough that pickling to a worker is cheap next to decoding.
_DECODE_CHUNK = 2048


class _Entry(NamedTuple):
    split: str
    cls: str
    key: str  # path below the class folder: sorting key within a class
    display: str  # how errors name the file


def is_archive(path: Path) -> bool:
    """Whether ``path`` is a file with one of the archive suffixes a tree may be read from."""
    return path.is_file() and path.name.lower().endswith(ARCHIVE_SUFFIXES)


def _is_image_name(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return not base.startswith(".") and base.lower().endswith(IMAGE_EXTENSIONS)


def _unreadable_dir(e: OSError) -> None:
    raise NasError(f"{e.filename}: cannot read directory ({e.strerror})")


def _walk_dir(root: Path) -> Iterator[tuple[_Entry, Callable[[], bytes]]]:
    for split in SPLITS:
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
                at = 0 if parts[0] in SPLITS else 1
                if len(parts) < at + 3 or parts[at] not in SPLITS:
                    continue
                prefixes.add(parts[0] if at else "")
                if len(prefixes) > 1:
                    found = ", ".join(sorted(p + "/" if p else "(top level)" for p in prefixes))
                    raise NasError(f"{archive}: holds more than one image tree ({found}); expected one")
                handle = tf.extractfile(member)
                if handle is None:  # isfile() members always have data; guard the type anyway
                    continue
                blob = handle.read()
                entry = _Entry(parts[at], parts[at + 1], "/".join(parts[at + 2 :]), f"{archive}:{member.name}")
                yield entry, lambda b=blob: b
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        raise NasError(f"{archive}: corrupt or unreadable archive ({one_line(e)})") from e


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
        raise NasError(f"{display}: cannot decode image ({one_line(e)})") from e


def _decode_chunk(chunk: list[tuple[bytes, str]]) -> list[np.ndarray]:
    return [_decode(blob, display) for blob, display in chunk]


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


def _decode_all(walk: Iterator[tuple[_Entry, Callable[[], bytes]]]) -> tuple[list[_Entry], list[np.ndarray]]:
    """Read every file of ``walk`` and decode it; worker processes, if any, decode while files are read."""
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
                raise NasError(f"{entry.display}: cannot read file ({one_line(e)})") from e
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
    return entries, arrays


def read_tree(name: str, source: Path) -> RawDataset:
    """Decode every image of the tree at ``source`` (a directory or an archive) once, and check it is one dataset.

    ``name`` is the dataset name errors use.
    """
    entries, arrays = _decode_all(_walk_archive(source) if source.is_file() else _walk_dir(source))
    h, w = arrays[0].shape[:2] if arrays else (0, 0)
    for entry, arr in zip(entries, arrays):
        if arr.shape[:2] != (h, w):
            raise NasError(
                f"{entry.display}: image is {arr.shape[1]}x{arr.shape[0]}, expected {w}x{h} like {entries[0].display} "
                "(all images of a dataset must have the same size)"
            )

    by_split: dict[str, list[int]] = {s: [] for s in SPLITS}
    for i, e in enumerate(entries):
        by_split[e.split].append(i)
    eval_split = "test" if by_split["test"] else "val"
    if not by_split["train"] or not by_split[eval_split]:
        raise NasError(
            f"{name}: {source} holds no images in train/<class>/ and test/<class>/ (or val/<class>/); "
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
        out = np.empty((len(order), h, w, channels), dtype=np.uint8)
        for k, i in enumerate(order):
            a = arrays[i]
            out[k] = a if a.ndim == 3 else a[..., None]  # broadcasting turns gray into RGB when mixed
        labels = torch.tensor([index[entries[i].cls] for i in order], dtype=torch.int64)
        return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous(), labels

    train_images, train_labels = assemble("train")
    test_images, test_labels = assemble(eval_split)
    return RawDataset(train_images, train_labels, test_images, test_labels, classes)
