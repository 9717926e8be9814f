"""``nas report`` and ``nas cam``: look at what runs found.

``nas report RUN_DIR...`` writes one self-contained HTML page and a Markdown twin
(:func:`nas.viz.report.write_report`) from the run directories of

* ``nas train`` (``config.json``, ``metrics.jsonl``, ``result.json``; a multi-seed
  ``--out`` holds ``seed-N/`` runs): result table, training curves, cell diagram;
* ``nas search`` with DARTS (``history.jsonl``, ``alphas.json``, ``genotype.json``):
  search curves, architecture weights per edge over epochs, skip connections, the cell;
* trial-based searches (``leaderboard.json``, ``summary.json``, ``pareto.json``):
  leaderboard, best-so-far progress, Pareto front, the best genotype.

With several training runs it adds a comparison (mean ± std over seeds).

``nas cam RUN_DIR`` rebuilds a trained network from its run directory and writes class
activation maps of test images (CAM when the network ends in global average pooling
and a linear layer, else Grad-CAM), one PNG per image plus a contact sheet.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from nas.commands import Subcommands
from nas.errors import NasError
from nas.genotypes.codec import from_dict, load_genotype_file, to_text
from nas.genotypes.types import DARTS_SEARCH_OPS, NB201_OPS
from nas.runs.atomic import read_json
from nas.runs.history import read_rows
from nas.tools.cam import class_activation_map, grad_cam, save_overlay_grid, save_overlays
from nas.training.finished import load_run, open_run
from nas.training.spec import describe_spec
from nas.viz.diagrams import ENGINES, draw_genotype
from nas.viz.plots import plot_run_comparison, plot_training_curves, summarize_runs
from nas.viz.report import Image, Section, Table, write_report
from nas.viz.search_plots import plot_arch_weights, plot_pareto, plot_search_progress, plot_skip_counts

RUN_KINDS = ("train", "darts", "trials")


def register(sub: Subcommands) -> None:
    p = sub.add_parser(
        "report",
        description="Write REPORT/report.html (self-contained) and REPORT/report.md from one or more run directories.",
    )
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run directories of nas train or nas search")
    p.add_argument("--out", default=None, help="report directory (default: RUN_DIR/report for one run, else ./report)")
    p.add_argument("--title", default=None, help="page title")
    p.add_argument("--engine", choices=ENGINES, default="auto", help="cell diagrams: Graphviz or matplotlib")
    p.set_defaults(handler=cmd_report)

    c = sub.add_parser(
        "cam",
        description="CAM (global-average-pooling networks) or Grad-CAM of a trained run, on test images.",
    )
    c.add_argument("run", metavar="RUN_DIR", help="a run directory of nas train")
    c.add_argument("--out", default=None, help="output directory (default: RUN_DIR/cam)")
    c.add_argument("--images", type=int, default=16, help="how many test images (default 16)")
    c.add_argument("--seed", type=int, default=0, help="which test images (a seeded random choice)")
    c.add_argument("--method", choices=("auto", "cam", "gradcam"), default="auto", help="auto: CAM when possible")
    c.add_argument("--layer", default=None, help="Grad-CAM layer (a module name; default: the last feature map)")
    c.add_argument(
        "--class", dest="target", default=None, help="explain this class (name or index), not the prediction"
    )
    c.add_argument("--checkpoint", choices=("selected", "best", "final"), default="selected", help="which weights")
    c.add_argument("--data-dir", default=None, help="dataset directory (default: the one the run used)")
    c.set_defaults(handler=cmd_cam)


# --------------------------------------------------------------------------- #
# Reading run directories
# --------------------------------------------------------------------------- #


def _read_optional(path: Path) -> dict[str, Any]:
    """A run's JSON object file, or ``{}`` when it is absent (an unfinished run)."""
    doc = read_json(path, path.stem) if path.is_file() else {}
    return doc if isinstance(doc, dict) else {}


