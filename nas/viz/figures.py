"""What every figure of :mod:`nas.viz` shares: the figure object, the target file, atomic saving, clean numbers."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from nas.errors import NasError
from nas.runs.atomic import write_with

FORMATS = (".png", ".svg", ".pdf")
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f")


def new_figure(width: float, height: float) -> Any:
    """A ``matplotlib.figure.Figure`` (no ``pyplot``: no global state, no display needed)."""
    try:
        # matplotlib only when drawing: import cost, and nas.viz works without it
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - depends on the environment
        raise NasError("plots: matplotlib is required (pip install matplotlib)") from None
    return Figure(figsize=(width, height), layout="constrained")


def target_path(path: str | Path) -> Path:
    """``path`` checked for a known picture suffix, its directory created."""
    p = Path(path)
    if p.suffix.lower() not in FORMATS:
        raise NasError(f"{p}: expected a file name ending in {', '.join(FORMATS)}")
    p.parent.mkdir(parents=True, exist_ok=True)
    return p


def save_figure(fig: Any, path: Path, *, dpi: int = 130) -> Path:
    """Write ``fig`` atomically (a reader never sees half a picture) in the format of ``path``'s suffix."""
    fmt = path.suffix.lower().lstrip(".")
    write_with(path, lambda handle: fig.savefig(handle, format=fmt, dpi=dpi, facecolor="white"))
    return path


def number(value: Any) -> float | None:
    """A finite float, or None for missing, null, NaN and non-numbers."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    v = float(value)
    return v if math.isfinite(v) else None


def records(rows: Any, what: str) -> list[Mapping[str, Any]]:
    """``rows`` checked to be a list of dicts (``what`` names the argument in errors)."""
    if isinstance(rows, Mapping) or not isinstance(rows, Sequence) or isinstance(rows, (str, bytes)):
        raise NasError(f"{what}: expected a list of records (dicts), got {type(rows).__name__}")
    for i, r in enumerate(rows):
        if not isinstance(r, Mapping):
            raise NasError(f"{what}[{i}]: expected a dict, got {type(r).__name__}")
    return list(rows)
