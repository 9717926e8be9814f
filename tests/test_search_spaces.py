"""Search spaces: every decision vector is a valid genotype that round-trips and builds.

Property tests use hypothesis with ``derandomize=True`` (the same examples on every
run, so CI is reproducible): hundreds of examples for the cheap round trips, 25 per
space for building networks.
"""

from __future__ import annotations

import dataclasses
import itertools
import random

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nas.errors import NasError
from nas.genotypes import codec, named
from nas.genotypes.types import (
    DartsGenotype,
    DenseBlock,
    Head,
    InceptionBlock,
    MacroGenotype,
    NB201Genotype,
    ResNetBlock,
    Stage,
    Stem,
    VGGBlock,
)
from nas.search_spaces import SPACES, MacroSpace, SearchSpace, get_space, list_spaces
from nas.search_spaces.densenet import DenseNetFamily
from nas.search_spaces.hybrid import HybridSpace
from nas.search_spaces.inception import InceptionFamily
from nas.search_spaces.resnet import ResNetFamily, ResNetSpace
from nas.search_spaces.vgg import VGGFamily, VGGSpace

NAMES = ["darts", "densenet", "hybrid", "inception", "nb201", "resnet", "vgg"]
KINDS = {"darts": DartsGenotype, "nb201": NB201Genotype}
#: Spaces whose decision vectors map one-to-one to genotypes.
INJECTIVE = {"darts", "nb201", "vgg", "inception", "densenet"}
#: The smallest sensible networks, so that building 25 of each stays fast.
SMALL_BUILD = {"darts": {"channels": 4, "layers": 3}, "nb201": {"channels": 4, "cells_per_stage": 1}}

CHEAP = settings(derandomize=True, database=None, deadline=None, max_examples=300)
BUILD = settings(
    derandomize=True, database=None, deadline=None, max_examples=25, suppress_health_check=[HealthCheck.too_slow]
)

SPACE = {name: get_space(name) for name in NAMES}


def vectors(space: SearchSpace) -> st.SearchStrategy[list[int]]:
    """Any decision vector of ``space`` (shrinks towards choice 0)."""
    return st.tuples(*(st.integers(0, len(d.choices) - 1) for d in space.decisions())).map(list)


def params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# --------------------------------------------------------------------------- #
# Registry
# --------------------------------------------------------------------------- #


def test_registry_lists_every_space() -> None:
    assert list_spaces() == NAMES
    for name in NAMES:
        space = get_space(name)
        assert isinstance(space, SPACES[name]) and isinstance(space, SearchSpace)
        assert space.name == name and space.description
    assert isinstance(get_space("  ResNet "), ResNetSpace)


@pytest.mark.parametrize(("typo", "nearest"), [("dart", "darts"), ("resnett", "resnet"), ("nasbench201", "nb201")])
def test_unknown_space_lists_known_and_nearest(typo: str, nearest: str) -> None:
    with pytest.raises(NasError) as info:
        get_space(typo)
    message = str(info.value)
    assert "\n" not in message
    assert all(name in message for name in NAMES)
    assert f"nearest: {nearest!r}" in message


def test_space_name_must_be_text() -> None:
    with pytest.raises(NasError, match="search space"):
        get_space(3)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", NAMES)
def test_decisions_are_well_formed(name: str) -> None:
    decisions = SPACE[name].decisions()
    names = [d.name for d in decisions]
    assert len(set(names)) == len(names)
    assert all(len(d.choices) >= 1 for d in decisions)
    assert SPACE[name].decisions() == decisions  # stable order


def test_decision_names_follow_the_documented_scheme() -> None:
    assert [d.name for d in SPACE["nb201"].decisions()] == ["1<-0", "2<-0", "2<-1", "3<-0", "3<-1", "3<-2"]
    darts = SPACE["darts"].decisions()
    assert [d.name for d in darts[:4]] == [
        "normal.node2.edge0.input",
        "normal.node2.edge0.op",
        "normal.node2.edge1.input",
        "normal.node2.edge1.op",
    ]
    assert darts[-1].name == "reduce.node5.edge1.op"
    assert darts[-2].choices == (0, 1, 2, 3, 4)
    assert "none" not in darts[1].choices and len(darts[1].choices) == 7
    hybrid = [d.name for d in SPACE["hybrid"].decisions()]
    assert hybrid[0] == "stage0.family" and "stage2.resnet.groups" in hybrid and "stage1.densenet.compression" in hybrid
    assert "stage0.densenet.compression" not in hybrid  # stage 0 has no transition
    assert [d.name for d in SPACE["vgg"].decisions()[:3]] == ["stage0.depth", "stage0.width", "stage0.kernel"]