def run_kind(run: Path) -> str:
    """``train``, ``darts`` or ``trials``: which command wrote ``run``."""
    if not run.is_dir():
        raise NasError(f"{run}: not a directory")
    if (run / "leaderboard.json").is_file():
        return "trials"
    if (run / "history.jsonl").is_file():
        return "darts"
    if (run / "metrics.jsonl").is_file() or (run / "result.json").is_file() and (run / "config.json").is_file():
        return "train"
    raise NasError(
        f"{run}: not a run directory of nas train or nas search "
        "(expected metrics.jsonl, history.jsonl or leaderboard.json)"
    )


def expand_runs(paths: list[str]) -> list[tuple[str, Path, str]]:
    """``(name, dir, kind)`` of each run; a multi-seed directory (``seed-N/``) expands to its seeds."""
    out = []
    for text in paths:
        run = Path(text)
        seeds = sorted((d for d in run.glob("seed-*") if d.is_dir()), key=lambda d: int(re.sub(r"\D", "", d.name) or 0))
        if run.is_dir() and seeds and not any((run / f).is_file() for f in ("metrics.jsonl", "history.jsonl")):
            out += [(f"{run.name}/{d.name}", d, run_kind(d)) for d in seeds]
        else:
            out.append((run.name or str(run), run, run_kind(run)))
    names = [n for n, _, _ in out]
    if len(set(names)) < len(names):  # same folder names in different places: use the paths
        out = [(str(d), d, k) for _, d, k in out]
    return out


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-") or "run"


def _genotype_of(run: Path, config: Mapping[str, Any] | None = None) -> Any:
    if (run / "genotype.json").is_file():
        return load_genotype_file(run / "genotype.json")
    spec = (config or {}).get("model") or {}
    if spec.get("source") == "genotype" and isinstance(spec.get("genotype"), dict):
        return from_dict(spec["genotype"], source=f"{run / 'config.json'}: model.genotype")
    return None


def _diagram(genotype: Any, figs: Path, stem: str, engine: str) -> Any:
    if genotype is None:
        return None
    kind = {"darts": "normal and reduction cells", "nb201": "cell", "macro": "network skeleton"}[genotype.kind]
    path = draw_genotype(genotype, figs / f"{stem}_genotype.png", engine=engine)
    return Image(path, f"The {kind} of the genotype.")


def _seconds(value: Any) -> str | None:
    if not isinstance(value, (int, float)):
        return None
    s = float(value)
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min" if s < 7200 else f"{s / 3600:.1f} h"


def _kv_table(pairs: list[tuple[str, Any]], caption: str = "") -> Any:
    return Table(["", "value"], [[k, v] for k, v in pairs if v is not None], caption)


# --------------------------------------------------------------------------- #
# Sections per run kind
# --------------------------------------------------------------------------- #


def _train_section(name: str, run: Path, figs: Path, engine: str) -> tuple[Any, float | None]:
    trained = open_run(run)
    config, result = trained.config, trained.result or {}
    rows = read_rows(run / "metrics.jsonl")
    spec = config.get("model") or {}
    model = spec.get("name") if spec.get("source") == "zoo" else spec.get("spec") or spec.get("class")
    ds = config.get("dataset") or {}
    epochs = (
        f"{result['epochs_completed']}/{result['epochs']}" if "epochs" in result else (str(len(rows)) if rows else None)
    )
    pairs = [
        ("model", model),
        ("dataset", ds.get("name")),
        ("parameters", config.get("num_parameters")),
        ("epochs", epochs),
        ("selection", result.get("selection")),
        ("best epoch", result.get("best_epoch")),
        ("best validation top-1 (%)", result.get("best_val_top1")),
        ("test top-1 (%)", result.get("test_top1")),
        ("test top-5 (%)", result.get("test_top5")),
        ("training time", _seconds(result.get("train_time_s"))),
        ("images/s", result.get("images_per_s")),
    ]
    text = f"Training run {run}."
    if not result:
        text += " The run is not complete (no result.json): the numbers are the epochs so far."
    images = []
    if rows:
        images.append(Image(plot_training_curves(rows, figs / f"{_slug(name)}_curves.png"), "Training curves."))
    genotype = _genotype_of(run, config)
    diagram = _diagram(genotype, figs, _slug(name), engine)
    if diagram is not None:
        images.insert(0, diagram)
    section = Section(
        f"Training: {name}",
        text=text,
        code=to_text(genotype) if genotype is not None else "",
        tables=[_kv_table(pairs)],
        images=images,
    )
    value = result.get("test_top1")
    return section, float(value) if isinstance(value, (int, float)) else None


