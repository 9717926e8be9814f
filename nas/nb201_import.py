"""Build our NAS-Bench-201 table (``nb201.csv``) from the official benchmark files.

Users bring the files the benchmark's authors publish, read through their own API
package (``nats_bench`` on PyPI, ``pip install 'nas-toolkit[nb201]'``):

* NATS-Bench topology search space (the same 15,625 cells and trainings as NAS-Bench-201):
  the archive directory ``NATS-tss-v1_0-3ffb9-simple`` (fast mode) or the single file
  ``NATS-tss-v1_0-3ffb9.pickle.pbz2``;
* NAS-Bench-201 v1.1, ``NAS-Bench-201-v1_1-096897.pth`` (read with
  ``torch.load(weights_only=True)`` and handed to the same API; its ``less``/``full``
  results are the 12- and 200-epoch trainings).

Each column is one call of the official API, averaged over the training seeds
(``is_random=False``), so the numbers mean what the paper's code means by them:

=====================  ===========================================================================
``c10_valid``          ``get_more_info(i, "cifar10-valid", hp="200")["valid-accuracy"]``
``c10_test``           ``get_more_info(i, "cifar10", hp="200")["test-accuracy"]`` (trained on train+valid)
``c100_*``, ``in16_*`` ``get_more_info(i, "cifar100" / "ImageNet16-120", hp="200")`` valid / test accuracy
``*_valid_12ep``       the same validation accuracies with ``hp="12"``
``cost_12ep_s``        ``train-all-time + valid-per-time`` of ``cifar10-valid``, ``hp="12"``: the price of a
                       query in the official search scripts (``R_EA.py``'s ``train_and_eval``)
``flops_M``,           ``get_cost_info(i, "cifar10", hp="200")``: flops, params, latency
``params_M``,
``latency_s``
``train_epoch_time_s`` ``get_more_info(i, "cifar10", hp="200")["train-per-time"]``;
``train_time_200ep_s`` its ``train-all-time``
``c10_test_err_1seed`` ``(100 - test-accuracy) / 100`` of ``cifar10``, ``hp="200"``, seed 777 (else the first)
=====================  ===========================================================================

A timing or latency the file lacks becomes ``nan``; a missing accuracy or query cost is an error.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from nas.errors import NasError
from nas.genotypes.codec import from_nb201_string, to_nb201_string
from nas.nb201_table import NB201Record

#: How to install the official API package.
INSTALL_HINT = "pip install 'nas-toolkit[nb201]' (or: pip install nats_bench)"
#: The seed whose test error fills ``c10_test_err_1seed`` when the cell was trained with it.
ONE_SEED = 777
#: Columns that may be missing from a file (written as nan).
OPTIONAL = ("latency_s", "train_epoch_time_s", "train_time_200ep_s")


def open_official(path: str | os.PathLike[str]) -> Any:
    """The official API object (``nats_bench`` topology API) of a NATS-Bench or NAS-Bench-201 file."""
    try:
        import nats_bench
    except ImportError:
        raise NasError(f"nas nb201 import needs the official API package nats_bench: {INSTALL_HINT}") from None
    path = Path(path)
    if not path.exists():
        raise NasError(f"{path}: no such file or directory")
    name = path.name
    if path.is_file() and name.endswith(".tar"):
        raise NasError(f"{path}: extract the archive first (tar xf {name}) and give the directory it makes")
    try:
        if path.is_dir():
            if not (path / "meta.pickle.pbz2").is_file():
                raise NasError(f"{path}: not a NATS-Bench archive (expected meta.pickle.pbz2 in it)")
            return nats_bench.create(str(path), "tss", fast_mode=True, verbose=False)
        if name.endswith(".pth"):
            return nats_bench.create(_nb201_v1_dict(path), "tss", fast_mode=False, verbose=False)
        return nats_bench.create(str(path), "tss", fast_mode=False, verbose=False)
    except NasError:
        raise
    except Exception as exc:  # the official loader raises many kinds; name the file and the cause, in one line
        raise NasError(f"{path}: not a NATS-Bench topology or NAS-Bench-201 file ({_one_line(exc)})") from None


def _nb201_v1_dict(path: Path) -> dict[str, Any]:
    """A NAS-Bench-201 v1.x ``.pth`` as the dict the NATS-Bench API takes (``less``/``full`` -> ``12``/``200``)."""
    import torch

    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise NasError(
            f"{path}: cannot read it as plain data with torch.load(weights_only=True) ({_one_line(exc)}); "
            "use the NATS-Bench topology file instead"
        ) from None
    if not isinstance(data, dict) or not {"meta_archs", "arch2infos", "evaluated_indexes"} <= set(data):
        raise NasError(f"{path}: not a NAS-Bench-201 file (expected meta_archs, arch2infos, evaluated_indexes)")
    infos = {}
    for index, info in data["arch2infos"].items():
        if isinstance(info, dict) and {"less", "full"} <= set(info):
            info = {"12": info["less"], "200": info["full"]}
        infos[index] = info
    return {**data, "arch2infos": infos}


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]


def records(api: Any, progress: Callable[[int, int], None] | None = None) -> Iterator[NB201Record]:
    """One :class:`NB201Record` per cell of ``api``, in the benchmark's index order."""
    total = len(api)
    for index in range(total):
        try:
            yield _record(api, index)
        except NasError:
            raise
        except Exception as exc:
            raise NasError(f"cell {index} ({api[index]}): {_one_line(exc)}") from None
        if progress is not None:
            progress(index + 1, total)