# --------------------------------------------------------------------------- #
# Properties of every space
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("name", NAMES)
def test_vectors_give_valid_genotypes_that_round_trip(name: str) -> None:
    space = SPACE[name]

    @CHEAP
    @given(vectors(space))
    def check(v: list[int]) -> None:
        g = space.from_decisions(v)
        assert isinstance(g, KINDS.get(name, MacroGenotype))
        assert dataclasses.replace(g) == g  # re-running validation accepts it
        text = codec.to_json(g)
        assert codec.from_json(text) == g
        assert codec.to_json(codec.from_json(text)) == text
        if name == "darts":
            assert codec.from_darts_text(codec.to_darts_text(g)) == g
        if name == "nb201":
            assert codec.from_nb201_string(codec.to_nb201_string(g)) == g
        if isinstance(g, MacroGenotype):
            assert [side for _, side in g.feature_shapes()] == [32, 16, 8]
        canonical = space.to_decisions(g)
        assert space.check_decisions(canonical) == canonical
        assert space.from_decisions(canonical) == g
        assert space.to_decisions(space.from_decisions(canonical)) == canonical
        if name in INJECTIVE:
            assert canonical == v

    check()


def test_hybrid_zeroes_the_decisions_of_families_not_chosen() -> None:
    space = SPACE["hybrid"]
    names = [d.name for d in space.decisions()]

    @CHEAP
    @given(vectors(space))
    def check(v: list[int]) -> None:
        canonical = space.to_decisions(space.from_decisions(v))
        for s in range(3):
            family = space.decisions()[names.index(f"stage{s}.family")].choices[v[names.index(f"stage{s}.family")]]
            for i, n in enumerate(names):
                if n.startswith(f"stage{s}.") and n != f"stage{s}.family" and not n.startswith(f"stage{s}.{family}."):
                    assert canonical[i] == 0, n
                if n.startswith(f"stage{s}.{family}.") and not n.endswith((".groups", ".shortcut")):
                    assert canonical[i] == v[i], n  # only ResNet's groups/shortcut may be ignored

    check()


@pytest.mark.parametrize("name", NAMES)
def test_mutate_gives_a_different_genotype_of_the_space(name: str) -> None:
    space = SPACE[name]

    @CHEAP
    @given(st.integers(0, 2**32 - 1))
    def check(seed: int) -> None:
        rng = random.Random(seed)
        g = space.sample(rng)
        m = space.mutate(g, rng)
        assert type(m) is type(g)
        assert m != g
        before, after = space.to_decisions(g), space.to_decisions(m)
        changed = sum(a != b for a, b in zip(before, after))
        if name in INJECTIVE:
            assert changed == 1
        else:
            assert changed >= 1

    check()


@pytest.mark.parametrize("name", NAMES)
def test_sampled_networks_build_and_classify(name: str) -> None:
    space = SPACE[name]
    x = torch.randn(2, 3, 32, 32)

    @BUILD
    @given(st.integers(0, 2**32 - 1))
    def check(seed: int) -> None:
        g = space.sample(random.Random(seed))
        model = space.build(g, **SMALL_BUILD.get(name, {}))
        model.train()
        out = model(x)
        assert isinstance(out, torch.Tensor) and out.shape == (2, 10)
        model.eval()
        with torch.no_grad():
            out = model(x)
        assert out.shape == (2, 10) and torch.isfinite(out).all()

    check()


def test_default_settings_build() -> None:
    # The documented defaults are accepted by the networks (and num_classes passes through).
    x = torch.randn(2, 3, 32, 32)
    for name in NAMES:
        space = SPACE[name]
        g = space.from_decisions([0] * len(space.decisions()))
        model = space.build(g, num_classes=7).eval()
        with torch.no_grad():
            assert model(x).shape == (2, 7)
    assert SPACE["darts"].default_settings().build_options == {"channels": 16, "layers": 8}
    assert SPACE["nb201"].default_settings().build_options == {"channels": 16, "cells_per_stage": 5}