def _op_weight_cells(arch_weights: Mapping[str, Any]) -> dict[str, Any]:
    """The cells' ``[edge][op]`` matrices, without PC-DARTS's per-edge weights (one number per edge)."""
    return {
        cell: rows
        for cell, rows in arch_weights.items()
        if isinstance(rows, list) and rows and all(isinstance(row, list) for row in rows)
    }


def _ops_for(count: int, alphas: Mapping[str, Any]) -> list[str]:
    ops = alphas.get("ops")
    if isinstance(ops, list) and len(ops) == count:
        return [str(o) for o in ops]
    for vocab in (DARTS_SEARCH_OPS, NB201_OPS):
        if len(vocab) == count:
            return list(vocab)
    return [f"op {i}" for i in range(count)]


def _darts_section(name: str, run: Path, figs: Path, engine: str) -> Any:
    history = read_rows(run / "history.jsonl")
    result, config, alphas = (_read_optional(run / name) for name in ("result.json", "config.json", "alphas.json"))
    last = history[-1] if history else {}
    nb201 = result.get("nb201") or last.get("nb201") or {}
    skips = result.get("skip_counts") or last.get("skip_counts") or {}
    pairs = [
        ("space", result.get("space") or config.get("space")),
        ("epochs", result.get("epochs_run", len(history))),
        ("stopped early (DARTS+)", result.get("stopped_early")),
        ("search time", _seconds(result.get("search_time_s") or last.get("elapsed_s"))),
        ("final train accuracy (%)", last.get("train_acc")),
        ("final validation accuracy (%)", last.get("val_acc")),
        ("skip connections", ", ".join(f"{k} {v}" for k, v in skips.items()) or None),
        ("NAS-Bench-201 test accuracy (%)", nb201.get("c10_test") if isinstance(nb201, Mapping) else None),
    ]
    text = f"DARTS search {run}." + ("" if result else " The search is not finished (no result.json).")
    genotype = _genotype_of(run)
    code = result.get("genotype") or last.get("genotype") or ""
    images = []
    diagram = _diagram(genotype, figs, _slug(name), engine)
    if diagram is not None:
        images.append(diagram)
    stem = _slug(name)
    one_based = [{**r, "epoch": int(r.get("epoch", i)) + 1} for i, r in enumerate(history)]
    if history:
        images.append(Image(plot_training_curves(one_based, figs / f"{stem}_search_curves.png"), "Supernet training."))
    weights = [
        {"epoch": r["epoch"], **_op_weight_cells(r["arch_weights"])}
        for r in one_based
        if isinstance(r.get("arch_weights"), dict) and _op_weight_cells(r["arch_weights"])
    ]
    if weights:
        first = next(iter(weights[0][k] for k in weights[0] if k != "epoch"))
        ops = _ops_for(len(first[0]) if first else 0, alphas)
        path = plot_arch_weights(weights, ops, figs / f"{stem}_arch_weights.png")
        caption = "Architecture weights of each edge over the epochs (colour: weight; title: strongest operation)."
        images.append(Image(path, caption))
    counts = [{"epoch": r["epoch"], "skip_counts": r["skip_counts"]} for r in one_based if r.get("skip_counts")]
    if counts:
        limit = (config.get("guards") or {}).get("early_stop_skip") if isinstance(config, Mapping) else None
        path = plot_skip_counts(counts, figs / f"{stem}_skips.png", limit=limit)
        images.append(Image(path, "Skip connections in the derived cell after each epoch (the collapse symptom)."))
    return Section(f"DARTS search: {name}", text=text, code=code, tables=[_kv_table(pairs)], images=images)


