"""benchmarks/plot_results.py draws the results page's plots from the committed result files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks import plot_results  # noqa: E402

RESULTS_PAGE = REPO / "docs" / "results.md"


def _image_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        return image.size


@pytest.fixture(scope="module")
def drawn(tmp_path_factory: pytest.TempPathFactory, nb201_csv: Path) -> Path:
    out = tmp_path_factory.mktemp("img")
    assert plot_results.main(["--out", str(out), "--nb201-table", str(nb201_csv)]) == 0
    return out


def test_every_plot_is_drawn_from_the_committed_files(drawn: Path) -> None:
    assert sorted(p.name for p in drawn.iterdir()) == sorted(plot_results.PLOTS)
    for name in plot_results.PLOTS:
        width, height = _image_size(drawn / name)
        assert width > 400 and height > 200, name


def test_the_results_page_shows_every_plot() -> None:
    text = RESULTS_PAGE.read_text(encoding="utf-8")
    for name in plot_results.PLOTS:
        assert f"(img/{name})" in text, name


def test_without_the_table_the_scatter_figure_says_where_it_looked(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.csv"
    path = plot_results.plot_proxy_scatter(plot_results.RESULTS, tmp_path, None, [missing])
    assert _image_size(path)[1] < 400  # the one-line notice, not the grid of scatter plots


def test_curves_come_from_the_result_files(tmp_path: Path) -> None:
    # A result file with a made-up curve: the plot reads the file given, not figures of its own.
    data = json.loads((plot_results.RESULTS / "nb201_controllers_paper.json").read_text(encoding="utf-8"))
    data["rows"] = data["rows"][:1]
    curve = [{"time_s": 1.0, "test_mean": 50.0}, {"time_s": 2.0, "test_mean": 60.0}]
    data["rows"][0].update(runs=7, mean=55.5, curve=curve)
    for setting in ("paper", "tuned"):
        (tmp_path / f"nb201_controllers_{setting}.json").write_text(json.dumps(data), encoding="utf-8")
    runs, rows = plot_results.controller_curves(tmp_path, "paper")
    assert runs == 7 and rows == [(f"{data['rows'][0]['controller']} (55.50)", data["rows"][0]["curve"])]
    assert _image_size(plot_results.plot_controllers(tmp_path, tmp_path))[0] > 400


def test_bad_arguments_are_one_line_and_status_2(tmp_path: Path) -> None:
    script = REPO / "benchmarks" / "plot_results.py"
    for args in (["--results", str(tmp_path / "none")], ["--nb201-table", str(tmp_path / "none.csv")]):
        done = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=120)
        assert done.returncode == 2
        assert len(done.stderr.strip().splitlines()) == 1 and "plot_results:" in done.stderr
