"""Tests of nas.data: loading both CIFAR-10 layouts (sources, trees) and the cache, splits, and batched augmentation."""

from __future__ import annotations

import io
import multiprocessing as mp
import os
import pickle
import re
import tarfile
import zlib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from nas.data import (
    Augment,
    BatchLoader,
    ImageDataset,
    load_dataset,
    resolve_cache_dir,
    resolve_data_dir,
    sources,
    split_train_val,
    subset,
    take_per_class,
    trees,
)
from nas.errors import NasError

# Written in an unsorted order on purpose: the loader must sort class names.
CLASSES = ("dog", "airplane", "cat")


# --------------------------------------------------------------------------- #
# Fake data on disk
# --------------------------------------------------------------------------- #


def _pixels(seed: int, n: int, size: int = 8, channels: int = 3) -> np.ndarray:
    """Random HWC images with values in [1, 255]: 0 never occurs, so zero padding is recognisable."""
    rng = np.random.default_rng(seed)
    shape = (n, size, size, channels) if channels == 3 else (n, size, size)
    return rng.integers(1, 256, size=shape, dtype=np.uint8)


def _make_tree(root: Path, *, eval_split: str = "test", n_train: int = 4, n_eval: int = 2, gray: bool = False) -> dict:
    """Write root/{train,eval_split}/<class>/NNNN.png; return the expected NCHW arrays per split (sorted classes)."""
    expected: dict[str, tuple[list[np.ndarray], list[int]]] = {}
    for split, n in (("train", n_train), (eval_split, n_eval)):
        images, labels = [], []
        for label, cls in enumerate(sorted(CLASSES)):
            pix = _pixels(zlib.crc32(f"{split}/{cls}".encode()), n, channels=1 if gray else 3)
            folder = root / split / cls
            folder.mkdir(parents=True)
            # Written in reverse so the on-disk creation order differs from the sorted file order.
            for i in reversed(range(n)):
                Image.fromarray(pix[i]).save(folder / f"{i:04d}.png")
            images += [p.transpose(2, 0, 1) if p.ndim == 3 else p[None] for p in pix]
            labels += [label] * n
        expected[split] = (np.stack(images), labels)
    return expected


def _tar(source: Path, archive: Path, arcname: str) -> Path:
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(source, arcname=arcname)
    return archive


def _write_cifar_batches(root: Path, n_per_batch: int = 6) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """A tiny copy of torchvision's cifar-10-batches-py layout (its own pickle format)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    rng = np.random.default_rng(0)
    all_images = []
    for fname in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        images = rng.integers(0, 256, size=(n_per_batch, 3 * 32 * 32), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, size=n_per_batch)]
        with open(folder / fname, "wb") as f:
            pickle.dump({"data": images, "labels": labels}, f)
        all_images.append((images.reshape(-1, 3, 32, 32), labels))
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": names}, f)
    train = np.concatenate([im for im, _ in all_images[:5]])
    train_labels = np.concatenate([lab for _, lab in all_images[:5]])
    return train, train_labels, names


@pytest.fixture
def no_md5(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake batches cannot match torchvision's md5 sums: skip that check only."""
    import torchvision.datasets.cifar as tv_cifar

    monkeypatch.setattr(tv_cifar.CIFAR10, "_check_integrity", lambda self: True)
    monkeypatch.setattr(tv_cifar, "check_integrity", lambda *a, **k: True)


# --------------------------------------------------------------------------- #
# Loading
# --------------------------------------------------------------------------- #


def test_cifar10_image_folder_directory_and_archive_agree(tmp_path: Path) -> None:
    expected = _make_tree(tmp_path / "a" / "cifar10-jpeg")
    (tmp_path / "b").mkdir()
    _tar(tmp_path / "a" / "cifar10-jpeg", tmp_path / "b" / "cifar10-jpeg.tar.gz", "cifar10-jpeg")
    from_dir = load_dataset("cifar10", tmp_path / "a", cache_dir=tmp_path / "cache")
    from_tar = load_dataset("CIFAR-10", tmp_path / "b", cache_dir=tmp_path / "cache")
    for ds in (from_dir, from_tar):
        assert ds.name == "cifar10"
        assert ds.classes == ("airplane", "cat", "dog")
        assert (ds.num_classes, ds.in_channels, ds.image_size) == (3, 3, 8)
        assert ds.train_images.dtype == torch.uint8 and ds.train_labels.dtype == torch.int64
        np.testing.assert_array_equal(ds.train_images.numpy(), expected["train"][0])
        np.testing.assert_array_equal(ds.test_images.numpy(), expected["test"][0])
        assert ds.train_labels.tolist() == expected["train"][1]
        assert ds.test_labels.tolist() == expected["test"][1]
    # Two sources, two cache files (keyed by source path).
    assert len(list((tmp_path / "cache").glob("cifar10-*.pt"))) == 2


