"""What every search job shares, below the jobs themselves (a leaf: imports only genotypes and errors).

- :mod:`nas.search_protocol.job`: the ``SearchJob`` protocol and the common ``SearchResult``;
- :mod:`nas.search_protocol.storage`: where an Optuna study lives (the Optuna controller and Tune's searcher).

The controllers, ``nas.darts`` and ``nas.tune`` import these; :mod:`nas.search_jobs` (the registry of
jobs and the runner) sits above all of them, so the search packages import one way.
"""
