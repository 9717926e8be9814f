"""DARTS / NAS-Bench-201 supernets, architect and derivation.

The lean supernet is checked against a straightforward reference search network written
here the way quark0/darts ``cnn/model_search.py`` (and PC-DARTS) write it -- one module
per operation and edge, ``sum(w * op(x))`` -- built from :mod:`nas.ops` with
``affine=False`` and pooling followed by ``BatchNorm2d(affine=False)``. Weights are
copied with :func:`nas.darts.supernet.reference_state_dict`; logits, gradients and
running statistics must agree in float64.
"""

from __future__ import annotations

import copy
from typing import get_args

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nas.darts import Architect, DartsSupernet, NB201Supernet, derive_darts_cell, derive_nb201, zero_one_loss
from nas.darts.config import DartsSearchConfig
from nas.darts.pooling import avg_pool_3x3, max_pool_3x3
from nas.darts.supernet import edge_weights, op_weights, reference_names, reference_state_dict
from nas.errors import NasError
from nas.genotypes.types import DARTS_SEARCH_OPS, NB201_OPS, DartsGenotype
from nas.ops import OPS, FactorizedReduce, ReLUConvBN, use_plain_layers
from nas.search_spaces import get_space, list_spaces

# --------------------------------------------------------------------------- #
# The reference search network (plain, one module per op and edge)
# --------------------------------------------------------------------------- #


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    b, c, h, w = x.shape
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).contiguous().view(b, c, h, w)


