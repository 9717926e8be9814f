"""Cell diagrams (both engines), plots of plain run data, and the HTML + Markdown report."""

from __future__ import annotations

import base64
import math
import random
import re
import shutil

import numpy as np
import pytest

pytest.importorskip("matplotlib", reason="nas.viz draws with matplotlib (pip install matplotlib)")

from PIL import Image as PILImage  # noqa: E402

from nas.errors import NasError  # noqa: E402
from nas.genotypes import named  # noqa: E402
from nas.genotypes.codec import to_text
from nas.genotypes.types import DARTS_SEARCH_OPS, DartsGenotype  # noqa: E402
from nas.viz import diagrams, layout, plots, search_plots  # noqa: E402
from nas.viz.report import Image, Section, Table, format_value, write_report  # noqa: E402

HAS_DOT = shutil.which("dot") is not None


def _png_ok(path, min_side: int = 200) -> PILImage.Image:
    """A readable PNG that is not blank (some pixels far from white)."""
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = PILImage.open(path).convert("L")
    assert min(img.size) >= min_side
    dark = int((np.asarray(img) < 128).sum())
    assert dark > 100, "image is (almost) blank"
    return img


# --------------------------------------------------------------------------- #
# Diagrams
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("name", ["DARTS_V2", "NB201_best", "resnet20", "googlenet"])
def test_matplotlib_engine_writes_png(tmp_path, name):
    path = diagrams.draw_genotype(named.get(name), tmp_path / f"{name}.png", engine="matplotlib", title=name)
    _png_ok(path)


def test_matplotlib_engine_writes_svg(tmp_path):
    path = diagrams.draw_genotype(named.get("DARTS_V2"), tmp_path / "cell.svg", engine="matplotlib")
    text = path.read_text()
    assert "<svg" in text and "sep_conv_3x3" in text and "dil_conv_3x3" in text


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz 'dot' is not installed (apt-get install graphviz)")
@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_graphviz_engine(tmp_path, suffix):
    path = diagrams.draw_genotype(named.get("PC_DARTS"), tmp_path / f"cell{suffix}", engine="graphviz")
    if suffix == ".png":
        _png_ok(path)
    else:
        assert "<svg" in path.read_text() and "dil_conv_3x3" in path.read_text()


def test_auto_falls_back_to_matplotlib_without_dot(tmp_path, monkeypatch):
    monkeypatch.setattr(diagrams.shutil, "which", lambda _name: None)
    assert not diagrams.graphviz_available()
    with pytest.raises(NasError, match="graphviz"):
        diagrams.draw_genotype(named.get("DARTS_V2"), tmp_path / "a.png", engine="graphviz")
    _png_ok(diagrams.draw_genotype(named.get("DARTS_V2"), tmp_path / "b.png", engine="auto"))


def test_nas_show_draws_a_diagram(tmp_path, capsys):
    from nas.cli import main

    out = tmp_path / "cells" / "nb201.png"
    assert main(["show", "NB201_best", "--diagram", str(out), "--engine", "matplotlib"]) == 0
    assert f"diagram  : {out}" in capsys.readouterr().out
    with PILImage.open(out) as image:
        assert image.width > 200 and image.height > 100
    assert main(["show", "resnet20", "--diagram", str(tmp_path / "r.pdf")]) == 2
    assert "expected a file name ending in .png or .svg" in capsys.readouterr().err


def test_dot_text_has_every_edge_and_concat():
    g = named.get("NASNet")
    dot = diagrams.genotype_to_dot(g)
    for cell, edges, concat in (("normal", g.normal, g.normal_concat), ("reduce", g.reduce, g.reduce_concat)):
        for k, (op, src) in enumerate(edges):
            assert re.search(rf"{cell}_{src} -> {cell}_{k // 2 + 2} \[label=\"{op}\"", dot)
        outs = re.findall(rf"{cell}_(\d+) -> {cell}_out", dot)
        assert sorted(int(n) for n in outs) == sorted(concat)


