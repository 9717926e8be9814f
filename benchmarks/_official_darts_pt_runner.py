"""One search of the authors' DARTS-PT NAS-Bench-201 code (ruocwang/darts-pt) on our CPU-size slice.

``compare_official_nb201.py --codebase darts-pt`` starts this once per seed. Their pipeline has
two runs of ``nasbench201/train_search.py`` (``exp_scripts/darts-201.sh``, then
``exp_scripts/darts-proj-201.sh``): the DARTS supernet's training, which saves a checkpoint,
then the perturbation-based projection resumed from it. Both run here, in this order and in
this process, as ``__main__`` (their argument parser, network, architect, schedule, data
pipeline and ``nasbench201/projection.py``), after the run-time edits listed in :data:`EDITS`,
made here and never in their files. Their script queries the NAS-Bench-201 API with the
derived cell; a stub records those cells instead, so the harness looks them up in our table.
Why a separate process: the edits patch ``torch`` globally.
"""

from __future__ import annotations

import os
import runpy
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from _official_common import (
    Codebase,
    api_answer,
    collect_valid_accuracies,
    parameters_in_mb,
    prepare_their_run,
    run_record,
    runner_main,
    topk_accuracy,
    write_run_result,
)

#: Our benchmark row "DARTS-PT": darts_nb201_quick.yaml (DARTS first order) with selection darts_pt.
OUR_CONFIG = "darts_nb201_quick.yaml"
#: Their train_search.py builds TinyNetworkDarts(..., N=5, ...) with a literal N; ours is 3 at CPU size.
CELLS_PER_STAGE = 3
#: Supernet epochs at our CPU size (their default 100); the projection resumes from this epoch's checkpoint.
EPOCHS = 15
#: Tuning epochs between two edge decisions: their darts-proj-201.sh's --proj_intv (ours: tune_epochs 5).
PROJ_INTV = 5
#: Their experiment name: the exp_scripts file name, as their shell scripts pass it (--save $id).
SAVE = "darts-201"

EDITS = (
    "CPU: torch.Tensor.cuda and torch.nn.Module.cuda return the object unchanged; torch.cuda.set_device does "
    "nothing; torch.cuda.is_available() returns True when called from train_search.py itself (only), so its "
    "no-GPU exit is not taken; --gpu 0 (their default 'auto' picks a GPU by nvidia-smi).",
    "Threads: their main() calls torch.set_num_threads(3); the runner sets 1 thread first and makes that call "
    "do nothing (one thread per search, like ours).",
    "Data: torchvision.datasets.CIFAR10 is replaced by our slice for the seed (nas.darts.search_data.load_data on "
    "darts_nb201_quick.yaml: 2,000 training images balanced per class) decoded by our nas.data from --data-dir, "
    "as PIL images in the order [our weight half, our architecture half], so their own split of "
    "range(len(data)) at --train_portion 0.5 gives their train queue exactly our weight half and their valid "
    "queue our architecture half; their transforms (random crop 32 pad 4, flip, their normalisation) apply. "
    "Their unused test set is our CIFAR-10 test images.",
    "Network size: their TinyNetwork (the base of TinyNetworkDarts and TinyNetworkDartsProj) is built with N=3 "
    "(ours at CPU size) instead of their literal N=5; every other argument is kept.",
    "Two runs of their script in one process, as their two exp_scripts run them: --method darts --save "
    "darts-201 --ckpt_interval 15 (so the last epoch's checkpoint_15.pth.tar is written), then --method "
    "darts-proj --resume_epoch 15 --resume_expid search-darts-201-SEED --dev proj --edge_decision random "
    "--proj_crit acc --proj_intv 5 (their darts-proj-201.sh). Their first run copies *.py and "
    "../exp_scripts/darts-201.sh into its experiment directory: the runner puts a copy of their "
    "exp_scripts/darts-201.sh there, inside the run directory.",
    "nas_201_api is not installed: a stub stands in for NASBench201API; its query_by_arch records the cell "
    "their script derives (after each supernet epoch, and the projected cell at the end; looked up in our table "
    "by the harness) and answers a text in the API's layout with every accuracy 0.00, which their own distill() "
    "parses (the figures only reach their log and TensorBoard).",
    "NumPy and PyTorch compatibility: their nasbench201/utils.count_parameters_in_MB (np.sum of a generator) and "
    "utils.accuracy (.view(-1) on a transposed tensor) fail in current versions and are replaced by the same "
    "sum and the same top-k accuracy in percent (both only logged, or compared across operations alike).",
    "Options of theirs set to our CPU size and our config: --init_channels 8 --epochs 15 --batch_size 64 "
    "--weight_decay 5e-4 --arch_learning_rate 0.003 (their defaults: 16, 100, 64, 3e-4, 3e-4); learning rate "
    "0.025 -> 0.001, momentum 0.9, gradient clip 5, architecture Adam betas (0.5, 0.999) and weight decay 1e-3 "
    "are their defaults and ours; --seed; the experiment directory ('../experiments/nasbench201/...' relative to "
    "the working directory) inside the run directory.",
)

