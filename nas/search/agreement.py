"""How much independent searches (different seeds) agree: per-cell edge and strongest-operation overlap.

A search that finds a different cell for every seed is telling you its result is noise;
``nas search --seeds 0,1,2`` writes this report as ``agreement.json``.
"""

from __future__ import annotations

import json
from collections import Counter
from itertools import combinations
from pathlib import Path
from typing import Any

from nas.errors import NasError
from nas.genotypes.codec import load_genotype_file, to_text
from nas.genotypes.types import DartsGenotype, Genotype, NB201Genotype


def _cells(genotype: Genotype) -> dict[str, list[list[tuple[str, int]]]]:
    """Cell name -> nodes -> edges (op, input): the unit agreement is measured on."""
    if isinstance(genotype, DartsGenotype):
        return {
            cell: [list(edges[k : k + 2]) for k in range(0, len(edges), 2)]
            for cell, edges in (("normal", genotype.normal), ("reduce", genotype.reduce))
        }
    if isinstance(genotype, NB201Genotype):
        return {"cell": [list(node) for node in genotype.nodes]}
    return {"genotype": [[(to_text(genotype), 0)]]}  # macro genotypes: agreement is all-or-nothing


def edge_agreement(a: Genotype, b: Genotype) -> dict[str, float]:
    """Per cell: the fraction of edges ``(op, input)`` the two genotypes share (node by node, order-free)."""
    ca, cb = _cells(a), _cells(b)
    if set(ca) != set(cb) or any(len(ca[c]) != len(cb[c]) for c in ca):
        raise NasError("seed agreement: the genotypes have different cell structures")
    out = {}
    for cell in ca:
        shared = total = 0
        for node_a, node_b in zip(ca[cell], cb[cell]):
            shared += sum((Counter(node_a) & Counter(node_b)).values())
            total += max(len(node_a), len(node_b))
        out[cell] = shared / total if total else 1.0
    return out


def _strongest_ops(alphas: dict[str, Any]) -> dict[str, list[int]] | None:
    """Per cell: the strongest non-``none`` operation on every supernet edge (from alphas.json)."""
    weights, ops = alphas.get("weights"), alphas.get("ops") or []
    if not isinstance(weights, dict):
        return None
    skip = ops.index("none") if "none" in ops else None
    out = {}
    for cell, rows in weights.items():
        if not rows or not all(isinstance(row, list) and row for row in rows):
            continue  # e.g. the edge weights of edge normalisation: one number per edge
        best = []
        for row in rows:
            order = sorted(range(len(row)), key=lambda i: -row[i])
            best.append(next(i for i in order if i != skip) if len(order) > 1 else order[0])
        out[cell] = best
    return out


def op_agreement(a: dict[str, Any], b: dict[str, Any]) -> dict[str, float] | None:
    """Per cell: the fraction of supernet edges whose strongest operation is the same in both runs."""
    oa, ob = _strongest_ops(a), _strongest_ops(b)
    if oa is None or ob is None or set(oa) != set(ob):
        return None
    return {cell: sum(x == y for x, y in zip(oa[cell], ob[cell])) / max(len(oa[cell]), 1) for cell in oa}


def seed_agreement(run_dirs: dict[int, Path]) -> dict[str, Any]:
    """Pairwise agreement of the genotypes (and architecture weights, when saved) of several runs."""
    genotypes = {seed: load_genotype_file(d / "genotype.json") for seed, d in run_dirs.items()}
    alphas = {}
    for seed, d in run_dirs.items():
        path = d / "alphas.json"
        if path.is_file():
            alphas[seed] = json.loads(path.read_text(encoding="utf-8"))
    pairs = []
    for sa, sb in combinations(sorted(run_dirs), 2):
        ops = op_agreement(alphas[sa], alphas[sb]) if sa in alphas and sb in alphas else None
        pairs.append({"seeds": [sa, sb], "edges": edge_agreement(genotypes[sa], genotypes[sb]), "ops": ops})
    mean: dict[str, dict[str, float]] = {}
    for kind in ("edges", "ops"):
        values = [p[kind] for p in pairs if p[kind] is not None]
        if values:
            mean[kind] = {cell: sum(v[cell] for v in values) / len(values) for cell in values[0]}
    return {
        "runs": {str(s): {"run_dir": str(d), "genotype": to_text(genotypes[s])} for s, d in run_dirs.items()},
        "pairs": pairs,
        "mean": mean,
        "note": "edges: share of (op, input) edges per cell; ops: share of supernet edges with the same strongest op",
    }


def format_agreement(report: dict[str, Any]) -> str:
    """A short table: one row per pair of seeds, one column per cell and measure."""
    pairs = report["pairs"]
    if not pairs:
        return "agreement: a single seed, nothing to compare"
    cells = list(pairs[0]["edges"])
    columns = [(kind, cell) for kind in ("edges", "ops") for cell in cells]
    header = ["seeds"] + [f"{cell} {kind}" for kind, cell in columns]
    rows = []
    for p in pairs:
        row = [f"{p['seeds'][0]} vs {p['seeds'][1]}"]
        for kind, cell in columns:
            value = (p[kind] or {}).get(cell)
            row.append("-" if value is None else f"{value:.2f}")
        rows.append(row)
    mean = ["mean"] + [
        "-" if report["mean"].get(kind, {}).get(cell) is None else f"{report['mean'][kind][cell]:.2f}"
        for kind, cell in columns
    ]
    rows.append(mean)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in [header, *rows])
