"""Ensembles: average the softmax outputs of several trained networks.

Averaging probabilities (not logits) is the standard deep-ensemble rule: each member
votes with a calibrated distribution, and networks whose logits have different scales
weigh equally. One pass over the data evaluates every member and the ensemble, so
:func:`evaluate_ensemble` costs exactly one forward pass per member and batch.

Data may be a tensor of images, an ``(images, labels)`` pair, or any iterable of
batches such as a ``DataLoader`` yielding ``(images, labels)`` (or bare images).

:func:`evaluate_runs` is ``nas evaluate``: trained run directories (read by
:func:`nas.training.finished.load_run`) evaluated on their test split, and runs that share
a test set also as an ensemble, all through :func:`evaluate_ensemble`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from nas.errors import NasError
from nas.training.finished import LoadedRun
from nas.training.loop import Engine, split_output

__all__ = ["EnsembleResult", "RunsEvaluation", "ensemble_predict", "evaluate_ensemble", "evaluate_runs"]


def _batches(data: Any, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    if isinstance(data, torch.Tensor):
        for i in range(0, len(data), batch_size):
            yield data[i : i + batch_size], None
        return
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(d, torch.Tensor) for d in data):
        images, labels = data
        if len(images) != len(labels):
            raise NasError(f"data: {len(images)} images but {len(labels)} labels")
        for i in range(0, len(images), batch_size):
            yield images[i : i + batch_size], labels[i : i + batch_size]
        return
    if not isinstance(data, Iterable):
        raise NasError(
            f"data: expected a tensor, an (images, labels) pair or an iterable of batches, got {type(data).__name__}"
        )
    for k, batch in enumerate(data):
        if isinstance(batch, torch.Tensor):
            yield batch, None
        elif isinstance(batch, (tuple, list)) and len(batch) >= 1 and isinstance(batch[0], torch.Tensor):
            labels = batch[1] if len(batch) > 1 and isinstance(batch[1], torch.Tensor) else None
            yield batch[0], labels
        else:
            raise NasError(f"data batch {k}: expected images or (images, labels) tensors, got {type(batch).__name__}")


def _check_models(models: Sequence[nn.Module]) -> list[nn.Module]:
    if isinstance(models, nn.Module) or not isinstance(models, Sequence) or not models:
        raise NasError("models: expected a non-empty list of networks")
    for i, m in enumerate(models):
        if not isinstance(m, nn.Module):
            raise NasError(f"models[{i}]: expected a torch.nn.Module, got {type(m).__name__}")
    return list(models)


def _weights(weights: Sequence[float] | None, n: int) -> torch.Tensor:
    if weights is None:
        return torch.full((n,), 1.0 / n, dtype=torch.float64)
    w = torch.as_tensor([float(v) for v in weights], dtype=torch.float64)
    if w.shape != (n,) or bool((w < 0).any()) or float(w.sum()) <= 0:
        raise NasError(f"weights: expected {n} non-negative numbers with a positive sum, got {list(weights)}")
    return w / w.sum()


def _member_probs(models: list[nn.Module], x: torch.Tensor, device: torch.device | None) -> list[torch.Tensor]:
    out = []
    for i, m in enumerate(models):
        xi = x.to(device) if device is not None else x.to(next(m.parameters(), torch.empty(0)).device)
        y = m(xi)
        if isinstance(y, (tuple, list)):  # (logits, aux) of a network left in training mode
            y = y[0]
        if y.dim() != 2:
            raise NasError(f"models[{i}]: expected logits [B, classes], got shape {tuple(y.shape)}")
        out.append(y.float().softmax(1).cpu())
    classes = {p.shape[1] for p in out}
    if len(classes) > 1:
        raise NasError(f"models: members predict different numbers of classes ({sorted(classes)})")
    return out


class _eval_all:
    def __init__(self, models: list[nn.Module]) -> None:
        self.models = models

    def __enter__(self) -> None:
        self.modes = [m.training for m in self.models]
        for m in self.models:
            m.eval()

    def __exit__(self, *exc: object) -> None:
        for m, mode in zip(self.models, self.modes):
            m.train(mode)


def ensemble_predict(
    models: Sequence[nn.Module],
    data: Any,
    *,
    weights: Sequence[float] | None = None,
    batch_size: int = 256,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """Average softmax probabilities ``[N, classes]`` of ``models`` over ``data`` (in evaluation mode).

    ``weights`` (optional, normalised to sum 1) weigh the members; default: equal.
    """
    ms = _check_models(models)
    w = _weights(weights, len(ms))
    dev = torch.device(device) if device is not None else None
    chunks = []
    with _eval_all(ms), torch.no_grad():
        for x, _ in _batches(data, batch_size):
            probs = _member_probs(ms, x, dev)
            chunks.append(sum(float(wi) * p for wi, p in zip(w, probs)))
    if not chunks:
        raise NasError("data: no images")
    return torch.cat(chunks)


@dataclass
class EnsembleResult:
    """Top-1/top-5 accuracy (%) of the ensemble and of each member, on ``count`` images."""

    top1: float
    top5: float
    members: list[dict[str, Any]]  # {"name", "top1", "top5"}
    count: int

    @property
    def best_member_top1(self) -> float:
        return max(m["top1"] for m in self.members)

    def as_dict(self) -> dict[str, Any]:
        return {"top1": self.top1, "top5": self.top5, "count": self.count, "members": self.members}


def _correct(probs: torch.Tensor, labels: torch.Tensor, k: int) -> tuple[int, int]:
    top = probs.topk(min(k, probs.shape[1]), dim=1).indices
    hits = top == labels[:, None]
    return int(hits[:, :1].any(1).sum()), int(hits.any(1).sum())


def evaluate_ensemble(
    models: Sequence[nn.Module],
    data: Any,
    *,
    names: Sequence[str] | None = None,
    weights: Sequence[float] | None = None,
    batch_size: int = 256,
    device: str | torch.device | None = None,
) -> EnsembleResult:
    """Top-1 and top-5 accuracy of the softmax-averaged ensemble and of every member, in one pass.

    ``data`` must provide labels. With fewer than 5 classes, top-5 is top-(classes).
    """
    ms = _check_models(models)
    labels_seen = False
    names = list(names) if names is not None else [f"member {i}" for i in range(len(ms))]
    if len(names) != len(ms):
        raise NasError(f"names: expected {len(ms)} names, got {len(names)}")
    w = _weights(weights, len(ms))
    dev = torch.device(device) if device is not None else None
    hits = [[0, 0] for _ in range(len(ms) + 1)]  # members..., ensemble
    count = 0
    with _eval_all(ms), torch.no_grad():
        for x, y in _batches(data, batch_size):
            if y is None:
                raise NasError("data: evaluate_ensemble needs labels ((images, labels) batches)")
            labels_seen = True
            y = y.cpu().long()
            probs = _member_probs(ms, x, dev)
            probs.append(sum(float(wi) * p for wi, p in zip(w, probs)))
            for i, p in enumerate(probs):
                c1, c5 = _correct(p, y, 5)
                hits[i][0] += c1
                hits[i][1] += c5
            count += len(y)
    if not labels_seen or count == 0:
        raise NasError("data: no labelled images")
    pct = [(100.0 * a / count, 100.0 * b / count) for a, b in hits]
    members = [{"name": n, "top1": t1, "top5": t5} for n, (t1, t5) in zip(names, pct[:-1])]
    return EnsembleResult(top1=pct[-1][0], top5=pct[-1][1], members=members, count=count)


# --------------------------------------------------------------------------- #
# nas evaluate: run directories, alone and together
# --------------------------------------------------------------------------- #


class _Member(nn.Module):
    """A run's network as an ensemble member: logits, or log-probabilities averaged over flips.

    :func:`evaluate_ensemble` applies a softmax to what a member returns; the softmax of
    ``log p`` is ``p``, so flip TTA (an average of probabilities) passes through unchanged.
    Runs under the engine's autocast, like training-time evaluation.
    """

    def __init__(self, engine: Engine, tta_flip: bool) -> None:
        super().__init__()
        self.engine, self.tta_flip = engine, tta_flip
        self.model = engine.model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        engine = self.engine
        with engine.autocast():
            logits = split_output(engine.module(x))[0].float()
            if not self.tta_flip:
                return logits
            flipped = split_output(engine.module(x.flip(-1)))[0].float()
        return ((logits.softmax(1) + flipped.softmax(1)) / 2).log()


def _same_test_set(a: LoadedRun, b: LoadedRun) -> bool:
    if a.dataset != b.dataset or a.test.shape != b.test.shape or not torch.equal(a.test, b.test):
        return False
    return a.data is b.data or torch.equal(a.data.test_labels[a.test], b.data.test_labels[b.test])


def _groups(runs: Sequence[LoadedRun], require_ensemble: bool) -> list[list[int]]:
    """Indices of the runs that share a test set (evaluated together)."""
    groups: list[list[int]] = []
    for i, item in enumerate(runs):
        for group in groups:
            if _same_test_set(runs[group[0]], item):
                group.append(i)
                break
        else:
            if groups and require_ensemble:
                raise NasError(f"{item.run}: its test set differs from {runs[0].run}'s; cannot ensemble them")
            groups.append([i])
    return groups


@dataclass
class RunsEvaluation:
    """One row per run (and a last one for the ensemble when ``ensembled``); ``shared``: one test set."""

    rows: list[dict[str, Any]]
    ensembled: bool
    shared: bool


def _row(name: str, weights: str, tta: str, top1: float, top5: float, images: int, run: LoadedRun) -> dict[str, Any]:
    return {
        "run": name,
        "weights": weights,
        "tta": tta,
        "test_top1": float(top1),
        "test_top5": float(top5),
        "images": images,
        "dataset": run.dataset,
    }


def evaluate_runs(
    runs: Sequence[LoadedRun], *, tta_flip: bool = False, require_ensemble: bool = False, checkpoint: str = "selected"
) -> RunsEvaluation:
    """Test accuracy of every run and, when several share one test set, of their ensemble: one pass per group.

    ``require_ensemble`` makes runs with different test sets an error instead of separate rows.
    """
    if not runs:
        raise NasError("runs: expected at least one run directory")
    groups = _groups(runs, require_ensemble)
    tta = "flip" if tta_flip else "none"
    rows: list[dict[str, Any]] = [{} for _ in runs]
    ensembled = len(runs) > 1 and len(groups) == 1
    for group in groups:
        engines = [Engine(runs[i].model, runs[i].config, steps_per_epoch=1) for i in group]
        loader = runs[group[0]].test_loader(device=engines[0].device, channels_last=engines[0].channels_last)
        result = evaluate_ensemble(
            [_Member(engine, tta_flip) for engine in engines], loader, names=[str(runs[i].run) for i in group]
        )
        for i, member in zip(group, result.members):
            run = runs[i]
            rows[i] = _row(member["name"], run.weights.name, tta, member["top1"], member["top5"], result.count, run)
        if ensembled:
            name = f"ensemble of {len(group)}"
            rows.append(_row(name, checkpoint, tta, result.top1, result.top5, result.count, runs[0]))
    return RunsEvaluation(rows=rows, ensembled=ensembled, shared=len(groups) == 1)
