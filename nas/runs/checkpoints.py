"""Checkpoints that survive kills and full disks: the previous one is kept and used when the newest is bad.

A checkpoint is written atomically; just before the new one replaces it, the old one
is renamed to ``NAME.prev.EXT``. A truncated or unreadable newest checkpoint (a full
disk, a copy killed halfway) then costs one epoch, said in one line, instead of the run.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nas.errors import NasError
from nas.runs.atomic import load_torch, save_torch
from nas.runs.rundir import previous_name

#: Version of the checkpoint layout every job writes (``state["format"]``).
CHECKPOINT_FORMAT = 1


def previous_path(path: Path) -> Path:
    return path.with_name(previous_name(path.name))


def looks_whole(path: Path) -> bool:
    """Whether ``path`` is a complete torch archive (its zip directory reads): cheap, no tensor is loaded.

    A checkpoint cut short (a full disk, a copy killed halfway) has no zip directory at its end.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            return bool(archive.namelist())
    except (OSError, zipfile.BadZipFile, ValueError):
        return False


def save_checkpoint(state: dict[str, Any], path: str | Path) -> Path:
    """Write ``state`` (tensors and plain containers) atomically, keeping the one it replaces.

    An unreadable newest checkpoint (the one a resume fell back from) is replaced, not kept:
    the previous checkpoint stays the last good one.
    """
    path = Path(path)
    keep = previous_path(path) if not path.exists() or looks_whole(path) else None
    return save_torch({"format": CHECKPOINT_FORMAT, **state}, path, keep_previous=keep)


def _read(path: Path, what: str, check: Callable[[dict[str, Any]], None] | None) -> dict[str, Any]:
    state = load_torch(path, what)
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise NasError(f"{path}: not a {what} of format {CHECKPOINT_FORMAT}")
    if check is not None:
        check(state)
    return state


def load_checkpoint(
    path: str | Path,
    what: str = "checkpoint",
    *,
    check: Callable[[dict[str, Any]], None] | None = None,
    warn: Callable[[str], None] = print,
) -> tuple[dict[str, Any], Path] | None:
    """The newest readable checkpoint and its path, ``None`` when there is none.

    ``check(state)`` may raise :class:`NasError` to reject a state (e.g. one for another
    model). When the newest is unreadable the previous one is used, and ``warn`` says so
    in one line; when both are, the error names both files and the way forward.
    """
    path = Path(path)
    prev = previous_path(path)
    if not path.is_file() and not prev.is_file():
        return None
    errors = []
    for candidate in (path, prev):
        if not candidate.is_file():
            continue
        try:
            state = _read(candidate, what, check)
        except NasError as exc:
            errors.append(str(exc))
            continue
        if candidate == prev:
            warn(f"{errors[0] if errors else f'{path}: missing'}; resuming from the previous checkpoint {prev.name}")
        return state, candidate
    raise NasError(f"{'; '.join(errors)}; delete the run directory (or use another --out) to start over")
