"""Trial-based NAS on Ray Tune: a controller proposes genotypes, each trial trains one (or looks it up).

* :mod:`nas.tune.config` -- the validated search config (controller and its options, space, trials, resources).
* :mod:`nas.tune.job` -- the search job: checks before Ray starts, the run directory, the run (``nas search``).
* :mod:`nas.tune.session` -- Ray: an embedded instance with its files in the run directory, or a cluster.
* :mod:`nas.tune.tuner` -- the searcher, the scheduler and the Tuner (new or restored).
* :mod:`nas.tune.searchers` -- our controllers as Tune ``Searcher`` s, and a resumable ``OptunaSearch``.
* :mod:`nas.tune.settings` -- :class:`~nas.tune.settings.TrialSettings`, what every trial of a search shares.
* :mod:`nas.tune.trainable` -- the trial functions (train with the shared trainer, or a NAS-Bench-201 lookup).
* :mod:`nas.tune.progress` -- the driver's per-trial lines and progress bar.
* :mod:`nas.tune.outputs` -- leaderboard, best genotype, Pareto front, summary.

Ray is imported only when a search runs (by ``session``, ``tuner`` and the modules it
imports), so ``import nas.tune.job`` stays cheap.
"""
