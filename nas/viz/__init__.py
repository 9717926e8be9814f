"""Seeing what was found: cell diagrams, plots of runs, and one-file reports.

Nothing here imports matplotlib until a drawing is made, so ``import nas.viz`` is cheap
and works without it; every drawing function raises :class:`~nas.errors.NasError`
naming the missing package instead.
"""

from nas.viz.diagrams import draw_genotype, genotype_to_dot, graphviz_available
from nas.viz.plots import plot_run_comparison, plot_training_curves, summarize_runs
from nas.viz.report import Image, Section, Table, write_report
from nas.viz.search_plots import pareto_front, plot_arch_weights, plot_pareto, plot_search_progress, plot_skip_counts

__all__ = [
    "Image",
    "Section",
    "Table",
    "draw_genotype",
    "genotype_to_dot",
    "graphviz_available",
    "pareto_front",
    "plot_arch_weights",
    "plot_pareto",
    "plot_run_comparison",
    "plot_search_progress",
    "plot_skip_counts",
    "plot_training_curves",
    "summarize_runs",
    "write_report",
]
