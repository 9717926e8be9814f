"""One run per directory: the run lock, between real processes, and every job taking it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from nas.cli import main
from nas.errors import NasError
from nas.runs import lock
from nas.runs.lock import LOCK_NAME, RunLock

REPO = Path(__file__).resolve().parents[1]

HOLDER = """
import sys
from nas.runs.lock import hold
with hold(sys.argv[1]):
    print("held", flush=True)
    sys.stdin.readline()
print("released", flush=True)
"""


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "LOCAL_RANK")}
    env["PYTHONPATH"] = str(REPO)
    return env


@contextlib.contextmanager
def holding(run: Path) -> Iterator[tuple[Path, subprocess.Popen]]:
    """Another process holding the lock of ``run`` until its stdin is closed."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(run)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        yield run, proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen]]:
    with holding(tmp_path / "run") as held:
        yield held


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _plant(run: Path, **owner: object) -> Path:
    run.mkdir(parents=True, exist_ok=True)
    path = run / LOCK_NAME
    path.write_text(json.dumps({"host": socket.gethostname(), "started": "2026-01-01T00:00:00", **owner}))
    return path


def test_lock_is_json_naming_this_process_and_released(tmp_path: Path) -> None:
    with lock.hold(tmp_path / "run"):
        owner = json.loads((tmp_path / "run" / LOCK_NAME).read_text())
        assert owner["pid"] == os.getpid() and owner["host"] == socket.gethostname() and owner["started"]
        assert [p.name for p in (tmp_path / "run").iterdir()] == [LOCK_NAME]  # no temporary file left
    assert not (tmp_path / "run" / LOCK_NAME).exists()


def test_a_live_lock_of_another_process_is_refused_in_one_line(holder: tuple[Path, subprocess.Popen]) -> None:
    run, proc = holder
    with pytest.raises(NasError) as info:
        RunLock(run).acquire()
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{run}: in use by another process")
    assert f"{proc.pid}@{socket.gethostname()}" in message
    assert proc.stdin is not None
    proc.stdin.close()  # the holder releases; now the lock is free
    assert proc.stdout is not None and proc.stdout.readline().strip() == "released"
    proc.wait(timeout=30)
    with lock.hold(run):
        assert json.loads((run / LOCK_NAME).read_text())["pid"] == os.getpid()


def test_a_killed_holder_leaves_a_stale_lock_that_is_taken_over_with_a_warning(
    holder: tuple[Path, subprocess.Popen],
) -> None:
    run, proc = holder
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert json.loads((run / LOCK_NAME).read_text())["pid"] == proc.pid  # SIGKILL released nothing
    warnings: list[str] = []
    with lock.hold(run, warn=warnings.append):
        assert json.loads((run / LOCK_NAME).read_text())["pid"] == os.getpid()
    [line] = warnings
    assert line.startswith(f"{run}: taking over the lock of a process that is gone ({proc.pid}@")


def test_a_reused_pid_is_not_the_lock_owner(tmp_path: Path) -> None:
    # our own PID, but another start time: the PID was recycled after the owner died
    _plant(tmp_path / "run", pid=os.getpid(), proc_start="1")
    warnings: list[str] = []
    with lock.hold(tmp_path / "run", warn=warnings.append):
        pass
    assert len(warnings) == 1 and "gone" in warnings[0]


def test_a_lock_from_another_host_is_respected(tmp_path: Path) -> None:
    path = _plant(tmp_path / "run", pid=_dead_pid(), host="node-7.cluster")
    with pytest.raises(NasError, match=r"in use by another process \(\d+@node-7.cluster.*delete .*\.nas\.lock"):
        RunLock(tmp_path / "run").acquire()
    assert path.exists()  # not touched


def test_an_unreadable_lock_is_respected_while_young_and_taken_over_when_old(tmp_path: Path) -> None:
    path = tmp_path / "run" / LOCK_NAME
    path.parent.mkdir()
    path.write_text("{")  # half-written by a create-then-write file system
    with pytest.raises(NasError, match="creating the run lock"):
        RunLock(tmp_path / "run").acquire()
    os.utime(path, (time.time() - 3600, time.time() - 3600))
    warnings: list[str] = []
    with lock.hold(tmp_path / "run", warn=warnings.append):
        pass
    assert len(warnings) == 1 and "unreadable lock file" in warnings[0]


def test_a_file_given_as_run_directory_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(NasError, match="is a file, expected a run directory"):
        RunLock(tmp_path / "file").acquire()


@pytest.mark.parametrize(
    ("env", "takes"), [({"RANK": "1"}, False), ({"LOCAL_RANK": "2"}, False), ({"RANK": "0"}, True)]
)
def test_only_rank_0_of_a_torchrun_job_takes_the_lock(
    holder: tuple[Path, subprocess.Popen], monkeypatch: pytest.MonkeyPatch, env: dict[str, str], takes: bool
) -> None:
    run, _proc = holder
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    if takes:
        with pytest.raises(NasError, match="in use by another process"), lock.hold(run):
            pass
    else:
        with lock.hold(run):  # a non-zero rank belongs to the run rank 0 locked
            pass
        assert (run / LOCK_NAME).exists()


def test_racing_processes_get_the_lock_one_at_a_time(tmp_path: Path) -> None:
    """Eight processes start together on a stale lock; never two inside at once."""
    _plant(tmp_path / "run", pid=_dead_pid())
    script = """
import os, sys, time
from nas.errors import NasError
from nas.runs.lock import hold
run, log = sys.argv[1], sys.argv[2]
for _ in range(200):
    try:
        with hold(run, warn=lambda m: None):
            with open(log, "a") as f: f.write(f"in {os.getpid()}\\n")
            time.sleep(0.05)
            with open(log, "a") as f: f.write(f"out {os.getpid()}\\n")
        break
    except NasError:
        time.sleep(0.02)
"""
    log = tmp_path / "log"
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "run"), str(log)], env=_env()) for _ in range(8)
    ]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    lines = log.read_text().split()
    events = list(zip(lines[0::2], lines[1::2]))
    assert len(events) == 16
    for enter, leave in zip(events[0::2], events[1::2]):  # strictly alternating in/out of one process
        assert enter[0] == "in" and leave == ("out", enter[1])


