"""What every runner of an authors' NAS-Bench-201 codebase shares, and how a codebase is described.

``compare_official_nb201.py`` runs the authors' search script in a child process per (algorithm,
seed), through one runner module per codebase (``_official_nb201_runner.py`` for
D-X-Y/AutoDL-Projects, ``_official_beta_darts_runner.py`` for Sunshine-Ye/Beta-DARTS,
``_official_drnas_runner.py`` for xiangning-chen/DrNAS, ``_official_darts_pt_runner.py`` for
ruocwang/darts-pt, ``_official_zero_cost_pt_runner.py`` for qgh1223/zerocostpt). Each
runner module holds a :class:`Codebase` named ``CODEBASE`` (what the harness and the result
file need to know about it) and a ``main`` that runs one search. What they all need is here:
our data slice for a seed, a stand-in for ``torchvision.datasets.CIFAR10`` over our decoded
images, the CPU edits, and the atomic ``result.json``.

Adding a codebase is one new runner file, registered in ``compare_official_nb201.CODEBASES``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Codebase:
    """An authors' codebase as the comparison harness and its result file describe it."""

    repository: str  # owner/name on GitHub
    script: str  # their search script, relative to the checkout
    needed: tuple[str, ...]  # files whose presence identifies a checkout
    ours: Mapping[str, str]  # algorithm name here -> our method in bench_weight_sharing_nb201.METHODS
    configs: Mapping[str, str]  # algorithm name here -> our config under experiments/
    edits: tuple[str, ...]  # every run-time change to their code, as the result file lists it
    settings: str  # their settings that stay as in the checkout
    published: str  # the published figures the result file quotes
    differences: tuple[str, ...] = field(default=())  # where the two codes differ (not edits)
    #: What both sides search (the result file's "slice"): a supernet search unless a runner says otherwise.
    slice: str = (
        "2,000 CIFAR-10 training images balanced per class (half weights, half architecture, drawn from the seed "
        "by nas.darts.search_data.load_data), C=8, 3 cells per stage, 15 epochs, batch 64"
    )
    #: What the runner's ``per_epoch_cell`` holds, as the result file's heading names it.
    trail: str = "Their derived cell after each epoch"


def our_slice(config_file: str, seed: int, data_dir: str) -> tuple[Any, list[int], list[int]]:
    """(whole CIFAR-10 dataset, weight-half indices, architecture-half indices) our search uses for ``seed``."""
    from nas.config_io import apply_overrides, read_yaml
    from nas.darts.config import load_config
    from nas.darts.search_data import load_data
    from nas.data import load_dataset

    raw = apply_overrides(read_yaml(ROOT / "experiments" / config_file), {"seed": seed, "data_dir": data_dir})
    config = load_config(raw, source=config_file)
    data = load_data(config)
    whole = load_dataset(config.dataset, config.data_dir)
    return whole, [int(i) for i in data.train_idx], [int(i) for i in data.val_idx]


def cifar10_standin(whole: Any, train_indices: Sequence[int] | None = None) -> type:
    """A stand-in for ``torchvision.datasets.CIFAR10`` over our decoded images (PIL out, like theirs).

    With ``train_indices`` its training set is exactly those images in that order (for code that
    splits ``range(len(dataset))`` itself); without, all 50,000.
    """
    import numpy as np
    from PIL import Image

    class OurCIFAR10:
        def __init__(self, root: str, train: bool = True, transform: Any = None, download: bool = False) -> None:
            images = whole.train_images if train else whole.test_images
            labels = whole.train_labels if train else whole.test_labels
            keep = list(train_indices) if (train and train_indices is not None) else range(len(labels))
            self.images = [images[i] for i in keep]
            self.targets = [int(labels[i]) for i in keep]
            self.transform = transform

        def __len__(self) -> int:
            return len(self.targets)

        def __getitem__(self, i: int) -> tuple[Any, int]:
            img = Image.fromarray(np.ascontiguousarray(self.images[i].permute(1, 2, 0).numpy()))
            return (self.transform(img) if self.transform is not None else img), self.targets[i]

    return OurCIFAR10


def patch_cuda(script_name: str) -> None:
    """Run CUDA-only code on the CPU: ``.cuda()`` is the identity, ``set_device`` does nothing.

    ``torch.cuda.is_available()`` answers True only when called from their script ``script_name``
    itself (its guard); torch (optimisers, DataLoader) keeps seeing a CPU-only machine.
    """
    import torch

    torch.Tensor.cuda = lambda self, *a, **k: self  # type: ignore[method-assign]
    torch.nn.Module.cuda = lambda self, *a, **k: self  # type: ignore[method-assign]
    real = torch.cuda.is_available

    def available() -> bool:
        return sys._getframe(1).f_code.co_filename.endswith(script_name) or real()

    torch.cuda.is_available = available  # type: ignore[assignment]
    torch.cuda.set_device = lambda *a, **k: None  # type: ignore[assignment]
    torch.backends.cudnn.version = lambda: None  # type: ignore[assignment]