def test_from_decisions_rejects_bad_vectors() -> None:
    space = SPACE["resnet"]
    with pytest.raises(NasError, match="expected 18 decisions"):
        space.from_decisions([0] * 17)
    with pytest.raises(NasError, match=r"resnet\.stage0\.depth: expected a choice index 0\.\.5"):
        space.from_decisions([0, 6] + [0] * 16)


# --------------------------------------------------------------------------- #
# Sizes
# --------------------------------------------------------------------------- #


def test_nb201_has_15625_distinct_cells() -> None:
    space = SPACE["nb201"]
    assert space.size() == 15_625
    cells = {space.from_decisions(list(v)) for v in itertools.product(range(5), repeat=6)}
    assert len(cells) == 15_625


def test_darts_size_allows_equal_inputs() -> None:
    space = SPACE["darts"]
    # Node k has k inputs and 7 operations per edge, two edges each, equal inputs allowed.
    assert space.size() == (14 * 21 * 28 * 35) ** 4
    # A cell whose two edges read the same state is a point (NASNet-style).
    v = [0] * len(space.decisions())
    g = space.from_decisions(v)
    assert g.normal[0][1] == g.normal[1][1] == 0
    assert space.unordered_size() == (105 * 231 * 406 * 630) ** 2


@pytest.mark.parametrize("name", ["vgg", "inception", "densenet"])
def test_injective_macro_spaces_count_every_vector(name: str) -> None:
    space = SPACE[name]
    assert space.distinct_size() == space.size()


def test_vgg_vectors_are_all_distinct() -> None:
    space = SPACE["vgg"]
    assert space.size() == (4 * 3 * 2) ** 3
    assert _brute_force_distinct(space) == space.size()


def _brute_force_distinct(space: MacroSpace) -> int:
    grid = itertools.product(*(range(len(d.choices)) for d in space.decisions()))
    return len({space.from_decisions(list(v)) for v in grid})


def test_distinct_size_matches_brute_force_on_small_menus() -> None:
    # Ignored decisions: groups of basic blocks, 'pad' where a stage narrows (a
    # bottleneck stage 0 of 64 channels followed by 16- or 32-wide basic stages).
    resnet = ResNetSpace(
        ResNetFamily(depths=(1,), widths=(8, 16), groups=(1, 2), se_reductions=(0,), shortcuts=("conv", "pad"))
    )
    assert resnet.size() == 16**3
    assert resnet.distinct_size() == _brute_force_distinct(resnet) < resnet.size()
    # Ignored decisions of the family not chosen, and stages whose width depends on earlier ones.
    hybrid = HybridSpace(
        (
            ResNetFamily(kinds=("basic",), depths=(1,), widths=(8, 16), groups=(1, 2), se_reductions=(0,)),
            DenseNetFamily(growths=(4,), depths=(1,), bottlenecks=(0,), compressions=(1.0, 0.5)),
        )
    )
    assert hybrid.size() == (2 * 8 * 1) * (2 * 8 * 2) ** 2
    assert hybrid.distinct_size() == _brute_force_distinct(hybrid)


def test_hybrid_contains_each_family_space() -> None:
    # The family spaces are disjoint (their first stages differ) and all inside hybrid.
    families = [SPACE[n] for n in ("vgg", "inception", "resnet", "densenet")]
    hybrid = SPACE["hybrid"]
    assert hybrid.distinct_size() >= sum(s.distinct_size() for s in families)
    assert hybrid.distinct_size() < hybrid.size()
    rng = random.Random(0)
    for space in families:
        for _ in range(50):
            g = space.sample(rng)
            assert hybrid.from_decisions(hybrid.to_decisions(g)) == g


def test_mutate_refuses_a_single_point_space() -> None:
    space = VGGSpace(VGGFamily(depths=(1,), widths=(8,), kernels=(3,)))
    g = space.sample(random.Random(0))
    with pytest.raises(NasError, match="one point"):
        space.mutate(g, random.Random(0))


# --------------------------------------------------------------------------- #
# Genotypes outside a space
# --------------------------------------------------------------------------- #


