"""Search spaces by name: the registry controllers and the command line use.

``get_space("resnet")`` returns a fresh space; an unknown name is a one-line
NasError that lists the known spaces and suggests the nearest one.
"""

from __future__ import annotations

import difflib

from nas.errors import NasError
from search_spaces.base import Decision, MacroSettings, SearchSpace
from search_spaces.darts import DartsSpace
from search_spaces.densenet import DenseNetSpace
from search_spaces.hybrid import HybridSpace
from search_spaces.inception import InceptionSpace
from search_spaces.macro import MacroSpace
from search_spaces.nb201 import NB201Space
from search_spaces.resnet import ResNetSpace
from search_spaces.vgg import VGGSpace

#: Registry name -> space class (each constructible without arguments).
SPACES: dict[str, type[SearchSpace]] = {
    cls.name: cls for cls in (DartsSpace, NB201Space, VGGSpace, InceptionSpace, ResNetSpace, DenseNetSpace, HybridSpace)
}


def list_spaces() -> list[str]:
    """The registered space names, sorted."""
    return sorted(SPACES)


def get_space(name: str) -> SearchSpace:
    """A new instance of the space called ``name`` (case and surrounding spaces ignored)."""
    if not isinstance(name, str):
        raise NasError(f"search space: expected a name ({', '.join(list_spaces())}), got {name!r}")
    key = name.strip().lower()
    if key in SPACES:
        return SPACES[key]()
    nearest = difflib.get_close_matches(key, list_spaces(), n=1, cutoff=0.0)
    hint = f"; nearest: {nearest[0]!r}" if nearest else ""
    raise NasError(f"search space {name!r} is unknown (known: {', '.join(list_spaces())}){hint}")


__all__ = [
    "SPACES",
    "Decision",
    "DartsSpace",
    "DenseNetSpace",
    "HybridSpace",
    "InceptionSpace",
    "MacroSettings",
    "MacroSpace",
    "NB201Space",
    "ResNetSpace",
    "SearchSpace",
    "VGGSpace",
    "get_space",
    "list_spaces",
]
