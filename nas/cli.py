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
    "nas.commands.score",  # score (zero-cost proxies)
)

#: Quick commands that get a parser with only their own module: their start-up would otherwise be
#: dominated by the other command modules' imports (torch above all, ~2 s). Any other first
#: argument (``--help``, a typo, the other commands) builds the full parser.
LIGHT_COMMANDS: dict[str, str] = {
    "spaces": "nas.commands.genotypes",
    "show": "nas.commands.genotypes",
    "convert": "nas.commands.genotypes",
    "sample": "nas.commands.genotypes",
}


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (``nas CMD: error: ...``) like every other error, not a usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``nas`` parser; for a :data:`LIGHT_COMMANDS` ``command``, with that command's module only."""
    parser = OneLineParser(prog="nas", description="Neural architecture search toolkit for CIFAR-10.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    light = LIGHT_COMMANDS.get(command or "")
    for module_name in (light,) if light else COMMAND_MODULES:
        importlib.import_module(module_name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv[0] if argv else None)
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
