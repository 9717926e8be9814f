"""The NAS-Bench-201 protocol: budget, cache of seen cells, reported number, determinism."""

from __future__ import annotations

from pathlib import Path

import pytest

from nas.controllers.base import Controller
from nas.errors import NasError
from nas.genotypes.codec import to_nb201_string
from nas.nb201_protocol import BudgetedSearch, run_search, summarize
from nas.nb201_table import NB201Table
from search_spaces import get_space


@pytest.fixture(scope="module")
def table(nb201_csv: Path) -> NB201Table:
    return NB201Table.load(nb201_csv)


class Scripted(Controller):
    """Proposes a fixed list of decision vectors (cycling) and remembers what it was told."""

    name = "random"  # reuse a registered name for state checks; never registered itself

    def __init__(self, script: list[list[int]]) -> None:
        super().__init__(get_space("nb201"), seed=0)
        self.script = script
        self.told: list[tuple[str, float]] = []

    def _propose_values(self) -> list[int]:
        return list(self.script[self.num_proposed % len(self.script)])

    def _observe_values(self, values: list[int], score: float, metrics: dict[str, float]) -> None:
        self.told.append((to_nb201_string(self.space.from_decisions(values)), score))


def drive(search: BudgetedSearch, table: NB201Table) -> None:
    while (g := search.next_query(lambda g: table.query(g).cost_12ep_s)) is not None:
        rec = table.query(g)
        search.record(g, rec.c10_valid_12ep, rec.c10_test, rec.cost_12ep_s, {"params": rec.params_M})


def test_random_search_respects_the_budget_and_reports_the_test_accuracy_of_the_best_reward(table) -> None:
    result = run_search(table, "random", 0)
    space = get_space("nb201")
    ctrl_cells = []
    from nas.controllers import create_controller

    ctrl = create_controller("random", space, seed=0)
    spent = 0.0
    while True:  # replay the protocol by hand
        arch = to_nb201_string(ctrl.propose())
        if arch in ctrl_cells:
            continue
        cost = table.query(arch).cost_12ep_s
        if spent + cost > 12_000:
            break
        spent += cost
        ctrl_cells.append(arch)
    assert result.queries == len(ctrl_cells) and 80 < result.queries < 130
    assert result.elapsed_s == pytest.approx(spent) and result.elapsed_s <= 12_000
    best = max(ctrl_cells, key=lambda a: table.query(a).c10_valid_12ep)
    assert result.best_arch == best
    assert result.test == table.query(best).c10_test
    assert result.best_reward == table.query(best).c10_valid_12ep
    assert result.stop == "budget"


@pytest.mark.parametrize("name", ["random", "evolution", "reinforce"])
def test_same_seed_same_result(table, name: str) -> None:
    a, b = run_search(table, name, 7), run_search(table, name, 7)
    assert a == b
    assert run_search(table, name, 8) != a


def test_a_known_cell_costs_nothing_is_not_a_new_query_and_is_still_observed(table) -> None:
    cells = [[3, 3, 3, 3, 3, 3], [1, 3, 3, 3, 3, 3], [3, 3, 3, 3, 3, 3], [0, 0, 0, 0, 0, 0]]
    ctrl = Scripted(cells)
    search = BudgetedSearch(ctrl, budget_s=10_000_000, max_stale=5)
    drive(search, table)
    costs = sum(table.query(get_space("nb201").from_decisions(c)).cost_12ep_s for c in cells[:2] + cells[3:])
    assert len(search.queries) == 3  # the repeat of the first cell was free
    assert search.elapsed_s == pytest.approx(costs)
    assert search.stop == "converged"
    first = to_nb201_string(get_space("nb201").from_decisions(cells[0]))
    assert sum(arch == first for arch, _ in ctrl.told) > 1  # told the cached reward again
    assert ctrl.num_observed == ctrl.num_proposed


def test_a_converged_controller_stops_after_max_stale_known_cells(table) -> None:
    ctrl = Scripted([[3, 1, 3, 0, 3, 1]])
    search = BudgetedSearch(ctrl, max_stale=50)
    drive(search, table)
    assert search.stop == "converged" and len(search.queries) == 1 and search.proposals == 51


def test_budget_too_small_for_any_query_is_a_one_line_error(table) -> None:
    search = BudgetedSearch(Scripted([[3, 3, 3, 3, 3, 3]]), budget_s=1.0)
    drive(search, table)
    with pytest.raises(NasError, match="the budget allowed no query"):
        search.result("scripted", 0)
    with pytest.raises(NasError, match="budget_s"):
        BudgetedSearch(Scripted([[0] * 6]), budget_s=0)


def test_best_reward_curve_is_monotone_and_the_test_curve_ends_at_the_mean(table) -> None:
    results = [run_search(table, "evolution", s) for s in range(10)]
    for r in results:
        rewards = [reward for _, _, reward in r.curve]
        assert rewards == sorted(rewards) and rewards[-1] == r.best_reward
    summary = summarize(results)
    means = [p["reward_mean"] for p in summary["curve"] if p["reward_mean"] is not None]
    assert means == sorted(means)
    assert summary["curve"][-1]["test_mean"] == pytest.approx(summary["mean"])
    assert summary["runs"] == 10 and summary["std"] > 0


def test_evolution_and_reinforce_beat_random_over_the_same_seeds(table) -> None:
    seeds = range(30)
    mean = {n: sum(run_search(table, n, s).test for s in seeds) / len(seeds) for n in ("random", "evolution")}
    mean["reinforce"] = sum(run_search(table, "reinforce", s).test for s in seeds) / len(seeds)
    assert mean["evolution"] > mean["random"] + 0.2
    assert mean["reinforce"] > mean["random"]


def test_unreadable_table_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(NasError, match="cannot read it") as err:
        NB201Table.load(tmp_path / "missing.csv")
    assert "\n" not in str(err.value)
    bad = tmp_path / "bad.csv"
    bad.write_text("arch_str,c10_valid\n|x|,1\n", encoding="utf-8")
    with pytest.raises(NasError, match="missing columns"):
        NB201Table.load(bad)
