"""What the driver prints while trials run: one line per finished or failed trial, and a progress bar.

The lines are results (like the epoch lines of a DARTS search) and are always printed;
``progress=False`` (``nas search --no-progress``) only hides the bar of finished trials.

Tune pickles its callbacks with the experiment and a restored experiment brings back the
pickled one, so :class:`TrialLines` holds no state of its own: the job states where
lines go and whether the bar shows with :func:`trial_output` around ``Tuner.fit()``.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from ray import tune

Echo = Callable[[str], None]


@dataclass(frozen=True)
class _Output:
    echo: Echo = print
    progress: bool = False
    total: int | None = None


_OUTPUT: ContextVar[_Output | None] = ContextVar("nas_tune_output", default=None)


def _output() -> _Output:
    return _OUTPUT.get() or _Output()


@contextlib.contextmanager
def trial_output(echo: Echo = print, *, progress: bool = True, total: int | None = None) -> Iterator[None]:
    """Within the block, trial lines go to ``echo``; a bar counts finished trials (of ``total``) if ``progress``."""
    token = _OUTPUT.set(_Output(echo, progress, total))
    try:
        yield
    finally:
        _OUTPUT.reset(token)


def trial_line(trial: Any) -> str:
    """``trial KEY: val 91.23%  epochs 12  3.4s`` from a trial's last result."""
    m = trial.last_result or {}
    val = m.get("val_accuracy")
    key, epochs, seconds = m.get("key", trial.trial_id), m.get("epoch", "-"), m.get("trial_time_s", 0.0)
    if m.get("proxy") is not None:  # a zero-shot trial: the score, no epochs
        return f"trial {key}: {m['proxy']} {'-' if val is None else f'{val:.6g}'}  {seconds:.1f}s"
    val_text = "-" if val is None else f"{val:.2f}%"
    return f"trial {key}: val {val_text}  epochs {epochs}  {seconds:.1f}s"


class TrialLines(tune.Callback):
    """One line per finished or failed trial on the driver, and a bar of finished trials."""

    def __init__(self) -> None:
        self._bar: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {}  # the bar belongs to one driver process

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._bar = None

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._say(trial_line(trial))

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._say(f"trial {trial.config.get('key', trial.trial_id)}: FAILED")

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        out = _output()
        if not out.progress:
            return
        done = sum(t.is_finished() for t in trials)
        if self._bar is None:
            from tqdm import tqdm  # only with a bar

            self._bar = tqdm(
                total=out.total, initial=done, desc="finished", unit=" trials", leave=False, file=sys.stderr
            )
        elif done != self._bar.n:
            self._bar.update(done - self._bar.n)

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def _say(self, text: str) -> None:
        echo = _output().echo
        if self._bar is None:
            echo(text)
        else:
            with self._bar.external_write_mode():
                echo(text)
        sys.stdout.flush()  # a log file shows each trial as it ends, not when the buffer fills
