"""Genotypes and their formats: validation messages, exact round trips, CLI errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from nas.errors import NasError
from nas.genotypes import named
from nas.genotypes.codec import (
    from_darts_text,
    from_json,
    from_nb201_string,
    to_darts_text,
    to_json,
    to_nb201_string,
    to_text,
)
from nas.genotypes.resolve import parse_genotype
from nas.genotypes.types import (
    DartsGenotype,
    DenseBlock,
    Head,
    MacroGenotype,
    NB201Genotype,
    ResNetBlock,
    Stage,
    Stem,
    VGGBlock,
)

V2 = named.get("DARTS_V2")
V2_TEXT = to_darts_text(V2)


def _macro_json(stages: list[dict], **extra: object) -> str:
    return json.dumps({"schema": 1, "kind": "macro", "stem": {"channels": 16}, "stages": stages, **extra})


# (input given to parse_genotype, a fragment the one-line message must contain)
BAD_INPUTS: list[tuple[str, str]] = [
    # DARTS text
    (V2_TEXT.replace("('sep_conv_3x3', 1)", "('sep_conv_3x3', 5)", 1), "normal[1]: input 5 is not an earlier node"),
    (V2_TEXT.replace("dil_conv_3x3", "dil_conv_9x9"), "unknown operation 'dil_conv_9x9' (known: none, max_pool_3x3"),
    (V2_TEXT.replace(", ('dil_conv_3x3', 2)", ""), "normal: expected an even, non-zero number of edges"),
    (V2_TEXT.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=[2, 3, 4, 7]"), "node 7 is not an intermediate"),
    (V2_TEXT.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=[2, 3, 4]"), "normal: node 5 is unused"),
    (V2_TEXT.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=[2, 2, 3, 4, 5]"), "nodes are repeated"),
    (V2_TEXT.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=[]"), "expected at least one node"),
    (V2_TEXT[:-1], "invalid syntax"),
    ("Genotype(normal=__import__('os').system('true'))", "normal: expected a list"),
    (V2_TEXT.replace("reduce_concat", "reduce_cat"), "unknown field 'reduce_cat'"),
    ("Genotype(normal=[], normal_concat=[2])", "missing field 'reduce'"),
    (V2_TEXT.replace("('sep_conv_3x3', 0)", "('sep_conv_3x3',)", 1), "normal[0]: expected an (operation, input) pair"),
    (V2_TEXT.replace("('sep_conv_3x3', 0)", "('sep_conv_3x3', -1)", 1), "input -1 is not an earlier node"),
    # NB201 strings
    ("|nor_conv_3x3~0|+|skip_connect~0|conv~1|+|none~0|none~1|none~2|", "unknown operation 'conv'"),
    ("|nor_conv_3x3~0|+|skip_connect~1|none~0|+|none~0|none~1|none~2|", "input 1 should be node 0"),
    ("|nor_conv_3x3~0|+|skip_connect~0|+|none~0|none~1|none~2|", "node 2 needs one edge from each earlier node"),
    ("|nor_conv_3x3-0|", "expected 'operation~input'"),
    ("|nor_conv_3x3~0|+skip_connect~0|", "node 2: expected '|op~i|...|'"),
    # JSON and macro skeletons
    ('{"schema": 1, "kind": "darts",', "malformed JSON at line 1"),
    ('{"schema": 2, "kind": "darts"}', "schema: expected 1, got 2"),
    ('{"schema": 1, "kind": "transformer"}', "kind: expected one of darts, nb201, macro"),
    (_macro_json([{"block": {"family": "resnet", "channels": 16, "groups": 3}}]), "divisible by 3 groups"),
    (
        _macro_json([{"block": {"family": "vgg", "channels": 8}, "downsample": "max_pool"}] * 6),
        "stages[5].downsample: 'max_pool' would take the 1x1 feature map below 1x1",
    ),
    (_macro_json([{"block": {"family": "mlp", "channels": 8}}]), "stages[0].block.family: unknown family 'mlp'"),
    (_macro_json([{"block": {"family": "vgg", "channels": 0}}]), "stages[0].block.channels: expected an integer >= 1"),
    (_macro_json([{"block": {"family": "vgg", "channels": 8, "colour": 1}}]), "unknown field 'colour'"),
    (_macro_json([{"block": {"family": "densenet"}}]), "stages[0].block: missing field 'growth_rate'"),
    (
        _macro_json(
            [{"block": {"family": "densenet", "growth_rate": 4}, "downsample": "transition", "compression": 0}]
        ),
        "stages[0].compression: expected a number in (0, 1]",
    ),
    (
        _macro_json(
            [
                {
                    "block": {
                        "family": "inception",
                        "b1": 8,
                        "b2_reduce": 8,
                        "b2": 8,
                        "b3_reduce": 8,
                        "b3": 8,
                        "pool_proj": 8,
                    },
                    "downsample": "stride",
                }
            ]
        ),
        "'stride' needs a resnet or vgg block",
    ),  # fmt: skip
    (
        _macro_json([{"block": {"family": "resnet", "channels": 8, "shortcut": "pad"}}]),
        "'pad' cannot shrink 16 channels to 8",
    ),
    (_macro_json([{"block": {"family": "vgg", "channels": 8}}], head={"pool": "median"}), "unknown pooling 'median'"),
    (_macro_json([]), "stages: expected a non-empty list"),
    # names and files
    ("DARTS_V3", "genotype name 'DARTS_V3' is unknown; did you mean DARTS_V2"),
    ("no/such/file.json", "no/such/file.json: file not found"),
]


@pytest.mark.parametrize("spec, fragment", BAD_INPUTS)
def test_bad_input_gets_one_line_error(spec: str, fragment: str) -> None:
    with pytest.raises(NasError) as info:
        parse_genotype(spec)
    message = str(info.value)
    assert "\n" not in message
    assert fragment in message, message


def test_bad_input_table_is_large_enough() -> None:
    assert len(BAD_INPUTS) >= 20


def test_cli_bad_input_exits_2_without_traceback() -> None:
    spec = BAD_INPUTS[0][0]
    proc = subprocess.run(
        [sys.executable, "-m", "nas.cli", "convert", spec, "--to", "json"], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and "input 5 is not an earlier node" in proc.stderr


@pytest.mark.parametrize("name", named.names())
def test_named_genotypes_round_trip_exactly(name: str) -> None:
    g = named.get(name)
    text = to_json(g)
    assert from_json(text) == g
    assert to_json(from_json(text)) == text
    assert parse_genotype(text) == g
    if isinstance(g, DartsGenotype):
        assert from_darts_text(to_darts_text(g)) == g
    if isinstance(g, NB201Genotype):
        assert from_nb201_string(to_nb201_string(g)) == g


def test_darts_text_accepts_range_and_positional_fields_like_the_reference_prints() -> None:
    assert from_darts_text(V2_TEXT.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=range(2, 6)")) == V2
    normal, reduce = [tuple(e) for e in V2.normal], [tuple(e) for e in V2.reduce]
    positional = f"Genotype({normal}, {list(V2.normal_concat)}, {reduce}, {list(V2.reduce_concat)})"
    assert from_darts_text(positional) == V2
    with pytest.raises(NasError, match="field 'normal' given twice"):
        from_darts_text(positional[:-1] + ", normal=[])")


def test_genotypes_are_hashable_values() -> None:
    again = from_darts_text(V2_TEXT)
    assert again == V2 and hash(again) == hash(V2)
    assert len({V2, again, named.get("DARTS_V1")}) == 2
    with pytest.raises(AttributeError):
        V2.normal = ()  # type: ignore[misc]


def test_lists_are_normalised_to_tuples() -> None:
    g = DartsGenotype(
        normal=[["skip_connect", 0], ["skip_connect", 1]], normal_concat=[2], reduce=[["max_pool_3x3", 0],
        ["max_pool_3x3", 1]], reduce_concat=range(2, 3)
    )  # fmt: skip
    assert g.normal == (("skip_connect", 0), ("skip_connect", 1)) and g.reduce_concat == (2,)
    assert g.skip_count("normal") == 2


def test_macro_genotype_shapes_and_family() -> None:
    g = MacroGenotype(
        stem=Stem(16),
        stages=(
            Stage(ResNetBlock(16), depth=2),
            Stage(VGGBlock(32), depth=1, downsample="max_pool"),
            Stage(DenseBlock(8), depth=3, downsample="transition", compression=0.5),
        ),
        head=Head(preact=True),
    )
    assert g.family == "hybrid"
    assert g.feature_shapes() == [(16, 32), (32, 16), (16 + 24, 8)]
    assert from_json(to_json(g)) == g
    assert "hybrid" in to_text(g)


def test_nb201_string_matches_benchmark_order() -> None:
    s = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    g = from_nb201_string(s)
    assert to_nb201_string(g) == s
    assert g.ops == ("nor_conv_3x3",) * 3 + ("skip_connect",) + ("nor_conv_3x3",) * 2


def test_named_nb201_cells_are_the_tables_best_and_collapse_cells(nb201_csv) -> None:
    import csv

    with open(nb201_csv, newline="") as f:
        rows = {r["arch_str"]: r for r in csv.DictReader(f)}
    best = max(rows.values(), key=lambda r: float(r["c10_test"]))
    assert to_nb201_string(named.get("NB201_best")) == best["arch_str"]
    assert float(rows[to_nb201_string(named.get("NB201_all_skip"))]["c10_test"]) == pytest.approx(54.30, abs=0.01)
