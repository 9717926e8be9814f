"""Implementation of the shared trainer (public surface: :mod:`nas.trainer`).

``config`` (the validated TrainConfig), ``loop`` (one epoch, one evaluation), ``splits``
(which images, and their loaders), ``record`` (config.json: what must match to resume,
``--extend``), ``result`` (result.json), ``weights`` (best-epoch copies, strict loading),
``metrics_log`` (metrics.jsonl and TensorBoard), ``spec`` (rebuilding a run's model),
``run`` (train()). Files, checkpoints, RNG states and devices come from :mod:`nas.runs`.
"""
