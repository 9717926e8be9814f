"""Implementation of the shared trainer (public surface: :mod:`nas.trainer`).

``config`` (the validated TrainConfig), ``loop`` (one epoch, one evaluation),
``checkpoint`` (atomic, weights-only files and RNG states), ``metrics_log``
(metrics.jsonl and TensorBoard), ``spec`` (rebuilding a run's model), ``run`` (train()).
"""
