"""benchmarks/compare_official_nb201.py: the parts that need no checkout of the authors' code.

Argument errors are one line (exit 2 on the command line), their genotype becomes a validated
NB201 string, the statistics call a difference beyond noise only when both tests say so, and the
result writer produces a .json with command/date/machine and a .md with every seed and edit.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nas.errors import NasError
from nas.genotypes.types import NB201_OPS

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import _official_nb201_runner as runner  # noqa: E402
import compare_official_nb201 as cmp  # noqa: E402


def test_a_path_that_is_not_a_checkout_is_one_line_naming_the_option(tmp_path: Path) -> None:
    (tmp_path / "exps").mkdir()
    with pytest.raises(NasError, match=r"^--official: .* is not a checkout of D-X-Y/AutoDL-Projects \(no exps/"):
        cmp.check_official(tmp_path)


def test_a_checkout_layout_is_accepted(tmp_path: Path) -> None:
    for rel in ("exps/NATS-algos/search-cell.py", "xautodl/models/cell_searchs/generic_model.py"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("# placeholder\n")
    assert cmp.check_official(tmp_path) == tmp_path.resolve()


def test_the_command_exits_2_with_one_line_when_the_path_is_not_a_checkout(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "compare_official_nb201.py"), "--official", str(tmp_path)]
        + ["--data-dir", str(tmp_path), "--results", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --official: ")
    assert not (tmp_path / "out.json").exists()


@pytest.mark.parametrize(
    ("text", "option"),
    [("0,x", "--seeds"), ("", "--seeds"), ("1,1", "--seeds"), ("-1", "--seeds")],
)
def test_bad_seeds_are_one_line(text: str, option: str) -> None:
    with pytest.raises(NasError, match=f"^{option}: "):
        cmp.parse_seeds(text)


def test_seeds_and_algos_parse() -> None:
    assert cmp.parse_seeds("0,1, 2") == [0, 1, 2]
    assert cmp.parse_algos("GDAS, darts-v1") == ["gdas", "darts-v1"]
    with pytest.raises(NasError, match=r"^--algos: expected some of gdas, darts-v1, got 'enas'$"):
        cmp.parse_algos("enas")


def test_their_nodes_become_the_table_string() -> None:
    nodes = [
        [["skip_connect", 0]],
        [["nor_conv_3x3", 0], ["none", 1]],
        [["avg_pool_3x3", 0], ["nor_conv_1x1", 1], ["skip_connect", 2]],
    ]
    assert cmp.nodes_to_nb201(nodes) == (
        "|skip_connect~0|+|nor_conv_3x3~0|none~1|+|avg_pool_3x3~0|nor_conv_1x1~1|skip_connect~2|"
    )


@pytest.mark.parametrize(
    "nodes",
    [
        [[["skip_connect", 0]], [["none", 0]]],  # node 2 lacks its edge from node 1
        [[["sep_conv_3x3", 0]], [["none", 0], ["none", 1]], [["none", 0], ["none", 1], ["none", 2]]],
        [[["none", 0, 1]]],
    ],
)
def test_a_genotype_outside_the_space_is_an_error(nodes: Any) -> None:
    with pytest.raises(NasError):
        cmp.nodes_to_nb201(nodes)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.sampled_from(list(NB201_OPS)), min_size=6, max_size=6))
def test_every_cell_of_the_space_converts_to_its_string(ops: list[str]) -> None:
    it = iter(ops)
    nodes = [[(next(it), j) for j in range(i)] for i in range(1, 4)]
    expected = "+".join("|" + "|".join(f"{op}~{j}" for op, j in node) + "|" for node in nodes)
    assert cmp.nodes_to_nb201(nodes) == expected


def test_clearly_separated_seeds_are_beyond_noise() -> None:
    ours = [93.1, 93.4, 92.9, 93.2, 93.0]
    theirs = [54.3, 60.1, 70.2, 58.4, 66.0]
    out = cmp.compare(ours, theirs)
    assert out["beyond_noise"] is True
    # No ties: the exact two-sided p of a complete separation of 5 and 5 is 2/252.
    assert out["mannwhitney_p"] == pytest.approx(2 / 252, abs=1e-4)
    assert out["permutation_p"] == pytest.approx(2 / 252, abs=1e-4)
    assert out["mean_difference"] == pytest.approx(sum(ours) / 5 - sum(theirs) / 5, abs=1e-3)
    assert out["verdict"].startswith("beyond noise: ours above theirs")
    assert out["ours"]["n"] == 5 and out["theirs"]["min"] == 54.3


def test_overlapping_seeds_are_within_noise() -> None:
    out = cmp.compare([88.4, 55.8, 79.0, 87.2, 54.3], [85.0, 60.2, 75.1, 90.3, 54.3])
    assert out["beyond_noise"] is False
    assert out["mannwhitney_p"] > 0.5 and out["permutation_p"] > 0.5
    assert out["verdict"].startswith("within noise")


def test_one_seed_a_side_is_an_error() -> None:
    with pytest.raises(NasError, match="^compare: need at least 2 seeds a side"):
        cmp.compare([93.0], [92.0])


def _ours_file(tmp_path: Path) -> Path:
    runs = [
        {"method": "GDAS", "seed": s, "cell": "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "search_time_s": 1.0}
        for s in (0, 1)
    ]
    path = tmp_path / "ws.json"
    path.write_text(json.dumps({"date": "2026-12-03", "machine": {"git_commit": "abc"}, "runs": runs}))
    return path


def test_our_rows_are_read_and_a_missing_one_is_named(tmp_path: Path) -> None:
    path = _ours_file(tmp_path)
    rows = cmp.read_ours(path, ["gdas"], [0, 1])
    assert set(rows) == {("gdas", 0), ("gdas", 1)}
    assert "read from" in rows[("gdas", 0)]["source"] and "abc" in rows[("gdas", 0)]["source"]
    with pytest.raises(NasError, match=r"no row for method 'DARTS 1st order' seed 0$"):
        cmp.read_ours(path, ["darts-v1"], [0])


def test_their_command_line_sets_only_the_cpu_size_options() -> None:
    official = Path("/x")
    gdas = runner.their_argv(official, "gdas", 3, "/data", Path("/out"))
    darts = runner.their_argv(official, "darts-v1", 3, "/data", Path("/out"))
    for argv in (gdas, darts):
        pairs = dict(zip(argv[1::2], argv[2::2], strict=False))
        assert pairs["--channel"] == "8" and pairs["--num_cells"] == "3" and pairs["--overwite_epochs"] == "15"
        assert pairs["--rand_seed"] == "3" and pairs["--use_api"] == "0"
    assert "--arch_learning_rate" not in gdas
    assert darts[darts.index("--arch_learning_rate") + 1] == "0.003"


def test_the_result_writer_gives_json_and_markdown(tmp_path: Path) -> None:
    summary = {"gdas": cmp.compare([88.4, 55.8, 79.0], [85.0, 60.2, 75.1])}
    run = {
        "algo": "gdas",
        "seed": 0,
        "ours_cell": "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
        "ours_c10_test": 10.0,
        "theirs_cell": "|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|",
        "theirs_c10_test": 11.5,
        "theirs_search_wall_s": 240.0,
    }
    payload = {
        "their_commit": "f46486e",
        "ours_source": "rows read from ws.json (not rerun)",
        "slice": "the slice",
        "their_settings": "their settings",
        "edits": ["edit one", "edit two"],
        "summary": summary,
        "runs": [run],
        "not_run": ["gdas seed 4 (failed)"],
    }
    jpath, mpath = cmp.write_results(tmp_path / "cmp", payload)
    doc = json.loads(jpath.read_text())
    assert {"command", "date", "machine"} <= set(doc) and doc["runs"][0]["theirs_c10_test"] == 11.5
    md = mpath.read_text()
    assert "| gdas | 3 | 74.40 ± 16.78 | 73.43 ± 12.48 | +0.97 |" in md
    assert "| gdas | 0 | 10.00 | `|none~0|" in md and "| 11.50 | `|skip_connect~0|" in md
    assert "1. edit one" in md and "2. edit two" in md
    assert "f46486e" in md and "rows read from ws.json (not rerun)" in md
    assert "Their searches not run or failed: gdas seed 4 (failed)." in md


# --- codebases: one runner file each, registered in compare_official_nb201.CODEBASES ---------------


def test_every_registered_codebase_describes_itself_and_names_benchmark_methods() -> None:
    import bench_weight_sharing_nb201 as bench

    assert {"autodl", "beta-darts", "darts-pt", "drnas", "zero-cost-pt"} <= set(cmp.CODEBASES)
    for name, module in cmp.CODEBASES.items():
        codebase, runner_path = cmp.load_codebase(name)
        assert runner_path.name == f"{module}.py" and runner_path.is_file()
        assert codebase.repository.count("/") == 1 and codebase.needed and codebase.edits
        assert set(codebase.configs) == set(codebase.ours)
        # Our side of every algorithm is a row of the weight-sharing benchmark (read or rerun).
        assert set(codebase.ours.values()) <= set(bench.METHODS), name


def test_an_unknown_codebase_is_one_line_naming_the_option(tmp_path: Path) -> None:
    expected = "--codebase: expected one of autodl, beta-darts, darts-pt, drnas, zero-cost-pt, got 'enas'"
    with pytest.raises(NasError, match="^" + re.escape(expected) + "$"):
        cmp.load_codebase("enas")
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "compare_official_nb201.py"), "--codebase", "enas"]
        + ["--official", str(tmp_path), "--data-dir", str(tmp_path), "--results", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and proc.stderr.strip() == "error: " + expected


def test_the_beta_darts_checkout_is_checked_and_its_algorithms_are_the_default(tmp_path: Path) -> None:
    codebase, _ = cmp.load_codebase("beta-darts")
    with pytest.raises(
        NasError, match=r"^--official: .* is not a checkout of Sunshine-Ye/Beta-DARTS \(no nasbench201/"
    ):
        cmp.check_official(tmp_path, codebase)
    for rel in codebase.needed:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("# placeholder\n")
    assert cmp.check_official(tmp_path, codebase) == tmp_path.resolve()
    assert cmp.parse_algos(None, codebase) == ["beta-darts"]
    assert cmp.parse_algos(None) == ["gdas", "darts-v1"]
    with pytest.raises(NasError, match=r"^--algos: expected some of beta-darts, got 'gdas'$"):
        cmp.parse_algos("gdas", codebase)


def test_beta_darts_command_line_sets_our_cpu_size_and_config() -> None:
    import _official_beta_darts_runner as beta

    argv = beta.their_argv(Path("/x"), 7, "/data")
    assert argv[0] == "/x/nasbench201/train_search.py"
    pairs = dict(zip(argv[1::2], argv[2::2], strict=True))
    assert pairs == {
        "--data": "/data",
        "--dataset": "cifar10",
        "--seed": "7",
        "--init_channels": "8",
        "--epochs": "15",
        "--batch_size": "64",
        "--weight_decay": "5e-4",
        "--arch_learning_rate": "0.003",
    }
    # The values passed are those of our config (the benchmark's beta-DARTS row uses it unchanged but the method).
    from nas.config_io import read_yaml

    ours = read_yaml(REPO / "experiments" / beta.OUR_CONFIG)
    assert ours["supernet"]["channels"] == 8 and ours["supernet"]["cells_per_stage"] == beta.CELLS_PER_STAGE
    assert ours["epochs"] == 15 and ours["batch_size"] == 64
    assert ours["optimizer"]["weight_decay"] == 5e-4 and ours["arch_optimizer"]["lr"] == 3e-3


def test_the_parameter_count_stand_in_matches_the_sum_theirs_meant() -> None:
    import _official_common as common
    from torch import nn

    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Linear(8, 10))
    model.add_module("auxiliary_head", nn.Linear(4, 4))
    expected = (3 * 8 * 9 + 8 + 8 * 10 + 10) / 1e6
    assert common.parameters_in_mb(model) == pytest.approx(expected)


def test_the_accuracy_stand_in_counts_top_k_hits_in_percent() -> None:
    import _official_common as common
    import torch

    logits = torch.tensor([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1], [0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    target = torch.tensor([1, 2, 1, 0])  # top-1 hits: rows 0, 3; top-2 hits: rows 0, 2, 3
    top1, top2 = common.topk_accuracy(logits.t().contiguous().t(), target, topk=(1, 2))
    assert top1.item() == pytest.approx(50.0) and top2.item() == pytest.approx(75.0)


# --- DrNAS (xiangning-chen/DrNAS, 201-space/train_search.py) -----------------------------------


def test_the_drnas_checkout_is_checked_and_its_algorithm_is_the_default(tmp_path: Path) -> None:
    codebase, runner_path = cmp.load_codebase("drnas")
    assert runner_path.name == "_official_drnas_runner.py"
    with pytest.raises(NasError, match=r"^--official: .* is not a checkout of xiangning-chen/DrNAS \(no 201-space/"):
        cmp.check_official(tmp_path, codebase)
    for rel in codebase.needed:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("# placeholder\n")
    assert cmp.check_official(tmp_path, codebase) == tmp_path.resolve()
    assert cmp.parse_algos(None, codebase) == ["drnas"]
    with pytest.raises(NasError, match=r"^--algos: expected some of drnas, got 'gdas'$"):
        cmp.parse_algos("gdas", codebase)


def test_drnas_command_line_sets_our_cpu_size_and_config() -> None:
    import _official_drnas_runner as drnas
    import bench_weight_sharing_nb201 as bench

    argv = drnas.their_argv(Path("/x"), 3, "/data")
    assert argv[0] == "/x/201-space/train_search.py"
    pairs = dict(zip(argv[1::2], argv[2::2], strict=True))
    assert pairs == {
        "--data": "/data",
        "--dataset": "cifar10",
        "--method": "dirichlet",
        "--seed": "3",
        "--init_channels": "8",
        "--epochs": "15",
        "--batch_size": "64",
        "--weight_decay": "5e-4",
        "--arch_learning_rate": "0.003",
    }
    from nas.config_io import read_yaml

    # Our side: the benchmark's DrNAS row is this config with only the method changed (no KL anchor).
    assert bench.METHODS["DrNAS"] == (drnas.OUR_CONFIG, {"method.name": "drnas"})
    ours = read_yaml(REPO / "experiments" / drnas.OUR_CONFIG)
    assert ours["supernet"] == {"channels": 8, "cells_per_stage": drnas.CELLS_PER_STAGE, "partial_channels": 1}
    assert ours["epochs"] == 15 and ours["batch_size"] == 64 and ours["val_fraction"] == 0.5
    assert ours["optimizer"]["weight_decay"] == 5e-4 and ours["arch_optimizer"]["lr"] == 3e-3
    assert ours["arch_optimizer"]["weight_decay"] == 1e-3  # their --reg_scale default, Adam's weight decay


def test_the_api_stub_answers_in_the_layout_their_distill_reads() -> None:
    import _official_common as common

    lines = common.api_answer().split("\n")
    assert len(lines) == 10
    # distill() reads lines 5, 7, 9 by position: the dataset, then "split : [loss = x, top1 = y%]" per split.
    for index, name, splits in ((5, "cifar10", 2), (7, "cifar100", 3), (9, "ImageNet16-120", 3)):
        assert lines[index].split()[0] == name
        fields = lines[index].replace(" ", "").split(":")
        assert len(fields) == splits + 1
        assert all(f.split("top1=")[1].startswith("0.00%]") for f in fields[1:])


def test_the_cifar_stand_in_serves_our_slice_in_the_given_order() -> None:
    import _official_common as common
    import numpy as np
    import torch
    from PIL import Image

    images = torch.arange(5 * 3 * 32 * 32, dtype=torch.int64).remainder(256).to(torch.uint8).reshape(5, 3, 32, 32)
    whole = type(
        "Whole",
        (),
        {
            "train_images": images,
            "train_labels": torch.tensor([0, 1, 2, 3, 4]),
            "test_images": images[:2],
            "test_labels": torch.tensor([9, 8]),
        },
    )()
    sliced = common.cifar10_standin(whole, [3, 0, 4])(root="unused", train=True)
    assert len(sliced) == 3 and [sliced[i][1] for i in range(3)] == [3, 0, 4]
    img, _ = sliced[0]
    assert isinstance(img, Image.Image) and img.size == (32, 32)
    assert torch.equal(torch.from_numpy(np.array(img)).permute(2, 0, 1), images[3])
    full = common.cifar10_standin(whole)(root="unused", train=True, transform=lambda im: "t")
    assert len(full) == 5 and full[4] == ("t", 4)
    assert [t for _, t in common.cifar10_standin(whole, [0])(root="unused", train=False)] == [9, 8]


# --- Zero-Cost-PT (the authors' two-stage NB201 pipeline) ---------------------------------------


def test_the_zero_cost_pt_checkout_is_checked_and_its_algorithm_is_the_default(tmp_path: Path) -> None:
    codebase, runner_path = cmp.load_codebase("Zero-Cost-PT")
    assert runner_path.name == "_official_zero_cost_pt_runner.py"
    with pytest.raises(NasError, match=r"^--official: .* is not a checkout of qgh1223/zerocostpt \(no exp_scripts/"):
        cmp.check_official(tmp_path, codebase)
    for rel in codebase.needed[:-1]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("# placeholder\n")
    with pytest.raises(NasError, match=r"\(no nasbench201/init_projection.py\)$"):
        cmp.check_official(tmp_path, codebase)
    (tmp_path / codebase.needed[-1]).write_text("# placeholder\n")
    assert cmp.check_official(tmp_path, codebase) == tmp_path.resolve()
    assert cmp.parse_algos(None, codebase) == ["zero-cost-pt"]
    with pytest.raises(NasError, match=r"^--algos: expected some of zero-cost-pt, got 'beta-darts'$"):
        cmp.parse_algos("beta-darts", codebase)


def test_zero_cost_pt_command_lines_set_our_cpu_size_and_config() -> None:
    import _official_zero_cost_pt_runner as zc

    first = zc.proposal_argv(Path("/x"), 4, "/data")
    second = zc.validation_argv(Path("/x"), 4, "/data")
    assert first[0] == "/x/nasbench201/networks_proposal.py" and second[0] == "/x/zerocostnas/post_validate.py"
    proposal = dict(zip(first[1::2], first[2::2], strict=True))
    validation = dict(zip(second[1::2], second[2::2], strict=True))
    assert proposal == {
        "--data": "/data",
        "--dataset": "cifar10",
        "--save": "zerocostpt_nb201_pipeline",
        "--gpu": "0",
        "--seed": "4",
        "--edge_decision": "random",
        "--proj_crit": "jacob",
        "--batch_size": "64",
        "--pool_size": "10",
        "--init_channels": "8",
    }
    assert validation == {
        "--data": "/data",
        # Where the proposal stage writes its pool (prop-ID-SEED-POOL), as the pipeline script passes it.
        "--ckpt_path": "../experiments/nas-bench-201/prop-zerocostpt_nb201_pipeline-4-10",
        "--save": "zerocostpt_nb201_pipeline",
        "--seed": "4",
        "--gpu": "0",
        "--edge_decision": "random",
        "--proj_crit": "jacob",
        "--batch_size": "64",
        "--validate_rounds": "10",
    }
    # The values passed are those of the benchmark's config ("jacob" is their name for NASWOT).
    from nas.config_io import read_yaml

    ours = read_yaml(REPO / "experiments" / zc.OUR_CONFIG)
    sel = ours["selection"]
    assert sel["name"] == "zero_cost_pt" and sel["proxy"] == "naswot"
    assert sel["pool_size"] == int(proposal["--pool_size"])
    assert sel["validate_rounds"] == int(validation["--validate_rounds"])
    assert sel["channels"] == zc.CHANNELS == int(proposal["--init_channels"])
    assert sel["cells_per_stage"] == zc.CELLS_PER_STAGE
    assert ours["batch_size"] == int(proposal["--batch_size"]) and ours["epochs"] == 0
    assert ours["train_subset"] == 2000 and ours["val_fraction"] == 0.5


def test_zero_cost_pt_cpu_edits_keep_modules_on_the_cpu_and_loaders_in_process() -> None:
    # In a child process: the edits patch torch globally.
    code = (
        "import sys; sys.path.insert(0, 'benchmarks')\n"
        "import torch, torch.utils.data\n"
        "import _official_zero_cost_pt_runner as zc\n"
        "zc._patch_cpu()\n"
        "m = torch.nn.Linear(2, 2)\n"
        "assert m.to(torch.device('cuda', 0)) is m and m.to('cuda') is m and m.cuda() is m\n"
        "assert m.to(torch.float64).weight.dtype == torch.float64\n"
        "dl = torch.utils.data.DataLoader(list(range(8)), batch_size=4, num_workers=4, pin_memory=True)\n"
        "assert dl.num_workers == 0 and dl.pin_memory is False and len(list(dl)) == 2\n"
        "torch.set_num_threads(3)\n"
        "assert torch.get_num_threads() == 1\n"
        "print('ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


# --- the benchmark's Zero-Cost-PT rows -------------------------------------------------------------


def test_the_benchmark_runs_zero_cost_pt_as_published_and_names_the_deviation() -> None:
    import bench_weight_sharing_nb201 as bench

    assert bench.METHODS["Zero-Cost-PT (CPU size)"] == ("zero_cost_pt_nb201_cpu.yaml", {})
    from nas.darts.selection.zero_cost_pt import ZeroCostPTConfig

    assert ZeroCostPTConfig().nwot_hooks == "relu_in_type_name"  # the authors' Jocab_Score rule
    assert ZeroCostPTConfig().validation_batches == "first_images"  # their post_validate.py
    assert bench.METHODS["Zero-Cost-PT (CPU size, per-unit codes, streamed validation)"][1] == {
        "selection.nwot_hooks": "relu_units",
        "selection.validation_batches": "stream",
    }


# --- DARTS-PT (ruocwang/darts-pt: nasbench201/train_search.py twice, supernet then projection) ----------


def test_the_darts_pt_checkout_is_checked_and_its_algorithm_is_the_default(tmp_path: Path) -> None:
    codebase, runner_path = cmp.load_codebase("darts-pt")
    assert runner_path.name == "_official_darts_pt_runner.py"
    with pytest.raises(NasError, match=r"^--official: .* is not a checkout of ruocwang/darts-pt \(no nasbench201/"):
        cmp.check_official(tmp_path, codebase)
    for rel in codebase.needed:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("# placeholder\n")
    assert cmp.check_official(tmp_path, codebase) == tmp_path.resolve()
    assert cmp.parse_algos(None, codebase) == ["darts-pt"]


def test_darts_pt_command_lines_are_their_two_scripts_at_our_cpu_size() -> None:
    import _official_darts_pt_runner as pt
    import bench_weight_sharing_nb201 as bench

    supernet, projection = pt.their_argvs(Path("/x"), 2, "/data")
    assert supernet[0] == projection[0] == "/x/nasbench201/train_search.py"
    first = dict(zip(supernet[1::2], supernet[2::2], strict=True))
    second = dict(zip(projection[1::2], projection[2::2], strict=True))
    sizes = {
        "--dataset": "cifar10",
        "--data": "/data",
        "--save": "darts-201",
        "--gpu": "0",
        "--seed": "2",
        "--init_channels": "8",
        "--epochs": "15",
        "--batch_size": "64",
        "--weight_decay": "5e-4",
        "--arch_learning_rate": "0.003",
    }
    # The supernet's last epoch is checkpointed, and the projection resumes from exactly that checkpoint.
    assert first == {**sizes, "--method": "darts", "--ckpt_interval": "15"}
    assert second == {
        **sizes,
        "--method": "darts-proj",
        "--resume_epoch": "15",
        "--resume_expid": "search-darts-201-2",  # their save dir: search-{save}-{seed}
        "--dev": "proj",
        "--edge_decision": "random",
        "--proj_crit": "acc",
        "--proj_intv": "5",
    }
    from nas.config_io import read_yaml
    from nas.darts.selection.darts_pt import DartsPTConfig

    # Our side: the benchmark's DARTS-PT row, whose tuning between decisions is their --proj_intv.
    assert bench.METHODS["DARTS-PT"] == (pt.OUR_CONFIG, {"selection.name": "darts_pt"})
    assert DartsPTConfig().tune_epochs == pt.PROJ_INTV
    ours = read_yaml(REPO / "experiments" / pt.OUR_CONFIG)
    assert ours["supernet"]["cells_per_stage"] == pt.CELLS_PER_STAGE and ours["epochs"] == pt.EPOCHS
    assert ours["method"] == {"name": "darts", "order": "first"}
