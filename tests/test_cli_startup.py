"""Start-up of the quick genotype commands: they must not pay for importing torch.

``nas spaces``, ``nas convert`` and ``nas sample`` get a parser with only their own
command module (:data:`nas.cli.LIGHT_COMMANDS`), and ``nas show`` counts parameters and
FLOPs on the meta device; these tests pin both so a new top-level import cannot
silently bring the seconds back (``benchmarks/bench_startup.py`` measures them).
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

ROOT = Path(__file__).resolve().parents[1]


def _registered(module_names: list[str]) -> set[str]:
    import importlib

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    for name in module_names:
        importlib.import_module(name).register(sub)
    return set(sub.choices)


def test_light_commands_table_matches_what_the_modules_register() -> None:
    for module in set(cli.LIGHT_COMMANDS.values()):
        assert module in cli.COMMAND_MODULES
        mine = {c for c, m in cli.LIGHT_COMMANDS.items() if m == module}
        assert _registered([module]) == mine
    # the full parser still has every command, and a light parser gives the same sub-parser
    full = cli.build_parser()
    light = cli.build_parser("convert")
    assert full.parse_args(["convert", "DARTS_V2", "--to", "json"]) == light.parse_args(
        ["convert", "DARTS_V2", "--to", "json"]
    )


@pytest.mark.parametrize(
    "argv",
    [["convert", "PC_DARTS", "--to", "json"], ["sample", "nb201", "--n", "3"], ["spaces"], ["show", "--list"]],
)
def test_quick_commands_do_not_import_torch(argv: list[str]) -> None:
    code = (
        "import sys, io, contextlib\n"
        "from nas import cli\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    assert cli.main({argv!r}) == 0\n"
        "heavy = sorted(m for m in ('torch', 'numpy') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize(
    ("name", "options"),
    [("DARTS_V2", {"channels": 8, "layers": 5, "auxiliary": True}), ("NB201_best", {"channels": 8}), ("resnet20", {})],
)
def test_show_counts_on_the_meta_device_equal_real_ones(name: str, options: dict) -> None:
    genotype = named.get(name)
    info = describe(genotype, options, 10, 32)
    model = build(genotype, num_classes=10, **options)
    assert info["params"] == count_parameters(model)
    assert info["params_with_auxiliary"] == count_parameters(model, include_auxiliary=True)
    assert info["flops"] == count_flops(model, input_size=(1, 3, 32, 32))
