"""The decoded-dataset cache: one uint8 tensor file per data source, rebuilt when the source changes.

Decoding CIFAR-10's 60,000 JPEGs takes seconds to tens of seconds on two cores; reading back the
decoded tensors takes a fraction of a second. The cache is an optimisation only: an unreadable file
is rebuilt and an unwritable directory costs a warning, never the run. Writes go through
:mod:`nas.runs.atomic`, so a killed process leaves no half-written cache behind.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

from nas.data.dataset import ImageDataset
from nas.runs.atomic import one_line, save_torch

# Bump when the cached payload changes meaning, so old caches are rebuilt instead of misread.
_CACHE_VERSION = 1
_TENSOR_FIELDS = ("train_images", "train_labels", "test_images", "test_labels")


def resolve_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """The cache directory: the argument, else ``$NAS_CACHE_DIR``, else ``~/.cache/nas-toolkit``."""
    if cache_dir is None or str(cache_dir) == "":
        cache_dir = os.environ.get("NAS_CACHE_DIR") or Path.home() / ".cache" / "nas-toolkit"
    return Path(cache_dir).expanduser().absolute()


def cached(
    name: str,
    source: Path,
    kind: str,
    fingerprint: str,
    cache_dir: str | os.PathLike | None,
    build: Callable[[], ImageDataset],
) -> ImageDataset:
    """The dataset ``name`` read from ``source``: from the cache when its ``fingerprint`` matches, else ``build()``.

    One file per (name, source location); a rebuilt file replaces the older versions of the same source.
    ``kind`` names the source's layout and ``fingerprint`` changes whenever the source's content does.
    """
    where = str(source.resolve())
    key = f"v{_CACHE_VERSION}|{name}|{kind}|{where}|{fingerprint}"
    stem = f"{name}-{hashlib.sha256(where.encode()).hexdigest()[:12]}"
    directory = resolve_cache_dir(cache_dir)
    path = directory / f"{stem}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.pt"
    if path.is_file():
        ds = _read_cache(path, key)
        if ds is not None:
            return ds
    ds = build()
    if _write_cache(path, key, ds):
        for stale in directory.glob(f"{stem}-*.pt"):  # older versions of the same source
            if stale != path:
                stale.unlink(missing_ok=True)
    return ds


# stacklevel=4 in the warnings below points at the caller of nas.data.load_dataset
# (warn <- _read_cache/_write_cache <- cached <- load_dataset <- caller).


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
        warnings.warn(f"ignoring unreadable data cache {path} ({one_line(e)}); rebuilding it", stacklevel=4)
        return None


def _write_cache(path: Path, key: str, ds: ImageDataset) -> bool:
    """Write the cache file atomically; if that fails, warn and return False (the next load decodes again).

    torch.save reports a full disk as a RuntimeError ("unexpected pos ..."), not an OSError.
    """
    payload = {"key": key, "name": ds.name, "classes": list(ds.classes), "mean": list(ds.mean), "std": list(ds.std)}
    payload.update({f: getattr(ds, f) for f in _TENSOR_FIELDS})
    try:
        save_torch(payload, path, mode=0o644)  # mkstemp makes files private; a cache directory may be shared
        return True
    except (OSError, RuntimeError) as e:
        warnings.warn(f"could not write data cache {path} ({one_line(e)}); the next load decodes again", stacklevel=4)
        return False
