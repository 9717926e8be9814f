"""Model specs: what was trained, as plain JSON, so a run directory can rebuild its network.

A spec is ``{"source": "zoo", "name": ..., "options": {...}}`` for a zoo model or
``{"source": "genotype", "kind": ..., "spec": <what the user typed>, "genotype": <canonical
dict>, "options": {...}}`` for a genotype. The genotype itself is stored (not only its
name or file), so evaluating a run never depends on a file that may have changed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from torch import nn

from nas import zoo
from nas.errors import NasError
from nas.genotypes import resolve
from nas.genotypes.codec import from_dict, to_dict
from nas.genotypes.resolve import parse_genotype
from nas.genotypes.types import MacroGenotype
from nas.networks import build
from nas.registry import normalize

#: ``model_options`` keys that apply to every genotype of a kind (others name a zoo model).
KIND_KEYS: tuple[str, ...] = ("darts", "nb201", "macro")


def options_for(model_options: Mapping[str, Mapping[str, Any]], *, kind: str | None, name: str | None) -> dict:
    """Recipe options of a genotype kind, overridden by options keyed by the model's own name."""
    merged: dict[str, Any] = {}
    if kind is not None:
        merged.update(model_options.get(kind, {}))
    if name is not None:
        for key, value in model_options.items():
            if key not in KIND_KEYS and normalize(key) == normalize(name):
                merged.update(value)
    return merged


def resolve_spec(
    *,
    model: str | None = None,
    genotype: str | None = None,
    model_options: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The spec of ``--model NAME`` or ``--genotype FILE-OR-NAME`` (exactly one).

    A ``--model`` name that is a named cell genotype (e.g. DARTS_V2) is accepted as a
    genotype, so users need not remember which flag a name belongs to.
    """
    if (model is None) == (genotype is None):
        raise NasError("model: give exactly one of --model NAME or --genotype FILE-OR-NAME")
    model_options = model_options or {}
    if model is not None:
        if zoo.has_model(model):
            return {"source": "zoo", "name": model, "options": options_for(model_options, kind=None, name=model)}
        if not resolve.exists(model):
            zoo.create_model(model)  # raises the zoo's error with its suggestions
        genotype = model
    assert genotype is not None
    geno = parse_genotype(genotype)
    name = genotype if resolve.exists(genotype) else None
    return {
        "source": "genotype",
        "kind": geno.kind,
        "spec": genotype,
        "genotype": to_dict(geno),
        "options": options_for(model_options, kind=geno.kind, name=name),
    }


def describe_spec(spec: Mapping[str, Any]) -> str:
    """A short human name: the zoo name or the genotype spec as typed."""
    if spec.get("source") == "zoo":
        return str(spec.get("name"))
    if spec.get("source") == "genotype":
        return str(spec.get("spec") or spec.get("kind"))
    return str(spec.get("class", "model"))


def build_model(spec: Mapping[str, Any], *, num_classes: int, in_channels: int = 3, image_size: int = 32) -> nn.Module:
    """Build the network a spec describes for a dataset's classes, channels and image size."""
    source = spec.get("source")
    options = dict(spec.get("options") or {})
    if source == "zoo":
        return zoo.create_model(str(spec["name"]), num_classes=num_classes, in_channels=in_channels, **options)
    if source == "genotype":
        geno = from_dict(spec["genotype"], source="model spec")
        if isinstance(geno, MacroGenotype):
            if (geno.in_channels, geno.input_size) != (in_channels, image_size):
                geno = dataclasses.replace(geno, in_channels=in_channels, input_size=image_size)
        elif in_channels != 3:
            options["in_channels"] = in_channels
        return build(geno, num_classes=num_classes, **options)
    raise NasError(f"model spec: cannot rebuild a model from {dict(spec)!r} (expected source zoo or genotype)")
