"""Proxy-assisted evolution as a controller of ``nas search``: the shipped config, on Ray Tune, on the table.

``nas search --config proxy_evolution_nb201`` (found by name among the shipped configs,
scores from the repository's synflow table) must give, seed for seed, exactly what the
in-process protocol (:func:`nas.nb201_protocol.simulate_controller`) gives: the same cells
queried in the same order with the same rewards, and the same reported test accuracy.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_tune_search import ray_local  # noqa: F401  (a fixture)

from nas.cli import main
from nas.config_io import read_yaml
from nas.controllers import create_controller
from nas.controllers.proxy_evolution import REPO_SCORES
from nas.nb201_protocol import simulate_controller
from nas.nb201_table import NB201Table
from nas.search_configs import find_config
from nas.search_spaces import get_space

BUDGET = 6000.0  # simulated seconds: the 20 warm-up cells, then ~10-15 move proposals (~174 s a query)
SEEDS = (0, 1, 2)


@pytest.mark.ray
def test_nas_search_reproduces_the_simulated_protocol(
    tmp_path: Path,
    nb201_csv: Path,
    ray_local,  # noqa: F811
) -> None:
    assert REPO_SCORES.is_file()  # the default scores of the config: the committed synflow table
    argv = ["search", "--config", "proxy_evolution_nb201", "--out", str(tmp_path / "run"), "--no-progress"]
    argv += ["--seeds", ",".join(map(str, SEEDS))]
    argv += ["--set", f"trial.table={nb201_csv}", "--set", f"trial.budget_s={BUDGET}"]
    assert main(argv) == 0

    options = read_yaml(find_config("proxy_evolution_nb201"))["options"]["proxy_evolution"]
    table = NB201Table.load(nb201_csv)
    for seed in SEEDS:
        controller = create_controller("proxy_evolution", get_space("nb201"), seed=seed, options=options)
        expected = simulate_controller(table, controller, seed, budget_s=BUDGET).as_dict()
        expected["curve"] = [list(p) for p in expected["curve"]]
        through_ray = json.loads((tmp_path / "run" / f"seed-{seed}" / "nb201_result.json").read_text())
        assert through_ray == expected
        assert through_ray["controller"] == "proxy_evolution" and through_ray["queries"] > 20


def test_the_config_is_shipped_and_listed(capsys: pytest.CaptureFixture) -> None:
    assert main(["search", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [line.split()[0] for line in lines]
    assert "proxy_evolution_nb201" in names and "zero_shot_nb201" in names and "quickstart" in names
    descriptions = [line.split(maxsplit=1)[1] for line in lines]  # every config has its one-line description
    assert all(d.endswith(".") for d in descriptions), descriptions  # a sentence, not the start of a paragraph
    assert "quick" not in names  # training recipes are not search configs
    path = find_config("proxy_evolution_nb201")
    assert path.parent.name == "search_configs"
    repo_link = Path(__file__).resolve().parents[1] / "experiments" / "proxy_evolution_nb201.yaml"
    assert repo_link.resolve() == path.resolve()  # experiments/ links to the package data


def test_unknown_config_name_is_one_line(capsys: pytest.CaptureFixture) -> None:
    assert main(["search", "--config", "zero_shot_nb2O1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--config 'zero_shot_nb2O1': not found (shipped configs: " in err
    assert main(["search"]) == 2
    assert "nas search --list" in capsys.readouterr().err
