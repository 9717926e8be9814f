"""The NAS-Bench-201 results table: the true accuracy of every cell of the NB201 space.

Searches in the NB201 space (DARTS, and the controllers that train nothing but query
the benchmark) use it to tell what the cell they found is really worth. The table is a
CSV with one row per cell (``arch_str`` plus accuracy, cost and size columns); it is
read once into memory (15,625 rows, a few MB).
"""

from __future__ import annotations

import csv
import os
import statistics
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path

from nas.errors import NasError
from nas.genotypes.codec import from_nb201_string, to_nb201_string
from nas.genotypes.types import NB201Genotype

#: Where the table sits inside a data directory.
TABLE_RELPATH = Path("nasbench201") / "nb201.csv"
#: The benchmark cell has three intermediate nodes (six edges).
NB201_NODES = 3


@dataclass(frozen=True)
class NB201Record:
    """One row of the table. Accuracies are percentages; times in seconds."""

    arch_str: str
    c10_valid: float
    c10_test: float
    c100_valid: float
    c100_test: float
    in16_valid: float
    in16_test: float
    c10_valid_12ep: float
    c100_valid_12ep: float
    in16_valid_12ep: float
    cost_12ep_s: float
    flops_M: float  # noqa: N815 - the table's column name
    params_M: float  # noqa: N815 - the table's column name
    latency_s: float
    train_epoch_time_s: float
    train_time_200ep_s: float
    c10_test_err_1seed: float

    @property
    def genotype(self) -> NB201Genotype:
        return from_nb201_string(self.arch_str)

    def to_dict(self) -> dict[str, float | str]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(NB201Record))


def table_candidates(data_dir: str | os.PathLike[str] | None = None) -> list[Path]:
    """Where :func:`find_table` looks, in order (so a caller can say where it looked).

    ``$NAS_NB201_TABLE``, then ``data_dir``, ``$NAS_DATA_DIR``, ``../shared/data`` (from the
    working directory) and the shared data directory next to the project, each with
    ``nasbench201/nb201.csv``.
    """
    candidates: list[Path] = []
    env_table = os.environ.get("NAS_NB201_TABLE")
    if env_table:
        candidates.append(Path(env_table))
    for base in (data_dir, os.environ.get("NAS_DATA_DIR")):
        if base:
            candidates.append(Path(base) / TABLE_RELPATH)
            candidates.append(Path(base).parent / TABLE_RELPATH)  # data_dir may point at the image folder
    candidates.append(Path("..") / "shared" / "data" / TABLE_RELPATH)
    candidates.append(Path(__file__).resolve().parents[2] / "shared" / "data" / TABLE_RELPATH)
    unique: list[Path] = []
    for path in candidates:
        if path.absolute() not in {u.absolute() for u in unique}:
            unique.append(path)
    return unique


def find_table(data_dir: str | os.PathLike[str] | None = None) -> Path | None:
    """The table's path if one can be found, else ``None`` (so a search can run without it)."""
    for path in table_candidates(data_dir):
        if path.is_file():
            return path
    return None


def write_table(records: Iterable[NB201Record], path: str | os.PathLike[str]) -> int:
    """Write ``records`` as the table's CSV (atomically: a reader never sees half a file); returns the rows."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    count = 0
    try:
        with tmp.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(COLUMNS)
            for rec in records:
                writer.writerow([rec.arch_str, *(repr(float(getattr(rec, c))) for c in COLUMNS[1:])])
                count += 1
        os.replace(tmp, path)
    except OSError as exc:
        raise NasError(f"NAS-Bench-201 table {path}: cannot write it ({exc.strerror or exc})") from None
    finally:
        tmp.unlink(missing_ok=True)  # a failure (or a bad record) leaves no half-written file
    return count


class NB201Table:
    """All cells of the NAS-Bench-201 space with their results, keyed by arch string."""

    def __init__(self, records: list[NB201Record], path: Path | None = None) -> None:
        self.path = path
        self._by_arch: dict[str, NB201Record] = {}
        for rec in records:
            self._by_arch[rec.arch_str] = rec

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> NB201Table:
        """Read the CSV; a missing or malformed file is a one-line :class:`NasError`."""
        path = Path(path)
        try:
            handle = path.open(newline="", encoding="utf-8")
        except OSError as exc:
            raise NasError(f"NAS-Bench-201 table {path}: cannot read it ({exc.strerror or exc})") from None
        records = []
        with handle:
            reader = csv.DictReader(handle)
            missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise NasError(f"NAS-Bench-201 table {path}: missing columns {', '.join(missing)}")
            for line, row in enumerate(reader, start=2):
                try:
                    values = {c: float(row[c]) for c in COLUMNS[1:]}
                except (TypeError, ValueError):
                    raise NasError(f"NAS-Bench-201 table {path}: line {line}: expected numbers") from None
                records.append(NB201Record(arch_str=row["arch_str"].strip(), **values))
        if not records:
            raise NasError(f"NAS-Bench-201 table {path}: no rows")
        return cls(records, path)

    def __len__(self) -> int:
        return len(self._by_arch)

    def __iter__(self) -> Iterator[NB201Record]:
        return iter(self._by_arch.values())

    def __contains__(self, cell: object) -> bool:
        try:
            return self._key(cell) in self._by_arch  # type: ignore[arg-type]
        except NasError:
            return False

    @staticmethod
    def _key(cell: NB201Genotype | str) -> str:
        if isinstance(cell, NB201Genotype):
            genotype = cell
        elif isinstance(cell, str):
            genotype = from_nb201_string(cell)  # validates and normalises spacing
        else:
            raise NasError(
                f"NAS-Bench-201 lookup: expected an NB201 genotype or arch string, got {type(cell).__name__}"
            )
        if len(genotype.nodes) != NB201_NODES:
            raise NasError(
                f"NAS-Bench-201 lookup: the benchmark cell has {NB201_NODES} nodes, got {len(genotype.nodes)}"
            )
        return to_nb201_string(genotype)

    def query(self, cell: NB201Genotype | str) -> NB201Record:
        """The record of ``cell`` (a genotype or an arch string)."""
        key = self._key(cell)
        try:
            return self._by_arch[key]
        except KeyError:
            raise NasError(f"NAS-Bench-201 table: cell {key} is not in the table") from None

    def best(self, column: str = "c10_valid") -> NB201Record:
        """The record with the highest value of ``column`` (e.g. the optimum a search aims at)."""
        if column not in COLUMNS[1:]:
            raise NasError(f"NAS-Bench-201 table: unknown column {column!r} (known: {', '.join(COLUMNS[1:])})")
        return max(self._by_arch.values(), key=lambda r: getattr(r, column))

    def median(self, column: str = "c10_test") -> float:
        """The space's median of ``column``: the scale against which one cell's figure is judged."""
        if column not in COLUMNS[1:]:
            raise NasError(f"NAS-Bench-201 table: unknown column {column!r} (known: {', '.join(COLUMNS[1:])})")
        return statistics.median(getattr(r, column) for r in self._by_arch.values())

    def rank(self, cell: NB201Genotype | str, column: str = "c10_test") -> int:
        """1 + the number of cells with a higher ``column`` (1: the best; ties share a rank)."""
        if column not in COLUMNS[1:]:
            raise NasError(f"NAS-Bench-201 table: unknown column {column!r} (known: {', '.join(COLUMNS[1:])})")
        value = getattr(self.query(cell), column)
        return 1 + sum(getattr(r, column) > value for r in self._by_arch.values())


__all__ = [
    "COLUMNS",
    "NB201Record",
    "NB201Table",
    "find_table",
    "table_candidates",
    "write_table",
]
