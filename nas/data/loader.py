"""Batched augmentation of a uint8 image tensor held in memory: crop, flip, cutout and normalisation.

Its own module because it replaces torchvision's per-image pipeline: augmenting whole batches with
a few tensor ops is far faster on two cores than PIL transforms in worker processes, and every
random choice of an epoch is drawn up front from ``(seed, epoch)``, so epochs are reproducible,
independent of the batch size, and resumable at any batch.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from nas.data.dataset import describe_tensor
from nas.errors import NasError


@dataclass(frozen=True)
class Augment:
    """Training augmentation, applied per batch with tensor ops.

    ``crop_padding``: zero-pad (black pixels, before normalisation) and crop back at a random offset,
    like torchvision's ``RandomCrop(size, padding=p)``. ``flip``: random horizontal flip.
    ``cutout``: a ``cutout x cutout`` square (clipped at the border) centred anywhere in the image is
    set to 0 *after* normalisation, i.e. to the dataset mean, as the DARTS reference code does.
    """

    crop_padding: int = 4
    flip: bool = True
    cutout: int = 0

    def __post_init__(self) -> None:
        for name in ("crop_padding", "cutout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise NasError(f"augment.{name}: expected an integer >= 0, got {value!r}")
        if not isinstance(self.flip, bool):
            raise NasError(f"augment.flip: expected true or false, got {self.flip!r}")


class _Plan(NamedTuple):
    order: torch.Tensor | None  # dataset rows in epoch order (None: rows 0..n-1 of `images`)
    offsets: torch.Tensor | None  # [n, 2] crop offsets (y, x) in [0, 2 * padding]
    flips: torch.Tensor | None  # [n] bool
    centres: torch.Tensor | None  # [n, 2] cutout centres (y, x)


def _epoch_seed(seed: int, epoch: int) -> int:
    # SeedSequence mixes (seed, epoch) so neighbouring pairs give unrelated streams.
    a, b = np.random.SeedSequence([seed, epoch]).generate_state(2, dtype=np.uint32)
    return (int(a) << 31) ^ int(b)


class BatchLoader:
    """Batches of a uint8 ``[N, C, H, W]`` tensor held in memory, augmented per batch with tensor ops.

    Yields ``(float32 normalised images, int64 labels)`` on ``device``. The order and every random
    choice are a pure function of ``(seed, epoch)``, drawn once per epoch for each sample position, so
    an epoch is reproducible, independent of ``batch_size``, and can resume at any batch
    (:meth:`batches`). Call :meth:`set_epoch` every epoch (like ``DistributedSampler``); otherwise
    every pass repeats epoch 0. ``indices`` restricts the loader to those rows without copying images.

    ``threads`` is how many CPU threads prepare a batch (``torch.set_num_threads`` around each batch,
    restored before it is yielded; ``None`` keeps torch's setting). A batch is a few MB, so splitting
    it gains little even on idle cores, while on a shared 2-core machine two threads made an epoch
    15-40x slower (each parallel op waits for the other thread's time slice).
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        *,
        batch_size: int,
        mean: Sequence[float],
        std: Sequence[float],
        augment: Augment | None = None,
        shuffle: bool = True,
        drop_last: bool = False,
        seed: int = 0,
        device: str | torch.device = "cpu",
        channels_last: bool = False,
        indices: torch.Tensor | Sequence[int] | None = None,
        threads: int | None = 1,
    ) -> None:
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise NasError(f"BatchLoader: images must be uint8 [N, C, H, W], got {describe_tensor(images)}")
        if labels.dim() != 1 or len(labels) != len(images):
            raise NasError(f"BatchLoader: labels must be 1-D with {len(images)} entries, got {describe_tensor(labels)}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise NasError(f"batch_size: expected an integer >= 1, got {batch_size!r}")
        if seed < 0:
            raise NasError(f"seed: expected an integer >= 0, got {seed}")
        if threads is not None and threads < 1:
            raise NasError(f"threads: expected an integer >= 1 or None, got {threads}")
        channels = images.shape[1]
        if len(mean) != channels or len(std) != channels or min(std) <= 0:
            raise NasError(f"BatchLoader: mean and std need {channels} values (std > 0), got {mean} and {std}")
        self.device = torch.device(device)
        self.images = images.to(self.device).contiguous()  # no copy when already there and contiguous
        self.labels = labels.to(self.device, torch.int64)
        self.indices = None if indices is None else torch.as_tensor(indices, dtype=torch.long).cpu()
        if self.indices is not None and len(self.indices):
            lo, hi = int(self.indices.min()), int(self.indices.max())
            if lo < 0 or hi >= len(images):
                raise NasError(f"BatchLoader: indices must lie in [0, {len(images)}), got [{lo}, {hi}]")
        self.num_samples = len(images) if self.indices is None else len(self.indices)
        self.batch_size = batch_size
        self.augment = augment
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = seed
        self.channels_last = channels_last
        self.threads = threads if self.device.type == "cpu" else None
        self.epoch = 0
        std_t = torch.tensor(list(std), dtype=torch.float32)
        mean_t = torch.tensor(list(mean), dtype=torch.float32)
        # x_norm = (x / 255 - mean) / std = x * scale + shift
        self._scale = (1.0 / (255.0 * std_t)).view(1, -1, 1, 1).to(self.device)
        self._shift = (-mean_t / std_t).view(1, -1, 1, 1).to(self.device)
        _, _, h, w = images.shape
        self._rows = torch.arange(h, device=self.device)
        self._cols = torch.arange(w, device=self.device)

    def head(self, n: int) -> BatchLoader:
        """This loader (augmentation, normalisation, seed) over only its first ``n`` samples.

        What a reference does with ``SubsetRandomSampler(indices[:n])``: a fixed set of images,
        reshuffled and re-augmented every epoch.
        """
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= self.num_samples:
            raise NasError(f"head: expected an integer in [1, {self.num_samples}], got {n!r}")
        out = copy.copy(self)
        base = torch.arange(len(self.images)) if self.indices is None else self.indices
        out.indices = base[:n].clone()
        out.num_samples = n
        return out

    def set_epoch(self, epoch: int) -> None:
        if epoch < 0:
            raise NasError(f"epoch: expected an integer >= 0, got {epoch}")
        self.epoch = int(epoch)

    def __len__(self) -> int:
        if self.drop_last:
            return self.num_samples // self.batch_size
        return -(-self.num_samples // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self.batches()

    def batches(self, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Iterate the current epoch from batch ``start`` (to resume mid-epoch)."""
        with self._cpu_threads():
            plan = self._plan()
        for b in range(start, len(self)):
            lo = b * self.batch_size
            with self._cpu_threads():
                batch = self._batch(plan, lo, min(lo + self.batch_size, self.num_samples))
            yield batch

    @contextlib.contextmanager
    def _cpu_threads(self) -> Iterator[None]:
        previous = torch.get_num_threads()
        if self.threads is None or self.threads == previous:
            yield
            return
        torch.set_num_threads(self.threads)
        try:
            yield
        finally:
            torch.set_num_threads(previous)

    def _plan(self) -> _Plan:
        """Draw the whole epoch's randomness on a CPU generator: identical on every device."""
        n, aug = self.num_samples, self.augment
        g = torch.Generator().manual_seed(_epoch_seed(self.seed, self.epoch))
        order = torch.randperm(n, generator=g) if self.shuffle else None
        if self.indices is not None:
            order = self.indices if order is None else self.indices[order]
        offsets = flips = centres = None
        if aug is not None and aug.crop_padding:
            offsets = torch.randint(0, 2 * aug.crop_padding + 1, (n, 2), generator=g)
        if aug is not None and aug.flip:
            flips = torch.randint(0, 2, (n,), generator=g, dtype=torch.bool)
        if aug is not None and aug.cutout:
            _, _, h, w = self.images.shape
            centres = torch.stack(
                [torch.randint(0, h, (n,), generator=g), torch.randint(0, w, (n,), generator=g)], dim=1
            )
        return _Plan(*(None if t is None else t.to(self.device) for t in (order, offsets, flips, centres)))

    def _batch(self, plan: _Plan, lo: int, hi: int) -> tuple[torch.Tensor, torch.Tensor]:
        if plan.order is None:
            x, y = self.images[lo:hi], self.labels[lo:hi]  # views: no gather needed
        else:
            rows = plan.order[lo:hi]
            x, y = self.images.index_select(0, rows), self.labels.index_select(0, rows)
        if plan.offsets is not None or plan.flips is not None:
            x = self._crop_flip(
                x,
                None if plan.offsets is None else plan.offsets[lo:hi],
                None if plan.flips is None else plan.flips[lo:hi],
            )
        out = x.to(dtype=torch.float32, memory_format=torch.contiguous_format).mul_(self._scale).add_(self._shift)
        if plan.centres is not None:
            out.mul_(self._cutout_keep(plan.centres[lo:hi]))  # a float mask: 20x faster than masked_fill_
        if self.channels_last:
            # Converting the normalised float batch is the cheapest of the layouts measured on CPU.
            out = out.contiguous(memory_format=torch.channels_last)
        return out, y

    def _crop_flip(self, x: torch.Tensor, offsets: torch.Tensor | None, flips: torch.Tensor | None) -> torch.Tensor:
        """Random crop of the zero-padded batch and horizontal flip, as one gather on uint8."""
        b, c, h, w = x.shape
        p = self.augment.crop_padding if offsets is not None else 0  # type: ignore[union-attr]
        if p:
            padded = x.new_zeros((b, c, h + 2 * p, w + 2 * p))
            padded[:, :, p : p + h, p : p + w] = x
        else:
            padded = x.contiguous()
        wp = w + 2 * p
        rows = self._rows.expand(b, h) if offsets is None else offsets[:, :1] + self._rows
        cols = self._cols.expand(b, w)
        if flips is not None:
            cols = torch.where(flips[:, None], w - 1 - self._cols, self._cols)
        if offsets is not None:
            cols = cols + offsets[:, 1:]
        flat = (rows * wp).unsqueeze(2) + cols.unsqueeze(1)  # [b, h, w] positions in the padded image
        gathered = padded.view(b, c, -1).gather(2, flat.view(b, 1, h * w).expand(b, c, h * w))
        return gathered.view(b, c, h, w)

    def _cutout_keep(self, centres: torch.Tensor) -> torch.Tensor:
        """A float ``[b, 1, h, w]`` mask: 0 inside each sample's square, 1 elsewhere."""
        side = self.augment.cutout  # type: ignore[union-attr]
        top = centres[:, :1] - side // 2
        left = centres[:, 1:] - side // 2
        in_rows = (self._rows >= top) & (self._rows < top + side)  # [b, h]
        in_cols = (self._cols >= left) & (self._cols < left + side)  # [b, w]
        return (~(in_rows.unsqueeze(2) & in_cols.unsqueeze(1))).unsqueeze(1).to(torch.float32)
