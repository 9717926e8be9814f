"""Zero-cost scores: determinism, no side effects, every genotype kind, the references' definitions, the CLI."""

from __future__ import annotations

import copy
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nas.cli import main
from nas.errors import NasError
from nas.genotypes import named
from nas.genotypes.codec import from_nb201_string, to_nb201_string
from nas.networks.nb201_network import NB201Cell
from nas.proxies import (
    Batch,
    build_network,
    majority_vote,
    proxy_names,
    rank_average,
    rank_quality,
    resolve_proxies,
    sample_batch,
    score,
    top_overlap,
)
from nas.proxies.jacov import jacobian_score
from nas.proxies.naswot import ReluKernel, relu_code_kernel
from nas.proxies.synflow import without_batchnorm
from nas.proxies.zico import zico_from_gradients
from nas.zoo import create_model

ALL = ["naswot", "synflow", "snip", "grad_norm", "jacov", "fisher", "zico", "params", "flops"]
CELL = "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|nor_conv_3x3~2|"
TINY_NB201 = {"channels": 4, "cells_per_stage": 1}


def _batch(n: int = 8, seed: int = 0, classes: int = 10) -> Batch:
    g = torch.Generator().manual_seed(seed)
    return Batch(torch.randn(n, 3, 32, 32, generator=g), torch.randint(0, classes, (n,), generator=g))


def _tiny_nb201(seed: int = 0) -> nn.Module:
    return build_network(from_nb201_string(CELL), seed, **TINY_NB201)


def test_registry_has_every_score_of_the_issue() -> None:
    assert proxy_names() == ALL
    assert [p.name for p in resolve_proxies("synflow, naswot")] == ["synflow", "naswot"]
    assert [p.name for p in resolve_proxies(None)] == ALL


# --------------------------------------------------------------------------- #
# Determinism and no side effects, score by score
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("name", ALL)
def test_each_score_is_deterministic_for_a_seed(name: str) -> None:
    genotype = from_nb201_string(CELL)
    a = score(genotype, [name], _batch(), seed=3, build_options=TINY_NB201)
    b = score(genotype, [name], _batch(), seed=3, build_options=TINY_NB201)
    assert a == b and math.isfinite(a[name])
    other = score(genotype, [name], _batch(), seed=4, build_options=TINY_NB201)
    if name in ("params", "flops"):
        assert other == a  # size does not depend on the initialisation
    else:
        assert other != a  # another seed initialises another network


@pytest.mark.parametrize("kind", ["nb201", "darts"])
def test_scores_do_not_depend_on_which_others_are_asked(kind: str) -> None:
    """Scores computed together share one training pass; alone, each runs its own."""
    if kind == "nb201":
        model = _tiny_nb201()
    else:
        model = build_network(named.get("DARTS_V2"), 0, channels=4, layers=3)
    batch = _batch()
    together = score(model, ALL, batch, seed=1)
    alone = {n: score(model, [n], batch, seed=1)[n] for n in reversed(ALL)}
    assert together == alone
    assert list(together) == ALL


def _state(model: nn.Module) -> dict:
    return {
        "tensors": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "grads": {n: None if p.grad is None else p.grad.clone() for n, p in model.named_parameters()},
        "flags": {n: p.requires_grad for n, p in model.named_parameters()},
        "modes": {n: m.training for n, m in model.named_modules()},
        "attrs": {n: sorted(m.__dict__) for n, m in model.named_modules()},
        "hooks": sum(
            len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) for m in model.modules()
        ),
    }


def _assert_same_state(before: dict, after: dict) -> None:
    assert before["flags"] == after["flags"]
    assert before["modes"] == after["modes"]
    assert before["attrs"] == after["attrs"]  # no patched methods or stray attributes left
    assert before["hooks"] == after["hooks"] == 0
    assert before["tensors"].keys() == after["tensors"].keys()
    for k, v in before["tensors"].items():
        assert torch.equal(v, after["tensors"][k]), k  # weights and batch-norm statistics
    for k, g in before["grads"].items():
        h = after["grads"][k]
        assert (g is None and h is None) or (g is not None and h is not None and torch.equal(g, h)), k


