"""One zero-shot trial: score the suggested genotype's untrained network with a zero-cost proxy.

The network is built at the recipe's size for its kind (``model_options``) with the
search's ``build_options`` over it, initialised with the search's seed, and scored on
one minibatch of real training images drawn with the same seed
(:func:`nas.proxies.sample_batch`), so a trial's score equals
``nas.proxies.score(genotype, proxy, sample_batch(data, batch_size, seed), seed,
build_options=...)``. The score is reported as the trial's metric (``val_accuracy``, the
number every searcher maximises; higher is better) and as ``proxy_score``. There is one
report and no Tune checkpoint: a trial takes seconds, and a finished one is never run
again on resume (Tune keeps it). A trial that finished in the last second before a kill
(after Tune's last experiment save) is asked for again on resume: its ``result.json``
in ``RUN_DIR/trials/KEY`` is then reported as it is, without scoring again.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
from ray import tune

from nas.genotypes.codec import from_json, save_genotype
from nas.metrics import count_flops, count_parameters
from nas.proxies import build_network, sample_batch, score
from nas.runs.atomic import read_json, write_json
from nas.training.recipes import load_recipe
from nas.tune.settings import TrialSettings
from nas.tune.training_trial import dataset


def build_options(settings: TrialSettings, kind: str) -> dict[str, Any]:
    """The network options of a scored candidate: the recipe's for its kind, the search's over them."""
    return {**load_recipe(settings.recipe).model_options.get(kind, {}), **settings.build_options}


def run(config: dict[str, Any], settings: TrialSettings) -> None:
    """Score one genotype at initialisation; report the score (higher is better)."""
    if settings.proxy is None:
        raise ValueError("proxy_trial: a proxy trial needs the search's proxy name")
    started = time.perf_counter()
    torch.set_num_threads(settings.threads)
    genotype = from_json(config["genotype"])
    key = config["key"]
    trial_dir = Path(settings.run_dir) / "trials" / key
    trial_dir.mkdir(parents=True, exist_ok=True)
    save_genotype(genotype, trial_dir / "genotype.json")
    done = trial_dir / "result.json"
    if done.is_file():
        previous = read_json(done, "proxy trial result")
        if previous.get("proxy") == settings.proxy and previous.get("key") == key:
            tune.report(previous)
            return

    data = dataset(load_recipe(settings.recipe).dataset, settings.data_dir, settings.cache_dir)
    options = build_options(settings, genotype.kind)
    batch = sample_batch(data, settings.proxy_batch_size, settings.seed)
    model = build_network(genotype, settings.seed, data.num_classes, **options)  # what score() would build
    value = score(model, [settings.proxy], batch, settings.seed)  # leaves the model as it was: counted below
    metrics = write_json(
        done,
        {
            "val_accuracy": value[settings.proxy],
            "proxy_score": value[settings.proxy],
            "proxy": settings.proxy,
            "params": float(count_parameters(model)),
            "flops": float(count_flops(model, (1, *data.image_shape))),
            "epoch": 0,
            "epochs_total": 0,
            "trial_time_s": time.perf_counter() - started,
            "key": key,
        },
    )
    tune.report(read_json(metrics, "proxy trial result"))