def test_mean_and_std_are_those_of_the_training_images(tmp_path: Path) -> None:
    _make_tree(tmp_path)
    ds = load_dataset("folder", tmp_path, cache_dir=tmp_path / "cache")
    x = ds.train_images.double() / 255
    assert ds.mean == pytest.approx(x.mean(dim=(0, 2, 3)).tolist(), abs=1e-12)
    assert ds.std == pytest.approx(x.std(dim=(0, 2, 3), unbiased=False).tolist(), abs=1e-12)


def test_jpeg_pixels_equal_pillow_decoding(tmp_path: Path) -> None:
    _make_tree(tmp_path)
    jpg = tmp_path / "train" / "airplane" / "0000.jpg"
    Image.fromarray(_pixels(7, 1)[0]).save(jpg, quality=75)
    (tmp_path / "train" / "airplane" / "0000.png").unlink()
    ds = load_dataset("folder", tmp_path, cache_dir=tmp_path / "cache")
    with Image.open(jpg) as im:
        np.testing.assert_array_equal(ds.train_images[0].numpy(), np.asarray(im.convert("RGB")).transpose(2, 0, 1))


def test_folder_with_val_split_and_grayscale(tmp_path: Path) -> None:
    expected = _make_tree(tmp_path, eval_split="val", gray=True)
    (tmp_path / "train" / "cat" / "notes.txt").write_text("not an image")
    (tmp_path / "train" / "cat" / ".0000.png").write_bytes(b"hidden resource fork")
    ds = load_dataset("folder", tmp_path, cache_dir=tmp_path / "cache")
    assert ds.in_channels == 1 and len(ds.mean) == 1
    np.testing.assert_array_equal(ds.test_images.numpy(), expected["val"][0])
    assert len(ds.train_labels) == 12


def test_mixed_gray_and_rgb_become_rgb(tmp_path: Path) -> None:
    _make_tree(tmp_path)
    gray = _pixels(3, 1, channels=1)[0]
    Image.fromarray(gray).save(tmp_path / "train" / "airplane" / "0000.png")
    ds = load_dataset("folder", tmp_path, cache_dir=tmp_path / "cache")
    assert ds.in_channels == 3
    for c in range(3):
        np.testing.assert_array_equal(ds.train_images[0, c].numpy(), gray)


def test_folder_archive_without_top_level_directory_in_any_order(tmp_path: Path) -> None:
    expected = _make_tree(tmp_path / "tree")
    archive = tmp_path / "flat.tar"
    with tarfile.open(archive, "w") as tf:  # members in reverse order: the loader must sort them
        for path in sorted((tmp_path / "tree").rglob("*.png"), reverse=True):
            tf.add(path, arcname=str(path.relative_to(tmp_path / "tree")))
    ds = load_dataset("folder", archive, cache_dir=tmp_path / "cache")
    assert ds.classes == ("airplane", "cat", "dog")
    np.testing.assert_array_equal(ds.train_images.numpy(), expected["train"][0])
    assert ds.train_labels.tolist() == expected["train"][1]


def test_torchvision_batches_layout(tmp_path: Path, no_md5: None) -> None:
    train, train_labels, names = _write_cifar_batches(tmp_path)
    _make_tree(tmp_path / "cifar10-jpeg")  # the original format wins when both are present
    ds = load_dataset("cifar10", tmp_path, cache_dir=tmp_path / "cache")
    assert ds.classes == tuple(names)
    assert ds.image_shape == (3, 32, 32)
    np.testing.assert_array_equal(ds.train_images.numpy(), train)
    assert ds.train_labels.tolist() == train_labels.tolist()
    assert len(ds.test_labels) == 6


