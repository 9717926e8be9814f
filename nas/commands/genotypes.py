"""Genotype commands: ``nas spaces``, ``nas show``, ``nas convert``, ``nas sample``."""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path
from typing import Any

from nas.commands import Subcommands
from nas.errors import NasError
from nas.genotypes import resolve
from nas.genotypes.codec import to_darts_text, to_dict, to_json, to_nb201_string, to_text
from nas.genotypes.resolve import parse_genotype
from nas.genotypes.types import DartsGenotype, Genotype, NB201Genotype
from nas.limits import MAX_SEED


def register(sub: Subcommands) -> None:
    p = sub.add_parser("spaces")
    p.add_argument("--decisions", action="store_true", help="also list every decision and its choices")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=cmd_spaces)

    p = sub.add_parser("show")
    p.add_argument("genotype", nargs="?", help="a name, a JSON file, a run dir, DARTS text or an NB201 string")
    p.add_argument("--list", action="store_true", help="list the named genotypes")
    p.add_argument("--channels", type=int, help="initial channels C (DARTS default 36, NB201 default 16)")
    p.add_argument("--layers", type=int, help="number of cells L of a DARTS network (default 20)")
    p.add_argument("--auxiliary", action="store_true", help="build the auxiliary head (DARTS, GoogLeNet)")
    p.add_argument("--num-classes", type=int, default=10)
    p.add_argument("--input-size", type=int, default=32, help="side of the square input for FLOPs")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument(
        "--diagram", metavar="FILE", help="also draw the cells (or the macro skeleton) to FILE (.png or .svg)"
    )
    p.add_argument(
        "--engine",
        choices=("auto", "graphviz", "matplotlib"),
        default="auto",
        help="how to draw --diagram (auto: Graphviz's dot when installed, else matplotlib)",
    )
    p.add_argument(
        "--nb201-table",
        metavar="PATH",
        help="NAS-Bench-201 table for an NB201 cell's accuracies and rank "
        "(default: $NAS_NB201_TABLE, else ../shared/data/nasbench201/nb201.csv)",
    )
    p.set_defaults(handler=cmd_show)

    p = sub.add_parser("convert")
    p.add_argument("genotype", help="a name, a JSON file, a run dir, DARTS text or an NB201 string")
    p.add_argument("--to", required=True, choices=("json", "darts", "nb201"), help="output format")
    p.add_argument("--out", help="write to this file instead of standard output")
    p.set_defaults(handler=cmd_convert)

    p = sub.add_parser("sample")
    p.add_argument("space", help="search space name (see `nas spaces`)")
    p.add_argument("--n", type=int, default=1, help="how many genotypes")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(handler=cmd_sample)


def cmd_spaces(args: argparse.Namespace) -> int:
    # Local: the search-space registry is only needed by `nas spaces`/`nas sample` (start-up of the others).
    from nas.search_spaces import get_space, list_spaces

    rows = []
    for name in list_spaces():
        space = get_space(name)
        decisions = space.decisions()
        row: dict[str, Any] = {
            "name": name,
            "size": space.size(),
            # Spaces with ignored decisions also know how many *different* genotypes they hold.
            "distinct": space.distinct_size() if hasattr(space, "distinct_size") else space.size(),
            "decisions": len(decisions),
            "description": space.description,
        }
        if args.decisions:
            row["choices"] = {d.name: [str(c) for c in d.choices] for d in decisions}
        rows.append(row)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'space':<10} {'vectors':>10} {'genotypes':>10} {'decisions':>9}  description")
    for r in rows:
        print(f"{r['name']:<10} {r['size']:>10.3g} {r['distinct']:>10.3g} {r['decisions']:>9}  {r['description']}")
        for dname, choices in r.get("choices", {}).items():
            print(f"    {dname}: {', '.join(choices)}")
    return 0


def _build_options(genotype: Genotype, args: argparse.Namespace) -> dict[str, Any]:
    """Map the generic --channels/--layers/--auxiliary flags onto a kind's build options."""
    opts: dict[str, Any] = {}
    if isinstance(genotype, DartsGenotype):
        opts = {"channels": args.channels or 36, "layers": args.layers or 20, "auxiliary": args.auxiliary}
        return opts
    if args.layers is not None:
        raise NasError("--layers: only DARTS genotypes take a number of cells")
    if isinstance(genotype, NB201Genotype):
        if args.auxiliary:
            raise NasError("--auxiliary: NAS-Bench-201 networks have no auxiliary head")
        return {"channels": args.channels or 16}
    if args.channels is not None:
        raise NasError("--channels: a macro genotype fixes its own widths")
    return {"auxiliary": args.auxiliary}


def _positive(value: int | None, flag: str) -> None:
    if value is not None and value < 1:
        raise NasError(f"{flag}: expected a positive integer, got {value}")


