"""``score(genotype_or_model, proxy_names, batch, seed) -> {name: value}``: the one entry point.

A search job calls it once per candidate. Given a genotype, the network is built with
:func:`nas.networks.build` under ``torch.manual_seed(seed)`` (the table's network for an
NB201 cell: C=16, N=5); given a module, its current weights are scored. Either way the
call leaves nothing behind: the caller's global RNG state is untouched (everything runs
under :func:`torch.random.fork_rng`), and the model comes back with the same mode,
``requires_grad``, ``.grad`` and buffers (:func:`nas.proxies.context.preserved`).

Each score runs after ``torch.manual_seed(seed)`` with the network in training mode
(batch statistics, as every reference), so its value does not depend on which other
scores were asked for or in what order; the scores that look at the same training-mode
pass (``naswot``, ``snip``, ``grad_norm``, ``fisher``, ``jacov``) share it
(:mod:`nas.proxies.passes`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch import nn

from nas.errors import NasError
from nas.genotypes.types import Genotype
from nas.proxies.context import Batch, ScoringContext, preserved
from nas.proxies.passes import run_train_pass
from nas.proxies.registry import resolve_proxies

__all__ = ["build_network", "sample_batch", "score", "seeded"]


@contextlib.contextmanager
def seeded(seed: int, device: torch.device | None = None) -> Iterator[None]:
    """Run a block under ``torch.manual_seed(seed)`` without changing the caller's RNG state."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise NasError(f"seed: expected an integer >= 0, got {seed!r}")
    devices: list[int] = []
    if device is not None and device.type == "cuda":
        devices = [device.index if device.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def build_network(genotype: Genotype, seed: int, num_classes: int = 10, **options: Any) -> nn.Module:
    """The network of ``genotype``, initialised with ``seed``; a genotype that does not build is a NasError."""
    from nas.networks import build

    with seeded(seed):
        try:
            return build(genotype, num_classes=num_classes, **options)
        except NasError:
            raise
        except (RuntimeError, ValueError, TypeError, IndexError) as exc:
            raise NasError(f"genotype ({getattr(genotype, 'kind', '?')}): does not build: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _as_batch(batch: Any) -> Batch:
    if isinstance(batch, Batch):
        return batch
    if isinstance(batch, (tuple, list)) and len(batch) == 2:
        return Batch(*batch)
    raise NasError(f"batch: expected a Batch or an (images, labels) pair, got {type(batch).__name__}")


def score(
    genotype_or_model: Genotype | nn.Module,
    proxy_names: str | Iterable[str] | None = None,
    batch: Batch | tuple[torch.Tensor, torch.Tensor] | None = None,
    seed: int = 0,
    *,
    num_classes: int = 10,
    build_options: dict[str, Any] | None = None,
) -> dict[str, float]:
    """Scores of one candidate, ``{name: value}`` in the order asked (``None``: every score).

    ``batch`` is one minibatch of real training images (see :func:`sample_batch`); scores
    that use only its shape (``synflow``, ``params``, ``flops``) still need it for the
    input size. ``build_options`` go to :func:`nas.networks.build` with a genotype.
    """
    proxies = resolve_proxies(proxy_names)
    if batch is None:
        raise NasError("batch: every score needs a minibatch (at least its input shape); see nas.proxies.sample_batch")
    data = _as_batch(batch)
    if isinstance(genotype_or_model, nn.Module):
        if build_options:
            raise NasError("build_options: only apply when scoring a genotype, not a module")
        model = genotype_or_model
    elif isinstance(genotype_or_model, Genotype):
        model = build_network(genotype_or_model, seed, num_classes, **(build_options or {}))
    else:
        raise NasError(f"score: expected a genotype or a torch.nn.Module, got {type(genotype_or_model).__name__}")
    param = next(iter(model.parameters()), None)
    if param is None:
        raise NasError("score: the network has no parameters to score")
    data = data.to(param.device, param.dtype if param.is_floating_point() else torch.float32)
    ctx = ScoringContext(model, data, seed, frozenset().union(*(p.shares for p in proxies)), run_train_pass)
    results: dict[str, float] = {}
    for proxy in proxies:
        with seeded(seed, param.device), preserved(model):
            model.train()
            try:
                results[proxy.name] = float(proxy.fn(ctx))
            except NasError:
                raise
            except (RuntimeError, ValueError, IndexError) as exc:
                raise NasError(
                    f"proxy {proxy.name}: the network failed on a batch of shape {list(data.images.shape)}: "
                    f"{_first_line(exc)}"
                ) from None
    return results


def sample_batch(dataset: Any, batch_size: int, seed: int, *, augment: bool = True) -> Batch:
    """A seeded random minibatch of ``dataset``'s *training* images, normalised with its mean and std.

    With ``augment`` (default) the images get the training augmentation (4-pixel padded
    crop and horizontal flip), as in the references' training loaders.
    """
    from nas.data import Augment, BatchLoader

    n = len(dataset.train_labels)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 2:
        raise NasError(f"batch size: expected an integer >= 2, got {batch_size!r}")
    if batch_size > n:
        raise NasError(f"batch size: {dataset.name} has {n} training images, got {batch_size}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise NasError(f"seed: expected an integer >= 0, got {seed!r}")
    loader = BatchLoader(
        dataset.train_images,
        dataset.train_labels,
        batch_size=batch_size,
        mean=dataset.mean,
        std=dataset.std,
        augment=Augment() if augment else None,
        shuffle=True,
        seed=seed,
    )
    images, labels = next(iter(loader))
    return Batch(images, labels)
