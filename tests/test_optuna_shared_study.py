"""Ray Tune's Optuna searcher on a study shared by several searches: each new ask is seeded by the
study's size, so two searches with the same seed do not train the same architectures, a search
restored from an older saved state does not draw an architecture it already trained, and one
search alone stays reproducible. (The multi-process version, on PostgreSQL: tests/test_postgres.py.)"""

from __future__ import annotations

from pathlib import Path

from search_runs import search_config

from nas.tune.config import load_config
from nas.tune.tuner import optuna_searcher


def _searcher(tmp_path: Path, run: str, db: Path, sampler: str = "random"):
    optuna = {"study_name": "shared", "sampler": sampler, "storage": f"sqlite:///{db}"}
    cfg = search_config(tmp_path, controller="optuna", workers=1, options={"optuna": optuna})
    (tmp_path / run).mkdir(exist_ok=True)
    return optuna_searcher(load_config(cfg), tmp_path / run, run_id=run)


def _run(searcher, n: int, tag: str) -> list[str]:
    out = []
    for i in range(n):
        s = searcher.suggest(f"{tag}{i}")
        searcher.on_trial_complete(f"{tag}{i}", {"val_accuracy": 10.0 + i, "epoch": 1, "epochs_total": 1})
        out.append(s["genotype"])
    return out


def test_two_searches_with_one_seed_on_one_study_draw_different_architectures(tmp_path: Path) -> None:
    for sampler in ("random", "tpe"):
        db = tmp_path / f"{sampler}.db"
        a, b = _searcher(tmp_path, f"a-{sampler}", db, sampler), _searcher(tmp_path, f"b-{sampler}", db, sampler)
        drawn = []
        for i in range(3):  # interleaved, as two processes asking one PostgreSQL study
            drawn += _run(a, 1, f"a{i}-") + _run(b, 1, f"b{i}-")
        assert len(set(drawn)) == 6, sampler  # with one sampler RNG each, a and b drew the same six


def test_a_restored_search_does_not_draw_what_it_trained_after_its_saved_state(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    s = _searcher(tmp_path, "r", db)
    first = _run(s, 1, "x")
    s.save(str(tmp_path / "searcher.pkl"))  # Tune's experiment state, saved every ~10 s
    later = _run(s, 2, "y")  # trained, then the driver is killed before the next save
    restored = _searcher(tmp_path, "r", db)
    restored.restore(str(tmp_path / "searcher.pkl"))  # its sampler's RNG is back to where it was at the save
    again = _run(restored, 3, "z")
    assert again[:2] == later  # the trials asked after the save are handed out again (their files are done) ...
    assert again[2] not in first + later  # ... and the next new ask is not one of them drawn again


def test_one_search_alone_is_reproducible(tmp_path: Path) -> None:
    drawn = []
    for name in ("one", "two"):  # the same search in two run directories, each with its own study
        (tmp_path / name).mkdir()
        drawn.append(_run(_searcher(tmp_path / name, "a", tmp_path / name / "optuna.db"), 4, "t"))
    assert drawn[0] == drawn[1] and len(set(drawn[0])) == 4
