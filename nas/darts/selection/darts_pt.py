"""DARTS-PT (Wang et al., ICLR 2021): perturbation-based architecture selection on a trained supernet.

As the authors' code (``ruocwang/darts-pt``, ``nasbench201/projection.py`` and
``sota/cnn/projection.py``) does it: after the supernet's training, edges are decided one at
a time in random order; for every operation of the edge the supernet's accuracy on the whole
validation half is measured with that operation removed (weight 0, no renormalisation,
batch-norm in training mode, no gradient), and the edge keeps the operation whose removal
hurts most (``argmin`` accuracy, first on ties); a decided edge is one-hot in every later
forward. Between decisions the supernet is tuned for ``tune_epochs`` epochs of the same
alternating updates with the weights' learning rate divided by 10 (constant in NB201,
cosine to ``lr_min`` in the DARTS space), the architecture still learning unless the method
has none to learn. In the DARTS space a topology stage follows: for each node with more than
two inputs, the input edge whose removal leaves the *highest* accuracy is dropped until two
remain. "DARTS-PT (fix α)" is this selection after ``guards.warmup_epochs`` covering the
whole search (the alphas never move); ``fix_alpha: true`` also freezes them while tuning.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from nas.config_io import NonNegInt
from nas.darts.derive import num_darts_edges
from nas.darts.methods.base import CellArch
from nas.darts.selection.base import Selection, SelectionConfig, SelectionContext
from nas.genotypes.types import DartsGenotype, Genotype, NB201Genotype
from nas.training.loop import lr_at

__all__ = ["DartsPT", "DartsPTConfig"]


class DartsPTConfig(SelectionConfig):
    """``tune_epochs``: tuning between two decisions (the authors' ``proj_intv`` 5)."""

    name: Literal["darts_pt"] = "darts_pt"
    tune_epochs: NonNegInt = 5
    fix_alpha: bool = False


class DartsPT(Selection):
    name = "darts_pt"
    Config = DartsPTConfig
    description = "DARTS-PT: keep the operation whose removal hurts the supernet's validation accuracy most"
    needs_mixed = True
    trained_supernet = "optional"  # it tunes between decisions

    def select(self, ctx: SelectionContext) -> Genotype:
        cfg: DartsPTConfig = self.config  # type: ignore[assignment]
        method, net = ctx.method, ctx.supernet
        gen = torch.Generator().manual_seed(ctx.search.seed * 7919 + 23)
        inner = method.sample
        self.decided: dict[str, dict[int, int]] = {ct: {} for ct in net.cell_alphas()}
        self.removed: dict[str, set[int]] = {ct: set() for ct in net.cell_alphas()}
        net.set_sampler(lambda training: self._project(inner(training)))
        t0 = time.perf_counter()
        rounds = 0
        num_edges = len(next(iter(net.cell_alphas().values())))
        tune_total = cfg.tune_epochs * (
            num_edges + (ctx.search.supernet.steps - 1 if ctx.search.space == "darts" else 0)
        )
        epoch = 0
        try:
            undecided = {ct: list(range(num_edges)) for ct in self.decided}
            for _ in range(num_edges):
                for ct in self.decided:
                    e = undecided[ct].pop(int(torch.randint(len(undecided[ct]), (1,), generator=gen)))
                    accs = [self._accuracy(ctx, inner, {ct: (e, o)}) for o in range(len(net.ops))]
                    self.decided[ct][e] = min(range(len(accs)), key=lambda o: accs[o])
                rounds += 1
                epoch = self._tune(ctx, epoch, tune_total)
            if ctx.search.space == "darts":
                self._topology(ctx, inner, gen, epoch, tune_total)
            genotype = self._genotype(net)
        finally:
            net.set_sampler(inner)
        self.record = {"decisions": rounds, "tune_epochs": epoch, "selection_s": round(time.perf_counter() - t0, 3)}
        return genotype

    # -- weights ----------------------------------------------------------------------

    def _project(
        self, arch: Mapping[str, CellArch], remove: Mapping[str, tuple[int, int | None]] | None = None
    ) -> dict[str, CellArch]:
        out = {}
        for ct, a in arch.items():
            w = a.weights.clone()
            for e, o in self.decided[ct].items():
                w[e] = 0.0
                w[e, o] = 1.0
            for e in self.removed[ct]:
                w[e] = 0.0
            if remove and ct in remove:
                e, o = remove[ct]
                if o is None:
                    w[e] = 0.0
                else:
                    w[e, o] = 0.0
            out[ct] = CellArch(w, a.edge_weights, a.active)
        return out

    def _accuracy(self, ctx: SelectionContext, inner: Any, remove: Mapping[str, tuple[int, int | None]]) -> float:
        """Supernet top-1 (%) on the whole validation half with ``remove`` applied (train-mode BN, no grad)."""
        net = ctx.supernet
        net.set_sampler(lambda training: self._project(inner(training), remove))
        net.train()
        correct = total = 0
        with torch.no_grad():
            ctx.eval_loader.set_epoch(0)
            for x, y in ctx.eval_loader:
                correct += int((net(x).argmax(1) == y).sum())
                total += y.numel()
        net.set_sampler(lambda training: self._project(inner(training)))
        return 100.0 * correct / max(total, 1)

    # -- tuning between decisions -----------------------------------------------------

    def _tune(self, ctx: SelectionContext, epoch: int, total: int) -> int:
        cfg: DartsPTConfig = self.config  # type: ignore[assignment]
        search, net, method = ctx.search, ctx.supernet, ctx.method
        if cfg.tune_epochs == 0:
            return epoch
        opt = search.optimizer
        lr0 = opt.lr / 10
        weights = list(net.weight_parameters())
        sgd = torch.optim.SGD(weights, lr=lr0, momentum=opt.momentum, weight_decay=opt.weight_decay)
        learn_arch = method.trains_arch and not cfg.fix_alpha
        for _ in range(cfg.tune_epochs):
            lr = lr0
            if search.space == "darts":  # cosine to lr_min over all tuning epochs (sota/cnn/projection.py)
                lr = lr_at(epoch, total, 0, lr0, opt.lr_min)
            for group in sgd.param_groups:
                group["lr"] = lr
            ctx.train_loader.set_epoch(1_000 + epoch)
            ctx.arch_loader.set_epoch(1_000 + epoch)
            for (x, y), (vx, vy) in zip(ctx.train_loader, ctx.arch_loader):
                if learn_arch:
                    method.arch_step((x, y), (vx, vy), w_lr=lr, w_optimizer=sgd)
                sgd.zero_grad(set_to_none=True)
                loss = F.cross_entropy(net(x), y)
                loss.backward()
                if opt.grad_clip > 0:
                    nn.utils.clip_grad_norm_(weights, opt.grad_clip)
                sgd.step()
            epoch += 1
        return epoch

    # -- DARTS-space topology ---------------------------------------------------------

    def _topology(self, ctx: SelectionContext, inner: Any, gen: torch.Generator, epoch: int, total: int) -> None:
        steps = ctx.search.supernet.steps
        starts = [num_darts_edges(i) for i in range(steps)]
        nodes = {ct: list(range(1, steps)) for ct in self.decided}
        for _ in range(steps - 1):
            for ct in self.decided:
                i = nodes[ct].pop(int(torch.randint(len(nodes[ct]), (1,), generator=gen)))
                edges = list(range(starts[i], starts[i] + i + 2))
                while len(edges) > 2:
                    accs = [self._accuracy(ctx, inner, {ct: (e, None)}) for e in edges]
                    top = max(accs)
                    drop = max(j for j, a in enumerate(accs) if a == top)  # the authors' >=: the last maximum
                    self.removed[ct].add(edges.pop(drop))
            epoch = self._tune(ctx, epoch, total)

    def _genotype(self, net: Any) -> Genotype:
        ops = net.ops
        if "cell" in self.decided:
            return NB201Genotype.from_ops([ops[self.decided["cell"][e]] for e in range(len(self.decided["cell"]))])
        steps = net.steps
        cells = {}
        for ct in ("normal", "reduce"):
            edges = []
            for i in range(steps):
                start = num_darts_edges(i)
                kept = [e for e in range(start, start + i + 2) if e not in self.removed[ct]][:2]
                for e in kept:
                    op = ops[self.decided[ct][e]]
                    if op == "none":
                        op = next(o for o in ops if o != "none")
                    edges.append((op, e - start))
            cells[ct] = edges
        concat = list(range(2 + steps - net.multiplier, steps + 2))
        return DartsGenotype(normal=cells["normal"], normal_concat=concat, reduce=cells["reduce"], reduce_concat=concat)
