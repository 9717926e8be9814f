"""How a network runs on each device type: the lean kernels and channels-last, measured, never guessed.

The toolkit's derived cell networks (DARTS, NAS-Bench-201) can run ``SepConv``/``DilConv``
on the lean autograd kernels of :mod:`nas.kernels` and in channels-last memory format.
Both were tuned on CPUs (``benchmarks/results/derived_network.json``); on a GPU neither
is known to help until ``benchmarks/gpu_check.py`` has measured it. So a training config's
``lean_kernels: auto`` and ``channels_last: auto`` resolve through :data:`TABLE` here and
nowhere else:

* ``cpu``: lean kernels on, channels-last on for the cell networks (the CPU benchmarks:
  1.73x / 1.45x the reference against 1.06x / 0.90x in NCHW); other models (ResNet, the
  zoo) stay NCHW, the trainer's CPU behaviour before this table.
* ``cuda``: what ``benchmarks/results/gpu_check.json`` measured on *this* GPU model (the
  fastest of NCHW/channels-last at the run's precision; the lean kernels only when they
  were faster in float32 and matched the CPU), else plain PyTorch layers and NCHW, as the
  DARTS reference runs. ``NAS_GPU_CHECK`` may name another result file.
* ``mps``: plain layers, NCHW (never measured).

:func:`choose` returns the choice with its reason; the trainer prints it once per run and
records it in the run's ``config.json`` (``environment.execution``).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

#: The result file of ``benchmarks/gpu_check.py`` in a source checkout (editable install).
GPU_CHECK_FILE = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "gpu_check.json"
#: Environment variable naming another result file of ``benchmarks/gpu_check.py``.
GPU_CHECK_ENV = "NAS_GPU_CHECK"
#: ``format`` of the result file this module reads.
GPU_CHECK_FORMAT = 1

Family = Literal["cells", "other"]
Precision = Literal["fp32", "fp16", "bf16"]


@dataclass(frozen=True)
class Execution:
    """How one run executes: the two switches, where they come from and why."""

    device_type: str
    family: str
    precision: str
    lean_kernels: bool
    channels_last: bool
    source: str  # "table:cpu", "gpu_check", "unmeasured", "config"
    reason: str

    def describe(self) -> str:
        """The one line a run prints."""
        on = {True: "on", False: "off"}
        lean = f"lean kernels {on[self.lean_kernels]}, " if self.family == "cells" else ""
        return (
            f"execution on {self.device_type} ({self.family} network, {self.precision}): "
            f"{lean}channels-last {on[self.channels_last]} -- {self.reason}"
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Row:
    lean_kernels: bool
    channels_last: bool
    reason: str


#: device type -> network family -> the default when nothing was measured for it.
TABLE: dict[str, dict[str, _Row]] = {
    "cpu": {
        "cells": _Row(
            True,
            True,
            "CPU benchmarks (benchmarks/results/derived_network.json): lean kernels + channels-last "
            "1.73x/1.45x the reference, NCHW 1.06x/0.90x",
        ),
        "other": _Row(True, False, "trainer's CPU default: NCHW (channels_last: true to change it)"),
    },
    "cuda": {
        "cells": _Row(False, False, "not measured on this GPU: plain PyTorch layers and NCHW, as the DARTS reference"),
        "other": _Row(False, False, "not measured on this GPU: NCHW, as plain PyTorch"),
    },
    "mps": {
        "cells": _Row(False, False, "never measured on MPS: plain PyTorch layers and NCHW"),
        "other": _Row(False, False, "never measured on MPS: NCHW"),
    },
}


def precision_of(dtype: object) -> Precision:
    """``fp16``/``bf16`` for an autocast dtype, ``fp32`` for none."""
    return {"torch.float16": "fp16", "torch.bfloat16": "bf16"}.get(str(dtype), "fp32")  # type: ignore[return-value]


def gpu_check_file() -> Path:
    """The result file the CUDA row reads: ``$NAS_GPU_CHECK`` or the checkout's ``benchmarks/results``."""
    env = os.environ.get(GPU_CHECK_ENV, "").strip()
    return Path(env) if env else GPU_CHECK_FILE


