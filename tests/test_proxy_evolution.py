"""Proxy-assisted regularized evolution under the NAS-Bench-201 protocol: warm-up, move proposal, score files."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from nas.controllers.proxy_evolution import ProxyAssistedEvolution, load_scores
from nas.errors import NasError
from nas.genotypes.codec import to_nb201_string
from nas.nb201_protocol import BUDGET_S, simulate_controller
from nas.nb201_table import NB201Table
from nas.search_spaces import get_space

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def table(nb201_csv: Path) -> NB201Table:
    return NB201Table.load(nb201_csv)


@pytest.fixture(scope="module")
def score_file(table: NB201Table, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stand-in proxy table for every cell (score = the table's FLOPs: free, known, not the reward)."""
    path = tmp_path_factory.mktemp("proxy") / "flops.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["arch", "score", "proxy", "seed", "batch_size"])
        for rec in table:
            w.writerow([rec.arch_str, rec.flops_M, "flops", 0, 64])
    return path


def make(score_file: Path, seed: int = 0, **options) -> ProxyAssistedEvolution:
    opts = {"population_size": 10, "sample_size": 3, "scores": str(score_file), **options}
    return ProxyAssistedEvolution(get_space("nb201"), seed=seed, options=opts)


def test_warmup_population_is_the_top_scored_of_the_sample(score_file: Path) -> None:
    ctrl = make(score_file, warmup_samples=300)
    scores = load_scores(score_file)
    first = [ctrl.propose() for _ in range(10)]
    values = [scores[to_nb201_string(g)] for g in first]
    assert values == sorted(values, reverse=True) and len({to_nb201_string(g) for g in first}) == 10
    # The 10 best of 300 random cells by FLOPs are far above a random cell's FLOPs.
    assert min(values) > sorted(scores.values())[len(scores) // 2]


def test_move_proposal_proposes_the_best_scored_unseen_neighbour(score_file: Path) -> None:
    ctrl = make(score_file, move_random_prob=0.0)
    space, scores = get_space("nb201"), load_scores(score_file)
    for g in [ctrl.propose() for _ in range(10)]:
        ctrl.observe(g, 80.0)
    for _ in range(5):
        child = space.to_decisions(ctrl.propose())
        parents = [v for v, _ in ctrl.population if sum(a != b for a, b in zip(v, child)) == 1]
        assert parents, "the child is not a single-decision mutation of a population member"
        best = any(
            scores[to_nb201_string(space.from_decisions(child))]
            >= max(ctrl.score_of(n) for n in ctrl._candidates(p) if tuple(n) not in ctrl.seen or n == child)
            for p in parents
        )
        assert best
        ctrl.observe(space.from_decisions(child), 81.0)


def test_simulated_protocol_is_deterministic_within_budget_and_resumes(table: NB201Table, score_file: Path) -> None:
    opts = {"warmup_samples": 200, "move_candidates": 5}
    a = simulate_controller(table, make(score_file, seed=4, **opts), 4)
    b = simulate_controller(table, make(score_file, seed=4, **opts), 4)
    assert a == b and a.controller == "proxy_evolution" and a.elapsed_s <= BUDGET_S and a.queries > 10
    # The state (warm-up queue included) round-trips: a restored controller proposes the same cells.
    ctrl = make(score_file, seed=1, **opts)
    for g in [ctrl.propose() for _ in range(4)]:
        ctrl.observe(g, 70.0)
    copy = make(score_file, seed=99, **opts)
    copy.load_state_dict(ctrl.state_dict())
    assert [to_nb201_string(ctrl.propose()) for _ in range(8)] == [to_nb201_string(copy.propose()) for _ in range(8)]


def test_missing_cells_and_bad_files_are_one_line_errors(tmp_path: Path) -> None:
    small = tmp_path / "small.csv"
    small.write_text("arch,score\n|none~0|+|none~0|none~1|+|none~0|none~1|none~2|,1.0\n")
    with pytest.raises(NasError, match=r"scores: .*small.csv has no score for \|"):
        make(small, warmup_samples=5)
    (tmp_path / "bad.csv").write_text("cell,value\nx,1\n")
    with pytest.raises(NasError, match="expected a CSV with columns arch and score"):
        make(tmp_path / "bad.csv", warmup_samples=5)
    with pytest.raises(NasError, match="not found"):
        make(tmp_path / "none.csv")


def test_build_proxy_table_appends_and_resumes(tmp_path: Path, cifar10_dir: Path, nb201_csv: Path) -> None:
    out = tmp_path / "t.csv"
    cmd = [sys.executable, str(REPO / "benchmarks" / "build_proxy_table.py"), "--out", str(out)]
    cmd += ["--proxy", "params", "--batch-size", "8", "--table", str(nb201_csv), "--data-dir", str(cifar10_dir)]
    env = {"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    subprocess.run([*cmd, "--limit", "2"], check=True, capture_output=True, env=env)
    done = subprocess.run([*cmd, "--limit", "3"], check=True, capture_output=True, text=True, env=env)
    assert "(1 new, 2 already there)" in done.stdout
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 3 and len({r["arch"] for r in rows}) == 3 and {r["proxy"] for r in rows} == {"params"}
    scores = load_scores(out)
    assert len(scores) == 3 and all(v > 0 for v in scores.values())  # params of the cells' networks
    bad = subprocess.run([*cmd, "--limit", "3", "--seed", "1"], capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "use another file" in bad.stderr
