"""One search of the authors' β-DARTS NAS-Bench-201 code (Sunshine-Ye/Beta-DARTS) on our CPU-size slice.

``compare_official_nb201.py --codebase beta-darts`` starts this once per seed. It runs the
checkout's own ``nasbench201/train_search.py`` as ``__main__`` (their argument parser, model,
Beta-Decay architect, optimisers, schedule and data pipeline) after the run-time edits listed in
:data:`EDITS`, made here and never in their files. Their script queries the NAS-Bench-201 API
with the derived cell after every epoch; a stub records those cells instead, so the harness
looks them up in our table. Why a separate process: the edits patch ``torch`` globally.
"""

from __future__ import annotations

import os
import runpy
import sys
import time
from pathlib import Path
from typing import Any

from _official_common import (
    Codebase,
    collect_valid_accuracies,
    parameters_in_mb,
    prepare_their_run,
    run_record,
    runner_main,
    write_run_result,
)

#: Our benchmark row "beta-DARTS": darts_nb201_quick.yaml with method beta_darts (the authors' schedule).
OUR_CONFIG = "darts_nb201_quick.yaml"
#: Their network's cells per stage is a literal (N=5) in train_search.py; ours is 3 at CPU size.
CELLS_PER_STAGE = 3

EDITS = (
    "CPU: torch.Tensor.cuda and torch.nn.Module.cuda return the object unchanged; torch.cuda.set_device does "
    "nothing; torch.cuda.is_available() returns True when called from train_search.py itself (only), so its "
    "no-GPU exit is not taken.",
    "Threads: their main() calls torch.set_num_threads(3); the runner sets 1 thread first and makes that call "
    "do nothing (one thread per search, like ours).",
    "Data: torchvision.datasets.CIFAR10 is replaced by our slice for the seed (nas.darts.search_data.load_data on "
    "darts_nb201_quick.yaml: 2,000 training images balanced per class) decoded by our nas.data from --data-dir, "
    "as PIL images in the order [our weight half, our architecture half], so their own split of "
    "range(len(data)) at 50% gives their train queue exactly our weight half and their valid queue our "
    "architecture half; their transforms (random crop 32 pad 4, flip, their normalisation) apply.",
    "Network size: their train_search.py builds Network(C=init_channels, N=5, ...) with a literal N; the "
    "runner passes N=3 (ours at CPU size) and keeps every other argument.",
    "nas_201_api is not installed: a stub stands in for NASBench201API; its query_by_arch records the cell "
    "their script derives after each epoch (looked up in our table by the harness) and their distill() of "
    "the answer returns zeros (only written to their TensorBoard log).",
    "NumPy compatibility: their optimizers/darts/utils.count_parameters_in_MB (np.sum of a generator, a "
    "TypeError in current NumPy; only logged) is replaced by the same sum.",
    "Options of theirs set to our CPU size and our config: --init_channels 8 --epochs 15 --batch_size 64 "
    "--weight_decay 5e-4 --arch_learning_rate 0.003 (their defaults: 16, 100, 64, 3e-4, 3e-4); learning rate "
    "0.025 -> 0.001, momentum 0.9, gradient clip 5, architecture Adam betas (0.5, 0.999) and weight decay 1e-3 "
    "are their defaults and ours; --seed; the experiment directory ('../experiments/...' relative to the "
    "working directory) inside the run directory.",
)

CODEBASE = Codebase(
    repository="Sunshine-Ye/Beta-DARTS",
    script="nasbench201/train_search.py",
    needed=("nasbench201/train_search.py", "nasbench201/model.py", "optimizers/darts/architect.py"),
    ours={"beta-darts": "beta-DARTS"},
    configs={"beta-darts": f"experiments/{OUR_CONFIG} with method.name=beta_darts"},
    edits=EDITS,
    settings=(
        "first-order DARTS architect (Adam) with their Beta-Decay term 50 * epoch / 100 * mean logsumexp(alpha) "
        "added to the validation loss (optimizers/darts/architect.py); cosine learning rate per epoch "
        "(scheduler.step() before the epoch); each architecture batch is the first batch of a fresh shuffled "
        "pass over the architecture half; the architecture step then the weight step (on softmaxed alphas); "
        "gradient clipping over all parameters; BN affine=False, track_running_stats=True."
    ),
    published="Published at paper scale (β-DARTS paper, NAS-Bench-201 CIFAR-10 test): 94.36 ± 0.00.",
    differences=(
        "Weight decay: their default 3e-4; ours 5e-4 (the NAS-Bench-201 paper's), passed to theirs here.",
        "Their gradient clipping runs over model.parameters(), which include the alphas (whose gradient from "
        "the weight step is nonzero there); ours clips the weights only.",
        "Their architecture batch is next(iter(valid_queue)) on every step (a random batch, with replacement "
        "across steps); ours reads the architecture half in a shuffled order.",
        "Input normalisation: theirs fixed CIFAR-10 constants; ours the mean and std of the training images.",
    ),
)


def their_argv(official: Path, seed: int, data_dir: str) -> list[str]:
    """The command line given to their ``train_search.py`` (everything not named keeps their default)."""
    return [
        str(official / CODEBASE.script),
        "--data",
        data_dir,
        "--dataset",
        "cifar10",
        "--seed",
        str(seed),
        "--init_channels",
        "8",
        "--epochs",
        "15",
        "--batch_size",
        "64",
        "--weight_decay",
        "5e-4",
        "--arch_learning_rate",
        "0.003",
    ]


def run(official: Path, seed: int, data_dir: str, out: Path) -> dict[str, Any]:
    """Run their search once and return what it found (written to ``out/result.json`` too)."""

    train_idx, val_idx, cells = prepare_their_run(OUR_CONFIG, seed, data_dir, out, "train_search.py")
    seen: dict[str, Any] = {"network": None}
    sys.path.insert(0, str(official))
    import nasbench201.model as their_model

    their_init = their_model.Network.__init__  # their class stays (its __init__ names it in super())

    def init(self: Any, C: int, N: int, *args: Any, **kwargs: Any) -> None:  # noqa: N803 - their argument names
        their_init(self, C, CELLS_PER_STAGE, *args, **kwargs)
        seen["network"] = self

    their_model.Network.__init__ = init
    their_model.distill = lambda _result: (0.0,) * 8
    import optimizers.darts.utils as their_utils

    their_utils.count_parameters_in_MB = parameters_in_mb
    valid = collect_valid_accuracies()
    workdir = out / "cwd"  # their experiment dir is '../experiments/...' from here: inside the run directory
    workdir.mkdir(exist_ok=True)
    os.chdir(workdir)
    argv = their_argv(official, seed, data_dir)
    sys.argv = argv
    t0 = time.perf_counter()
    runpy.run_path(argv[0], run_name="__main__")
    wall = time.perf_counter() - t0
    genotype = seen["network"].genotype()
    result = run_record("beta-darts", seed, genotype, cells, valid.values, wall, argv[1:], official, train_idx, val_idx)
    write_run_result(out, result)
    return result


def main(argv: list[str] | None = None) -> int:
    return runner_main(CODEBASE, run, __doc__.split("\n\n")[0], argv)


if __name__ == "__main__":
    sys.exit(main())