def _resnet(n: int, shortcut: str = "pad", stem: int = 16, widths: tuple[int, ...] = (16, 32, 64)) -> MacroGenotype:
    """He et al.'s CIFAR ResNet-(6n+2)."""
    stages = tuple(
        Stage(ResNetBlock(w, shortcut=shortcut), depth=n, downsample="none" if s == 0 else "stride")
        for s, w in enumerate(widths)
    )
    return MacroGenotype(stem=Stem(stem), stages=stages)


def _densenet(k: int, n: int, bc: bool) -> MacroGenotype:
    """Huang et al.'s CIFAR DenseNet (bc=False) or DenseNet-BC with three blocks of n layers."""
    stages = tuple(
        Stage(
            DenseBlock(k, 4 if bc else 0),
            depth=n,
            downsample="none" if s == 0 else "transition",
            compression=0.5 if bc and s else 1.0,
        )
        for s in range(3)
    )
    return MacroGenotype(stem=Stem(2 * k if bc else 16, norm_act=False), stages=stages, head=Head(preact=True))


@pytest.mark.parametrize(
    ("genotype", "message"),
    [
        (named.get("NASNet"), r"normal: expected 4 nodes x 2 edges = 8 edges, got 10"),
        (
            DartsGenotype(
                normal=[("none", 0), ("sep_conv_3x3", 1)] + list(named.get("DARTS_V2").normal[2:]),
                normal_concat=[2, 3, 4, 5],
                reduce=named.get("DARTS_V2").reduce,
                reduce_concat=[2, 3, 4, 5],
            ),
            r"normal\[0\]: operation 'none' is not in this space",
        ),
        (
            DartsGenotype(
                normal=[("sep_conv_3x3", 0), ("sep_conv_3x3", 1)] + [("skip_connect", k) for k in (2, 2, 3, 3, 4, 4)],
                normal_concat=[5],
                reduce=named.get("DARTS_V2").reduce,
                reduce_concat=[2, 3, 4, 5],
            ),
            r"normal_concat: expected \[2, 3, 4, 5\]",
        ),
        (named.get("NB201_best"), r"darts space: expected a DARTS genotype, got 'nb201'"),
    ],
)
def test_darts_space_names_what_does_not_fit(genotype: object, message: str) -> None:
    with pytest.raises(NasError, match=message):
        SPACE["darts"].to_decisions(genotype)  # type: ignore[arg-type]


def test_nb201_space_names_what_does_not_fit() -> None:
    space = SPACE["nb201"]
    with pytest.raises(NasError, match=r"nodes: expected 3 nodes"):
        space.to_decisions(NB201Genotype(nodes=[[("skip_connect", 0)], [("skip_connect", 0), ("none", 1)]]))
    with pytest.raises(NasError, match=r"expected an NB201 genotype, got 'darts'"):
        space.to_decisions(named.get("DARTS_V2"))


@pytest.mark.parametrize(
    ("space", "genotype", "message"),
    [
        ("resnet", _densenet(12, 12, False), r"resnet space: stages\[0\]\.block: family 'densenet' is not in this"),
        ("resnet", _resnet(3, widths=(16, 40, 64)), r"stages\[1\]\.block\.width \(3x3 channels\): 40 is not in"),
        ("resnet", _resnet(4), r"stages\[0\]\.depth: 4 is not in this space"),
        ("resnet", _resnet(3, stem=8), r"resnet space: stem\.channels: expected 16 here, got 8"),
        ("hybrid", _resnet(3, stem=8), r"hybrid space: stem\.channels: expected 16 here, got 8"),
        ("densenet", dataclasses.replace(_densenet(12, 12, False), head=Head()), r"head\.preact: expected True"),
        ("densenet", _densenet(12, 10, False), r"stages\[0\]\.depth: 10 is not in this space"),
        ("vgg", _resnet(3), r"family 'resnet' is not in this space \(known: vgg\)"),
        ("inception", named.get("DARTS_V2"), r"inception space: expected a macro genotype, got 'darts'"),
    ],
)
def test_macro_spaces_name_what_does_not_fit(space: str, genotype: object, message: str) -> None:
    with pytest.raises(NasError, match=message):
        SPACE[space].to_decisions(genotype)  # type: ignore[arg-type]