# --------------------------------------------------------------------------- #
# every job takes it: nas train, nas search (DARTS and trial-based), nas.search
# --------------------------------------------------------------------------- #


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


def _darts_config(tmp_path: Path) -> Path:
    path = tmp_path / "darts.yaml"
    path.write_text(yaml.safe_dump({"controller": "darts", "epochs": 1, "train_subset": 8, "device": "cpu"}))
    return path


def _trial_config(tmp_path: Path) -> Path:
    path = tmp_path / "random.yaml"
    cfg = {"controller": "random", "space": "nb201", "num_trials": 1, "trial": {"kind": "nb201_table", "table": "x"}}
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 classes of 32x32 PNGs: the smallest dataset ``nas train`` reads."""
    root = tmp_path_factory.mktemp("folder")
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for name in ("a", "b"):
            (root / split / name).mkdir(parents=True)
            for i in range(8):
                Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(
                    root / split / name / f"{i}.png"
                )
    return root


def _train_argv(folder: Path, out: Path, epochs: int) -> list[str]:
    return ["train", "--model", "lenet5", "--recipe", "quick", "--dataset", "folder", "--data-dir", str(folder),
            "--set", "train_subset=null", "--set", "test_subset=null", "--set", "val_fraction=0.25",
            "--set", "tensorboard=false", "--epochs", str(epochs), "--batch-size", "8", "--device", "cpu",
            "--out", str(out), "--quiet"]  # fmt: skip


def test_two_nas_train_processes_on_one_directory(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second ``nas train`` is refused while the first runs; after SIGKILL of the first, it takes over."""
    monkeypatch.setenv("NAS_CACHE_DIR", str(tmp_path / "cache"))
    run = tmp_path / "run"
    env = {**_env(), "NAS_CACHE_DIR": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    first = subprocess.Popen([sys.executable, "-m", "nas.cli", *_train_argv(folder, run, 10_000)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not (run / "metrics.jsonl").exists():  # the first is training (it holds the lock)
            assert first.poll() is None and time.monotonic() < deadline, first.stderr and first.stderr.read()
            time.sleep(0.2)
        capsys.readouterr()
        code = main(_train_argv(folder, run, 10_000))
        line = _one_error_line(capsys.readouterr().err)
        assert code == 2 and line == (
            f"nas train: error: {run}: in use by another process ({first.pid}@{socket.gethostname()}, "
            f"started {json.loads((run / LOCK_NAME).read_text())['started']}); wait for it to finish, or stop it"
        )
    finally:
        first.kill()
        first.wait(timeout=30)
    epochs = len((run / "metrics.jsonl").read_text().splitlines())
    import nas.training.run as run_module

    original = run_module.MetricsLog.append

    def append(self, row):  # noqa: ANN001, ANN202  (stop like Ctrl-C two epochs after the killed run)
        original(self, row)
        if row["epoch"] >= epochs + 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(run_module.MetricsLog, "append", append)
    code = main(_train_argv(folder, run, 10_000))  # the same command resumes the killed run
    err = capsys.readouterr().err
    assert code == 130, err
    assert f"{run}: taking over the lock of a process that is gone ({first.pid}@" in err
    rows = [json.loads(x)["epoch"] for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert rows == list(range(1, len(rows) + 1)) and len(rows) >= epochs + 1  # every epoch once, in order
    assert not (run / LOCK_NAME).exists()  # released on Ctrl-C


def test_nas_train_refuses_a_run_directory_in_use(
    holder: tuple[Path, subprocess.Popen], folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch
) -> None:
    monkeypatch.setenv("NAS_CACHE_DIR", str(tmp_path / "cache"))
    run, proc = holder
    code = main(_train_argv(folder, run, 1))
    line = _one_error_line(capsys.readouterr().err)
    assert code == 2 and line.startswith(f"nas train: error: {run}: in use by another process ({proc.pid}@")
    assert sorted(p.name for p in run.iterdir()) == [LOCK_NAME]  # nothing written


def test_nas_search_refuses_a_run_directory_in_use(
    holder: tuple[Path, subprocess.Popen], tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch
) -> None:
    run, proc = holder
    for config in (_darts_config(tmp_path), _trial_config(tmp_path)):
        monkeypatch.setattr("nas.tune.job.table_path", lambda config: "x")  # no table needed to be refused
        code = main(["search", "--config", str(config), "--out", str(run), "--no-progress"])
        line = _one_error_line(capsys.readouterr().err)
        assert code == 2 and line.startswith(f"nas search: error: {run}: in use by another process ({proc.pid}@")
    assert sorted(p.name for p in run.iterdir()) == [LOCK_NAME]


def test_the_seeds_of_a_search_are_locked_too(tmp_path: Path) -> None:
    import nas

    with holding(tmp_path / "multi" / "seed-2") as (run, proc):  # a single-seed run into OUT/seed-2
        with pytest.raises(NasError, match=rf"{run}: in use by another process \({proc.pid}@"):
            nas.search(_darts_config(tmp_path), out=tmp_path / "multi", seeds=[2, 3], echo=lambda m: None)
        assert not (tmp_path / "multi" / LOCK_NAME).exists()  # the parent's lock was released