def _write_idx(path: Path, array: np.ndarray) -> None:
    """The MNIST idx format: magic (uint8, ndim), big-endian sizes, raw bytes."""
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def test_torchvision_mnist_layout_is_single_channel(tmp_path: Path) -> None:
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, size=(12, 28, 28), dtype=np.uint8)
    for prefix, images in (("train", train), ("t10k", train[:5])):
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", np.arange(len(images)) % 10)
    ds = load_dataset("fashion-mnist", tmp_path, cache_dir=tmp_path / "cache")
    assert ds.name == "fashion_mnist" and ds.image_shape == (1, 28, 28) and ds.num_classes == 10
    np.testing.assert_array_equal(ds.train_images[:, 0].numpy(), train)
    assert ds.train_labels.tolist() == [i % 10 for i in range(12)] and len(ds.test_labels) == 5
    assert ds.mean == pytest.approx((train.mean() / 255,))


def test_corrupt_torchvision_batches_name_the_folder(tmp_path: Path) -> None:
    _write_cifar_batches(tmp_path)  # md5 sums do not match: torchvision calls it corrupt
    with pytest.raises(NasError, match=r"cifar-10-batches-py is incomplete or corrupt") as info:
        load_dataset("cifar10", tmp_path, cache_dir=tmp_path / "cache")
    assert "\n" not in str(info.value)


def test_missing_data_names_every_place_looked(tmp_path: Path) -> None:
    with pytest.raises(NasError) as info:
        load_dataset("cifar10", tmp_path, cache_dir=tmp_path / "cache")
    msg = str(info.value)
    assert msg.startswith(f"cifar10: not found in {tmp_path} (")
    for place in ("cifar-10-batches-py/", "cifar10-jpeg/", "cifar10-jpeg.tar.gz", "--data-dir", "NAS_DATA_DIR"):
        assert place in msg
    assert "--download" in msg and "\n" not in msg
    with pytest.raises(NasError, match="does not exist"):
        load_dataset("mnist", tmp_path / "nowhere")
    with pytest.raises(NasError, match=r"folder: no image folder at .*train/<class>"):
        load_dataset("folder", tmp_path)
    with pytest.raises(NasError, match="unknown name 'imagenet'; expected one of cifar10, cifar100"):
        load_dataset("imagenet", tmp_path)


def test_download_failure_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision.datasets as tvd

    def offline(*args: object, **kwargs: object) -> None:
        raise OSError("network is unreachable")

    monkeypatch.setattr(tvd.MNIST, "download", offline)
    with pytest.raises(NasError, match=r"mnist: not found .*MNIST/raw/.* download failed \(network is unreachable\)"):
        load_dataset("mnist", tmp_path, download=True, cache_dir=tmp_path / "cache")


