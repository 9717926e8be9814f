"""Zero-Cost-PT (Xiang et al., AAAI 2023): perturbation-based selection scored by a zero-cost proxy.

As the authors' code (``zerocost_operation_score``: ``init_projection.py``,
``networks_proposal.py``, ``post_validate.py``) does it, with ``nwot`` (NASWOT, their
``jacob``):

1. An *untrained* supernet of plain modules (NB201: C=16, 5 cells per stage; DARTS: C=16,
   8 cells), in eval mode with untouched batch-norm statistics, alphas ``1e-3 * randn``.
2. Edge by edge in random order, one fresh training minibatch per edge: for every operation
   of the edge, the NASWOT score of the supernet with that operation removed (its weight set
   to 0, the others not renormalised; decided edges one-hot, undecided ones ``softmax(alpha)``);
   the edge keeps the operation whose removal lowers the score most (``nanargmin``). In the
   DARTS space a topology stage follows: for each node with more than two inputs (random
   order) the input edge whose removal *raises* the score most is dropped until two remain.
3. Steps 1-2 run ``pool_size`` times (new alphas, same weights); each distinct cell is then
   built as a stand-alone network (fresh initialisation, eval mode) and scored by NASWOT summed
   over one pass of the first ``validate_rounds x batch_size`` training images (every cell the
   same images, reshuffled and re-augmented: their ``SubsetRandomSampler(indices[:split])``);
   the best is the result. ``validation_batches: stream`` (each cell the next batches of the
   running stream, different images) is what this file did before 2026-12-05, a named option.
   ``validation_score`` names the pool's final score: ``nwot`` (the authors'), ``synflow``
   (the stand-alone network's, :mod:`nas.proxies.synflow`) or ``nwot+synflow`` (the mean of
   the two ranks over the pool, :func:`nas.proxies.combine.rank_average`): a deviation that
   only changes which pool cell is returned, tuned on validation accuracy
   (``benchmarks/results/tune_zero-cost-pt_cpu_size_selection_validation_score.md``).

NASWOT as their ``Jocab_Score`` computes it: hooks on every module whose type name contains
"ReLU", so a ReLU-conv-BN operation's codes count twice (the module and its ReLU):
``nwot_hooks: relu_in_type_name``. ``relu_units`` (one code per ReLU unit, the NASWOT paper's
definition and this toolkit's ``naswot`` proxy) is the named deviation.

In NAS-Bench-201 a removed operation runs on a zero input (the authors' cell; its ReLU codes
count), in the DARTS space it is skipped, as in their two code bases. The supernet trained
by the search (if any) is not used: the method needs none (``epochs: 0``). Deviations are
named options: ``nwot_hooks``, ``pool_size``, ``validate_rounds``, the supernet size and the batch size
(the search config's ``batch_size``: 256 in the authors' NB201 script, 64 in the DARTS one).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import Any, Literal

import torch

from nas.config_io import PosInt
from nas.darts.derive import num_darts_edges
from nas.darts.methods.base import CellArch
from nas.darts.selection.base import Selection, SelectionConfig, SelectionContext
from nas.darts.single_path import DartsSinglePath, NB201SinglePath
from nas.genotypes.codec import to_text
from nas.genotypes.types import DartsGenotype, Genotype, NB201Genotype
from nas.networks import build
from nas.proxies.api import score
from nas.proxies.combine import rank_average
from nas.proxies.context import Batch
from nas.proxies.naswot import ReluKernel, relu_code_kernel

__all__ = ["ZeroCostPT", "ZeroCostPTConfig"]


class ZeroCostPTConfig(SelectionConfig):
    """The authors' NB201 pipeline settings by default (pool 10, 100 validation rounds, C=16)."""

    name: Literal["zero_cost_pt"] = "zero_cost_pt"
    proxy: Literal["naswot"] = "naswot"
    #: Which ReLU codes the kernel counts: the authors' module hooks, or one code per ReLU unit.
    nwot_hooks: Literal["relu_in_type_name", "relu_units"] = "relu_in_type_name"
    #: Post-validation images: the same first validate_rounds x batch_size for every cell, or the running stream.
    validation_batches: Literal["first_images", "stream"] = "first_images"
    #: The pool's final score of each stand-alone cell: the authors' NWOT, synflow, or their mean rank.
    validation_score: Literal["nwot", "synflow", "nwot+synflow"] = "nwot"
    pool_size: PosInt = 10
    validate_rounds: PosInt = 100
    channels: PosInt = 16
    cells_per_stage: PosInt = 5  # NB201 supernet and validation networks
    layers: PosInt = 8  # DARTS-space supernet and validation networks


def _nwot(net: Any, x: torch.Tensor, forward: Any, relu_named: bool) -> float:
    with torch.no_grad(), ReluKernel(net, len(x), x.device, relu_named_modules=relu_named) as probe:
        forward(x)
    value = float(torch.linalg.slogdet(probe.K).logabsdet)
    return value if math.isfinite(value) else math.nan


