"""Genotypes: small, immutable, validated descriptions of architectures.

A genotype is plain data. It never holds a tensor and never imports torch, so it can
be hashed, compared, de-duplicated by controllers, written as JSON and shared. The
network is *derived* from it by :func:`nas.networks.build`.

Three kinds cover every search space of the toolkit:

* :class:`DartsGenotype` -- a normal and a reduction cell in the DARTS notation (two
  ``(operation, input)`` edges per node, ``concat`` nodes as output): NASNet, DARTS, ...
* :class:`NB201Genotype` -- a NAS-Bench-201 cell (node ``j`` sums one edge from every earlier node).
* :class:`MacroGenotype` -- a macro skeleton (stem, stages, head) whose stages repeat a
  cell of one classic family (VGG, Inception, ResNet, DenseNet; mixed: the *hybrid* space).

Every constructor validates its arguments and raises :class:`nas.errors.NasError` with a
one-line message naming the field, so an invalid genotype cannot exist. Serialisation
lives in :mod:`nas.genotypes.codec`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Union

from nas.errors import NasError
from nas.genotypes.vocab import (  # noqa: F401  (re-exported: the vocabularies are part of this module's API)
    DARTS_OPS,
    DARTS_SEARCH_OPS,
    NB201_EDGES,
    NB201_NODES,
    NB201_OPS,
)

SCHEMA_VERSION = 1

#: How a stage may reduce resolution on entry.
DOWNSAMPLES: tuple[str, ...] = ("none", "max_pool", "avg_pool", "stride", "transition")


def _err(path: str, message: str) -> NasError:
    return NasError(f"{path}: {message}" if path else message)


def _check_int(value: Any, path: str, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _err(path, f"expected an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise _err(path, f"expected an integer >= {minimum}, got {value}")
    return value


def _check_choice(value: Any, choices: tuple[str, ...], path: str, what: str = "value") -> str:
    if not isinstance(value, str) or value not in choices:
        raise _err(path, f"unknown {what} {value!r} (known: {', '.join(choices)})")
    return value


def _set(obj: Any, name: str, value: Any) -> None:
    # Frozen dataclasses normalise their own fields (lists -> tuples) in __post_init__.
    object.__setattr__(obj, name, value)


class Genotype:
    """Base class of every genotype kind (for ``isinstance`` checks and dispatch)."""

    kind: ClassVar[str] = ""

    # Text forms live in nas.genotypes.codec (to_json, to_text): the types import nothing from it.


# --------------------------------------------------------------------------- #
# DARTS-notation cells
# --------------------------------------------------------------------------- #

Edge = tuple[str, int]


def _normalise_edges(value: Any, path: str) -> tuple[Edge, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise _err(path, f"expected a list of (operation, input) pairs, got {value!r}")
    edges = []
    for k, edge in enumerate(value):
        where = f"{path}[{k}]"
        if isinstance(edge, (str, bytes)) or not isinstance(edge, (list, tuple)) or len(edge) != 2:
            raise _err(where, f"expected an (operation, input) pair, got {edge!r}")
        op, inp = edge
        _check_choice(op, DARTS_OPS, where, "operation")
        _check_int(inp, where)
        edges.append((op, inp))
    return tuple(edges)


def _validate_darts_cell(edges: tuple[Edge, ...], concat: tuple[int, ...], name: str) -> None:
    if len(edges) < 2 or len(edges) % 2:
        raise _err(name, f"expected an even, non-zero number of edges (two per node), got {len(edges)}")
    steps = len(edges) // 2
    last = steps + 1  # states 0 and 1 are the cell inputs, 2..last the intermediate nodes
    for k, (_, inp) in enumerate(edges):
        node = k // 2 + 2
        if not 0 <= inp < node:
            raise _err(f"{name}[{k}]", f"input {inp} is not an earlier node of node {node} (0..{node - 1})")
    cpath = f"{name}_concat"
    if not concat:
        raise _err(cpath, "expected at least one node to concatenate")
    if len(set(concat)) != len(concat):
        raise _err(cpath, f"nodes are repeated in {list(concat)}")
    for c in concat:
        if not 2 <= c <= last:
            raise _err(cpath, f"node {c} is not an intermediate node (2..{last})")
    consumed = {inp for _, inp in edges}
    for node in range(2, last + 1):
        if node not in consumed and node not in concat:
            raise _err(name, f"node {node} is unused (neither an input of a later node nor in {cpath})")


def _normalise_concat(value: Any, path: str) -> tuple[int, ...]:
    if isinstance(value, range):
        value = list(value)
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise _err(path, f"expected a list of node indices, got {value!r}")
    return tuple(_check_int(v, f"{path}[{i}]") for i, v in enumerate(value))


@dataclass(frozen=True)
class DartsGenotype(Genotype):
    """A DARTS-notation genotype: ``normal``/``reduce`` edges and their concat lists.

    Edge ``k`` feeds intermediate node ``k // 2 + 2``; its input is a state index
    (0 and 1 are the outputs of the two previous cells).
    """

    normal: tuple[Edge, ...]
    normal_concat: tuple[int, ...]
    reduce: tuple[Edge, ...]
    reduce_concat: tuple[int, ...]

    kind: ClassVar[str] = "darts"

    def __post_init__(self) -> None:
        for cell in ("normal", "reduce"):
            edges = _normalise_edges(getattr(self, cell), cell)
            concat = _normalise_concat(getattr(self, f"{cell}_concat"), f"{cell}_concat")
            _validate_darts_cell(edges, concat, cell)
            _set(self, cell, edges)
            _set(self, f"{cell}_concat", concat)

    def skip_count(self, cell: str = "normal") -> int:
        """Number of ``skip_connect`` edges of a cell (the DARTS collapse symptom)."""
        return sum(op == "skip_connect" for op, _ in getattr(self, cell))


# --------------------------------------------------------------------------- #
# NAS-Bench-201 cells
# --------------------------------------------------------------------------- #


#: Most intermediate nodes of an NB201-style cell (the benchmark has 3; edges grow as n^2/2 and networks with them).
MAX_NB201_NODES = 32


@dataclass(frozen=True)
class NB201Genotype(Genotype):
    """A NAS-Bench-201 cell: ``nodes[j-1]`` lists the ``(op, i)`` edges into node ``j``.

    Node ``j`` receives exactly one edge from every earlier node ``0..j-1`` (in
    order); the benchmark uses three intermediate nodes (six edges).
    """

    nodes: tuple[tuple[Edge, ...], ...]

    kind: ClassVar[str] = "nb201"

    def __post_init__(self) -> None:
        value = self.nodes
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)) or not value:
            raise _err("nodes", f"expected a non-empty list of nodes, got {value!r}")
        if len(value) > MAX_NB201_NODES:
            raise _err("nodes", f"expected at most {MAX_NB201_NODES} nodes (NAS-Bench-201 has 3), got {len(value)}")
        nodes = []
        for j, node in enumerate(value, start=1):
            where = f"nodes[{j - 1}]"
            if isinstance(node, (str, bytes)) or not isinstance(node, (list, tuple)):
                raise _err(where, f"expected a list of (operation, input) pairs, got {node!r}")
            if len(node) != j:
                raise _err(where, f"node {j} needs one edge from each earlier node (0..{j - 1}), got {len(node)} edges")
            edges = []
            for i, edge in enumerate(node):
                epath = f"{where}[{i}]"
                if isinstance(edge, (str, bytes)) or not isinstance(edge, (list, tuple)) or len(edge) != 2:
                    raise _err(epath, f"expected an (operation, input) pair, got {edge!r}")
                op, inp = edge
                _check_choice(op, NB201_OPS, epath, "operation")
                _check_int(inp, epath)
                if inp != i:
                    raise _err(epath, f"input {inp} should be node {i} (edges are listed by input, 0..{j - 1})")
                edges.append((op, inp))
            nodes.append(tuple(edges))
        _set(self, "nodes", tuple(nodes))

    @property
    def ops(self) -> tuple[str, ...]:
        """The operations of all edges, node by node (the benchmark's edge order)."""
        return tuple(op for node in self.nodes for op, _ in node)

    @classmethod
    def from_ops(cls, ops: Sequence[str]) -> NB201Genotype:
        """The cell whose edges, in the benchmark's order (:data:`NB201_EDGES`), run ``ops``."""
        if len(ops) != len(NB201_EDGES):
            raise _err("ops", f"expected {len(NB201_EDGES)} operations (one per edge), got {len(ops)}")
        it = iter(ops)  # node j's edges come from nodes 0..j-1, in order
        return cls(nodes=tuple(tuple((next(it), i) for i in range(j)) for j in range(1, NB201_NODES + 1)))


# --------------------------------------------------------------------------- #
# Macro skeletons with classic-family cells
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class VGGBlock:
    """One VGG layer: a ``k x k`` convolution (with bias), batch norm and ReLU."""

    channels: int
    kernel_size: int = 3

    family: ClassVar[str] = "vgg"

    def __post_init__(self) -> None:
        _check_int(self.channels, "channels", 1)
        _check_int(self.kernel_size, "kernel_size", 1)
        if self.kernel_size % 2 == 0:
            raise _err("kernel_size", f"expected an odd kernel size, got {self.kernel_size}")

    def out_channels(self, in_channels: int, depth: int) -> int:
        return self.channels


@dataclass(frozen=True)
class InceptionBlock:
    """An Inception (GoogLeNet v1) module: four parallel branches, concatenated.

    Branches: 1x1; 1x1 then 3x3; 1x1 then 5x5 (or two 3x3 when ``double_3x3``);
    3x3 max-pool then 1x1 projection.
    """

    b1: int
    b2_reduce: int
    b2: int
    b3_reduce: int
    b3: int
    pool_proj: int
    double_3x3: bool = False

    family: ClassVar[str] = "inception"

    def __post_init__(self) -> None:
        for name in ("b1", "b2_reduce", "b2", "b3_reduce", "b3", "pool_proj"):
            _check_int(getattr(self, name), name, 1)
        if not isinstance(self.double_3x3, bool):
            raise _err("double_3x3", f"expected true or false, got {self.double_3x3!r}")

    def out_channels(self, in_channels: int, depth: int) -> int:
        return self.b1 + self.b2 + self.b3 + self.pool_proj


@dataclass(frozen=True)
class ResNetBlock:
    """A residual block: basic (two 3x3) or bottleneck (1x1, 3x3, 1x1).

    ``width`` is the inner width of a bottleneck (0 means ``channels // 4``), ``groups``
    makes the 3x3 convolution grouped (ResNeXt), ``se_reduction > 0`` adds
    squeeze-and-excitation with that ratio, ``preact`` orders BN-ReLU before each
    convolution, and ``shortcut`` is a 1x1 projection (``conv``) or a parameter-free
    subsample-and-zero-pad (``pad``, He et al.'s option A for CIFAR) when shapes change.
    """

    channels: int
    kind: str = "basic"
    width: int = 0
    groups: int = 1
    se_reduction: int = 0
    preact: bool = False
    shortcut: str = "conv"

    family: ClassVar[str] = "resnet"
    KINDS: ClassVar[tuple[str, ...]] = ("basic", "bottleneck")
    SHORTCUTS: ClassVar[tuple[str, ...]] = ("conv", "pad")

    def __post_init__(self) -> None:
        _check_int(self.channels, "channels", 1)
        _check_choice(self.kind, self.KINDS, "kind", "block kind")
        _check_int(self.width, "width", 0)
        _check_int(self.groups, "groups", 1)
        _check_int(self.se_reduction, "se_reduction", 0)
        _check_choice(self.shortcut, self.SHORTCUTS, "shortcut", "shortcut")
        if not isinstance(self.preact, bool):
            raise _err("preact", f"expected true or false, got {self.preact!r}")
        inner = self.inner_width
        if inner < 1:
            raise _err("width", f"the inner width of {self.channels} channels is below 1")
        if inner % self.groups:
            raise _err("groups", f"inner width {inner} is not divisible by {self.groups} groups")
        if self.kind == "basic" and self.channels % self.groups:
            raise _err("groups", f"{self.channels} output channels are not divisible by {self.groups} groups")
        if self.se_reduction and self.channels // self.se_reduction < 1:
            raise _err("se_reduction", f"{self.channels} channels / {self.se_reduction} leaves no squeeze channel")

    @property
    def inner_width(self) -> int:
        """Channels of the 3x3 convolution(s)."""
        if self.kind == "basic":
            return self.width or self.channels
        return self.width or self.channels // 4

    def out_channels(self, in_channels: int, depth: int) -> int:
        return self.channels


@dataclass(frozen=True)
class DenseBlock:
    """A DenseNet layer (BN-ReLU-1x1-BN-ReLU-3x3) adding ``growth_rate`` channels.

    ``bottleneck`` is the 1x1 width as a multiple of the growth rate (4 in DenseNet-BC;
    0 for the plain DenseNet layer BN-ReLU-3x3). A stage of depth ``n`` is a dense
    block of ``n`` such layers.
    """

    growth_rate: int
    bottleneck: int = 4

    family: ClassVar[str] = "densenet"

    def __post_init__(self) -> None:
        _check_int(self.growth_rate, "growth_rate", 1)
        _check_int(self.bottleneck, "bottleneck", 0)

    def out_channels(self, in_channels: int, depth: int) -> int:
        return in_channels + depth * self.growth_rate


Block = Union[VGGBlock, InceptionBlock, ResNetBlock, DenseBlock]
BLOCK_TYPES: dict[str, type] = {b.family: b for b in (VGGBlock, InceptionBlock, ResNetBlock, DenseBlock)}
FAMILIES: tuple[str, ...] = tuple(BLOCK_TYPES)


@dataclass(frozen=True)
class Stem:
    """The first convolution. ``channels == 0`` means no stem (VGG starts with its cells)."""

    channels: int
    kernel_size: int = 3
    norm_act: bool = True

    def __post_init__(self) -> None:
        _check_int(self.channels, "channels", 0)
        _check_int(self.kernel_size, "kernel_size", 1)
        if self.kernel_size % 2 == 0:
            raise _err("kernel_size", f"expected an odd kernel size, got {self.kernel_size}")
        if not isinstance(self.norm_act, bool):
            raise _err("norm_act", f"expected true or false, got {self.norm_act!r}")


@dataclass(frozen=True)
class Stage:
    """``depth`` copies of ``block``; ``downsample`` halves the resolution on entry.

    ``stride`` makes the first block strided (ResNet, VGG); ``max_pool``/``avg_pool``
    pool 2x2; ``transition`` is DenseNet's BN-ReLU-1x1 conv (keeping
    ``floor(compression * C)`` channels) then 2x2 average pooling.
    """

    block: Block
    depth: int = 1
    downsample: str = "none"
    compression: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.block, tuple(BLOCK_TYPES.values())):
            raise _err("block", f"expected a block of family {', '.join(FAMILIES)}, got {self.block!r}")
        _check_int(self.depth, "depth", 1)
        _check_choice(self.downsample, DOWNSAMPLES, "downsample", "downsampling")
        if isinstance(self.compression, bool) or not isinstance(self.compression, (int, float)):
            raise _err("compression", f"expected a number in (0, 1], got {self.compression!r}")
        if not 0.0 < float(self.compression) <= 1.0:
            raise _err("compression", f"expected a number in (0, 1], got {self.compression}")
        _set(self, "compression", float(self.compression))
        if self.compression != 1.0 and self.downsample != "transition":
            raise _err("compression", "only a 'transition' downsampling compresses channels")
        if self.downsample == "stride" and self.block.family not in ("resnet", "vgg"):
            raise _err("downsample", f"'stride' needs a resnet or vgg block, not {self.block.family}")