#: Most parameters ``nas show`` builds (4 bytes each): far above any CIFAR network, far below this machine's memory.
MAX_SHOW_PARAMS = 500_000_000


def _size_flags(options: dict[str, Any], input_size: int | None = None, num_classes: int = 10) -> str:
    flags = [f"--{k} {v}" for k, v in options.items() if k in ("channels", "layers")]
    if num_classes > 1000:
        flags.append(f"--num-classes {num_classes}")
    if input_size is not None and input_size > 32:
        flags.append(f"--input-size {input_size}")
    return " ".join(flags) or "the network"


def _check_size(genotype: Genotype, options: dict[str, Any], num_classes: int) -> None:
    """Refuse a network too large to allocate, counted on the meta device (no memory) when it could be."""
    channels, layers = int(options.get("channels") or 36), int(options.get("layers") or 15)
    if channels * channels * layers <= 2_000_000 and num_classes <= 100_000:  # ~80x DARTS_V2 at most
        return
    import torch

    from nas.networks import build

    with torch.device("meta"):
        params = sum(p.numel() for p in build(genotype, num_classes=num_classes, **options).parameters())
    if params > MAX_SHOW_PARAMS:
        flags, gib = _size_flags(options, num_classes=num_classes), params * 4 / 2**30
        raise NasError(
            f"{flags}: the network would have {params:,} parameters ({gib:,.0f} GiB); "
            f"expected at most {MAX_SHOW_PARAMS:,}"
        )


def describe(genotype: Genotype, options: dict[str, Any], num_classes: int, input_size: int) -> dict[str, Any]:
    """What ``nas show`` reports: the genotype, its network's parameters and FLOPs."""
    # Local: torch (~2 s to import) is only needed to count; `nas convert/sample/spaces` start without it.
    from nas.metrics import count_flops, count_parameters
    from nas.networks import build

    # On the CPU, not the meta device: a meta forward runs batch norm's Python shape functions,
    # which import torch._dynamo (~1.4 s); building and counting DARTS_V2 on the CPU takes ~0.4 s
    # (see nas.metrics). The counts are the same on both devices (tests/test_cli_startup.py).
    _check_size(genotype, options, num_classes)
    in_channels = getattr(genotype, "in_channels", 3)
    try:
        model = build(genotype, num_classes=num_classes, **options)
        flops = count_flops(model, input_size=(1, in_channels, input_size, input_size))
    except (MemoryError, RuntimeError) as exc:
        if not isinstance(exc, MemoryError) and "alloc" not in str(exc).lower():
            raise
        raise NasError(
            f"{_size_flags(options, input_size, num_classes)}: the network is too large to build and run here"
        ) from None
    return {
        "kind": genotype.kind,
        "family": getattr(genotype, "family", genotype.kind),
        "text": to_text(genotype),
        "genotype": to_dict(genotype),
        "build_options": options,
        "num_classes": num_classes,
        "input_size": input_size,
        "params": count_parameters(model),
        "params_with_auxiliary": count_parameters(model, include_auxiliary=True),
        "flops": flops,
        "macs": flops // 2,
    }