def _record(api: Any, index: int) -> NB201Record:
    def info(dataset: str, hp: str, seed: int | bool = False) -> dict[str, Any]:
        return api.get_more_info(index, dataset, hp=hp, is_random=seed)

    c10v_200, c10_200 = info("cifar10-valid", "200"), info("cifar10", "200")
    c100_200, in16_200 = info("cifar100", "200"), info("ImageNet16-120", "200")
    c10v_12, c100_12, in16_12 = info("cifar10-valid", "12"), info("cifar100", "12"), info("ImageNet16-120", "12")
    seeds = api.query_meta_info_by_index(index, hp="200").get_dataset_seeds("cifar10")
    one = info("cifar10", "200", ONE_SEED if ONE_SEED in seeds else seeds[0])
    costs = api.get_cost_info(index, "cifar10", hp="200")
    values = {
        "c10_valid": c10v_200.get("valid-accuracy"),
        "c10_test": c10_200.get("test-accuracy"),
        "c100_valid": c100_200.get("valid-accuracy"),
        "c100_test": c100_200.get("test-accuracy"),
        "in16_valid": in16_200.get("valid-accuracy"),
        "in16_test": in16_200.get("test-accuracy"),
        "c10_valid_12ep": c10v_12.get("valid-accuracy"),
        "c100_valid_12ep": c100_12.get("valid-accuracy"),
        "in16_valid_12ep": in16_12.get("valid-accuracy"),
        "cost_12ep_s": _sum(c10v_12.get("train-all-time"), c10v_12.get("valid-per-time")),
        "flops_M": costs.get("flops"),
        "params_M": costs.get("params"),
        "latency_s": costs.get("latency"),
        "train_epoch_time_s": c10_200.get("train-per-time"),
        "train_time_200ep_s": c10_200.get("train-all-time"),
        "c10_test_err_1seed": None if one.get("test-accuracy") is None else (100 - one["test-accuracy"]) / 100,
    }
    for column, value in values.items():
        if value is None or not math.isfinite(float(value)):
            if column not in OPTIONAL:
                raise NasError(f"cell {index} ({api[index]}): the file has no {column}")
            values[column] = math.nan
    arch = to_nb201_string(from_nb201_string(api[index]))  # validates the cell, our spelling
    return NB201Record(arch_str=arch, **{k: float(v) for k, v in values.items()})


def _sum(*parts: Any) -> float | None:
    return None if any(p is None for p in parts) else float(sum(parts))


__all__ = ["INSTALL_HINT", "open_official", "records"]
