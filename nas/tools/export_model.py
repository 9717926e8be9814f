"""Export a trained network for inference (TorchScript, ONNX) and prove the file computes the same thing.

Both exporters run the model in evaluation mode through a thin wrapper that keeps only
the logits, so an auxiliary head never appears in the exported graph (networks return
``(logits, aux)`` in training mode only, but the wrapper makes that certain). After
writing, each function *loads the file back and runs it*: TorchScript through
``torch.jit.load``, ONNX through ``onnxruntime`` when it is installed (else only
``onnx.checker`` when ``onnx`` is, else nothing), on the example and on a second batch
of another size, and compares with PyTorch. A difference beyond
``atol + rtol * max|logits|`` raises :class:`NasError`; the report carries the
maximum absolute difference either way.

Shapes: the batch dimension is dynamic; the image size is fixed to the example's
(tracing specialises shape-dependent branches such as the odd-size padding of
``FactorizedReduce``).

ONNX ``method``: ``dynamo`` is PyTorch's current ``torch.export``-based exporter (needs
``onnxscript``; slow: 10-20 s for a small network), ``legacy`` the deprecated
TorchScript-based one (fast, no extra package), ``auto`` picks ``dynamo`` when
``onnxscript`` is installed.

:func:`export_trained_model` is ``nas export --format onnx|torchscript``: a training run's
network rebuilt with its trained weights (:func:`nas.training.finished.load_run`), exported,
and checked on the run's own test images.
"""

from __future__ import annotations

import importlib.util
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nas.errors import NasError
from nas.training.finished import load_run
from nas.training.record import CONFIG_FILE

__all__ = [
    "MODEL_FILES",
    "ExportReport",
    "export_onnx",
    "export_torchscript",
    "export_trained_model",
    "onnxruntime_available",
]

#: Model formats and the default file name of each in the run directory.
MODEL_FILES: dict[str, str] = {"onnx": "model.onnx", "torchscript": "model.ts"}

INPUT_NAME = "images"
OUTPUT_NAME = "logits"


def onnxruntime_available() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None


@dataclass
class ExportReport:
    """Where the model went and how closely the exported file reproduces PyTorch."""

    path: Path
    format: str  # "torchscript" | "onnx"
    max_abs_diff: float | None  # None when the file could not be run here
    checked_with: str  # "torch.jit.load", "onnxruntime", "onnx.checker" or "nothing"
    batch_sizes: tuple[int, ...] = ()

    def summary(self) -> str:
        diff = "not compared" if self.max_abs_diff is None else f"max |diff| {self.max_abs_diff:.2e}"
        sizes = f" on batches of {', '.join(map(str, self.batch_sizes))}" if self.batch_sizes else ""
        return f"{self.format} -> {self.path} ({diff}, checked with {self.checked_with}{sizes})"