def test_macro_spaces_reject_other_layouts() -> None:
    four = MacroGenotype(stem=Stem(16), stages=_resnet(1).stages + (Stage(ResNetBlock(128), 1, "stride"),))
    with pytest.raises(NasError, match=r"stages: expected 3 stages, got 4"):
        SPACE["resnet"].to_decisions(four)
    big = dataclasses.replace(_resnet(3), input_size=64)
    with pytest.raises(NasError, match=r"input_size/in_channels: expected 32/3"):
        SPACE["resnet"].to_decisions(big)
    vgg = SPACE["vgg"].from_decisions([0] * 9)
    pooled = dataclasses.replace(vgg, stages=(vgg.stages[0], dataclasses.replace(vgg.stages[1], downsample="avg_pool")))
    pooled = dataclasses.replace(pooled, stages=pooled.stages + (vgg.stages[2],))
    with pytest.raises(NasError, match=r"vgg space: stages\[1\]\.downsample: expected 'max_pool' here, got 'avg_pool'"):
        SPACE["vgg"].to_decisions(pooled)
    inc = SPACE["inception"].from_decisions([0] * 18)
    block = dataclasses.replace(inc.stages[0].block, b2_reduce=6)
    odd = dataclasses.replace(inc, stages=(dataclasses.replace(inc.stages[0], block=block),) + inc.stages[1:])
    with pytest.raises(NasError, match=r"stages\[0\]\.block\.b2_reduce: expected 4 here, got 6"):
        SPACE["inception"].to_decisions(odd)
    # A basic block's groups decision is ignored, so groups other than 1 are not points.
    r20 = _resnet(3)
    grouped = dataclasses.replace(r20.stages[0].block, groups=2)
    bad = dataclasses.replace(r20, stages=(dataclasses.replace(r20.stages[0], block=grouped),) + r20.stages[1:])
    with pytest.raises(NasError, match=r"stages\[0\]\.block\.groups: expected 1 here, got 2"):
        SPACE["resnet"].to_decisions(bad)


def test_every_inception_branch_is_checked() -> None:
    inc = SPACE["inception"].from_decisions([0] * 18)
    block = InceptionBlock(b1=12, b2_reduce=4, b2=8, b3_reduce=2, b3=4, pool_proj=4)
    odd = dataclasses.replace(inc, stages=(dataclasses.replace(inc.stages[0], block=block),) + inc.stages[1:])
    with pytest.raises(NasError, match=r"stages\[0\]\.block\.b1: 12 is not in this space \(choices: 8, 16\)"):
        SPACE["inception"].to_decisions(odd)
    with pytest.raises(NasError, match=r"block\.kernel_size: 7 is not in this space"):
        vgg = SPACE["vgg"].from_decisions([0] * 9)
        seven = dataclasses.replace(vgg.stages[0], block=VGGBlock(8, kernel_size=7))
        SPACE["vgg"].to_decisions(dataclasses.replace(vgg, stages=(seven,) + vgg.stages[1:]))


# --------------------------------------------------------------------------- #
# Published networks and cells that are points
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("cell", ["DARTS_V1", "DARTS_V2", "PC_DARTS", "PDARTS"])
def test_derived_darts_cells_are_points(cell: str) -> None:
    g = named.get(cell)
    v = SPACE["darts"].to_decisions(g)
    assert SPACE["darts"].from_decisions(v) == g


def test_nb201_best_cell_decisions() -> None:
    # Ops: skip_connect 1, nor_conv_1x1 2, nor_conv_3x3 3; edges in the benchmark's order
    # (1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2): the table's best cell has a 1x1 conv on 3<-1.
    assert SPACE["nb201"].to_decisions(named.get("NB201_best")) == [3, 3, 3, 1, 2, 3]


def _resnet_params(n: int, num_classes: int = 10) -> int:
    """He et al.'s CIFAR ResNet-(6n+2), option A: bias-free 3x3 convs, BN after each, linear head."""
    total, c = 3 * 16 * 9 + 2 * 16, 16
    for w in (16, 32, 64):
        for i in range(n):
            total += (c if i == 0 else w) * w * 9 + w * w * 9 + 4 * w
        c = w
    return total + 64 * num_classes + num_classes


