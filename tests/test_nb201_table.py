"""The NAS-Bench-201 table: lookups by genotype and arch string, and the published checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from nas.errors import NasError
from nas.genotypes.codec import from_nb201_string
from nas.genotypes.types import NB201_OPS, NB201Genotype
from nas.nb201_table import COLUMNS, NB201Record, NB201Table


def _uniform(op: str) -> NB201Genotype:
    return NB201Genotype(tuple(tuple((op, i) for i in range(j)) for j in range(1, 4)))


@pytest.fixture(scope="module")
def table(nb201_csv: Path) -> NB201Table:
    return NB201Table.load(nb201_csv)


def test_published_checks(table: NB201Table) -> None:
    assert len(table) == 15_625 == len(NB201_OPS) ** 6
    assert len({r.arch_str for r in table}) == 15_625
    assert round(table.best("c10_valid").c10_valid, 2) == 91.61
    assert round(table.best("c10_test").c10_test, 2) == 94.37
    assert round(table.query(_uniform("skip_connect")).c10_test, 2) == 54.30
    assert round(table.query(_uniform("none")).c10_test, 2) == 10.00


def test_query_by_string_and_genotype_agree(table: NB201Table) -> None:
    text = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    by_text = table.query(text)
    by_genotype = table.query(from_nb201_string(text))
    assert by_text == by_genotype
    assert isinstance(by_text, NB201Record)
    assert by_text.arch_str == text
    assert by_text.genotype == from_nb201_string(text)
    assert set(by_text.to_dict()) == set(COLUMNS)
    assert 0 < by_text.params_M < 2 and by_text.c10_test > 90
    assert text in table and "|none~0|" not in table


def test_every_row_is_a_valid_cell_with_sane_numbers(table: NB201Table) -> None:
    for rec in table:
        assert len(rec.genotype.ops) == 6
        assert 0 <= rec.c10_test <= 100 and 0 <= rec.c10_valid <= 100
        assert rec.cost_12ep_s > 0


def test_bad_queries_are_one_line_errors(table: NB201Table) -> None:
    with pytest.raises(NasError, match="3 nodes"):
        table.query(NB201Genotype(((("skip_connect", 0),),)))
    with pytest.raises(NasError, match="NB201 string"):
        table.query("|conv~0|")
    with pytest.raises(NasError, match="unknown column"):
        table.best("accuracy")


def test_missing_or_malformed_table(tmp_path: Path) -> None:
    with pytest.raises(NasError, match="cannot read"):
        NB201Table.load(tmp_path / "nope.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("arch_str,c10_test\n|none~0|,10\n", encoding="utf-8")
    with pytest.raises(NasError, match="missing columns"):
        NB201Table.load(bad)
    rows = tmp_path / "rows.csv"
    rows.write_text(",".join(COLUMNS) + "\n" + "|none~0|," + ",".join(["x"] * (len(COLUMNS) - 1)) + "\n")
    with pytest.raises(NasError, match="line 2"):
        NB201Table.load(rows)