class _LogitsOnly(nn.Module):
    """Inference wrapper: the logits, never an auxiliary output."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x)
        return out[0] if isinstance(out, (tuple, list)) else out


def _check_example(example: Any) -> torch.Tensor:
    if not isinstance(example, torch.Tensor) or example.dim() != 4 or not example.is_floating_point():
        shape = tuple(example.shape) if isinstance(example, torch.Tensor) else type(example).__name__
        raise NasError(f"example: expected a float tensor [B, C, H, W], got {shape}")
    return example.detach()


def _second_batch(example: torch.Tensor) -> torch.Tensor:
    """A different batch size, so a batch dimension baked into the file is caught."""
    g = torch.Generator().manual_seed(0)
    shape = (example.shape[0] + 1, *example.shape[1:])
    return torch.randn(shape, generator=g, dtype=example.dtype).to(example.device)


def _compare(reference: torch.Tensor, got: Any, what: str, atol: float, rtol: float) -> float:
    got_t = torch.as_tensor(got).to(reference.device, reference.dtype)
    if got_t.shape != reference.shape:
        raise NasError(f"{what}: output shape {tuple(got_t.shape)}, PyTorch gives {tuple(reference.shape)}")
    diff = float((got_t - reference).abs().max()) if reference.numel() else 0.0
    limit = atol + rtol * float(reference.abs().max()) if reference.numel() else atol
    if not diff <= limit:  # also catches NaN
        raise NasError(f"{what}: outputs differ from PyTorch by up to {diff:.3g} (tolerance {limit:.3g})")
    return diff


class _prepared:
    """Evaluation mode and the logits-only wrapper for the duration of an export."""

    def __init__(self, model: nn.Module) -> None:
        if not isinstance(model, nn.Module):
            raise NasError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
        self.model = model

    def __enter__(self) -> nn.Module:
        self.was_training = self.model.training
        self.model.eval()
        return _LogitsOnly(self.model).eval()

    def __exit__(self, *exc: object) -> None:
        self.model.train(self.was_training)


def _target(path: str | Path, suffixes: tuple[str, ...]) -> Path:
    p = Path(path)
    if p.suffix.lower() not in suffixes:
        raise NasError(f"{p}: expected a file name ending in {' or '.join(suffixes)}")
    p.parent.mkdir(parents=True, exist_ok=True)
    return p


def export_torchscript(
    model: nn.Module, path: str | Path, example: torch.Tensor, *, atol: float = 1e-5, rtol: float = 1e-4
) -> ExportReport:
    """Trace ``model`` (eval mode, logits only) to a TorchScript file, reload it and compare outputs."""
    p = _target(path, (".pt", ".pth", ".ts", ".torchscript"))
    x = _check_example(example)
    x2 = _second_batch(x)
    with _prepared(model) as wrapped, torch.no_grad():
        ref, ref2 = wrapped(x), wrapped(x2)
        with warnings.catch_warnings():
            # torch.jit.trace is deprecated in favour of torch.export, and warns about shape-specialised
            # branches; both are expected here (see the module docstring).
            warnings.simplefilter("ignore")
            try:
                traced = torch.jit.trace(wrapped, x, check_trace=False)
            except Exception as exc:  # an untraceable model is reported, not a crash
                reason = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0]
                raise NasError(f"{p}: TorchScript tracing failed ({reason[:160]})") from None
            torch.jit.save(traced, str(p))
            loaded = torch.jit.load(str(p), map_location=x.device)
        diff = max(
            _compare(ref, loaded(x), f"{p} (batch {len(x)})", atol, rtol),
            _compare(ref2, loaded(x2), f"{p} (batch {len(x2)})", atol, rtol),
        )
    return ExportReport(p, "torchscript", diff, "torch.jit.load", (len(x), len(x2)))


def _onnx_method(method: str) -> str:
    if method not in ("auto", "dynamo", "legacy"):
        raise NasError(f"method: expected 'auto', 'dynamo' or 'legacy', got {method!r}")
    has_script = importlib.util.find_spec("onnxscript") is not None
    if method == "auto":
        return "dynamo" if has_script else "legacy"
    if method == "dynamo" and not has_script:
        raise NasError("method: 'dynamo' ONNX export needs onnxscript (pip install onnxscript); or use 'legacy'")
    return method


def export_onnx(
    model: nn.Module,
    path: str | Path,
    example: torch.Tensor,
    *,
    method: str = "auto",
    opset: int | None = None,
    atol: float = 1e-4,
    rtol: float = 1e-4,
) -> ExportReport:
    """Export ``model`` (eval mode, logits only) to ONNX with a dynamic batch, then run and compare it.

    Input ``images`` ``[batch, C, H, W]``, output ``logits``. Weights are stored inside
    the one ``.onnx`` file.
    """
    p = _target(path, (".onnx",))
    x = _check_example(example)
    x2 = _second_batch(x)
    how = _onnx_method(method)
    with _prepared(model) as wrapped, torch.no_grad():
        ref, ref2 = wrapped(x), wrapped(x2)
        kwargs: dict[str, Any] = {"input_names": [INPUT_NAME], "output_names": [OUTPUT_NAME]}
        if opset is not None:
            kwargs["opset_version"] = opset
        if how == "dynamo":
            kwargs.update(dynamo=True, external_data=False, dynamic_shapes={"x": {0: torch.export.Dim("batch")}})
        else:
            kwargs.update(dynamo=False, dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # deprecation of the legacy exporter, tracer notes
            try:
                torch.onnx.export(wrapped, (x,), str(p), verbose=False, **kwargs)
            except NasError:
                raise
            except Exception as exc:
                reason = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0]
                raise NasError(f"{p}: ONNX export ({how}) failed ({reason[:160]})") from None
    if onnxruntime_available():
        # optional extra (pip install '.[export]'), only to check an export
        import onnxruntime as ort

        session = ort.InferenceSession(str(p), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        diff = 0.0
        for inp, want in ((x, ref), (x2, ref2)):
            try:
                (got,) = session.run([OUTPUT_NAME], {name: inp.detach().cpu().numpy()})
            except Exception as exc:  # e.g. a batch size baked into the graph
                reason = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0]
                raise NasError(
                    f"{p}: onnxruntime cannot run the exported model on a batch of {len(inp)} ({reason[:160]})"
                ) from None
            diff = max(diff, _compare(want.cpu(), got, f"{p} (batch {len(inp)})", atol, rtol))
        return ExportReport(p, "onnx", diff, "onnxruntime", (len(x), len(x2)))
    if importlib.util.find_spec("onnx") is not None:
        # optional extra (pip install '.[export]'), only to check an export
        import onnx

        try:
            onnx.checker.check_model(str(p))
        except Exception as exc:
            reason = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0]
            raise NasError(f"{p}: the exported ONNX model is invalid ({reason[:160]})") from None
        return ExportReport(p, "onnx", None, "onnx.checker")
    return ExportReport(p, "onnx", None, "nothing")


def export_trained_model(
    run_dir: str | Path,
    fmt: str,
    out: str | Path | None = None,
    *,
    checkpoint: str = "selected",
    images: int = 16,
    data_dir: str | Path | None = None,
    onnx_method: str = "auto",
) -> tuple[ExportReport, int, str]:
    """Export a training run's model to ONNX or TorchScript and check it on real test images.

    The network is rebuilt from ``config.json`` with its trained weights (loaded
    ``weights_only``), exported on the CPU, then the written file is run on the first
    ``images`` test images of the run's dataset (and on a second batch of another size)
    and compared with PyTorch. Returns the report, the number of test images used and
    the dataset's name.
    """
    if fmt not in MODEL_FILES:
        raise NasError(f"--format: expected one of {', '.join(MODEL_FILES)} for a trained model, got {fmt!r}")
    if fmt == "onnx" and not onnxruntime_available():
        raise NasError("--format onnx: onnxruntime is needed to check the exported model; pip install -e '.[export]'")
    if images < 1:
        raise NasError(f"--images: expected a positive integer, got {images}")
    run = Path(run_dir)
    if not run.is_dir():
        raise NasError(f"{run}: run directory not found")
    if not (run / CONFIG_FILE).is_file():
        what = "a search run (genotype.json)" if (run / "genotype.json").is_file() else f"no {CONFIG_FILE}"
        raise NasError(
            f"{run}: not a training run directory ({what}); --format {fmt} exports a model trained with `nas train`"
        )
    loaded = load_run(run, checkpoint=checkpoint, data_dir=data_dir, device="cpu", batch_size=images)
    if len(loaded.test) == 0:
        raise NasError(f"{run}: the run's test split is empty; no images to check the export on")
    example, _ = next(iter(loaded.test_loader(count=images)))
    target = Path(out) if out is not None else run / MODEL_FILES[fmt]
    if fmt == "onnx":
        report = export_onnx(loaded.model, target, example, method=onnx_method)
    else:
        report = export_torchscript(loaded.model, target, example)
    return report, len(example), loaded.dataset
