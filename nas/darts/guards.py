"""Collapse guards: the published fixes for DARTS drifting towards skip connections.

Left alone, DARTS' architecture weights favour parameter-free operations the longer it
searches (skip connections win the softmax because they make the supernet easy to
train), and the derived cell degenerates (on NAS-Bench-201 the all-skip cell scores
54.30%). The guards here are the simple, widely used counter-measures:

* P-DARTS: cap the number of skip connections when deriving the normal cell
  (``max_skip``; implemented by the supernet's ``genotype(max_skip=...)``);
* DARTS+: stop the search as soon as the derived normal cell has more than
  ``early_stop_skip`` skip connections, keeping the last genotype within the limit;
* warm-up: train the weights alone for a few epochs so ops are compared when trained.
"""

from __future__ import annotations

from nas.genotypes.types import DartsGenotype, Genotype, NB201Genotype

SKIP = "skip_connect"


def skip_counts(genotype: Genotype) -> dict[str, int]:
    """Skip connections per cell type: ``normal``/``reduce`` (DARTS) or ``cell`` (NB201)."""
    if isinstance(genotype, DartsGenotype):
        return {"normal": genotype.skip_count("normal"), "reduce": genotype.skip_count("reduce")}
    if isinstance(genotype, NB201Genotype):
        return {"cell": sum(op == SKIP for op in genotype.ops)}
    return {}


def watched_skips(genotype: Genotype) -> int:
    """The skip count the DARTS+ criterion watches: the normal cell (the only cell of NB201)."""
    counts = skip_counts(genotype)
    return counts.get("normal", counts.get("cell", 0))


def early_stop(genotype: Genotype, limit: int | None) -> bool:
    """DARTS+: True when the derived cell has more than ``limit`` skip connections."""
    return limit is not None and watched_skips(genotype) > limit


def in_warmup(epoch: int, warmup_epochs: int) -> bool:
    """Weight-only epochs: the architecture is not updated before ``warmup_epochs``."""
    return epoch < warmup_epochs
