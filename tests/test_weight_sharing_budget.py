"""The gathered weight-sharing table: every file's rows, one definition of the cell held at T seconds."""

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


def _run(seed: int, **kw: object) -> dict:
    run = {"method": "m", "seed": seed, "cell": "c3", "c10_test": 93.0, "search_time_s": 300.0, "skips": 0}
    run.update(percentile=90.0, time_per_step_s=1.0, selection="argmax")
    run.update(per_epoch_cell=["c1", "c2", "c3"], per_epoch_test=[80.0, 90.0, 93.0])
    run.update(per_epoch_elapsed_s=[50.0, 150.0, 290.0])
    run.update(kw)
    return run


def test_gathered_rows_use_the_benchmarks_definition_and_name_their_file(tmp_path: Path) -> None:
    runs = [_run(0), _run(1, per_epoch_elapsed_s=[70.0, 170.0, 290.0], c10_test=92.0, per_epoch_test=[84, 88, 92])]
    held = [_run(10, method="m", selection="zero_cost_pt", search_time_s=200.0)]
    (tmp_path / budget.WEIGHT_SHARING_FILES[0]).write_text(json.dumps({"runs": runs}))
    (tmp_path / budget.HELD_OUT_FILES[0]).write_text(json.dumps({"runs": held}))
    out = tmp_path / "table"
    assert budget.main(["--results", str(tmp_path), "--out", str(out)]) == 0
    rows = json.loads(out.with_suffix(".json").read_text())["rows"]
    assert [(r["method"], r["seeds"], r["file"]) for r in rows] == [
        ("m", [0, 1], budget.WEIGHT_SHARING_FILES[0]),
        ("m (held-out seeds)", [10], budget.HELD_OUT_FILES[0]),
    ]
    assert rows[0]["c10_test_at_60s"] is None  # seed 1 holds no cell at 60 s
    assert rows[0]["c10_test_at_180s"] == 89.0  # 90 (seed 0, epoch 2) and 88 (seed 1, epoch 2)
    assert rows[0]["c10_test_at_600s"] == 92.5
    assert (
        rows[1]["c10_test_at_180s"] is None and rows[1]["c10_test_at_600s"] == 93.0
    )  # a PT selection: only at its end
    text = out.with_suffix(".md").read_text()
    assert "| m | 0-1 | 92.50 ± 0.71 | 92.00 | - | 89.00 | 92.50 | 300 |" in text


def test_a_file_without_per_epoch_times_is_marked() -> None:
    old = [_run(0, per_epoch_elapsed_s=None)]
    for r in old:
        del r["per_epoch_elapsed_s"]
    rows = budget.rows_of({"runs": old}, "old.json")
    assert rows[0]["per_epoch_times"] is False
    assert "| m* | 0 |" in budget.markdown(rows)


def test_rows_measured_before_a_default_changed_carry_the_name_of_what_they_ran() -> None:
    zc = [_run(s, method="Zero-Cost-PT (CPU size)", selection="zero_cost_pt") for s in (0, 1)]
    rows = budget.rows_of({"runs": zc}, "weight_sharing_nb201_zero_cost_pt.json")
    assert rows[0]["method"] == "Zero-Cost-PT (CPU size, per-unit codes, streamed validation)"
    held = budget.rows_of({"runs": zc}, "weight_sharing_nb201_zero_cost_pt_heldout.json", held_out=True)
    assert held[0]["method"] == "Zero-Cost-PT (CPU size, per-unit codes, streamed validation) (held-out seeds)"
    assert budget.rows_of({"runs": zc}, "weight_sharing_nb201_zero_cost_pt_new.json")[0]["method"] == (
        "Zero-Cost-PT (CPU size)"
    )
