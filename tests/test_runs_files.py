"""nas.runs pieces used by training: RNG states, rotating checkpoints with fallback, leftovers, devices."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from nas.errors import NasError
from nas.runs.atomic import load_torch, remove_leftovers
from nas.runs.checkpoints import CHECKPOINT_FORMAT, load_checkpoint, previous_path, save_checkpoint
from nas.runs.device import resolve_device
from nas.runs.rng import rng_state, seed_everything, set_rng_state


def _draw() -> tuple[float, float, list[float]]:
    return random.random(), float(np.random.rand()), torch.rand(3).tolist()


def test_rng_state_round_trips_through_a_weights_only_checkpoint(tmp_path: Path) -> None:
    seed_everything(3)
    _draw()
    torch.save(rng_state(), tmp_path / "rng.pt")
    expected = _draw()
    seed_everything(99)
    set_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True))
    assert _draw() == expected


def test_seed_everything_is_reproducible_at_the_largest_seed() -> None:
    seed_everything(2**32 - 1)
    first = _draw()
    seed_everything(2**32 - 1)
    assert _draw() == first


def test_save_checkpoint_keeps_the_previous_one(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.pt"
    save_checkpoint({"epoch": 1}, path)
    assert not previous_path(path).exists()
    save_checkpoint({"epoch": 2}, path)
    assert load_torch(path) == {"format": CHECKPOINT_FORMAT, "epoch": 2}
    assert load_torch(previous_path(path)) == {"format": CHECKPOINT_FORMAT, "epoch": 1}
    assert previous_path(path).name == "checkpoint.prev.pt"


def test_load_checkpoint_falls_back_to_the_previous_one_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.pt"
    assert load_checkpoint(path) is None
    save_checkpoint({"epoch": 1}, path)
    save_checkpoint({"epoch": 2}, path)
    path.write_bytes(path.read_bytes()[:100])  # truncated, as by a full disk
    said: list[str] = []
    state, used = load_checkpoint(path, warn=said.append)
    assert state["epoch"] == 1 and used == previous_path(path)
    [line] = said
    assert line.startswith(f"{path}: cannot read checkpoint") and "resuming from the previous checkpoint" in line
    previous_path(path).write_bytes(b"")
    with pytest.raises(NasError) as info:
        load_checkpoint(path, warn=said.append)
    message = str(info.value)
    assert str(path) in message and str(previous_path(path)) in message and "to start over" in message
    assert "\n" not in message


@pytest.mark.parametrize("damage", ["truncated", "empty", "zeros"])
def test_the_save_after_a_fallback_keeps_the_good_previous_checkpoint(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "checkpoint.pt"
    save_checkpoint({"epoch": 1}, path)
    save_checkpoint({"epoch": 2}, path)
    whole = path.read_bytes()
    path.write_bytes({"truncated": whole[: len(whole) // 2], "empty": b"", "zeros": bytes(len(whole))}[damage])
    state, used = load_checkpoint(path, warn=lambda line: None)
    assert state["epoch"] == 1 and used == previous_path(path)
    save_checkpoint({"epoch": 2}, path)  # the resumed run saves again
    assert load_torch(previous_path(path))["epoch"] == 1  # not the unreadable file
    assert load_torch(path)["epoch"] == 2
    save_checkpoint({"epoch": 3}, path)  # from now on, rotation as usual
    assert load_torch(previous_path(path))["epoch"] == 2


def test_remove_leftovers_deletes_only_temporary_files(tmp_path: Path) -> None:
    (tmp_path / ".checkpoint.pt.abc123.tmp").write_bytes(b"")
    (tmp_path / "checkpoint.pt").write_bytes(b"x")
    assert [p.name for p in remove_leftovers(tmp_path)] == [".checkpoint.pt.abc123.tmp"]
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


def test_resolve_device_messages() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(NasError, match="device: expected cpu, cuda, cuda:N or auto, got 'gpu'"):
        resolve_device("gpu")
    if not torch.backends.mps.is_available():
        with pytest.raises(NasError, match="device: mps was asked for but Apple's MPS is not available"):
            resolve_device("mps")
