"""``nas models``: the model zoo as a table (or JSON) with sizes and costs on 3x32x32."""

from __future__ import annotations

import argparse
import json

from nas.commands import Subcommands
from nas.errors import NasError
from nas.zoo import list_models

#: Footnote of the table: what the cost column counts.
COST_NOTE = (
    "MACs: multiply-adds of one 3x32x32 forward pass, the figure papers quote as 'FLOPs' "
    "(FLOPs = 2 x MACs). Params exclude auxiliary heads."
)


def register(sub: Subcommands) -> None:
    p = sub.add_parser("models")
    p.add_argument("--family", help="only this family (e.g. resnet, vgg, densenet)")
    p.add_argument("--no-flops", action="store_true", help="skip the multiply-add count (faster)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=cmd_models)


def cmd_models(args: argparse.Namespace) -> int:
    models = list_models()
    if args.family:
        families = sorted({m.family for m in models})
        models = [m for m in models if m.family == args.family.lower()]
        if not models:
            raise NasError(f"--family: unknown family {args.family!r} (known: {', '.join(families)})")
    rows = []
    for m in models:
        row: dict[str, object] = {"name": m.name, "kind": m.kind, "family": m.family, "params": m.params}
        if not args.no_flops:
            row["flops"] = m.flops
            row["macs"] = m.macs
        rows.append(row)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    header = f"{'name':<18} {'kind':<9} {'family':<10} {'params (M)':>10}"
    if not args.no_flops:
        header += f" {'MACs (M)':>9}"
    print(header)
    for r in rows:
        line = f"{r['name']:<18} {r['kind']:<9} {r['family']:<10} {r['params'] / 1e6:>10.2f}"
        if not args.no_flops:
            line += f" {r['macs'] / 1e6:>9.1f}"
        print(line)
    print(COST_NOTE if not args.no_flops else "Params exclude auxiliary heads.")
    return 0