def _trial_order(row: Mapping[str, Any]) -> tuple[int, str]:
    text = str(row.get("trial_id") or row.get("key") or "")
    digits = re.findall(r"\d+", text)
    return (int(digits[-1]) if digits else 0, text)


def _trials_section(name: str, run: Path, figs: Path, engine: str) -> Any:
    rows = read_json(run / "leaderboard.json", "leaderboard")
    if not isinstance(rows, list):
        raise NasError(f"{run / 'leaderboard.json'}: expected a list of trials")
    summary = _read_optional(run / "summary.json")
    best = summary.get("best") or {}
    pairs = [
        ("controller", summary.get("controller")),
        ("space", summary.get("space")),
        ("seed", summary.get("seed")),
        ("trials", summary.get("trials", len(rows))),
        ("completed", summary.get("completed")),
        ("stopped early", summary.get("stopped_early")),
        ("failed", summary.get("failed")),
        ("wall time", _seconds(summary.get("wall_time_s"))),
        ("best validation accuracy (%)", best.get("val_accuracy")),
        ("best test accuracy (%)", best.get("test_accuracy")),
    ]
    columns = ["rank", "status", "val_accuracy", "test_accuracy", "params", "flops", "epochs", "genotype"]
    top = [r for r in rows[:15] if isinstance(r, dict)]
    tables = [
        _kv_table(pairs),
        Table.from_records(top, columns, caption=f"Leaderboard (best {len(top)} of {len(rows)})"),
    ]
    stem = _slug(name)
    images = []
    diagram = _diagram(_genotype_of(run), figs, stem, engine)
    if diagram is not None:
        diagram.caption = "The best genotype. " + diagram.caption
        images.append(diagram)
    ordered = sorted((r for r in rows if isinstance(r, dict)), key=_trial_order)
    if any(isinstance(r.get("val_accuracy"), (int, float)) for r in ordered):
        path = plot_search_progress(ordered, figs / f"{stem}_progress.png", metric="val_accuracy")
        images.append(Image(path, "Validation accuracy of each trial and the best so far."))
    # The same trials as the search's own pareto.json: completed (not stopped early by ASHA,
    # whose accuracy is from fewer epochs) and within the constraints (e.g. a parameter budget).
    sized = [
        r
        for r in ordered
        if isinstance(r.get("params"), (int, float))
        and isinstance(r.get("val_accuracy"), (int, float))
        and r.get("status", "completed") == "completed"
        and r.get("feasible", True) is not False
    ]
    if len(sized) >= 2:
        path = plot_pareto(sized, figs / f"{stem}_pareto.png", x="params", y="val_accuracy", label_key="rank")
        caption = (
            "Accuracy against parameters of the completed trials within the constraints; "
            "the Pareto front is labelled with leaderboard ranks."
        )
        images.append(Image(path, caption))
    return Section(f"Search: {name}", text=f"Trial-based search {run}.", code=str(best.get("genotype") or ""),
                   tables=tables, images=images)  # fmt: skip


def build_report(
    runs: list[str], out: str | Path | None = None, *, title: str | None = None, engine: str = "auto"
) -> tuple[Path, Path]:
    """Write the report of ``runs`` and return ``(html, md)`` paths."""
    found = expand_runs(runs)
    out_dir = Path(out) if out is not None else (Path(runs[0]) / "report" if len(runs) == 1 else Path("report"))
    figs = out_dir / "figures"
    figs.mkdir(parents=True, exist_ok=True)
    sections = []
    values: dict[str, list[float]] = {}
    for name, run, kind in found:
        if kind == "train":
            section, value = _train_section(name, run, figs, engine)
            group = name.split("/seed-")[0]  # seeds of one configuration form one bar
            if value is not None:
                values.setdefault(group, []).append(value)
        elif kind == "darts":
            section = _darts_section(name, run, figs, engine)
        else:
            section = _trials_section(name, run, figs, engine)
        sections.append(section)
    if sum(len(v) for v in values.values()) >= 2:
        stats = summarize_runs(values)
        rows = [[s["name"], round(s["mean"], 2), round(s["std"], 2), s["n"]] for s in stats]
        path = plot_run_comparison(values, figs / "comparison.png", ylabel="test top-1 (%)")
        comparison = Section(
            "Comparison",
            text="Test top-1 of the selected weights; mean and sample standard deviation over seeds.",
            tables=[Table(["run", "mean", "std", "seeds"], rows)],
            images=[Image(path, "Mean ± std over seeds; dots are single runs.")],
        )
        sections.insert(0, comparison)
    subtitle = "Runs: " + ", ".join(name for name, _, _ in found)
    return write_report(sections, out_dir, title=title or "NAS report", subtitle=subtitle)