@pytest.mark.parametrize("content", [b"this is not a gzip file", "truncated"])
def test_corrupt_archive_names_the_file(tmp_path: Path, content: bytes | str) -> None:
    archive = tmp_path / "cifar10-jpeg.tar.gz"
    if content == "truncated":
        _make_tree(tmp_path / "src", n_train=20)
        _tar(tmp_path / "src", tmp_path / "full.tar.gz", "cifar10-jpeg")
        full = (tmp_path / "full.tar.gz").read_bytes()
        content = full[: len(full) // 2]
    archive.write_bytes(content)
    with pytest.raises(NasError, match=re.escape(f"{archive}: corrupt or unreadable archive")):
        load_dataset("cifar10", tmp_path, cache_dir=tmp_path / "cache")


def test_unreadable_image_names_the_file(tmp_path: Path) -> None:
    _make_tree(tmp_path)
    bad = tmp_path / "train" / "cat" / "0001.png"
    bad.write_bytes(bad.read_bytes()[:40])  # truncated PNG
    with pytest.raises(NasError, match=re.escape(f"{bad}: cannot decode image")):
        load_dataset("folder", tmp_path, cache_dir=tmp_path / "cache")


def test_image_of_another_size_names_the_file(tmp_path: Path) -> None:
    _make_tree(tmp_path)
    odd = tmp_path / "test" / "dog" / "0001.png"
    Image.new("RGB", (9, 8)).save(odd)
    with pytest.raises(NasError, match=re.escape(f"{odd}: image is 9x8, expected 8x8")):
        load_dataset("folder", tmp_path, cache_dir=tmp_path / "cache")


def test_test_class_without_training_images(tmp_path: Path) -> None:
    _make_tree(tmp_path)
    (tmp_path / "test" / "zebra").mkdir()
    Image.fromarray(_pixels(1, 1)[0]).save(tmp_path / "test" / "zebra" / "0.png")
    with pytest.raises(NasError, match="class 'zebra' has no training images"):
        load_dataset("folder", tmp_path, cache_dir=tmp_path / "cache")


def test_parallel_decoding_matches_in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _make_tree(tmp_path, n_train=5)
    in_process = trees.read_tree("folder", tmp_path)
    monkeypatch.setattr(trees, "_DECODE_CHUNK", 4)
    monkeypatch.setattr(trees, "_decode_pool", lambda: ProcessPoolExecutor(2, mp_context=mp.get_context("fork")))
    pooled = trees.read_tree("folder", tmp_path)
    for a, b in zip(in_process, pooled):
        assert a == b if isinstance(a, tuple) else torch.equal(a, b)
    bad = tmp_path / "test" / "airplane" / "0000.png"  # 16th file: in a chunk a worker process decodes
    bad.write_bytes(b"garbage")
    with pytest.raises(NasError, match=re.escape(f"{bad}: cannot decode image")):
        trees.read_tree("folder", tmp_path)


# --------------------------------------------------------------------------- #
# Cache
# --------------------------------------------------------------------------- #


def test_cache_is_reused_and_invalidated_by_source_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _make_tree(tmp_path / "src")
    archive = _tar(tmp_path / "src", tmp_path / "cifar10-jpeg.tar.gz", "cifar10-jpeg")
    cache = tmp_path / "cache"
    first = load_dataset("cifar10", tmp_path, cache_dir=cache)
    (cache_file,) = cache.glob("*.pt")
    assert not [p for p in cache.iterdir() if p.suffix != ".pt"], "no temp files left behind"

    def no_decoding(*args: object) -> None:
        raise AssertionError("decoded although a valid cache exists")

    monkeypatch.setattr(sources, "read_tree", no_decoding)
    again = load_dataset("cifar10", tmp_path, cache_dir=cache)
    assert torch.equal(again.train_images, first.train_images) and again.classes == first.classes
    assert again.mean == first.mean

    os.utime(archive, ns=(archive.stat().st_atime_ns, archive.stat().st_mtime_ns + 10**9))
    with pytest.raises(AssertionError, match="decoded although"):
        load_dataset("cifar10", tmp_path, cache_dir=cache)
    monkeypatch.undo()
    load_dataset("cifar10", tmp_path, cache_dir=cache)
    (new_file,) = cache.glob("*.pt")  # the stale cache of the same source was removed
    assert new_file != cache_file


def test_directory_cache_notices_changed_files(tmp_path: Path) -> None:
    _make_tree(tmp_path)
    cache = tmp_path / "cache"
    first = load_dataset("folder", tmp_path, cache_dir=cache)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "train" / "airplane" / "0000.png")
    second = load_dataset("folder", tmp_path, cache_dir=cache)
    assert first.train_images[0].min() > 0 and int(second.train_images[0].max()) == 0


def test_corrupt_cache_is_rebuilt(tmp_path: Path) -> None:
    _make_tree(tmp_path)
    cache = tmp_path / "cache"
    first = load_dataset("folder", tmp_path, cache_dir=cache)
    (cache_file,) = cache.glob("*.pt")
    cache_file.write_bytes(cache_file.read_bytes()[:1000])
    with pytest.warns(UserWarning, match="ignoring unreadable data cache"):
        again = load_dataset("folder", tmp_path, cache_dir=cache)
    assert torch.equal(again.train_images, first.train_images)
    assert torch.load(cache_file, weights_only=True)["train_images"].shape == first.train_images.shape


def test_interrupted_cache_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _make_tree(tmp_path)
    cache = tmp_path / "cache"

    def killed(obj: object, f: io.BufferedWriter) -> None:
        f.write(b"PK\x03\x04 half a zip file")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", killed)
    with pytest.raises(KeyboardInterrupt):
        load_dataset("folder", tmp_path, cache_dir=cache)
    assert list(cache.iterdir()) == []


def test_cache_file_is_readable_by_others(tmp_path: Path) -> None:
    """A cache directory may be shared: the file is 0o644 whatever the umask (temp files start private)."""
    _make_tree(tmp_path)
    cache = tmp_path / "cache"
    previous = os.umask(0o077)
    try:
        load_dataset("folder", tmp_path, cache_dir=cache)
    finally:
        os.umask(previous)
    (cache_file,) = cache.glob("*.pt")
    assert cache_file.stat().st_mode & 0o777 == 0o644


