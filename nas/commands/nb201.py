"""``nas nb201 import``: build our NAS-Bench-201 table from the official benchmark files.

The table (``nb201.csv``) is what the NB201 searches, ``nas show`` and the controller
benchmark read; users make it once from the file they download from the benchmark's
authors (see :mod:`nas.nb201_import` for the files and what each column means).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from nas.commands import Subcommands
from nas.errors import NasError


def register(sub: Subcommands) -> None:
    p = sub.add_parser("nb201")
    nb = p.add_subparsers(dest="nb201_command", metavar="SUBCOMMAND")
    nb.required = True
    q = nb.add_parser(
        "import",
        help="write nb201.csv from a NATS-Bench topology file/archive or NAS-Bench-201 v1.1 .pth",
        description="Build the NAS-Bench-201 table from the official files through the official API "
        "(nats_bench). PATH: the NATS-tss-v1_0-3ffb9-simple directory, NATS-tss-v1_0-3ffb9.pickle.pbz2, "
        "or NAS-Bench-201-v1_1-096897.pth.",
    )
    q.add_argument("path", metavar="PATH", help="the official benchmark file or extracted archive directory")
    q.add_argument("--out", default="nb201.csv", help="the table to write (default: nb201.csv)")
    q.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    q.add_argument("--quiet", action="store_true", help="no progress bar")
    q.set_defaults(handler=cmd_import)


def cmd_import(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from nas.nb201_import import open_official, records
    from nas.nb201_table import NB201Table, write_table

    out = Path(args.out)
    if out.exists() and not args.force:
        raise NasError(f"--out {out}: exists (give --force to overwrite it)")
    if not out.parent.is_dir():
        raise NasError(f"--out {out}: no such directory {out.parent}")
    api = open_official(args.path)
    with tqdm(total=len(api), unit="cell", disable=args.quiet, desc="cells") as bar:
        count = write_table(records(api, lambda done, total: bar.update(1)), out)
    table = NB201Table.load(out)  # read back what we wrote: the same checks every reader makes
    best = table.best("c10_test")
    print(f"wrote {out}: {count:,} cells; best CIFAR-10 test {best.c10_test:.2f} ({best.arch_str})")
    if count != 15_625:
        print(f"note: the NAS-Bench-201 space has 15,625 cells; this file had {count:,}")
    return 0
