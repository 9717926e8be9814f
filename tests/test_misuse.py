"""Misuse a new user tries: each is one line on stderr and exit status 2 (or a clear word), never a traceback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import missing_resource

import nas
from nas.cli import main
from nas.errors import NasError

REPO = Path(__file__).resolve().parents[1]
BIG = 2**64


def _one_line(capsys: pytest.CaptureFixture, argv: list[str], code: int = 2) -> str:
    capsys.readouterr()
    got = main([str(a) for a in argv])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert got == code and len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture
def darts_yaml(tmp_path: Path) -> Path:
    path = tmp_path / "darts.yaml"
    path.write_text(yaml.safe_dump({"controller": "darts", "epochs": 1, "train_subset": 8}))
    return path


# --------------------------------------------------------------------------- #
# seeds and numbers
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("seed=18446744073709551616", "seed: expected an integer from 0 to 4294967295, got 18446744073709551616"),
        ("seed=4294967296", "seed: expected an integer from 0 to 4294967295, got 4294967296"),
        ("arch_optimizer.lr=inf", "arch_optimizer.lr: expected a finite number, got 'inf'"),
        ("arch_optimizer.lr=.inf", "arch_optimizer.lr: expected a finite number, got .inf"),
        ("optimizer.lr=nan", "optimizer.lr: expected a"),
        ("optimizer.weight_decay=.inf", "optimizer.weight_decay: expected a finite number"),
        ("optimizer.lr_min=-.inf", "optimizer.lr_min: expected a"),
        ("optimizer.lr=-1", "optimizer.lr: expected a positive number, got -1"),  # was "positive integer"
        ("val_fraction=0", "val_fraction: expected a fraction strictly between 0 and 1, got 0"),
    ],
)
def test_darts_search_refuses_bad_numbers(
    darts_yaml: Path, tmp_path: Path, capsys: pytest.CaptureFixture, override: str, expected: str
) -> None:
    line = _one_line(capsys, ["search", "--config", darts_yaml, "--out", tmp_path / "run", "--set", override])
    assert line.startswith(f"nas search: error: --set {override}: {expected}"), line
    assert not (tmp_path / "run").exists()


def test_a_seed_too_large_in_the_yaml_names_the_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "big.yaml"
    path.write_text(yaml.safe_dump({"controller": "darts", "seed": BIG}))
    line = _one_line(capsys, ["search", "--config", path, "--out", tmp_path / "run"])
    assert line == f"nas search: error: big.yaml: seed: expected an integer from 0 to 4294967295, got {BIG}"


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--lr", "inf"], "--lr inf: lr: expected a finite number, got inf"),
        (["--set", "lr=nan"], "--set lr=nan: lr: expected a finite number"),
        (["--set", "weight_decay=.inf"], "--set weight_decay=.inf: weight_decay: expected a finite number"),
        (["--set", "model_options.darts.channels=0"], "model_options: darts.channels: expected a positive integer"),
        (["--set", "model_options.nb201.channels=true"], "model_options: nb201.channels: expected a positive integer"),
    ],
)
def test_nas_train_refuses_non_finite_and_bad_sizes(
    tmp_path: Path, capsys: pytest.CaptureFixture, flags: list[str], expected: str
) -> None:
    argv = ["train", "--model", "resnet20", "--recipe", "quick", "--out", tmp_path / "run", *flags]
    assert expected in _one_line(capsys, argv)


def test_the_shared_number_types_refuse_inf_and_nan() -> None:
    from pydantic import TypeAdapter, ValidationError

    from nas.config_io import FiniteFloat, Fraction, NonNegFloat, PosFloat

    for kind in (PosFloat, NonNegFloat, Fraction, FiniteFloat):
        for value in (float("inf"), float("nan"), "inf", "-inf"):
            with pytest.raises(ValidationError):
                TypeAdapter(kind).validate_python(value)


@pytest.mark.parametrize("field", ["arch_optimizer", "optimizer"])
def test_the_darts_config_refuses_inf_through_the_shared_number_types(field: str) -> None:
    """The fix reaches DARTS (whose config is not edited here) while it declares its floats with these types."""
    from pydantic import ValidationError

    from nas.darts.config import DartsSearchConfig

    with pytest.raises(ValidationError, match="finite number"):
        DartsSearchConfig.model_validate({field: {"lr": float("inf")}})


# --------------------------------------------------------------------------- #
# sizes and files
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--channels", "100000", "--layers", "200"], "--channels 100000 --layers 200: the network would have"),
        (["--channels", "2000"], "--channels 2000 --layers 20: the network would have"),
        (["--num-classes", "100000000"], "--num-classes 100000000: the network would have"),
    ],
)
def test_nas_show_refuses_networks_too_large(capsys: pytest.CaptureFixture, flags: list[str], expected: str) -> None:
    line = _one_line(capsys, ["show", "DARTS_V2", *flags])
    assert expected in line and "expected at most 500,000,000" in line


def test_nas_show_catches_an_allocation_failure(capsys: pytest.CaptureFixture) -> None:
    line = _one_line(capsys, ["show", "DARTS_V2", "--input-size", "200000"])
    assert line.endswith("--input-size 200000: the network is too large to build and run here")


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_a_config_without_end_is_read_with_a_limit(tmp_path: Path, capsys: pytest.CaptureFixture, device: str) -> None:
    line = _one_line(capsys, ["search", "--config", device, "--out", tmp_path / "run"])
    assert line == f"nas search: error: {device}: larger than 1024 kB; expected a config file (YAML)"


def test_a_huge_recipe_and_a_huge_genotype_file_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("# padding\n" * 120_000)
    line = _one_line(capsys, ["train", "--model", "lenet5", "--recipe", big, "--out", tmp_path / "r"])
    assert "larger than 1024 kB" in line
    nodes = [[["none", i] for i in range(j)] for j in range(1, 400)]  # 1.1 MB, 399 nodes
    (tmp_path / "g.json").write_text(json.dumps({"schema": 1, "kind": "nb201", "nodes": nodes}))
    assert "larger than 1024 kB; expected a genotype file" in _one_line(capsys, ["show", tmp_path / "g.json"])


def test_an_nb201_cell_with_too_many_nodes_is_refused_fast(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    nodes = [[["none", i] for i in range(j)] for j in range(1, 60)]  # small file, 59 nodes
    (tmp_path / "g.json").write_text(json.dumps({"schema": 1, "kind": "nb201", "nodes": nodes}))
    line = _one_line(capsys, ["show", tmp_path / "g.json"])
    assert "nodes: expected at most 32 nodes (NAS-Bench-201 has 3), got 59" in line


@pytest.mark.parametrize("cell", ["|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|", "|nor_conv_3x3~0|"])
def test_an_nb201_cell_outside_the_benchmark_is_said(capsys: pytest.CaptureFixture, cell: str) -> None:
    capsys.readouterr()
    assert main(["show", cell, "--json"]) == 0
    captured = capsys.readouterr()
    assert "outside the benchmark (no table row)" in captured.err
    info = json.loads(captured.out)
    assert info["nb201_table"]["found"] is False and "outside NAS-Bench-201" in info["nb201_table"]["reason"]


def test_nas_report_out_an_existing_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "afile").write_text("x")
    (tmp_path / "run").mkdir()
    line = _one_line(capsys, ["report", tmp_path / "run", "--out", tmp_path / "afile"])
    assert (
        line
        == f"nas report: error: --out {tmp_path / 'afile'}: is a file, expected a directory (it is created if missing)"
    )


def test_an_empty_recipe_is_refused_like_an_empty_search_config(tmp_path: Path, capsys) -> None:
    (tmp_path / "empty.yaml").write_text("")
    line = _one_line(
        capsys, ["train", "--model", "lenet5", "--recipe", tmp_path / "empty.yaml", "--out", tmp_path / "r"]
    )
    assert "the recipe is empty; expected at least `epochs` and `dataset`" in line
    assert not (tmp_path / "r").exists()


# --------------------------------------------------------------------------- #
# search flags that would be ignored or lose work
# --------------------------------------------------------------------------- #


def test_storage_with_a_controller_that_keeps_no_study(
    darts_yaml: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    random_yaml = tmp_path / "random.yaml"
    random_yaml.write_text(yaml.safe_dump({"controller": "random", "space": "nb201"}))
    for config, name in ((darts_yaml, "darts"), (random_yaml, "random")):
        line = _one_line(capsys, ["search", "--config", config, "--storage", "sqlite:///x.db", "--out", tmp_path / "r"])
        assert f"--storage: only the optuna controller keeps a study; {config.name} runs {name}" in line


@pytest.mark.parametrize("url", ["sqlite:///", "sqlite://", "sqlite:///:memory:"])
def test_an_in_memory_sqlite_study_is_refused(url: str) -> None:
    from nas.search_protocol.storage import open_storage

    with pytest.raises(NasError, match="in-memory SQLite database, lost when the search ends"):
        open_storage(url, "options.optuna.storage")


def test_ray_keys_in_a_darts_config_are_named_as_given(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "d.yaml"
    path.write_text(yaml.safe_dump({"controller": "darts", "workers": 2}))
    line = _one_line(capsys, ["search", "--config", path, "--out", tmp_path / "r"])
    assert line.startswith("nas search: error: d.yaml: workers: only for trial-based controllers")  # not --workers


@pytest.mark.parametrize("seed", ["-1", str(BIG), "4294967296"])
def test_nas_sample_seeds_like_every_other_command(capsys: pytest.CaptureFixture, seed: str) -> None:
    line = _one_line(capsys, ["sample", "nb201", "--seed", seed])
    assert line == f"nas sample: error: --seed: expected an integer from 0 to 4294967295, got {seed}"


@pytest.mark.parametrize(
    ("command", "handler", "resumable"),
    [("sample", "nas.commands.genotypes.cmd_sample", False), ("show", "nas.commands.genotypes.cmd_show", False),
     ("train", "nas.commands.train.cmd_train", True)],
)  # fmt: skip
def test_ctrl_c_promises_a_resume_only_where_there_is_one(
    capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch, command: str, handler: str, resumable: bool
) -> None:
    def interrupted(_args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(handler, interrupted)  # looked up when the command registers its parser
    argv = {"sample": ["sample", "nb201"], "show": ["show", "DARTS_V2"],
            "train": ["train", "--recipe", "quick", "--model", "lenet5", "--out", "/none/x"]}[command]  # fmt: skip
    line = _one_line(capsys, argv, code=130)
    assert line == f"nas {command}: interrupted" + ("; run the same command again to resume" if resumable else "")


# --------------------------------------------------------------------------- #
# Python API: NasError, as the README promises
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda t: nas.train("lenet5", out=None), "out: expected a directory path"),
        (lambda t: nas.train("lenet5", out=t, overrides=["epochs=1"]), "overrides: expected a mapping"),
        (lambda t: nas.train("lenet5", out=t, seeds=[BIG]), "seeds: expected integers from 0 to 4294967295"),
        (lambda t: nas.train("lenet5", out=t, seeds=5), "seeds: expected a list of integers"),
        (lambda t: nas.train("lenet5", out=t, recipe=3), "recipe: expected a recipe name"),
        (lambda t: nas.train("lenet5", out=t, device=0), "device: expected auto, cpu, cuda or cuda:N"),
        (lambda t: nas.train(3, out=t), "model: expected a zoo model name"),
        (lambda t: nas.search(["a"]), "config: expected a YAML file (str or Path) or a mapping, got list"),
        (
            lambda t: nas.search({"controller": "darts"}, out=t, overrides=[("seed", 1)]),
            "overrides: expected a mapping",
        ),
        (lambda t: nas.search({"controller": "darts"}, out=t, overrides={"seed": BIG}), "seed: expected an integer"),
        (lambda t: nas.search({"controller": "darts"}, out=t, seeds=["1"]), "seeds: expected integers"),
        (lambda t: nas.search({"controller": "darts"}, out=3), "out: expected a directory path"),
    ],
)
def test_the_python_api_raises_nas_error(tmp_path: Path, call, expected: str) -> None:  # noqa: ANN001
    with pytest.raises(NasError) as info:
        call(tmp_path / "run")
    assert expected in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "run").exists()


# --------------------------------------------------------------------------- #
# permissions (as root, with the capabilities that bypass them dropped)
# --------------------------------------------------------------------------- #


def _unprivileged() -> list[str]:
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        missing_resource("setpriv (util-linux) not found: needed to test permission errors as root")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search", "--"]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny finished ``nas train`` run on a 2-class image folder."""
    import numpy as np
    from PIL import Image

    root = tmp_path_factory.mktemp("perm")
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for name in ("a", "b"):
            (root / "folder" / split / name).mkdir(parents=True)
            for i in range(4):
                img = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
                Image.fromarray(img).save(root / "folder" / split / name / f"{i}.png")
    run = root / "run"
    argv = ["train", "--model", "lenet5", "--recipe", "quick", "--dataset", "folder", "--data-dir", root / "folder",
            "--set", "train_subset=null", "--set", "test_subset=null", "--set", "val_fraction=0.25", "--set",
            "tensorboard=false", "--epochs", "1", "--batch-size", "4", "--device", "cpu", "--out", run,
            "--quiet"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO), "NAS_CACHE_DIR": str(root / "cache")}
    done = subprocess.run([sys.executable, "-m", "nas.cli", *map(str, argv)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return run


def _perm_cases(run: Path, tmp: Path, darts_yaml: Path, trial_yaml: Path) -> list[tuple[list[str], str]]:
    unread, ro = tmp / "unread", tmp / "ro"
    locked = f"{unread}: cannot write the run lock (Permission denied)"
    return [
        (["show", unread], f"{unread}/genotype.json: permission denied"),
        (["search", "--config", darts_yaml, "--out", unread], locked),
        (["search", "--config", darts_yaml, "--out", ro / "x"], f"{ro / 'x'}: cannot create the run directory"),
        (["search", "--config", trial_yaml, "--out", unread], locked),
        (["search", "--config", trial_yaml, "--out", ro / "x"], f"{ro / 'x'}: cannot create the run directory"),
        (["train", "--model", "lenet5", "--recipe", "quick", "--dataset", "folder", "--data-dir", run.parent / "folder",
          "--out", ro / "x"], f"{ro / 'x'}: cannot create the run directory"),
        (["train", "--model", "lenet5", "--recipe", "quick", "--dataset", "folder", "--data-dir", run.parent / "folder",
          "--out", unread], locked),
        (["report", unread, "--out", tmp / "rep"], f"{unread}"),
        (["report", run, "--out", ro / "rep"], f"{ro / 'rep'}: permission denied"),
    ]  # fmt: skip


def test_permission_errors_are_one_line(finished_run: Path, tmp_path: Path, darts_yaml: Path) -> None:
    prefix = _unprivileged()
    (tmp_path / "unread").mkdir()
    (tmp_path / "unread").chmod(0o000)
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro").chmod(0o555)
    trial_yaml = tmp_path / "trial.yaml"
    trial_yaml.write_text(yaml.safe_dump({"controller": "random", "space": "nb201", "trial": {"kind": "proxy",
                                          "proxy": "params", "recipe": "quick"}}))  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO), "NAS_CACHE_DIR": str(finished_run.parent / "cache")}
    try:
        for argv, expected in _perm_cases(finished_run, tmp_path, darts_yaml, trial_yaml):
            cmd = [*prefix, sys.executable, "-m", "nas.cli", *map(str, argv)]
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
            lines = [x for x in done.stderr.splitlines() if x.strip()]
            assert done.returncode == 2 and len(lines) == 1, (argv, done.stderr[-1500:])
            assert lines[0].startswith(f"nas {argv[0]}: error: ") and expected in lines[0], (argv, lines[0])
        # --extend of a read-only finished run
        finished_run.chmod(0o555)
        argv = ["train", "--model", "lenet5", "--recipe", "quick", "--dataset", "folder", "--data-dir",
                finished_run.parent / "folder", "--set", "train_subset=null", "--set", "test_subset=null", "--set",
                "val_fraction=0.25", "--set", "tensorboard=false", "--epochs", "2", "--batch-size", "4", "--device",
                "cpu", "--out", finished_run, "--extend", "--quiet"]  # fmt: skip
        done = subprocess.run([*prefix, sys.executable, "-m", "nas.cli", *map(str, argv)], env=env,
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        lines = [x for x in done.stderr.splitlines() if x.strip()]
        assert done.returncode == 2 and len(lines) == 1, done.stderr[-1500:]
        assert f"{finished_run}: cannot write the run lock (Permission denied)" in lines[0]
    finally:
        finished_run.chmod(0o755)
        (tmp_path / "unread").chmod(0o755)
        (tmp_path / "ro").chmod(0o755)
