"""The named training recipes: YAML files shipped as package data (``quick``, ``cifar_200ep``, ``darts_eval``).

The code that finds and validates them is :mod:`nas.training.recipes` (the trainer's own layer,
which must not import this one back); its public names are re-exported here so that
``from nas.recipes import load_recipe`` keeps working.
"""

from nas.training.recipes import (
    RECIPES_DIR,
    SIZE_OPTIONS,
    Recipe,
    find_recipe,
    list_recipes,
    load_recipe,
    recipe_overrides,
)

__all__ = [
    "RECIPES_DIR",
    "SIZE_OPTIONS",
    "Recipe",
    "find_recipe",
    "list_recipes",
    "load_recipe",
    "recipe_overrides",
]
