"""Start-up of the quick genotype commands: what they import, not how long they take.

``nas spaces``, ``nas convert`` and ``nas sample`` get a parser with only their own
command module (:data:`nas.cli.COMMANDS`) and must not import torch, numpy,
pydantic, Ray or Optuna; ``nas show`` imports torch to count parameters and FLOPs but not
``torch._dynamo`` (~1.4 s, see :mod:`nas.metrics`). These tests pin the imports so a new
top-level import cannot silently bring the seconds back; the seconds themselves are
measured by ``benchmarks/bench_startup.py`` (no timed tests: the machine is shared).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from nas import cli
from nas.commands.genotypes import describe
from nas.genotypes import named
from nas.metrics import count_flops, count_parameters
from nas.networks import build

#: Modules the quick commands must not import (each costs 0.1-2 s of start-up).
HEAVY = ("torch", "numpy", "pydantic", "ray", "optuna", "yaml")

ROOT = Path(__file__).resolve().parents[1]


def _registered(module_names: list[str]) -> set[str]:
    import importlib

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    for name in module_names:
        importlib.import_module(name).register(sub)
    return set(sub.choices)


def test_commands_table_matches_what_the_modules_register() -> None:
    modules = {m for m, _line in cli.COMMANDS.values()}
    for module in modules:
        mine = {c for c, (m, _line) in cli.COMMANDS.items() if m == module}
        assert _registered([module]) == mine
    # the listing has every command with its line; a command's own parser parses as before
    listing = " ".join(cli.build_parser().format_help().split())  # argparse wraps long lines
    assert all(name in listing and line in listing for name, (_m, line) in cli.COMMANDS.items())
    args = cli.build_parser("convert").parse_args(["convert", "DARTS_V2", "--to", "json"])
    assert (args.command, args.genotype, args.to) == ("convert", "DARTS_V2", "json")


def test_help_and_unknown_commands_import_no_command_module() -> None:
    """``nas --help``, ``nas`` and ``nas TYPO`` list the commands from the table alone (0.1 s, not 3 s)."""
    code = (
        "import sys, io, contextlib\n"
        "from nas import cli\n"
        "for argv in (['--help'], [], ['trian']):\n"
        "    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
        "        try:\n"
        "            cli.main(argv)\n"
        "        except SystemExit:\n"
        "            pass\n"
        f"print(' '.join(m for m in sys.modules if m in {HEAVY!r} or m.startswith('nas.commands.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == []


def test_an_unknown_command_is_one_line() -> None:
    out = subprocess.run([sys.executable, "-m", "nas.cli", "trian"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1 and "trian" in out.stderr


def _imported_after(argv: list[str], modules: tuple[str, ...]) -> list[str]:
    """Which of ``modules`` a fresh interpreter has imported after ``nas ARGV`` (which must succeed)."""
    code = (
        "import sys, io, contextlib\n"
        "from nas import cli\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    assert cli.main({argv!r}) == 0\n"
        f"print(' '.join(m for m in {modules!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


@pytest.mark.parametrize(
    "argv",
    [
        ["convert", "PC_DARTS", "--to", "json"],
        ["sample", "nb201", "--n", "3"],
        ["sample", "hybrid", "--n", "2"],
        ["spaces"],
        ["spaces", "--decisions"],
        ["show", "--list"],
    ],
)
def test_quick_commands_do_not_import_heavy_modules(argv: list[str]) -> None:
    assert _imported_after(argv, HEAVY) == []


def test_show_counts_without_importing_dynamo() -> None:
    assert _imported_after(["show", "DARTS_V2"], ("torch", "torch._dynamo")) == ["torch"]


@pytest.mark.parametrize(
    ("name", "options"),
    [("DARTS_V2", {"channels": 8, "layers": 5, "auxiliary": True}), ("NB201_best", {"channels": 8}), ("resnet20", {})],
)
def test_show_counts_equal_torchs_counter_on_the_meta_device(name: str, options: dict) -> None:
    """``nas show``'s counts (CPU model, the counter without the dynamo wrapper) are torch's own."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    genotype = named.get(name)
    info = describe(genotype, options, 10, 32)
    with torch.device("meta"):
        model = build(genotype, num_classes=10, **options)
    assert info["params"] == count_parameters(model)
    assert info["params_with_auxiliary"] == count_parameters(model, include_auxiliary=True)
    model.eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(torch.zeros((1, 3, 32, 32), device="meta"))
    assert info["flops"] == counter.get_total_flops() > 0
    assert count_flops(model, input_size=(1, 3, 32, 32)) == info["flops"]


def test_distinct_size_with_channel_keys_equals_the_per_channel_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """``nas spaces``' counts: the families' ``channel_key`` shortcut gives the exact per-channel count."""
    from nas.search_spaces import HybridSpace, ResNetSpace
    from nas.search_spaces.densenet import DenseNetFamily
    from nas.search_spaces.inception import InceptionFamily
    from nas.search_spaces.macro import StageFamily
    from nas.search_spaces.resnet import ResNetFamily
    from nas.search_spaces.vgg import VGGFamily

    fast = (HybridSpace().distinct_size(), ResNetSpace().distinct_size())
    for family in (VGGFamily, InceptionFamily, ResNetFamily, DenseNetFamily):
        monkeypatch.setattr(family, "channel_key", StageFamily.channel_key)
    assert (HybridSpace().distinct_size(), ResNetSpace().distinct_size()) == fast == (307_175_496, 18_797_184)
