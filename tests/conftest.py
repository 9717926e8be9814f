"""Shared fixtures: where the real data is, and quiet, small, deterministic torch."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


def _data_root() -> Path:
    env = os.environ.get("NAS_DATA_DIR")
    return Path(env) if env else REPO.parent / "shared" / "data"


def missing_resource(message: str) -> None:
    """Skip a test whose resource is absent, except under CI (``CI=true``), where it fails: CI has everything."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI: {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture(autouse=True, scope="session")
def _small_torch() -> None:
    # Two cores are shared by everything on CI; one thread per test keeps timings stable.
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The real-data directory (CIFAR-10 archive and NAS-Bench-201 table)."""
    return _data_root()


@pytest.fixture(scope="session")
def cifar10_dir(data_root: Path) -> Path:
    """A directory holding CIFAR-10 in a layout nas.data reads; skips loudly if absent (fails under CI)."""
    candidates = ["cifar10-jpeg.tar.gz", "cifar10-jpeg", "cifar-10-batches-py"]
    if not any((data_root / c).exists() for c in candidates):
        looked = ", ".join(candidates)
        missing_resource(f"real CIFAR-10 not found in {data_root} (looked for {looked}); set NAS_DATA_DIR")
    return data_root


@pytest.fixture(scope="session")
def nb201_csv(data_root: Path) -> Path:
    """The NAS-Bench-201 results table; skips loudly if absent (fails under CI)."""
    path = data_root / "nasbench201" / "nb201.csv"
    if not path.is_file():
        missing_resource(f"NAS-Bench-201 table not found at {path}; set NAS_DATA_DIR")
    return path
