"""Named genotypes: published cells and hand-designed networks, by name.

A baseline is just a named genotype, so the shared trainer treats ResNet-20 and a
searched DARTS cell alike. Names are case-insensitive; ``-`` and ``_`` are equivalent.
"""

from __future__ import annotations

import difflib

from nas.errors import NasError
from nas.genotypes.types import Genotype

_REGISTRY: dict[str, Genotype] = {}
_DISPLAY: dict[str, str] = {}


def _key(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def register(name: str, genotype: Genotype) -> Genotype:
    """Add ``genotype`` under ``name`` (refusing to silently replace another)."""
    key = _key(name)
    if key in _REGISTRY and _REGISTRY[key] != genotype:
        raise ValueError(f"named genotype {name!r} is already registered with a different value")
    _REGISTRY[key] = genotype
    _DISPLAY[key] = name
    return genotype


def _load() -> None:
    # Importing the catalogues registers their genotypes; done lazily so that
    # `import nas.named` stays cheap and free of import cycles.
    from nas.genotypes.named import cells, classic  # noqa: F401


def names() -> list[str]:
    """All registered names, as written by their authors."""
    _load()
    return [_DISPLAY[k] for k in sorted(_DISPLAY)]


def exists(name: str) -> bool:
    _load()
    return _key(name) in _REGISTRY


def get(name: str) -> Genotype:
    """The genotype called ``name``; an unknown name suggests the nearest ones."""
    _load()
    key = _key(name)
    if key in _REGISTRY:
        return _REGISTRY[key]
    close = difflib.get_close_matches(key, list(_REGISTRY), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(_DISPLAY[c] for c in close)}?" if close else ""
    raise NasError(f"genotype name {name!r} is unknown{hint} (see `nas show --list`)")