def test_dot_text_nb201_and_macro():
    dot = diagrams.genotype_to_dot(named.get("NB201_best"))
    assert len(re.findall(r"n\d -> n\d", dot)) == 6
    assert 'n2 -> n3 [label="nor_conv_3x3"' in dot
    macro = diagrams.genotype_to_dot(named.get("densenet_bc_100"))
    # input, stem, three stages, head; two transitions written on the arrows
    assert len(re.findall(r"^\s+b\d+ \[label=", macro, flags=re.M)) == 6
    assert macro.count("transition") == 2 and "stage 3 - densenet" in macro


@pytest.mark.parametrize(
    ("path", "engine", "message"),
    [("x.jpg", "auto", "ending in"), ("x.png", "cairo", "engine")],
)
def test_draw_bad_input(tmp_path, path, engine, message):
    with pytest.raises(NasError, match=message):
        diagrams.draw_genotype(named.get("DARTS_V2"), tmp_path / path, engine=engine)
    with pytest.raises(NasError, match="genotype"):
        diagrams.draw_genotype("DARTS_V2", tmp_path / "x.png")  # type: ignore[arg-type]


def _random_darts(seed: int) -> DartsGenotype:
    r = random.Random(seed)
    steps = r.choice([2, 3, 4, 5])
    edges = [(r.choice(DARTS_SEARCH_OPS[1:]), r.randrange(j + 2)) for j in range(steps) for _ in range(2)]
    consumed = {i for _, i in edges}
    concat = [n for n in range(2, steps + 2) if n not in consumed]
    return DartsGenotype(edges, concat, edges, concat)


def _overlap(a, b) -> bool:
    return not (a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1])


def _graphs(g):
    if g.kind == "darts":
        return [
            layout._darts_graph("n", g.normal, g.normal_concat),
            layout._darts_graph("r", g.reduce, g.reduce_concat),
        ]
    return [layout._nb201_graph(g)]


@pytest.mark.parametrize("seed", range(15))
def test_layout_edges_never_cross_other_nodes(seed):
    for graph in _graphs(_random_darts(seed)):
        layout._route(graph)
        for e in graph.edges:
            others = [n.box() for k, n in graph.nodes.items() if k not in (e.src, e.dst)]
            assert not any(layout._inside(p, box) for p in e.points for box in others), (e.src, e.dst)


@pytest.mark.parametrize("name", ["NASNet", "AmoebaNet", "DARTS_V1", "DARTS_V2", "PC_DARTS", "PDARTS", "NB201_best"])
def test_layout_labels_do_not_overlap_for_published_cells(name):
    for graph in _graphs(named.get(name)):
        layout._route(graph)
        boxes = []
        for e, x, y in layout._place_labels(graph):
            w, h = layout._label_size(e.label)
            boxes.append((x - w / 2, y - h / 2, x + w / 2, y + h / 2))
        assert len(boxes) == sum(1 for e in graph.edges if e.label)
        assert not any(_overlap(boxes[i], boxes[j]) for i in range(len(boxes)) for j in range(i))
        assert not any(_overlap(b, n.box()) for b in boxes for n in graph.nodes.values())


# --------------------------------------------------------------------------- #
# Plots
# --------------------------------------------------------------------------- #


def _metrics(epochs: int = 12):
    return [
        {
            "epoch": e,
            "train_loss": 2 * math.exp(-e / 5),
            "train_top1": 100 - 60 * math.exp(-e / 5),
            "train_top5": 100 - 20 * math.exp(-e / 3),
            "val_loss": 2.1 * math.exp(-e / 6),
            "val_top1": 95 - 60 * math.exp(-e / 6),
            "val_top5": None if e == 3 else 99 - 20 * math.exp(-e / 3),
        }
        for e in range(1, epochs + 1)
    ]


def test_training_curves(tmp_path):
    img = _png_ok(plots.plot_training_curves(_metrics(), tmp_path / "curves.png", title="t"))
    assert img.size[0] > 2 * img.size[1]  # three panels side by side
    only_loss = [{"epoch": 1, "train_loss": 2.0}, {"epoch": 2, "train_loss": 1.0}]
    narrow = _png_ok(plots.plot_training_curves(only_loss, tmp_path / "loss.png"))
    assert narrow.size[0] < img.size[0] / 2  # a single panel
    with pytest.raises(NasError, match="no row has any"):
        plots.plot_training_curves([{"epoch": 1, "lr": 0.1}], tmp_path / "none.png")
    with pytest.raises(NasError, match="ending in"):
        plots.plot_training_curves(_metrics(), tmp_path / "curves.txt")


