"""The DARTS search job: config validation, the run directory, resume after SIGKILL, guards,
export, seed agreement and a two-process (gloo) search. Everything is tiny (C=4, 3 cells,
two nodes, 40-60 synthetic 32x32 images) so the file runs in well under a minute."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from nas.cli import main as cli_main
from nas.commands.export import export_genotype
from nas.darts.config import DartsSearchConfig, apply_overrides, load_config, load_config_file
from nas.darts.guards import early_stop, skip_counts
from nas.darts.job import DartsJob
from nas.errors import NasError
from nas.genotypes.codec import from_darts_text, from_nb201_string, load_genotype_file, to_json
from nas.genotypes.resolve import parse_genotype
from nas.genotypes.types import DartsGenotype, NB201Genotype
from nas.networks import build
from nas.search_jobs.agreement import edge_agreement, format_agreement, op_agreement
from nas.search_protocol.job import SearchResult

REPO = Path(__file__).resolve().parents[1]

TINY: dict[str, Any] = {
    "controller": "darts",
    "space": "darts",
    "dataset": "synthetic",
    "train_subset": 40,
    "supernet": {"channels": 4, "layers": 3, "steps": 2, "multiplier": 2, "stem_multiplier": 1},
    "epochs": 2,
    "batch_size": 10,
    "threads": 1,
    "seed": 0,
}


def tiny(**updates: Any) -> dict[str, Any]:
    """TINY with dotted-key updates (``supernet.channels=8`` style keys as kwargs with __)."""
    return apply_overrides(TINY, {k.replace("__", "."): v for k, v in updates.items()})


def write_config(path: Path, raw: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def quiet_run(raw: dict[str, Any], run_dir: Path) -> SearchResult:
    return DartsJob().run(load_config(raw), run_dir, progress=False, echo=lambda _s: None)


def history(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    path = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env.update({"OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", "PYTHONPATH": path})
    return env


def nas_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "nas.cli", *args]


# --------------------------------------------------------------------------- #
# Config validation
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    ("updates", "message"),
    [
        ({"epochs": 0}, "q.yaml: epochs: expected a positive integer, got 0"),
        ({"epochs": True}, "q.yaml: epochs: expected a number, got true"),
        ({"order": "third"}, "q.yaml: method.darts.order: expected one of 'first' or 'second', got 'third'"),
        ({"supernet__chanels": 4}, "q.yaml: supernet.chanels: unknown key (known: channels,"),
        ({"val_fraction": 1.0}, "q.yaml: val_fraction: expected a fraction strictly between 0 and 1, got 1.0"),
        ({"guards__max_skip": -1}, "q.yaml: guards.max_skip: expected a non-negative integer, got -1"),
        ({"guards__fair_darts_weight": 1.0}, "q.yaml: guards.fair_darts_weight: unknown key"),
        ({"space": "nb201"}, "q.yaml: supernet.layers: not used by the nb201 space"),
        ({"optimizer__lr": "fast"}, "q.yaml: optimizer.lr: expected a number, got 'fast'"),
    ],
)
def test_config_errors_name_file_and_field(tmp_path: Path, updates: dict[str, Any], message: str) -> None:
    path = write_config(tmp_path / "q.yaml", tiny(**updates))
    with pytest.raises(NasError) as info:
        load_config_file(path)
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_override_errors_name_the_flag_and_cli_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = write_config(tmp_path / "q.yaml", tiny())
    with pytest.raises(
        NasError, match=r"^--set epochs=0: epochs: expected a positive integer, got 0 \(selection argmax reads"
    ):
        load_config_file(path, {"epochs": 0})
    code = cli_main(["search", "--config", str(path), "--set", "guards.max_skip=x", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err == "nas search: error: --set guards.max_skip=x: guards.max_skip: expected an integer, got 'x'"
    assert cli_main(["search", "--config", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml: config file not found" in capsys.readouterr().err
    write_config(path, tiny(controller="bayes"))
    assert cli_main(["search", "--config", str(path)]) == 2
    assert "controller: unknown controller 'bayes' (known: darts" in capsys.readouterr().err


def test_shipped_configs_validate() -> None:
    names = ["darts_cifar10", "quickstart", "darts_nb201", "darts_nb201_quick"]
    configs = {n: load_config_file(REPO / "experiments" / f"{n}.yaml") for n in names}
    paper = configs["darts_cifar10"]
    assert (paper.epochs, paper.batch_size, paper.supernet.channels, paper.supernet.layers) == (50, 64, 16, 8)
    assert (paper.optimizer.lr, paper.optimizer.lr_min, paper.optimizer.momentum) == (0.025, 0.001, 0.9)
    assert (paper.optimizer.weight_decay, paper.optimizer.grad_clip) == (3e-4, 5.0)
    assert (paper.arch_optimizer.lr, paper.arch_optimizer.betas, paper.arch_optimizer.weight_decay) == (
        3e-4,
        (0.5, 0.999),
        1e-3,
    )
    assert paper.val_fraction == 0.5 and paper.train_subset is None
    assert configs["darts_nb201"].space == configs["darts_nb201_quick"].space == "nb201"


# --------------------------------------------------------------------------- #
# Runs and their files
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SearchResult]:
    """One finished tiny first-order search, shared by the tests that only read a run dir."""
    run_dir = tmp_path_factory.mktemp("first") / "run"
    return run_dir, quiet_run(tiny(), run_dir)


def check_complete_run_dir(run_dir: Path, result: Any, raw: dict[str, Any]) -> None:
    for name in ("config.json", "checkpoint.pt", "history.jsonl", "genotype.json", "genotype.txt", "alphas.json"):
        assert (run_dir / name).is_file(), name
    assert list((run_dir / "tb").iterdir()), "no TensorBoard events"
    genotype = load_genotype_file(run_dir / "genotype.json")
    assert isinstance(genotype, DartsGenotype) and genotype == result.genotype
    assert from_darts_text((run_dir / "genotype.txt").read_text()) == genotype
    assert parse_genotype(str(run_dir)) == genotype
    records = history(run_dir)
    assert [r["epoch"] for r in records] == [0, 1]
    for r in records:
        assert r["train_loss"] > 0 and 0 <= r["train_acc"] <= 100 and 0 <= r["val_acc"] <= 100
        assert r["arch_loss"] is not None
        assert from_darts_text(r["genotype"]) == parse_genotype(json.dumps(r["genotype_json"]))
        assert set(r["skip_counts"]) == {"normal", "reduce"}
        weights = r["arch_weights"]["normal"]
        assert len(weights) == 2 + 3  # edges of two nodes
        assert all(abs(sum(row) - 1) < 1e-4 for row in weights)  # softmax rows
    assert records[0]["lr"] == pytest.approx(0.025) and records[1]["lr"] < records[0]["lr"]
    assert records[0]["arch_weights"] != records[1]["arch_weights"]  # the architecture moved
    saved = json.loads((run_dir / "config.json").read_text())
    assert saved == load_config(raw).resolved()
    result_json = json.loads((run_dir / "result.json").read_text())
    assert result_json["epochs_run"] == 2 and result_json["stopped_early"] is False
    evaluation_net = build(result.genotype, 10)  # C=36, 20 cells: what a user would retrain
    assert result_json["eval_params"] == sum(p.numel() for n, p in evaluation_net.named_parameters() if "aux" not in n)
    assert result_json["skip_counts"] == skip_counts(result.genotype)
    alphas = json.loads((run_dir / "alphas.json").read_text())
    assert alphas["weights"]["normal"] == result.arch_weights["normal"]
    ckpt = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    assert (ckpt["epoch"], ckpt["step"]) == (2, 0)


def test_first_order_search_writes_a_complete_run_dir(first_run: tuple[Path, Any]) -> None:
    check_complete_run_dir(*first_run, tiny())


def test_a_finished_search_says_what_can_be_checked_without_a_table(tmp_path: Path) -> None:
    said: list[str] = []
    result = DartsJob().run(load_config(tiny()), tmp_path / "run", progress=False, echo=said.append)
    n = skip_counts(result.genotype)
    line = f"skip connections: normal {n['normal']}, reduce {n['reduce']}; "
    assert any(s.startswith(line) and s.endswith("M parameters at the evaluation size") for s in said), said[-3:]
    again: list[str] = []
    DartsJob().run(load_config(tiny()), tmp_path / "run", progress=False, echo=again.append)
    assert any(s.startswith(line) for s in again), again  # said again when the finished run is reported


def test_second_order_search_writes_a_complete_run_dir(tmp_path: Path) -> None:
    raw = tiny(order="second", train_subset=20)  # one batch per epoch: the unrolled step is the costly one
    check_complete_run_dir(tmp_path / "run", quiet_run(raw, tmp_path / "run"), raw)


def test_finished_run_reports_and_different_config_is_refused(
    tmp_path: Path, first_run: tuple[Path, Any], capsys: pytest.CaptureFixture
) -> None:
    out = first_run[0]
    cfg = write_config(tmp_path / "tiny.yaml", tiny())
    genotype_line = (out / "genotype.txt").read_text().strip()
    assert cli_main(["search", "--config", str(cfg), "--out", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "already finished" in text and genotype_line in text
    code = cli_main(["search", "--config", str(cfg), "--out", str(out), "--set", "seed=5", "--epochs", "3"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "different config (epochs: 2 there, 3 now; seed: 0 there, 5 now)" in err
    # Run-only fields (where the data is, how often to checkpoint) do not make a different run.
    assert cli_main(["search", "--config", str(cfg), "--out", str(out), "--set", "checkpoint_every_steps=3"]) == 0
    assert "already finished" in capsys.readouterr().out


def test_killed_search_resumes_to_the_same_result(tmp_path: Path) -> None:
    """SIGKILL in the middle of the second epoch, run again: same alphas, genotype and history as a clean run."""
    raw = tiny(train_subset=60, checkpoint_every_steps=1)  # 3 steps per epoch, a checkpoint after each
    cfg = write_config(tmp_path / "tiny.yaml", raw)
    ref, run = tmp_path / "ref", tmp_path / "killed"
    quiet_run(raw, ref)  # the uninterrupted reference, in this process
    ckpt = run / "checkpoint.pt"

    seen: dict[int, tuple[int, int]] = {}

    def position() -> tuple[int, int] | None:
        try:  # read the checkpoint only when it changed: polling must not steal the run's CPU
            stamp = ckpt.stat().st_mtime_ns
            if stamp not in seen:
                state = torch.load(ckpt, weights_only=True)
                seen[stamp] = (int(state["epoch"]), int(state["step"]))
            return seen[stamp]
        except (OSError, RuntimeError, KeyError):  # not written yet
            return None

    cmd = nas_cmd("search", "--config", str(cfg), "--out", str(run), "--no-progress")
    proc = subprocess.Popen(cmd, env=_env(), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None and (position() or (0, 0)) < (1, 1):
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before it could be killed; make it longer"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    killed_at = position()
    assert killed_at is not None and killed_at[0] == 1 and 1 <= killed_at[1] < 3  # mid-epoch, after epoch 0
    assert not (run / "result.json").exists()
    final = subprocess.run(cmd, env=_env(), cwd=REPO, check=True, capture_output=True, text=True, timeout=120)
    assert f"resuming {run} at epoch 2, step {killed_at[1]}" in final.stdout
    assert (run / "alphas.json").read_bytes() == (ref / "alphas.json").read_bytes()
    assert (run / "genotype.json").read_bytes() == (ref / "genotype.json").read_bytes()
    strip = [{k: v for k, v in r.items() if k != "elapsed_s"} for r in history(run)]
    assert strip == [{k: v for k, v in r.items() if k != "elapsed_s"} for r in history(ref)]


def test_resume_removes_the_temporary_file_a_killed_write_left(tmp_path: Path) -> None:
    """A SIGKILL during a checkpoint write leaves a 0-byte hidden temporary file; resuming deletes it."""
    run = tmp_path / "run"
    raw = tiny(epochs=1)
    first = quiet_run(raw, run)
    (run / "result.json").unlink()  # as if killed after the last checkpoint, before the outputs
    leftover = run / ".checkpoint.pt.k1ll3d.tmp"
    leftover.write_bytes(b"")
    said: list[str] = []
    again = DartsJob().run(load_config(raw), run, progress=False, echo=said.append)
    assert not leftover.exists()
    assert [p.name for p in run.iterdir() if p.name.endswith(".tmp")] == []
    assert f"resuming {run} at epoch 2, step 0" in said
    assert again.genotype == first.genotype and not again.already_finished


def test_corrupt_newest_checkpoint_falls_back_to_the_previous_one(tmp_path: Path, first_run: tuple[Path, Any]) -> None:
    """A truncated newest checkpoint costs one epoch, said in one line, and the run ends as an uninterrupted one."""
    ref, _ = first_run
    run = tmp_path / "run"
    quiet_run(tiny(), run)
    (run / "result.json").unlink()
    newest = run / "checkpoint.pt"
    newest.write_bytes(newest.read_bytes()[:1000])  # a copy killed halfway, or a full disk
    said: list[str] = []
    DartsJob().run(load_config(tiny()), run, progress=False, echo=said.append)
    fallback = [line for line in said if "previous checkpoint" in line]
    assert len(fallback) == 1 and fallback[0].startswith(f"{newest}: cannot read")
    assert "checkpoint.prev.pt" in fallback[0]
    assert f"resuming {run} at epoch 2, step 0" in said  # the previous checkpoint: the end of epoch 1
    assert (run / "alphas.json").read_bytes() == (ref / "alphas.json").read_bytes()
    assert [r["epoch"] for r in history(run)] == [0, 1]


def test_paper_scale_defaults_are_named_before_the_search_starts(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A config that leaves the size at the paper's defaults says so (and the cost) before any work."""
    nowhere = str(tmp_path / "no-data")
    cfg = write_config(tmp_path / "quick.yaml", {"controller": "darts"})
    run = tmp_path / "run"
    assert cli_main(["search", "--config", str(cfg), "--out", str(run), "--data-dir", nowhere]) == 2
    out, err = capsys.readouterr()
    notice = [line for line in out.splitlines() if "paper's defaults" in line]
    assert notice == [
        f"{run}: using the paper's defaults epochs=50, train_subset=all (every cifar10 training image: 50,000 "
        "for CIFAR-10): up to a GPU-day, several days on a CPU; "
        "set epochs and train_subset in the config to silence this"
    ]
    assert "cifar10: not found" in err  # then the search starts (and here finds no data)
    # Sizes set explicitly (as experiments/darts_cifar10.yaml does) silence it.
    write_config(cfg, {"controller": "darts", "epochs": 50, "train_subset": None})
    assert cli_main(["search", "--config", str(cfg), "--out", str(tmp_path / "run2"), "--data-dir", nowhere]) == 2
    assert "paper's defaults" not in capsys.readouterr().out


