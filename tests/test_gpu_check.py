"""benchmarks/gpu_check.py on the CPU with the tiny budget: every code path runs, so the GPU check cannot rot.

One run of all four sections (module fixture), then checks of what its result file says.
The figures are CPU toy figures; what is checked is the structure and the values that
must hold whatever the machine (CPU against a CPU copy is exact, every axis of the
speed grid is covered, the training ran its 2 epochs through the trainer, both Tune
trials ran and recorded what they saw).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks import gpu_check  # noqa: E402
from nas.device_defaults import choose, read_gpu_check  # noqa: E402


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory, cifar10_dir: Path) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("gpu_check") / "gpu_check.json"
    argv = ["--device", "cpu", "--budget", "tiny", "--out", str(out), "--data-dir", str(cifar10_dir)]
    assert gpu_check.main(argv) == 0
    doc = json.loads(out.read_text(encoding="utf-8"))
    doc["_md"] = out.with_suffix(".md").read_text(encoding="utf-8")
    doc["_path"] = out
    return doc


def test_without_cuda_it_says_so_in_one_line_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gpu_check.main(["--out", str(tmp_path / "x.json")]) == 2
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "CUDA is not available" in out[0]
    assert not (tmp_path / "x.json").exists()
    assert gpu_check.main(["--device", "cpu", "--sections", "speed,warp"]) == 2
    assert "unknown warp" in capsys.readouterr().out


pytestmark = [pytest.mark.data, pytest.mark.ray]


def test_the_header_names_the_run(result: dict[str, Any]) -> None:
    assert result["format"] == gpu_check.FORMAT and result["budget"] == "tiny" and result["device_type"] == "cpu"
    assert result["sections_run"] == ["correctness", "speed", "training", "tune"]
    assert result["gpu"]["torch"] == torch.__version__ and "cpu" in result["gpu"]["name"]
    assert "--budget tiny" in result["command"] and result["date"].endswith("Z")
    assert set(result["seconds"]) == {"correctness", "speed", "training", "tune", "total"}
    md = result["_md"]
    for heading in ("# GPU check", "## Correctness against the CPU: ok", "## Speed", "## Training", "## Ray Tune"):
        assert heading in md


def test_correctness_compares_every_network_and_switch(result: dict[str, Any]) -> None:
    c = result["correctness"]
    assert c["ok"] and c["lean_kernels_ok"] and c["tf32"] is False
    seen = {(r["model"], r["lean_kernels"], r["format"]) for r in c["rows"]}
    assert {("darts_v2", lean, fmt) for lean in (True, False) for fmt in ("contiguous", "channels_last")} <= seen
    assert {m for m, _, _ in seen} == {"darts_v2", "darts_supernet", "nb201_supernet"}
    for row in c["rows"]:
        # the CPU against a copy of itself: exact, and every parameter has its gradient compared
        assert row["output_rel_err"] == 0.0 and row["grad_rel_err"] == 0.0 and row["grads"] > 10


def test_speed_covers_every_axis_and_reports_figures(result: dict[str, Any]) -> None:
    s = result["speed"]
    assert s["cudnn_benchmark"] is True
    assert set(s["matmul_gflop_per_s"]) == {"fp32", "fp16", "bf16"}
    rows = s["rows"]
    assert s["errors"] == [r["variant"] for r in rows if "error" in r]
    assert s["not_run"] == {}  # the tiny budget's time guard is generous
    models = {r["model"] for r in rows}
    assert models == {"darts_v2", "darts_supernet", "resnet20"}
    for model in models:
        mine = [r for r in rows if r["model"] == model]
        assert {r["precision"] for r in mine} == {"fp32", "fp16", "bf16"}
        assert {r["format"] for r in mine} == {"contiguous", "channels_last"}
    assert {r["impl"] for r in rows if r["model"] == "darts_v2"} == {"reference", "plain", "lean"}
    assert {r["order"] for r in rows if r["model"] == "darts_supernet"} == {"first", "second"}
    for r in rows:
        assert r["batch"] == 2
        if "error" in r:  # reported, not dropped: only float16 on a CPU may fail (oneDNN has no such kernel)
            assert r["precision"] == "fp16"
            continue
        assert r["images_per_s"] > 0 and r["s_per_step"] > 0 and r["rounds"] == 1
        assert r["gflop_per_step"] > 0 and r["gflop_per_s"] >= 0
        assert r["peak_mb"] is None  # max_memory_allocated is CUDA's
    refs = [
        r for r in rows if r.get("impl") == "reference" and r["format"] == "contiguous" and r["precision"] == "fp32"
    ]
    assert refs and all(r["speed_vs_reference"] == 1.0 for r in refs)


def test_training_ran_through_the_trainer_and_recorded_its_execution(result: dict[str, Any]) -> None:
    t = result["training"]
    assert t["epochs_completed"] == 2 and t["images_per_s"] > 0 and 0 <= t["test_best_top1"] <= 100
    assert t["command"].startswith("nas train --model resnet20") and "--set epochs=2" in t["command"]
    rec = t["record"]
    assert rec["device"] == "cpu" and rec["execution"]["source"] == "table" and rec["execution"]["family"] == "other"
    assert rec["channels_last"] is False  # ResNet on a CPU: NCHW, as before the device table


def test_tune_ran_two_trials_and_recorded_what_they_saw(result: dict[str, Any]) -> None:
    u = result["tune"]
    assert u["exit_status"] == 0 and "--gpus-per-trial 0.0" in u["command"] and "--workers 2" in u["command"]
    assert len(u["trials"]) == 2
    for trial in u["trials"]:
        assert (
            trial["device"] == "cpu" and "cuda_visible_devices" in trial and trial["execution"]["device_type"] == "cpu"
        )
    assert u["shared_one_gpu"] is None  # no GPU was given out on the CPU path


def test_the_device_table_never_uses_a_tiny_cpu_result(result: dict[str, Any]) -> None:
    doc, why = read_gpu_check(result["_path"])
    assert doc is None and "tiny run on cpu" in why
    assert choose("cuda", gpu_name="any", result_path=result["_path"]).source == "unmeasured"


def test_the_device_table_reads_what_gpu_check_writes(result: dict[str, Any]) -> None:
    # the same file as if a full CUDA run had written it: the table finds its rows by the keys gpu_check uses
    doc = {**result, "device_type": "cuda", "budget": "full", "gpu": {"name": "G"}}
    other = choose("cuda", family="other", precision="fp32", gpu_name="G", result=doc)
    assert other.source == "gpu_check" and "resnet20 fp32 fastest in" in other.reason
    measured = [r for r in doc["speed"]["rows"] if r["model"] == "darts_v2" and r["impl"] != "reference"]
    ok = [r for r in measured if "images_per_s" in r]
    assert ok
    prec = ok[0]["precision"]
    fastest = max((r for r in ok if r["precision"] == prec), key=lambda r: r["images_per_s"])
    cells = choose("cuda", family="cells", precision=prec, gpu_name="G", result=doc)
    assert cells.source == "gpu_check" and cells.channels_last == (fastest["format"] == "channels_last")


def test_a_failing_section_is_recorded_and_the_others_kept(tmp_path: Path) -> None:
    out = tmp_path / "gpu_check.json"
    argv = ["--device", "cpu", "--budget", "tiny", "--sections", "training", "--out", str(out)]
    assert gpu_check.main([*argv, "--data-dir", str(tmp_path / "no-data")]) == 1
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert "no-data" in doc["training"]["error"] and doc["seconds"]["training"] >= 0
    assert "## training: FAILED" in out.with_suffix(".md").read_text(encoding="utf-8")