def _output_dir(path: str | Path | None, flag: str = "--out") -> None:
    """An output directory that is a file is a one-line error before any work (not NotADirectoryError at the end)."""
    if path is not None and Path(path).exists() and not Path(path).is_dir():
        raise NasError(f"{flag} {path}: is a file, expected a directory (it is created if missing)")


def cmd_report(args: argparse.Namespace) -> int:
    _output_dir(args.out)
    html_path, md_path = build_report(args.runs, args.out, title=args.title, engine=args.engine)
    print(f"report: {html_path}")
    print(f"markdown: {md_path}")
    return 0


# --------------------------------------------------------------------------- #
# nas cam
# --------------------------------------------------------------------------- #


def _target_class(text: str | None, classes: tuple[str, ...]) -> int | None:
    if text is None:
        return None
    if text in classes:
        return classes.index(text)
    if text.isdigit() and int(text) < len(classes):
        return int(text)
    raise NasError(f"--class: expected a class name or index 0..{len(classes) - 1}, got {text!r}")


def cmd_cam(args: argparse.Namespace) -> int:
    if args.images < 1:
        raise NasError(f"--images: expected a positive integer, got {args.images}")
    loaded = load_run(args.run, checkpoint=args.checkpoint, data_dir=args.data_dir, device="cpu")
    model, data = loaded.model.eval(), loaded.data
    target = _target_class(args.target, tuple(data.classes))
    n = min(args.images, len(data.test_labels))
    idx = torch.randperm(len(data.test_labels), generator=torch.Generator().manual_seed(args.seed))[:n]
    raw = data.test_images[idx]
    labels = data.test_labels[idx]
    mean = torch.tensor(data.mean).view(1, -1, 1, 1)
    std = torch.tensor(data.std).view(1, -1, 1, 1)
    x = (raw.float() / 255.0 - mean) / std
    if args.layer is not None and args.method == "cam":
        raise NasError("--layer: only Grad-CAM takes a layer; use --method gradcam")
    method, result = args.method, None
    if method == "auto" and args.layer is None:
        try:  # CAM when the network ends in global average pooling + linear, else Grad-CAM
            result, method = class_activation_map(model, x, target), "cam"
        except NasError:
            method = "gradcam"
    elif method == "auto":
        method = "gradcam"
    if result is None:
        result = class_activation_map(model, x, target) if method == "cam" else grad_cam(model, x, target, args.layer)
    shown = raw if raw.shape[1] == 3 else raw[:, :1].repeat(1, 3, 1, 1)  # grey images shown in colour maps
    out = Path(args.out) if args.out else Path(args.run) / "cam"
    _output_dir(out)
    paths = save_overlays(
        shown, result.maps, out, predicted=result.predicted, true=labels, class_names=data.classes,
        probabilities=result.probabilities,
    )  # fmt: skip
    label = "CAM" if method == "cam" else "Grad-CAM"
    grid = save_overlay_grid(
        shown, result.maps, out / "cam_grid.png", predicted=result.predicted, true=labels, class_names=data.classes,
        title=f"{label} of {describe_spec(loaded.trained.spec)}: {result.layer}",
    )  # fmt: skip
    correct = int((result.predicted == labels).sum())
    print(f"{label} at {result.layer}: {n} test images, {correct} predicted correctly")
    print(f"images: {out} ({len(paths)} files); sheet: {grid}")
    if sys.stdout.isatty():
        print("captions: predicted class (probability) / true class; red when wrong")
    return 0
