"""One search of the authors' Zero-Cost-PT NAS-Bench-201 code on our CPU-size slice, in its own process.

``compare_official_nb201.py --codebase zero-cost-pt`` starts this once per seed. One search is
their two-stage pipeline ``exp_scripts/zerocostpt_nb201_pipeline.sh``: the checkout's own
``nasbench201/networks_proposal.py`` (a pool of discretisations of an untrained supernet, edge
by edge, scored by their ``jacob`` proxy) then ``zerocostnas/post_validate.py`` (each distinct
cell of the pool built as a network and scored over several batches; the best is the result),
both run as ``__main__`` in this process, one after the other, each re-seeding itself as it
does when the shell script starts it. The run-time edits listed in :data:`EDITS` are made here,
never in their files.

Their ``jacob`` is NASWOT (the log-determinant of the ReLU binary-code kernel, Mellor et al.'s
second version), the proxy our config names ``naswot``: their pipeline's default metric is the
one we use.

Their scripts use paths relative to the working directory (``../experiments/...``,
``../exp_scripts/...``): both stages run in ``OUT/cwd``, so everything they write lands under
``OUT`` (``OUT/exp_scripts`` is a link to the checkout's, whose pipeline script they archive).
A stale ``OUT/experiments`` of an interrupted attempt is removed first (their scripts would
otherwise stop at an "override? [y/n]" prompt). Why a separate process: the edits patch
``torch`` globally.

In the result file ``per_epoch_cell`` holds the proposal stage's pool in its order (this method
has no epochs: the harness looks each pool member up in the table) and ``per_epoch_valid_acc``
is empty (no validation accuracy is ever computed).
"""

from __future__ import annotations

import json
import logging
import os
import runpy
import shutil
import sys
import time
import types
from pathlib import Path
from typing import Any

from _official_common import (
    Codebase,
    cifar10_standin,
    our_slice,
    patch_cuda,
    run_record,
    runner_main,
    write_run_result,
)

#: Our benchmark row "Zero-Cost-PT (CPU size)".
OUR_CONFIG = "zero_cost_pt_nb201_cpu.yaml"
#: Their supernet's cells per stage is a literal (N=5) in networks_proposal.py; ours is 3 at CPU size.
CELLS_PER_STAGE = 3
#: Channels of our supernet and validation networks (their --init_channels; the API's C=16 for validation).
CHANNELS = 8
#: Their pipeline script's name (its --save id, and the file both stages archive).
PIPELINE_ID = "zerocostpt_nb201_pipeline"
PROPOSAL = "nasbench201/networks_proposal.py"
VALIDATION = "zerocostnas/post_validate.py"

EDITS = (
    "CPU: torch.Tensor.cuda and torch.nn.Module.cuda return the object unchanged, and so does Module.to(a CUDA "
    "device) (their validation scorer moves each network to cuda:GPU); torch.cuda.set_device does nothing; "
    "torch.cuda.is_available() returns True when called from networks_proposal.py itself (only), so its "
    "no-GPU exit is not taken; --gpu 0 (theirs: auto, which asks gpustat for the least-used GPU).",
    "Threads: networks_proposal.py's main() calls torch.set_num_threads(3); the runner sets 1 thread first and "
    "makes that call do nothing; every DataLoader of theirs runs with num_workers=0 (post_validate.py: 4) and "
    "pin_memory=False (one thread per search, like ours; the augmentations then draw from the main process's "
    "random stream instead of the workers').",
    "Data: torchvision.datasets.CIFAR10 is replaced by our slice for the seed (nas.darts.search_data.load_data on "
    "zero_cost_pt_nb201_cpu.yaml: 2,000 training images balanced per class) decoded by our nas.data from "
    "--data-dir, as PIL images in the order [our weight half, our architecture half]. Both of their stages read "
    "the start of the training set only (their 'valid' set is the test set, never used): the proposal samples "
    "random batches from the first train_portion=50% (= exactly our weight half, as ours uses its weight "
    "loader), post-validation from the first validate_rounds x batch_size = 640 images (= the first 640 of our "
    "weight half). Our architecture half is never read, by either side. Their transforms (random crop 32 pad "
    "4, flip, their normalisation constants) apply.",
    "Network size: networks_proposal.py builds TinyNetworkDartsProj(C=init_channels, N=5, ...) with a literal "
    "N (twice: the supernet and an unused one-channel-stem copy); the runner passes N=3 (ours at CPU size) and "
    "keeps every other argument. Their validation networks take C and N from the NAS-Bench-201 API's "
    "get_net_config (C=16, N=5); the stub answers C=8, N=3 (ours).",
    "nas_201_api is not installed: a stub stands in for NASBench201API (its data file is not loaded). "
    "query_index_by_arch and get_net_config record the cells post_validate.py builds (get_net_config answers "
    "the cell itself with C=8, N=3); query_by_arch records the final cell (looked up in our table by the "
    "harness) and answers a text in the API's layout with every accuracy 0.00, which their distill() parses "
    "and which is only logged.",
    "Modules their scripts import for other search spaces only (never called in NAS-Bench-201 with the jacob "
    "proxy) and whose dependencies are not installed are stubbed: foresight.pruners (zero-cost-nas, used for "
    "proxies other than jacob), pycls.models.nas.nas (needs yacs; DARTS-space networks) and sota.cnn.hdf5 "
    "(needs h5py; ImageNet).",
    "NumPy compatibility: their nasbench201/utils.count_parameters_in_MB (np.sum of a generator, a TypeError in "
    "current NumPy; only logged) is replaced by the same sum.",
    "Options of theirs set to our CPU size and our config, in both stages: --batch_size 64 (the pipeline "
    "script: 256), --validate_rounds 10 (the pipeline script: 100; post_validate.py's own default is 10), "
    "--pool_size 10, --edge_decision random and --proj_crit jacob (the pipeline script's values, ours too), "
    "--init_channels 8 for the proposal supernet (default 16), --seed, --save zerocostpt_nb201_pipeline (the "
    "script's id) and --ckpt_path as the script passes it. The two stages run in one process, one after the "
    "other (the script starts two); each seeds itself as in its own process, and the proposal's log handlers "
    "are closed before post-validation starts.",
)