def test_unwritable_cache_only_warns(tmp_path: Path) -> None:
    _make_tree(tmp_path / "src")
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache directory should be")
    with pytest.warns(UserWarning, match="could not write data cache"):
        ds = load_dataset("folder", tmp_path / "src", cache_dir=blocker / "cache")
    assert len(ds.train_labels) == 12


def test_full_disk_during_cache_write_only_warns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _make_tree(tmp_path / "src")
    cache = tmp_path / "cache"

    def disk_full(obj: object, f: io.BufferedWriter) -> None:
        f.write(b"PK\x03\x04 half a zip file")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598")  # as on ENOSPC

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.warns(UserWarning, match="could not write data cache .*unexpected pos"):
        ds = load_dataset("folder", tmp_path / "src", cache_dir=cache)
    assert len(ds.train_labels) == 12
    assert list(cache.iterdir()) == []


def test_directories_resolve_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NAS_DATA_DIR", raising=False)
    monkeypatch.delenv("NAS_CACHE_DIR", raising=False)
    assert resolve_data_dir(None) == tmp_path / "data"
    assert resolve_cache_dir(None) == Path.home() / ".cache" / "nas-toolkit"
    monkeypatch.setenv("NAS_DATA_DIR", "/env/data")
    monkeypatch.setenv("NAS_CACHE_DIR", "/env/cache")
    assert resolve_data_dir(None) == Path("/env/data")
    assert resolve_cache_dir(None) == Path("/env/cache")
    assert resolve_data_dir("arg") == tmp_path / "arg"
    assert resolve_cache_dir(tmp_path / "c") == tmp_path / "c"


# --------------------------------------------------------------------------- #
# Splits and slices
# --------------------------------------------------------------------------- #


def _uneven_labels() -> torch.Tensor:
    labels = torch.tensor([0] * 100 + [1] * 50 + [2] * 30 + [3] * 7)
    return labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(1))]


def test_split_is_stratified_disjoint_covering_and_seeded() -> None:
    labels = _uneven_labels()
    train, val = split_train_val(labels, 0.2, seed=3)
    assert len(val) == round(0.2 * len(labels))
    assert torch.equal(torch.sort(torch.cat([train, val])).values, torch.arange(len(labels)))
    assert torch.bincount(labels[val]).tolist() == [20, 10, 6, 1]
    assert torch.equal(train, torch.sort(train).values)
    again = split_train_val(labels, 0.2, seed=3)
    assert torch.equal(again[0], train) and torch.equal(again[1], val)
    assert not torch.equal(split_train_val(labels, 0.2, seed=4)[1], val)


@settings(max_examples=60, deadline=None)
@given(
    counts=st.lists(st.integers(1, 40), min_size=1, max_size=6),
    fraction=st.floats(0.0, 0.95),
    seed=st.integers(0, 2**31),
)
def test_split_properties(counts: list[int], fraction: float, seed: int) -> None:
    labels = torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts))
    train, val = split_train_val(labels, fraction, seed)
    assert len(val) == round(fraction * len(labels))
    assert len(set(train.tolist()) | set(val.tolist())) == len(labels) == len(train) + len(val)
    per_class = torch.bincount(labels[val], minlength=len(counts))
    for c, n in enumerate(counts):
        assert abs(int(per_class[c]) - n * len(val) / len(labels)) < 1.0  # each class gets its share


def test_split_rejects_bad_fractions() -> None:
    for bad in (1.0, -0.1, 2):
        with pytest.raises(NasError, match="val_fraction: expected a number in"):
            split_train_val(torch.zeros(10, dtype=torch.long), bad, 0)
    with pytest.raises(NasError, match="1-D integer tensor"):
        split_train_val(torch.zeros(10), 0.1, 0)


def test_take_per_class() -> None:
    labels = _uneven_labels()
    idx = take_per_class(labels, 5, seed=0)
    assert torch.bincount(labels[idx]).tolist() == [5, 5, 5, 5]
    assert torch.equal(idx, take_per_class(labels, 5, seed=0))
    assert not torch.equal(idx, take_per_class(labels, 5, seed=1))
    with pytest.raises(NasError, match="class 3 has only 7 images, asked for 8"):
        take_per_class(labels, 8, seed=0)


