"""One search of the authors' NAS-Bench-201 code (AutoDL-Projects) on our CPU-size slice, in its own process.

``compare_official_nb201.py`` starts this once per (algorithm, seed). It runs the checkout's
own ``exps/NATS-algos/search-cell.py`` as ``__main__`` (their argument parser, their ``main``,
their model, optimisers, schedule and data pipeline) after a few run-time edits made here,
never in their files, and each one listed in :data:`EDITS` so the result file can say what
differs from running their script on a GPU:

* CUDA: ``.cuda()`` on tensors and modules returns the object itself, and ``torch.cuda.is_available``
  answers True for their ``assert`` (pinned memory is switched off in their loaders instead).
* Data: ``torchvision.datasets.CIFAR10`` inside their dataset module is replaced by the same
  CIFAR-10 images decoded by ``nas.data`` from ``--data-dir`` (their transforms are kept), and
  their ``cifar-split.txt`` (25,000 + 25,000 images) by a split file holding exactly our
  slice for the seed (``nas.darts.search_data.load_data`` on our config): the weight half as their
  ``train`` and the architecture half as their ``valid``. Their loaders run with 0 workers.
* ``nats_bench`` (the benchmark API they query only with ``--use_api 1``) is stubbed; we pass 0.
* Their checkpoints are still written (inside ``--out``); their per-epoch genotypes are read
  from the dictionaries passed to ``save_checkpoint``, the final one from the network itself.

Why a separate process: the edits patch ``torch`` globally, which must never leak into the
harness or into our own searches.
"""

from __future__ import annotations

import argparse
import json
import runpy
import sys
import time
import types
from pathlib import Path
from typing import Any

from _official_common import ROOT, Codebase, cifar10_standin, commit_of, our_slice, patch_cuda, write_run_result

#: name in the result file -> (our config under experiments/, their --algo, extra options of theirs).
ALGOS: dict[str, tuple[str, str, list[str]]] = {
    "gdas": ("nb201_gdas.yaml", "gdas", []),
    # Our quick DARTS config uses an architecture learning rate 10x the paper's (3e-3): the same here.
    "darts-v1": ("darts_nb201_quick.yaml", "darts-v1", ["--arch_learning_rate", "0.003"]),
}

#: Every run-time change to the authors' code, as written into the result file.
EDITS = (
    "CPU: torch.Tensor.cuda and torch.nn.Module.cuda return the object unchanged (torch.cuda.set_device does "
    "nothing; their script does not call it); torch.cuda.is_available() "
    "returns True when called from search-cell.py itself (only), so that main()'s "
    "`assert torch.cuda.is_available()` passes; torch.backends.cudnn.version() returns None (their "
    "prepare_logger prints it); their DataLoaders' pin_memory is switched off.",
    "Data source: torchvision.datasets.CIFAR10 (as seen by xautodl/datasets/get_dataset_with_transform.py) "
    "is replaced by a dataset over the same 50,000 + 10,000 CIFAR-10 images decoded by our nas.data from "
    "--data-dir (cifar10-jpeg.tar.gz), returned as PIL images so their own train/test transforms apply "
    "(random crop 32 pad 4, horizontal flip, their normalisation constants).",
    "Data slice: their configs/nas-benchmark/cifar-split.txt (25,000 train / 25,000 valid) is replaced by a "
    "split file in the run directory holding our slice for the seed (nas.darts.search_data.load_data on our "
    "config: 2,000 images balanced per class; our weight half as their 'train', our architecture half as "
    "their 'valid'); their SearchDataset, DataLoaders (shuffle, batch 64, valid batch 512) are unchanged "
    "except num_workers=0.",
    "PyTorch compatibility: xautodl.utils.obtain_accuracy is replaced by an equivalent top-k accuracy (theirs "
    "calls .view(-1) on a non-contiguous tensor, an error in current PyTorch; same numbers).",
    "nats_bench is not installed: a stub module stands in for `from nats_bench import create`; we pass "
    "--use_api 0, so it is never called.",
    "Options of theirs set to our CPU size: --channel 8 --num_cells 3 --overwite_epochs 15 (their defaults: "
    "16, 5, and 100 epochs from weight-sharing.config); --workers 1 (their torch.set_num_threads(workers): one "
    "thread); --use_api 0; --save_dir inside the run directory.",
    "darts-v1 only: --arch_learning_rate 0.003 (their default 3e-4, the paper's), because our "
    "darts_nb201_quick.yaml uses 3e-3 (10x the paper) at this size; GDAS keeps their 3e-4.",
)


