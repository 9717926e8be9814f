"""``nas search`` (run a search from a YAML config) and ``nas export`` (its genotype, or a trained model).

The config's ``controller`` key picks the search algorithm from :data:`CONTROLLERS`, a
small table so that new controllers plug in without touching the command: each entry
names a function validating the merged config mapping and a function running one
search into a run directory. Every controller writes ``RUN_DIR/genotype.json``, which
is all ``nas export`` and the seed-agreement report read.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
from collections import Counter
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

from nas.errors import NasError
from nas.formats import load_genotype_file, to_darts_text, to_json, to_nb201_string
from nas.genotype import DartsGenotype, Genotype, NB201Genotype


@dataclass(frozen=True)
class Controller:
    """Where a controller lives: ``module:function`` references, imported only when used.

    ``load_config(raw, *, source, overridden) -> config`` validates the merged mapping
    (``config.seed`` must exist); ``run(config, run_dir, *, progress, echo) -> result``
    runs or resumes one search and writes ``run_dir/genotype.json``.
    """

    load_config: str
    run: str
    description: str


#: Search controllers by the name the config's ``controller`` key uses.
CONTROLLERS: dict[str, Controller] = {
    "darts": Controller(
        "nas.darts.config:load_config",
        "nas.darts.search:run_search",
        "DARTS: differentiable search of a supernet (darts or nb201 space)",
    ),
    **{
        name: Controller("nas.tune.entry:load_config", "nas.tune.entry:run", f"{label}: trials on Ray Tune, any space")
        for name, label in (
            ("random", "random search"),
            ("evolution", "regularized evolution"),
            ("reinforce", "REINFORCE, per-decision policy"),
            ("lstm", "REINFORCE, LSTM controller (ENAS style)"),
            ("optuna", "Optuna sampler (TPE, CMA-ES, NSGA-II, ...)"),
        )
    },
}

#: ``nas search`` flags that only trial-based (Ray Tune) controllers understand: flag -> config key.
RAY_FLAGS = {"workers": "--workers", "gpus_per_trial": "--gpus-per-trial", "address": "--address"}


def _resolve(ref: str) -> Any:
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "search",
        help="run (or resume) an architecture search from a YAML config",
        description="Run an architecture search. Running the same command again resumes an interrupted run.",
    )
    p.add_argument("--config", required=True, help="the search config (e.g. experiments/quickstart.yaml)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value (dotted keys: guards.max_skip=2); repeatable",
    )
    p.add_argument("--epochs", type=int, help="override the number of search epochs")
    p.add_argument("--seeds", help="comma-separated seeds: independent searches in OUT/seed-N plus agreement.json")
    p.add_argument("--data-dir", help="data directory (default: the config's data_dir, else $NAS_DATA_DIR)")
    p.add_argument("--out", help="run directory (default: runs/<config name>)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (epoch lines are still printed)")
    ray = p.add_argument_group("trial-based controllers (Ray Tune)")
    ray.add_argument("--workers", type=int, help="trials run at once")
    ray.add_argument("--gpus-per-trial", type=float, help="GPUs per trial (fractions share a GPU)")
    ray.add_argument("--address", help="join a Ray cluster started with `ray start` (host:port or auto)")
    p.set_defaults(handler=search_command)

    p = sub.add_parser(
        "export",
        help="write the genotype a search found, or a trained model as ONNX or TorchScript",
        description="json, darts, nb201: the genotype of a search run directory. onnx, torchscript: the model of a "
        "training run directory (from `nas train`) with its trained weights, checked against PyTorch on test images.",
    )
    p.add_argument("run_dir", help="a search run directory (genotype formats) or a training run directory (models)")
    p.add_argument("--format", required=True, choices=GENOTYPE_FORMATS + MODEL_FORMATS, help="output format")
    p.add_argument(
        "--out",
        help="genotypes: write to this file instead of standard output; models: the file to write "
        "(default RUN_DIR/model.onnx or RUN_DIR/model.ts)",
    )
    model = p.add_argument_group("onnx and torchscript only")
    model.add_argument(
        "--checkpoint",
        choices=("selected", "best", "final", "last"),
        help="weights: the run's selected model (default), best.pt, final.pt or the last checkpoint",
    )
    model.add_argument("--images", type=int, help="test images the exported model is checked on (default 16)")
    model.add_argument("--data-dir", help="data directory (default: the one recorded in the run)")
    model.add_argument(
        "--onnx-method",
        choices=("auto", "dynamo", "legacy"),
        help="ONNX exporter: dynamo (torch.export; needs onnxscript), legacy (TorchScript-based, fast) or "
        "auto (default: dynamo when onnxscript is installed)",
    )
    p.set_defaults(handler=export_command)


# --------------------------------------------------------------------------- #
# nas search
# --------------------------------------------------------------------------- #


def _parse_seeds(text: str) -> list[int]:
    seeds = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit():
            raise NasError(f"--seeds: expected comma-separated non-negative integers like 0,1,2, got {text!r}")
        seeds.append(int(part))
    if len(set(seeds)) != len(seeds):
        raise NasError(f"--seeds: repeated seed in {text!r}")
    return seeds


def _is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def search_command(args: argparse.Namespace) -> int:
    from nas.config_io import apply_overrides, parse_override, read_yaml

    config_path = Path(args.config)
    raw = read_yaml(config_path)
    overrides: dict[str, Any] = {}
    flags: dict[str, str] = {}
    for text in args.overrides:
        key, value = parse_override(text)
        overrides[key], flags[key] = value, f"--set {text}"
    if args.epochs is not None:
        overrides["epochs"], flags["epochs"] = args.epochs, f"--epochs {args.epochs}"
    if args.data_dir is not None:
        overrides["data_dir"], flags["data_dir"] = args.data_dir, f"--data-dir {args.data_dir}"
    for key, flag in RAY_FLAGS.items():
        value = getattr(args, key)
        if value is not None:
            overrides[key], flags[key] = value, f"{flag} {value}"
    merged = apply_overrides(raw, overrides)
    name = merged.get("controller", "darts")
    if isinstance(name, str):
        name = name.strip().lower()
    if name not in CONTROLLERS:
        origin = flags.get("controller", config_path.name)
        raise NasError(f"{origin}: controller: unknown controller {name!r} (known: {', '.join(CONTROLLERS)})")
    if name == "darts":
        given = [flags[key].split()[0] for key in RAY_FLAGS if key in flags]
        if given:
            raise NasError(
                f"{given[0]}: only for trial-based controllers; a DARTS search uses torchrun for several GPUs"
            )
    controller = CONTROLLERS[name]
    load_config, run = _resolve(controller.load_config), _resolve(controller.run)
    out = Path(args.out) if args.out else Path("runs") / config_path.stem
    progress = not args.no_progress

    if not args.seeds:
        config = load_config(merged, source=config_path.name, overridden=flags)
        run(config, out, progress=progress, echo=print)
        return 0

    seeds = _parse_seeds(args.seeds)
    configs = []
    for seed in seeds:  # validate every seed's config before the first (long) search starts
        seeded = apply_overrides(merged, {"seed": seed})
        configs.append(load_config(seeded, source=config_path.name, overridden={**flags, "seed": "--seeds"}))
    run_dirs = []
    for seed, config in zip(seeds, configs):
        run_dir = out / f"seed-{seed}"
        print(f"== seed {seed}: {run_dir}")
        run(config, run_dir, progress=progress, echo=print)
        run_dirs.append(run_dir)
    if _is_main_process():
        report = seed_agreement(dict(zip(seeds, run_dirs)))
        (out / "agreement.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(format_agreement(report))
        print(f"agreement: {out / 'agreement.json'}")
    return 0


# --------------------------------------------------------------------------- #
# Agreement between seeds
# --------------------------------------------------------------------------- #


def _cells(genotype: Genotype) -> dict[str, list[list[tuple[str, int]]]]:
    """Cell name -> nodes -> edges (op, input): the unit agreement is measured on."""
    if isinstance(genotype, DartsGenotype):
        return {
            cell: [list(edges[k : k + 2]) for k in range(0, len(edges), 2)]
            for cell, edges in (("normal", genotype.normal), ("reduce", genotype.reduce))
        }
    if isinstance(genotype, NB201Genotype):
        return {"cell": [list(node) for node in genotype.nodes]}
    return {"genotype": [[(str(genotype), 0)]]}  # macro genotypes: agreement is all-or-nothing


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
        "runs": {str(s): {"run_dir": str(d), "genotype": str(genotypes[s])} for s, d in run_dirs.items()},
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


# --------------------------------------------------------------------------- #
# nas export
# --------------------------------------------------------------------------- #

#: ``nas export`` formats: the genotype of a search run, the trained model of a training run.
GENOTYPE_FORMATS: tuple[str, ...] = ("json", "darts", "nb201")
MODEL_FORMATS: tuple[str, ...] = ("onnx", "torchscript")


def export_genotype(run_dir: str | Path, fmt: str) -> str:
    """The genotype of a run directory as text in ``fmt`` (json, darts or nb201)."""
    run = Path(run_dir)
    if not run.is_dir():
        raise NasError(f"{run}: run directory not found")
    path = run / "genotype.json"
    if not path.is_file():
        seeds = sorted(p.name for p in run.glob("seed-*") if (p / "genotype.json").is_file())
        if seeds:
            raise NasError(f"{run}: holds several seeds; export one of them ({', '.join(seeds)})")
        raise NasError(f"{run}: no genotype.json (the search has not finished; run it again to resume)")
    genotype = load_genotype_file(path)
    if fmt == "json":
        return to_json(genotype)
    if fmt == "darts":
        if not isinstance(genotype, DartsGenotype):
            raise NasError(f"--format darts: {run} holds a {genotype.kind} genotype, not a DARTS cell")
        return to_darts_text(genotype)
    if fmt == "nb201":
        if not isinstance(genotype, NB201Genotype):
            raise NasError(f"--format nb201: {run} holds a {genotype.kind} genotype; nb201 is only for NB201 runs")
        return to_nb201_string(genotype)
    raise NasError(f"--format: unknown format {fmt!r} (known: json, darts, nb201)")


def export_command(args: argparse.Namespace) -> int:
    if args.format in MODEL_FORMATS:
        return _export_model(args)
    for flag, value in (
        ("--checkpoint", args.checkpoint),
        ("--images", args.images),
        ("--data-dir", args.data_dir),
        ("--onnx-method", args.onnx_method),
    ):
        if value is not None:
            raise NasError(f"{flag}: only for --format onnx or torchscript (a trained model), not {args.format}")
    text = export_genotype(args.run_dir, args.format)
    if args.out:
        out = Path(args.out)
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            raise NasError(f"--out {out}: cannot write ({exc.strerror or exc.__class__.__name__})") from None
        print(f"wrote {out}")
    else:
        print(text)
    return 0


def _export_model(args: argparse.Namespace) -> int:
    """``--format onnx|torchscript``: a training run's model, checked on its test images."""
    from nas.commands.train import export_trained_model

    report, images, dataset = export_trained_model(
        args.run_dir,
        args.format,
        args.out,
        checkpoint=args.checkpoint or "selected",
        images=16 if args.images is None else args.images,
        data_dir=args.data_dir,
        onnx_method=args.onnx_method or "auto",
    )
    print(f"wrote {report.summary()}")
    print(f"compared with PyTorch on {images} test images of {dataset} and a random batch of {images + 1}")
    return 0
