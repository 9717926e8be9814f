"""Scaling out with Ray: the device a GPU trial gets on a node without CUDA."""

from __future__ import annotations

import pytest
import torch

from nas.runs import device as device_mod
from nas.runs.device import resolve_device


def test_assigned_gpus_without_cuda_fall_back_to_cpu_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: auto picks it")  # the CI machine has none
    monkeypatch.setattr(device_mod, "_warned", set())
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cpu")
    err = capsys.readouterr().err.splitlines()
    assert err == ["warning: CUDA_VISIBLE_DEVICES=1 is set but CUDA is not available here; using cpu"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # nothing assigned: nothing to say
    monkeypatch.setattr(device_mod, "_warned", set())
    assert resolve_device("auto") == torch.device("cpu") and capsys.readouterr().err == ""