# --------------------------------------------------------------------------- #
# Guards
# --------------------------------------------------------------------------- #


def test_guard_helpers() -> None:
    g = DartsGenotype(
        [("skip_connect", 0), ("skip_connect", 1), ("sep_conv_3x3", 0), ("skip_connect", 2)],
        [2, 3],
        [("max_pool_3x3", 0), ("skip_connect", 1), ("max_pool_3x3", 0), ("max_pool_3x3", 2)],
        [2, 3],
    )
    assert skip_counts(g) == {"normal": 3, "reduce": 1}
    assert early_stop(g, 2) and not early_stop(g, 3) and not early_stop(g, None)
    cell = from_nb201_string("|skip_connect~0|+|none~0|skip_connect~1|+|nor_conv_3x3~0|none~1|skip_connect~2|")
    assert skip_counts(cell) == {"cell": 3}


def test_max_skip_warmup_and_darts_plus_guards(tmp_path: Path) -> None:
    capped = quiet_run(tiny(guards__max_skip=0, guards__warmup_epochs=1), tmp_path / "capped")
    assert capped.genotype.skip_count("normal") == 0
    records = history(tmp_path / "capped")
    assert all(r["skip_counts"]["normal"] == 0 for r in records)
    assert records[0]["warmup"] and records[0]["arch_loss"] is None  # no architecture step in warm-up
    assert not records[1]["warmup"] and records[1]["arch_loss"] is not None

    # DARTS+ with limit 0 on NB201 cells: either it stopped at the first epoch with a skip and kept
    # the last skip-free genotype, or no epoch ever derived a skip.
    raw = tiny(space="nb201", epochs=3, supernet={"channels": 4, "cells_per_stage": 1}, guards__early_stop_skip=0)
    result = quiet_run(raw, tmp_path / "plus")
    records = history(tmp_path / "plus")
    raw_skips = [r["raw_skip_counts"]["cell"] for r in records]
    if result.stopped_early:
        assert raw_skips[-1] > 0 and all(s == 0 for s in raw_skips[:-1])
        assert records[-1].get("early_stop") and result.epochs_run == len(records) < 3
        if len(records) > 1:
            assert result.genotype == parse_genotype(json.dumps(records[-2]["genotype_json"]))
    else:
        assert raw_skips == [0, 0, 0] and result.epochs_run == 3


