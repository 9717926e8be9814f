"""Is a run directory new, to be resumed, or complete? One check and one vocabulary for every job.

A job writes its resolved config into the run directory; running the same command
again compares the config it would write with the saved one, so a directory is never
silently reused for a different experiment.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from nas.errors import NasError
from nas.runs.atomic import TMP_SUFFIX, read_json
from nas.runs.lock import LOCK_NAME

RunStatus = Literal["new", "resume", "complete"]

_UNSET = "<unset>"


def flatten(doc: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as one level of dotted keys (``optimizer.lr``)."""
    flat: dict[str, Any] = {}
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _short(value: Any) -> str:
    if value is _UNSET:
        return _UNSET
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def _ignored(key: str, ignore: Iterable[str]) -> bool:
    return any(key == i or key.startswith(f"{i}.") for i in ignore)


def config_differences(old: Mapping[str, Any], new: Mapping[str, Any], *, ignore: Iterable[str] = ()) -> list[str]:
    """``key: OLD there, NEW now`` for every dotted key that differs, skipping ``ignore`` (and below)."""
    ignore = tuple(ignore)
    a, b = flatten(old), flatten(new)
    out = []
    for key in sorted(set(a) | set(b)):
        if _ignored(key, ignore):
            continue
        va, vb = a.get(key, _UNSET), b.get(key, _UNSET)
        if va != vb:
            out.append(f"{key}: {_short(va)} there, {_short(vb)} now")
    return out


def describe_differences(diffs: list[str], limit: int = 6) -> str:
    shown = "; ".join(diffs[:limit])
    return shown + (f"; and {len(diffs) - limit} more" if len(diffs) > limit else "")


def check_run_dir(
    run_dir: str | Path,
    compared: Mapping[str, Any],
    *,
    config_file: str = "config.json",
    saved_part: Callable[[Any], Mapping[str, Any]] | None = None,
    ignore: Iterable[str] = (),
    complete_marker: str = "result.json",
    checkpoint: str | None = "checkpoint.pt",
    tolerated: Iterable[str] = (),
) -> RunStatus:
    """``new``, ``resume`` or ``complete``; a one-line error for a directory holding anything else.

    ``compared`` is what this run would save (the part that defines what is learnt);
    ``saved_part`` extracts the same part from the saved ``config_file``. ``resume`` needs
    ``checkpoint`` to exist (``None``: a job whose resume state lives elsewhere, e.g. Ray's).
    ``tolerated``: names a fresh directory may already hold.
    """
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise NasError(f"{run_dir}: is a file, expected a run directory")
    saved = run_dir / config_file
    if not saved.is_file():
        allowed = set(tolerated)
        others = (
            [
                p
                for p in run_dir.iterdir()
                if p.name not in allowed and not p.name.endswith(TMP_SUFFIX) and not p.name.startswith(LOCK_NAME)
            ]
            if (run_dir.is_dir())
            else []
        )
        if others:
            raise NasError(f"{run_dir}: is not empty and holds no {config_file}; use another --out")
        return "new"
    doc = read_json(saved, "the run's config")
    try:
        old = saved_part(doc) if saved_part is not None else doc
        if not isinstance(old, Mapping):
            raise TypeError
    except (KeyError, TypeError, ValueError):
        raise NasError(f"{saved}: not a config written by this toolkit; use another --out") from None
    diffs = config_differences(old, compared, ignore=ignore)
    if diffs:
        raise NasError(
            f"{run_dir}: holds a run with a different config ({describe_differences(diffs)}); "
            "use another --out, or delete the directory to start over"
        )
    if (run_dir / complete_marker).is_file():
        return "complete"
    if checkpoint is None or (run_dir / checkpoint).is_file() or (run_dir / previous_name(checkpoint)).is_file():
        return "resume"
    return "new"


def previous_name(checkpoint: str) -> str:
    """``checkpoint.pt`` -> ``checkpoint.prev.pt``: where the checkpoint before the newest is kept."""
    stem, dot, ext = checkpoint.rpartition(".")
    return f"{stem}.prev.{ext}" if dot else f"{checkpoint}.prev"
