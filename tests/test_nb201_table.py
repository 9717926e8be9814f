"""The NAS-Bench-201 table: lookups, the published checks, `nas show` of a cell, `nas nb201 import`."""

from __future__ import annotations

import json
import statistics
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


# --------------------------------------------------------------------------- #
# nas show: an NB201 cell's table results
# --------------------------------------------------------------------------- #

BEST_CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|"


def test_rank_counts_the_cells_that_beat_this_one(table: NB201Table) -> None:
    assert table.rank(table.best("c10_test").arch_str, "c10_test") == 1
    assert table.rank(table.best("c10_valid").arch_str, "c10_valid") == 1
    worst = min(table, key=lambda r: r.c10_test)
    assert table.rank(worst.arch_str) == 1 + sum(r.c10_test > worst.c10_test for r in table)
    with pytest.raises(NasError, match="unknown column"):
        table.rank(BEST_CELL, "accuracy")


def test_nas_show_prints_the_table_results_and_rank(nb201_csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from nas.cli import main

    assert main(["show", BEST_CELL, "--nb201-table", str(nb201_csv)]) == 0
    out = capsys.readouterr()
    assert "test 94.37%" in out.out and "rank 1 of 15,625 by test" in out.out
    assert "the space's median test: 90.73%" in out.out  # the figure, from the table
    assert "12-epoch CIFAR-10 valid" in out.out and str(nb201_csv) in out.out
    assert "params" in out.out and not out.err
    assert main(["show", BEST_CELL, "--nb201-table", str(nb201_csv), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["nb201_table"]["found"] and info["nb201_table"]["rank_c10_test"] == 1
    assert info["nb201_table"]["median_c10_test"] == statistics.median(r.c10_test for r in NB201Table.load(nb201_csv))
    assert info["nb201_table"]["record"]["c10_test"] == NB201Table.load(nb201_csv).query(BEST_CELL).c10_test


def test_nas_show_without_a_table_says_where_it_looked_once_and_prints_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import nas.nb201_table
    from nas.cli import main

    looked = [tmp_path / "env.csv", tmp_path / "shared" / "nb201.csv"]
    monkeypatch.setattr(nas.nb201_table, "table_candidates", lambda data_dir=None: looked)
    assert main(["show", BEST_CELL]) == 0
    out = capsys.readouterr()
    assert out.err.count("NAS-Bench-201 table not found") == 1
    assert all(str(p) in out.err for p in looked) and "--nb201-table" in out.err
    assert "params" in out.out and "FLOPs" in out.out and "NB201    :" not in out.out
    assert main(["show", BEST_CELL, "--nb201-table", str(tmp_path / "missing.csv")]) == 2
    assert "--nb201-table" in capsys.readouterr().err


def test_table_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nas.nb201_table import find_table, table_candidates

    env = tmp_path / "env.csv"
    monkeypatch.setenv("NAS_NB201_TABLE", str(env))
    monkeypatch.delenv("NAS_DATA_DIR", raising=False)
    candidates = table_candidates()
    assert candidates[0] == env
    assert Path("..") / "shared" / "data" / "nasbench201" / "nb201.csv" in candidates
    env.write_text("x", encoding="utf-8")
    assert find_table() == env


# --------------------------------------------------------------------------- #
# nas nb201 import: the official files, through the official API
# --------------------------------------------------------------------------- #

FIXTURE_CELLS = [
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|",
    "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
    "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|",
]
#: dataset -> (training seeds, evaluation sets), as in the official files.
FIXTURE_DATASETS = {
    "cifar10-valid": ((777, 888), ("x-valid", "ori-test")),
    "cifar10": ((777, 888), ("ori-test",)),
    "cifar100": ((777,), ("x-valid", "x-test", "ori-test")),
    "ImageNet16-120": ((777, 888, 999), ("x-valid", "x-test", "ori-test")),
}
SET_OFFSET = {"x-valid": 0.0, "x-test": 1.0, "ori-test": 2.0}
DATASET_OFFSET = {"cifar10-valid": 0.0, "cifar10": 3.0, "cifar100": -20.0, "ImageNet16-120": -40.0}


def _acc(cell: int, dataset: str, hp: str, seed: int, evalset: str) -> float:
    """Final-epoch accuracy the fixture stores (a 12-epoch training is 10 points worse)."""
    return 80.0 + 4 * cell + DATASET_OFFSET[dataset] + SET_OFFSET[evalset] + (seed - 888) / 100 - (hp == "12") * 10


def _train_time(cell: int, dataset: str) -> float:
    return 5.0 + cell + (dataset == "cifar10") * 5.0  # per epoch; CIFAR-10 train+valid is twice the images


def _official_results(nats_bench, cell: int) -> dict[str, dict]:
    """{"12": ArchResults state, "200": ...} of one cell, built with the official classes."""
    from nats_bench.api_utils import ArchResults, ResultsCount

    out = {}
    for hp, epochs in (("12", 12), ("200", 200)):
        arch = ArchResults(cell, FIXTURE_CELLS[cell])
        for dataset, (seeds, evalsets) in FIXTURE_DATASETS.items():
            for seed in seeds:
                accs = {e: 10.0 + e * 70.0 / epochs for e in range(epochs)}
                result = ResultsCount(
                    dataset,
                    None,
                    accs,
                    {e: 1.0 for e in range(epochs)},
                    0.5 + cell / 10,  # params (MB)
                    100.0 + cell,  # FLOPs (M)
                    {"arch_str": FIXTURE_CELLS[cell], "channel": 16, "num_cells": 5, "class_num": 10},
                    seed,
                    epochs,
                    [0.01 * (cell + 1)],
                )
                result.update_train_info(
                    accs, accs, {e: 1.0 for e in range(epochs)}, {e: _train_time(cell, dataset) for e in range(epochs)}
                )
                keys = [f"{s}@{e}" for s in evalsets for e in range(epochs)]
                final = {s: _acc(cell, dataset, hp, seed, s) for s in evalsets}
                result.update_eval(
                    {k: final[k.split("@")[0]] for k in keys},
                    {k: 1.0 for k in keys},
                    {k: 0.5 for k in keys},
                )
                arch.update(dataset, seed, result)
        out[hp] = arch.state_dict()
    return out


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _expected(cell: int) -> dict[str, float]:
    def acc(dataset: str, hp: str, evalset: str) -> float:
        return _mean([_acc(cell, dataset, hp, s, evalset) for s in FIXTURE_DATASETS[dataset][0]])

    return {
        "c10_valid": acc("cifar10-valid", "200", "x-valid"),
        "c10_test": acc("cifar10", "200", "ori-test"),
        "c100_valid": acc("cifar100", "200", "x-valid"),
        "c100_test": acc("cifar100", "200", "x-test"),
        "in16_valid": acc("ImageNet16-120", "200", "x-valid"),
        "in16_test": acc("ImageNet16-120", "200", "x-test"),
        "c10_valid_12ep": acc("cifar10-valid", "12", "x-valid"),
        "c100_valid_12ep": acc("cifar100", "12", "x-valid"),
        "in16_valid_12ep": acc("ImageNet16-120", "12", "x-valid"),
        "cost_12ep_s": 12 * _train_time(cell, "cifar10-valid") + 0.5,  # train-all-time + valid-per-time
        "flops_M": 100.0 + cell,
        "params_M": 0.5 + cell / 10,
        "latency_s": 0.01 * (cell + 1),
        "train_epoch_time_s": _train_time(cell, "cifar10"),
        "train_time_200ep_s": 200 * _train_time(cell, "cifar10"),
        "c10_test_err_1seed": (100 - _acc(cell, "cifar10", "200", 777, "ori-test")) / 100,
    }


@pytest.fixture(scope="module")
def official_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The three official layouts, written with the official package's own classes and pickler."""
    nats_bench = pytest.importorskip("nats_bench", reason="pip install nats_bench (extra nb201)")
    from nats_bench.api_utils import pickle_save

    root = tmp_path_factory.mktemp("official")
    results = [_official_results(nats_bench, i) for i in range(len(FIXTURE_CELLS))]
    archive = root / "NATS-tss-v1_0-3ffb9-simple"  # fast mode: meta + one file per cell
    archive.mkdir()
    pickle_save({"meta_archs": FIXTURE_CELLS}, str(archive / "meta.pickle"))
    for i, res in enumerate(results):
        pickle_save(res, str(archive / f"{i:06d}.pickle"))
    whole = {"meta_archs": FIXTURE_CELLS, "arch2infos": dict(enumerate(results)), "evaluated_indexes": [0, 1, 2]}
    pickle_save(whole, str(root / "NATS-tss-v1_0-3ffb9.pickle"))
    import torch

    v1 = {**whole, "arch2infos": {i: {"less": r["12"], "full": r["200"]} for i, r in enumerate(results)}}
    torch.save(v1, root / "NAS-Bench-201-v1_1-096897.pth")
    return {
        "archive": archive,
        "file": root / "NATS-tss-v1_0-3ffb9.pickle.pbz2",
        "nb201_v1_1": root / "NAS-Bench-201-v1_1-096897.pth",
    }


@pytest.mark.parametrize("layout", ["archive", "file", "nb201_v1_1"])
def test_nb201_import_builds_the_table_from_the_official_files(
    official_files: dict[str, Path], tmp_path: Path, layout: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from nas.cli import main

    out = tmp_path / "nb201.csv"
    assert main(["nb201", "import", str(official_files[layout]), "--out", str(out), "--quiet"]) == 0
    assert "3 cells" in capsys.readouterr().out
    built = NB201Table.load(out)
    assert [r.arch_str for r in built] == FIXTURE_CELLS
    for i, cell in enumerate(FIXTURE_CELLS):
        got = built.query(cell).to_dict()
        for column, want in _expected(i).items():
            assert got[column] == pytest.approx(want), (layout, cell, column)
    assert main(["nb201", "import", str(official_files[layout]), "--out", str(out)]) == 2  # no silent overwrite
    assert "--force" in capsys.readouterr().err
    assert main(["nb201", "import", str(official_files[layout]), "--out", str(out), "--force", "--quiet"]) == 0


def test_nb201_import_bad_input_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from nas.cli import main

    assert main(["nb201", "import", str(tmp_path / "missing.pth"), "--out", str(tmp_path / "t.csv")]) == 2
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "NATS-tss-v1_0-3ffb9-simple.tar").write_bytes(b"")
    assert (
        main(["nb201", "import", str(tmp_path / "NATS-tss-v1_0-3ffb9-simple.tar"), "--out", str(tmp_path / "t.csv")])
        == 2
    )
    assert "extract the archive first" in capsys.readouterr().err
    junk = tmp_path / "junk.pickle.pbz2"
    junk.write_bytes(b"not a benchmark")
    assert main(["nb201", "import", str(junk), "--out", str(tmp_path / "t.csv")]) == 2
    err = capsys.readouterr().err
    assert "not a NATS-Bench topology or NAS-Bench-201 file" in err and err.count("\n") == 1
    assert not (tmp_path / "t.csv").exists()


def test_nb201_import_without_the_api_package_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sys

    from nas.cli import main

    monkeypatch.setitem(sys.modules, "nats_bench", None)  # import fails as if not installed
    assert main(["nb201", "import", str(tmp_path), "--out", str(tmp_path / "t.csv")]) == 2
    err = capsys.readouterr().err
    assert "pip install" in err and "nats_bench" in err and err.count("\n") == 1