CODEBASE = Codebase(
    repository="qgh1223/zerocostpt",
    script=f"{PROPOSAL} then {VALIDATION} (exp_scripts/{PIPELINE_ID}.sh)",
    needed=(f"exp_scripts/{PIPELINE_ID}.sh", PROPOSAL, VALIDATION, "nasbench201/init_projection.py"),
    ours={"zero-cost-pt": "Zero-Cost-PT (CPU size)"},
    configs={"zero-cost-pt": f"experiments/{OUR_CONFIG}"},
    edits=EDITS,
    settings=(
        "untrained supernet (no training stage), BN affine=False with running statistics, scored in eval mode; "
        "alphas 1e-3 * randn, new ones for every pool member, the supernet's weights shared by the pool; edge "
        "order random (np.random.choice); on each edge every operation's weight is set to 0 in softmax(alpha) "
        "(decided edges one-hot) and the operation whose removal gives the lowest NASWOT score is kept "
        "(np.nanargmin), one fresh random batch per edge; post-validation builds each distinct pool cell as a "
        "fresh network (eval mode) and sums its NASWOT score over the validation batches, the best "
        "(np.nanargmax) is the result; torch.autograd anomaly detection on in the supernet's forward. "
        "The NAS-Bench-201 files (nasbench201/, zerocostnas/, Scorers/, Layers/, the pipeline script) are "
        "byte-identical in visionbasicagent/zerocost_operation_score, the later (AAAI 2023) copy of the code."
    ),
    published=(
        "Published figure: not found (neither the checkout's README nor any paper text reachable with the "
        "search tool gives Zero-Cost-PT's NAS-Bench-201 CIFAR-10 test accuracy; docs/results.md quotes ~94, "
        "unverified)."
    ),
    slice=(
        "2,000 CIFAR-10 training images balanced per class (drawn from the seed by "
        "nas.darts.search_data.load_data; only the weight half is read), an untrained supernet of C=8 and 3 cells "
        "per stage (no training), a pool of 10 discretisations, 10 validation rounds of batch 64"
    ),
    trail="Their pool of discretisations, in order",
    differences=(
        "Validation data: theirs scores every pool cell on the same 640 images (the first 640 of the weight "
        "half, shuffled, re-augmented); ours draws each cell's 10 batches from the running stream over the "
        "whole weight half (different images per cell).",
        "Random streams: their edge order comes from NumPy (np.random.choice), their alphas and batches from "
        "torch's global generator; ours from a torch.Generator of its own. Same seed, different draws.",
        "Input normalisation: theirs fixed CIFAR-10 constants; ours the mean and std of the training images.",
        "Proposal batches: theirs next(iter(loader)) per edge (a random batch of the weight half, with "
        "replacement across edges); ours reads the weight half in shuffled passes.",
    ),
)

