"""What a training run produced (``result.json``), and reading it back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from nas.errors import NasError
from nas.runs.atomic import read_json

RESULT_FILE = "result.json"


@dataclass(frozen=True)
class TrainResult:
    """What a run produced. ``test_*`` are None when the run stopped early (not a finished model).

    ``selection`` says which weights are "the model": ``best_val`` (best validation top-1;
    ties go to the earlier epoch) or ``final`` (no validation split, so no selection).
    """

    run_dir: str | None
    epochs: int
    epochs_completed: int
    selection: str
    best_epoch: int | None
    best_val_top1: float | None
    best_val_top5: float | None
    final_val_top1: float | None
    final_val_top5: float | None
    final_train_loss: float | None
    final_train_top1: float | None
    test_best_top1: float | None
    test_best_top5: float | None
    test_final_top1: float | None
    test_final_top5: float | None
    stopped_early: bool
    resumed_from_epoch: int
    train_time_s: float
    eval_time_s: float
    images_per_s: float
    num_parameters: int
    already_complete: bool = field(default=False, compare=False)

    @property
    def test_top1(self) -> float | None:
        """Test top-1 of the selected model (best on validation, else final)."""
        return self.test_best_top1 if self.selection == "best_val" else self.test_final_top1

    @property
    def test_top5(self) -> float | None:
        return self.test_best_top5 if self.selection == "best_val" else self.test_final_top5

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("already_complete")
        out["test_top1"], out["test_top5"] = self.test_top1, self.test_top5
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, already_complete: bool = False) -> TrainResult:
        names = {f.name for f in cls.__dataclass_fields__.values()} - {"already_complete"}
        missing = names - set(data)
        if missing:
            raise NasError(f"{RESULT_FILE}: missing fields {', '.join(sorted(missing))}")
        return cls(**{k: data[k] for k in names}, already_complete=already_complete)


def read_result(run_dir: str | Path) -> TrainResult:
    """The result of a completed run directory."""
    path = Path(run_dir) / RESULT_FILE
    if not path.is_file():
        raise NasError(f"{path}: not found (the run is not complete)")
    data = read_json(path, "the run's result")
    if not isinstance(data, dict):
        raise NasError(f"{path}: expected a JSON object")
    return TrainResult.from_dict(data, already_complete=True)
