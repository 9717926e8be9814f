"""The DARTS-space retraining benchmark: one search, every cell trained with one recipe, resumable."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from nas.darts.guards import skip_counts
from nas.errors import NasError
from nas.genotypes.codec import load_genotype_file, to_text
from nas.genotypes.resolve import parse_genotype

REPO = Path(__file__).resolve().parents[1]


def _bench():  # noqa: ANN202 - a module
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import bench_darts_cell_retrain as bench
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    return bench


def test_random_cells_are_seeded_and_distinct_and_the_known_cells_come_first() -> None:
    bench = _bench()
    found = parse_genotype("DARTS_V1")
    cells = bench.candidates(found, 3, 7)
    assert [name for name, _ in cells] == ["quickstart", "DARTS_V2", "random 0", "random 1", "random 2"]
    assert cells[0][1] == found
    again = bench.candidates(found, 3, 7)
    assert [to_text(g) for _, g in cells] == [to_text(g) for _, g in again]
    assert len({to_text(g) for _, g in cells[2:]}) == 3
    shifted = bench.candidates(found, 2, 8)  # random i is drawn with seed random_seed + i
    assert to_text(shifted[2][1]) == to_text(cells[3][1])


def test_summary_ranks_cells_by_mean_test_accuracy() -> None:
    bench = _bench()
    common = {"skips": {"normal": 0, "reduce": 0}, "params": 1, "eval_params": 2, "train_time_s": 1.0}
    rows = [
        {"cell": "a", "test_top1": 50.0, **common},
        {"cell": "b", "test_top1": 60.0, **common},
        {"cell": "a", "test_top1": 80.0, **common},
    ]
    summary = bench.summarize(rows)
    assert [(r["cell"], r["rank"], r["n"]) for r in summary] == [("a", 1, 2), ("b", 2, 1)]
    assert summary[0]["test_top1_mean"] == 65.0


def test_a_bad_override_or_seed_list_is_one_line() -> None:
    with pytest.raises(NasError, match="expected key=value"):
        _bench().main(["--set", "epochs"])
    with pytest.raises(NasError, match="--seeds: expected comma-separated"):
        _bench().main(["--seeds", "0,x"])


@pytest.mark.slow
@pytest.mark.data
def test_tiny_benchmark_searches_trains_every_cell_and_resumes(tmp_path: Path, cifar10_dir: Path) -> None:
    bench = _bench()
    out, results = tmp_path / "runs", tmp_path / "res"
    argv = ["--data-dir", str(cifar10_dir), "--random", "1", "--out", str(out), "--results", str(results)]
    argv += ["--search-set", "epochs=2", "--search-set", "train_subset=100", "--search-set", "supernet.layers=3"]
    argv += ["--set", "epochs=1", "--set", "train_subset=100", "--set", "test_subset=50"]
    assert bench.main(argv) == 0
    written = json.loads(results.with_suffix(".json").read_text())
    found = load_genotype_file(out / "search-seed0" / "genotype.json")
    assert written["search"]["genotype"] == to_text(found)
    assert written["search"]["skips"] == skip_counts(found)
    assert [r["cell"] for r in written["rows"]] == ["quickstart", "DARTS_V2", "random 0"]
    assert sorted(r["rank"] for r in written["summary"]) == [1, 2, 3]
    for row in written["rows"]:
        assert 0.0 <= row["test_top1"] <= 100.0
        assert row["skips"] == skip_counts(parse_genotype(row["genotype"]))
        assert row["params"] < row["eval_params"]  # C=16, 8 cells against C=36, 20 cells
    assert "| rank | cell |" in results.with_suffix(".md").read_text()
    assert bench.main(argv) == 0  # every run directory is finished: nothing is trained again
    again = json.loads(results.with_suffix(".json").read_text())
    assert again["search"]["already_finished"] is True
    assert again["rows"] == written["rows"]  # the same accuracies and recorded times
    assert again["search"]["search_time_s"] == written["search"]["search_time_s"]
