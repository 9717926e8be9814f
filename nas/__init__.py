"""nas: a neural architecture search toolkit for CIFAR-10.

Data flow: config -> search space -> controller or search job -> trainer -> genotype -> derived network.
See docs/ARCHITECTURE.md for which module owns what.

The Python API is five functions (defined in :mod:`nas.api`), with the same code paths
and the same one-line errors as the command line:

- ``nas.genotype(spec)``: a genotype from a name, JSON file, run directory or text;
- ``nas.build(spec, **options)``: the network derived from a genotype;
- ``nas.train(model, recipe=..., out=...)``: the shared trainer, as ``nas train``;
- ``nas.search(config, out=...)``: a search, as ``nas search --config``;
- ``nas.load_run(path)``: a finished training run, its weights and data.
"""

__version__ = "0.1.0"

__all__ = ["build", "genotype", "load_run", "search", "train"]


def __getattr__(name: str) -> object:
    # The API imports torch, the trainer and the search jobs; importing it lazily keeps
    # `import nas.<module>` (and commands such as `nas convert`) fast.
    if name in __all__:
        from nas import api

        return getattr(api, name)
    raise AttributeError(f"module 'nas' has no attribute {name!r}")


def __dir__() -> list[str]:
    # Only the public API (and the version): not the submodules imported so far.
    return sorted([*__all__, "__version__"])
