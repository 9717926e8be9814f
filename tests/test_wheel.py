"""The toolkit as a user installs it: a wheel built from this repository, installed (not editable) into a
fresh venv, run from a directory outside the repository.

The venv sees the already installed dependencies (torch, ...) through a ``.pth`` line pointing at the
running interpreter's site-packages, so nothing is downloaded or reinstalled. A ``.pth`` line adds a
directory to ``sys.path`` without processing the ``.pth`` files in it, so the repository's editable
install there stays invisible: ``nas`` can only come from the wheel, and the test checks that it does.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]

#: Left out of the copy the wheel is built from (building in a copy keeps build/ and *.egg-info out of the tree).
_TOP_LEVEL_IGNORED = {".git", ".venv", "build", "dist", "runs", "data", ".pytest_cache", ".ruff_cache"}
_IGNORED_ANYWHERE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")


def _ignored(directory: str, names: list[str]) -> set[str]:
    top = _TOP_LEVEL_IGNORED if Path(directory) == REPO else set()
    return (set(names) & top) | set(_IGNORED_ANYWHERE(directory, names))


def _run(argv: list[str | Path], cwd: Path, env: dict[str, str], timeout: float = 300) -> str:
    proc = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(map(str, argv))} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def _dependency_dirs() -> list[str]:
    """site-packages of the running interpreter's environment (computed from ``sys.prefix``)."""
    scheme = {"base": sys.prefix, "platbase": sys.prefix}
    return sorted({sysconfig.get_path("purelib", vars=scheme), sysconfig.get_path("platlib", vars=scheme)})


def _tiny_folder(root: Path) -> Path:
    """3 classes of 32x32 PNGs (12 train, 4 test each), each class tinted one colour."""
    rng = np.random.default_rng(0)
    for split, count in (("train", 12), ("test", 4)):
        for c, name in enumerate(("red", "green", "blue")):
            (root / split / name).mkdir(parents=True)
            for i in range(count):
                img = rng.integers(0, 90, (32, 32, 3), dtype=np.uint8)
                img[..., c] += 140
                Image.fromarray(img).save(root / split / name / f"{i:02d}.png")
    return root


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """``(venv, environment)``: the wheel of this repository installed into a fresh venv."""
    base = tmp_path_factory.mktemp("wheel")
    src, dist, venv = base / "src", base / "dist", base / "venv"
    shutil.copytree(REPO, src, ignore=_ignored, symlinks=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(OMP_NUM_THREADS="1", NAS_CACHE_DIR=str(base / "cache"), PIP_DISABLE_PIP_VERSION_CHECK="1")
    pip = [sys.executable, "-m", "pip"]
    _run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", dist, src], base, env)
    [wheel] = dist.glob("nas_toolkit-*.whl")
    _run([sys.executable, "-m", "venv", "--without-pip", venv], base, env)
    python = venv / "bin" / "python"
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], base, env).strip())
    (site / "_nas_test_dependencies.pth").write_text("".join(d + "\n" for d in _dependency_dirs()))
    _run([*pip, "--python", python, "install", "--no-deps", "-q", wheel], base, env)
    return venv, env


