"""Search spaces by name: the registry controllers and the command line use.

``get_space("resnet")`` returns a fresh space; an unknown name is a one-line
NasError that lists the known spaces and suggests the nearest one.
"""

from __future__ import annotations

import difflib

from nas.errors import NasError
from nas.registry import Registry, normalize
from nas.search_spaces.base import Decision, MacroSettings, SearchSpace
from nas.search_spaces.darts import DartsSpace
from nas.search_spaces.densenet import DenseNetSpace
from nas.search_spaces.hybrid import HybridSpace
from nas.search_spaces.inception import InceptionSpace
from nas.search_spaces.macro import MacroSpace
from nas.search_spaces.nb201 import NB201Space
from nas.search_spaces.resnet import ResNetSpace
from nas.search_spaces.vgg import VGGSpace

#: Every space by name (each class constructible without arguments); the one place a new space is added.
REGISTRY: Registry[type[SearchSpace]] = Registry("space", "search space")
for _cls in (DartsSpace, NB201Space, VGGSpace, InceptionSpace, ResNetSpace, DenseNetSpace, HybridSpace):
    REGISTRY.register(_cls.name, _cls)
#: Registry name -> space class (a view of :data:`REGISTRY`).
SPACES: dict[str, type[SearchSpace]] = {name: REGISTRY.get(name) for name in REGISTRY}


def list_spaces() -> list[str]:
    """The registered space names, sorted."""
    return sorted(SPACES)


def get_space(name: str) -> SearchSpace:
    """A new instance of the space called ``name`` (spelled as :func:`nas.registry.normalize` allows)."""
    if not isinstance(name, str):
        raise NasError(f"search space: expected a name ({', '.join(list_spaces())}), got {name!r}")
    if name in REGISTRY:
        return REGISTRY.get(name)()
    key = normalize(name)
    nearest = difflib.get_close_matches(key, list_spaces(), n=1, cutoff=0.0)
    hint = f"; nearest: {nearest[0]!r}" if nearest else ""
    raise NasError(f"search space {name!r} is unknown (known: {', '.join(list_spaces())}){hint}")


__all__ = [
    "REGISTRY",
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
