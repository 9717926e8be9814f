"""Differentiable architecture search: supernets, the architecture optimizer, derivation.

* :class:`DartsSupernet` -- the DARTS cell space (with PC-DARTS partial channels and
  edge normalisation, Fair DARTS sigmoid weights as options);
* :class:`NB201Supernet` -- the NAS-Bench-201 cell space;
* :class:`Architect` -- first- and second-order DARTS architecture steps;
* :func:`derive_darts_cell`, :func:`derive_nb201` -- genotypes from weights;
* :func:`zero_one_loss` -- the Fair DARTS auxiliary loss (of a mapping of alphas).

Methods (DARTS, GDAS, SPOS, DrNAS, ...) are strategies of :mod:`nas.darts.methods`, final-cell
selections (arg-max, DARTS-PT, Zero-Cost-PT) those of :mod:`nas.darts.selection`.
The search job is :class:`nas.darts.job.DartsJob`: its config :mod:`nas.darts.config`,
its run directory :mod:`nas.darts.search`, its data :mod:`nas.darts.search_data` and its
loop :mod:`nas.darts.search_loop`. The supernets compute their mixed edges with
:mod:`nas.darts.mixed_ops` and the custom autograd kernels of :mod:`nas.kernels`
and :mod:`nas.darts.pooling`.
"""

from __future__ import annotations

from nas.darts.architect import Architect
from nas.darts.derive import derive_darts_cell, derive_nb201
from nas.darts.methods.fair_darts import zero_one_loss
from nas.darts.nb201_supernet import NB201Supernet
from nas.darts.supernet import DartsSupernet

__all__ = ["Architect", "DartsSupernet", "NB201Supernet", "derive_darts_cell", "derive_nb201", "zero_one_loss"]
