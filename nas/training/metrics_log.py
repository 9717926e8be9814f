"""Per-epoch metrics of a training run: ``metrics.jsonl`` (one JSON object a line) and TensorBoard scalars.

Both go through :mod:`nas.runs.history`: the history is also kept in the checkpoint, so a
resumed run rewrites ``metrics.jsonl`` from it and TensorBoard drops the events of a killed
run's tail; a kill between the checkpoint and the log line neither loses nor duplicates an epoch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nas.runs import history as run_history

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
        self._history = run_history.History(run_dir / "metrics.jsonl", history)
        self._writer = run_history.tensorboard(run_dir / "tb", len(history)) if tensorboard else None

    def append(self, row: dict[str, Any]) -> None:
        self._history.append(row)
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