CODEBASE = Codebase(
    repository="D-X-Y/AutoDL-Projects",
    script="exps/NATS-algos/search-cell.py",
    needed=("exps/NATS-algos/search-cell.py", "xautodl/models/cell_searchs/generic_model.py"),
    ours={"gdas": "GDAS", "darts-v1": "DARTS 1st order"},
    configs={algo: f"experiments/{file}" for algo, (file, _, _) in ALGOS.items()},
    edits=EDITS,
    settings=(
        "weight-sharing.config (SGD lr 0.025 Nesterov momentum 0.9, weight decay 5e-4, cosine to 0.001, batch 64, "
        "no gradient clipping), Adam on the architecture (lr 3e-4 except darts-v1 here 3e-3, betas (0.5, 0.999), "
        "weight decay 1e-3, eps 1e-8), GDAS tau 10 -> 0.1 linearly over the epochs, BN affine=0 and "
        "track_running_stats=0, no drop path; the weight step then the architecture step on each batch pair."
    ),
    published="Published at paper scale (NAS-Bench-201 paper): GDAS 93.61 ± 0.09, DARTS-V1 54.30 ± 0.00.",
    # Facts about the two codes, not edits: what a difference beyond noise would be looked for in first.
    differences=(
        "Weight optimiser: theirs SGD with Nesterov momentum; ours plain momentum (nb201_gdas.yaml says so).",
        "Gradient clipping: ours clips the weight gradients at norm 5 (the NB201 paper's GDAS script); theirs "
        "(NATS search-cell.py) does not clip.",
        "Step order on each batch: theirs updates the weights, then the architecture; ours the architecture, "
        "then the weights.",
        "Architecture batches: theirs pairs every weight image with an architecture image drawn at random with "
        "replacement from the architecture half (SearchDataset); ours reads the architecture half in a shuffled "
        "order.",
        "Input normalisation: theirs fixed CIFAR-10 constants; ours the mean and std of the training images.",
    ),
)


def their_argv(official: Path, algo: str, seed: int, data_dir: str, save_dir: Path) -> list[str]:
    """The command line given to their ``search-cell.py`` (everything not named keeps their default)."""
    _, their_algo, extra = ALGOS[algo]
    return [
        str(official / "exps" / "NATS-algos" / "search-cell.py"),
        "--dataset",
        "cifar10",
        "--data_path",
        data_dir,
        "--algo",
        their_algo,
        "--rand_seed",
        str(seed),
        "--channel",
        "8",
        "--num_cells",
        "3",
        "--overwite_epochs",
        "15",
        "--workers",
        "1",
        "--use_api",
        "0",
        "--config_path",
        str(official / "configs" / "nas-benchmark" / "algos" / "weight-sharing.config"),
        "--save_dir",
        str(save_dir),
        *extra,
    ]


def _topk_accuracy(output: Any, target: Any, topk: tuple[int, ...] = (1,)) -> list[Any]:
    """Top-k accuracy in percent, one 1-element tensor per k (what their obtain_accuracy returns).

    Theirs calls ``.view(-1)`` on a transposed slice, which current PyTorch refuses (non-contiguous).
    """
    ranked = output.topk(max(topk), dim=1).indices
    hits = ranked.eq(target.reshape(-1, 1))
    return [hits[:, :k].any(dim=1).float().sum().reshape(1).mul_(100.0 / target.size(0)) for k in topk]