def test_the_installed_wheel_trains_searches_and_shows(installed: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    venv, env = installed
    work = tmp_path / "elsewhere"  # outside the repository: nothing can be found relative to it
    work.mkdir()
    probe = "import nas, search_spaces; print(nas.__file__, search_spaces.__file__)"
    where = _run([venv / "bin" / "python", "-c", probe], work, env)
    assert all(Path(p).resolve().is_relative_to(venv.resolve()) for p in where.split()), where
    nas = venv / "bin" / "nas"

    # the named recipe comes from the package data (this failed when recipes were read from ../experiments)
    data = _tiny_folder(tmp_path / "folder")
    out = _run(
        [nas, "train", "--model", "resnet20", "--recipe", "quick", "--epochs", "1", "--dataset", "folder",
         "--data-dir", data, "--set", "train_subset=null", "--set", "test_subset=null", "--batch-size", "16",
         "--device", "cpu", "--quiet", "--json", "--out", work / "r20"],
        work, env,
    )  # fmt: skip
    result = json.loads(out)
    assert result["epochs_completed"] == 1 and 0 <= result["test_top1"] <= 100
    assert json.loads((work / "r20" / "config.json").read_text())["meta"]["recipe"] == "quick"

    shown = _run([nas, "show", "DARTS_V2"], work, env)
    assert "DARTS_V2" in shown and "sep_conv_3x3" in shown

    # a CPU-sized experiment of the repository, cut to seconds: DARTS on synthetic images
    tiny = ["dataset=synthetic", "train_subset=20", "epochs=1", "batch_size=10", "supernet.channels=2"]
    tiny += ["supernet.layers=3", "supernet.steps=2", "supernet.multiplier=2", "supernet.stem_multiplier=1"]
    tiny += ["supernet.partial_channels=1", "supernet.edge_normalization=false", "guards.warmup_epochs=0"]
    tiny += ["checkpoint_every_steps=null"]
    argv: list[str | Path] = [nas, "search", "--config", REPO / "experiments" / "quickstart.yaml"]
    argv += ["--out", work / "search", "--no-progress", *(a for t in tiny for a in ("--set", t))]
    _run(argv, work, env)
    assert json.loads((work / "search" / "genotype.json").read_text())["kind"] == "darts"


@pytest.fixture
def ray_env(installed: tuple[Path, dict[str, str]]) -> Iterator[dict[str, str]]:
    """The environment of a search on an embedded Ray instance: its files in a short temp dir (socket paths)."""
    ray_tmp = Path(tempfile.mkdtemp(prefix="nas-wheel-", dir="/tmp"))
    yield {**installed[1], "RAY_TMPDIR": str(ray_tmp), "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1"}
    shutil.rmtree(ray_tmp, ignore_errors=True)


def test_the_installed_wheel_ships_the_search_configs(
    installed: tuple[Path, dict[str, str]], ray_env: dict[str, str], tmp_path: Path
) -> None:
    """``nas search --list`` and ``--config NAME`` find the configs inside the wheel: a zero-shot search by name."""
    venv, env = installed
    work = tmp_path / "elsewhere"
    work.mkdir()
    nas = venv / "bin" / "nas"
    listing = _run([nas, "search", "--list"], work, env)
    names = [line.split()[0] for line in listing.splitlines()]
    assert {"quickstart", "zero_shot_nb201", "proxy_evolution_nb201", "nb201_controllers"} <= set(names)

    # zero_shot_nb201 by name, cut to seconds: 3 trials, tiny networks, a 16-image batch of a tiny image folder
    data = _tiny_folder(tmp_path / "folder")
    recipe = work / "tiny_recipe.yaml"
    recipe.write_text("dataset: folder\n")
    tiny = ["num_trials=3", "workers=1", "num_cpus=1", "trial.proxy_batch_size=16", f"trial.recipe={recipe}"]
    tiny += ["trial.build_options.channels=4", "trial.build_options.cells_per_stage=1", f"data_dir={data}"]
    argv: list[str | Path] = [nas, "search", "--config", "zero_shot_nb201", "--out", work / "zs", "--no-progress"]
    _run([*argv, *(a for t in tiny for a in ("--set", t))], work, ray_env)
    board = json.loads((work / "zs" / "leaderboard.json").read_text())
    assert len(board) == 3 and {r["proxy"] for r in board} == {"synflow"}
    assert json.loads((work / "zs" / "genotype.json").read_text())["kind"] == "nb201"


def test_the_installed_wheel_runs_proxy_assisted_evolution(
    installed: tuple[Path, dict[str, str]], ray_env: dict[str, str], tmp_path: Path, nb201_csv: Path
) -> None:
    """The proxy-assisted controller by its shipped config: the proxy table is an option outside the repository."""
    venv, env = installed
    work = tmp_path / "elsewhere"
    work.mkdir()
    nas = venv / "bin" / "nas"
    argv: list[str | Path] = [nas, "search", "--config", "proxy_evolution_nb201", "--no-progress"]
    argv += ["--set", f"trial.table={nb201_csv}", "--set", "trial.budget_s=1500", "--set", "num_cpus=1"]

    # the repository's synflow table is not installed: asked for, in one line, before any search starts
    proc = subprocess.run([str(a) for a in [*argv, "--out", work / "none"]], cwd=work, env=env, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "options.proxy_evolution.scores: expected the path of a proxy table CSV" in proc.stderr

    scores = REPO / "benchmarks" / "results" / "nb201_synflow_scores.csv"
    argv += ["--set", f"options.proxy_evolution.scores={scores}", "--out", work / "pe"]
    _run(argv, work, ray_env)
    result = json.loads((work / "pe" / "nb201_result.json").read_text())
    assert result["controller"] == "proxy_evolution" and result["queries"] >= 5 and 0 < result["test"] <= 100