def _densenet_params(k: int, n: int, bc: bool, num_classes: int = 10) -> int:
    """Huang et al.'s CIFAR DenseNet(-BC): BN-ReLU-(1x1 to 4k)-BN-ReLU-3x3 layers, transitions, BN head."""
    c = 2 * k if bc else 16
    total = 3 * c * 9
    for s in range(3):
        if s:
            out = c // 2 if bc else c
            total += 2 * c + c * out
            c = out
        for _ in range(n):
            total += 2 * c + (c * 4 * k + 8 * k + 36 * k * k if bc else 9 * c * k)
            c += k
    return total + 2 * c + c * num_classes + num_classes


@pytest.mark.parametrize("n", [1, 2, 3, 5, 7, 9])
@pytest.mark.parametrize("shortcut", ["pad", "conv"])
def test_cifar_resnets_are_points(n: int, shortcut: str) -> None:
    g = _resnet(n, shortcut)
    for name in ("resnet", "hybrid"):
        assert SPACE[name].from_decisions(SPACE[name].to_decisions(g)) == g
    if shortcut == "pad" and n in (3, 9):
        # ResNet-20 and ResNet-56 as published: 0.27M and 0.85M parameters.
        assert params(SPACE["resnet"].build(g)) == _resnet_params(n) == {3: 269_722, 9: 853_018}[n]


@pytest.mark.parametrize(("k", "n", "bc", "count"), [(12, 12, False, 1_019_722), (12, 16, True, 769_162)])
def test_cifar_densenets_are_points(k: int, n: int, bc: bool, count: int) -> None:
    # DenseNet (L=40, k=12): 1.0M parameters in the paper; DenseNet-BC (L=100, k=12): 0.8M.
    g = _densenet(k, n, bc)
    for name in ("densenet", "hybrid"):
        assert SPACE[name].from_decisions(SPACE[name].to_decisions(g)) == g
    assert params(SPACE["densenet"].build(g)) == _densenet_params(k, n, bc) == count


def test_stage_rules_follow_each_family() -> None:
    hybrid = SPACE["hybrid"]
    names = [d.name for d in hybrid.decisions()]
    v = [0] * len(names)
    families = hybrid.decisions()[0].choices
    v[names.index("stage0.family")] = families.index("densenet")
    v[names.index("stage1.family")] = families.index("resnet")
    v[names.index("stage2.family")] = families.index("inception")
    g = hybrid.from_decisions(v)
    assert g.stem == Stem(16, norm_act=False)  # DenseNet's stem, as stage 0 is DenseNet
    assert [s.downsample for s in g.stages] == ["none", "stride", "max_pool"]
    assert g.head == Head(preact=False)  # only a DenseNet last stage needs the final BN-ReLU
    # A 16-channel ResNet stage after a wider DenseNet block cannot zero-pad: it projects.
    v[names.index("stage1.resnet.shortcut")] = 1  # 'pad'
    assert hybrid.from_decisions(v).stages[1].block.shortcut == "conv"
    assert hybrid.canonical(v)[names.index("stage1.resnet.shortcut")] == 0
    # The same for VGG (no stem) and Inception (32-channel stem).
    assert SPACE["vgg"].from_decisions([0] * 9).stem == Stem(0)
    assert SPACE["inception"].from_decisions([0] * 18).stem == Stem(32)
    assert SPACE["inception"].from_decisions([0] * 18).stages[1].block.b2 == 16  # widths double per stage
    assert InceptionFamily().decisions(2)[2].choices == (32, 64, 128)


@pytest.mark.parametrize(
    ("name", "space", "expected"),
    [
        ("resnet20", "resnet", _resnet(3)),
        ("resnet56", "resnet", _resnet(9)),
        ("densenet_bc_100", "densenet", _densenet(12, 16, True)),
    ],
)
def test_catalogue_baselines_are_points(name: str, space: str, expected: MacroGenotype) -> None:
    # The named baselines (nas.genotypes.named.classic) use the same conventions as the spaces.
    g = named.get(name)
    assert g == expected
    for s in (space, "hybrid"):
        assert SPACE[s].from_decisions(SPACE[s].to_decisions(g)) == g


def test_deeper_catalogue_resnet_is_not_a_point() -> None:
    with pytest.raises(NasError, match=r"resnet space: stages\[0\]\.depth: 18 is not in this space"):
        SPACE["resnet"].to_decisions(named.get("resnet110"))