def test_search_progress(tmp_path):
    trials = [{"val_accuracy": v, "trial_time_s": 10.0} for v in (50, 70, None, 65, 80, 75)]
    _png_ok(search_plots.plot_search_progress(trials, tmp_path / "one.png"))
    _png_ok(search_plots.plot_search_progress({"random": trials, "evolution": trials[::-1]}, tmp_path / "two.png"))
    assert search_plots._best_so_far([50, 70, None, 65, 80], "max") == [50, 70, 70, 70, 80]
    assert search_plots._best_so_far([None, 3.0, 4.0, 1.0], "min") == [None, 3.0, 3.0, 1.0]
    elapsed, kind = search_plots._elapsed(trials, None)
    assert elapsed == [10.0, 20.0, 30.0, 40.0, 50.0, 60.0] and kind.startswith("cumulative")
    with pytest.raises(NasError, match="no trial has a numeric 'loss'"):
        search_plots.plot_search_progress(trials, tmp_path / "x.png", metric="loss")
    with pytest.raises(NasError, match="mode"):
        search_plots.plot_search_progress(trials, tmp_path / "x.png", mode="best")


def test_arch_weights(tmp_path):
    ops = list(DARTS_SEARCH_OPS)
    rng = random.Random(0)
    epochs = [
        {"epoch": e, **{c: [[rng.gauss(0, 1e-3) for _ in ops] for _ in range(14)] for c in ("normal", "reduce")}}
        for e in range(1, 6)
    ]
    _png_ok(search_plots.plot_arch_weights(epochs, ops, tmp_path / "alphas.png"))
    assert search_plots._cell_structure(14) == (2, 4)  # DARTS: 2+3+4+5 edges
    assert search_plots._cell_structure(6) == (1, 3)  # NB201: 1+2+3 edges
    assert search_plots._cell_structure(7) is None
    with pytest.raises(NasError, match="expected 7 weights per edge"):
        search_plots.plot_arch_weights(epochs, ops[:-1], tmp_path / "bad.png")
    ragged = [epochs[0], {"epoch": 2, "normal": epochs[1]["normal"][:13], "reduce": epochs[1]["reduce"]}]
    with pytest.raises(NasError, match="13 edges, epoch 0 has 14"):
        search_plots.plot_arch_weights(ragged, ops, tmp_path / "bad.png")
    with pytest.raises(NasError, match="missing cell type 'reduce'"):
        search_plots.plot_arch_weights([epochs[0], {"normal": epochs[1]["normal"]}], ops, tmp_path / "bad.png")


