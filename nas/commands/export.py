"""``nas export``: the genotype a search found (json, darts, nb201), or a trained model (onnx, torchscript)."""

from __future__ import annotations

import argparse
from pathlib import Path

from nas.commands import Subcommands
from nas.errors import NasError
from nas.genotypes.codec import load_genotype_file, to_darts_text, to_json, to_nb201_string
from nas.genotypes.types import DartsGenotype, NB201Genotype

#: ``nas export`` formats: the genotype of a search run, the trained model of a training run.
GENOTYPE_FORMATS: tuple[str, ...] = ("json", "darts", "nb201")
MODEL_FORMATS: tuple[str, ...] = ("onnx", "torchscript")


def register(sub: Subcommands) -> None:
    p = sub.add_parser(
        "export",
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
    from nas.tools.export_model import export_trained_model

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