#: What their distill() parses from NASBench201API.query_by_arch: lines 5, 7 and 9 (all accuracies 0.00).
_API_ANSWER = "\n".join(
    [
        "stub of NASBench201API.query_by_arch (the harness looks the cell up in our table)",
        "",
        "",
        "",
        "",
        "cifar10 train : [loss = 0.000, top1 = 00.00%], test : [loss = 0.000, top1 = 00.00%]",
        "",
        "cifar100 train : [loss = 0.000, top1 = 00.00%], valid : [loss = 0.000, top1 = 00.00%], "
        "test : [loss = 0.000, top1 = 00.00%]",
        "",
        "ImageNet16-120 train : [loss = 0.000, top1 = 00.00%], valid : [loss = 0.000, top1 = 00.00%], "
        "test : [loss = 0.000, top1 = 00.00%]",
    ]
)


def proposal_argv(official: Path, seed: int, data_dir: str) -> list[str]:
    """The command line given to their ``networks_proposal.py`` (everything not named keeps their default)."""
    return [
        str(official / PROPOSAL),
        "--data",
        data_dir,
        "--dataset",
        "cifar10",
        "--save",
        PIPELINE_ID,
        "--gpu",
        "0",
        "--seed",
        str(seed),
        "--edge_decision",
        "random",
        "--proj_crit",
        "jacob",
        "--batch_size",
        "64",
        "--pool_size",
        "10",
        "--init_channels",
        str(CHANNELS),
    ]


def validation_argv(official: Path, seed: int, data_dir: str) -> list[str]:
    """The command line given to their ``post_validate.py`` (its ``--ckpt_path`` as the pipeline script builds it)."""
    return [
        str(official / VALIDATION),
        "--data",
        data_dir,
        "--ckpt_path",
        f"../experiments/nas-bench-201/prop-{PIPELINE_ID}-{seed}-10",
        "--save",
        PIPELINE_ID,
        "--seed",
        str(seed),
        "--gpu",
        "0",
        "--edge_decision",
        "random",
        "--proj_crit",
        "jacob",
        "--batch_size",
        "64",
        "--validate_rounds",
        "10",
    ]


def _parameters_in_mb(model: Any) -> float:
    """Theirs: ``np.sum`` of a generator, a TypeError in current NumPy; the same sum."""
    return sum(v.numel() for name, v in model.named_parameters() if "auxiliary" not in name) / 1e6


def _stub_module(name: str, **attrs: Any) -> None:
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    sys.modules[name] = module


def _unavailable(what: str) -> type:
    class Unavailable:
        def __init__(self, *_a: Any, **_k: Any) -> None:
            raise RuntimeError(f"{what} is stubbed by the fidelity runner (not used in NAS-Bench-201)")

    return Unavailable


def _patch_cpu() -> None:
    """``patch_cuda`` plus ``Module.to(cuda)`` as the identity and single-process, unpinned DataLoaders."""
    import torch
    import torch.utils.data

    torch.set_num_threads(1)
    torch.set_num_threads = lambda *_a, **_k: None  # type: ignore[assignment]
    patch_cuda("networks_proposal.py")
    real_to = torch.nn.Module.to

    def to(self: Any, *args: Any, **kwargs: Any) -> Any:
        target = args[0] if args else kwargs.get("device")
        if (isinstance(target, torch.device) and target.type == "cuda") or (
            isinstance(target, str) and target.startswith("cuda")
        ):
            return self
        return real_to(self, *args, **kwargs)

    torch.nn.Module.to = to  # type: ignore[method-assign]

    class DataLoader(torch.utils.data.DataLoader):  # type: ignore[type-arg]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["num_workers"] = 0
            kwargs["pin_memory"] = False
            super().__init__(*args, **kwargs)

    torch.utils.data.DataLoader = DataLoader  # type: ignore[misc]


def _run_stage(argv: list[str], official: Path) -> float:
    """Run one of their scripts as ``__main__`` (its directory first on ``sys.path``); its wall time."""
    sys.argv = argv
    script_dir = str(Path(argv[0]).parent)
    sys.path.insert(0, script_dir)
    t0 = time.perf_counter()
    try:
        runpy.run_path(argv[0], run_name="__main__")
    finally:
        sys.path.remove(script_dir)
        root = logging.getLogger()
        for handler in list(root.handlers):  # their log file and stdout handlers: a fresh start for the next stage
            root.removeHandler(handler)
            handler.close()
    return time.perf_counter() - t0


