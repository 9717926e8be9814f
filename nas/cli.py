"""The ``nas`` command line: a thin dispatcher over one module per command.

Each module in :mod:`nas.commands` exposes ``register(subparsers)``; this file only
wires them together and turns a :class:`NasError` (bad input) into one line on stderr
and exit status 2, so users never see a traceback for their own mistakes.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from nas.errors import NasError
from nas.registry import Registry

#: Every command: the module that registers it and the one line ``nas --help`` lists it with, in
#: that order. ``nas CMD`` imports only CMD's module: the others' imports (torch above all, ~2 s)
#: would otherwise dominate the start-up of every command; ``nas --help``, no command or an
#: unknown one import none of them.
_TABLE: tuple[tuple[str, str, str], ...] = (
    ("spaces", "nas.commands.genotypes", "list the search spaces with their sizes and decisions"),
    ("show", "nas.commands.genotypes", "describe a genotype: cells, parameters, FLOPs"),
    ("convert", "nas.commands.genotypes", "convert a genotype between formats"),
    ("sample", "nas.commands.genotypes", "sample genotypes of a search space as JSON lines"),
    ("models", "nas.commands.models", "list the model zoo with parameters and multiply-adds on 3x32x32"),
    ("train", "nas.commands.train", "train a zoo model or a genotype's network with a recipe (resumable)"),
    ("evaluate", "nas.commands.train", "test accuracy of trained run directories (flip TTA, ensembles)"),
    ("search", "nas.commands.search", "run (or resume) an architecture search from a YAML config"),
    ("export", "nas.commands.export", "write the genotype a search found, or a trained model as ONNX or TorchScript"),
    (
        "report",
        "nas.commands.report",
        "HTML + Markdown report of run directories (training, DARTS search, trial search)",
    ),
    ("cam", "nas.commands.report", "class activation maps of a trained run on test images"),
    ("nb201", "nas.commands.nb201", "NAS-Bench-201 table: build it from the official benchmark files"),
    ("score", "nas.commands.score", "zero-cost scores (naswot, synflow, ..., params, flops) of untrained networks"),
)

#: Command -> its module's ``register(subparsers)``, a lazy entry imported only when that command runs.
REGISTRY: Registry[Callable[[Any], None]] = Registry("command", "command")
for _name, _module, _line in _TABLE:
    REGISTRY.register(_name, f"{_module}:register")
#: Command -> ``(module, help line)``: the same table, for listings and tests.
COMMANDS: dict[str, tuple[str, str]] = {name: (module, line) for name, module, line in _TABLE}


#: Commands whose runs resume when run again (the others just stop on Ctrl-C).
RESUMABLE = frozenset({"train", "search"})


class _Subcommands:
    """What a command module's ``register`` receives: ``add_parser`` with the one-line help of :data:`COMMANDS`."""

    def __init__(self, sub: argparse._SubParsersAction) -> None:
        self._sub = sub

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        return self._sub.add_parser(name, help=COMMANDS[name][1], **kwargs)


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (``nas CMD: error: ...``) like every other error, not a usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``nas`` parser: with ``command``'s module only, or (any other first argument) the listing of all."""
    parser = OneLineParser(prog="nas", description="Neural architecture search toolkit for CIFAR-10.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    if command in COMMANDS:
        REGISTRY.get(command)(_Subcommands(sub))
    else:  # nas --help, nas, nas TYPO: the list of commands, parsed no further
        for name, (_module, line) in COMMANDS.items():
            sub.add_parser(name, help=line)
    return parser


def os_error(exc: OSError) -> str:
    """``PATH: permission denied (read-only file system, ...)``: an operating-system error as one line."""
    reason = (exc.strerror or exc.__class__.__name__).lower()
    where = f"{exc.filename} -> {exc.filename2}" if exc.filename2 else str(exc.filename)
    hint = "; check its permissions" if isinstance(exc, PermissionError) else ""
    return f"{where}: {reason}{hint}"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv[0] if argv else None)
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except NasError as exc:
        print(f"nas {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a file the user named (or a run directory) that cannot be read or written
        if exc.filename is None:
            raise
        print(f"nas {args.command}: error: {os_error(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        resume = "; run the same command again to resume" if args.command in RESUMABLE else ""
        print(f"nas {args.command}: interrupted{resume}", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
