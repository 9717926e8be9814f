"""Benchmark: one CIFAR-10 training epoch of augmentation and batching, three ways.

* ``BatchLoader``: nas.data's batched tensor pipeline (random crop with 4 px zero padding, horizontal
  flip, normalisation) over the uint8 training set held in memory.
* torchvision (a): the usual per-image transforms (RandomCrop(32, padding=4), RandomHorizontalFlip,
  ToTensor, Normalize) over in-memory PIL images in a DataLoader with 2 workers: no JPEG decoding,
  so it measures the augmentation and batching alone.
* torchvision (b): the same transforms on ``ImageFolder`` over extracted JPEG files (decoded per
  image every epoch): what users usually run.

Each yields normalised float batches of 128; batches are consumed and discarded. Times include
DataLoader worker start-up (workers are not persistent, the DataLoader default). The machine may be
shared: the 1-minute load average before and after is printed with the results.

    python benchmarks/bench_data.py --data-dir ../shared/data [--epochs 1] [--json-out bench.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms as T
from torchvision.datasets import ImageFolder

from nas.data import Augment, BatchLoader, ImageDataset, load_dataset, resolve_data_dir
from nas.errors import NasError

BATCH = 128


class _PilImages(Dataset):
    """Training images as PIL images in memory: torchvision's per-image pipeline without decoding."""

    def __init__(self, ds: ImageDataset, transform: object) -> None:
        self.images = [Image.fromarray(a) for a in ds.train_images.permute(0, 2, 3, 1).numpy()]
        self.labels = ds.train_labels.tolist()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.transform(self.images[i]), self.labels[i]  # type: ignore[operator]


def _time_epochs(make_epoch: Callable[[int], Iterable], epochs: int) -> float:
    """Seconds per epoch, consuming every batch of ``epochs`` epochs."""
    start = time.perf_counter()
    images = 0
    for epoch in range(epochs):
        batches: Iterable = make_epoch(epoch)
        for x, _ in batches:
            images += len(x)
    elapsed = time.perf_counter() - start
    assert images == 50000 * epochs, images
    return elapsed / epochs


def _batchloader_epoch(ds: ImageDataset, threads: int | None) -> Callable[[int], Iterable]:
    loader = BatchLoader(
        ds.train_images,
        ds.train_labels,
        batch_size=BATCH,
        mean=ds.mean,
        std=ds.std,
        augment=Augment(crop_padding=4, flip=True, cutout=0),
        threads=threads,
    )

    def epoch(e: int) -> Iterable:
        loader.set_epoch(e)
        return loader

    return epoch


def _transform(ds: ImageDataset) -> object:
    return T.Compose(
        [T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(), T.Normalize(ds.mean, ds.std)]
    )


def _jpeg_train_dir(data_dir: Path, ds: ImageDataset, scratch: Path) -> tuple[Path, str]:
    """A train/<class>/*.jpg directory: the extracted tree if present, else extracted here from the archive."""
    if (data_dir / "cifar10-jpeg" / "train").is_dir():
        return data_dir / "cifar10-jpeg" / "train", "existing cifar10-jpeg/train"
    archive = data_dir / "cifar10-jpeg.tar.gz"
    if archive.is_file():
        with tarfile.open(archive) as tf:
            members = [m for m in tf.getmembers() if m.name.startswith("cifar10-jpeg/train/")]
            tf.extractall(scratch, members=members, filter="data")
        return scratch / "cifar10-jpeg" / "train", f"train/ extracted from {archive.name} to a temp dir"
    # Only the original pickled batches: write the images as PNG files (lossless).
    for i, (img, label) in enumerate(zip(ds.train_images.permute(0, 2, 3, 1).numpy(), ds.train_labels.tolist())):
        folder = scratch / "train" / ds.classes[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(folder / f"{i:05d}.png")
    return scratch / "train", "PNG files written from cifar-10-batches-py to a temp dir"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", help="directory holding CIFAR-10 (default: $NAS_DATA_DIR or ./data)")
    parser.add_argument("--epochs", type=int, default=1, help="epochs per pipeline (default 1)")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers for torchvision (default 2)")
    parser.add_argument("--json-out", help="also write the JSON result to this file")
    parser.add_argument("--skip-imagefolder", action="store_true", help="skip torchvision (b), the slowest")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error("--epochs must be >= 1")
    try:
        data_dir = resolve_data_dir(args.data_dir)
        t0 = time.perf_counter()
        ds = load_dataset("cifar10", data_dir)
        load_s = time.perf_counter() - t0
    except NasError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    load_before = os.getloadavg()[0]
    threads = torch.get_num_threads()
    results: dict[str, float] = {}
    results["BatchLoader (default: 1 thread per batch)"] = _time_epochs(_batchloader_epoch(ds, 1), args.epochs)
    if threads != 1:
        results[f"BatchLoader (threads=None: torch's {threads})"] = _time_epochs(
            _batchloader_epoch(ds, None), args.epochs
        )

    pil = _PilImages(ds, _transform(ds))

    def tv_memory(e: int) -> Iterable:
        return DataLoader(pil, batch_size=BATCH, shuffle=True, num_workers=args.workers)

    results[f"torchvision (a): in-memory PIL, {args.workers} workers"] = _time_epochs(tv_memory, args.epochs)

    note = ""
    if not args.skip_imagefolder:
        with tempfile.TemporaryDirectory(prefix="bench-data-") as scratch:
            train_dir, note = _jpeg_train_dir(data_dir, ds, Path(scratch))
            folder = ImageFolder(str(train_dir), transform=_transform(ds))

            def tv_folder(e: int) -> Iterable:
                return DataLoader(folder, batch_size=BATCH, shuffle=True, num_workers=args.workers)

            results[f"torchvision (b): ImageFolder JPEG, {args.workers} workers"] = _time_epochs(tv_folder, args.epochs)
    load_after = os.getloadavg()[0]

    ours = next(iter(results.values()))
    tv_a = next(v for k, v in results.items() if k.startswith("torchvision (a)"))
    print(f"CIFAR-10 training epoch: 50,000 images, batch {BATCH}, crop+flip+normalise, {args.epochs} epoch(s)")
    print(f"dataset load (cache): {load_s:.2f} s; load average {load_before:.2f} before, {load_after:.2f} after")
    if note:
        print(f"ImageFolder source: {note}")
    print(f"{'pipeline':<45} {'s/epoch':>9} {'images/s':>10} {'time vs BatchLoader':>21}")
    for name, sec in results.items():
        print(f"{name:<45} {sec:>9.2f} {50000 / sec:>10.0f} {sec / ours:>20.1f}x")
    record = {
        "benchmark": "data_epoch",
        "images": 50000,
        "batch_size": BATCH,
        "epochs": args.epochs,
        "torch_threads": threads,
        "loadavg_before": round(load_before, 2),
        "loadavg_after": round(load_after, 2),
        "results": {
            k: {"seconds_per_epoch": round(v, 3), "images_per_s": round(50000 / v)} for k, v in results.items()
        },
        "speedup_vs_torchvision_memory": round(tv_a / ours, 1),
    }
    tv_b = next((v for k, v in results.items() if k.startswith("torchvision (b)")), None)
    if tv_b is not None:
        record["speedup_vs_torchvision_imagefolder"] = round(tv_b / ours, 1)
    line = json.dumps(record)
    print(line)
    if args.json_out:
        Path(args.json_out).write_text(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
