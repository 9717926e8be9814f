"""nas.runs: atomic writes, the run-dir check, checkpoints with fallback, history, device."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from nas.errors import NasError
from nas.runs.atomic import load_torch, read_json, remove_leftovers, save_torch, write_json, write_text
from nas.runs.checkpoints import CHECKPOINT_FORMAT, load_checkpoint, previous_path, save_checkpoint
from nas.runs.device import resolve_device
from nas.runs.history import History, read_rows
from nas.runs.rundir import check_run_dir, config_differences, flatten


def test_atomic_writes_leave_no_temporary_files(tmp_path: Path) -> None:
    write_json(tmp_path / "a" / "x.json", {"b": 1})
    write_text(tmp_path / "a" / "y.txt", "hello")
    save_torch({"w": torch.ones(2)}, tmp_path / "a" / "z.pt")
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["x.json", "y.txt", "z.pt"]
    assert read_json(tmp_path / "a" / "x.json") == {"b": 1}
    assert torch.equal(load_torch(tmp_path / "a" / "z.pt")["w"], torch.ones(2))


def test_a_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    write_json(path, {"v": 1})
    with pytest.raises(AttributeError):  # a lambda cannot be saved: the write fails halfway
        save_torch(lambda: 0, path)
    assert read_json(path) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_leftovers_of_killed_writes_are_removed(tmp_path: Path) -> None:
    (tmp_path / ".checkpoint.pt.abc123.tmp").write_bytes(b"")
    (tmp_path / "keep.json").write_text("{}")
    removed = remove_leftovers(tmp_path)
    assert [p.name for p in removed] == [".checkpoint.pt.abc123.tmp"]
    assert [p.name for p in tmp_path.iterdir()] == ["keep.json"]


def test_unreadable_files_are_one_line_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(NasError, match=r"bad.pt: cannot read checkpoint") as info:
        load_torch(bad)
    assert "\n" not in str(info.value)
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(NasError, match="bad.json: cannot read JSON"):
        read_json(tmp_path / "bad.json")


def test_config_differences_name_dotted_fields() -> None:
    old = {"epochs": 2, "optimizer": {"lr": 0.1, "momentum": 0.9}, "device": "cpu"}
    new = {"epochs": 3, "optimizer": {"lr": 0.1, "momentum": 0.8}, "device": "cuda"}
    assert flatten(old) == {"epochs": 2, "optimizer.lr": 0.1, "optimizer.momentum": 0.9, "device": "cpu"}
    assert config_differences(old, new, ignore=("device",)) == [
        "epochs: 2 there, 3 now",
        "optimizer.momentum: 0.9 there, 0.8 now",
    ]
    assert config_differences(old, {**old, "extra": 1}) == ["extra: <unset> there, 1 now"]


def test_run_dir_status(tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert check_run_dir(run, {"a": 1}) == "new"
    run.mkdir()
    write_json(run / "config.json", {"a": 1})
    assert check_run_dir(run, {"a": 1}) == "new"  # config but no checkpoint yet
    save_checkpoint({"epoch": 1}, run / "checkpoint.pt")
    assert check_run_dir(run, {"a": 1}) == "resume"
    write_json(run / "result.json", {})
    assert check_run_dir(run, {"a": 1}) == "complete"
    with pytest.raises(NasError, match=r"holds a run with a different config \(a: 1 there, 2 now\)"):
        check_run_dir(run, {"a": 2})


def test_run_dir_refuses_foreign_content(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(NasError, match="is not empty and holds no config.json"):
        check_run_dir(tmp_path, {})
    assert check_run_dir(tmp_path, {}, tolerated=("notes.txt",)) == "new"
    with pytest.raises(NasError, match="is a file"):
        check_run_dir(tmp_path / "notes.txt", {})


def test_run_dir_with_saved_part_and_no_checkpoint(tmp_path: Path) -> None:
    write_json(tmp_path / "search_config.json", {"run_id": "x", "compared": {"k": 1}})
    status = check_run_dir(
        tmp_path, {"k": 1}, config_file="search_config.json", saved_part=lambda d: d["compared"], checkpoint=None
    )
    assert status == "resume"
    write_json(tmp_path / "search_config.json", {"run_id": "x"})
    with pytest.raises(NasError, match="not a config written by this toolkit"):
        check_run_dir(tmp_path, {}, config_file="search_config.json", saved_part=lambda d: d["compared"])


def test_checkpoints_keep_the_previous_and_fall_back_to_it(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.pt"
    assert load_checkpoint(path) is None
    save_checkpoint({"epoch": 1}, path)
    save_checkpoint({"epoch": 2}, path)
    assert previous_path(path).name == "checkpoint.prev.pt"
    state, used = load_checkpoint(path)
    assert (state["epoch"], state["format"], used) == (2, CHECKPOINT_FORMAT, path)
    path.write_bytes(path.read_bytes()[:20])  # truncated by a full disk
    said: list[str] = []
    state, used = load_checkpoint(path, warn=said.append)
    assert (state["epoch"], used) == (1, previous_path(path))
    assert len(said) == 1 and "checkpoint.pt: cannot read checkpoint" in said[0] and "checkpoint.prev.pt" in said[0]
    previous_path(path).write_bytes(b"")
    with pytest.raises(NasError, match="delete the run directory") as info:
        load_checkpoint(path)
    assert "checkpoint.pt" in str(info.value) and "checkpoint.prev.pt" in str(info.value)


def test_checkpoint_check_rejects_other_states(tmp_path: Path) -> None:
    path = tmp_path / "c.pt"
    save_checkpoint({"model": "a"}, path)

    def check(state: dict) -> None:
        if state["model"] != "b":
            raise NasError(f"{path}: for another model")

    with pytest.raises(NasError, match="for another model"):
        load_checkpoint(path, check=check)


def test_history_is_rewritten_from_the_checkpoint_rows(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    h = History(path)
    for epoch in (1, 2, 3):
        h.append({"epoch": epoch, "loss": 1.0 / epoch})
    with path.open("a") as f:
        f.write('{"epoch": 4, "lo')  # a line cut by a kill
    assert [r["epoch"] for r in read_rows(path)] == [1, 2, 3]
    History(path, rows=None, epochs_done=2)
    assert [r["epoch"] for r in read_rows(path)] == [1, 2]
    History(path, rows=[{"epoch": 1, "loss": 9}])
    assert [json.loads(line) for line in path.read_text().splitlines()] == [{"epoch": 1, "loss": 9}]


def test_resolve_device() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(NasError, match="device: expected cpu, cuda, cuda:N or auto"):
        resolve_device("gpu0")
    with pytest.raises(NasError, match="device: expected"):
        resolve_device("meta")
    if not torch.cuda.is_available():
        with pytest.raises(NasError, match="CUDA is not available"):
            resolve_device("cuda:0")
