"""Zero-shot search: trial controllers on Ray Tune whose reward is a zero-cost proxy (``trial.kind: proxy``).

The search runs as ``nas search`` runs it; its leaderboard must hold exactly what
:func:`nas.proxies.score` gives for the same genotypes, seed and minibatch, and its
exported genotype must train with ``nas train``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_tune_search import ray_local, search, write_config  # noqa: F401  (ray_local: a fixture)

from nas.data import load_dataset
from nas.errors import NasError
from nas.genotypes.codec import from_dict, load_genotype_file, to_json
from nas.proxies import sample_batch, score
from nas.tune.config import load_config

REPO = Path(__file__).resolve().parents[1]


def zero_shot_config(data_dir: Path, controller: str = "random", proxy: str = "synflow", **extra) -> dict:
    """A tiny zero-shot NB201 search: 4 trials, small networks, a 16-image minibatch."""
    cfg = {
        "controller": controller,
        "space": "nb201",
        "seed": 3,
        "num_trials": 4,
        "trial": {
            "kind": "proxy",
            "proxy": proxy,
            "proxy_batch_size": 16,
            "recipe": "quick",
            "build_options": {"channels": 8, "cells_per_stage": 1},
        },
        "workers": 2,
        "cpus_per_trial": 1,
        "data_dir": str(data_dir),
    }
    cfg.update(extra)
    return cfg


@pytest.mark.ray
@pytest.mark.data
def test_zero_shot_search_scores_equal_the_proxy_api_and_export_trains(
    tmp_path: Path,
    cifar10_dir: Path,
    ray_local,  # noqa: F811
    capsys,
) -> None:
    cfg = write_config(tmp_path / "c.yaml", zero_shot_config(cifar10_dir, proxy="jacov"))
    run = tmp_path / "run"
    result = search(cfg, run)
    board = json.loads((run / "leaderboard.json").read_text())
    assert (
        len(board) == 4 and {r["status"] for r in board} == {"completed"} and {r["proxy"] for r in board} == {"jacov"}
    )

    data = load_dataset("cifar10", str(cifar10_dir))
    batch = sample_batch(data, 16, 3)
    options = {"channels": 8, "cells_per_stage": 1}
    for r in board:
        expected = score(from_dict(r["genotype_json"]), ["jacov"], batch, 3, build_options=options)["jacov"]
        assert r["val_accuracy"] == pytest.approx(expected, rel=1e-6, abs=1e-9)
    assert [r["val_accuracy"] for r in board] == sorted((r["val_accuracy"] for r in board), reverse=True)
    genotype = load_genotype_file(run)
    assert json.loads(to_json(genotype)) == board[0]["genotype_json"]
    assert result.trials == 4

    # Resuming a finished search runs nothing and keeps the leaderboard.
    again = search(cfg, run)
    assert again.already_finished and json.loads((run / "leaderboard.json").read_text()) == board

    # The exported genotype retrains with `nas train` (1 epoch on a tiny slice).
    from nas.cli import main

    out = tmp_path / "train"
    argv = ["train", "--recipe", "quick", "--genotype", str(run / "genotype.json"), "--data-dir", str(cifar10_dir)]
    argv += ["--set", "train_subset=100", "--set", "test_subset=50", "--set", "val_fraction=0.2"]
    argv += ["--epochs", "1", "--batch-size", "25", "--device", "cpu", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    done = list(out.rglob("result.json"))
    assert done, "nas train wrote no result.json"


@pytest.mark.parametrize(
    ("trial", "needle"),
    [
        ({"kind": "proxy", "proxy": "synflw"}, "trial.proxy: unknown name 'synflw'; did you mean synflow?"),
        ({"kind": "proxy"}, "trial.proxy: trial.kind proxy needs"),
        ({"kind": "proxy", "proxy": "synflow,jacov"}, "trial.proxy: expected one score name"),
        ({"kind": "train", "proxy": "synflow"}, "trial.proxy: only used with trial.kind proxy"),
        ({"kind": "proxy", "proxy": "synflow", "proxy_batch_size": 1}, "trial.proxy_batch_size"),
    ],
)
def test_bad_proxy_settings_are_one_line_errors(trial: dict, needle: str) -> None:
    with pytest.raises(NasError) as err:
        load_config({"controller": "evolution", "space": "nb201", "trial": trial}, source="c.yaml")
    text = str(err.value)
    assert needle in text and "\n" not in text and text.startswith("c.yaml")


def test_unknown_proxy_through_nas_search_is_one_line(tmp_path: Path, capsys) -> None:
    from nas.cli import main

    cfg = write_config(tmp_path / "c.yaml", zero_shot_config(tmp_path, proxy="nope"))
    assert main(["search", "--config", str(cfg), "--out", str(tmp_path / "run")]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and "trial.proxy: unknown name 'nope'" in lines[0]


@pytest.mark.parametrize("name", ["zero_shot_nb201.yaml", "zero_shot_darts.yaml"])
def test_shipped_zero_shot_configs_validate(name: str) -> None:
    from nas.config_io import read_yaml

    config = load_config(read_yaml(REPO / "experiments" / name), source=name)
    assert config.trial.kind == "proxy" and config.trial.proxy == "synflow"


@pytest.mark.data
@pytest.mark.parametrize("space", ["darts", "resnet"])
def test_proxy_trial_of_other_spaces_reports_the_api_score(
    space: str, tmp_path: Path, cifar10_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The trial function itself (no Ray): a DARTS cell and a macro network at the recipe's CPU size."""
    import random

    from nas.genotypes.codec import to_json as genotype_json
    from nas.search_spaces import get_space
    from nas.tune import proxy_trial
    from nas.tune.settings import TrialSettings

    reports: list[dict] = []
    monkeypatch.setattr(proxy_trial.tune, "report", lambda metrics: reports.append(metrics))
    settings = TrialSettings(
        run_dir=str(tmp_path), space=space, seed=1, threads=1, recipe="quick", data_dir=str(cifar10_dir),
        proxy="naswot", proxy_batch_size=8,
    )  # fmt: skip
    genotype = get_space(space).sample(random.Random(0))
    proxy_trial.run({"genotype": genotype_json(genotype), "key": "k"}, settings)
    data = load_dataset("cifar10", str(cifar10_dir))
    options = proxy_trial.build_options(settings, genotype.kind)
    expected = score(genotype, ["naswot"], sample_batch(data, 8, 1), 1, build_options=options)["naswot"]
    (report,) = reports
    assert report["val_accuracy"] == pytest.approx(expected) and report["proxy"] == "naswot" and report["params"] > 0
    assert (tmp_path / "trials" / "k" / "genotype.json").is_file()
    # Asked again (a trial finished just before a kill): its saved result, not a new score.
    monkeypatch.setattr(proxy_trial, "score", lambda *a, **k: pytest.fail("scored again"))
    proxy_trial.run({"genotype": genotype_json(genotype), "key": "k"}, settings)
    assert reports[1] == report
