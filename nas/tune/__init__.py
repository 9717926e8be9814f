"""Trial-based NAS on Ray Tune: searchers, trial functions and the ``nas search`` entry point.

* :mod:`nas.tune.config` -- the validated search config (controller, space, trials, resources).
* :mod:`nas.tune.searchers` -- our controllers as Tune ``Searcher`` s, and a resumable ``OptunaSearch``.
* :mod:`nas.tune.trainable` -- the trial functions (train with the shared trainer, or a NAS-Bench-201 lookup).
* :mod:`nas.tune.entry` -- Ray start/join, Tuner construction or restore, leaderboard and exports.

Ray is imported only when a search runs, so ``import nas.tune`` stays cheap.
"""