def _dataset(n_train: int = 64, n_test: int = 30, size: int = 8) -> ImageDataset:
    g = torch.Generator().manual_seed(0)
    return ImageDataset(
        "synthetic",
        torch.randint(1, 256, (n_train, 3, size, size), dtype=torch.uint8, generator=g),
        torch.arange(n_train) % 3,
        torch.randint(1, 256, (n_test, 3, size, size), dtype=torch.uint8, generator=g),
        torch.arange(n_test) % 3,
        classes=("a", "b", "c"),
        mean=(0.5, 0.4, 0.3),
        std=(0.25, 0.2, 0.3),
    )


def test_subset_keeps_statistics_and_stratifies_the_test_limit() -> None:
    ds = _dataset()
    part = subset(ds, train_indices=torch.tensor([5, 1]), test_limit=9)
    assert torch.equal(part.train_images, ds.train_images[[5, 1]])
    assert part.mean == ds.mean and part.std == ds.std and part.classes == ds.classes
    assert torch.bincount(part.test_labels).tolist() == [3, 3, 3]
    assert "train=2, test=9" in repr(part)


def test_dataset_validates_its_tensors() -> None:
    ds = _dataset()
    with pytest.raises(NasError, match="train_images must be uint8"):
        ImageDataset(
            "x",
            ds.train_images.float(),
            *[ds.train_labels, ds.test_images, ds.test_labels],
            ds.classes,
            ds.mean,
            ds.std,
        )
    with pytest.raises(NasError, match=r"test_labels must lie in \[0, 3\)"):
        ImageDataset(
            "x", ds.train_images, ds.train_labels, ds.test_images, ds.test_labels + 1, ds.classes, ds.mean, ds.std
        )


# --------------------------------------------------------------------------- #
# BatchLoader
# --------------------------------------------------------------------------- #

# No integer pixel v has v / 255 == mean: a normalised 0 can only come from cutout.
MEAN, STD = (0.5, 0.45, 0.3), (0.25, 0.2, 0.3)


def _loader(ds: ImageDataset, **kwargs: object) -> BatchLoader:
    kwargs = {"batch_size": 16, "mean": MEAN, "std": STD, **kwargs}
    return BatchLoader(ds.train_images, ds.train_labels, **kwargs)  # type: ignore[arg-type]


def _pixels_back(x: torch.Tensor) -> torch.Tensor:
    """Undo the normalisation: uint8 pixels again."""
    m, s = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)
    return ((x * s + m) * 255).round().to(torch.uint8)


def _all(loader: BatchLoader) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = zip(*loader)
    return torch.cat(xs), torch.cat(ys)


