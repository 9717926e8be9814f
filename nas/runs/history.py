"""The per-epoch history of a run (``*.jsonl``, one JSON object a line) and its TensorBoard events.

Jobs keep the history rows in their checkpoint too, so a resumed run rewrites the file
from the rows the checkpoint covers: a kill between the checkpoint and the log line can
neither lose an epoch nor duplicate one. TensorBoard drops the events of later epochs.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from nas.runs.atomic import write_text


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a JSON-lines file; a line cut by a kill is skipped; empty when absent."""
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


class History:
    """Appends epoch rows to ``path``; starts from ``rows`` (what the checkpoint covers).

    ``rows=None`` (a checkpoint that holds no rows) keeps the file's rows whose ``epoch``
    is at most ``epochs_done``.
    """

    def __init__(self, path: str | Path, rows: Iterable[Mapping[str, Any]] | None = None, epochs_done: int = 0):
        self.path = Path(path)
        if rows is None:
            rows = [r for r in read_rows(self.path) if int(r.get("epoch", epochs_done + 1)) <= epochs_done]
        write_text(self.path, "".join(json.dumps(dict(r)) + "\n" for r in rows))

    def append(self, row: Mapping[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(dict(row)) + "\n")


def tensorboard(log_dir: str | Path, epochs_done: int) -> Any:
    """A ``SummaryWriter`` whose events after ``epochs_done`` (a killed run's tail) are purged."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(str(log_dir), purge_step=epochs_done + 1)