@dataclass(frozen=True)
class Head:
    """Global pooling and the linear classifier.

    ``preact`` adds the final BN-ReLU that pre-activation networks (DenseNet,
    PreAct-ResNet) need before pooling.
    """

    pool: str = "avg"
    preact: bool = False
    dropout: float = 0.0

    POOLS: ClassVar[tuple[str, ...]] = ("avg", "max")

    def __post_init__(self) -> None:
        _check_choice(self.pool, self.POOLS, "pool", "pooling")
        if not isinstance(self.preact, bool):
            raise _err("preact", f"expected true or false, got {self.preact!r}")
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float)) or not 0 <= self.dropout < 1:
            raise _err("dropout", f"expected a probability in [0, 1), got {self.dropout!r}")
        _set(self, "dropout", float(self.dropout))


@dataclass(frozen=True)
class MacroGenotype(Genotype):
    """A macro skeleton: stem, stages of classic-family cells, head.

    ``input_size`` is the side of the square input the network is designed for;
    validation checks that the downsampling never takes it below 1x1 and that every
    width fits.
    """

    stem: Stem
    stages: tuple[Stage, ...]
    head: Head = field(default_factory=Head)
    input_size: int = 32
    in_channels: int = 3

    kind: ClassVar[str] = "macro"

    def __post_init__(self) -> None:
        if not isinstance(self.stem, Stem):
            raise _err("stem", f"expected a Stem, got {self.stem!r}")
        if not isinstance(self.head, Head):
            raise _err("head", f"expected a Head, got {self.head!r}")
        if isinstance(self.stages, (str, bytes)) or not isinstance(self.stages, (list, tuple)) or not self.stages:
            raise _err("stages", f"expected a non-empty list of stages, got {self.stages!r}")
        for i, stage in enumerate(self.stages):
            if not isinstance(stage, Stage):
                raise _err(f"stages[{i}]", f"expected a Stage, got {stage!r}")
        _set(self, "stages", tuple(self.stages))
        _check_int(self.input_size, "input_size", 1)
        _check_int(self.in_channels, "in_channels", 1)
        self.feature_shapes()  # validates resolution and widths

    @property
    def family(self) -> str:
        """The single family of all stages, or ``hybrid`` when they differ."""
        families = {stage.block.family for stage in self.stages}
        return families.pop() if len(families) == 1 else "hybrid"

    def feature_shapes(self) -> list[tuple[int, int]]:
        """``(channels, side)`` after every stage, checking that widths and sizes fit."""
        channels = self.stem.channels or self.in_channels
        side = self.input_size
        shapes = []
        for i, stage in enumerate(self.stages):
            path = f"stages[{i}]"
            if stage.downsample != "none":
                if side < 2:
                    raise _err(
                        f"{path}.downsample",
                        f"'{stage.downsample}' would take the {side}x{side} feature map below 1x1 "
                        f"(input {self.input_size}x{self.input_size})",
                    )
                side = (side + 1) // 2 if stage.downsample == "stride" else side // 2
            if stage.downsample == "transition":
                channels = math.floor(stage.compression * channels)
                if channels < 1:
                    raise _err(f"{path}.compression", f"{stage.compression} leaves no channel")
            block = stage.block
            if isinstance(block, ResNetBlock) and block.shortcut == "pad" and block.channels < channels:
                raise _err(
                    f"{path}.block.shortcut",
                    f"'pad' cannot shrink {channels} channels to {block.channels}; use 'conv'",
                )
            channels = block.out_channels(channels, stage.depth)
            shapes.append((channels, side))
        return shapes

    @property
    def out_channels(self) -> int:
        return self.feature_shapes()[-1][0]


GENOTYPE_KINDS: dict[str, type] = {g.kind: g for g in (DartsGenotype, NB201Genotype, MacroGenotype)}
