"""Class activation maps: where in the image a network looked for a class.

* :func:`class_activation_map` (CAM, Zhou et al. 2016) for networks that end in global
  average pooling and one linear layer: the map of class ``c`` is
  ``M_c = sum_k w[c, k] * F_k`` over the channels ``F_k`` of the last feature map.
  Because pooling is an average, ``M_c.mean() + bias[c]`` is exactly the logit of
  ``c``, so the map *decomposes* the score over positions.
* :func:`grad_cam` (Selvaraju et al. 2017) for any network: channel weights are the
  spatial means of the gradient of the class score with respect to a layer's output,
  ``relu(sum_k mean(dy_c / dA_k) * A_k)``. For a GAP + linear network and the feature
  map entering the pooling, ``dy_c / dA_k = w[c, k] / (h * w)`` everywhere, so Grad-CAM
  equals ``relu(CAM) / (h * w)``: the tests use that identity.

How the last feature map is found (:func:`find_gap_classifier`): the last
``nn.AdaptiveAvgPool2d`` with output size 1 and the last ``nn.Linear`` in module
registration order, skipping any submodule whose name contains ``auxiliary``; a
forward pre-hook on the pooling module captures its input. For the toolkit's networks:

* ``DartsNetwork``: ``global_pooling`` (its input is the last cell's output) and ``classifier``;
* ``NB201Network``: ``global_pooling`` (input: after ``lastact``, the final BN-ReLU) and ``classifier``;
* ``MacroNetwork``: ``head.pool`` (input: the last stage, after ``head.pre`` for pre-activation
  networks) and ``head.classifier``; a ``max`` pooling head has no CAM (use Grad-CAM);
* zoo: MobileNetV2 ``pool``/``classifier``; LeNet-5 and AlexNet flatten a spatial map into
  fully connected layers, so they have no CAM (Grad-CAM works).

The structure is then verified on the actual forward pass: the classifier's input must
equal the spatial mean of the captured map, else :class:`NasError` says to use Grad-CAM.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nas.errors import NasError
from nas.viz.figures import save_figure

__all__ = [
    "CamResult",
    "class_activation_map",
    "find_gap_classifier",
    "grad_cam",
    "jet",
    "overlay",
    "save_overlay_grid",
    "save_overlays",
    "to_uint8",
]

#: CIFAR-10 class names, in label order.
CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)


@dataclass
class CamResult:
    """Maps ``[B, h, w]`` (at the feature map's resolution), logits ``[B, K]``, the explained class ``[B]``."""

    maps: torch.Tensor
    logits: torch.Tensor
    target: torch.Tensor
    layer: str

    @property
    def predicted(self) -> torch.Tensor:
        return self.logits.argmax(1)

    @property
    def probabilities(self) -> torch.Tensor:
        return self.logits.softmax(1)


def _logits(out: Any) -> torch.Tensor:
    # Networks with an auxiliary head return (logits, aux) in training mode only; be safe anyway.
    return out[0] if isinstance(out, (tuple, list)) else out


def _check_images(images: Any) -> torch.Tensor:
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or not images.is_floating_point():
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise NasError(f"images: expected a float tensor [B, C, H, W], got {shape}")
    return images


def _targets(target: Any, logits: torch.Tensor) -> torch.Tensor:
    b, k = logits.shape
    if target is None:
        return logits.argmax(1)
    t = torch.as_tensor(target, dtype=torch.long, device=logits.device)
    if t.dim() == 0:
        t = t.expand(b)
    if t.shape != (b,):
        raise NasError(f"target: expected a class index or one per image ({b}), got shape {tuple(t.shape)}")
    if bool(((t < 0) | (t >= k)).any()):
        raise NasError(f"target: class indices must be in 0..{k - 1}, got {t.tolist()}")
    return t


def _is_gap(m: nn.Module) -> bool:
    if not isinstance(m, nn.AdaptiveAvgPool2d):
        return False
    size = m.output_size
    return size == 1 if isinstance(size, int) else tuple(size) == (1, 1)


def find_gap_classifier(model: nn.Module) -> tuple[str, nn.Module, str, nn.Linear]:
    """``(pool name, pool, classifier name, classifier)``: the last global average pool and Linear layer.

    Submodules whose name contains ``auxiliary`` are skipped (auxiliary heads).
    """
    pools = [(n, m) for n, m in model.named_modules() if "auxiliary" not in n and _is_gap(m)]
    linears = [(n, m) for n, m in model.named_modules() if "auxiliary" not in n and isinstance(m, nn.Linear)]
    name = type(model).__name__
    if not pools:
        raise NasError(
            f"CAM: {name} has no global average pooling (nn.AdaptiveAvgPool2d(1)) before its classifier; use grad_cam"
        )
    if not linears:
        raise NasError(f"CAM: {name} has no nn.Linear classifier; use grad_cam")
    return pools[-1][0], pools[-1][1], linears[-1][0], linears[-1][1]  # type: ignore[return-value]


class _eval_mode:
    """Evaluation mode for the duration of a block, restoring the previous mode after."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model

    def __enter__(self) -> None:
        self.was_training = self.model.training
        self.model.eval()

    def __exit__(self, *exc: object) -> None:
        self.model.train(self.was_training)


def class_activation_map(model: nn.Module, images: torch.Tensor, target: Any = None) -> CamResult:
    """CAM of ``target`` (default: the predicted class) for each image; raw, not normalised.

    ``maps[b].mean() + classifier.bias[target[b]] == logits[b, target[b]]``.
    """
    images = _check_images(images)
    pool_name, pool, fc_name, fc = find_gap_classifier(model)
    captured: dict[str, torch.Tensor] = {}

    def grab_features(_m: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        captured["features"] = args[0].detach().clone()

    def grab_fc_input(_m: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        captured["fc_input"] = args[0].detach().clone()

    handles = [pool.register_forward_pre_hook(grab_features), fc.register_forward_pre_hook(grab_fc_input)]
    try:
        with _eval_mode(model), torch.no_grad():
            logits = _logits(model(images)).detach()
    finally:
        for h in handles:
            h.remove()
    if "features" not in captured or "fc_input" not in captured:
        raise NasError(f"CAM: {pool_name or 'the pooling'} or {fc_name} was not used by the forward pass; use grad_cam")
    features = captured["features"]
    pooled = features.mean((2, 3))
    fc_in = captured["fc_input"].flatten(1)
    if fc_in.shape != pooled.shape or not torch.allclose(fc_in, pooled, rtol=1e-4, atol=1e-5):
        raise NasError(
            f"CAM: the input of {fc_name} is not the global average of the map entering {pool_name} "
            "(layers in between); use grad_cam"
        )
    t = _targets(target, logits)
    weights = fc.weight.detach()[t].to(features.dtype)  # [B, C]
    maps = torch.einsum("bc,bchw->bhw", weights, features)
    return CamResult(maps, logits, t, pool_name + " (input)")


def _resolve_layer(model: nn.Module, layer: str | nn.Module) -> tuple[str, nn.Module]:
    if isinstance(layer, nn.Module):
        for n, m in model.named_modules():
            if m is layer:
                return n, m
        raise NasError("layer: the given module is not part of the model")
    if not isinstance(layer, str):
        raise NasError(f"layer: expected a module name or a module, got {type(layer).__name__}")
    try:
        return layer, model.get_submodule(layer)
    except AttributeError:
        convs = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
        hint = f" (last convolutions: {', '.join(convs[-3:])})" if convs else ""
        raise NasError(f"layer: {type(model).__name__} has no submodule {layer!r}{hint}") from None


def _last_conv(model: nn.Module, images: torch.Tensor) -> tuple[str, nn.Module]:
    """The ``nn.Conv2d`` that runs last in a forward pass (registration order can differ)."""
    order: list[str] = []
    handles = []
    for n, m in model.named_modules():
        if isinstance(m, nn.Conv2d) and "auxiliary" not in n:
            handles.append(m.register_forward_hook(lambda _m, _a, _o, n=n: order.append(n)))
    try:
        with _eval_mode(model), torch.no_grad():
            model(images[:1])
    finally:
        for h in handles:
            h.remove()
    if not order:
        raise NasError(f"grad_cam: {type(model).__name__} ran no nn.Conv2d; pass layer=")
    return order[-1], model.get_submodule(order[-1])


def grad_cam(
    model: nn.Module, images: torch.Tensor, target: Any = None, layer: str | nn.Module | None = None
) -> CamResult:
    """Grad-CAM of ``target`` (default: the predicted class) at ``layer``'s output.

    ``layer`` (a module or its dotted name): default is the last convolutional feature
    map, i.e. the map entering the global average pooling when the network has one
    (the output of its last convolutional stage, including any final BN-ReLU), else
    the output of the last ``nn.Conv2d`` that runs. Maps are ``relu``'d, not normalised.
    Parameter gradients (``.grad``) are left untouched.
    """
    images = _check_images(images)
    use_pool_input = False
    if layer is None:
        try:
            name, module, _, _ = find_gap_classifier(model)
            use_pool_input = True
        except NasError:
            name, module = _last_conv(model, images)
    else:
        name, module = _resolve_layer(model, layer)
    captured: dict[str, torch.Tensor] = {}

    # The hooks hand a clone downstream, so in-place ops after the layer (ReLU(inplace=True))
    # cannot change the captured activation.
    def pre_hook(_m: nn.Module, args: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        captured["act"] = args[0]
        return (args[0].clone(), *args[1:])

    def post_hook(_m: nn.Module, _args: Any, out: Any) -> Any:
        if not isinstance(out, torch.Tensor):
            raise NasError(f"layer: {name} returns {type(out).__name__}, not a feature map tensor")
        captured["act"] = out
        return out.clone()

    handle = module.register_forward_pre_hook(pre_hook) if use_pool_input else module.register_forward_hook(post_hook)
    try:
        with _eval_mode(model), torch.enable_grad():
            x = images.detach().requires_grad_(True)  # activations need a graph even if every parameter is frozen
            logits = _logits(model(x))
            act = captured.get("act")
            if act is None:
                raise NasError(f"layer: {name} was not used by the forward pass")
            if act.dim() != 4:
                raise NasError(f"layer: {name} outputs shape {tuple(act.shape)}; Grad-CAM needs [B, C, h, w]")
            t = _targets(target, logits.detach())
            score = logits.gather(1, t[:, None]).sum()
            (grads,) = torch.autograd.grad(score, act)
    finally:
        handle.remove()
    weights = grads.mean((2, 3), keepdim=True)
    maps = F.relu((weights * act.detach()).sum(1))
    return CamResult(maps.detach(), logits.detach(), t, name + (" (input)" if use_pool_input else ""))


# --------------------------------------------------------------------------- #
# Overlays
# --------------------------------------------------------------------------- #


def jet(x: torch.Tensor) -> torch.Tensor:
    """The classic 'jet' colormap of values in [0, 1]: ``[...] -> [3, ...]`` RGB in [0, 1]."""
    x = x.clamp(0, 1)
    r = (1.5 - (4 * x - 3).abs()).clamp(0, 1)
    g = (1.5 - (4 * x - 2).abs()).clamp(0, 1)
    b = (1.5 - (4 * x - 1).abs()).clamp(0, 1)
    return torch.stack([r, g, b])


def _as_tensor(value: Any, what: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    try:
        return torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError):
        raise NasError(f"{what}: expected a tensor or array, got {type(value).__name__}") from None


def overlay(image: Any, heatmap: Any, *, alpha: float = 0.45) -> torch.Tensor:
    """Blend a heatmap over an image: ``uint8 [3, H, W]`` and ``[h, w]`` -> ``uint8 [3, H, W]``.

    The heatmap is min-max normalised (a constant map becomes all-low), upsampled
    bilinearly to ``H x W`` and coloured with :func:`jet`; ``alpha`` is its weight.
    """
    img = _as_tensor(image, "image")
    hm = _as_tensor(heatmap, "heatmap").float()
    if img.dtype != torch.uint8 or img.dim() != 3 or img.shape[0] != 3:
        raise NasError(f"image: expected uint8 [3, H, W], got {img.dtype} {tuple(img.shape)}")
    if hm.dim() != 2:
        raise NasError(f"heatmap: expected [h, w], got {tuple(hm.shape)}")
    if not 0.0 <= alpha <= 1.0:
        raise NasError(f"alpha: expected a number in [0, 1], got {alpha}")
    lo, hi = hm.min(), hm.max()
    hm = (hm - lo) / (hi - lo) if hi > lo else torch.zeros_like(hm)
    hm = F.interpolate(hm[None, None], size=tuple(img.shape[1:]), mode="bilinear", align_corners=False)[0, 0]
    color = jet(hm) * 255.0
    out = (1.0 - alpha) * img.float() + alpha * color
    return out.round().clamp(0, 255).to(torch.uint8)


def to_uint8(
    images: torch.Tensor, mean: Sequence[float] | None = None, std: Sequence[float] | None = None
) -> torch.Tensor:
    """Undo input normalisation (``x * std + mean``) and map [0, 1] to uint8 ``[B, 3, H, W]``."""
    x = _check_images(images).detach().cpu().float()
    if std is not None:
        x = x * torch.tensor(std, dtype=x.dtype)[None, :, None, None]
    if mean is not None:
        x = x + torch.tensor(mean, dtype=x.dtype)[None, :, None, None]
    return (x * 255.0).round().clamp(0, 255).to(torch.uint8)


def _name(k: int, class_names: Sequence[str] | None) -> str:
    if class_names is not None and 0 <= k < len(class_names):
        return str(class_names[k])
    return str(k)


def _safe(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in text)


def _figure(width: float, height: float) -> Any:
    try:
        # matplotlib only when drawing: import cost, and nas.viz works without it
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - depends on the environment
        raise NasError("CAM overlays: matplotlib is required (pip install matplotlib)") from None
    return Figure(figsize=(width, height), layout="constrained")


def _check_batch(images: Any, maps: Any, predicted: Any, true: Any) -> tuple[torch.Tensor, torch.Tensor, list, list]:
    imgs = _as_tensor(images, "images")
    hms = _as_tensor(maps, "maps")
    if imgs.dtype != torch.uint8 or imgs.dim() != 4 or imgs.shape[1] != 3:
        raise NasError(f"images: expected uint8 [B, 3, H, W] (see to_uint8), got {imgs.dtype} {tuple(imgs.shape)}")
    if hms.dim() != 3 or hms.shape[0] != imgs.shape[0]:
        raise NasError(f"maps: expected [B, h, w] with B = {imgs.shape[0]}, got {tuple(hms.shape)}")
    pred = [int(v) for v in _as_tensor(predicted, "predicted").reshape(-1).tolist()]
    if len(pred) != imgs.shape[0]:
        raise NasError(f"predicted: expected {imgs.shape[0]} classes, got {len(pred)}")
    tru: list = [None] * len(pred)
    if true is not None:
        tru = [int(v) for v in _as_tensor(true, "true").reshape(-1).tolist()]
        if len(tru) != len(pred):
            raise NasError(f"true: expected {len(pred)} classes, got {len(tru)}")
    return imgs, hms, pred, tru


def save_overlays(
    images: Any,
    maps: Any,
    out_dir: str | Path,
    *,
    predicted: Any,
    true: Any = None,
    class_names: Sequence[str] | None = CIFAR10_CLASSES,
    probabilities: Any = None,
    prefix: str = "cam",
    alpha: float = 0.45,
) -> list[Path]:
    """One PNG per image (the image, then the overlay), captioned with predicted and true class.

    File names carry both too: ``{prefix}_{i:03d}_pred-{name}_true-{name}.png``.
    ``probabilities`` (``[B, K]``) adds the predicted class's probability to the caption.
    """
    imgs, hms, pred, tru = _check_batch(images, maps, predicted, true)
    probs = _as_tensor(probabilities, "probabilities").float() if probabilities is not None else None
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(imgs.shape[0]):
        blend = overlay(imgs[i], hms[i], alpha=alpha)
        pname = _name(pred[i], class_names)
        caption = f"predicted: {pname}"
        if probs is not None:
            caption += f" ({100 * float(probs[i, pred[i]]):.1f}%)"
        fname = f"{prefix}_{i:03d}_pred-{_safe(pname)}"
        if tru[i] is not None:
            tname = _name(tru[i], class_names)
            caption += f"\ntrue: {tname}"
            fname += f"_true-{_safe(tname)}"
        fig = _figure(4.0, 2.35)
        axes = fig.subplots(1, 2)
        axes[0].imshow(imgs[i].permute(1, 2, 0).numpy(), interpolation="nearest")
        axes[1].imshow(blend.permute(1, 2, 0).numpy(), interpolation="nearest")
        axes[0].set_title("image", fontsize=9)
        axes[1].set_title("class activation", fontsize=9)
        for ax in axes:
            ax.axis("off")
        correct = tru[i] is None or tru[i] == pred[i]
        fig.suptitle(caption, fontsize=9, color="#1a7f37" if correct else "#c62828")
        path = out / f"{fname}.png"
        save_figure(fig, path, dpi=110)
        paths.append(path)
    return paths


def save_overlay_grid(
    images: Any,
    maps: Any,
    path: str | Path,
    *,
    predicted: Any,
    true: Any = None,
    class_names: Sequence[str] | None = CIFAR10_CLASSES,
    columns: int = 6,
    alpha: float = 0.45,
    title: str | None = None,
) -> Path:
    """All overlays on one sheet (for reports): each tile captioned ``pred / true``, red when wrong."""
    imgs, hms, pred, tru = _check_batch(images, maps, predicted, true)
    if isinstance(columns, bool) or not isinstance(columns, int) or columns < 1:
        raise NasError(f"columns: expected a positive integer, got {columns!r}")
    n = imgs.shape[0]
    cols = min(columns, n)
    rows = math.ceil(n / cols)
    fig = _figure(1.75 * cols, 1.95 * rows + (0.3 if title else 0.0))
    axes = fig.subplots(rows, cols, squeeze=False)
    for k in range(rows * cols):
        ax = axes[k // cols][k % cols]
        ax.axis("off")
        if k >= n:
            continue
        ax.imshow(overlay(imgs[k], hms[k], alpha=alpha).permute(1, 2, 0).numpy(), interpolation="nearest")
        text = _name(pred[k], class_names)
        if tru[k] is not None:
            text += f"\n(true: {_name(tru[k], class_names)})"
        correct = tru[k] is None or tru[k] == pred[k]
        ax.set_title(text, fontsize=8, color="#1a7f37" if correct else "#c62828")
    if title:
        fig.suptitle(title, fontsize=11)
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, p, dpi=110)
    return p