@pytest.mark.parametrize("name", ALL)
def test_each_score_leaves_no_state_behind(name: str) -> None:
    model = _tiny_nb201()
    model.train()
    model(torch.randn(4, 3, 32, 32))  # non-trivial running statistics
    model.eval()
    model.cells[0].train()  # mixed modes must come back as they were
    params = list(model.parameters())
    params[0].requires_grad_(False)
    params[1].grad = torch.full_like(params[1], 0.5)  # an existing gradient stays as it is
    before = _state(model)
    rng = torch.get_rng_state()
    score(model, [name], _batch(), seed=0)
    _assert_same_state(before, _state(model))
    assert torch.equal(rng, torch.get_rng_state())  # the caller's RNG stream is untouched


def test_a_failing_score_still_restores_the_model() -> None:
    model = _tiny_nb201().eval()
    before = _state(model)
    bad = Batch(torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 99]))  # a label the network has no class for
    with pytest.raises(NasError, match="proxy snip: the network failed"):
        score(model, ["snip"], bad, seed=0)
    _assert_same_state(before, _state(model))


# --------------------------------------------------------------------------- #
# Every genotype kind
# --------------------------------------------------------------------------- #


def _kinds() -> dict[str, nn.Module]:
    torch.manual_seed(0)
    return {
        "nb201": _tiny_nb201(),
        "darts": build_network(named.get("DARTS_V2"), 0, channels=4, layers=3, auxiliary=True),
        "macro": build_network(named.get("resnet20"), 0),
        "zoo": create_model("lenet5"),
        "zoo_relu6": create_model("mobilenetv2"),
    }


@pytest.mark.parametrize("kind", ["nb201", "darts", "macro", "zoo", "zoo_relu6"])
def test_every_score_works_on_every_genotype_kind(kind: str) -> None:
    model = _kinds()[kind]
    before = _state(model)
    values = score(model, None, _batch(6), seed=0)
    assert list(values) == ALL
    assert all(math.isfinite(v) for v in values.values()), values
    assert values["params"] > 0 and values["flops"] > 0 and values["synflow"] > 0
    _assert_same_state(before, _state(model))


def test_a_genotype_is_built_with_the_seed() -> None:
    genotype = from_nb201_string(CELL)
    batch = _batch()
    assert score(genotype, ["snip"], batch, seed=5, build_options=TINY_NB201) == score(
        build_network(genotype, 5, **TINY_NB201), ["snip"], batch, seed=5
    )
    # The table's network by default (C=16, N=5): the table's parameter count for this cell.
    assert score(genotype, ["params"], batch, seed=0)["params"] == sum(
        p.numel() for p in build_network(genotype, 0).parameters()
    )


# --------------------------------------------------------------------------- #
# The references' definitions
# --------------------------------------------------------------------------- #