def run(official: Path, algo: str, seed: int, data_dir: str, out: Path) -> dict[str, Any]:
    """Run their search once and return what it found (written to ``out/result.json`` too)."""
    out.mkdir(parents=True, exist_ok=True)
    whole, train_idx, val_idx = our_slice(ALGOS[algo][0], seed, data_dir)
    split_dir = out / "split"
    split_dir.mkdir(exist_ok=True)
    # Their load_config format: {"key": ["type", [values]]}.
    split = {"train": ["int", [str(i) for i in train_idx]], "valid": ["int", [str(i) for i in val_idx]]}
    (split_dir / "cifar-split.txt").write_text(json.dumps(split))

    sys.path.insert(0, str(official))
    sys.modules["nats_bench"] = types.SimpleNamespace(create=_no_api)  # type: ignore[assignment]
    patch_cuda("search-cell.py")
    import xautodl.datasets as xdatasets
    import xautodl.datasets.get_dataset_with_transform as gdt
    import xautodl.models as xmodels
    import xautodl.procedures as xprocedures
    import xautodl.utils as xutils

    xutils.obtain_accuracy = _topk_accuracy

    gdt.dset = types.SimpleNamespace(CIFAR10=cifar10_standin(whole))
    their_loaders = xdatasets.get_nas_search_loaders

    def loaders(train_data: Any, valid_data: Any, dataset: str, config_root: str, batch: Any, workers: int) -> Any:
        made = their_loaders(train_data, valid_data, dataset, str(split_dir), batch, 0)
        for loader in made:
            loader.pin_memory = False
        return made

    xdatasets.get_nas_search_loaders = loaders
    seen: dict[str, Any] = {"network": None, "epochs": {}, "valid": {}}
    their_net = xmodels.get_cell_based_tiny_net

    def net(config: Any) -> Any:
        seen["network"] = their_net(config)
        return seen["network"]

    xmodels.get_cell_based_tiny_net = net
    their_save = xprocedures.save_checkpoint

    def save(state: Any, filename: Any, logger: Any) -> Any:
        if isinstance(state, dict) and "genotypes" in state:
            seen["epochs"] = {int(k): g.tostr() for k, g in state["genotypes"].items() if int(k) >= 0}
            seen["valid"] = {int(k): float(v) for k, v in state["valid_accuracies"].items() if k != "best"}
        return their_save(state, filename, logger)

    xprocedures.save_checkpoint = save

    argv = their_argv(official, algo, seed, data_dir, out / "their_output")
    sys.argv = argv
    t0 = time.perf_counter()
    runpy.run_path(argv[0], run_name="__main__")
    wall = time.perf_counter() - t0
    network = seen["network"]
    genotype = network.genotype
    epochs = [seen["epochs"][k] for k in sorted(seen["epochs"])]
    result = {
        "algo": algo,
        "seed": seed,
        "cell": genotype.tostr(),
        "nodes": [[[op, int(j)] for op, j in node] for node in genotype.nodes],
        "per_epoch_cell": epochs,
        "per_epoch_valid_acc": [seen["valid"][k] for k in sorted(seen["valid"])],
        "search_wall_s": round(wall, 1),
        "their_argv": argv[1:],
        "their_commit": commit_of(official),
        "slice": {"weights": len(train_idx), "architecture": len(val_idx), "first_weight_indices": train_idx[:5]},
        "threads": int(__import__("torch").get_num_threads()),
    }
    write_run_result(out, result)
    return result


def _no_api(*_a: Any, **_k: Any) -> None:
    raise RuntimeError("nats_bench stub: the comparison runs their search with --use_api 0")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--official", required=True)
    p.add_argument("--algo", required=True, choices=sorted(ALGOS))
    p.add_argument("--seed", required=True, type=int)
    p.add_argument("--data-dir", required=True)
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    run(Path(a.official).resolve(), a.algo, a.seed, a.data_dir, Path(a.out).resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
