"""``nas score``: zero-cost scores of genotypes and zoo models from one minibatch of real images.

Every network is initialised with ``--seed`` and scored on the same seeded minibatch of
training images (with the training augmentation), so a command gives the same numbers
every time; see :mod:`nas.proxies` for the scores and their references.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from typing import Any

from nas.commands import Subcommands
from nas.errors import NasError

#: Default minibatch: the zero-cost-proxies protocol (Abdelfattah et al. 2021) on NAS-Bench-201.
DEFAULT_BATCH_SIZE = 64
_LABEL_WIDTH = 50


def register(sub: Subcommands) -> None:
    p = sub.add_parser(
        "score",
        description="Score untrained networks on one seeded minibatch of real training images. "
        "GENOTYPE is a name, a JSON file, a run dir, DARTS text, an NB201 string or a zoo model.",
    )
    p.add_argument("genotypes", nargs="*", metavar="GENOTYPE", help="genotypes or zoo models to score")
    p.add_argument("--proxy", metavar="NAME,...", help="scores to compute (default: all; see --list)")
    p.add_argument("--list", action="store_true", help="list the scores and the references they follow")
    p.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULT_BATCH_SIZE,
        help=f"images in the minibatch (default {DEFAULT_BATCH_SIZE})",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the network initialisation and of the minibatch")
    p.add_argument("--dataset", default="cifar10", help="dataset whose training images are used (default cifar10)")
    p.add_argument("--data-dir", help="data directory (default: $NAS_DATA_DIR, else ./data)")
    p.add_argument("--channels", type=int, help="initial channels C of DARTS and NB201 networks (defaults 36, 16)")
    p.add_argument("--layers", type=int, help="cells of a DARTS network (default 20)")
    p.add_argument("--cells-per-stage", type=int, help="cells per stage of an NB201 network (default 5)")
    p.add_argument("--json", action="store_true", help="one JSON object per line and genotype")
    p.set_defaults(handler=cmd_score)


def _positive(value: int | None, flag: str, minimum: int = 1) -> None:
    if value is not None and value < minimum:
        raise NasError(f"{flag}: expected an integer >= {minimum}, got {value}")


def _model_options(args: argparse.Namespace) -> dict[str, dict[str, int]]:
    darts = {k: v for k, v in (("channels", args.channels), ("layers", args.layers)) if v is not None}
    nb201 = {k: v for k, v in (("channels", args.channels), ("cells_per_stage", args.cells_per_stage)) if v is not None}
    return {"darts": darts, "nb201": nb201}


def _resolve(spec_text: str, model_options: dict[str, dict[str, int]]) -> tuple[dict[str, Any], str]:
    """The model spec of what the user typed and its text form (NB201 string, DARTS text, ...)."""
    from nas import zoo
    from nas.genotypes.codec import from_dict, to_text
    from nas.trainer import resolve_spec

    if zoo.has_model(spec_text):
        spec = resolve_spec(model=spec_text, model_options=model_options)
    else:
        spec = resolve_spec(genotype=spec_text, model_options=model_options)
    if spec["source"] == "genotype":
        return spec, to_text(from_dict(spec["genotype"], source=spec_text))
    return spec, str(spec["name"])


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def cmd_score(args: argparse.Namespace) -> int:
    from nas.proxies import get_proxy, proxy_names, resolve_proxies

    if args.list:
        for name in proxy_names():
            p = get_proxy(name)
            print(f"{name:<10} {p.summary}")
            print(f"{'':<10} ({p.reference}{'' if p.uses_data else '; uses only the input shape'})")
        return 0
    if not args.genotypes:
        raise NasError("score: expected a GENOTYPE (a name, file, run dir, DARTS text or NB201 string), or --list")
    try:
        proxies = resolve_proxies(args.proxy)
    except NasError as exc:
        raise NasError(f"--proxy: {str(exc).removeprefix('proxy: ')}") from None
    names = [p.name for p in proxies]
    if args.batch_size < 2:
        raise NasError(f"--batch-size: expected an integer >= 2 (the scores compare images), got {args.batch_size}")
    _positive(args.seed, "--seed", 0)
    for flag in ("channels", "layers", "cells_per_stage"):
        _positive(getattr(args, flag), f"--{flag.replace('_', '-')}")
    options = _model_options(args)
    resolved = [(text, *_resolve(text, options)) for text in args.genotypes]

    from nas.data import load_dataset
    from nas.proxies import sample_batch, score

    data = load_dataset(args.dataset, args.data_dir)
    try:
        batch = sample_batch(data, args.batch_size, args.seed)
    except NasError as exc:
        raise NasError(f"--batch-size: {str(exc).removeprefix('batch size: ')}") from None
    models = [_build(spec, data, args.seed, typed) for typed, spec, _ in resolved]

    if not args.json:
        width = min(_LABEL_WIDTH, max(len("genotype"), *(len(t) for t in args.genotypes)))
        print(f"{'genotype':<{width}} {'kind':<6} " + " ".join(f"{n:>12}" for n in names) + f" {'seconds':>8}")
    total = time.perf_counter()
    for (typed, spec, text), model in zip(resolved, models):
        start = time.perf_counter()
        try:
            values = score(model, names, batch, args.seed)
        except NasError as exc:
            raise NasError(f"{typed}: {exc}") from None
        seconds = time.perf_counter() - start
        kind = spec.get("kind", "zoo")
        if args.json:
            row = {"genotype": text, "kind": kind, **{n: _finite_or_none(v) for n, v in values.items()}}
            print(json.dumps(row), flush=True)
        else:
            label = typed if len(typed) <= width else typed[: width - 3] + "..."
            print(
                f"{label:<{width}} {kind:<6} "
                + " ".join(f"{_fmt(values[n]):>12}" for n in names)
                + f" {seconds:>8.2f}",
                flush=True,
            )
    if not args.json:
        print(
            f"minibatch: {len(batch)} {data.name} training images (seed {args.seed}, crop + flip); networks "
            f"initialised with seed {args.seed}; {len(models)} networks in {time.perf_counter() - total:.1f} s",
            file=sys.stderr,
        )
    return 0


def _build(spec: dict[str, Any], data: Any, seed: int, typed: str) -> Any:
    """The network of ``spec`` for the dataset's classes, channels and image size, initialised with ``seed``."""
    from nas.proxies import seeded
    from nas.trainer import build_model

    with seeded(seed):
        try:
            return build_model(
                spec, num_classes=data.num_classes, in_channels=data.in_channels, image_size=data.image_size
            )
        except NasError as exc:
            raise NasError(f"{typed}: {exc}") from None
        except (RuntimeError, ValueError, TypeError, IndexError) as exc:
            first = str(exc).strip().splitlines()
            raise NasError(f"{typed}: does not build: {first[0] if first else type(exc).__name__}") from None