def test_skip_counts(tmp_path):
    rows = [{"epoch": e, "skip_counts": {"normal": e // 2, "reduce": 0}} for e in range(1, 9)]
    _png_ok(search_plots.plot_skip_counts(rows, tmp_path / "skips.png", limit=2))
    flat = [{"epoch": e, "cell": e % 3} for e in range(1, 5)]  # NB201 counts at top level
    _png_ok(search_plots.plot_skip_counts(flat, tmp_path / "flat.png"))
    with pytest.raises(NasError, match="no row has numeric counts"):
        search_plots.plot_skip_counts([{"epoch": 1}], tmp_path / "x.png")


def test_pareto_front_is_the_non_dominated_set(tmp_path):
    pts = [
        {"name": "a", "params": 1.0, "acc": 90.0},
        {"name": "b", "params": 2.0, "acc": 95.0},
        {"name": "c", "params": 2.0, "acc": 93.0},  # dominated by b (same size, less accurate)
        {"name": "d", "params": 3.0, "acc": 94.0},  # dominated by b
        {"name": "e", "params": 0.5, "acc": 80.0},
        {"name": "f", "params": None, "acc": 99.0},  # ignored: no size
        {"name": "g", "params": 4.0, "acc": 96.0},
    ]
    front = search_plots.pareto_front(pts, "params", "acc")
    assert [pts[i]["name"] for i in front] == ["e", "a", "b", "g"]
    # brute force: nothing on the front is dominated, everything off it is
    ok = [i for i, p in enumerate(pts) if p["params"] is not None]
    for i in ok:
        dominated = any(
            pts[j]["params"] <= pts[i]["params"]
            and pts[j]["acc"] >= pts[i]["acc"]
            and (pts[j]["params"], pts[j]["acc"]) != (pts[i]["params"], pts[i]["acc"])
            for j in ok
        )
        assert dominated == (i not in front)
    _png_ok(search_plots.plot_pareto(pts, tmp_path / "pareto.png", x="params", y="acc"))
    with pytest.raises(NasError, match="no point has numeric"):
        search_plots.plot_pareto([{"params": 1}], tmp_path / "x.png")


def test_run_comparison(tmp_path):
    stats = plots.summarize_runs({"A": [1.0, 2.0, 3.0], "B": [5.0]})
    assert stats[0]["mean"] == 2.0 and stats[0]["std"] == pytest.approx(1.0) and stats[0]["n"] == 3
    assert stats[1] == {"name": "B", "mean": 5.0, "std": 0.0, "n": 1, "values": [5.0]}
    rows = [{"name": "x", "seed": s, "test_top1": 90 + s} for s in range(3)] + [{"name": "y", "test_top1": 91.0}]
    stats = plots.summarize_runs(rows)
    assert [s["name"] for s in stats] == ["x", "y"] and stats[0]["mean"] == 91.0
    _png_ok(plots.plot_run_comparison(rows, tmp_path / "cmp.png", ylabel="test top-1 (%)"))
    with pytest.raises(NasError, match="missing 'name'"):
        plots.summarize_runs([{"test_top1": 1.0}])
    with pytest.raises(NasError, match="no numeric"):
        plots.summarize_runs({"A": []})


# --------------------------------------------------------------------------- #
# Report
# --------------------------------------------------------------------------- #


def test_format_value():
    assert format_value(None) == "-"
    assert format_value(1234567) == "1,234,567"
    assert format_value(94.3712) == "94.37"
    assert format_value(0.0251) == "0.0251"
    assert format_value(3.3e6) == "3,300,000"
    assert format_value(float("nan")) == "-"
    assert format_value(True) == "yes"


def test_report_html_is_self_contained_and_md_matches(tmp_path):
    figure = plots.plot_training_curves(_metrics(), tmp_path / "figs" / "curves.png")
    svg = diagrams.draw_genotype(named.get("NB201_best"), tmp_path / "figs" / "cell.svg", engine="matplotlib")
    sections = [
        Section(
            "Best genotype",
            text="Found by <random> search.\n\nSecond paragraph.",
            code="|nor_conv_3x3~0|+|...|",
            tables=[Table.from_records([{"name": "a|b", "params": 1234, "acc": 94.25}], caption="leaderboard")],
            images=[Image(svg, "the cell")],
        ),
        {"title": "Training", "images": [{"path": figure, "caption": "curves"}]},
    ]
    html_path, md_path = write_report(sections, tmp_path / "out", title="Run report", subtitle="seed 0")
    html = html_path.read_text()
    # every image is inline; nothing refers to another file
    srcs = re.findall(r'src="([^"]+)"', html)
    assert len(srcs) == 2 and all(s.startswith("data:image/") for s in srcs)
    png_b64 = re.search(r'src="data:image/png;base64,([^"]+)"', html).group(1)
    assert base64.b64decode(png_b64) == figure.read_bytes()
    assert "&lt;random&gt;" in html and "<random>" not in html  # escaped text
    assert html.count("<p>") == 2 and html.count('<p class="subtitle">seed 0</p>') == 1
    assert '<td class="num">1,234</td>' in html and "<td>a|b</td>" in html
    assert 'href="#best-genotype"' in html and 'id="training"' in html
    md = md_path.read_text()
    assert "## Best genotype" in md and "## Training" in md
    assert "| a\\|b | 1,234 | 94.25 |" in md
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert len(links) == 2
    for link in links:
        assert (md_path.parent / link).is_file()
    assert (md_path.parent / links[1]).read_bytes() == figure.read_bytes()
    assert "```\n|nor_conv_3x3~0|+|...|\n```" in md


def test_report_bad_input(tmp_path):
    with pytest.raises(NasError, match="image not found"):
        write_report([Section("A", images=[Image(tmp_path / "missing.png")])], tmp_path)
    assert not (tmp_path / "report.html").exists()  # checked before writing
    with pytest.raises(NasError, match="unknown keys"):
        write_report([{"title": "A", "figures": []}], tmp_path)
    with pytest.raises(NasError, match="2 values for 3 columns"):
        Table(["a", "b", "c"], [[1, 2]])
    with pytest.raises(NasError, match="stem"):
        write_report([], tmp_path, stem="../x")


# --------------------------------------------------------------------------- #
# nas report (run directories written here in the writers' formats; the slow test uses the writers)
# --------------------------------------------------------------------------- #


def _write_train_run(run, *, test_top1: float, genotype: str | None = None) -> None:
    import json

    from nas.genotypes.codec import save_genotype
    from nas.trainer import resolve_spec

    run.mkdir(parents=True)
    spec = resolve_spec(genotype=genotype) if genotype else resolve_spec(model="resnet20")
    config = {
        "model": spec,
        "dataset": {"name": "cifar10", "num_classes": 10, "in_channels": 3},
        "train": {},
        "num_parameters": 272474,
    }
    (run / "config.json").write_text(json.dumps(config))
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _metrics(4)))
    result = {
        "epochs": 4,
        "epochs_completed": 4,
        "selection": "best_val",
        "best_epoch": 4,
        "best_val_top1": 90.0,
        "test_top1": test_top1,
        "test_top5": 99.0,
        "train_time_s": 95.0,
        "images_per_s": 800.0,
    }
    (run / "result.json").write_text(json.dumps(result))
    if genotype:
        save_genotype(named.get(genotype), run / "genotype.json")


def _write_darts_run(run) -> None:
    import json

    from nas.genotypes.codec import save_genotype, to_darts_text

    run.mkdir(parents=True)
    g = named.get("DARTS_V2")
    rng = random.Random(0)
    history = []
    for e in range(3):
        weights = {}
        for cell in ("normal", "reduce"):
            rows = [[rng.random() for _ in DARTS_SEARCH_OPS] for _ in range(5)]  # a two-node search cell
            weights[cell] = [[v / sum(r) for v in r] for r in rows]
            weights[f"{cell}_edges"] = [rng.random() for _ in rows]  # PC-DARTS edge normalisation: one per edge
        history.append(
            {
                "epoch": e,
                "train_loss": 2.0 - e / 2,
                "train_acc": 30.0 + 10 * e,
                "val_loss": 2.1 - e / 2,
                "val_acc": 28.0 + 9 * e,
                "genotype": to_darts_text(g),
                "skip_counts": {"normal": e, "reduce": 1},
                "arch_weights": weights,
                "elapsed_s": 10.0 * (e + 1),
            }
        )
    (run / "history.jsonl").write_text("".join(json.dumps(r) + "\n" for r in history))
    (run / "alphas.json").write_text(json.dumps({"ops": list(DARTS_SEARCH_OPS)}))
    (run / "result.json").write_text(
        json.dumps(
            {
                "space": "darts",
                "epochs_run": 3,
                "stopped_early": False,
                "genotype": to_darts_text(g),
                "skip_counts": {"normal": 2},
            }
        )
    )
    save_genotype(g, run / "genotype.json")


def _write_trials_run(run) -> None:
    import json

    from nas.genotypes.codec import save_genotype

    run.mkdir(parents=True)
    g = named.get("NB201_best")
    rows = [
        {
            "rank": 0,
            "status": "completed",
            "val_accuracy": 60.0 + (7 * i) % 30,
            "test_accuracy": None,
            "params": 1000 * (i + 1),
            "flops": None,
            "trial_time_s": 5.0,
            "genotype": to_text(g),
            "trial_id": f"x_{i:05d}",
        }
        for i in range(8)
    ]
    rows.sort(key=lambda r: -r["val_accuracy"])
    for i, r in enumerate(rows, 1):
        r["rank"] = i
    (run / "leaderboard.json").write_text(json.dumps(rows))
    summary = {"controller": "random", "space": "nb201", "trials": 8, "best": {**rows[0]}}
    (run / "summary.json").write_text(json.dumps(summary))
    save_genotype(g, run / "genotype.json")


def test_report_command_on_every_run_kind(tmp_path):
    from nas.commands.report import build_report, expand_runs

    _write_train_run(tmp_path / "r20" / "seed-0", test_top1=91.0)
    _write_train_run(tmp_path / "r20" / "seed-1", test_top1=92.0)
    _write_train_run(tmp_path / "nb201", test_top1=93.5, genotype="NB201_best")
    _write_darts_run(tmp_path / "search")
    _write_trials_run(tmp_path / "trials")
    runs = [str(tmp_path / n) for n in ("r20", "nb201", "search", "trials")]
    assert [(n, k) for n, _, k in expand_runs(runs)] == [
        ("r20/seed-0", "train"),
        ("r20/seed-1", "train"),
        ("nb201", "train"),
        ("search", "darts"),
        ("trials", "trials"),
    ]
    html_path, md_path = build_report(runs, tmp_path / "out", title="All kinds", engine="matplotlib")
    md = md_path.read_text()
    titles = re.findall(r"^## (.+)$", md, flags=re.M)
    assert titles == [
        "Comparison",
        "Training: r20/seed-0",
        "Training: r20/seed-1",
        "Training: nb201",
        "DARTS search: search",
        "Search: trials",
    ]
    assert "| r20 | 91.50 | 0.71 | 2 |" in md  # mean and sample std of 91 and 92
    assert "| nb201 | 93.50 | 0.00 | 1 |" in md
    figures = sorted(p.name for p in (tmp_path / "out" / "figures").iterdir())
    for name in (
        "comparison.png",
        "search_arch_weights.png",
        "search_skips.png",
        "search_genotype.png",
        "trials_progress.png",
        "trials_pareto.png",
        "nb201_genotype.png",
        "r20-seed-0_curves.png",
    ):
        assert name in figures
    for link in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md):
        assert (md_path.parent / link).is_file()
    html = html_path.read_text()
    assert html.count("data:image/png;base64,") == len(figures)


