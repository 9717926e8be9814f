"""What a user means by a genotype: a name, a JSON file, a run directory, DARTS text or an NB201 string.

The one module that imports the named catalogue (:mod:`nas.genotypes.named`), so the
plain types and the codec stay free of it (and of import cycles).
"""

from __future__ import annotations

import os

from nas.errors import NasError
from nas.genotypes import named
from nas.genotypes.codec import load_genotype_file, parse_text
from nas.genotypes.types import Genotype


def get(name: str) -> Genotype:
    """The named genotype ``name`` (published cells, hand-designed networks); nearest names on a miss."""
    return named.get(name)


def names() -> list[str]:
    """Every named genotype, as its authors write it."""
    return named.names()


def exists(name: str) -> bool:
    return named.exists(name)


def parse_genotype(spec: str) -> Genotype:
    """Resolve what a user typed: a name, a JSON file, a run directory, DARTS text or an NB201 string."""
    if not isinstance(spec, str) or not spec.strip():
        raise NasError("genotype: expected a name, a file, DARTS text or an NB201 string, got nothing")
    s = spec.strip()
    if s[0] in "{|" or s.startswith("Genotype"):
        return parse_text(s, "genotype")
    if os.path.exists(s):
        return load_genotype_file(s)

    if exists(s):
        return get(s)
    if s.endswith((".json", ".txt")) or os.sep in s:
        raise NasError(f"{s}: file not found")
    return get(s)  # raises with the nearest names