def test_plain_batches_are_normalised_in_order() -> None:
    ds = _dataset(n_train=40)
    loader = _loader(ds, shuffle=False)
    batches = list(loader)
    assert len(loader) == len(batches) == 3 and batches[-1][0].shape == (8, 3, 8, 8)
    x, y = _all(loader)
    assert x.dtype == torch.float32 and y.dtype == torch.int64 and x.device.type == "cpu"
    ref = (ds.train_images.double() / 255 - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    torch.testing.assert_close(x.double(), ref, atol=1e-5, rtol=0)
    assert torch.equal(y, ds.train_labels)
    assert len(_loader(ds, drop_last=True)) == 2 and len(list(_loader(ds, drop_last=True))) == 2


def test_shuffle_is_a_permutation() -> None:
    ds = _dataset()
    x, y = _all(_loader(ds))
    order = [
        next(i for i in range(64) if torch.equal(_pixels_back(x[k : k + 1])[0], ds.train_images[i])) for k in range(64)
    ]
    assert sorted(order) == list(range(64)) and order != list(range(64))
    assert torch.equal(y, ds.train_labels[order])


def test_head_keeps_the_first_samples_reshuffled_each_epoch() -> None:
    ds = _dataset(n_train=40)
    loader = _loader(ds, indices=list(range(10, 40)), seed=3)
    head = loader.head(12)
    assert len(head) == 1 and head.num_samples == 12 and loader.num_samples == 30  # the original is untouched
    labels = []
    for epoch in (0, 1):
        head.set_epoch(epoch)
        _, y = _all(head)
        labels.append(y.tolist())
    assert sorted(labels[0]) == sorted(labels[1]) == sorted(ds.train_labels[10:22].tolist())
    assert labels[0] != labels[1]  # the same images, another order
    assert torch.equal(_loader(ds, shuffle=False).head(5).indices, torch.arange(5))
    for bad in (0, 31, True, 2.0):
        with pytest.raises(NasError, match=r"^head: expected an integer in \[1, 30\]"):
            loader.head(bad)  # type: ignore[arg-type]


def _windows(img: torch.Tensor, pad: int) -> list[torch.Tensor]:
    """Every crop of the zero-padded image, and its mirror image."""
    padded = torch.nn.functional.pad(img, (pad, pad, pad, pad))
    h, w = img.shape[1:]
    crops = [padded[:, i : i + h, j : j + w] for i in range(2 * pad + 1) for j in range(2 * pad + 1)]
    return crops + [c.flip(-1) for c in crops]


def test_random_crops_are_shifts_of_the_black_padded_image() -> None:
    ds = _dataset()
    x, _ = _all(_loader(ds, shuffle=False, augment=Augment(crop_padding=2, flip=False)))
    got = _pixels_back(x)
    offsets = set()
    for img, out in zip(ds.train_images, got):
        windows = _windows(img, 2)[:25]
        match = [k for k, wdw in enumerate(windows) if torch.equal(wdw, out)]
        assert match, "every crop must be a window of the zero-padded image"
        offsets.add(match[0])
    assert len(offsets) > 10  # offsets vary
    assert (got == 0).any()  # padding pixels are black before normalisation (values never 0 otherwise)


def test_flips_mirror_some_images_and_keep_others() -> None:
    ds = _dataset()
    x, _ = _all(_loader(ds, shuffle=False, augment=Augment(crop_padding=0, flip=True)))
    got = _pixels_back(x)
    flipped = [torch.equal(out, img.flip(-1)) for img, out in zip(ds.train_images, got)]
    kept = [torch.equal(out, img) for img, out in zip(ds.train_images, got)]
    assert all(f != k for f, k in zip(flipped, kept))
    assert 10 < sum(flipped) < 54


def test_crop_and_flip_together() -> None:
    ds = _dataset()
    x, _ = _all(_loader(ds, shuffle=False, augment=Augment(crop_padding=3, flip=True)))
    for img, out in zip(ds.train_images, _pixels_back(x)):
        assert any(torch.equal(w, out) for w in _windows(img, 3))


def test_cutout_zeroes_one_square_after_normalisation() -> None:
    ds = _dataset(n_train=64, size=16)
    plain, _ = _all(_loader(ds, shuffle=False))
    x, _ = _all(_loader(ds, shuffle=False, augment=Augment(crop_padding=0, flip=False, cutout=6)))
    assert (plain != 0).all()  # so zeros can only come from cutout
    clipped = 0
    for before, after in zip(plain, x):
        zero = (after == 0).all(dim=0)  # [h, w], every channel zero (= the mean pixel)
        assert (after == 0).any(dim=0).eq(zero).all()
        rows, cols = zero.any(dim=1).nonzero().squeeze(1), zero.any(dim=0).nonzero().squeeze(1)
        assert len(rows) and len(cols)
        r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
        assert zero[r0:r1, c0:c1].all() and int(zero.sum()) == (r1 - r0) * (c1 - c0)  # one rectangle
        for lo, hi in ((r0, r1), (c0, c1)):
            assert hi - lo == 6 or (hi - lo < 6 and (lo == 0 or hi == 16))  # a 6x6 square, clipped at borders
        clipped += (r1 - r0) * (c1 - c0) < 36
        assert torch.equal(after[:, ~zero], before[:, ~zero])
    assert clipped > 0


def test_epochs_are_deterministic_and_differ() -> None:
    ds = _dataset()
    aug = Augment(crop_padding=2, flip=True, cutout=3)
    a, b = _loader(ds, augment=aug, seed=7), _loader(ds, augment=aug, seed=7)
    ea = _all(a)
    assert all(torch.equal(p, q) for p, q in zip(ea, _all(b)))
    a.set_epoch(1)
    e1 = _all(a)
    assert not torch.equal(e1[1], ea[1]) and not torch.equal(e1[0], ea[0])
    a.set_epoch(0)
    assert torch.equal(_all(a)[0], ea[0])
    assert not torch.equal(_all(_loader(ds, augment=aug, seed=8))[0], ea[0])


def test_resume_mid_epoch_and_batch_size_independence() -> None:
    ds = _dataset()
    aug = Augment(crop_padding=2, flip=True, cutout=3)
    loader = _loader(ds, augment=aug, seed=1, batch_size=10)
    loader.set_epoch(5)
    full = list(loader)
    resumed = list(loader.batches(start=4))
    assert len(resumed) == len(full) - 4
    assert all(torch.equal(p[0], q[0]) and torch.equal(p[1], q[1]) for p, q in zip(full[4:], resumed))
    other = _loader(ds, augment=aug, seed=1, batch_size=7)
    other.set_epoch(5)
    assert torch.equal(_all(other)[0], torch.cat([b[0] for b in full]))


def test_channels_last_gives_the_same_values() -> None:
    ds = _dataset()
    aug = Augment(crop_padding=2, flip=True, cutout=3)
    x, _ = next(iter(_loader(ds, augment=aug, channels_last=True)))
    ref, _ = next(iter(_loader(ds, augment=aug)))
    assert x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    assert torch.equal(x, ref)


def test_indices_restrict_the_loader_without_copying() -> None:
    ds = _dataset()
    idx = torch.tensor([3, 9, 27, 40, 41])
    loader = _loader(ds, indices=idx, batch_size=2, augment=Augment())
    assert len(loader) == 3 and loader.images.data_ptr() == ds.train_images.data_ptr()
    _, y = _all(loader)
    assert sorted(y.tolist()) == sorted(ds.train_labels[idx].tolist())
    x, y = _all(_loader(ds, indices=idx, shuffle=False))
    assert torch.equal(_pixels_back(x), ds.train_images[idx])


def test_batches_are_prepared_with_the_given_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    ds = _dataset()
    seen: list[int] = []
    loader = _loader(ds, augment=Augment(), threads=1)
    real_batch = loader._batch
    monkeypatch.setattr(loader, "_batch", lambda *a: (seen.append(torch.get_num_threads()), real_batch(*a))[1])
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        for _ in loader:
            assert torch.get_num_threads() == 2  # the caller's setting between batches
        reference = _all(_loader(ds, augment=Augment(), threads=None))[0]
    finally:
        torch.set_num_threads(before)
    assert seen == [1] * len(loader)
    assert torch.equal(_all(loader)[0], reference)  # the thread count never changes the values


def test_bad_loader_arguments() -> None:
    ds = _dataset()
    with pytest.raises(NasError, match="batch_size: expected an integer >= 1"):
        _loader(ds, batch_size=0)
    with pytest.raises(NasError, match="mean and std need 3 values"):
        _loader(ds, mean=(0.5,))
    with pytest.raises(NasError, match="indices must lie in"):
        _loader(ds, indices=[0, 64])
    with pytest.raises(NasError, match="augment.crop_padding: expected an integer >= 0"):
        Augment(crop_padding=-1)
    with pytest.raises(NasError, match="images must be uint8"):
        BatchLoader(ds.train_images.float(), ds.train_labels, batch_size=4, mean=MEAN, std=STD)


# --------------------------------------------------------------------------- #
# Real CIFAR-10 (the shared JPEG archive)
# --------------------------------------------------------------------------- #


@pytest.mark.data
def test_real_cifar10(cifar10_dir: Path) -> None:
    # Default cache dir on purpose: the first run decodes 60k JPEGs (~5-15 s), later runs read the cache.
    ds = load_dataset("cifar10", cifar10_dir)
    assert ds.train_images.shape == (50000, 3, 32, 32) and ds.test_images.shape == (10000, 3, 32, 32)
    assert ds.classes == ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
    assert torch.bincount(ds.train_labels).tolist() == [5000] * 10
    assert torch.bincount(ds.test_labels).tolist() == [1000] * 10
    assert ds.mean == pytest.approx((0.4913, 0.4821, 0.4465), abs=1e-4)
    assert ds.std == pytest.approx((0.2452, 0.2428, 0.2606), abs=1e-4)
    train, val = split_train_val(ds.train_labels, 0.1, seed=0)
    assert len(train) == 45000 and torch.bincount(ds.train_labels[val]).tolist() == [500] * 10
    # Normalised with its own statistics, the training set has mean 0 and std 1 per channel.
    total = torch.zeros(3, dtype=torch.float64)
    squares = torch.zeros(3, dtype=torch.float64)
    for x, _ in BatchLoader(ds.train_images, ds.train_labels, batch_size=1000, mean=ds.mean, std=ds.std, shuffle=False):
        total += x.sum(dim=(0, 2, 3)).double()
        squares += (x * x).sum(dim=(0, 2, 3)).double()
    n = 50000 * 32 * 32
    assert (total / n).abs().max() < 1e-4
    assert ((squares / n - (total / n) ** 2).sqrt() - 1).abs().max() < 1e-4