def prepare_their_run(
    config_file: str, seed: int, data_dir: str, out: Path, script_name: str, answer: str = ""
) -> tuple[list[int], list[int], list[str]]:
    """The set-up every DARTS-derived NB201 runner shares; returns (weight half, architecture half, cells).

    Our slice for ``seed`` becomes their CIFAR-10 training set in the order [weight half,
    architecture half] (their 50% split of ``range(len(data))`` then gives each queue our half),
    one thread (their ``set_num_threads`` calls do nothing), the CPU edits for ``script_name``, and a
    stand-in for ``nas_201_api.NASBench201API`` whose ``query_by_arch`` appends the queried cell to
    the returned list and answers ``answer``.
    """
    import torch
    import torchvision.datasets

    out.mkdir(parents=True, exist_ok=True)
    whole, train_idx, val_idx = our_slice(config_file, seed, data_dir)
    if len(train_idx) != len(val_idx):
        raise SystemExit(f"our slice: their 50% split needs equal halves, got {len(train_idx)} and {len(val_idx)}")
    torch.set_num_threads(1)
    torch.set_num_threads = lambda *_a, **_k: None  # type: ignore[assignment]
    patch_cuda(script_name)
    torchvision.datasets.CIFAR10 = cifar10_standin(whole, train_idx + val_idx)  # type: ignore[misc]
    cells: list[str] = []

    class RecordingAPI:
        def __init__(self, *_a: Any, **_k: Any) -> None:
            pass

        def query_by_arch(self, genotype: Any, *_a: Any, **_k: Any) -> str:
            cells.append(genotype.tostr())
            return answer

    sys.modules["nas_201_api"] = types.SimpleNamespace(NASBench201API=RecordingAPI)  # type: ignore[assignment]
    return train_idx, val_idx, cells


class ValidAccuracies(logging.Handler):
    """Collects the validation accuracy their DARTS-derived scripts log after each epoch (``message``)."""

    def __init__(self, message: str = "valid_acc %f") -> None:
        super().__init__()
        self.message = message
        self.values: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == self.message and record.args:
            self.values.append(float(record.args[0]))  # type: ignore[index]


def collect_valid_accuracies(message: str = "valid_acc %f") -> ValidAccuracies:
    """A :class:`ValidAccuracies` added to the root logger right after their ``logging.basicConfig``.

    Added after theirs: a handler present before would make their ``basicConfig`` a no-op (no INFO log).
    Added once, however often their script (and so ``basicConfig``) runs in the process.
    """
    valid = ValidAccuracies(message)
    their_basic_config = logging.basicConfig

    def basic_config(**kwargs: Any) -> None:
        their_basic_config(**kwargs)
        if valid not in logging.getLogger().handlers:
            logging.getLogger().addHandler(valid)

    logging.basicConfig = basic_config  # type: ignore[assignment]
    return valid


def parameters_in_mb(model: Any) -> float:
    """The sum their ``utils.count_parameters_in_MB`` means (theirs: ``np.sum`` of a generator, now a TypeError)."""
    return sum(v.numel() for name, v in model.named_parameters() if "auxiliary" not in name) / 1e6


def topk_accuracy(output: Any, target: Any, topk: Sequence[int] = (1,)) -> list[Any]:
    """Top-k accuracies in percent, as 0-d tensors; stands in for DARTS-era ``utils.accuracy``.

    Theirs calls ``.view(-1)`` on a transposed (non-contiguous) tensor, an error in current PyTorch.
    """
    ranked = output.topk(max(topk), dim=1).indices
    hits = ranked.eq(target.unsqueeze(1))
    return [hits[:, :k].any(dim=1).float().sum() * (100.0 / target.size(0)) for k in topk]


def api_answer() -> str:
    """A ``query_by_arch`` answer in the NAS-Bench-201 API's layout, every accuracy 0.00.

    The ``distill`` of the DrNAS and DARTS-PT NB201 scripts reads lines 5, 7 and 9 (CIFAR-10, CIFAR-100,
    ImageNet16-120) by position.
    """

    def split(name: str) -> str:
        return f"{name} : [loss = 0.000, top1 = 0.00%]"

    lines = [f"line {i}" for i in range(10)]
    lines[5] = "cifar10        " + ", ".join(split(s) for s in ("train", "test"))
    lines[7] = "cifar100       " + ", ".join(split(s) for s in ("train", "valid", "test"))
    lines[9] = "ImageNet16-120 " + ", ".join(split(s) for s in ("train", "valid", "test"))
    return "\n".join(lines)


def commit_of(official: Path) -> str:
    """The checkout's commit, or ``"unknown"``."""
    try:
        return subprocess.run(
            ["git", "-C", str(official), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def run_record(
    algo: str,
    seed: int,
    genotype: Any,
    trail: Sequence[Any],
    valid_acc: Sequence[float],
    wall: float,
    their_argv: Sequence[str],
    official: Path,
    train_idx: Sequence[int],
    val_idx: Sequence[int],
) -> dict[str, Any]:
    """The ``result.json`` every runner writes (their genotype as a string and as nodes, one thread)."""
    return {
        "algo": algo,
        "seed": seed,
        "cell": genotype.tostr(),
        "nodes": [[[op, int(j)] for op, j in node] for node in genotype.nodes],
        "per_epoch_cell": list(trail),
        "per_epoch_valid_acc": list(valid_acc),
        "search_wall_s": round(wall, 1),
        "their_argv": list(their_argv),
        "their_commit": commit_of(official),
        "slice": {"weights": len(train_idx), "architecture": len(val_idx), "first_weight_indices": list(train_idx[:5])},
        "threads": 1,
    }


def write_run_result(out: Path, result: Mapping[str, Any]) -> None:
    """``out/result.json``, atomically: the harness treats its presence as "this search finished"."""
    tmp = out / "result.json.tmp"
    tmp.write_text(json.dumps(result, indent=1))
    os.replace(tmp, out / "result.json")


def runner_main(
    codebase: Codebase, run: Callable[[Path, int, str, Path], Any], description: str, argv: list[str] | None = None
) -> int:
    """The command line every one-algorithm runner shares: ``--official --algo --seed --data-dir --out``."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--official", required=True)
    p.add_argument("--algo", required=True, choices=sorted(codebase.ours))
    p.add_argument("--seed", required=True, type=int)
    p.add_argument("--data-dir", required=True)
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    run(Path(a.official).resolve(), a.seed, str(Path(a.data_dir).resolve()), Path(a.out).resolve())
    return 0
