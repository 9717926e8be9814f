"""One module per group of ``nas`` commands, each with ``register(sub)`` (see :mod:`nas.cli`)."""

from __future__ import annotations

import argparse
from typing import Any, Protocol


class Subcommands(Protocol):
    """What ``register`` adds its commands to: ``nas.cli`` supplies each command's one-line help."""

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser: ...