def run(official: Path, seed: int, data_dir: str, out: Path) -> dict[str, Any]:
    """Run their pipeline once and return what it found (written to ``out/result.json`` too)."""
    out.mkdir(parents=True, exist_ok=True)
    whole, train_idx, val_idx = our_slice(OUR_CONFIG, seed, data_dir)
    if len(train_idx) != len(val_idx):
        raise SystemExit(f"our slice: their 50% split needs equal halves, got {len(train_idx)} and {len(val_idx)}")
    if len(train_idx) < 10 * 64:
        raise SystemExit(f"our slice: post-validation reads 640 images, the weight half has {len(train_idx)}")

    _patch_cpu()
    import torchvision.datasets

    torchvision.datasets.CIFAR10 = cifar10_standin(whole, train_idx + val_idx)  # type: ignore[misc]

    seen: dict[str, list[str]] = {"built": [], "queried": []}

    class RecordingAPI:
        def __init__(self, *_a: Any, **_k: Any) -> None:
            pass

        def query_index_by_arch(self, arch: str) -> int:
            seen["built"].append(arch)
            return len(seen["built"]) - 1

        def get_net_config(self, index: int, _dataset: str) -> dict[str, Any]:
            return {"name": "infer.tiny", "C": CHANNELS, "N": CELLS_PER_STAGE, "arch_str": seen["built"][index]}

        def query_by_arch(self, arch: str, hp: str = "200") -> str:
            seen["queried"].append(arch)
            return _API_ANSWER

    _stub_module("nas_201_api", NASBench201API=RecordingAPI)
    _stub_module("foresight")
    _stub_module("foresight.pruners")
    _stub_module("pycls.models.nas.nas", NetworkImageNet=_unavailable("pycls"), NetworkCIFAR=_unavailable("pycls"))
    _stub_module("sota.cnn.hdf5", H5Dataset=_unavailable("sota.cnn.hdf5"))
    sys.path.insert(0, str(official))
    import nasbench201.search_model_darts_proj as their_model
    import nasbench201.utils as their_utils

    their_init = their_model.TinyNetworkDartsProj.__init__  # their class stays (its __init__ names it in super())

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        if "N" in kwargs:
            kwargs["N"] = CELLS_PER_STAGE
        else:
            args = (args[0], CELLS_PER_STAGE, *args[2:])
        their_init(self, *args, **kwargs)

    their_model.TinyNetworkDartsProj.__init__ = init
    their_utils.count_parameters_in_MB = _parameters_in_mb

    for stale in ("experiments", "cwd"):
        shutil.rmtree(out / stale, ignore_errors=True)
    workdir = out / "cwd"
    workdir.mkdir()
    scripts = out / "exp_scripts"
    if not scripts.exists():
        scripts.symlink_to(official / "exp_scripts", target_is_directory=True)
    os.chdir(workdir)

    first, second = proposal_argv(official, seed, data_dir), validation_argv(official, seed, data_dir)
    wall = _run_stage(first, official)
    pool_file = out / "experiments" / "nas-bench-201" / f"prop-{PIPELINE_ID}-{seed}-10" / "networks_pool.json"
    pool = [n["genotype"] for n in json.loads(pool_file.read_text())["networks"]]
    print(f"[runner] proposal stage: {wall:.1f} s, pool {pool}", flush=True)
    wall += _run_stage(second, official)
    best_file = out / "experiments" / "sota" / f"nas-bench-201-valid-{PIPELINE_ID}-{seed}-10-10" / "best_networks.json"
    best = json.loads(best_file.read_text())["networks"]
    if seen["queried"] != [best]:
        raise SystemExit(f"their post_validate.py queried {seen['queried']} but saved {best!r}")
    from nasbench201.genotypes import Structure

    genotype = Structure.str2structure(best)
    their_argv = [str(Path(first[0]).relative_to(official)), *first[1:]]
    their_argv += [str(Path(second[0]).relative_to(official)), *second[1:]]
    result = run_record("zero-cost-pt", seed, genotype, pool, [], wall, their_argv, official, train_idx, val_idx)
    write_run_result(out, result)
    return result


def main(argv: list[str] | None = None) -> int:
    return runner_main(CODEBASE, run, __doc__.split("\n\n")[0], argv)


if __name__ == "__main__":
    sys.exit(main())
