"""The operation registry, the DARTS and NAS-Bench-201 cell networks, and the size metrics.

Parameter counts are checked against independent arithmetic (the reference code's
layer shapes written out by hand) and against the NAS-Bench-201 table; the optimised
forward passes are checked against a plain module-by-module forward.
"""

from __future__ import annotations

import csv
import math
import random
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nas.errors import NasError
from nas.genotypes import named
from nas.genotypes.types import DARTS_OPS, NB201_OPS, DartsGenotype, NB201Genotype
from nas.metrics import ModelSummary, count_flops, count_macs, count_parameters, summarize
from nas.networks import build
from nas.networks.darts_network import DartsNetwork
from nas.networks.nb201_network import NB201Network
from nas.ops import OPS, FactorizedReduce, SepConv, Zero, drop_path, is_relu_first, make_op, shareable_key

DARTS_V2 = named.get("DARTS_V2")  # the published cell (nas/genotypes/named/cells.py)

# The DARTS code's NASNet and AmoebaNet cells: five nodes, concat lists that skip nodes.
NASNET = DartsGenotype(
    normal=[("sep_conv_5x5", 1), ("sep_conv_3x3", 0), ("sep_conv_5x5", 0), ("sep_conv_3x3", 0),
            ("avg_pool_3x3", 1), ("skip_connect", 0), ("avg_pool_3x3", 0), ("avg_pool_3x3", 0),
            ("sep_conv_3x3", 1), ("skip_connect", 1)],
    normal_concat=[2, 3, 4, 5, 6],
    reduce=[("sep_conv_5x5", 1), ("sep_conv_7x7", 0), ("max_pool_3x3", 1), ("sep_conv_7x7", 0),
            ("avg_pool_3x3", 1), ("sep_conv_5x5", 0), ("skip_connect", 3), ("avg_pool_3x3", 2),
            ("sep_conv_3x3", 2), ("max_pool_3x3", 1)],
    reduce_concat=[4, 5, 6],
)  # fmt: skip
AMOEBANET = DartsGenotype(
    normal=[("avg_pool_3x3", 0), ("max_pool_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_5x5", 2),
            ("sep_conv_3x3", 0), ("avg_pool_3x3", 3), ("sep_conv_3x3", 1), ("skip_connect", 1),
            ("skip_connect", 0), ("avg_pool_3x3", 1)],
    normal_concat=[4, 5, 6],
    reduce=[("avg_pool_3x3", 0), ("sep_conv_3x3", 1), ("max_pool_3x3", 0), ("sep_conv_7x7", 2),
            ("sep_conv_7x7", 0), ("avg_pool_3x3", 1), ("max_pool_3x3", 0), ("max_pool_3x3", 1),
            ("conv_7x1_1x7", 0), ("sep_conv_3x3", 5)],
    reduce_concat=[3, 4, 6],
)  # fmt: skip
# Every DARTS operation once, including the strided FactorizedReduce skip of a reduction cell.
ALL_OPS = DartsGenotype(
    normal=[("sep_conv_7x7", 0), ("conv_7x1_1x7", 1), ("dil_conv_5x5", 0), ("none", 2),
            ("avg_pool_3x3", 3), ("sep_conv_5x5", 1)],
    normal_concat=[2, 3, 4],
    reduce=[("skip_connect", 0), ("dil_conv_3x3", 1), ("max_pool_3x3", 1), ("sep_conv_3x3", 2),
            ("avg_pool_3x3", 0), ("none", 3)],
    reduce_concat=[2, 4],
)  # fmt: skip


# --------------------------------------------------------------------------- #
# Operations
# --------------------------------------------------------------------------- #


def test_registry_covers_both_vocabularies() -> None:
    assert set(DARTS_OPS) <= set(OPS)
    assert set(NB201_OPS) <= set(OPS)


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("size", [7, 8])
@pytest.mark.parametrize("channels", [(6, 6), (4, 6)])
def test_op_output_shape(name: str, stride: int, size: int, channels: tuple[int, int]) -> None:
    C_in, C_out = channels
    op = OPS[name](C_in, C_out, stride, True).train()
    x = torch.randn(2, C_in, size, size, requires_grad=True)
    y = op(x)
    side = math.ceil(size / stride)
    assert y.shape == (2, C_out, side, side)
    if not y.requires_grad:  # zeros of another width are a constant, as in NAS-Bench-201
        assert name == "none" and C_in != C_out and not y.any()
        return
    y.sum().backward()  # differentiable, no in-place trouble
    assert x.grad is not None and x.grad.shape == x.shape


def test_relu_first_ops_agree_with_their_plain_forward() -> None:
    torch.manual_seed(0)
    x = torch.randn(3, 6, 8, 8)
    checked = 0
    for name in OPS:
        for stride in (1, 2):
            op = OPS[name](6, 6, stride, True).eval()
            if is_relu_first(op):
                torch.testing.assert_close(op.forward_relu(F.relu(x)), op(x))
                checked += 1
    assert checked >= 8


