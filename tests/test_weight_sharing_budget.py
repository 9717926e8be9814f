"""The budget table of the weight-sharing searches: which cell a search holds at T seconds."""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
try:
    import weight_sharing_budget as budget
finally:
    sys.path.remove(str(REPO / "benchmarks"))


def _run(**kw: object) -> dict:
    run = {"method": "m", "seed": 0, "cell": "c3", "c10_test": 93.0, "search_time_s": 300.0}
    run.update(per_epoch_cell=["c1", "c2", "c3"], per_epoch_test=[80.0, 90.0, 92.5])
    run.update(kw)
    return run


def test_an_arg_max_search_holds_its_latest_epoch_cell_and_the_final_one_at_its_end() -> None:
    points, spread = budget.timeline(_run(per_epoch_elapsed_s=[50.0, 150.0, 290.0]))
    assert not spread
    assert points == [(50.0, 80.0), (150.0, 90.0), (300.0, 93.0)]
    assert budget.held_at(points, 40.0) is None
    assert budget.held_at(points, 60.0) == 80.0
    assert budget.held_at(points, 299.0) == 90.0
    assert budget.held_at(points, 600.0) == 93.0


def test_a_search_whose_final_cell_is_chosen_otherwise_holds_nothing_before_its_end() -> None:
    points, _ = budget.timeline(_run(cell="other", per_epoch_elapsed_s=[50.0, 150.0, 290.0]))
    assert points == [(300.0, 93.0)]
    assert budget.timeline(_run(per_epoch_cell=[], per_epoch_test=[]))[0] == [(300.0, 93.0)]


def test_files_without_per_epoch_times_spread_them_evenly_and_say_so() -> None:
    points, spread = budget.timeline(_run())
    assert spread
    assert points == [(100.0, 80.0), (200.0, 90.0), (300.0, 93.0)]


def test_rows_count_the_seeds_holding_a_cell_and_the_table_writes(tmp_path: Path) -> None:
    runs = [_run(per_epoch_elapsed_s=[50.0, 150.0, 290.0]), _run(seed=1, cell="x", search_time_s=700.0)]
    rows = budget.rows_of({"runs": runs}, "f.json", [60.0, 600.0, 900.0])
    assert rows[0]["at_60s"] == {"mean": 80.0, "with_a_cell": 1, "of": 2}
    assert rows[0]["at_600s"] == {"mean": 93.0, "with_a_cell": 1, "of": 2}
    assert rows[0]["at_900s"]["with_a_cell"] == 2
    (tmp_path / "weight_sharing_nb201.json").write_text(json.dumps({"runs": runs}))
    out = tmp_path / "budget"
    assert budget.main(["--results", str(tmp_path), "--out", str(out), "--budgets", "60,600"]) == 0
    text = out.with_suffix(".md").read_text()
    assert "| m | 0-1 | yes | 80.00 (1/2) | 93.00 (1/2) | 93.00 |" in text
