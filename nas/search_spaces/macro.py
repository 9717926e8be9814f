"""Macro skeletons for CIFAR-10: the machinery shared by the vgg, inception, resnet, densenet and hybrid spaces.

Every macro space is the same three-stage skeleton; only the families a stage may
use differ. A *family* (:class:`StageFamily`) says which per-stage decisions it has
and how they become a :class:`~nas.genotypes.types.Stage`. The single-family spaces (vgg,
inception, resnet, densenet) allow one family; the hybrid space lets each stage
first choose its family and then that family's parameters. Keeping one
implementation means the hybrid space contains every single-family space exactly:
a ResNet-20 genotype is a point of both ``resnet`` and ``hybrid``.

Why three stages at 32x32, 16x16 and 8x8: CIFAR images are 32x32, and the
hand-designed CIFAR networks that the families come from (He et al.'s CIFAR
ResNets, Huang et al.'s DenseNets, GoogLeNet's CIFAR layout) use exactly three
resolutions, halving twice and pooling an 8x8 map globally. Another halving would
leave 4x4 maps where a 3x3 convolution sees mostly padding, and it would
concentrate parameters in the last stage; fewer halvings make every layer 4-16x
more expensive on a CPU. Fixing the layout keeps the search on what the families
differ in: depth, width and the cell.

Shared rules (the same in every macro space, so the spaces nest):

* stage 0 keeps the resolution; stages 1 and 2 halve it on entry the way the
  family does it (``stride`` for ResNet, ``max_pool`` for VGG and Inception,
  DenseNet's ``transition``);
* stage 0's family also picks the stem (its paper's first layer), and the head
  gets DenseNet's final BN-ReLU exactly when the last stage is a DenseNet stage;
* widths are given for stage 0 and double at every later stage.

Decision vectors and genotypes: in the hybrid space the decisions of families a
stage did not choose are ignored by :meth:`MacroSpace.from_decisions`, and
:meth:`MacroSpace.to_decisions` sets them to 0 (the *canonical* vector). The
mapping is therefore many-to-one, :meth:`~nas.search_spaces.base.SearchSpace.size`
counts decision vectors, and :meth:`MacroSpace.distinct_size` counts distinct
genotypes exactly. The ResNet family has ignored decisions too (``groups`` of a
basic block; ``shortcut=pad`` where a stage narrows, see :mod:`nas.search_spaces.resnet`).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import random
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Hashable, Sequence
from typing import Any, ClassVar, TypeVar

from nas.errors import NasError
from nas.genotypes.types import Genotype, Head, MacroGenotype, Stage, Stem
from nas.search_spaces.base import Decision, SearchSpace

#: The skeleton every macro space shares: three stages, CIFAR-sized RGB input.
NUM_STAGES = 3
INPUT_SIZE = 32
IN_CHANNELS = 3


Block = TypeVar("Block")


def block_of(stage: Stage, kind: type[Block], path: str) -> Block:
    """``stage.block`` as the block type a family reads (another family's block names its field)."""
    if not isinstance(stage.block, kind):
        raise NasError(f"{path}.block: expected a {kind.__name__}, got {type(stage.block).__name__}")
    return stage.block


def menu_index(menu: Sequence[Any], value: Any, path: str) -> int:
    """Index of ``value`` in a decision's menu; a value off the menu names its field."""
    for i, choice in enumerate(menu):
        if type(choice) is type(value) and choice == value:
            return i
    raise NasError(f"{path}: {value!r} is not in this space (choices: {', '.join(map(repr, menu))})")


def scaled(widths: Sequence[int], stage: int) -> tuple[int, ...]:
    """Stage-0 widths doubled once per later stage (the CIFAR networks' rule)."""
    return tuple(w << stage for w in widths)


def stage_out_channels(stage: Stage, in_channels: int) -> int:
    """Channels leaving ``stage`` (the rule of :meth:`MacroGenotype.feature_shapes`)."""
    if stage.downsample == "transition":
        in_channels = math.floor(stage.compression * in_channels)
    return stage.block.out_channels(in_channels, stage.depth)


def entry_downsample(stage: int, family_downsample: str) -> str:
    """Stage 0 keeps 32x32; later stages halve the resolution the family's way."""
    return "none" if stage == 0 else family_downsample


class StageFamily(ABC):
    """How one classic family fills a stage: its decisions and their meaning.

    Families are frozen dataclasses whose fields are the menus, so a user (or a
    test) can build a narrower or wider space without new code.
    """

    #: The genotype family name (``Stage.block.family``).
    name: ClassVar[str] = ""
    #: Whether the head needs a final BN-ReLU when this family ends the network.
    preact_head: ClassVar[bool] = False

    @abstractmethod
    def decisions(self, stage: int) -> list[Decision]:
        """The decisions of stage ``stage`` (names without the stage prefix)."""

    @abstractmethod
    def make_stage(self, values: Sequence[int], stage: int, in_channels: int) -> Stage:
        """The stage of a vector of choice indices, entered with ``in_channels`` channels."""

    @abstractmethod
    def stage_values(self, stage: Stage, index: int, path: str) -> list[int]:
        """Choice indices reading ``stage``; a value off a menu raises NasError naming ``path``.

        Fields a decision does not set are not checked here: the space rebuilds the
        genotype from the indices and names the first field that differs.
        """

    @abstractmethod
    def stem(self, values: Sequence[int]) -> Stem:
        """The stem of a network whose first stage is this family's (stage-0 values)."""

    def channel_key(self, stage: int, in_channels: int) -> Hashable:
        """What :meth:`make_stage` reads of ``in_channels``, for :meth:`MacroSpace.distinct_size`.

        Promise: for two channel counts with equal keys, ``make_stage(v, stage, c)`` is
        the same stage for every vector ``v`` (its output channels may still differ).
        The default, the count itself, is always right; a family whose stages ignore
        their input width returns a constant, so the count builds its stages once per stage.
        """
        return in_channels


def _first_difference(expected: Any, got: Any, path: str) -> tuple[str, Any, Any] | None:
    """The first field (as a path) where two genotype parts differ, for error messages."""
    if dataclasses.is_dataclass(expected) and not isinstance(expected, type):
        if type(expected) is not type(got):
            return path, type(expected).__name__, type(got).__name__
        for f in dataclasses.fields(expected):
            sub = f"{path}.{f.name}" if path else f.name
            found = _first_difference(getattr(expected, f.name), getattr(got, f.name), sub)
            if found:
                return found
        return None
    if isinstance(expected, tuple) and isinstance(got, tuple):
        if len(expected) != len(got):
            return path, f"{len(expected)} entries", f"{len(got)} entries"
        for i, (e, g) in enumerate(zip(expected, got)):
            found = _first_difference(e, g, f"{path}[{i}]")
            if found:
                return found
        return None
    return None if expected == got else (path, expected, got)


class MacroSpace(SearchSpace):
    """The three-stage CIFAR skeleton whose stages may use the given families.

    With one family the stage decisions are named ``stage0.depth``; with several,
    each stage starts with ``stageK.family`` and the family's decisions are named
    ``stageK.<family>.<decision>``.
    """

    def __init__(self, families: Sequence[StageFamily]) -> None:
        if not families:
            raise ValueError("a macro space needs at least one family")
        names = [f.name for f in families]
        if len(set(names)) != len(names):
            raise ValueError(f"families are repeated: {names}")
        self.families: tuple[StageFamily, ...] = tuple(families)
        self._by_name = {f.name: i for i, f in enumerate(self.families)}
        multi = len(self.families) > 1
        decisions: list[Decision] = []
        # Per stage: position of the family decision (or None) and each family's slice.
        self._family_pos: list[int | None] = []
        self._slices: list[list[tuple[int, int]]] = []
        for s in range(NUM_STAGES):
            if multi:
                self._family_pos.append(len(decisions))
                decisions.append(Decision(f"stage{s}.family", tuple(names)))
            else:
                self._family_pos.append(None)
            slices = []
            for fam in self.families:
                prefix = f"stage{s}.{fam.name}." if multi else f"stage{s}."
                start = len(decisions)
                decisions.extend(Decision(prefix + d.name, d.choices) for d in fam.decisions(s))
                slices.append((start, len(decisions)))
            self._slices.append(slices)
        self._decisions = decisions
        self._distinct: int | None = None

    # -- the interface --------------------------------------------------------

    def decisions(self) -> list[Decision]:
        return list(self._decisions)

    def from_decisions(self, values: Sequence[int]) -> MacroGenotype:
        v = self.check_decisions(values)
        chosen = []
        for s in range(NUM_STAGES):
            pos = self._family_pos[s]
            fi = 0 if pos is None else v[pos]
            start, end = self._slices[s][fi]
            chosen.append((self.families[fi], v[start:end]))
        stem = chosen[0][0].stem(chosen[0][1])
        channels = stem.channels or IN_CHANNELS
        stages = []
        for s, (fam, sub) in enumerate(chosen):
            stage = fam.make_stage(sub, s, channels)
            channels = stage_out_channels(stage, channels)
            stages.append(stage)
        head = Head(preact=chosen[-1][0].preact_head)
        return MacroGenotype(stem=stem, stages=tuple(stages), head=head, input_size=INPUT_SIZE, in_channels=IN_CHANNELS)

    def to_decisions(self, genotype: Genotype) -> list[int]:
        where = f"{self.name} space"
        if not isinstance(genotype, MacroGenotype):
            got = getattr(genotype, "kind", type(genotype).__name__)
            raise NasError(f"{where}: expected a macro genotype, got {got!r}")
        g = genotype
        if g.input_size != INPUT_SIZE or g.in_channels != IN_CHANNELS:
            raise NasError(
                f"{where}: input_size/in_channels: expected {INPUT_SIZE}/{IN_CHANNELS} (CIFAR), "
                f"got {g.input_size}/{g.in_channels}"
            )
        if len(g.stages) != NUM_STAGES:
            raise NasError(f"{where}: stages: expected {NUM_STAGES} stages, got {len(g.stages)}")
        values = [0] * len(self._decisions)
        for s, stage in enumerate(g.stages):
            family = stage.block.family
            if family not in self._by_name:
                known = ", ".join(self._by_name)
                raise NasError(f"{where}: stages[{s}].block: family {family!r} is not in this space (known: {known})")
            fi = self._by_name[family]
            pos = self._family_pos[s]
            if pos is not None:
                values[pos] = fi
            start, end = self._slices[s][fi]
            try:
                values[start:end] = self.families[fi].stage_values(stage, s, f"stages[{s}]")
            except NasError as exc:
                raise NasError(f"{where}: {exc}") from None
        rebuilt = self.from_decisions(values)
        if rebuilt != g:
            path, expected, got = _first_difference(rebuilt, g, "") or ("genotype", rebuilt, g)
            raise NasError(f"{where}: {path}: expected {expected!r} here, got {got!r}")
        return values

    def mutate(self, genotype: Genotype, rng: random.Random) -> MacroGenotype:
        """Change one decision so that the genotype changes.

        The base version may pick an ignored decision (another family's, or a basic
        block's ``groups``) and return the same genotype; here decisions are tried
        in random order and the first change that alters the genotype wins, which is
        a uniform pick among the decisions that matter.
        """
        values = self.to_decisions(genotype)
        order = list(range(len(self._decisions)))
        rng.shuffle(order)
        for i in order:
            alternatives = [c for c in range(len(self._decisions[i].choices)) if c != values[i]]
            rng.shuffle(alternatives)
            for c in alternatives:
                trial = list(values)
                trial[i] = c
                mutant = self.from_decisions(trial)
                if mutant != genotype:
                    return mutant
        raise NasError(f"{self.name} space: no decision changes this genotype (the space has one point)")

    # -- extras ---------------------------------------------------------------

    def canonical(self, values: Sequence[int]) -> list[int]:
        """The canonical vector of the genotype ``values`` encodes (ignored decisions set to 0)."""
        return self.to_decisions(self.from_decisions(values))

    def distinct_size(self) -> int:
        """Exact number of distinct genotypes (``size()`` counts decision vectors).

        Stages interact only through the channels one stage hands the next (and the
        stem through stage 0), so this counts distinct stage-prefixes per channel
        count, one stage at a time, instead of enumerating whole vectors (about a
        second for the hybrid space). Stages entered with channel counts that have the
        same :meth:`StageFamily.channel_key` are built once (0.75 s -> 0.03 s for the
        hybrid space, the cost of ``nas spaces``); the result is cached.
        """
        if self._distinct is None:
            self._distinct = self._count_distinct()
        return self._distinct

    def _count_distinct(self) -> int:
        prefixes: Counter[int] = Counter()
        for fam in self.families:
            seen: dict[tuple[Stem, Stage], int] = {}
            for sub in _vectors(fam.decisions(0)):
                stem = fam.stem(sub)
                channels = stem.channels or IN_CHANNELS
                stage = fam.make_stage(sub, 0, channels)
                seen[(stem, stage)] = stage_out_channels(stage, channels)
            prefixes.update(seen.values())
        for s in range(1, NUM_STAGES):
            grown: Counter[int] = Counter()
            distinct: dict[tuple[int, Hashable], list[Stage]] = {}  # (family, channel key) -> its distinct stages
            for channels, count in prefixes.items():
                for fi, fam in enumerate(self.families):
                    key = (fi, fam.channel_key(s, channels))
                    if key not in distinct:
                        built = (fam.make_stage(sub, s, channels) for sub in _vectors(fam.decisions(s)))
                        distinct[key] = list(dict.fromkeys(built))
                    for stage in distinct[key]:
                        grown[stage_out_channels(stage, channels)] += count
            prefixes = grown
        return sum(prefixes.values())


def _vectors(decisions: Sequence[Decision]) -> itertools.product:
    return itertools.product(*(range(len(d.choices)) for d in decisions))