def test_fair_darts_uses_sigmoid_weights(tmp_path: Path) -> None:
    result = quiet_run(tiny(epochs=1, method={"name": "fair_darts", "zero_one_weight": 1.0}), tmp_path / "f")
    rows = result.arch_weights["normal"]
    assert all(0 < w < 1 for row in rows for w in row)
    assert any(abs(sum(row) - 1) > 0.1 for row in rows)  # independent sigmoids, not a softmax


# --------------------------------------------------------------------------- #
# Export and seeds
# --------------------------------------------------------------------------- #


def test_export_formats(tmp_path: Path, first_run: tuple[Path, Any], capsys: pytest.CaptureFixture) -> None:
    run, result = first_run
    assert load_genotype_file(run / "genotype.json") == parse_genotype(export_genotype(run, "json"))
    assert from_darts_text(export_genotype(run, "darts")) == result.genotype
    assert cli_main(["export", str(run), "--format", "nb201"]) == 2
    assert "nb201 is only for NB201 runs" in capsys.readouterr().err
    out = tmp_path / "g.txt"
    assert cli_main(["export", str(run), "--format", "darts", "--out", str(out)]) == 0
    assert from_darts_text(out.read_text()) == result.genotype
    assert cli_main(["export", str(tmp_path / "nothing"), "--format", "json"]) == 2
    # Any controller's run dir works: only genotype.json is read.
    other = tmp_path / "other"
    other.mkdir()
    cell = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|avg_pool_3x3~1|nor_conv_3x3~2|"
    (other / "genotype.json").write_text(to_json(from_nb201_string(cell)))
    assert export_genotype(other, "nb201") == cell