def test_report_command_errors(tmp_path):
    from nas.commands.report import build_report

    (tmp_path / "empty").mkdir()
    with pytest.raises(NasError, match="not a run directory"):
        build_report([str(tmp_path / "empty")], tmp_path / "out")
    with pytest.raises(NasError, match="not a directory"):
        build_report([str(tmp_path / "missing")], tmp_path / "out")
    run = tmp_path / "broken"
    run.mkdir()
    (run / "leaderboard.json").write_text("{not json")
    with pytest.raises(NasError, match="leaderboard.json: cannot read"):
        build_report([str(run)], tmp_path / "out")


def test_report_of_a_real_darts_search(tmp_path):
    from nas.commands.report import build_report
    from nas.darts.config import load_config
    from nas.darts.search import run_search

    raw = {
        "controller": "darts",
        "space": "darts",
        "dataset": "synthetic",
        "train_subset": 20,
        "epochs": 2,
        "supernet": {"channels": 2, "layers": 3, "steps": 2, "multiplier": 2, "stem_multiplier": 1},
        "batch_size": 10,
        "threads": 1,
        "seed": 0,
    }
    run_search(load_config(raw), tmp_path / "run", progress=False, echo=lambda _s: None)
    _, md_path = build_report([str(tmp_path / "run")], tmp_path / "out", engine="matplotlib")
    figures = {p.name for p in (tmp_path / "out" / "figures").iterdir()}
    assert {"run_arch_weights.png", "run_skips.png", "run_search_curves.png", "run_genotype.png"} <= figures
