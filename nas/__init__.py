"""nas: a neural architecture search toolkit for CIFAR-10.

Data flow: config -> search space -> controller -> trainer -> genotype -> derived network.
See docs/ARCHITECTURE.md for which module owns what.
"""

__version__ = "0.1.0"
