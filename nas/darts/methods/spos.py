"""Single-path one-shot search (SPOS, Guo et al. 2020; RSPS in the NAS-Bench-201 paper).

The supernet's weights are trained with one uniformly sampled path per step and no
architecture parameters (a single-path supernet: in NAS-Bench-201 a uniform operation per
edge, in the DARTS space a uniform cell: two distinct inputs per node, uniform
non-``none`` operations). Then candidates are proposed by a controller of
:mod:`nas.controllers` (``random``: the RSPS protocol of the NB201 code; ``evolution``:
regularized evolution, Real et al. 2019) and scored by their supernet accuracy on a fixed
set of validation batches; the best by that score is the cell (never by the table).

Candidate evaluation runs the network in eval mode under ``no_grad``, as the authors'
``search_find_best``: the cells' batch norms keep no running statistics, so each path is
normalised by the batch. Deviation (a named option): every candidate is scored on the same
``val_batches`` batches, where the authors' code gives each candidate the next single batch.
The controller's seed is ``(seed, epoch)``, so a resumed run finds the same cell.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import torch

from nas.config_io import PosInt
from nas.controllers import create_controller
from nas.darts.methods.base import CellArch, MethodConfig, SearchMethod
from nas.genotypes.codec import from_json, to_json
from nas.genotypes.types import Genotype
from nas.search_spaces import get_space

__all__ = ["Spos", "SposConfig", "fixed_batches", "score_genotype"]

Batches = Sequence[tuple[torch.Tensor, torch.Tensor]]


class SposConfig(MethodConfig):
    """``candidates`` are scored after the last epoch by ``strategy``; ``epoch_candidates`` (random)
    after each earlier one, so the history shows a derived cell per epoch."""

    name: Literal["spos"] = "spos"
    strategy: Literal["evolution", "random"] = "evolution"
    candidates: PosInt = 100
    epoch_candidates: PosInt = 20
    val_batches: PosInt = 4
    population: PosInt = 20
    sample_size: PosInt = 5


def score_genotype(model: Any, genotype: Genotype, batches: Batches) -> float:
    """Supernet top-1 (%) of ``genotype``'s path on ``batches``, eval mode, ``no_grad`` (model unchanged)."""
    was_training = model.training
    model.eval()
    path = model.path_of(genotype)
    correct = total = 0
    with torch.no_grad():
        for x, y in batches:
            correct += int((model.forward_path(x, path).argmax(1) == y).sum())
            total += y.numel()
    model.train(was_training)
    return 100.0 * correct / max(total, 1)


def fixed_batches(val_loader: Iterable[Any], count: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``count`` batches of the (unaugmented) validation half, drawn at random once per seed.

    A sample of the whole half, the same for every epoch and candidate, so that scores of
    different candidates compare the same images (and do not depend on the batch size).
    """
    val_loader.set_epoch(0)  # type: ignore[attr-defined]
    xs, ys = zip(*val_loader)
    x, y = torch.cat(xs), torch.cat(ys)
    size = len(xs[0])
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed + 7))[: count * size]
    return [(x[order[i : i + size]], y[order[i : i + size]]) for i in range(0, len(order), size)]


class Spos(SearchMethod):
    name = "spos"
    Config = SposConfig
    description = "SPOS/RSPS: uniform single paths, then a controller searches the trained supernet"
    single_path = True
    trains_arch = False

    def __init__(self, config: MethodConfig, search: Any, supernet: Any, reduce: Any) -> None:
        super().__init__(config, search, supernet, reduce)
        self.chosen: str | None = None  # genotype JSON of the best candidate so far

    @classmethod
    def check(cls, config: MethodConfig, search: Any) -> None:
        if config.sample_size > config.population:  # type: ignore[attr-defined]
            raise ValueError(
                f"method.sample_size: {config.sample_size} exceeds method.population {config.population}"  # type: ignore[attr-defined]
            )
        for key in ("max_skip", "early_stop_skip", "warmup_epochs"):
            if key in search.guards.model_fields_set and getattr(search.guards, key):
                raise ValueError(f"guards.{key}: not used by method spos (no architecture parameters)")
        net = search.supernet
        if search.space == "darts" and (net.steps, net.multiplier) != (4, 4):
            raise ValueError("supernet.steps: spos in the darts space needs steps 4 and multiplier 4 (its genotypes)")

    def sample(self, training: bool) -> dict[str, CellArch]:
        if training or self.chosen is None:
            return self.supernet.path_arch(self.supernet.random_path())  # type: ignore[attr-defined]
        return self.supernet.path_arch(self.supernet.path_of(self.genotype()))  # type: ignore[attr-defined]

    def genotype(self) -> Genotype:
        assert self.chosen is not None
        return from_json(self.chosen, "checkpoint")

    def weights(self) -> dict[str, torch.Tensor]:
        """The one-hot of the chosen cell (zeros before the first candidate search)."""
        if self.chosen is None:
            return {ct: torch.zeros_like(a).double() for ct, a in self.supernet.cell_alphas().items()}
        return {ct: a.weights.double() for ct, a in self.sample(False).items()}

    def derive(self, max_skip: int | None = None) -> Genotype:
        if self.chosen is None:  # no candidate search yet: a random cell would be a guess; refuse plainly
            raise RuntimeError("spos: no candidate search has run yet")
        return self.genotype()

    def end_epoch(self, epoch: int, epochs: int, evaluator: Any) -> dict[str, Any]:
        """The epoch's candidate search (the full one after the last epoch, a short random one before)."""
        cfg = self.config
        last = epoch + 1 >= epochs
        strategy = cfg.strategy if last else "random"  # type: ignore[attr-defined]
        budget = cfg.candidates if last else cfg.epoch_candidates  # type: ignore[attr-defined]
        seed = self.search.seed
        batches = fixed_batches(evaluator.eval_loader, cfg.val_batches, seed)  # type: ignore[attr-defined]
        options = {}
        if strategy == "evolution":
            options = {"population_size": cfg.population, "sample_size": cfg.sample_size}  # type: ignore[attr-defined]
        controller = create_controller(
            strategy, get_space(self.search.space), seed=seed * 100_003 + epoch, options=options
        )
        t0 = time.perf_counter()
        best, best_score, scores = None, -1.0, []
        for _ in range(budget):
            genotype = controller.propose()
            score = score_genotype(self.supernet, genotype, batches)
            controller.observe(genotype, score)
            scores.append(score)
            if score > best_score:
                best, best_score = genotype, score
        assert best is not None
        self.chosen = to_json(best)
        return {
            "spos": {
                "strategy": strategy,
                "candidates": budget,
                "best_supernet_acc": best_score,
                "mean_supernet_acc": sum(scores) / len(scores),
                "search_s": round(time.perf_counter() - t0, 3),
            }
        }

    def state_dict(self) -> dict[str, Any]:
        return {"chosen": self.chosen}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.chosen = state.get("chosen")
