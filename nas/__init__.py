"""nas: a neural architecture search toolkit for CIFAR-10.

Data flow: config -> search space -> controller or search job -> trainer -> genotype -> derived network.
See docs/ARCHITECTURE.md for which module owns what. The Python API (:mod:`nas.api`):
``nas.build``, ``nas.train``, ``nas.search``, ``nas.load_run``, ``nas.genotype``.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

API = ("build", "genotype", "load_run", "search", "train")


def __getattr__(name: str) -> Any:
    # The API imports torch, the trainer and the search jobs; importing it lazily keeps
    # `import nas.<module>` (and commands such as `nas convert`) fast.
    if name in API:
        from nas import api

        return getattr(api, name)
    raise AttributeError(f"module 'nas' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *API])
