"""Genotypes: plain, frozen, validated architecture descriptions, and their text forms.

- :mod:`nas.genotypes.types`: the data (DARTS cells, NAS-Bench-201 cells, macro networks); imports nothing from nas
  but :mod:`nas.errors`.
- :mod:`nas.genotypes.codec`: canonical JSON, DARTS text and NB201 strings, files.
- :mod:`nas.genotypes.named`: the catalogue of published cells and hand-designed networks.
- :mod:`nas.genotypes.resolve`: what a user typed (name, file, run directory, text) -> a genotype.
"""
