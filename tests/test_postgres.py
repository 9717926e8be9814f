"""Optuna studies in a real PostgreSQL server (started here, or by ``.ci/run`` through
NAS_TEST_POSTGRES_URL): bad URLs, a wrong password and a server that is down are one line
each; two processes share one study without colliding trial numbers, and a killed one's
rerun continues the study without repeating its finished trials: both as Optuna scripts and
as real ``nas search`` processes (SIGKILLed mid-search, then the same command again)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pg_server
import pytest
from conftest import missing_resource
from ray_cluster import session_pids
from search_runs import assert_no_repeats, finish, kill_session, nas_search, search_config, write

from nas.errors import NasError
from nas.search_protocol.storage import open_storage

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL: CI's server, or one started in a temp directory and stopped on every path."""
    given = os.environ.get("NAS_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    if pg_server.programs() is None:
        missing_resource("PostgreSQL server programs (initdb, pg_ctl) not found; .ci/run installs them")
    root = Path(tempfile.mkdtemp(prefix="nas-pg-"))
    try:
        yield pg_server.start(root)
    finally:
        pg_server.stop(root)


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/", 1)[0])


def test_bad_storage_is_one_line_naming_it(pg_url: str) -> None:
    field = "options.optuna.storage"
    down = pg_server.url(pg_server._free_port())
    cases = [
        ("postgresql://nas:secret@127.0.0.1:notaport/db", "malformed storage URL 'postgresql://nas:***@127.0.0.1"),
        ("sqlite//study.db", "malformed storage URL 'sqlite//study.db' (expected sqlite:///PATH or postgresql://"),
        (pg_url.replace(pg_server.PASSWORD, "wrong"), "refused user 'nas' (wrong password?) for postgresql://nas:***@"),
        (down, f"no database server answers at 127.0.0.1:{_port(down)} (is it running?)"),
        (pg_url.rsplit("/", 1)[0] + "/nosuchdb", "database 'nosuchdb' does not exist"),
        ("postgresql:///study", "names no host"),
    ]
    for url, expected in cases:
        with pytest.raises(NasError) as err:
            open_storage(url, field)
        message = str(err.value)
        assert message.startswith(f"{field}: ") and expected in message, message
        assert "\n" not in message and pg_server.PASSWORD not in message and "secret@" not in message


STUDY_SCRIPT = r"""
import sys, time, optuna
from nas.search_protocol.storage import open_storage
url, name, n, tag = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
optuna.logging.set_verbosity(optuna.logging.WARNING)
study = optuna.create_study(study_name=name, storage=open_storage(url, "storage"), load_if_exists=True,
                            directions=["maximize", "minimize"], sampler=optuna.samplers.RandomSampler(seed=len(tag)))
done = sum(1 for t in study.trials if t.state.is_finished() and t.user_attrs.get("by") == tag)
for _ in range(n - done):
    trial = study.ask()
    x = trial.suggest_float("x", 0, 1)
    trial.set_user_attr("by", tag)
    time.sleep(float(sys.argv[5]))
    study.tell(trial, [x, (1 - x) ** 2 + 0.1 * trial.number])
    print(trial.number, flush=True)
deadline = time.monotonic() + 60  # with "wait": count only once another process has finished a trial
while len(sys.argv) > 6 and time.monotonic() < deadline and not any(
        t.state.is_finished() and t.user_attrs.get("by") != tag for t in study.trials):
    time.sleep(0.1)
print("seen", len([t for t in study.trials if t.state.is_finished()]), "front", len(study.best_trials), flush=True)
"""


def _study_cmd(tmp_path: Path, url: str, name: str, n: int, tag: str, pause: float, wait: bool = False) -> list[str]:
    script = tmp_path / "study.py"
    script.write_text(STUDY_SCRIPT)
    return [sys.executable, str(script), url, name, str(n), tag, str(pause)] + (["wait"] if wait else [])


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")


def test_two_processes_share_one_study_and_a_killed_one_resumes(tmp_path: Path, pg_url: str) -> None:
    import optuna

    name = f"shared-{uuid.uuid4().hex[:8]}"
    a = subprocess.Popen(
        _study_cmd(tmp_path, pg_url, name, 6, "a", 0.05, wait=True), env=_env(), stdout=subprocess.PIPE, text=True
    )
    b = subprocess.Popen(
        _study_cmd(tmp_path, pg_url, name, 20, "b", 0.3), env=_env(), stdout=subprocess.PIPE, text=True
    )
    try:
        out_a, _ = a.communicate(timeout=120)
        assert a.returncode == 0
        # kill b mid-study (a has finished); its finished trials stay, its running one is abandoned
        time.sleep(1.0)
        os.kill(b.pid, signal.SIGKILL)
        out_b, _ = b.communicate(timeout=30)
    finally:
        for p in (a, b):
            if p.poll() is None:
                p.kill()
                p.wait()
    numbers_a = [int(line) for line in out_a.splitlines() if line.isdigit()]
    numbers_b = [int(line) for line in out_b.splitlines() if line.isdigit()]
    assert len(numbers_a) == 6 and numbers_b and not set(numbers_a) & set(numbers_b)
    # a saw b's finished trials (it waits for one, as b may start later): its last line counts both
    seen = int(out_a.strip().splitlines()[-1].split()[1])
    assert seen > 6
    # what b finished is in the study: what it printed, plus one if the kill fell between tell and print
    before = optuna.load_study(study_name=name, storage=open_storage(pg_url, "storage")).trials
    done_b = {t.number for t in before if t.state == optuna.trial.TrialState.COMPLETE and t.user_attrs["by"] == "b"}
    assert set(numbers_b) <= done_b and len(done_b) - len(numbers_b) <= 1
    rerun = subprocess.run(_study_cmd(tmp_path, pg_url, name, 20, "b", 0.0), env=_env(), capture_output=True,
                           text=True, timeout=120)  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    numbers_rerun = [int(line) for line in rerun.stdout.splitlines() if line.isdigit()]
    assert len(numbers_rerun) == 20 - len(done_b) and not set(numbers_rerun) & done_b  # only what b had not finished
    study = optuna.load_study(study_name=name, storage=open_storage(pg_url, "storage"))
    finished = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(finished) == 26 and len({t.number for t in study.trials}) == len(study.trials)
    assert sorted(t.user_attrs["by"] for t in finished).count("b") == 20
    front = study.best_trials  # the Pareto front over both processes' trials
    assert {t.user_attrs["by"] for t in finished} == {"a", "b"} and front
    dominated = [t for t in finished if t not in front]
    assert all(any(f.values[0] >= t.values[0] and f.values[1] <= t.values[1] for f in front) for t in dominated)


@pytest.mark.ray
@pytest.mark.data
@pytest.mark.slow
def test_two_nas_search_runs_share_one_postgres_study_and_a_killed_one_resumes(
    tmp_path: Path, pg_url: str, cifar10_dir: Path
) -> None:
    """Two ``nas search`` processes on one study; SIGKILL one mid-search, the other finishes, the same
    command run again finishes the killed one without training any of its finished trials again.

    ``a`` starts first; ``b`` once a has told the study a result; a is killed while both train,
    so b's asks come after a result of a's, and a's rerun's asks after b's results."""
    import optuna

    # a's trials are longer (1000 images) so that a still trains when b, started later, has come up
    name, epochs, trials, images = f"nas-{uuid.uuid4().hex[:8]}", 2, {"a": 10, "b": 3}, {"a": 1000, "b": 200}
    runs = {tag: tmp_path / tag for tag in trials}
    configs = {
        tag: write(tmp_path / f"{tag}.yaml", search_config(
            cifar10_dir, controller="optuna", num_trials=n, epochs=epochs, train_subset=images[tag], workers=1,
            options={"optuna": {"study_name": name, "sampler": "random"}}))
        for tag, n in trials.items()
    }  # fmt: skip

    def start(tag: str) -> subprocess.Popen:
        return nas_search(configs[tag], runs[tag], "--storage", pg_url)

    def state(tag: str) -> tuple[set[str], set[str]]:
        """Trials finished, and trials past a checkpoint but not finished."""
        done = {t.parent.parent.name for t in runs[tag].glob("trials/*/train/result.json")}
        return done, {t.parent.parent.name for t in runs[tag].glob("trials/*/train/checkpoint.pt")} - done

    def wait(what: str, ready, *procs: subprocess.Popen) -> None:
        deadline = time.monotonic() + 400
        while not ready():
            assert all(p.poll() is None for p in procs) and time.monotonic() < deadline, f"no {what} in time"
            time.sleep(0.1)

    def asked_by(tag: str) -> bool:
        """Whether run ``tag`` has asked the study a trial (its trials carry the run's id)."""
        try:
            run_id = json.loads((runs[tag] / "search_config.json").read_text())["run_id"]
            study = optuna.load_study(study_name=name, storage=open_storage(pg_url, "storage"))
        except (OSError, ValueError, KeyError):
            return False
        return any(t.user_attrs.get("nas_run") == run_id for t in study.get_trials(deepcopy=False))

    a = start("a")
    b = None
    try:
        wait("finished trial of a", lambda: state("a")[0], a)
        b = start("b")
        wait("trial asked by b with a mid-trial", lambda: asked_by("b") and state("a")[1], a, b)
        kill_session(a)
        assert not (runs["a"] / "leaderboard.json").exists()
        before = {k: (runs["a"] / "trials" / k / "train" / "result.json").read_bytes() for k in state("a")[0]}
        assert 0 < len(before) < trials["a"] - 1  # killed mid-search, with trials still to ask
        out_b = finish(b)
    finally:
        for proc in (a, b):
            if proc is not None:
                kill_session(proc)
    out_a = finish(start("a"))  # the same command again
    assert not session_pids(a.pid) and not session_pids(b.pid)
    assert pg_server.PASSWORD not in out_a + out_b
    boards = {tag: json.loads((runs[tag] / "leaderboard.json").read_text()) for tag in trials}
    for tag, n in trials.items():
        assert len(boards[tag]) == n and all(r["status"] == "completed" for r in boards[tag])
        assert_no_repeats(runs[tag], boards[tag], epochs)  # no trial and no epoch trained twice
    for key, result in before.items():  # a's trials finished before the kill were kept as they were
        assert (runs["a"] / "trials" / key / "train" / "result.json").read_bytes() == result
    study = optuna.load_study(study_name=name, storage=open_storage(pg_url, "storage"))
    numbers = [t.number for t in study.trials]
    assert numbers == list(range(len(numbers)))  # one counter for both processes: no number twice
    complete = {t.number: t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE}
    assert len(complete) == sum(trials.values())  # every trial of both runs told once, none again
    # Each trial's key carries its study number: the two runs' trials are the study's, none in both.
    owned = {tag: [complete[int(r["key"].split("-")[0].removeprefix("o"))] for r in boards[tag]] for tag in trials}
    assert sorted(t.number for tag in trials for t in owned[tag]) == sorted(complete)
    # Each process drew from the study as the other had filled it (both seed 0): no architecture
    # trained twice, by the two processes or by the killed one before and after its rerun.
    assert len({t.user_attrs["genotype"] for t in complete.values()}) == len(complete)
    # Each process asked the study after the other had told it a result.
    for mine, theirs in (("a", "b"), ("b", "a")):
        asked = max(t.datetime_start for t in owned[mine])
        assert asked > min(t.datetime_complete for t in owned[theirs]), mine
    # The study each process reads holds both processes' results: its scores are both leaderboards'.
    scores = [r["val_accuracy"] for tag in trials for r in boards[tag]]
    assert sorted(t.values[0] for t in complete.values()) == pytest.approx(sorted(scores))


def test_the_password_is_never_written_and_a_resume_takes_it_at_run_time(
    tmp_path: Path, pg_url: str, nb201_csv: Path
) -> None:
    """A search given ``user:PASSWORD@`` writes the URL without it (config, Tune's pickles, logs); the rerun
    (which unpickles the study's storage) gets the password from the command line, or from $NAS_STORAGE_URL."""
    import yaml

    password = pg_url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
    bare = pg_url.replace(f":{password}@", "@")
    cfg = {"controller": "optuna", "space": "nb201", "num_trials": 3, "workers": 1,
           "options": {"optuna": {"study_name": f"nas-{uuid.uuid4().hex[:8]}", "sampler": "random"}},
           "trial": {"kind": "nb201_table", "table": str(nb201_csv), "budget_s": 3000}}  # fmt: skip
    config = tmp_path / "optuna.yaml"
    config.write_text(yaml.safe_dump(cfg))
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "nas.cli", "search", "--config", str(config), "--out", str(run), "--no-progress"]
    env = {k: v for k, v in _env().items() if k not in ("PGPASSWORD", "NAS_STORAGE_URL")}
    first = subprocess.run([*cmd, "--storage", pg_url], env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr[-2000:]
    saved = json.loads((run / "search_config.json").read_text())
    assert saved["config"]["options"]["optuna"]["storage"] == bare
    assert (run / "tune" / "tuner.pkl").is_file()
    for path in run.rglob("*"):
        assert not path.is_file() or password.encode() not in path.read_bytes(), path
    # the same command again restores the experiment (unpickling the password-free storage)
    again = subprocess.run([*cmd, "--storage", pg_url], env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "resuming optuna search" in again.stdout, again.stderr[-2000:]
    # the URL without password, the password from the environment (the same database)
    by_env = subprocess.run([*cmd, "--storage", bare], env={**env, "NAS_STORAGE_URL": pg_url},
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert by_env.returncode == 0 and "resuming optuna search" in by_env.stdout, by_env.stderr[-2000:]
    # without any password: libpq has none either, so the server refuses (one line, nothing unpickled first)
    none = subprocess.run([*cmd, "--storage", bare], env=env, capture_output=True, text=True, timeout=300)
    assert none.returncode == 2 and none.stderr.strip().endswith(f"(wrong password?) for {bare}"), none.stderr
    for path in run.rglob("*"):
        assert not path.is_file() or password.encode() not in path.read_bytes(), path
