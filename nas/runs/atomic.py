"""Atomic writes: a reader (or a resumed run) sees the old file or the new one, never half of one.

Each write goes to a temporary file in the target's directory, is flushed and fsynced,
then renamed over the target. A process killed mid-write leaves only a hidden
``.NAME.*.tmp`` file, which :func:`remove_leftovers` deletes when the run resumes.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import torch

from nas.errors import NasError

TMP_SUFFIX = ".tmp"


def write_with(
    path: str | os.PathLike[str],
    write: Callable[[IO[bytes]], Any],
    *,
    mode: int | None = None,
    keep_previous: str | os.PathLike[str] | None = None,
) -> Path:
    """Call ``write(binary_file)`` on a temporary file, fsync it and rename it to ``path``.

    ``mode`` sets the file's permissions (``mkstemp`` makes files private; a shared cache wants 0o644).
    ``keep_previous``: where the file being replaced is moved first (only once the new one is on disk).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        if keep_previous is not None and path.exists():
            os.replace(path, keep_previous)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def write_bytes(path: str | os.PathLike[str], data: bytes, *, mode: int | None = None) -> Path:
    return write_with(path, lambda handle: handle.write(data), mode=mode)


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike[str], obj: Any, *, indent: int | None = 2, sort_keys: bool = False) -> Path:
    """JSON with a final newline; values JSON cannot hold are written with ``str``."""
    return write_text(path, json.dumps(obj, indent=indent, sort_keys=sort_keys, default=str) + "\n")


def save_torch(
    obj: Any,
    path: str | os.PathLike[str],
    *,
    mode: int | None = None,
    keep_previous: str | os.PathLike[str] | None = None,
) -> Path:
    """``torch.save`` atomically; ``obj`` should hold only tensors and plain containers (weights-only)."""
    return write_with(path, lambda handle: torch.save(obj, handle), mode=mode, keep_previous=keep_previous)


def load_torch(path: str | os.PathLike[str], what: str = "checkpoint") -> Any:
    """``torch.load(weights_only=True)`` on the CPU, with a one-line error naming the file."""
    path = Path(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise NasError(f"{path}: {what} not found") from None
    except Exception as exc:  # corrupt, truncated, or holding non-weight objects
        raise NasError(f"{path}: cannot read {what} ({one_line(exc)})") from None


def read_json(path: str | os.PathLike[str], what: str = "JSON") -> Any:
    """Parsed JSON, or a one-line error naming the file."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NasError(f"{path}: {what} not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NasError(f"{path}: cannot read {what} ({exc.__class__.__name__})") from None


def remove_leftovers(directory: str | os.PathLike[str]) -> list[Path]:
    """Delete the temporary files that killed writes left in ``directory`` (not recursive)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    removed = []
    for p in directory.glob(f".*{TMP_SUFFIX}"):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
            removed.append(p)
    return removed


def one_line(exc: BaseException, limit: int = 200) -> str:
    """The first line of an exception's message (its class name when empty), cut to ``limit``."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else exc.__class__.__name__
    return first if len(first) <= limit else first[: limit - 3] + "..."
