"""Per-epoch metrics: ``metrics.jsonl`` (one JSON object a line) and TensorBoard scalars.

The history is also kept in the checkpoint, so a resumed run rewrites
``metrics.jsonl`` from it: a kill between the checkpoint and the log line can neither
lose an epoch nor duplicate one.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

#: Columns of ``metrics.jsonl``, in order.
COLUMNS: tuple[str, ...] = (
    "epoch",
    "lr",
    "train_loss",
    "train_top1",
    "train_top5",
    "val_loss",
    "val_top1",
    "val_top5",
    "epoch_time_s",
    "images_per_s",
)


class MetricsLog:
    """Writes epoch rows to ``run_dir/metrics.jsonl`` and ``run_dir/tb/`` (when enabled)."""

    def __init__(self, run_dir: Path, history: list[dict[str, Any]], *, tensorboard: bool = True) -> None:
        self.path = run_dir / "metrics.jsonl"
        text = "".join(json.dumps(row) + "\n" for row in history)
        self.path.write_text(text, encoding="utf-8")
        self._writer = None
        if tensorboard:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                from torch.utils.tensorboard import SummaryWriter

            # purge_step drops events of epochs after the checkpoint (a killed run's tail).
            self._writer = SummaryWriter(str(run_dir / "tb"), purge_step=len(history) + 1)

    def append(self, row: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")
        if self._writer is not None:
            step = int(row["epoch"])
            for key, value in row.items():
                if key == "epoch" or value is None:
                    continue
                group, _, name = key.partition("_")
                tag = f"{group}/{name}" if group in ("train", "val") else f"run/{key}"
                self._writer.add_scalar(tag, value, step)
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """The rows of ``metrics.jsonl`` (empty when absent)."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
