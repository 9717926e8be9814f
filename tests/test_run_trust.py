"""Run directories are a trust boundary: no planted pickle runs, no password is written, Ray's files are private."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from nas.cli import main
from nas.tune.trust import DIGEST_FILE

REPO = Path(__file__).resolve().parents[1]


class _Planted:
    """Unpickling this creates ``marker``: the code a planted pickle would run."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):  # noqa: ANN204
        return (open, (self.marker, "w"))


def _config(tmp_path: Path, table: Path, **extra: object) -> Path:
    cfg = {
        "controller": "random",
        "space": "nb201",
        "num_trials": 3,
        "workers": 1,
        "trial": {"kind": "nb201_table", "table": str(table), "budget_s": 3000},
        **extra,
    }
    path = tmp_path / "search.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory, nb201_csv: Path) -> tuple[Path, Path]:
    """A finished trial search (NAS-Bench-201 table lookups, ~15 s) and its config, run as a child process."""
    root = tmp_path_factory.mktemp("trust")
    config, run = _config(root, nb201_csv), root / "run"
    env = {**os.environ, "PYTHONPATH": str(REPO), "RAY_USAGE_STATS_ENABLED": "0"}
    cmd = [sys.executable, "-m", "nas.cli", "search", "--config", str(config), "--out", str(run), "--no-progress"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return config, run


def _copy(run: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(run, copy, symlinks=True, ignore=shutil.ignore_patterns("ray"))
    return copy


def _resume(capsys: pytest.CaptureFixture, config: Path, run: Path) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["search", "--config", str(config), "--out", str(run), "--no-progress"])
    return code, capsys.readouterr().err


def test_every_file_a_restore_unpickles_has_a_recorded_digest(finished: tuple[Path, Path]) -> None:
    from nas.tune.trust import sha256, unpickled_files

    _config_path, run = finished
    files = json.loads((run / DIGEST_FILE).read_text())["files"]
    names = unpickled_files(run / "tune")
    assert {"tuner.pkl"} < {n.as_posix() for n in names}
    assert any(n.name.startswith("experiment_state-") for n in names)
    for name in names:
        assert sha256(run / "tune" / name) in files[name.as_posix()], name


def test_ray_temp_dir_is_private(finished: tuple[Path, Path]) -> None:
    _config_path, run = finished
    assert (run / "ray").stat().st_mode & 0o777 == 0o700  # Ray makes its own dir inside 0o777


@pytest.mark.parametrize(
    "plant",
    [
        "tuner.pkl",  # what Tuner.restore unpickles first
        "searcher-state",  # the searcher's state
        "trial_error",  # a failed trial's pickled error, below a trial directory
        "new_pickle",  # a pickle Tune would find by its name pattern
    ],
)
def test_a_planted_pickle_is_refused_and_never_runs(
    finished: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture, plant: str
) -> None:
    config, original = finished
    run = _copy(original, tmp_path)
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Planted(marker))
    tune_dir = run / "tune"
    target = {
        "tuner.pkl": tune_dir / "tuner.pkl",
        "searcher-state": next(tune_dir.glob("searcher-state-*.pkl")),
        "trial_error": next(p for p in tune_dir.iterdir() if p.name.startswith("trial_")) / "error.pkl",
        "new_pickle": tune_dir / "callback-states-2026-01-01_00-00-00.pkl",
    }[plant]
    target.write_bytes(payload)
    code, err = _resume(capsys, config, run)
    lines = [x for x in err.splitlines() if x.strip()]
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith(f"nas search: error: {target}: refusing to resume: it was not written by this toolkit")
    assert not marker.exists()


def test_an_edited_experiment_state_is_refused(
    finished: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    config, original = finished
    run = _copy(original, tmp_path)
    state = next((run / "tune").glob("experiment_state-*.json"))
    state.write_text(state.read_text().replace('"', '"', 1) + " ")
    code, err = _resume(capsys, config, run)
    assert code == 2 and f"{state}: refusing to resume" in err


def test_a_run_without_digests_is_refused(finished: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    config, original = finished
    run = _copy(original, tmp_path)
    (run / DIGEST_FILE).unlink()
    code, err = _resume(capsys, config, run)
    assert code == 2 and f"{run / DIGEST_FILE} is missing" in err and "refusing to resume" in err


def test_an_untouched_run_is_still_reported(finished: tuple[Path, Path], capsys: pytest.CaptureFixture) -> None:
    config, run = finished
    capsys.readouterr()
    code = main(["search", "--config", str(config), "--out", str(run), "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "best: val" in out


@pytest.mark.parametrize("flag", ["--storage", "--set"])
def test_a_storage_password_is_never_written_even_when_the_connection_fails(
    tmp_path: Path, nb201_csv: Path, capsys: pytest.CaptureFixture, flag: str
) -> None:
    secret = "s3cr3t-Pa55"
    config = _config(tmp_path, nb201_csv, controller="optuna")
    url = f"postgresql://nas:{secret}@127.0.0.1:1/db"  # nothing answers on port 1
    run = tmp_path / "run"
    args = ["--storage", url] if flag == "--storage" else ["--set", f"options.optuna.storage={url}"]
    capsys.readouterr()
    code = main(["search", "--config", str(config), "--out", str(run), "--no-progress", *args])
    out, err = capsys.readouterr()
    assert code == 2 and "no database server answers at 127.0.0.1:1" in err
    assert secret not in out + err
    for path in [run, *run.rglob("*")] if run.exists() else []:
        assert not path.is_file() or secret.encode() not in path.read_bytes(), path
