"""Single-path one-shot search (SPOS, Guo et al. 2020; RSPS in the NAS-Bench-201 paper).

The supernet weights are trained with one uniformly sampled path per step and no
architecture parameters (:class:`nas.darts.nb201_single_path.NB201SinglePath` with
``method="spos"``); :class:`NoArchitect` stands in for the DARTS architect in the loop.
Then candidates are scored by their supernet accuracy on a fixed set of validation
batches and the best by that score is returned (never by the NAS-Bench-201 table):

* ``random``: ``candidates`` uniform paths (the RSPS protocol of the NB201 code:
  ``search_find_best`` over random genotypes);
* ``evolution``: regularized evolution (Real et al. 2019) over paths, ``population``
  members, tournaments of ``sample_size``, one-edge mutations, ``candidates`` evaluations.

Candidate evaluation runs the network in eval mode under ``no_grad``, as the authors'
``search_find_best``: the cells' batch norms keep no running statistics (their
``track_running_stats=False`` default), so each path is normalised by the batch; the stem
and ResNet blocks use their running statistics. Deviation (a named option): every candidate
is scored on the same ``val_batches`` batches, where the authors' code gives each candidate
the next single batch. The candidates' RNG is a generator seeded by ``(seed, epoch)``, so a resumed
run finds the same cell.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import nn

__all__ = ["NoArchitect", "evolution_search", "random_search", "fixed_batches", "score_path", "spos_select"]

Batches = Sequence[tuple[torch.Tensor, torch.Tensor]]


class NoArchitect:
    """The architect of a method without architecture parameters: every step is a no-op."""

    optimizer = None

    def step(self, *_args: Any, **_kwargs: Any) -> None:
        return None

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        return None


def score_path(model: nn.Module, path: Sequence[int], batches: Batches) -> float:
    """Supernet top-1 (%) of ``path`` on ``batches``, in eval mode under ``no_grad`` (the model is unchanged)."""
    was_training = model.training
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in batches:
            correct += int((model(x, path).argmax(1) == y).sum())
            total += y.numel()
    model.train(was_training)
    return 100.0 * correct / max(total, 1)


def _random_path(gen: torch.Generator, num_edges: int, num_ops: int) -> list[int]:
    return torch.randint(num_ops, (num_edges,), generator=gen).tolist()


def random_search(
    model: nn.Module, batches: Batches, candidates: int, gen: torch.Generator, num_edges: int, num_ops: int
) -> tuple[list[int], float, list[float]]:
    """Best of ``candidates`` uniform paths: ``(path, score, every score)``."""
    best, best_score, scores = None, -1.0, []
    for _ in range(candidates):
        path = _random_path(gen, num_edges, num_ops)
        score = score_path(model, path, batches)
        scores.append(score)
        if score > best_score:
            best, best_score = path, score
    assert best is not None
    return best, best_score, scores


def evolution_search(
    model: nn.Module,
    batches: Batches,
    candidates: int,
    gen: torch.Generator,
    num_edges: int,
    num_ops: int,
    population: int = 20,
    sample_size: int = 5,
) -> tuple[list[int], float, list[float]]:
    """Regularized evolution over paths, ``candidates`` evaluations: ``(best path, score, every score)``."""
    pop: deque[tuple[list[int], float]] = deque()
    history: list[tuple[list[int], float]] = []
    while len(history) < candidates:
        if len(pop) < population:
            path = _random_path(gen, num_edges, num_ops)
        else:
            idx = torch.randperm(len(pop), generator=gen)[:sample_size].tolist()
            parent = max((pop[i] for i in idx), key=lambda m: m[1])[0]
            path = list(parent)
            edge = int(torch.randint(num_edges, (1,), generator=gen))
            choices = [k for k in range(num_ops) if k != path[edge]]
            path[edge] = choices[int(torch.randint(len(choices), (1,), generator=gen))]
        member = (path, score_path(model, path, batches))
        pop.append(member)
        history.append(member)
        if len(pop) > population:
            pop.popleft()
    best = max(history, key=lambda m: m[1])
    return best[0], best[1], [s for _, s in history]


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


def spos_select(model: Any, val_loader: Iterable[Any], config: Any, epoch: int) -> dict[str, Any]:
    """The epoch's candidate search; sets ``model``'s chosen path and returns what it found.

    After the last epoch: ``config.spos.strategy`` with ``candidates``; after earlier ones a
    random search of ``epoch_candidates`` (the per-epoch derived cell of the history).
    """
    spos = config.spos
    last = epoch + 1 >= config.epochs
    strategy = spos.strategy if last else "random"
    budget = spos.candidates if last else spos.epoch_candidates
    batches = fixed_batches(val_loader, spos.val_batches, config.seed)
    gen = torch.Generator().manual_seed(config.seed * 100_003 + epoch)
    shape = (len(model.chosen), len(model.ops))
    t0 = time.perf_counter()
    if strategy == "evolution":
        path, score, scores = evolution_search(
            model, batches, budget, gen, *shape, population=spos.population, sample_size=spos.sample_size
        )
    else:
        path, score, scores = random_search(model, batches, budget, gen, *shape)
    model.set_chosen(path)
    return {
        "strategy": strategy,
        "candidates": budget,
        "best_supernet_acc": score,
        "mean_supernet_acc": sum(scores) / len(scores),
        "search_s": round(time.perf_counter() - t0, 3),
    }
