"""Named genotypes: published cells and hand-designed networks, by name.

A baseline is just a named genotype, so the shared trainer treats ResNet-20 and a
searched DARTS cell alike. Names are case-insensitive; ``-`` and ``_`` are equivalent.
"""

from __future__ import annotations

import difflib

from nas.errors import NasError
from nas.genotypes.types import Genotype
from nas.registry import Registry, normalize

#: Every named genotype (filled by the catalogues :mod:`.cells` and :mod:`.classic` on first use).
REGISTRY: Registry[Genotype] = Registry("genotype", "genotype name")
_DISPLAY: dict[str, str] = {}  # canonical name -> the name as its authors write it


def register(name: str, genotype: Genotype) -> Genotype:
    """Add ``genotype`` under ``name`` (refusing to silently replace another)."""
    if name in REGISTRY:
        if REGISTRY.get(name) != genotype:
            raise ValueError(f"named genotype {name!r} is already registered with a different value")
        return genotype
    REGISTRY.register(name, genotype)
    _DISPLAY[normalize(name)] = name
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
    return name in REGISTRY


def get(name: str) -> Genotype:
    """The genotype called ``name``; an unknown name suggests the nearest ones."""
    _load()
    if name in REGISTRY:
        return REGISTRY.get(name)
    close = difflib.get_close_matches(normalize(name), REGISTRY.names(), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(_DISPLAY[c] for c in close)}?" if close else ""
    raise NasError(f"genotype name {name!r} is unknown{hint} (see `nas show --list`)")