class RefMixedOp(nn.Module):
    def __init__(self, C: int, stride: int, ops: tuple[str, ...], k: int) -> None:
        super().__init__()
        self.k = k
        self._ops = nn.ModuleList()
        for name in ops:
            op = OPS[name](C // k, C // k, stride, False)
            if "pool" in name:
                op = nn.Sequential(op, nn.BatchNorm2d(C // k, affine=False))
            self._ops.append(op)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        if self.k == 1:
            return sum(w * op(x) for w, op in zip(weights, self._ops))
        c = x.shape[1] // self.k
        part, rest = x[:, :c], x[:, c:]
        out = sum(w * op(part) for w, op in zip(weights, self._ops))
        if out.shape[2] != x.shape[2]:
            rest = F.max_pool2d(rest, 2, 2)
        return channel_shuffle(torch.cat([out, rest], dim=1), self.k)


class RefCell(nn.Module):
    def __init__(self, steps, multiplier, C_pp, C_p, C, reduction, reduction_prev, ops, k) -> None:
        super().__init__()
        self.reduction = reduction
        self.preprocess0 = (
            FactorizedReduce(C_pp, C, 2, False) if reduction_prev else ReLUConvBN(C_pp, C, 1, 1, 0, False)
        )
        self.preprocess1 = ReLUConvBN(C_p, C, 1, 1, 0, False)
        self.steps, self.multiplier = steps, multiplier
        self._ops = nn.ModuleList(
            RefMixedOp(C, 2 if reduction and j < 2 else 1, ops, k) for i in range(steps) for j in range(2 + i)
        )

    def forward(self, s0, s1, weights, edge_w):
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        offset = 0
        for _ in range(self.steps):
            s = 0
            for j, h in enumerate(states):
                term = self._ops[offset + j](h, weights[offset + j])
                s = s + (term if edge_w is None else edge_w[offset + j] * term)
            offset += len(states)
            states.append(s)
        return torch.cat(states[-self.multiplier :], dim=1)


class RefNetwork(nn.Module):
    def __init__(self, C, num_classes, layers, steps=4, multiplier=4, stem_multiplier=3, ops=DARTS_SEARCH_OPS, k=1,
                 edge_norm=False, weighting="softmax", in_channels=3):  # fmt: skip
        super().__init__()
        self.steps, self.weighting = steps, weighting
        C_curr = stem_multiplier * C
        self.stem = nn.Sequential(nn.Conv2d(in_channels, C_curr, 3, padding=1, bias=False), nn.BatchNorm2d(C_curr))
        C_pp, C_p, C_curr = C_curr, C_curr, C
        self.cells = nn.ModuleList()
        red_prev = False
        for i in range(layers):
            red = i in (layers // 3, 2 * layers // 3)
            if red:
                C_curr *= 2
            self.cells.append(RefCell(steps, multiplier, C_pp, C_p, C_curr, red, red_prev, ops, k))
            red_prev = red
            C_pp, C_p = C_p, multiplier * C_curr
        self.classifier = nn.Linear(C_p, num_classes)
        n = sum(2 + i for i in range(steps))
        self.alphas_normal = nn.Parameter(torch.zeros(n, len(ops)))
        self.alphas_reduce = nn.Parameter(torch.zeros(n, len(ops)))
        self.edge_norm = edge_norm
        if edge_norm:
            self.betas_normal = nn.Parameter(torch.zeros(n))
            self.betas_reduce = nn.Parameter(torch.zeros(n))

    def arch_parameters(self):
        extra = [self.betas_normal, self.betas_reduce] if self.edge_norm else []
        return [self.alphas_normal, self.alphas_reduce, *extra]

    def forward(self, x):
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            alpha = self.alphas_reduce if cell.reduction else self.alphas_normal
            w = op_weights(alpha, self.weighting)
            e = None
            if self.edge_norm:
                e = edge_weights(self.betas_reduce if cell.reduction else self.betas_normal, self.steps)
            s0, s1 = s1, cell(s0, s1, w, e)
        return self.classifier(F.adaptive_avg_pool2d(s1, 1).flatten(1))


def make_pair(seed=0, C=4, layers=3, k=1, edge_norm=False, weighting="softmax", ops=DARTS_SEARCH_OPS, steps=4):
    torch.manual_seed(seed)
    net = DartsSupernet(channels=C, layers=layers, num_classes=5, steps=steps, multiplier=min(4, steps), ops=ops,
                        partial_channels=k, edge_normalization=edge_norm, weighting=weighting).double()  # fmt: skip
    with torch.no_grad():  # well away from uniform, so that each op's weight matters
        for p in net.arch_parameters():
            p.normal_(0, 0.7)
    # The plain layers: the reference is differentiated twice (exact Hessian-vector products).
    ref = use_plain_layers(RefNetwork(C, 5, layers, steps, min(4, steps), 3, ops, k, edge_norm, weighting).double())
    ref.load_state_dict(reference_state_dict(net), strict=True)
    return net, ref


def batch(n=4, size=8, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, size, size, generator=g, dtype=torch.float64), torch.randint(0, 5, (n,), generator=g)


def compare_grads(net, ref, x, y, atol=1e-8):
    net.zero_grad()
    ref.zero_grad()
    out, out_ref = net(x), ref(x)
    torch.testing.assert_close(out, out_ref, atol=atol, rtol=1e-7)
    F.cross_entropy(out, y).backward()
    F.cross_entropy(out_ref, y).backward()
    ref_params = dict(ref.named_parameters())
    names = reference_names(net)
    checked = 0
    for name, p in net.named_parameters():
        q = ref_params[names[name][0]]
        assert p.grad is not None, name
        torch.testing.assert_close(p.grad, q.grad, atol=atol, rtol=1e-6, msg=lambda m, n=name: f"{n}: {m}")
        checked += 1
    assert checked == len(ref_params)
    # running statistics (each shared pool BN against every reference edge BN it stands for)
    ref_buffers = dict(ref.named_buffers())
    for name, b in net.named_buffers():
        for ref_name in names[name]:
            torch.testing.assert_close(
                b, ref_buffers[ref_name], atol=1e-10, rtol=1e-9, msg=lambda m, n=ref_name: f"{n}: {m}"
            )


# --------------------------------------------------------------------------- #
# Same mathematics
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    ("layers", "size", "k", "edge_norm", "weighting"),
    [
        (3, 8, 1, False, "softmax"),
        (5, 8, 1, False, "softmax"),
        (3, 8, 2, True, "softmax"),
        (3, 8, 1, True, "sigmoid"),
    ],
)
def test_supernet_matches_reference(layers, size, k, edge_norm, weighting):
    net, ref = make_pair(layers=layers, k=k, edge_norm=edge_norm, weighting=weighting)
    x, y = batch(size=size)
    compare_grads(net, ref, x, y)
    # a second batch (running stats now non-trivial), then eval mode with running statistics
    x2, y2 = batch(size=size, seed=2)
    compare_grads(net, ref, x2, y2)
    net.eval()
    ref.eval()
    with torch.no_grad():
        torch.testing.assert_close(net(x), ref(x), atol=1e-8, rtol=1e-7)


def test_supernet_matches_reference_odd_sizes_and_all_darts_ops():
    # 7x7 inputs: odd sizes at every stage; the extra NASNet-style ops go through the generic path.
    ops = (*DARTS_SEARCH_OPS, "sep_conv_7x7", "conv_7x1_1x7")
    net, ref = make_pair(layers=3, ops=ops, steps=2)
    x, y = batch(size=7)
    compare_grads(net, ref, x, y)


def test_eval_mode_gradients_match_reference():
    net, ref = make_pair(layers=3)
    x, y = batch()
    compare_grads(net, ref, x, y)
    net.eval()
    ref.eval()
    net.zero_grad()
    ref.zero_grad()
    F.cross_entropy(net(x), y).backward()
    F.cross_entropy(ref(x), y).backward()
    torch.testing.assert_close(net.alphas_normal.grad, ref.alphas_normal.grad, atol=1e-8, rtol=1e-6)
    torch.testing.assert_close(net.alphas_reduce.grad, ref.alphas_reduce.grad, atol=1e-8, rtol=1e-6)


@pytest.mark.parametrize("stride", [1, 2])
def test_pooling_functions_match_torch(stride):
    x = torch.randn(2, 3, 9, 10, dtype=torch.float64, requires_grad=True)
    for mine, theirs in (
        (avg_pool_3x3, lambda t: F.avg_pool2d(t, 3, stride, 1, count_include_pad=False)),
        (max_pool_3x3, lambda t: F.max_pool2d(t, 3, stride, 1)),
    ):
        g = torch.randn_like(theirs(x))
        a = torch.autograd.grad((mine(x, stride) * g).sum(), x)[0]
        b = torch.autograd.grad((theirs(x) * g).sum(), x)[0]
        torch.testing.assert_close(mine(x, stride), theirs(x))
        torch.testing.assert_close(a, b)


def test_float32_channels_last_matches_reference():
    net, ref = make_pair(layers=3)
    net.float()
    ref.float()
    x, y = batch(size=16)
    x = x.float()
    out = net(x)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, ref(x), atol=1e-4, rtol=1e-4)


# --------------------------------------------------------------------------- #
# Parameters
# --------------------------------------------------------------------------- #


def test_arch_parameters_registered_and_separate():
    net = DartsSupernet(channels=4, layers=3, edge_normalization=True)
    arch = net.arch_parameters()
    assert [tuple(a.shape) for a in arch] == [(14, 8), (14, 8), (14,), (14,)]
    assert all(isinstance(a, nn.Parameter) for a in arch)
    state = net.state_dict()
    for key in ("alphas_normal", "alphas_reduce", "betas_normal", "betas_reduce"):
        assert key in state
    weights = net.weight_parameters()
    ids = {id(p) for p in weights}
    assert not any(id(a) in ids for a in arch)
    assert len(weights) + len(arch) == len(list(net.parameters()))
    assert abs(net.alphas_normal).max() < 0.01  # 1e-3 * randn
    moved = net.to(torch.float64)
    assert all(a.dtype == torch.float64 for a in moved.arch_parameters())
    w = net.arch_weights()
    torch.testing.assert_close(w["normal"].sum(-1), torch.ones(14, dtype=torch.float64))
    assert set(w) == {"normal", "reduce", "normal_edges", "reduce_edges"}
    assert not w["normal"].requires_grad
    # a state dict round-trips into a fresh supernet
    other = DartsSupernet(channels=4, layers=3, edge_normalization=True).double()
    other.load_state_dict(net.state_dict())
    torch.testing.assert_close(other.alphas_reduce, net.alphas_reduce)


def test_nb201_parameters_and_shapes():
    net = NB201Supernet(channels=4, cells_per_stage=1, num_classes=7)
    assert [tuple(a.shape) for a in net.arch_parameters()] == [(6, 5)]
    assert "alphas" in net.state_dict()
    assert all(p is not net.alphas for p in net.weight_parameters())
    x = torch.randn(3, 3, 8, 8)
    out = net(x)
    assert out.shape == (3, 7)
    out.sum().backward()
    assert net.alphas.grad is not None and net.alphas.grad.abs().sum() > 0
    assert all(p.grad is not None for p in net.weight_parameters())
    assert set(net.arch_weights()) == {"cell"}
    pc = NB201Supernet(channels=4, cells_per_stage=1, partial_channels=2, weighting="sigmoid")
    pc(x).sum().backward()
    assert pc.alphas.grad is not None


def test_bad_options_are_one_line_errors():
    with pytest.raises(NasError, match="partial_channels"):
        DartsSupernet(channels=6, partial_channels=4)
    with pytest.raises(NasError, match="weighting"):
        DartsSupernet(channels=4, layers=3, weighting="gumbel")
    with pytest.raises(NasError, match="ops"):
        DartsSupernet(channels=4, layers=3, ops=("none", "nor_conv_3x3"))
    with pytest.raises(NasError, match="ops"):
        NB201Supernet(channels=4, cells_per_stage=1, ops=("none", "sep_conv_3x3"))
    with pytest.raises(NasError, match="multiplier"):
        DartsSupernet(channels=4, layers=3, steps=2, multiplier=3)


# --------------------------------------------------------------------------- #
# Derivation
# --------------------------------------------------------------------------- #

OPS8 = DARTS_SEARCH_OPS


def _weights(spec: dict[int, dict[str, float]], num_edges: int = 14) -> torch.Tensor:
    w = torch.full((num_edges, len(OPS8)), 0.01)
    for e, ops in spec.items():
        for name, v in ops.items():
            w[e, OPS8.index(name)] = v
    return w


def test_derive_darts_rule():
    # node 2: edges 0,1; node 3: edges 2,3,4; node 4: 5..8; node 5: 9..13
    w = _weights({
        0: {"sep_conv_3x3": 0.5, "none": 0.9}, 1: {"max_pool_3x3": 0.4},
        2: {"none": 0.99}, 3: {"dil_conv_5x5": 0.3}, 4: {"skip_connect": 0.35},
        5: {"avg_pool_3x3": 0.2}, 6: {"sep_conv_5x5": 0.6}, 7: {"dil_conv_3x3": 0.7}, 8: {},
        9: {}, 10: {}, 11: {"sep_conv_3x3": 0.2}, 12: {"sep_conv_5x5": 0.25}, 13: {},
    })  # fmt: skip
    edges, concat = derive_darts_cell(w, OPS8)
    assert edges == [
        ("sep_conv_3x3", 0), ("max_pool_3x3", 1),  # 'none' never chosen, never ranks an edge
        ("skip_connect", 2), ("dil_conv_5x5", 1),  # edge 2 (input 0) only has 'none' strong: ranks last
        ("dil_conv_3x3", 2), ("sep_conv_5x5", 1),
        ("sep_conv_5x5", 3), ("sep_conv_3x3", 2),
    ]  # fmt: skip
    assert concat == [2, 3, 4, 5]
    DartsGenotype(normal=edges, normal_concat=concat, reduce=edges, reduce_concat=concat)


def test_derive_max_skip():
    w = _weights({
        0: {"skip_connect": 0.9}, 1: {"skip_connect": 0.8, "sep_conv_3x3": 0.5},
        2: {"skip_connect": 0.7}, 3: {"skip_connect": 0.6, "dil_conv_3x3": 0.2}, 4: {"sep_conv_3x3": 0.65},
        5: {"sep_conv_3x3": 0.5}, 6: {"sep_conv_5x5": 0.5},
        9: {"sep_conv_3x3": 0.5}, 10: {"sep_conv_5x5": 0.5},
    })  # fmt: skip
    edges, _ = derive_darts_cell(w, OPS8)
    assert sum(op == "skip_connect" for op, _ in edges) == 3
    capped, _ = derive_darts_cell(w, OPS8, max_skip=2)
    assert sum(op == "skip_connect" for op, _ in capped) == 2
    # node 3 first drops edge 2's skip (0.7, the weakest); edge 3's skip (0.6) takes its place and is
    # dropped next, so edge 3 keeps its next-best op behind edge 4
    assert capped[:2] == [("skip_connect", 0), ("skip_connect", 1)]
    assert capped[2:4] == [("sep_conv_3x3", 2), ("dil_conv_3x3", 1)]
    one, _ = derive_darts_cell(w, OPS8, max_skip=1)
    assert one[:2] == [("skip_connect", 0), ("sep_conv_3x3", 1)]  # edge 1 falls back to its next-best op
    zero, _ = derive_darts_cell(w, OPS8, max_skip=0)
    assert all(op != "skip_connect" for op, _ in zero)
    with pytest.raises(NasError, match="max_skip"):
        derive_darts_cell(w, OPS8, max_skip=-1)
    with pytest.raises(NasError, match="weights"):
        derive_darts_cell(w[:10], OPS8)


def test_supernet_genotype_uses_weights_and_edge_norm():
    net = DartsSupernet(channels=4, layers=3, edge_normalization=True)
    with torch.no_grad():
        net.alphas_normal.zero_()
        net.alphas_normal[:, OPS8.index("sep_conv_3x3")] = 3.0
        net.alphas_normal[1, OPS8.index("dil_conv_5x5")] = 5.0
        net.alphas_reduce.zero_()
        net.alphas_reduce[:, OPS8.index("max_pool_3x3")] = 2.0
        net.betas_normal.zero_()
        net.betas_normal[4] = 4.0  # node 3: edge 4 (input 2) dominates edge selection
    g = net.genotype()
    assert g.normal[0] == ("dil_conv_5x5", 1)
    assert g.normal[2] == ("sep_conv_3x3", 2)
    assert all(op == "max_pool_3x3" for op, _ in g.reduce)
    assert net.genotype(max_skip=0) == g


def test_derive_nb201():
    w = torch.zeros(6, 5)
    picks = ["none", "nor_conv_3x3", "skip_connect", "avg_pool_3x3", "nor_conv_1x1", "skip_connect"]
    for e, name in enumerate(picks):
        w[e, NB201_OPS.index(name)] = 1.0
    g = derive_nb201(w, NB201_OPS)
    assert g.ops == tuple(picks)
    assert g.nodes[2] == (("avg_pool_3x3", 0), ("nor_conv_1x1", 1), ("skip_connect", 2))
    w[0, NB201_OPS.index("nor_conv_1x1")] = 0.5
    assert derive_nb201(w, NB201_OPS, exclude_none=True).ops[0] == "nor_conv_1x1"
    w[2, NB201_OPS.index("nor_conv_3x3")] = 0.3
    w[2, NB201_OPS.index("skip_connect")] = 0.9  # the weaker of the two skips
    capped = derive_nb201(w, NB201_OPS, max_skip=1)
    assert capped.ops[2] == "nor_conv_3x3" and capped.ops[5] == "skip_connect"
    net = NB201Supernet(channels=4, cells_per_stage=1)
    with torch.no_grad():
        net.alphas.copy_(w * 10)
    assert net.genotype().ops == (
        "none",
        "nor_conv_3x3",
        "skip_connect",
        "avg_pool_3x3",
        "nor_conv_1x1",
        "skip_connect",
    )
    assert net.genotype(exclude_none=True).ops[0] == "nor_conv_1x1"
    assert net.genotype(max_skip=1).ops[2] == "nor_conv_3x3"


# --------------------------------------------------------------------------- #
# Architect
# --------------------------------------------------------------------------- #


def _tiny(seed=0):
    net, ref = make_pair(seed=seed, layers=3)
    return net, ref


def _ref_weights(net, ref):
    names = reference_names(net)
    params = dict(ref.named_parameters())
    arch = {id(a) for a in net.arch_parameters()}
    return [params[names[n][0]] for n, p in net.named_parameters() if id(p) not in arch]


def test_fd_hessian_vector_product_matches_double_backward():
    net, ref = _tiny()
    x, y = batch()
    arch = Architect(net, second_order=True)
    g = torch.Generator().manual_seed(5)
    vector = [torch.randn(p.shape, generator=g, dtype=p.dtype) for p in net.weight_parameters()]
    ref_w = _ref_weights(net, ref)
    # exact: d/dalpha <grad_w L(w, alpha), v> on the reference network (double backward)
    gw = torch.autograd.grad(F.cross_entropy(ref(x), y), ref_w, create_graph=True)
    exact = torch.autograd.grad(sum((a * v).sum() for a, v in zip(gw, vector)), ref.arch_parameters())
    # a small radius: the central difference is then accurate to ~1e-8 (the tiny net is far from
    # smooth at DARTS' radius 0.01 -- 2x2 maps, batch 4 -- where the difference is only an estimate)
    fd = arch.hessian_vector_product(vector, x, y, radius=1e-4)
    for a, b in zip(fd, exact):
        assert b.abs().max() > 1e-3
        torch.testing.assert_close(a, b, atol=1e-6 * float(b.abs().max()), rtol=1e-5)
    # the default radius is DARTS': eps = 0.01 / ||v||, a central difference on the reference gives the same
    norm = float(torch.sqrt(sum((v**2).sum() for v in vector)))
    eps = 0.01 / norm
    grads = []
    for sign in (1, -1):
        with torch.no_grad():
            for p, v in zip(ref_w, vector):
                p.add_(v, alpha=sign * eps)
        grads.append(torch.autograd.grad(F.cross_entropy(ref(x), y), ref.arch_parameters()))
        with torch.no_grad():
            for p, v in zip(ref_w, vector):
                p.sub_(v, alpha=sign * eps)
    for a, gp, gm in zip(arch.hessian_vector_product(vector, x, y), *grads):
        torch.testing.assert_close(a, (gp - gm) / (2 * eps), atol=1e-9, rtol=1e-7)
    # the weights are restored exactly
    for p, q in zip(net.weight_parameters(), make_pair(layers=3)[0].weight_parameters()):
        assert torch.equal(p, q)


@pytest.mark.parametrize("second_order", [False, True])
def test_architect_step_changes_alphas_not_weights(second_order):
    net, _ = _tiny()
    x, y = batch()
    vx, vy = batch(seed=3)
    w_opt = torch.optim.SGD(net.weight_parameters(), lr=0.1, momentum=0.9, weight_decay=3e-4)
    # one weight step so that the optimizer has momentum buffers
    F.cross_entropy(net(x), y).backward()
    w_opt.step()
    w_opt.zero_grad()
    before_w = [p.detach().clone() for p in net.weight_parameters()]
    before_a = [p.detach().clone() for p in net.arch_parameters()]
    before_bufs = [b.clone() for b in net.buffers()]
    arch = Architect(net, second_order=second_order, lr=0.01)
    info = arch.step(x, y, vx, vy, w_lr=0.1, w_optimizer=w_opt)
    assert info["val_loss"] > 0 and info["arch_grad_norm"] > 0
    for a, b in zip(net.arch_parameters(), before_a):
        assert not torch.equal(a, b)
    for p, b in zip(net.weight_parameters(), before_w):
        assert torch.equal(p, b)
        assert p.grad is None
    if second_order:
        assert "train_loss" in info
        for b, s in zip(net.buffers(), before_bufs):
            assert torch.equal(b, s)
    state = arch.state_dict()
    other = Architect(net, second_order=second_order, lr=0.01)
    other.load_state_dict(state)
    assert other.optimizer.state_dict()["state"].keys() == arch.optimizer.state_dict()["state"].keys()


def test_second_order_gradient_matches_unrolled_reference():
    """The unrolled gradient is grad_alpha L_val(w') - xi * H dw', H exact (double backward on the reference)."""
    net, ref = _tiny()
    x, y = batch()
    vx, vy = batch(seed=3)
    xi, wd, mom = 0.05, 3e-4, 0.9
    w_opt = torch.optim.SGD(net.weight_parameters(), lr=xi, momentum=mom, weight_decay=wd)
    F.cross_entropy(net(x), y).backward()
    w_opt.step()  # momentum buffers now exist
    net.zero_grad()
    ref.load_state_dict(reference_state_dict(net))
    buffers = [w_opt.state[p]["momentum_buffer"] for p in net.weight_parameters()]
    # radius 1e-6: the tiny net is far from smooth at larger radii (see the test above)
    arch = Architect(net, second_order=True, w_momentum=mom, w_weight_decay=wd, fd_radius=1e-6)
    grads, _ = arch._unrolled(x, y, vx, vy, xi, w_opt)
    ref_w = _ref_weights(net, ref)
    ref_copy = copy.deepcopy(ref)
    gw = torch.autograd.grad(F.cross_entropy(ref(x), y), ref_w)
    with torch.no_grad():
        for p, g, m in zip(ref_w, gw, buffers):
            p.sub_(xi * (g + wd * p + mom * m))
    g_all = torch.autograd.grad(F.cross_entropy(ref(vx), vy), ref.arch_parameters() + ref_w)
    g_alpha, dw = g_all[:2], g_all[2:]
    gw2 = torch.autograd.grad(F.cross_entropy(ref_copy(x), y), _ref_weights(net, ref_copy), create_graph=True)
    hvp = torch.autograd.grad(sum((a * v).sum() for a, v in zip(gw2, dw)), ref_copy.arch_parameters())
    for mine, ga, h in zip(grads, g_alpha, hvp):
        assert (xi * h).abs().max() > 1e-5  # the Hessian term matters
        torch.testing.assert_close(mine, ga - xi * h, atol=1e-8, rtol=1e-5)


def test_zero_one_loss():
    net = DartsSupernet(channels=4, layers=3, weighting="sigmoid")
    with torch.no_grad():
        net.alphas_normal.zero_()
        net.alphas_reduce.fill_(100.0)
    # half the weights at 0.5 (loss 0), half at 1 (loss -0.25): mean -0.125
    torch.testing.assert_close(zero_one_loss(net.cell_alphas()), torch.tensor(-0.125))
    arch = Architect(net, extra_loss=lambda m: 1.0 * zero_one_loss(m.cell_alphas()))
    x = torch.randn(2, 3, 8, 8)
    info = arch.step(x, torch.tensor([0, 1]), x, torch.tensor([0, 1]), w_lr=0.1)
    assert "extra_loss" in info


def test_derived_cells_are_points_of_the_registered_spaces():
    """DARTS relaxes the registry's darts and nb201 spaces into supernets: what it derives lies in them."""
    assert set(get_args(DartsSearchConfig.model_fields["space"].annotation)) <= set(list_spaces())
    torch.manual_seed(0)
    nets = {"darts": DartsSupernet(channels=4, layers=3), "nb201": NB201Supernet(channels=4, cells_per_stage=1)}
    for name, net in nets.items():
        space = get_space(name)
        for _ in range(5):
            with torch.no_grad():
                for p in net.arch_parameters():
                    p.normal_()
            for genotype in (net.genotype(), net.genotype(max_skip=0)):
                assert space.from_decisions(space.to_decisions(genotype)) == genotype
