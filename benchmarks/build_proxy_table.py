"""Build the proxy table of NAS-Bench-201: one zero-cost score per cell, appended row by row, resumable.

Every cell of the NAS-Bench-201 table (15,625, in table order) is built as the table's
network (C=16, N=5) initialised with ``--seed`` and scored with ``--proxy`` on one
minibatch of ``--batch-size`` real CIFAR-10 training images drawn with the same seed
(:func:`nas.proxies.score`, :func:`nas.proxies.sample_batch`). Each score is appended to
``--out`` (CSV: ``arch,score,proxy,seed,batch_size``) and flushed at once, so a killed build loses at most the
cell being scored; running the same command again skips the cells already in the file.
``nas.controllers.proxy_evolution`` reads the file.

    python benchmarks/build_proxy_table.py --proxy synflow --out runs/proxy_synflow.csv [--limit 100]

Cost: about 0.5-2 s per cell on one CPU core (so 2-8 hours for all 15,625 cells).
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

import _common  # noqa: F401  (puts this checkout first on sys.path)

from nas.errors import NasError

#: The table's network (the cell's NAS-Bench-201 training setting).
BUILD_OPTIONS = {"channels": 16, "cells_per_stage": 5}


COLUMNS = ["arch", "score", "proxy", "seed", "batch_size"]


def done_cells(path: Path, setting: dict[str, str]) -> set[str]:
    """Cells already in the file (a half-written last line, from a kill, is dropped and rewritten).

    Rows of another proxy, seed or batch size are refused: one file holds one setting.
    """
    if not path.is_file() or path.stat().st_size == 0:
        return set()
    text = path.read_text(encoding="utf-8")
    if not text.endswith("\n"):  # a kill mid-write: cut the partial row
        text = text[: text.rfind("\n") + 1]
        path.write_text(text, encoding="utf-8")
    reader = csv.DictReader(text.splitlines())
    if reader.fieldnames != COLUMNS:
        raise NasError(f"--out: {path} is not a proxy table (expected columns {','.join(COLUMNS)})")
    done = set()
    for line, row in enumerate(reader, start=2):
        other = {k: row[k] for k in setting if row[k] != setting[k]}
        if other:
            raise NasError(f"--out: {path}:{line} was built with {other}, not {setting}; use another file")
        done.add(row["arch"])
    return done


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--proxy", default="synflow", help="a score of nas.proxies (default synflow)")
    p.add_argument("--out", required=True, help="the CSV to append to (created with a header)")
    p.add_argument("--batch-size", type=int, default=64, help="images in the minibatch (default 64)")
    p.add_argument("--seed", type=int, default=0, help="seed of the initialisation and the minibatch")
    p.add_argument("--limit", type=int, default=None, help="stop after this many cells in the file (tests, trials)")
    p.add_argument("--table", default=None, help="NAS-Bench-201 table (default: found in the data directory)")
    p.add_argument("--data-dir", default=None, help="data directory (default: $NAS_DATA_DIR, else ./data)")
    args = p.parse_args(argv)
    try:
        return build(args)
    except NasError as exc:
        print(f"build_proxy_table: error: {exc}", file=sys.stderr)
        return 2


def build(args: argparse.Namespace) -> int:
    import torch

    from nas.data import load_dataset
    from nas.genotypes.codec import from_nb201_string
    from nas.nb201_table import NB201Table, find_table
    from nas.proxies import get_proxy, sample_batch, score

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    proxy = get_proxy(args.proxy).name
    table_path = args.table or find_table(args.data_dir)
    if table_path is None:
        raise NasError("--table: NAS-Bench-201 table not found; give --table or set NAS_DATA_DIR")
    cells = [rec.arch_str for rec in NB201Table.load(table_path)]
    out = Path(args.out)
    setting = {"proxy": proxy, "seed": str(args.seed), "batch_size": str(args.batch_size)}
    done = done_cells(out, setting)
    if args.limit is not None:
        cells = cells[: args.limit]
    todo = [c for c in cells if c not in done]
    data = load_dataset("cifar10", args.data_dir)
    batch = sample_batch(data, args.batch_size, args.seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    new_file = not out.is_file() or out.stat().st_size == 0
    started = time.perf_counter()
    with out.open("a", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        if new_file:
            writer.writerow(COLUMNS)
        for i, arch in enumerate(todo, start=1):
            value = score(from_nb201_string(arch), [proxy], batch, args.seed, build_options=BUILD_OPTIONS)[proxy]
            writer.writerow([arch, repr(value), proxy, args.seed, args.batch_size])
            f.flush()
            if i % 50 == 0 or i == len(todo):
                rate = (time.perf_counter() - started) / i
                print(f"{len(done) + i}/{len(cells)} cells  {rate:.2f} s/cell", flush=True)
    print(f"{out}: {len(done) + len(todo)} cells ({len(todo)} new, {len(done)} already there)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