CODEBASE = Codebase(
    repository="ruocwang/darts-pt",
    script="nasbench201/train_search.py",
    needed=(
        "nasbench201/train_search.py",
        "nasbench201/projection.py",
        "nasbench201/search_model.py",
        "exp_scripts/darts-201.sh",
    ),
    ours={"darts-pt": "DARTS-PT"},
    configs={"darts-pt": f"experiments/{OUR_CONFIG} with selection.name=darts_pt"},
    edits=EDITS,
    settings=(
        "supernet: first-order DARTS (Adam architect on the validation loss), cosine learning rate per epoch, "
        "every step a random batch of each half (next(iter(queue))); projection (nasbench201/projection.py): "
        "edges in random order (np.random seeded by --seed), for each operation of the edge the supernet's "
        "accuracy on the whole architecture half with that operation's weight set to 0 (batch-norm in training "
        "mode), keep the operation whose removal gives the lowest accuracy; 5 tuning epochs between decisions at "
        "learning rate 0.0025 (constant), the alphas still learning; BN affine=False, track_running_stats=True."
    ),
    published="Published at paper scale: not quoted here (the repository's README gives no NAS-Bench-201 figure).",
    differences=(
        "Weight decay: their default 3e-4; ours 5e-4 (the NAS-Bench-201 paper's), passed to theirs here.",
        "Their supernet step draws a random batch of each half with replacement (next(iter(queue)) per step); ours "
        "reads both halves in a shuffled order.",
        "Input normalisation: theirs fixed CIFAR-10 constants; ours the mean and std of the training images.",
    ),
    trail="Their supernet's derived cell (argmax) after each training epoch, before the projection",
)


def their_argvs(official: Path, seed: int, data_dir: str) -> tuple[list[str], list[str]]:
    """The command lines of their two runs (supernet, projection); everything not named keeps their default."""
    script = str(official / CODEBASE.script)
    common = ["--dataset", "cifar10", "--data", data_dir, "--save", SAVE, "--gpu", "0", "--seed", str(seed)]
    common += ["--init_channels", "8", "--epochs", str(EPOCHS), "--batch_size", "64", "--weight_decay", "5e-4"]
    common += ["--arch_learning_rate", "0.003"]
    supernet = [script, "--method", "darts", *common, "--ckpt_interval", str(EPOCHS)]
    projection = [script, "--method", "darts-proj", *common, "--resume_epoch", str(EPOCHS)]
    projection += ["--resume_expid", f"search-{SAVE}-{seed}", "--dev", "proj", "--edge_decision", "random"]
    projection += ["--proj_crit", "acc", "--proj_intv", str(PROJ_INTV)]
    return supernet, projection


def run(official: Path, seed: int, data_dir: str, out: Path) -> dict[str, Any]:
    """Run their two-stage search once and return what it found (written to ``out/result.json`` too)."""
    # An interrupted earlier attempt left their experiment directory: their script would ask on stdin.
    shutil.rmtree(out / "experiments", ignore_errors=True)
    train_idx, val_idx, cells = prepare_their_run(OUR_CONFIG, seed, data_dir, out, "train_search.py", api_answer())
    seen: dict[str, Any] = {"network": None}
    sys.path.insert(0, str(official))  # their modules import as nasbench201.*
    import nasbench201.search_model as their_model
    import nasbench201.utils as their_utils

    their_init = their_model.TinyNetwork.__init__  # their classes stay (their __init__s name them in super())

    def init(self: Any, C: int, N: int, *args: Any, **kwargs: Any) -> None:  # noqa: N803 - their argument names
        their_init(self, C, CELLS_PER_STAGE, *args, **kwargs)
        seen["network"] = self

    their_model.TinyNetwork.__init__ = init
    their_utils.count_parameters_in_MB = parameters_in_mb
    their_utils.accuracy = topk_accuracy
    valid = collect_valid_accuracies("valid_acc  %f")  # their per-epoch line (two spaces)

    workdir = out / "cwd"  # their experiment dir is '../experiments/nasbench201/...' from here
    workdir.mkdir(exist_ok=True)
    (out / "exp_scripts").mkdir(exist_ok=True)
    shutil.copyfile(official / "exp_scripts" / f"{SAVE}.sh", out / "exp_scripts" / f"{SAVE}.sh")
    os.chdir(workdir)
    supernet, projection = their_argvs(official, seed, data_dir)
    t0 = time.perf_counter()
    sys.argv = supernet
    runpy.run_path(supernet[0], run_name="__main__")
    epoch_cells, epoch_valid = list(cells), list(valid.values)
    sys.argv = projection
    runpy.run_path(projection[0], run_name="__main__")
    wall = time.perf_counter() - t0
    genotype = seen["network"].genotype()
    if len(cells) != len(epoch_cells) + 1 or cells[-1] != genotype.tostr():
        raise SystemExit("their projection did not query its final cell once: the run did not finish as theirs does")
    result = run_record(
        "darts-pt", seed, genotype, epoch_cells, epoch_valid, wall, supernet[1:], official, train_idx, val_idx
    )
    result["their_argv_projection"] = projection[1:]
    write_run_result(out, result)
    return result


def main(argv: list[str] | None = None) -> int:
    return runner_main(CODEBASE, run, __doc__.split("\n\n")[0], argv)


if __name__ == "__main__":
    sys.exit(main())