def cmd_show(args: argparse.Namespace) -> int:
    if args.list:
        for name in resolve.names():
            g = resolve.get(name)
            print(f"{name:<20} {g.kind:<6} {to_text(g)[:90]}")
        return 0
    if not args.genotype:
        raise NasError("show: expected a GENOTYPE (name, file, run dir, DARTS text or NB201 string) or --list")
    _positive(args.channels, "--channels")
    _positive(args.layers, "--layers")
    _positive(args.num_classes, "--num-classes")
    _positive(args.input_size, "--input-size")
    genotype = parse_genotype(args.genotype)
    info = describe(genotype, _build_options(genotype, args), args.num_classes, args.input_size)
    info["source"] = args.genotype
    if isinstance(genotype, NB201Genotype):
        info["nb201_table"] = nb201_results(genotype, args.nb201_table)
    if args.diagram:
        from nas.viz.diagrams import draw_genotype  # local: drawing (matplotlib) only for --diagram

        try:
            info["diagram"] = str(draw_genotype(genotype, args.diagram, engine=args.engine, title=args.genotype[:60]))
        except OSError as exc:
            raise NasError(
                f"--diagram {args.diagram}: cannot write ({exc.strerror or exc.__class__.__name__})"
            ) from None
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"genotype : {args.genotype} ({info['family']})")
    if isinstance(genotype, DartsGenotype):
        for cell in ("normal", "reduce"):
            edges = getattr(genotype, cell)
            print(f"{cell:<8} :")
            for k in range(0, len(edges), 2):
                a, b = edges[k], edges[k + 1]
                print(f"  node {k // 2 + 2}: {a[0]}({a[1]}) + {b[0]}({b[1]})")
            print(f"  concat : {list(getattr(genotype, cell + '_concat'))}")
        skips = ", ".join(f"{cell} {genotype.skip_count(cell)}" for cell in ("normal", "reduce"))
        print(f"skips    : {skips} (a cell of skip connections is DARTS' known failure)")
    else:
        print(f"cells    : {info['text']}")
    opts = ", ".join(f"{k}={v}" for k, v in info["build_options"].items())
    print(f"network  : {opts or 'as the genotype says'}; {info['num_classes']} classes")
    print(f"params   : {info['params']:,} ({info['params'] / 1e6:.2f}M) without auxiliary head")
    if info["params_with_auxiliary"] != info["params"]:
        print(f"           {info['params_with_auxiliary']:,} with auxiliary head")
    side = info["input_size"]
    print(f"FLOPs    : {info['flops'] / 1e6:.1f}M ({info['macs'] / 1e6:.1f}M multiply-adds) at {side}x{side}")
    if "diagram" in info:
        print(f"diagram  : {info['diagram']}")
    bench = info.get("nb201_table")
    if bench and bench.get("found"):
        r, n = bench["record"], bench["cells"]
        print(
            f"NB201    : CIFAR-10 valid {r['c10_valid']:.2f}% / test {r['c10_test']:.2f}% "
            f"(rank {bench['rank_c10_test']:,} of {n:,} by test, {bench['rank_c10_valid']:,} by valid; "
            f"the space's median test: {bench['median_c10_test']:.2f}%)"
        )
        print(
            f"           CIFAR-100 {r['c100_valid']:.2f}% / {r['c100_test']:.2f}%, "
            f"ImageNet16-120 {r['in16_valid']:.2f}% / {r['in16_test']:.2f}%; "
            f"12-epoch CIFAR-10 valid {r['c10_valid_12ep']:.2f}%"
        )
        print(f"           table: {bench['path']}")
    return 0


def nb201_results(genotype: NB201Genotype, table: str | None) -> dict[str, Any]:
    """The cell's row of the NAS-Bench-201 table and its rank; without a table, where we looked (said once)."""
    from pathlib import Path

    from nas.nb201_table import NB201_NODES, NB201Table, find_table, table_candidates

    if len(genotype.nodes) != NB201_NODES:  # a smaller or larger cell: said, not silently dropped
        print(
            f"nas show: the cell has {len(genotype.nodes)} intermediate node(s); NAS-Bench-201's space has "
            f"{NB201_NODES}, so it is outside the benchmark (no table row)",
            file=sys.stderr,
        )
        return {"found": False, "reason": f"outside NAS-Bench-201's space: {NB201_NODES} nodes expected"}
    if table is not None:
        path: Path | None = Path(table)
        if not path.is_file():  # asked for explicitly: a missing file is the user's mistake
            raise NasError(f"--nb201-table {table}: no such file")
    else:
        path = find_table()
    if path is None:
        looked = [str(c) for c in table_candidates()]
        print(
            f"nas show: NAS-Bench-201 table not found (looked at {', '.join(looked)}); "
            "give --nb201-table PATH or set NAS_NB201_TABLE",
            file=sys.stderr,
        )
        return {"found": False, "looked_at": looked}
    bench = NB201Table.load(path)
    return {
        "found": True,
        "path": str(path),
        "cells": len(bench),
        "record": bench.query(genotype).to_dict(),
        "rank_c10_test": bench.rank(genotype, "c10_test"),
        "rank_c10_valid": bench.rank(genotype, "c10_valid"),
        "median_c10_test": bench.median("c10_test"),
    }


def cmd_convert(args: argparse.Namespace) -> int:
    genotype = parse_genotype(args.genotype)
    if args.to == "json":
        text = to_json(genotype)
    elif args.to == "darts":
        text = to_darts_text(genotype)  # type: ignore[arg-type]
    else:
        text = to_nb201_string(genotype)  # type: ignore[arg-type]
    if args.out:
        try:
            Path(args.out).write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            raise NasError(f"{args.out}: cannot write ({exc.strerror})") from None
    else:
        sys.stdout.write(text + "\n")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from nas.search_spaces import get_space  # local: as in cmd_spaces, only `nas spaces`/`nas sample` need it

    _positive(args.n, "--n")
    space = get_space(args.space)
    if not 0 <= args.seed <= MAX_SEED:  # as every other command's seeds
        raise NasError(f"--seed: expected an integer from 0 to {MAX_SEED}, got {args.seed}")
    rng = random.Random(args.seed)
    for _ in range(args.n):
        sys.stdout.write(to_json(space.sample(rng)) + "\n")
    return 0
