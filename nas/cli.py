"""The ``nas`` command line: a thin dispatcher over one module per command.

Each module in :mod:`nas.commands` exposes ``register(subparsers)``; this file only
wires them together and turns a :class:`NasError` (bad input) into one line on stderr
and exit status 2, so users never see a traceback for their own mistakes.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from nas.errors import NasError

#: Command modules, in the order ``nas --help`` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "nas.commands.genotypes",  # spaces, show, convert, sample
    "nas.commands.models",  # models
    "nas.commands.train",  # train, evaluate
    "nas.commands.search",  # search
    "nas.commands.export",  # export
    "nas.commands.report",  # report, cam
    "nas.commands.nb201",  # nb201 import
)


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (``nas CMD: error: ...``) like every other error, not a usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="nas", description="Neural architecture search toolkit for CIFAR-10.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except NasError as exc:
        print(f"nas {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"nas {args.command}: interrupted; run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
