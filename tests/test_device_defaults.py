"""The per-device table of lean kernels and channels-last (nas.device_defaults) and how the trainer applies it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from nas.device_defaults import GPU_CHECK_FORMAT, choose, precision_of, read_gpu_check, resolve
from nas.genotypes import named
from nas.networks import build, network_family
from nas.ops import SepConv
from nas.training.config import TrainConfig
from nas.training.loop import Engine
from nas.zoo import create_model

GPU = "Test GPU 80GB"


def _row(model: str, impl: str, fmt: str, prec: str, ips: float) -> dict[str, Any]:
    return {"model": model, "impl": impl, "format": fmt, "precision": prec, "images_per_s": ips}


def _result(**changes: Any) -> dict[str, Any]:
    rows = [
        _row("darts_v2", "reference", "contiguous", "fp32", 900.0),  # never chosen: not ours
        _row("darts_v2", "plain", "contiguous", "fp32", 1000.0),
        _row("darts_v2", "plain", "channels_last", "fp32", 800.0),
        _row("darts_v2", "lean", "contiguous", "fp32", 1200.0),
        _row("darts_v2", "lean", "channels_last", "fp32", 1100.0),
        _row("darts_v2", "plain", "contiguous", "fp16", 1500.0),
        _row("darts_v2", "plain", "channels_last", "fp16", 2000.0),
        _row("resnet20", "plain", "contiguous", "fp16", 9000.0),
        _row("resnet20", "plain", "channels_last", "fp16", 7000.0),
    ]
    doc = {
        "format": GPU_CHECK_FORMAT,
        "device_type": "cuda",
        "budget": "full",
        "date": "2026-12-05T12:00:00Z",
        "gpu": {"name": GPU},
        "correctness": {"ok": True, "lean_kernels_ok": True},
        "speed": {"rows": rows},
    }
    doc.update(changes)
    return doc


def test_cpu_row_is_todays_behaviour() -> None:
    cells = choose("cpu", family="cells")
    assert (cells.lean_kernels, cells.channels_last, cells.source) == (True, True, "table")
    assert "derived_network.json" in cells.reason
    other = choose("cpu", family="other")
    assert (other.channels_last, other.source) == (False, "table")


def test_cuda_without_a_result_file_runs_as_the_reference(tmp_path: Path) -> None:
    for family in ("cells", "other"):
        e = choose("cuda", family=family, precision="fp16", gpu_name=GPU, result_path=tmp_path / "gpu_check.json")
        assert (e.lean_kernels, e.channels_last, e.source) == (False, False, "unmeasured")
        assert "no gpu_check.json" in e.reason and "python benchmarks/gpu_check.py" in e.reason


def test_cuda_with_a_result_file_takes_the_measured_fastest(tmp_path: Path) -> None:
    path = tmp_path / "gpu_check.json"
    path.write_text(json.dumps(_result()), encoding="utf-8")
    fp32 = choose("cuda", family="cells", precision="fp32", gpu_name=GPU, result_path=path)
    assert (fp32.lean_kernels, fp32.channels_last, fp32.source) == (True, False, "gpu_check")
    assert "1.09x channels_last" in fp32.reason and GPU in fp32.reason  # 1200 / 1100
    fp16 = choose("cuda", family="cells", precision="fp16", gpu_name=GPU, result_path=path)
    assert (fp16.lean_kernels, fp16.channels_last) == (False, True)  # autocast bypasses the kernels
    assert "float32 only" in fp16.reason
    other = choose("cuda", family="other", precision="fp16", gpu_name=GPU, result_path=path)
    assert (other.channels_last, other.source) == (False, "gpu_check")
    missing = choose("cuda", family="other", precision="bf16", gpu_name=GPU, result_path=path)
    assert (missing.channels_last, missing.source) == (False, "unmeasured")
    assert "no resnet20 bf16 rows" in missing.reason


def test_a_result_of_another_gpu_or_a_failed_check_is_not_trusted(tmp_path: Path) -> None:
    other_gpu = choose("cuda", precision="fp32", gpu_name="Another GPU", result=_result())
    assert (other_gpu.lean_kernels, other_gpu.channels_last, other_gpu.source) == (False, False, "unmeasured")
    assert "measured Test GPU 80GB, this is Another GPU" in other_gpu.reason
    bad = choose("cuda", precision="fp32", gpu_name=GPU, result=_result(correctness={"lean_kernels_ok": False}))
    assert bad.lean_kernels is False and "did not match the CPU" in bad.reason
    for changes in ({"budget": "tiny"}, {"device_type": "cpu"}, {"format": 99}):
        path = tmp_path / "r.json"
        path.write_text(json.dumps(_result(**changes)), encoding="utf-8")
        doc, why = read_gpu_check(path)
        assert doc is None and why
        assert choose("cuda", gpu_name=GPU, result_path=path).source == "unmeasured"
    path.write_text("{not json", encoding="utf-8")
    assert "unreadable" in read_gpu_check(path)[1]


def test_the_environment_variable_names_the_result_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "elsewhere.json"
    path.write_text(json.dumps(_result()), encoding="utf-8")
    monkeypatch.setenv("NAS_GPU_CHECK", str(path))
    assert choose("cuda", precision="fp16", gpu_name=GPU).channels_last is True


def test_explicit_config_values_win_and_say_so() -> None:
    e = resolve(False, "auto", "cpu", family="cells", precision="fp32")
    assert (e.lean_kernels, e.channels_last, e.source) == (False, True, "config")
    assert "lean_kernels=false" in e.reason
    assert resolve("auto", "auto", "cpu", family="cells", precision="fp32").source == "table"


def test_precision_names() -> None:
    assert [precision_of(d) for d in (None, torch.float16, torch.bfloat16)] == ["fp32", "fp16", "bf16"]


def test_config_values() -> None:
    assert TrainConfig().channels_last == "auto" and TrainConfig().lean_kernels == "auto"
    assert TrainConfig(channels_last=None).channels_last == "auto"  # configs written before the table
    assert TrainConfig(lean_kernels=False).lean_kernels is False
    with pytest.raises(ValueError, match="expected true, false or auto"):
        TrainConfig(channels_last="sometimes")


def test_engine_on_cpu_keeps_todays_execution() -> None:
    darts = build(named.get("DARTS_V2"), channels=4, layers=2)
    assert network_family(darts) == "cells"
    engine = Engine(darts, TrainConfig(device="cpu", epochs=1), steps_per_epoch=1)
    assert engine.execution.lean_kernels and engine.channels_last
    assert darts.memory_format == "channels_last" and all(m.lean for m in darts.modules() if isinstance(m, SepConv))
    resnet = create_model("resnet20", num_classes=10)
    assert network_family(resnet) == "other"
    engine = Engine(resnet, TrainConfig(device="cpu", epochs=1), steps_per_epoch=1)
    assert not engine.channels_last and engine.execution.source == "table"


def test_engine_applies_an_explicit_choice() -> None:
    darts = build(named.get("DARTS_V2"), channels=4, layers=2)
    cfg = TrainConfig(device="cpu", epochs=1, lean_kernels=False, channels_last=False)
    engine = Engine(darts, cfg, steps_per_epoch=1)
    assert engine.execution.source == "config"
    assert darts.memory_format == "contiguous" and darts.cells[0].preprocess1.op[1].weight.is_contiguous()
    assert not any(m.lean for m in darts.modules() if isinstance(m, SepConv))
    x = torch.randn(2, 3, 32, 32)
    assert darts(x).shape == (2, 10)
