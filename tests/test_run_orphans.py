"""Ray processes a SIGKILLed trial search leaves behind are ended by ``--cleanup`` or by the next run, by PID."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from ray_cluster import session_pids

from nas.cli import main
from nas.tune import orphans

REPO = Path(__file__).resolve().parents[1]


def _config(tmp_path: Path, table: Path) -> Path:
    cfg = {"controller": "random", "space": "nb201", "num_trials": 100_000, "workers": 1,
           "trial": {"kind": "nb201_table", "table": str(table), "budget_s": 1e9}}  # fmt: skip
    path = tmp_path / "long.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _start(config: Path, run: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "nas.cli", "search", "--config", str(config), "--out", str(run), "--no-progress"]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)  # fmt: skip


def _kill_session(sid: int) -> None:
    for pid in session_pids(sid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _agents(sid: int) -> list[int]:
    """The session's processes that renamed themselves ``ray::...Agent`` (the ones that outlive a killed driver)."""
    found = []
    for pid in session_pids(sid):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if cmd.startswith(b"ray::") and b"Agent" in cmd:
            found.append(pid)
    return found


def _kill_driver_when_running(proc: subprocess.Popen, run: Path) -> None:
    """SIGKILL the driver alone once Ray's agents are up and trials run (its Ray processes stay)."""
    deadline = time.monotonic() + 180
    while not ((run / orphans.RECORD_FILE).is_file() and len(_agents(proc.pid)) >= 2 and (run / "tune").is_dir()):
        assert proc.poll() is None and time.monotonic() < deadline, proc.stdout and proc.stdout.read()
        time.sleep(0.3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def test_a_killed_searchs_ray_processes_are_ended_by_cleanup_and_by_the_rerun(
    tmp_path: Path, nb201_csv: Path, capsys: pytest.CaptureFixture
) -> None:
    config, run = _config(tmp_path, nb201_csv), tmp_path / "run"
    first = _start(config, run)
    try:
        _kill_driver_when_running(first, run)
        time.sleep(2)
        left = _agents(first.pid)
        assert left, "the agents did not outlive the driver: nothing to test"
        record = json.loads((run / orphans.RECORD_FILE).read_text())
        assert record["driver"] == first.pid and record["session"].startswith("session_")
        capsys.readouterr()
        assert main(["search", "--cleanup", str(run)]) == 0
        out = capsys.readouterr().out
        assert f"{run}: ended" in out and record["session"] in out
        assert _agents(first.pid) == [] and not (run / orphans.RECORD_FILE).exists()
        capsys.readouterr()
        assert main(["search", "--cleanup", str(run)]) == 0  # nothing left: said so
        assert "no processes of an interrupted Ray session left" in capsys.readouterr().out
    finally:
        _kill_session(first.pid)

    second = _start(config, run)  # killed again; then the same command ends what it left
    third = None
    try:
        _kill_driver_when_running(second, run)
        time.sleep(2)
        assert _agents(second.pid)
        third = _start(config, run)
        deadline = time.monotonic() + 120
        while _agents(second.pid):
            assert third.poll() is None and time.monotonic() < deadline, "the rerun did not end the orphans"
            time.sleep(0.3)
    finally:
        _kill_session(second.pid)
        if third is not None:
            _kill_session(third.pid)
            third.wait(timeout=30)


def test_only_the_recorded_processes_are_ended(tmp_path: Path) -> None:
    """A recorded PID now running another process (another start time, no session file) is left alone."""
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        doc = {"host": os.uname().nodename, "driver": 1, "session": "session_2026-01-01_00-00-00_000000_1",
               "processes": [{"pid": bystander.pid, "start": "1", "cmd": "raylet"}]}  # fmt: skip
        (tmp_path / orphans.RECORD_FILE).write_text(json.dumps(doc))
        said: list[str] = []
        assert orphans.cleanup(tmp_path, say=said.append) == [] and said == []
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


def test_a_record_from_another_host_is_not_acted_on(tmp_path: Path) -> None:
    doc = {"host": "node-9", "driver": 1, "session": "session_x", "processes": [{"pid": os.getppid(), "start": "1"}]}
    (tmp_path / orphans.RECORD_FILE).write_text(json.dumps(doc))
    said: list[str] = []
    assert orphans.cleanup(tmp_path, say=said.append) == []
    assert said and "ran on node-9" in said[0]