def _batches(loader: Any, device: torch.device) -> Iterator[torch.Tensor]:
    """Training minibatches forever (augmented, a new order each pass), on ``device``."""
    epoch = 0
    while True:
        loader.set_epoch(10_000 + epoch)
        for x, _y in loader:
            yield x.to(device)
        epoch += 1


def _one_pass(loader: Any, epoch: int, device: torch.device) -> Iterator[torch.Tensor]:
    """One epoch of ``loader`` (its own shuffle and augmentation for ``epoch``), on ``device``."""
    loader.set_epoch(epoch)
    for x, _y in loader:
        yield x.to(device)


def _argmin(scores: list[float]) -> int:
    """``nanargmin`` with the first minimum on ties (numpy's rule); all-NaN picks index 0."""
    best = None
    for i, v in enumerate(scores):
        if not math.isnan(v) and (best is None or v < scores[best]):
            best = i
    return 0 if best is None else best


class ZeroCostPT(Selection):
    name = "zero_cost_pt"
    Config = ZeroCostPTConfig
    description = "Zero-Cost-PT: edge-by-edge operation removal scored by NASWOT on an untrained supernet"
    trained_supernet = "unused"

    def select(self, ctx: SelectionContext) -> Genotype:
        cfg: ZeroCostPTConfig = self.config  # type: ignore[assignment]
        search = ctx.search
        gen = torch.Generator().manual_seed(search.seed * 7919 + 17)
        torch.manual_seed(search.seed)
        net = self._supernet(search, ctx)
        data = _batches(ctx.train_loader, ctx.device)
        t0 = time.perf_counter()
        pool: list[Genotype] = []
        for _ in range(cfg.pool_size):
            with torch.no_grad():
                for a in net.cell_alphas().values():
                    a.copy_(1e-3 * torch.randn(a.shape, generator=gen))
            pool.append(self._discretise(net, data, gen))
        unique = list(dict.fromkeys(pool))
        columns = {}
        for name in cfg.validation_score.split("+"):
            if name == "nwot":
                passes = self._validation_data(ctx, data, len(unique))
                columns[name] = [self._validate(g, ctx, p) for g, p in zip(unique, passes, strict=True)]
            else:
                columns[name] = [self._synflow(g, ctx) for g in unique]
        final = columns[cfg.validation_score] if len(columns) == 1 else list(rank_average(columns))
        best = max(range(len(unique)), key=lambda i: final[i] if not math.isnan(final[i]) else -math.inf)
        self.record = {
            "pool": [to_text(g) for g in pool],
            "distinct": len(unique),
            **{f"validation_{name}": values for name, values in columns.items()},
            "selection_s": round(time.perf_counter() - t0, 3),
        }
        ctx.echo(f"zero-cost-pt: {len(unique)} distinct cells of {cfg.pool_size}, chosen by {cfg.validation_score}")
        return unique[best]

    def _supernet(self, search: Any, ctx: SelectionContext) -> NB201SinglePath | DartsSinglePath:
        cfg: ZeroCostPTConfig = self.config  # type: ignore[assignment]
        classes = ctx.supernet.classifier.out_features
        if search.space == "nb201":
            net: Any = NB201SinglePath(cfg.channels, cfg.cells_per_stage, classes, running_stats=True)
        else:
            net = DartsSinglePath(
                cfg.channels, cfg.layers, classes, search.supernet.steps, search.supernet.multiplier, running_stats=True
            )
        return net.to(ctx.device).eval()

    # -- one discretisation ---------------------------------------------------------

    def _arch(self, net: Any, weights: dict[str, torch.Tensor], nb201: bool) -> dict[str, CellArch]:
        out = {}
        for ct, w in weights.items():
            k = w.shape[1]
            active = [tuple(range(k)) if nb201 else tuple(i for i in range(k) if w[e, i] != 0) for e in range(len(w))]
            out[ct] = CellArch(w, None, active)
        return out

    def _score(self, net: Any, x: torch.Tensor, weights: dict[str, torch.Tensor], nb201: bool) -> float:
        arch = self._arch(net, weights, nb201)
        relu_named = self.config.nwot_hooks == "relu_in_type_name"  # type: ignore[attr-defined]
        return _nwot(net, x, lambda images: net.forward_arch(images, arch), relu_named)

    def _discretise(self, net: Any, data: Iterator[torch.Tensor], gen: torch.Generator) -> Genotype:
        nb201 = isinstance(net, NB201SinglePath)
        with torch.no_grad():
            weights = {ct: torch.softmax(a, dim=-1).clone() for ct, a in net.cell_alphas().items()}
        cell_types = list(weights)
        num_edges = len(weights[cell_types[0]])
        undecided = {ct: list(range(num_edges)) for ct in cell_types}
        for _ in range(num_edges):
            x = next(data)
            for ct in cell_types:
                e = undecided[ct].pop(int(torch.randint(len(undecided[ct]), (1,), generator=gen)))
                scores = []
                for o in range(weights[ct].shape[1]):
                    trial = {k: v.clone() for k, v in weights.items()}
                    trial[ct][e, o] = 0.0
                    scores.append(self._score(net, x, trial, nb201))
                keep = _argmin(scores)
                weights[ct][e] = 0.0
                weights[ct][e, keep] = 1.0
        if nb201:
            return NB201Genotype.from_ops([net.ops[int(k)] for k in weights["cell"].argmax(dim=1)])
        return self._topology(net, weights, data, gen)

    def _topology(
        self, net: Any, weights: dict[str, torch.Tensor], data: Iterator[torch.Tensor], gen: torch.Generator
    ) -> DartsGenotype:
        """DARTS space: keep two input edges per node, dropping the least useful one at a time."""
        steps = net.steps
        starts = [num_darts_edges(i) for i in range(steps)]
        nodes = {ct: [i for i in range(steps) if i + 2 > 2] for ct in weights}
        for _ in range(steps - 1):
            x = next(data)
            for ct in weights:
                i = nodes[ct].pop(int(torch.randint(len(nodes[ct]), (1,), generator=gen)))
                edges = list(range(starts[i], starts[i] + i + 2))
                while len(edges) > 2:
                    scores = []
                    for e in edges:
                        trial = {k: v.clone() for k, v in weights.items()}
                        trial[ct][e] = 0.0
                        scores.append(self._score(net, x, trial, False))
                    drop = max(range(len(edges)), key=lambda j: scores[j] if not math.isnan(scores[j]) else -math.inf)
                    weights[ct][edges.pop(drop)] = 0.0
        cells = {}
        for ct in ("normal", "reduce"):
            w = weights[ct]
            edges_out = []
            for i in range(steps):
                kept = [e for e in range(starts[i], starts[i] + i + 2) if w[e].sum() > 0]
                for e in kept[:2]:
                    op = net.ops[int(w[e].argmax())]
                    if op == "none":  # the authors' parser would print the first other primitive; be explicit
                        op = next(o for o in net.ops if o != "none")
                    edges_out.append((op, e - starts[i]))
            cells[ct] = edges_out
        concat = list(range(2 + steps - net.multiplier, steps + 2))
        return DartsGenotype(normal=cells["normal"], normal_concat=concat, reduce=cells["reduce"], reduce_concat=concat)

    # -- the pool's final choice ------------------------------------------------------

    def _validation_data(self, ctx: SelectionContext, stream: Iterator[torch.Tensor], n: int) -> list[Any]:
        """Each cell's validation batches: one pass over the same first images, or the running stream."""
        cfg: ZeroCostPTConfig = self.config  # type: ignore[assignment]
        if cfg.validation_batches == "stream":
            return [stream] * n
        loader = ctx.train_loader
        first = loader.head(min(cfg.validate_rounds * loader.batch_size, loader.num_samples))
        return [_one_pass(first, 20_000 + i, ctx.device) for i in range(n)]

    def _network(self, genotype: Genotype, ctx: SelectionContext) -> torch.nn.Module:
        """The cell's stand-alone network at the selection's size, freshly initialised, in eval mode."""
        cfg: ZeroCostPTConfig = self.config  # type: ignore[assignment]
        classes = ctx.supernet.classifier.out_features
        if isinstance(genotype, NB201Genotype):
            model = build(genotype, classes, channels=cfg.channels, cells_per_stage=cfg.cells_per_stage)
        else:
            model = build(genotype, classes, channels=cfg.channels, layers=cfg.layers)
        return model.to(ctx.device).eval()

    def _synflow(self, genotype: Genotype, ctx: SelectionContext) -> float:
        """Synflow of the stand-alone network (data-free; the batch gives the input shape)."""
        model = self._network(genotype, ctx)
        images = torch.zeros((2, *ctx.train_loader.images.shape[1:]), device=ctx.device)
        return score(model, "synflow", Batch(images, torch.zeros(2, dtype=torch.long, device=ctx.device)))["synflow"]

    def _validate(self, genotype: Genotype, ctx: SelectionContext, data: Iterator[torch.Tensor]) -> float:
        cfg: ZeroCostPTConfig = self.config  # type: ignore[assignment]
        model = self._network(genotype, ctx)
        total = 0.0
        for _, x in zip(range(cfg.validate_rounds), data, strict=False):  # a finite pass may hold fewer
            K = relu_code_kernel(model, x, relu_named_modules=cfg.nwot_hooks == "relu_in_type_name")
            total += float(torch.linalg.slogdet(K).logabsdet)
        return total if math.isfinite(total) else math.nan