def test_op_semantics_and_sizes() -> None:
    C = 8
    # skip_connect: identity, FactorizedReduce when strided or when the width changes
    assert isinstance(OPS["skip_connect"](C, C, 1, True), nn.Identity)
    assert isinstance(OPS["skip_connect"](C, C, 2, True), FactorizedReduce)
    assert isinstance(OPS["skip_connect"](C, 2 * C, 1, True), FactorizedReduce)
    # pools: no parameters, count_include_pad=False, width adapter only when the width changes
    avg = OPS["avg_pool_3x3"](C, C, 1, True)
    assert isinstance(avg, nn.AvgPool2d) and avg.count_include_pad is False and count_parameters(avg) == 0
    assert isinstance(OPS["max_pool_3x3"](C, C, 2, True), nn.MaxPool2d)
    assert count_parameters(OPS["avg_pool_3x3"](C, 2 * C, 1, True)) == C * 2 * C + 2 * 2 * C
    ones = torch.ones(1, 1, 4, 4)
    ones[0, 0, 0, 0] = 5.0
    assert avg(ones)[0, 0, 0, 0].item() == pytest.approx((5 + 1 + 1 + 1) / 4)  # corner: 4 real pixels
    # parameter counts per the reference layer shapes (bias-free convs, affine BN)
    for k in (3, 5, 7):
        assert count_parameters(OPS[f"sep_conv_{k}x{k}"](C, C, 1, True)) == 2 * (C * k * k + C * C + 2 * C)
    for k in (3, 5):
        op = OPS[f"dil_conv_{k}x{k}"](C, C, 1, True)
        assert count_parameters(op) == C * k * k + C * C + 2 * C
        assert op.op[1].dilation == (2, 2) and op.op[1].padding == (k - 1, k - 1) and op.op[1].groups == C
    assert count_parameters(OPS["conv_7x1_1x7"](C, C, 1, True)) == 2 * 7 * C * C + 2 * C
    assert count_parameters(OPS["nor_conv_3x3"](C, 2 * C, 1, True)) == 9 * C * 2 * C + 2 * 2 * C
    assert count_parameters(OPS["nor_conv_1x1"](C, C, 1, True)) == C * C + 2 * C
    assert count_parameters(OPS["skip_connect"](C, C, 2, True)) == 2 * C * (C // 2) + 2 * C
    assert all(not isinstance(m, nn.Conv2d) or m.bias is None for n in OPS for m in OPS[n](C, C, 2, True).modules())
    # affine=False: batch norms without weights, as the DARTS supernet needs
    bns = [m for m in OPS["sep_conv_3x3"](C, C, 1, False).modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(bns) == 2 and all(not bn.affine for bn in bns)
    # none: zeros, strided
    z = Zero(C, C, 2)(torch.randn(2, C, 7, 7))
    assert z.shape == (2, C, 4, 4) and not z.any()


def test_sep_conv_structure() -> None:
    op = SepConv(4, 6, 5, 2, 2, True)
    convs = [m for m in op.op if isinstance(m, nn.Conv2d)]
    assert [c.stride for c in convs] == [(2, 2), (1, 1), (1, 1), (1, 1)]  # only the first is strided
    assert [c.groups for c in convs] == [4, 1, 4, 1]
    assert [c.out_channels for c in convs] == [4, 4, 4, 6]


@pytest.mark.parametrize("size", [8, 7])
def test_factorized_reduce_matches_the_two_branch_definition(size: int) -> None:
    torch.manual_seed(1)
    fr = FactorizedReduce(6, 10, 2, True).train()  # odd halves: 5 + 5; train uses the fused path
    x = torch.randn(4, 6, size, size)
    r = F.relu(x)
    shifted = r[:, :, 1:, 1:]
    if size % 2:
        shifted = F.pad(shifted, (0, 1, 0, 1))  # zero row/column, as NAS-Bench-201
    expected = torch.cat([fr.conv_1(r), fr.conv_2(shifted)], dim=1)
    expected = F.batch_norm(expected, None, None, fr.bn.weight, fr.bn.bias, training=True, eps=fr.bn.eps)
    torch.testing.assert_close(fr(x), expected)
    fr.eval()
    eval_expected = fr.bn(torch.cat([fr.conv_1(r), fr.conv_2(shifted)], dim=1))
    torch.testing.assert_close(fr(x), eval_expected)


def test_shareable_key_tells_pooling_configurations_apart() -> None:
    assert shareable_key(OPS["max_pool_3x3"](4, 4, 2, True)) == shareable_key(OPS["max_pool_3x3"](4, 4, 2, False))
    keys = {
        shareable_key(m)
        for m in (
            OPS["max_pool_3x3"](4, 4, 1, True),
            OPS["max_pool_3x3"](4, 4, 2, True),
            OPS["avg_pool_3x3"](4, 4, 1, True),
            nn.AvgPool2d(3, 1, 1, count_include_pad=True),
        )
    }
    assert len(keys) == 4 and None not in keys
    assert shareable_key(OPS["sep_conv_3x3"](4, 4, 1, True)) is None
    assert shareable_key(OPS["avg_pool_3x3"](4, 8, 1, True)) is None  # has a parametrised adapter


def test_make_op_rejects_unknown_names_and_strides() -> None:
    with pytest.raises(NasError, match="operation"):
        make_op("sep_conv_9x9", 4, 4)
    with pytest.raises(NasError, match="stride"):
        make_op("sep_conv_3x3", 4, 4, stride=3)


def test_drop_path() -> None:
    x = torch.ones(400, 3, 2, 2, requires_grad=True)
    assert drop_path(x, 0.3, training=False) is x
    assert drop_path(x, 0.0, training=True) is x
    torch.manual_seed(0)
    y = drop_path(x, 0.25, training=True)
    per_sample = y.detach().flatten(1)
    # every sample is either dropped or kept and scaled by 1 / keep
    assert set(per_sample.unique().tolist()) <= {0.0, torch.tensor(1 / 0.75).item()}
    assert (per_sample == per_sample[:, :1]).all()
    dropped = (per_sample[:, 0] == 0).float().mean().item()
    assert 0.15 < dropped < 0.35
    y.sum().backward()
    assert torch.equal(x.grad.flatten(1)[:, 0], per_sample[:, 0])
    assert (x.detach() == 1).all()  # the input is untouched
    with pytest.raises(NasError, match="drop_path_prob"):
        drop_path(x, 1.0, training=True)


# --------------------------------------------------------------------------- #
# DARTS network
# --------------------------------------------------------------------------- #


def _ref_op_params(name: str, C: int, stride: int) -> int:
    """Parameters of a reference DARTS operation (``cnn/operations.py`` layer shapes)."""
    if name in ("none", "avg_pool_3x3", "max_pool_3x3"):
        return 0
    if name == "skip_connect":
        return 0 if stride == 1 else 2 * C * (C // 2) + 2 * C
    if name == "conv_7x1_1x7":
        return 2 * 7 * C * C + 2 * C
    k = int(name[-1])
    if name.startswith("sep_conv"):
        return 2 * (C * k * k + C * C + 2 * C)
    return C * k * k + C * C + 2 * C  # dil_conv


def reference_darts_params(g: DartsGenotype, C: int, layers: int, num_classes: int = 10) -> tuple[int, int]:
    """(network, auxiliary head) parameters of the reference ``NetworkCIFAR``, by hand."""
    total = 3 * (3 * C) * 9 + 2 * (3 * C)  # stem conv + BN
    C_pp = C_p = 3 * C
    C_curr, reduction_prev, C_aux = C, False, 0
    for i in range(layers):
        reduction = i in (layers // 3, 2 * layers // 3)
        if reduction:
            C_curr *= 2
        edges, concat = (g.reduce, g.reduce_concat) if reduction else (g.normal, g.normal_concat)
        total += (2 * C_pp * (C_curr // 2) if reduction_prev else C_pp * C_curr) + 2 * C_curr  # preprocess0
        total += C_p * C_curr + 2 * C_curr  # preprocess1
        total += sum(_ref_op_params(name, C_curr, 2 if reduction and j < 2 else 1) for name, j in edges)
        reduction_prev = reduction
        C_pp, C_p = C_p, len(concat) * C_curr
        if i == 2 * layers // 3:
            C_aux = C_p
    total += C_p * num_classes + num_classes
    aux = C_aux * 128 + 2 * 128 + 128 * 768 * 4 + 2 * 768 + 768 * num_classes + num_classes
    return total, aux


def test_darts_v2_parameter_count_is_the_published_one() -> None:
    net = DartsNetwork(DARTS_V2, channels=36, layers=20, auxiliary=True)
    assert count_parameters(net) == 3_349_342  # the paper's "3.3M"
    # The auxiliary head reads the 4 x 144 = 576-channel output of cell 13: 1x1 conv 576->128
    # (73,728) + BN (256) + 2x2 conv 128->768 (393,216) + BN (1,536) + linear 768->10 (7,690).
    assert count_parameters(net, include_auxiliary=True) == 3_349_342 + 476_426 == 3_825_768
    assert reference_darts_params(DARTS_V2, 36, 20) == (3_349_342, 476_426)
    assert count_parameters(DartsNetwork(DARTS_V2, channels=36, layers=20)) == 3_349_342


@pytest.mark.parametrize("genotype", [DARTS_V2, NASNET, AMOEBANET, ALL_OPS], ids=["v2", "nasnet", "amoeba", "all"])
@pytest.mark.parametrize(("C", "layers"), [(36, 20), (16, 8), (8, 5), (6, 2), (4, 1)])
def test_darts_parameter_count_matches_reference_arithmetic(genotype: DartsGenotype, C: int, layers: int) -> None:
    net = DartsNetwork(genotype, channels=C, layers=layers, auxiliary=layers >= 2)
    total, aux = reference_darts_params(genotype, C, layers)
    assert count_parameters(net) == total
    if layers >= 2:
        assert count_parameters(net, include_auxiliary=True) == total + aux


def _plain_darts_forward(net: DartsNetwork, x: torch.Tensor) -> torch.Tensor:
    """The reference forward, module by module (no shared activations)."""
    s0 = s1 = net.stem(x)
    for cell in net.cells:
        states = [cell.preprocess0(s0), cell.preprocess1(s1)]
        for k in range(0, len(cell._ops), 2):
            a = cell._ops[k](states[cell._indices[k]])
            b = cell._ops[k + 1](states[cell._indices[k + 1]])
            states.append(a + b)
        s0, s1 = s1, torch.cat([states[j] for j in cell._concat], dim=1)
    return net.classifier(net.global_pooling(s1).flatten(1))


@pytest.mark.parametrize("genotype", [DARTS_V2, AMOEBANET, ALL_OPS], ids=["v2", "amoeba", "all"])
@pytest.mark.parametrize("memory_format", ["channels_last", "contiguous"])
def test_darts_forward_equals_plain_forward(genotype: DartsGenotype, memory_format: str) -> None:
    torch.manual_seed(0)
    net = DartsNetwork(genotype, channels=4, layers=4, memory_format=memory_format).double()
    x = torch.randn(3, 3, 16, 16, dtype=torch.float64)
    net.train()  # batch statistics, the fused FactorizedReduce; no drop-path
    ours = net(x)
    ours.square().sum().backward()
    grads = [p.grad.clone() for p in net.parameters()]
    net.zero_grad()
    plain = _plain_darts_forward(net, x)
    plain.square().sum().backward()
    torch.testing.assert_close(ours, plain)
    for g, p in zip(grads, net.parameters()):
        torch.testing.assert_close(g, p.grad)
    net.eval()
    with torch.no_grad():
        torch.testing.assert_close(net(x), _plain_darts_forward(net, x))


def _faithful_reference() -> object:
    # The benchmarks' yardstick (benchmarks/_darts_reference.py), loaded by path: benchmarks/ is not a package.
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "_darts_reference.py"
    spec = importlib.util.spec_from_file_location("_darts_reference", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("genotype", [DARTS_V2, AMOEBANET, ALL_OPS], ids=["v2", "amoeba", "all"])
@pytest.mark.parametrize("memory_format", ["channels_last", "contiguous"])
def test_darts_training_step_equals_the_faithful_reference(genotype: DartsGenotype, memory_format: str) -> None:
    """Outputs and every gradient of a training forward (drop-path, auxiliary head) equal the reference network's."""
    ref_mod = _faithful_reference()
    torch.manual_seed(0)
    net = DartsNetwork(genotype, 4, 5, auxiliary=True, drop_path_prob=0.3, memory_format=memory_format).double()
    ref = ref_mod.ReferenceNetworkCIFAR(4, 10, 5, True, genotype, 0.3).double()
    ref.load_state_dict(net.state_dict())
    x = torch.randn(6, 3, 32, 32, dtype=torch.float64)
    outs = []
    for model in (net, ref):
        model.train()
        torch.manual_seed(1)  # the same drop-path masks: both draw one per dropped edge, in edge order
        logits, aux = model(x)
        (logits.square().sum() + 0.4 * aux.square().sum()).backward()
        outs.append((logits, aux, {n: p.grad for n, p in model.named_parameters()}))
    (a, a_aux, a_grads), (b, b_aux, b_grads) = outs
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a_aux, b_aux)
    assert a_grads.keys() == b_grads.keys()
    for name in a_grads:
        torch.testing.assert_close(a_grads[name], b_grads[name], msg=name)
    for name, buf in ref.named_buffers():  # batch-norm running statistics too
        torch.testing.assert_close(dict(net.named_buffers())[name], buf, msg=name)


def test_darts_tiny_train_and_eval() -> None:
    torch.manual_seed(0)
    net = DartsNetwork(DARTS_V2, channels=8, layers=5, auxiliary=True, drop_path_prob=0.3, num_classes=7)
    assert net.drop_path_prob == 0.3
    x = torch.randn(4, 3, 32, 32)
    net.train()
    out = net(x)
    assert isinstance(out, tuple) and len(out) == 2
    logits, aux = out
    assert logits.shape == (4, 7) and aux.shape == (4, 7)
    (F.cross_entropy(logits, torch.arange(4)) + 0.4 * F.cross_entropy(aux, torch.arange(4))).backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None]
    assert not missing
    assert any(p.grad.abs().sum() > 0 for n, p in net.named_parameters() if "auxiliary" in n)
    net.eval()
    with torch.no_grad():
        y = net(x)
    assert isinstance(y, torch.Tensor) and y.shape == (4, 7)
    net.drop_path_prob = 0.0  # the trainer sets it every epoch
    net.train()
    assert isinstance(net(x), tuple)


def test_darts_drop_path_changes_training_outputs_only() -> None:
    torch.manual_seed(0)
    net = DartsNetwork(DARTS_V2, channels=4, layers=3, drop_path_prob=0.5)
    x = torch.randn(8, 3, 16, 16)
    net.train()
    a, b = net(x), net(x)
    assert not torch.allclose(a, b)  # random masks
    net.eval()
    with torch.no_grad():
        torch.testing.assert_close(net(x), net(x))


@pytest.mark.parametrize("genotype", [NASNET, AMOEBANET], ids=["nasnet", "amoeba"])
def test_five_node_genotypes_build_and_run(genotype: DartsGenotype) -> None:
    net = DartsNetwork(genotype, channels=6, layers=4, auxiliary=True, drop_path_prob=0.2).train()
    logits, aux = net(torch.randn(2, 3, 32, 32))
    assert logits.shape == aux.shape == (2, 10)
    # five intermediate nodes; cell widths follow the concat lengths (cell 1 is a reduction)
    assert all(cell._steps == 5 for cell in net.cells)
    assert net.cells[0].multiplier == len(genotype.normal_concat)
    assert net.cells[1].reduction and net.cells[1].multiplier == len(genotype.reduce_concat) == 3


@pytest.mark.parametrize("layers", [1, 2, 3])
def test_darts_few_layers(layers: int) -> None:
    net = DartsNetwork(DARTS_V2, channels=4, layers=layers, auxiliary=layers >= 2).train()
    out = net(torch.randn(2, 3, 32, 32))
    logits = out[0] if isinstance(out, tuple) else out
    assert logits.shape == (2, 10)
    assert sum(c.reduction for c in net.cells) == min(layers, 2)


def test_darts_state_dict_names_follow_the_reference() -> None:
    keys = set(DartsNetwork(DARTS_V2, channels=4, layers=3, auxiliary=True).state_dict())
    for key in (
        "stem.0.weight",
        "cells.0.preprocess0.op.1.weight",
        "cells.0._ops.0.op.1.weight",
        "cells.0._ops.0.op.7.running_var",
        "cells.0._ops.7.op.2.weight",
        "cells.2.preprocess0.conv_1.weight",
        "cells.2.preprocess0.conv_2.weight",
        "auxiliary_head.features.5.weight",
        "auxiliary_head.classifier.weight",
        "classifier.bias",
    ):
        assert key in keys, key


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"channels": 0}, "channels"),
        ({"channels": 2.5}, "channels"),
        ({"layers": 0}, "layers"),
        ({"layers": True}, "layers"),
        ({"auxiliary": True, "layers": 1}, "auxiliary"),
        ({"auxiliary": "yes"}, "auxiliary"),
        ({"drop_path_prob": 1.0}, "drop_path_prob"),
        ({"drop_path_prob": -0.1}, "drop_path_prob"),
        ({"stem_multiplier": 0}, "stem_multiplier"),
        ({"in_channels": 0}, "in_channels"),
        ({"memory_format": "nhwc"}, "memory_format"),
    ],
)
def test_darts_bad_options(kwargs: dict, field: str) -> None:
    with pytest.raises(NasError, match=field):
        DartsNetwork(DARTS_V2, **kwargs)


def test_darts_auxiliary_head_needs_32x32_input() -> None:
    net = DartsNetwork(DARTS_V2, channels=4, layers=3, auxiliary=True).train()
    with pytest.raises(NasError, match="auxiliary head"):
        net(torch.randn(2, 3, 64, 64))


def test_build_dispatches_to_the_cell_networks() -> None:
    net = build(DARTS_V2, channels=4, layers=3, auxiliary=True, in_channels=1, num_classes=5)
    assert isinstance(net, DartsNetwork)
    assert net.eval()(torch.randn(2, 1, 32, 32)).shape == (2, 5)
    nb = build(NB201Genotype([[("nor_conv_3x3", 0)]]), channels=4, cells_per_stage=1)
    assert isinstance(nb, NB201Network)


# --------------------------------------------------------------------------- #
# NAS-Bench-201 network
# --------------------------------------------------------------------------- #


def parse_nb201(text: str) -> NB201Genotype:
    """``|op~0|+|op~0|op~1|+...`` -> genotype (our own small parser for the test)."""
    nodes = []
    for part in text.split("+"):
        edges = [tok.split("~") for tok in part.strip().strip("|").split("|")]
        nodes.append([(op, int(i)) for op, i in edges])
    return NB201Genotype(nodes)


def _nb201(ops: list[str]) -> NB201Genotype:
    return NB201Genotype([[(ops[0], 0)], [(ops[1], 0), (ops[2], 1)], [(ops[3], 0), (ops[4], 1), (ops[5], 2)]])


def _plain_nb201_forward(net: NB201Network, x: torch.Tensor) -> torch.Tensor:
    x = net.stem(x)
    for cell in net.cells:
        if hasattr(cell, "layers"):
            nodes = [x]
            for ins, ixs in zip(cell.node_IN, cell.node_IX):
                nodes.append(sum(cell.layers[k](nodes[i]) for i, k in zip(ins, ixs)))
            x = nodes[-1]
        else:
            x = cell(x)
    return net.classifier(net.global_pooling(net.lastact(x)).flatten(1))


def test_nb201_structure_and_parameter_count() -> None:
    net = NB201Network(_nb201(["none"] * 6))
    # stem 3x3 (432) + BN (32); block 16->32: 4,608 + 64 + 9,216 + 64 + 1x1 shortcut 512;
    # block 32->64: 18,432 + 128 + 36,864 + 128 + 2,048; final BN 128; classifier 650.
    assert count_parameters(net) == 73_306
    assert len(net.cells) == 17 and sum(not hasattr(c, "layers") for c in net.cells) == 2
    conv3 = NB201Network(_nb201(["nor_conv_3x3"] * 6))
    per_cell = sum(9 * c * c + 2 * c for c in (16, 32, 64))
    assert count_parameters(conv3) == 73_306 + 6 * 5 * per_cell


@pytest.mark.parametrize(
    "ops",
    [
        ["nor_conv_3x3", "skip_connect", "nor_conv_1x1", "avg_pool_3x3", "none", "nor_conv_3x3"],
        ["none"] * 6,
        ["skip_connect", "none", "none", "none", "none", "skip_connect"],
        ["none", "nor_conv_1x1", "nor_conv_3x3", "none", "none", "avg_pool_3x3"],
        ["avg_pool_3x3", "avg_pool_3x3", "nor_conv_1x1", "avg_pool_3x3", "avg_pool_3x3", "skip_connect"],
    ],
)
def test_nb201_forward_equals_plain_forward(ops: list[str]) -> None:
    torch.manual_seed(0)
    net = NB201Network(_nb201(ops), channels=4, cells_per_stage=2).double()
    x = torch.randn(3, 3, 16, 16, dtype=torch.float64)
    net.train()
    ours = net(x)
    ours.square().sum().backward()
    grads = [None if p.grad is None else p.grad.clone() for p in net.parameters()]
    net.zero_grad()
    plain = _plain_nb201_forward(net, x)
    plain.square().sum().backward()
    torch.testing.assert_close(ours, plain)
    for g, p in zip(grads, net.parameters()):
        if g is None:  # parameters behind a skipped `none` edge: zero gradient in the plain forward
            assert p.grad is None or not p.grad.any()
        else:
            torch.testing.assert_close(g, p.grad)
    net.eval()
    with torch.no_grad():
        torch.testing.assert_close(net(x), _plain_nb201_forward(net, x))


def test_nb201_bad_options() -> None:
    g = _nb201(["none"] * 6)
    with pytest.raises(NasError, match="channels"):
        NB201Network(g, channels=0)
    with pytest.raises(NasError, match="cells_per_stage"):
        NB201Network(g, cells_per_stage=0)
    with pytest.raises(NasError, match="genotype"):
        NB201Network(DARTS_V2)  # type: ignore[arg-type]


def _nb201_cost_model() -> tuple[int, int, dict[str, int], dict[str, int]]:
    """Params and multiply-adds of the benchmark network as base + per-operation terms.

    Both are additive over the 6 edges (each operation appears in 5 cells at each of
    the widths 16, 32, 64), built from real modules; the additivity itself is checked
    on real networks by the tests below.
    """
    base_net = NB201Network(_nb201(["none"] * 6))
    base_params, base_macs = count_parameters(base_net), count_macs(base_net)
    op_params, op_macs = {}, {}
    for name in NB201_OPS:
        op_params[name] = 5 * sum(count_parameters(OPS[name](c, c, 1, True)) for c in (16, 32, 64))
        with_op = NB201Network(_nb201([name] + ["none"] * 5))
        op_macs[name] = count_macs(with_op) - base_macs
    return base_params, base_macs, op_params, op_macs


@pytest.fixture(scope="module")
def nb201_rows(nb201_csv: Path) -> list[dict[str, str]]:
    with open(nb201_csv, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 15_625
    return rows


def test_nb201_parameter_counts_match_the_benchmark(nb201_rows: list[dict[str, str]]) -> None:
    try:
        from nas.genotypes.codec import from_nb201_string as parse
    except ImportError:  # the official parser is another module's; ours is enough here
        parse = parse_nb201
    base_params, base_macs, op_params, op_macs = _nb201_cost_model()
    by_arch = {row["arch_str"]: row for row in nb201_rows}

    # Real networks: a fixed-seed sample plus the all-none, all-skip and all-conv3x3 cells.
    rng = random.Random(201)
    sample = [row["arch_str"] for row in rng.sample(nb201_rows, 100)]
    for op in ("none", "skip_connect", "nor_conv_3x3"):
        sample.append(f"|{op}~0|+|{op}~0|{op}~1|+|{op}~0|{op}~1|{op}~2|")
    for arch in sample:
        genotype = parse(arch)
        assert genotype == parse_nb201(arch)
        net = NB201Network(genotype, memory_format="contiguous")  # the layout does not change counts
        params = count_parameters(net)
        assert params == base_params + sum(op_params[op] for op in genotype.ops)  # additivity
        row = by_arch[arch]
        predicted_macs = base_macs + sum(op_macs[op] for op in genotype.ops)
        if abs(predicted_macs / (float(row["flops_M"]) * 1e6) - 1) < 0.01:
            assert params == pytest.approx(float(row["params_M"]) * 1e6, rel=0.01), arch
    for arch in sample[-3:]:  # FLOPs of real networks too (the table's "FLOPs" are multiply-adds)
        genotype = parse(arch)
        macs = count_macs(NB201Network(genotype))
        assert macs == base_macs + sum(op_macs[op] for op in genotype.ops)
        assert macs == pytest.approx(float(by_arch[arch]["flops_M"]) * 1e6, rel=0.01)

    # Every row of the table, through the (verified) additive model.
    bad_params, bad_flops, worst = set(), set(), 0.0
    for row in nb201_rows:
        ops = parse_nb201(row["arch_str"]).ops
        params = base_params + sum(op_params[op] for op in ops)
        macs = base_macs + sum(op_macs[op] for op in ops)
        rel_p = abs(params / (float(row["params_M"]) * 1e6) - 1)
        rel_f = abs(macs / (float(row["flops_M"]) * 1e6) - 1)
        if rel_p > 0.01:
            bad_params.add(row["arch_str"])
            # the table's params and FLOPs are those of a cell with one conv edge more or fewer
            diff_p = round(float(row["params_M"]) * 1e6) - params
            diff_f = float(row["flops_M"]) * 1e6 - macs
            conv = min(("nor_conv_1x1", "nor_conv_3x3"), key=lambda op: abs(abs(diff_p) - op_params[op]))
            assert abs(abs(diff_p) - op_params[conv]) <= 5, row["arch_str"]
            assert diff_f == pytest.approx(math.copysign(op_macs[conv], diff_p), rel=1e-3), row["arch_str"]
        else:
            worst = max(worst, rel_p)
        if rel_f > 0.01:
            bad_flops.add(row["arch_str"])
    # 150 rows (0.96%) of the table carry the cost figures of another cell: their params
    # AND FLOPs both disagree with their own arch_str. Every other row agrees to rounding.
    assert bad_params == bad_flops
    assert len(bad_params) == 150
    assert worst < 1e-4


# --------------------------------------------------------------------------- #
# Metrics
# --------------------------------------------------------------------------- #


def test_flops_of_a_single_conv_layer() -> None:
    conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
    assert count_flops(conv, (1, 3, 32, 32)) == 2 * 8 * 32 * 32 * 3 * 3 * 3 == 442_368
    assert count_macs(conv, (1, 3, 32, 32)) == 221_184
    strided = nn.Conv2d(4, 6, 5, stride=2, padding=2, bias=False)
    assert count_flops(strided, (2, 4, 15, 15)) == 2 * 2 * 6 * 8 * 8 * 4 * 5 * 5


def test_count_flops_restores_mode_and_runs_without_aux() -> None:
    net = DartsNetwork(DARTS_V2, channels=4, layers=3, auxiliary=True, drop_path_prob=0.2)
    net.train()
    flops = count_flops(net)
    assert net.training
    assert flops == count_flops(net.eval())
    assert not net.training
    assert flops > 0 and flops % 2 == 0


def test_count_parameters_and_summary() -> None:
    model = nn.Sequential()
    model.add_module("body", nn.Linear(4, 3))
    model.add_module("auxiliary_head", nn.Linear(4, 2))
    assert count_parameters(model) == 15
    assert count_parameters(model, include_auxiliary=True) == 25
    net = DartsNetwork(DARTS_V2, channels=4, layers=3, auxiliary=True)
    s = summarize(net)
    assert isinstance(s, ModelSummary)
    assert s.params == count_parameters(net) < s.params_with_auxiliary
    assert s.macs == s.flops // 2 == count_macs(net)
    assert "params" in str(s) and s.as_dict()["flops"] == s.flops
    with pytest.raises(NasError, match="input_size"):
        count_flops(net, (3, "32"))  # type: ignore[arg-type]


@pytest.mark.parametrize("channels, size", [(4, 32), (4, 31), (6, 16), (16, 15)])
def test_conv1x1_stride2_matches_a_strided_convolution(channels: int, size: int) -> None:
    """The work-around for oneDNN's channels-last weight-gradient crash computes the same thing."""
    from nas.ops import conv1x1_stride2

    torch.manual_seed(0)
    x = torch.randn(3, channels, size, size, requires_grad=True)
    weight = torch.randn(8, channels, 1, 1, requires_grad=True)
    ours = conv1x1_stride2(x, weight)
    ref = torch.nn.functional.conv2d(x, weight, stride=2)
    torch.testing.assert_close(ours, ref)
    g_ours = torch.autograd.grad(ours.square().sum(), (x, weight))
    g_ref = torch.autograd.grad(ref.square().sum(), (x, weight))
    for a, b in zip(g_ours, g_ref):
        # the same sums in another order: float32 rounding differs by a few ulps with the thread count
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("mode", ["train", "eval", "untracked", "cumulative"])
def test_lean_sep_and_dil_conv_equal_their_plain_layers(name: str, stride: int, mode: str) -> None:
    """The nas.kernels path of SepConv/DilConv: outputs, every gradient and the running statistics of the layers."""
    torch.manual_seed(0)
    op = make_op(name, 5, 5, stride).double()
    for m in op.modules():  # non-trivial affine parameters and running statistics
        if isinstance(m, nn.BatchNorm2d):
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.uniform_(m.bias, -0.5, 0.5)
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
            m.track_running_stats = mode != "untracked"
            m.momentum = None if mode == "cumulative" else 0.1
    op.train(mode != "eval")
    plain = make_op(name, 5, 5, stride).double().train(mode != "eval")
    plain.load_state_dict(op.state_dict())
    for p_mod, o_mod in zip(plain.modules(), op.modules()):
        if isinstance(o_mod, nn.BatchNorm2d):
            p_mod.track_running_stats, p_mod.momentum = o_mod.track_running_stats, o_mod.momentum
    x = torch.randn(4, 5, 11, 11, dtype=torch.float64).relu()
    outs = []
    for module, lean in ((op, True), (plain, False)):
        xi = x.clone().requires_grad_()
        y = module.forward_relu(xi) if lean else nn.Sequential(*list(module.op)[1:])(xi)
        (y * torch.linspace(-1, 2, y.numel(), dtype=y.dtype).view_as(y)).sum().backward()
        outs.append((y, xi.grad, {n: p.grad for n, p in module.named_parameters()}, dict(module.named_buffers())))
    (y_a, gx_a, g_a, b_a), (y_b, gx_b, g_b, b_b) = outs
    assert "_DwPwBackward" in _autograd_names(y_a.grad_fn)  # the lean kernels did run
    torch.testing.assert_close(y_a, y_b)
    torch.testing.assert_close(gx_a, gx_b)
    for n in g_b:
        torch.testing.assert_close(g_a[n], g_b[n], msg=n)
    for n in b_b:
        torch.testing.assert_close(b_a[n], b_b[n], msg=n)


def _autograd_names(fn: object) -> set[str]:
    names, todo = set(), [fn]
    while todo:
        f = todo.pop()
        if f is not None and type(f).__name__ not in names:
            names.add(type(f).__name__)
            todo.extend(g for g, _ in f.next_functions)
    return names


def test_double_backward_needs_plain_layers_and_never_gives_silent_zeros() -> None:
    """The lean kernels are differentiable once: differentiating twice raises; use_plain_layers makes it work."""
    from nas.ops import use_plain_layers

    torch.manual_seed(0)
    op = make_op("sep_conv_3x3", 3, 3, 1).double()
    x = torch.randn(2, 3, 6, 6, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(op(x).square().sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable|differentiate"):
        g.sum().backward()
    use_plain_layers(op)
    (g,) = torch.autograd.grad(op(x).square().sum(), x, create_graph=True)
    (h,) = torch.autograd.grad(g.sum(), x)
    assert h.abs().sum() > 0


@pytest.mark.parametrize("name", ["sep_conv_3x3", "dil_conv_3x3"])
def test_swapped_or_hooked_inner_layers_run_one_by_one(name: str) -> None:
    """The kernels skip the inner layers' forward: a replaced layer or a hook on one must still take effect."""
    torch.manual_seed(0)
    x = torch.randn(2, 4, 8, 8).relu()

    def graph(op: nn.Module) -> set[str]:
        return _autograd_names(op.forward_relu(x.clone().requires_grad_()).grad_fn)

    op = make_op(name, 4, 4, 1)
    assert "_DwPwBackward" in graph(op)
    seen: list[str] = []
    handle = op.op[2].register_forward_hook(lambda *_: seen.append("pointwise"))
    assert "_DwPwBackward" not in graph(op) and seen == ["pointwise"]
    handle.remove()
    global_handle = nn.modules.module.register_module_forward_hook(lambda *_: None)
    try:
        assert "_DwPwBackward" not in graph(op)
    finally:
        global_handle.remove()
    assert "_DwPwBackward" in graph(op)
    op.op[3] = nn.Identity()  # as synflow does: the network without batch norm
    plain = nn.Sequential(*list(op.op)[1:])
    torch.testing.assert_close(op.forward_relu(x), plain(x))
    assert "_DwPwBackward" not in graph(op)
