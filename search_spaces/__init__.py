"""Compatibility: the search spaces moved to :mod:`nas.search_spaces` (a layer of ``nas``, see docs/ARCHITECTURE.md).

``import search_spaces`` and ``from search_spaces.<module> import X`` keep working: this package
re-exports the public names, and each public submodule is the very module object of
``nas.search_spaces.<module>`` (registered under the old name), so classes and registries are
shared, not copied. New code imports :mod:`nas.search_spaces`.
"""

import sys

import nas.search_spaces as _moved
from nas.search_spaces import *  # noqa: F403 - the public names, as nas.search_spaces lists them
from nas.search_spaces import (
    base,
    darts,
    densenet,
    hybrid,
    inception,
    macro,
    nb201,
    resnet,
    vgg,
)

for _module in (base, darts, densenet, hybrid, inception, macro, nb201, resnet, vgg):
    sys.modules[f"{__name__}.{_module.__name__.rpartition('.')[2]}"] = _module

__all__ = list(_moved.__all__)  # one list of public names, kept by the new package