def read_gpu_check(path: Path | None = None) -> tuple[dict[str, Any] | None, str]:
    """``(result, "")`` for a full CUDA measurement, else ``(None, why it is not used)``."""
    path = gpu_check_file() if path is None else path
    if not path.is_file():
        return None, f"no {path.name} (run python benchmarks/gpu_check.py on a GPU)"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return None, f"{path} unreadable ({type(exc).__name__})"
    if not isinstance(doc, dict) or doc.get("format") != GPU_CHECK_FORMAT:
        return None, f"{path} is not a gpu_check result of format {GPU_CHECK_FORMAT}"
    if doc.get("device_type") != "cuda" or doc.get("budget") != "full":
        return None, f"{path} holds a {doc.get('budget')} run on {doc.get('device_type')}, not a full CUDA check"
    return doc, ""


def choose(
    device_type: str,
    *,
    family: Family = "cells",
    precision: Precision = "fp32",
    gpu_name: str | None = None,
    result: dict[str, Any] | None = None,
    result_path: Path | None = None,
) -> Execution:
    """The default execution of a ``family`` network on ``device_type`` at ``precision``.

    For CUDA, ``result`` (a parsed gpu_check result) or the file at ``result_path`` (default
    :func:`gpu_check_file`) is used when it measured the same GPU model as ``gpu_name``
    (default: the current CUDA device's name).
    """
    rows = TABLE.get(device_type, TABLE["mps"])
    row = rows[family]
    base = Execution(device_type, family, precision, row.lean_kernels, row.channels_last, "table", row.reason)
    if device_type != "cuda":
        return base
    why = ""
    if result is None:
        result, why = read_gpu_check(result_path)
    if result is None:
        return _with(base, source="unmeasured", reason=f"{row.reason} ({why})")
    if gpu_name is None:
        gpu_name = _current_gpu_name()
    measured_on = str(result.get("gpu", {}).get("name"))
    if gpu_name != measured_on:
        return _with(
            base, source="unmeasured", reason=f"{row.reason} (gpu_check measured {measured_on}, this is {gpu_name})"
        )
    return _from_measurement(base, result, measured_on)


def _from_measurement(base: Execution, result: dict[str, Any], gpu: str) -> Execution:
    model = "darts_v2" if base.family == "cells" else "resnet20"
    rows = [
        r
        for r in result.get("speed", {}).get("rows", [])
        if r.get("model") == model
        and r.get("precision") == base.precision
        and r.get("impl") in ("plain", "lean")
        and isinstance(r.get("images_per_s"), (int, float))  # a variant that failed has an error instead
    ]
    if not rows:
        return _with(
            base, source="unmeasured", reason=f"{base.reason} (gpu_check has no {model} {base.precision} rows)"
        )
    best = max(rows, key=lambda r: float(r["images_per_s"]))
    fmt = best["format"]
    same_impl = [r for r in rows if r["impl"] == best["impl"]]
    other = next((r for r in same_impl if r["format"] != fmt), None)
    cl = fmt == "channels_last"
    parts = [f"gpu_check on {gpu} ({result.get('date', '?')}): {model} {base.precision} fastest in {fmt}"]
    if other is not None:
        parts[0] += f" ({float(best['images_per_s']) / float(other['images_per_s']):.2f}x {other['format']})"
    lean = False
    if base.family == "cells":
        lean_ok = bool(result.get("correctness", {}).get("lean_kernels_ok", False))
        if base.precision != "fp32":
            parts.append("lean kernels off (they run in float32 only; autocast bypasses them)")
        elif not lean_ok:
            parts.append("lean kernels off (they did not match the CPU on this GPU)")
        else:
            lean = best["impl"] == "lean"
            parts.append("lean kernels faster" if lean else "plain layers faster")
    return _with(base, lean_kernels=lean, channels_last=cl, source="gpu_check", reason="; ".join(parts))


def resolve(
    lean_kernels: bool | str,
    channels_last: bool | str,
    device_type: str,
    *,
    family: Family,
    precision: Precision,
) -> Execution:
    """A config's ``lean_kernels``/``channels_last`` (``auto`` or a bool) for one run: the table fills in ``auto``."""
    chosen = choose(device_type, family=family, precision=precision)
    explicit = {}
    if isinstance(lean_kernels, bool):
        explicit["lean_kernels"] = lean_kernels
    if isinstance(channels_last, bool):
        explicit["channels_last"] = channels_last
    if not explicit:
        return chosen
    given = ", ".join(f"{k}={str(v).lower()}" for k, v in explicit.items())
    return _with(
        chosen, source="config", reason=f"set in the config ({given}); the table says: {chosen.reason}", **explicit
    )


def _with(base: Execution, **changes: Any) -> Execution:
    return Execution(**{**asdict(base), **changes})


def _current_gpu_name() -> str:
    import torch

    if not torch.cuda.is_available():
        return "no CUDA device"
    return str(torch.cuda.get_device_name())
