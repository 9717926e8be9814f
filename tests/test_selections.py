"""Final-cell selections: the arg-max, DARTS-PT and Zero-Cost-PT on tiny real searches (both spaces)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch

from nas.darts.config import apply_overrides, load_config
from nas.darts.job import DartsJob
from nas.darts.methods.base import CellArch
from nas.darts.selection import SELECTIONS, selection_class
from nas.darts.selection.darts_pt import DartsPT, DartsPTConfig
from nas.darts.selection.zero_cost_pt import _argmin
from nas.darts.single_path import NB201SinglePath
from nas.errors import NasError
from nas.genotypes.types import DartsGenotype, NB201Genotype

NB201: dict[str, Any] = {
    "controller": "darts",
    "space": "nb201",
    "dataset": "synthetic",
    "train_subset": 60,
    "supernet": {"channels": 4, "cells_per_stage": 1},
    "epochs": 1,
    "batch_size": 10,
    "threads": 1,
    "seed": 0,
}
# Two nodes (5 edges, one node with three inputs): every code path of the DARTS space, quickly.
DARTS: dict[str, Any] = {
    **NB201,
    "space": "darts",
    "supernet": {"channels": 4, "layers": 3, "steps": 2, "multiplier": 2},
}
ZC = {"name": "zero_cost_pt", "pool_size": 2, "validate_rounds": 2, "channels": 4, "cells_per_stage": 1, "layers": 3}


def run(raw: dict[str, Any], run_dir: Path) -> Any:
    return DartsJob().run(load_config(raw), run_dir, progress=False, echo=lambda _s: None)


def test_registered_selections_are_one_file_each() -> None:
    for name in SELECTIONS.names():
        cls = selection_class(name)
        assert cls.name == name and cls.__module__ == f"nas.darts.selection.{name}"


def test_argmin_is_numpy_nanargmin_with_first_minimum() -> None:
    assert _argmin([3.0, 1.0, 1.0, 2.0]) == 1
    assert _argmin([math.nan, 5.0, 4.0]) == 2
    assert _argmin([math.nan, math.nan]) == 0


@pytest.mark.parametrize("base", [NB201, DARTS], ids=["nb201", "darts"])
def test_zero_cost_pt_needs_no_training_and_is_deterministic(base: dict[str, Any], tmp_path: Path) -> None:
    raw = apply_overrides({**base, "epochs": 0, "selection": ZC}, {})
    first = run(raw, tmp_path / "a")
    again = run(raw, tmp_path / "b")
    assert first.genotype == again.genotype and first.epochs_run == 0
    assert isinstance(first.genotype, NB201Genotype if base is NB201 else DartsGenotype)
    result = json.loads((tmp_path / "a" / "result.json").read_text())
    record = result["selection_record"]
    assert result["selection"] == "zero_cost_pt" and len(record["pool"]) == 2
    assert 1 <= record["distinct"] <= 2 and len(record["validation_nwot"]) == record["distinct"]
    assert result["search_time_s"] > 0  # the selection's time is the search's


@pytest.mark.parametrize("base", [NB201, DARTS], ids=["nb201", "darts"])
def test_zero_cost_pt_validation_score_only_changes_which_pool_cell_is_returned(
    base: dict[str, Any], tmp_path: Path
) -> None:
    """``nwot+synflow`` scores the same pool (its NWOT column is the default run's) and picks the best mean rank."""
    from nas.genotypes.codec import to_text
    from nas.proxies.combine import rank_average

    zc = {**ZC, "pool_size": 3}
    plain = run(apply_overrides({**base, "epochs": 0, "selection": zc}, {}), tmp_path / "nwot")
    both = run(
        apply_overrides({**base, "epochs": 0, "selection": {**zc, "validation_score": "nwot+synflow"}}, {}),
        tmp_path / "both",
    )
    a = json.loads((tmp_path / "nwot" / "result.json").read_text())["selection_record"]
    b = json.loads((tmp_path / "both" / "result.json").read_text())["selection_record"]
    assert a["pool"] == b["pool"] and a["validation_nwot"] == b["validation_nwot"]
    assert "validation_synflow" not in a and len(b["validation_synflow"]) == b["distinct"]
    assert all(math.isfinite(v) and v > 0 for v in b["validation_synflow"])
    unique = list(dict.fromkeys(b["pool"]))
    mean_rank = rank_average({"nwot": b["validation_nwot"], "synflow": b["validation_synflow"]})
    assert to_text(both.genotype) == unique[int(mean_rank.argmax())]
    assert to_text(plain.genotype) == unique[max(range(len(unique)), key=lambda i: a["validation_nwot"][i])]


def test_zero_weight_ops_run_on_a_zero_input_as_the_nb201_authors_cell() -> None:
    """Removing an op changes the NASWOT kernel by its ReLU codes of a zero input, not by skipping it."""
    from nas.proxies.naswot import ReluKernel

    torch.manual_seed(0)
    net = NB201SinglePath(4, 1, running_stats=True).eval()
    w = torch.full((6, 5), 0.2)
    w[0, 3] = 0.0
    x = torch.randn(8, 3, 16, 16)
    kernels = []
    for active in ([tuple(range(5))] * 6, [tuple(k for k in range(5) if k != 3)] + [tuple(range(5))] * 5):
        arch = {"cell": CellArch(w, None, active)}
        with torch.no_grad(), ReluKernel(net, 8, x.device) as probe:
            out = net.forward_arch(x, arch)
        kernels.append((out, probe.K.clone()))
    assert torch.allclose(kernels[0][0], kernels[1][0])  # same output: the op is multiplied by 0
    diff = kernels[0][1] - kernels[1][1]
    assert torch.allclose(diff, diff[0, 0].expand_as(diff)) and diff[0, 0] > 0  # all-zero codes: a constant block


@pytest.mark.parametrize("base", [NB201, DARTS], ids=["nb201", "darts"])
def test_darts_pt_decides_every_edge_and_tunes_in_between(base: dict[str, Any], tmp_path: Path) -> None:
    tune = 1 if base is NB201 else 0  # tuning is the same code in both spaces; keep the DARTS case quick
    raw = apply_overrides({**base, "selection": {"name": "darts_pt", "tune_epochs": tune}}, {})
    result = run(raw, tmp_path / "pt")
    saved = json.loads((tmp_path / "pt" / "result.json").read_text())
    edges = 6 if base is NB201 else 5
    assert saved["selection_record"]["decisions"] == edges
    assert saved["selection_record"]["tune_epochs"] == (6 if base is NB201 else 0)
    assert isinstance(result.genotype, NB201Genotype if base is NB201 else DartsGenotype)
    if base is DARTS:
        assert all(len({i for _, i in result.genotype.normal[2 * n : 2 * n + 2]}) == 2 for n in range(2))


def test_darts_pt_projection_zeroes_the_removed_op_and_makes_decided_edges_one_hot() -> None:
    pt = DartsPT(DartsPTConfig())
    pt.decided, pt.removed = {"cell": {1: 2}}, {"cell": set()}
    w = torch.full((6, 5), 0.2)
    out = pt._project({"cell": CellArch(w)}, {"cell": (0, 4)})["cell"].weights
    assert out[1].tolist() == [0, 0, 1, 0, 0] and out[0, 4] == 0 and torch.equal(out[0, :4], w[0, :4])
    assert torch.equal(w, torch.full((6, 5), 0.2))  # the method's weights are not modified


def test_perturbation_selection_refuses_a_single_path_method() -> None:
    with pytest.raises(NasError, match="selection: darts_pt perturbs every operation"):
        load_config({**NB201, "method": "gdas", "selection": "darts_pt"})
    with pytest.raises(NasError, match="epochs: expected a positive integer, got 0"):
        load_config({**NB201, "epochs": 0})


def test_each_selection_says_whether_it_reads_the_trained_supernet() -> None:
    """zero_cost_pt builds its own untrained supernet: training one first would be wasted time."""
    with pytest.raises(NasError, match="epochs: expected 0, got 1 .selection zero_cost_pt"):
        load_config({**NB201, "selection": ZC})
    assert load_config({**NB201, "epochs": 0, "selection": "darts_pt"}).epochs == 0  # it tunes by itself


def test_zero_cost_pt_validates_every_cell_on_the_same_first_images_as_the_authors() -> None:
    """Their post_validate.py: SubsetRandomSampler(indices[:rounds x batch]) for every cell; ours as an option."""
    from types import SimpleNamespace

    from nas.darts.selection.zero_cost_pt import ZeroCostPT, ZeroCostPTConfig
    from nas.data.loader import BatchLoader

    images = torch.arange(20, dtype=torch.uint8).view(20, 1, 1, 1).expand(20, 3, 4, 4).contiguous()
    loader = BatchLoader(images, torch.zeros(20, dtype=torch.long), batch_size=4, mean=[0.0] * 3, std=[1 / 255] * 3)
    ctx = SimpleNamespace(train_loader=loader, device=torch.device("cpu"))

    def seen(batches: Any) -> list[int]:
        return sorted(int(v) for x in batches for v in x[:, 0, 0, 0].round())

    zc = ZeroCostPT(ZeroCostPTConfig(validate_rounds=2))
    passes = zc._validation_data(ctx, iter(()), 3)  # type: ignore[arg-type]
    assert [seen(p) for p in passes] == [list(range(8))] * 3  # each cell: the first 2 x 4 images
    stream = iter([torch.zeros(4, 3, 4, 4)])
    streamed = ZeroCostPT(ZeroCostPTConfig(validation_batches="stream"))._validation_data(ctx, stream, 2)  # type: ignore[arg-type]
    assert streamed == [stream, stream]
    many = ZeroCostPT(ZeroCostPTConfig(validate_rounds=100))._validation_data(ctx, iter(()), 1)  # type: ignore[arg-type]
    assert seen(many[0]) == list(range(20))  # capped at the loader's images, as their indices[:split]