def _reference_relu_kernel(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """NASLib's nwot: forward hooks on torch's ReLU modules, K += C C^T + (1-C)(1-C)^T of their input."""
    K = torch.zeros(len(x), len(x), dtype=torch.float64)

    def hook(module: nn.Module, inp: tuple, out: torch.Tensor) -> None:
        nonlocal K
        c = (inp[0] > 0).flatten(1).double()
        K += c @ c.T + (1 - c) @ (1 - c).T

    relus = [m for m in model.modules() if "ReLU" in type(m).__name__ and type(m).__module__.startswith("torch.")]
    handles = [m.register_forward_hook(hook) for m in relus]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return K


def test_naswot_kernel_equals_the_reference_on_a_per_edge_nb201_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Our cells apply a ReLU shared by several edges once; the kernel must equal the reference's,
    where every ReLUConvBN applies its own nn.ReLU module."""
    from nas.ops import ReLUConvBN

    model = _tiny_nb201().train()
    x = torch.randn(6, 3, 32, 32)
    ours = relu_code_kernel(model, x)

    def per_edge(self: NB201Cell, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for ins, ixs in zip(self.node_IN, self.node_IX):
            nodes.append(sum(self.layers[k](nodes[i]) for i, k in zip(ins, ixs)))
        return nodes[-1]

    monkeypatch.setattr(NB201Cell, "forward", per_edge)
    monkeypatch.setattr(ReLUConvBN, "forward", lambda self, x: self.op(x))  # run op.0, the nn.ReLU module
    reference = _reference_relu_kernel(model, x)
    assert torch.equal(ours, reference)
    assert float(torch.linalg.slogdet(reference).logabsdet) == pytest.approx(
        score(model, ["naswot"], Batch(x, torch.zeros(6, dtype=torch.long)), 0)["naswot"], rel=1e-12
    )


def test_relu_named_modules_equals_the_type_name_hooks_of_the_zero_cost_pt_authors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Their Jocab_Score hooks every module with "ReLU" in ``str(type(module))``: ReLUConvBN too (its input)."""
    from nas.ops import ReLUConvBN

    model = _tiny_nb201().eval()
    x = torch.randn(6, 3, 32, 32)
    ours = relu_code_kernel(model, x, relu_named_modules=True)
    assert not torch.equal(ours, relu_code_kernel(model, x))  # the default counts one code per ReLU unit

    def per_edge(self: NB201Cell, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for ins, ixs in zip(self.node_IN, self.node_IX):
            nodes.append(sum(self.layers[k](nodes[i]) for i, k in zip(ins, ixs)))
        return nodes[-1]

    monkeypatch.setattr(NB201Cell, "forward", per_edge)
    monkeypatch.setattr(ReLUConvBN, "forward", lambda self, x: self.op(x))
    K = torch.zeros(len(x), len(x), dtype=torch.float64)

    def hook(module: nn.Module, inp: tuple, out: torch.Tensor) -> None:
        nonlocal K
        c = (inp[0] > 0).flatten(1).double()
        K += c @ c.T + (1 - c) @ (1 - c).T

    hooked = [m for m in model.modules() if "ReLU" in str(type(m))]
    assert any(isinstance(m, ReLUConvBN) for m in hooked)
    handles = [m.register_forward_hook(hook) for m in hooked]
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    assert torch.equal(ours, K)


def test_relu_named_modules_count_the_real_input_of_an_operation_run_on_a_zero_input() -> None:
    """The authors zero a removed op's input inside its forward: the module hook still sees the input."""
    from nas.darts.single_path import on_zero_input
    from nas.ops import ReLUConvBN

    op, x = ReLUConvBN(3, 4, 3, 1, 1), torch.randn(5, 3, 8, 8)

    def codes(t: torch.Tensor) -> torch.Tensor:
        c = (t > 0).flatten(1).double()
        return c @ c.T + (1 - c) @ (1 - c).T

    with torch.no_grad(), ReluKernel(op, 5, x.device, relu_named_modules=True) as probe:
        out = on_zero_input(op, x)
    assert torch.equal(probe.K, codes(x) + codes(torch.zeros_like(x)))  # module hook: x; its ReLU: zeros
    assert torch.equal(out, op(torch.zeros_like(x)))
    with torch.no_grad(), ReluKernel(op, 5, x.device, relu_named_modules=True) as probe:
        op(x)
    assert torch.equal(probe.K, 2 * codes(x))
    with torch.no_grad(), ReluKernel(op, 5, x.device) as probe:
        on_zero_input(op, x)
    assert torch.equal(probe.K, codes(torch.zeros_like(x)))  # one code per unit: the zeros only
    assert not op._forward_pre_hooks and not op._forward_hooks  # nothing left behind


def test_naswot_counts_a_shared_activation_once_per_relu_first_reader() -> None:
    from nas.ops import ReLUConvBN

    class Shared(nn.Module):  # one ReLU, read by two ReLU-first operations, like our cells
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = ReLUConvBN(3, 4, 3, 1, 1), ReLUConvBN(3, 4, 3, 1, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            r = F.relu(x)
            return self.a.forward_relu(r) + self.b.forward_relu(r)

    model, x = Shared(), torch.randn(5, 3, 8, 8)
    c = (x > 0).flatten(1).double()
    once = c @ c.T + (1 - c) @ (1 - c).T
    assert torch.equal(relu_code_kernel(model, x), 2 * once)
    assert "forward_relu" not in model.a.__dict__


def test_naswot_on_plain_relu_networks_equals_the_reference_hooks() -> None:
    model = create_model("lenet5").train()
    x = torch.randn(6, 3, 32, 32)
    assert torch.equal(relu_code_kernel(model, x), _reference_relu_kernel(model, x))


def test_synflow_equals_the_reference_algorithm() -> None:
    """zero-cost-nas with bn=False: BN forward a no-op, double, abs of the state dict, ones input, |w * grad|."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 3),
    )
    ref = copy.deepcopy(model)
    for m in ref.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.forward = lambda x: x  # type: ignore[method-assign]
    ref.double()
    with torch.no_grad():
        for v in ref.state_dict().values():
            v.abs_()
    ref(torch.ones(1, 3, 8, 8, dtype=torch.float64)).sum().backward()
    expected = sum(
        float((m.weight.detach() * m.weight.grad).abs().sum())
        for m in ref.modules()
        if hasattr(m, "weight") and not isinstance(m, nn.BatchNorm2d)
    )
    batch = Batch(torch.randn(2, 3, 8, 8), torch.tensor([0, 1]))
    assert score(model, ["synflow"], batch, 0)["synflow"] == pytest.approx(expected, rel=1e-12)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in without_batchnorm(model).modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())


def test_snip_and_grad_norm_equal_the_reference_formulas() -> None:
    model, batch = _tiny_nb201().train(), _batch()
    ref = copy.deepcopy(model)
    F.cross_entropy(ref(batch.images), batch.labels).backward()
    layers = [m for m in ref.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    snip = sum(float((m.weight.detach() * m.weight.grad).abs().sum()) for m in layers)
    grad_norm = sum(float(m.weight.grad.norm()) for m in layers)
    got = score(model, ["snip", "grad_norm"], batch, 0)
    assert got["snip"] == pytest.approx(snip, rel=1e-5)
    assert got["grad_norm"] == pytest.approx(grad_norm, rel=1e-5)


def test_fisher_equals_the_reference_algorithm() -> None:
    """zero-cost-nas: per conv/linear output, 0.5 * mean_n (sum_hw act * grad)^2, broadcast over fan-in."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 3),
    )
    batch = Batch(torch.randn(5, 3, 8, 8), torch.tensor([0, 1, 2, 0, 1]))
    ref = copy.deepcopy(model).train()
    acts: dict[nn.Module, torch.Tensor] = {}

    def keep(module: nn.Module, inp: tuple, out: torch.Tensor) -> None:
        out.retain_grad()
        acts[module] = out

    for m in ref.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            m.register_forward_hook(keep)
    F.cross_entropy(ref(batch.images), batch.labels).backward()
    expected = 0.0
    for m, a in acts.items():
        g = a.detach() * a.grad
        g_nk = g.sum((2, 3)) if g.dim() == 4 else g
        expected += float(g_nk.pow(2).mean(0).mul(0.5).abs().sum()) * math.prod(m.weight.shape[1:])
    assert score(model, ["fisher"], batch, 0)["fisher"] == pytest.approx(expected, rel=1e-5)


def test_fisher_sees_the_convolutions_of_factorized_reduce() -> None:
    from nas.ops import FactorizedReduce

    model = nn.Sequential(FactorizedReduce(3, 4), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    batch = Batch(torch.randn(4, 3, 8, 8), torch.tensor([0, 1, 0, 1]))
    with_reduce = score(model, ["fisher"], batch, 0)["fisher"]
    model[0].conv_1.weight.data.zero_()  # its first half no longer reaches the loss
    assert score(model, ["fisher"], batch, 0)["fisher"] != with_reduce


def test_jacov_score_formula() -> None:
    rng = np.random.default_rng(0)
    J = rng.normal(size=(6, 40))
    v = np.linalg.eigvals(np.corrcoef(J)).real
    assert jacobian_score(J) == pytest.approx(float(-np.sum(np.log(v + 1e-5) + 1 / (v + 1e-5))), rel=1e-9)
    J[2] = 1.0  # a constant row has no correlation
    assert math.isnan(jacobian_score(J))


def test_zico_equals_the_reference_numpy_formula() -> None:
    rng = np.random.default_rng(0)
    per_batch = [[torch.tensor(rng.normal(size=(3, 4))), torch.tensor(rng.normal(size=7))] for _ in range(2)]
    per_batch[0][1][2] = per_batch[1][1][2] = 0.25  # zero std: left out, as np.nonzero(std) does
    expected = 0.0
    for layer in range(2):
        g = np.array([per_batch[b][layer].numpy().reshape(-1) for b in range(2)])
        std, mean_abs = np.std(g, axis=0), np.mean(np.abs(g), axis=0)
        nz = np.nonzero(std)[0]
        expected += np.log(np.sum(mean_abs[nz] / std[nz]))
    assert zico_from_gradients(per_batch) == pytest.approx(expected, rel=1e-12)


def test_zico_uses_two_independent_minibatches() -> None:
    model, batch = _tiny_nb201().train(), _batch(8)
    halves = batch.split(2)
    assert [len(h) for h in halves] == [4, 4]
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    per_batch = []
    for h in halves:
        loss = F.cross_entropy(model(h.images), h.labels)
        per_batch.append(list(torch.autograd.grad(loss, [m.weight for m in layers], allow_unused=True)))
    per_batch = [[torch.zeros_like(m.weight) if g is None else g for m, g in zip(layers, gs)] for gs in per_batch]
    model.eval()  # score() puts it back in training itself
    assert score(model, ["zico"], batch, 0)["zico"] == pytest.approx(zico_from_gradients(per_batch), rel=1e-9)


# --------------------------------------------------------------------------- #
# Combinations and rank quality
# --------------------------------------------------------------------------- #


def test_rank_average_and_vote() -> None:
    cols = {"a": [1.0, 2.0, 3.0, 4.0], "b": [4.0, 1.0, 2.0, 3.0], "c": [1.0, 3.0, 2.0, float("nan")]}
    # ranks: a 1 2 3 4, b 4 1 2 3, c 2 4 3 1 (NaN lowest)
    assert rank_average(cols).tolist() == pytest.approx([7 / 3, 7 / 3, 8 / 3, 8 / 3])
    # majority: 1 beats 0, 2 beats 0 and 1, 0 beats 3, 3 beats 1 and 2
    assert majority_vote(cols).tolist() == [1.0, 1.0, 2.0, 2.0]
    r = {"a": [3.0, 1.0, 2.0], "b": [3.0, 2.0, 1.0], "c": [1.0, 3.0, 2.0]}
    assert majority_vote(r).tolist() == [2.0, 1.0, 0.0]
    with pytest.raises(NasError, match="one value per candidate"):
        rank_average({"a": [1.0], "b": [1.0, 2.0]})


def test_rank_quality() -> None:
    truth = list(range(20))
    perfect = rank_quality([t * 2.0 for t in truth], truth)
    assert perfect["spearman"] == pytest.approx(1.0) and perfect["kendall"] == pytest.approx(1.0)
    assert perfect["top_overlap"] == 1.0 and perfect["nan"] == 0
    assert rank_quality([-t for t in truth], truth)["spearman"] == pytest.approx(-1.0)
    assert top_overlap([0, 0, 0, 0, 0, 0, 0, 0, 0, 1.0], list(range(10)), 0.1) == 1.0


# --------------------------------------------------------------------------- #
# Bad input
# --------------------------------------------------------------------------- #


def test_bad_input_is_a_one_line_error() -> None:
    genotype = from_nb201_string(CELL)
    with pytest.raises(NasError, match=r"unknown name 'snipp'; did you mean snip\?"):
        score(genotype, ["snipp"], _batch())
    with pytest.raises(NasError, match="at least 2 images"):
        Batch(torch.randn(1, 3, 32, 32), torch.tensor([0]))
    with pytest.raises(NasError, match="labels must be an int64"):
        Batch(torch.randn(2, 3, 32, 32), torch.tensor([0.0, 1.0]))
    with pytest.raises(NasError, match="needs a minibatch"):
        score(genotype, ["params"])
    with pytest.raises(NasError, match="channels"):
        score(genotype, ["params"], _batch(), build_options={"channels": 0})
    with pytest.raises(NasError, match="seed"):
        score(genotype, ["params"], _batch(), seed=-1)
    with pytest.raises(NasError, match="the network failed on a batch of shape"):
        score(_tiny_nb201(), ["snip"], Batch(torch.randn(2, 1, 32, 32), torch.tensor([0, 1])))
    with pytest.raises(NasError, match="expected a genotype or a torch.nn.Module"):
        score("resnet20", ["params"], _batch())  # type: ignore[arg-type]


def _folder_dataset(root: Path, per_class: int = 3, size: int = 32) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for cls in ("cat", "dog"):
            d = root / split / cls
            d.mkdir(parents=True)
            for i in range(per_class):
                Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(d / f"{i}.png")
    return root


@pytest.fixture()
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setenv("NAS_CACHE_DIR", str(tmp_path / "cache"))
    return ["--dataset", "folder", "--data-dir", str(_folder_dataset(tmp_path / "data"))]


def test_cli_table_and_json(folder: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    cell = CELL
    args = ["score", cell, "lenet5", "--batch-size", "4", "--channels", "4", "--cells-per-stage", "1", *folder]
    assert main([*args, "--proxy", "naswot,params"]) == 0
    out = capsys.readouterr()
    lines = out.out.strip().splitlines()
    assert lines[0].split() == ["genotype", "kind", "naswot", "params", "seconds"]
    assert lines[1].split()[1] == "nb201" and lines[2].split()[:2] == ["lenet5", "zoo"]
    assert "minibatch: 4 folder training images (seed 0" in out.err

    assert main([*args, "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert [r["genotype"] for r in rows] == [to_nb201_string(from_nb201_string(cell)), "lenet5"]
    assert rows[0]["kind"] == "nb201" and set(ALL) <= set(rows[0])
    assert (
        rows[0]["params"]
        == score(from_nb201_string(cell), ["params"], _batch(), 0, num_classes=2, build_options=TINY_NB201)["params"]
    )
    # Deterministic: the same command gives the same numbers.
    assert main([*args, "--json"]) == 0
    assert [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()] == rows


def test_cli_lists_the_scores(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["score", "--list"]) == 0
    out = capsys.readouterr().out
    for name in ALL:
        assert f"\n{name} " in "\n" + out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["NB201_best", "--proxy", "naswot,foo"], "--proxy: unknown name 'foo'"),
        (["NB201_best", "--batch-size", "1"], "--batch-size: expected an integer >= 2"),
        (["NB201_best", "--batch-size", "7"], "--batch-size: folder has 6 training images, got 7"),
        (["|nor_conv_3x3~0|+|bogus~0|nor_conv_3x3~1|+|none~0|none~1|none~2|"], "bogus"),
        (["NB201_best", "--channels", "0"], "--channels: expected an integer >= 1"),
        (["not_a_genotype_name"], "unknown"),
        ([], "expected a GENOTYPE"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(
    extra: list[str], message: str, folder: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["score", *extra, *folder]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("nas score: error: ") and message in err, err


def test_cli_genotype_that_does_not_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from nas.genotypes.codec import save_genotype

    monkeypatch.setenv("NAS_CACHE_DIR", str(tmp_path / "cache"))
    data = _folder_dataset(tmp_path / "data", size=2)  # ResNet-20's two stride-2 stages need at least 4x4
    path = save_genotype(named.get("resnet20"), tmp_path / "resnet20.json")
    args = [
        "score",
        str(path),
        "--proxy",
        "params",
        "--batch-size",
        "4",
        "--dataset",
        "folder",
        "--data-dir",
        str(data),
    ]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "below 1x1" in err and str(path) in err, err


# --------------------------------------------------------------------------- #
# Real data
# --------------------------------------------------------------------------- #


@pytest.mark.data
def test_scores_on_real_cifar10(data_root: Path) -> None:
    if not any((data_root / c).exists() for c in ("cifar10-jpeg.tar.gz", "cifar10-jpeg", "cifar-10-batches-py")):
        if os.environ.get("CI") == "true":
            pytest.fail(f"real CIFAR-10 not found in {data_root}; CI must have it")
        pytest.skip(f"real CIFAR-10 not found in {data_root}; set NAS_DATA_DIR")
    from nas.data import load_dataset

    data = load_dataset("cifar10", data_root)
    a, b = sample_batch(data, 16, seed=0), sample_batch(data, 16, seed=0)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert not torch.equal(sample_batch(data, 16, seed=1).images, a.images)
    assert abs(float(a.images.mean())) < 0.5  # normalised with the dataset's statistics
    best = score(named.get("NB201_best"), ALL, a, seed=0, build_options=TINY_NB201)
    skip = score(named.get("NB201_all_skip"), ALL, a, seed=0, build_options=TINY_NB201)
    assert all(math.isfinite(v) for v in [*best.values(), *skip.values()])
    # The all-skip cell (the collapse cell, 54.3%) has no parameters in its cells: every size score is lower.
    assert best["params"] > skip["params"] and best["flops"] > skip["flops"] and best["synflow"] > skip["synflow"]


def test_benchmark_cell_samples_are_seeded_and_disjoint() -> None:
    import importlib.util
    import itertools

    from nas.nb201_table import COLUMNS, NB201Record, NB201Table

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_proxies.py"
    spec = importlib.util.spec_from_file_location("bench_proxies", path)
    bench = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(bench)
    ops = ["none", "skip_connect", "nor_conv_1x1"]
    archs = [
        f"|{a}~0|+|{b}~0|{c}~1|+|{d}~0|{e}~1|{f}~2|"
        for a, b, c, d, e, f in itertools.islice(itertools.product(ops, repeat=6), 40)
    ]
    table = NB201Table([NB201Record(a, *([1.0] * (len(COLUMNS) - 1))) for a in archs])
    report, select = bench.sample_cells(table, 10, 5, seed=0)
    assert (report, select) == bench.sample_cells(table, 10, 5, seed=0)
    assert len(set(report)) == 10 and len(set(select)) == 5 and not set(report) & set(select)
    assert bench.sample_cells(table, 10, 5, seed=1)[0] != report
    order = bench.jobs(report, select, [0, 1, 2], spread=3)
    assert order[:10] == [("report", a, 0) for a in report]
    assert order[10:15] == [("select", a, 0) for a in select]
    assert order[15:] == [("report", a, s) for a in report[:3] for s in (1, 2)]
