"""Model registry (timm style): one name, one constructor, one set of arguments.

Two kinds of models share the namespace:

* ``plain``: modules registered with :func:`register_model`, one file each, for the
  networks that cannot be genotypes (see :mod:`nas.zoo`);
* ``genotype``: every named genotype of kind ``macro`` (:mod:`nas.genotypes.named.classic`),
  built through :func:`nas.networks.build`.

Plain names are looked up first. Names are case-insensitive and ``-`` equals ``_``,
as for named genotypes; when that finds nothing, separators are ignored altogether if
that identifies one model (``ResNet-20``, ``densenet-bc-100``).
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeVar

from torch import nn

from nas.errors import NasError
from nas.registry import Registry, normalize

__all__ = ["PLAIN_MODULES", "ModelInfo", "create_model", "has_model", "list_models", "model_names", "register_model"]

#: Modules that register the plain models (imported on first use).
PLAIN_MODULES: tuple[str, ...] = ("nas.zoo.lenet", "nas.zoo.alexnet", "nas.zoo.mobilenetv2")

#: Input of the zoo's FLOP counts: one CIFAR image.
FLOPS_INPUT = (1, 3, 32, 32)

ModelFn = Callable[..., nn.Module]
F = TypeVar("F", bound=ModelFn)


@dataclass(frozen=True)
class _Plain:
    name: str
    fn: ModelFn
    family: str


#: The plain models by name (filled by the modules of :data:`PLAIN_MODULES` on first use).
REGISTRY: Registry[_Plain] = Registry("model", "model")
_loaded = False


def _plain() -> dict[str, _Plain]:
    """Canonical name -> plain model, in registration order."""
    return {key: REGISTRY.get(key) for key in REGISTRY}


def register_model(name: str, *, family: str) -> Callable[[F], F]:
    """Register a plain model constructor ``fn(num_classes=10, in_channels=3, **options)``."""

    def decorator(fn: F) -> F:
        params = inspect.signature(fn).parameters
        for arg in ("num_classes", "in_channels"):
            if arg not in params:
                raise TypeError(f"model {name!r}: the constructor must accept {arg}")
        if name in REGISTRY:
            if REGISTRY.get(name).fn is not fn:
                raise ValueError(f"model {name!r} is already registered")
            return fn
        REGISTRY.register(name, _Plain(name, fn, family))
        return fn

    return decorator


def _load() -> None:
    global _loaded
    if not _loaded:
        for module in PLAIN_MODULES:
            importlib.import_module(module)
        _loaded = True


def _macro_names() -> dict[str, str]:
    """Key -> display name of every named macro genotype."""
    from nas.genotypes import resolve

    return {normalize(n): n for n in resolve.names() if resolve.get(n).kind == "macro"}


def model_names() -> list[str]:
    """Every model name of the zoo, plain and genotype, sorted."""
    _load()
    names = {k: p.name for k, p in _plain().items()}
    for key, display in _macro_names().items():
        names.setdefault(key, display)
    return sorted(names.values(), key=normalize)


def _check_positive(value: Any, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise NasError(f"{what}: expected a positive integer, got {value!r}")


def _compact(key: str) -> str:
    return key.replace("_", "")


def _resolve(name: str) -> tuple[str, str] | None:
    """``('plain', key)`` or ``('genotype', display name)`` of ``name``, or None."""
    _load()
    key = normalize(name)
    if key in REGISTRY:
        return "plain", key
    macros = _macro_names()
    if key in macros:
        return "genotype", macros[key]
    matches = [("plain", k) for k in _plain() if _compact(k) == _compact(key)]
    matches += [("genotype", d) for k, d in macros.items() if _compact(k) == _compact(key) and k not in REGISTRY]
    return matches[0] if len(matches) == 1 else None


def has_model(name: str) -> bool:
    """Whether ``create_model(name)`` would find a model."""
    return isinstance(name, str) and _resolve(name) is not None


def _unknown(name: str) -> NasError:
    _load()
    keys = {k: p.name for k, p in _plain().items()} | _macro_names()
    close = difflib.get_close_matches(normalize(name), list(keys), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(keys[c] for c in close)}?" if close else ""
    return NasError(f"model name {name!r} is unknown{hint} (see `nas models`)")


def create_model(name: str, num_classes: int = 10, in_channels: int = 3, **kwargs: Any) -> nn.Module:
    """Build the model called ``name`` (a plain model, else a named macro genotype).

    ``kwargs`` are the model's own options, e.g. ``auxiliary=True`` for a genotype.
    """
    if not isinstance(name, str):
        raise NasError(f"model name: expected a string, got {name!r}")
    _check_positive(num_classes, "num_classes")
    _check_positive(in_channels, "in_channels")
    found = _resolve(name)
    if found is None:
        from nas.genotypes import resolve

        if resolve.exists(name) and resolve.get(name).kind != "macro":
            raise NasError(
                f"model name {name!r} is a {resolve.get(name).kind} cell genotype, not a model; "
                "build it with nas.networks.build(genotype, channels=..., layers=...)"
            )
        raise _unknown(name)
    kind, ref = found
    if kind == "plain":
        plain = REGISTRY.get(ref)
        try:
            inspect.signature(plain.fn).bind(num_classes=num_classes, in_channels=in_channels, **kwargs)
        except TypeError:
            params = [p for p in inspect.signature(plain.fn).parameters if p not in ("num_classes", "in_channels")]
            raise NasError(
                f"model options: {', '.join(sorted(kwargs))} not valid for {plain.name} "
                f"(valid: {', '.join(params) or 'none'})"
            ) from None
        return plain.fn(num_classes=num_classes, in_channels=in_channels, **kwargs)

    from nas.genotypes import resolve
    from nas.networks import build

    genotype = resolve.get(ref)
    if genotype.in_channels != in_channels:
        genotype = dataclasses.replace(genotype, in_channels=in_channels)
    return build(genotype, num_classes=num_classes, **kwargs)


@dataclass(frozen=True)
class ModelInfo:
    """What the zoo knows about one model; ``params`` and ``flops`` are measured on first use.

    ``params`` excludes auxiliary heads; ``flops`` counts 2 FLOPs per multiply-add on one
    3x32x32 image (:func:`nas.metrics.count_flops`), so ``macs`` is the number papers
    usually quote as "FLOPs".
    """

    name: str
    kind: str  # 'genotype' | 'plain'
    family: str

    @cached_property
    def params(self) -> int:
        from nas.metrics import count_parameters

        return int(count_parameters(create_model(self.name)))

    @cached_property
    def flops(self) -> int:
        from nas.metrics import count_flops

        model = create_model(self.name).eval()
        return int(count_flops(model, input_size=FLOPS_INPUT))

    @property
    def macs(self) -> int:
        """Multiply-adds (half the FLOPs)."""
        return self.flops // 2

    def as_dict(self) -> dict[str, Any]:
        """Plain data (measures everything): for JSON output."""
        return {
            "name": self.name,
            "kind": self.kind,
            "family": self.family,
            "params": self.params,
            "flops": self.flops,
            "macs": self.macs,
        }


def list_models() -> list[ModelInfo]:
    """Every zoo model, sorted by family then name (statistics computed lazily)."""
    from nas.genotypes import resolve

    _load()
    infos: dict[str, ModelInfo] = {k: ModelInfo(p.name, "plain", p.family) for k, p in _plain().items()}
    for key, display in _macro_names().items():
        if key not in infos:  # plain names shadow genotypes, as in create_model
            infos[key] = ModelInfo(display, "genotype", resolve.get(display).family)
    return sorted(infos.values(), key=lambda m: (m.family, normalize(m.name)))
