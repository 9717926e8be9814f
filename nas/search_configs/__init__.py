"""The search configs shipped with the package: ``nas search --config NAME`` and ``nas search --list``.

Like the training recipes (:mod:`nas.recipes`), the configs of ``nas search`` are YAML
files inside this package, so an installed wheel finds them by name; ``experiments/NAME.yaml``
in the repository are links to them. Any other config is given by path. The first comment
line of each file is its one-line description.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from nas.config_io import find_named_yaml
from nas.errors import NasError

__all__ = ["CONFIGS_DIR", "describe", "find_config", "list_configs"]

#: Where configs are found by name: this package's directory (installed as package data).
CONFIGS_DIR = Path(str(resources.files(__name__)))


def list_configs() -> list[str]:
    """Names of the shipped search configs, sorted."""
    return sorted(p.stem for p in CONFIGS_DIR.iterdir() if p.suffix in (".yaml", ".yml"))


def describe(path: Path) -> str:
    """The first comment line of a config (what it searches), or ``""``."""
    with path.open(encoding="utf-8") as f:
        for line in f:
            text = line.strip()
            if text.startswith("#"):
                return text.lstrip("#").strip()
            if text:
                return ""
    return ""


def find_config(spec: str | Path) -> Path:
    """The file of a search config given by path, or by the name of a shipped one (``zero_shot_nb201``)."""
    text = str(spec)
    found = find_named_yaml(text, CONFIGS_DIR)
    if found is not None:
        return found  # a missing path is said by whoever reads it (``missing.yaml: config file not found``)
    known = ", ".join(list_configs()) or "none"
    raise NasError(f"--config {text!r}: not found (shipped configs: {known}; or give the path of a .yaml file)")
