"""Run directories: the one place that knows how a job's files are written, checked and read back.

Every job (training, DARTS, trial searches, reports) writes its run directory through
this package, so that atomic writes, the resume check, checkpoint fallback, history
trimming and device choice behave the same everywhere.

- :mod:`nas.runs.atomic`: atomic writes (text, JSON, bytes, torch), ``torch.load(weights_only=True)``.
- :mod:`nas.runs.rundir`: ``check_run_dir`` (``new`` / ``resume`` / ``complete``) and ``config_differences``.
- :mod:`nas.runs.checkpoints`: rotating checkpoints (the previous one is kept) and loading with fallback.
- :mod:`nas.runs.history`: the JSON-lines epoch history and TensorBoard, both trimmed on resume.
- :mod:`nas.runs.device`: ``resolve_device``.
- :mod:`nas.runs.rng`: ``seed_everything`` and the generators' states stored in checkpoints.
"""