def test_agreement_measures() -> None:
    a = DartsGenotype(
        [("sep_conv_3x3", 0), ("skip_connect", 1), ("sep_conv_3x3", 0), ("dil_conv_3x3", 2)], [2, 3],
        [("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 0)], [2, 3],
    )  # fmt: skip
    b = DartsGenotype(
        [("skip_connect", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 0), ("sep_conv_3x3", 2)], [2, 3],
        [("avg_pool_3x3", 0), ("avg_pool_3x3", 1), ("avg_pool_3x3", 2), ("avg_pool_3x3", 0)], [2, 3],
    )  # fmt: skip
    assert edge_agreement(a, a) == {"normal": 1.0, "reduce": 1.0}
    assert edge_agreement(a, b) == {"normal": 0.75, "reduce": 0.0}  # edge order within a node is irrelevant
    wa = {"ops": ["none", "skip", "conv"], "weights": {"normal": [[0.9, 0.05, 0.05], [0.1, 0.6, 0.3]]}}
    wb = {"ops": ["none", "skip", "conv"], "weights": {"normal": [[0.1, 0.8, 0.1], [0.1, 0.2, 0.7]]}}
    assert op_agreement(wa, wb) == {"normal": 0.5}  # 'none' is ignored: edge 0 is skip in both


def test_seeds_write_independent_runs_and_agreement(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    cfg = write_config(tmp_path / "tiny.yaml", tiny(epochs=1))
    out = tmp_path / "seeds"
    assert cli_main(["search", "--config", str(cfg), "--out", str(out), "--seeds", "0,1", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    report = json.loads((out / "agreement.json").read_text())
    assert json.loads((out / "seed-1" / "config.json").read_text())["seed"] == 1
    assert [p["seeds"] for p in report["pairs"]] == [[0, 1]]
    pair = report["pairs"][0]
    g0, g1 = (load_genotype_file(out / f"seed-{s}" / "genotype.json") for s in (0, 1))
    assert pair["edges"] == edge_agreement(g0, g1)
    assert set(pair["ops"]) == {"normal", "reduce"}
    assert format_agreement(report) in printed
    assert cli_main(["search", "--config", str(cfg), "--out", str(out), "--seeds", "0,x"]) == 2


# --------------------------------------------------------------------------- #
# Two processes
# --------------------------------------------------------------------------- #

DDP_SCRIPT = """
import json, os, sys
from pathlib import Path
from nas.darts.config import load_config_file
from nas.darts.job import DartsJob
result = DartsJob().run(load_config_file(sys.argv[1]), sys.argv[2], progress=False, echo=lambda s: None)
Path(sys.argv[3], f"rank{os.environ['RANK']}.json").write_text(json.dumps(result.arch_weights))
"""


def test_two_process_gloo_search_keeps_ranks_identical(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "tiny.yaml", tiny(epochs=1, order="second", supernet__partial_channels=2))
    script = tmp_path / "ddp_search.py"
    script.write_text(DDP_SCRIPT)
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(script), str(cfg), str(run), str(tmp_path)]  # fmt: skip
    proc = subprocess.run(cmd, env=_env(), cwd=REPO, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rank0, rank1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert rank0 == rank1
    result = json.loads((run / "result.json").read_text())
    assert result["world_size"] == 2
    assert json.loads((run / "alphas.json").read_text())["weights"] == rank0


# --------------------------------------------------------------------------- #
# NB201 on real images
# --------------------------------------------------------------------------- #


def test_nb201_search_on_real_cifar10_looks_up_the_table(tmp_path: Path, cifar10_dir: Path, nb201_csv: Path) -> None:
    from nas.nb201_table import NB201Table

    raw = tiny(
        space="nb201",
        dataset="cifar10",
        data_dir=str(cifar10_dir),
        train_subset=100,
        batch_size=25,
        epochs=1,
        supernet={"channels": 4, "cells_per_stage": 1},
    )
    result = quiet_run(raw, tmp_path / "nb201")
    assert isinstance(result.genotype, NB201Genotype)
    table = NB201Table.load(nb201_csv)
    record = table.query(result.genotype)
    (epoch,) = history(tmp_path / "nb201")
    assert epoch["nb201"] == {"c10_valid": record.c10_valid, "c10_test": record.c10_test}
    assert set(epoch["skip_counts"]) == {"cell"}
    saved = json.loads((tmp_path / "nb201" / "result.json").read_text())
    assert saved["nb201"]["c10_test"] == record.c10_test
    assert from_nb201_string((tmp_path / "nb201" / "genotype.txt").read_text()) == result.genotype
    assert export_genotype(tmp_path / "nb201", "nb201") == record.arch_str


def test_config_resolves_defaults() -> None:
    cfg = load_config({"epochs": 3})
    assert isinstance(cfg, DartsSearchConfig) and cfg.resolved()["optimizer"]["grad_clip"] == 5.0


def test_nas_show_counts_the_skip_connections_of_a_darts_cell(capsys: pytest.CaptureFixture[str]) -> None:
    g = parse_genotype("DARTS_V2")
    assert cli_main(["show", "DARTS_V2"]) == 0
    line = next(s for s in capsys.readouterr().out.splitlines() if s.startswith("skips"))
    assert f"normal {g.skip_count('normal')}, reduce {g.skip_count('reduce')}" in line
    assert g.skip_count("normal") + g.skip_count("reduce") > 0  # DARTS_V2 has some: the count is not a constant
