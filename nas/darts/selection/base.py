"""How the final cell is read off a trained supernet: the selection protocol.

The default (:mod:`nas.darts.selection.argmax`) asks the method (the arg-max of its
weights, SPOS's candidate search). Perturbation-based selection (DARTS-PT, Zero-Cost-PT)
instead measures what each operation contributes to the supernet, edge by edge, and can
follow any method whose supernet runs every operation (a mixed supernet).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from nas.genotypes.types import Genotype

__all__ = ["Selection", "SelectionConfig", "SelectionContext"]


class SelectionConfig(BaseModel):
    """Base of every selection's config section; ``name`` is the discriminator."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str


@dataclass
class SelectionContext:
    """What a selection may use: the search config, the trained supernet and method, data, device, echo."""

    search: Any
    supernet: Any
    method: Any
    train_loader: Any
    arch_loader: Any
    eval_loader: Any
    w_optimizer: Any
    device: Any
    echo: Any


class Selection(ABC):
    """Turns a trained supernet into the final genotype; ``record`` says how (for ``result.json``)."""

    name: ClassVar[str]
    Config: ClassVar[type[SelectionConfig]]
    description: ClassVar[str] = ""
    needs_mixed: ClassVar[bool] = False  # True: every operation must run (perturbation needs a mixed supernet)
    #: Whether the selection reads the supernet the search trained: "required" (epochs > 0),
    #: "optional" (it tunes the supernet itself), "unused" (it builds its own; training would be thrown away).
    trained_supernet: ClassVar[Literal["required", "optional", "unused"]] = "required"

    def __init__(self, config: SelectionConfig) -> None:
        self.config = config
        self.record: dict[str, Any] = {}

    @classmethod  # noqa: B027 - an optional hook, not abstract
    def check(cls, config: SelectionConfig, search: Any) -> None:
        """Cross-field checks; raise ValueError("field: why")."""

    @abstractmethod
    def select(self, ctx: SelectionContext) -> Genotype:
        """The final genotype."""
