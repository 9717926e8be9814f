"""Search jobs: one interface for every way of searching (weight sharing, trials on Ray Tune).

``nas search`` and :func:`nas.api.search` look a job up by the config's ``controller``
name (:mod:`nas.search_jobs.registry`), let it validate the config, and run it into a run
directory; every job returns the same :class:`~nas.search_protocol.job.SearchResult` and writes
``RUN_DIR/genotype.json``.
"""
