"""One registry mechanism for everything users pick by name (search methods, controllers, proxies, ...).

A :class:`Registry` maps canonical names to entries, with aliases, deprecated names and
lazy entries (a ``"module:attribute"`` string imported on first use, so that listing
names never imports torch). Every lookup normalises the name the same way
(:func:`normalize`: case-insensitive, ``-`` and spaces read as ``_``) and an unknown name
is a one-line :class:`~nas.errors.NasError` naming the field and the known names.

    METHODS = Registry("method", "search method")
    METHODS.register("darts", "nas.darts.methods.darts:Darts", aliases=("darts_v1",))
    METHODS.get("DARTS-V1")      # the entry, imported on first use
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Iterator
from typing import Generic, TypeVar

from nas.errors import NasError

__all__ = ["Registry", "normalize"]

T = TypeVar("T")


def normalize(name: object) -> str:
    """The one spelling rule of every registry: strip, lower-case, ``-`` and spaces -> ``_``."""
    if not isinstance(name, str):
        return ""
    return name.strip().lower().replace("-", "_").replace(" ", "_")


class Registry(Generic[T]):
    """Names -> entries, with aliases, deprecations and lazy ``"module:attr"`` entries."""

    def __init__(self, field: str, kind: str) -> None:
        self.field = field  # the config key or flag an error names
        self.kind = kind  # what an entry is, for messages ("search method")
        self._entries: dict[str, T | str] = {}
        self._aliases: dict[str, str] = {}
        self._deprecated: dict[str, str] = {}

    def register(self, name: str, entry: T | str, *, aliases: tuple[str, ...] = ()) -> None:
        """Add ``entry`` under ``name`` (a lazy ``"module:attr"`` string is imported on first :meth:`get`)."""
        key = normalize(name)
        if not key or key in self._entries or key in self._aliases:
            raise ValueError(f"{self.kind} {name!r}: empty or already registered")
        self._entries[key] = entry
        for alias in aliases:
            a = normalize(alias)
            if a in self._entries or a in self._aliases:
                raise ValueError(f"{self.kind} alias {alias!r}: already registered")
            self._aliases[a] = key

    def deprecate(self, old: str, new: str) -> None:
        """``old`` still works, with a warning that names ``new``."""
        self._deprecated[normalize(old)] = normalize(new)

    def names(self) -> list[str]:
        """Canonical names in registration order."""
        return list(self._entries)

    def aliases(self) -> dict[str, str]:
        """Alias -> canonical name."""
        return dict(self._aliases)

    def canonical(self, name: object) -> str:
        """The canonical name of ``name``; a one-line error listing the known names otherwise."""
        key = normalize(name)
        if key in self._deprecated:
            new = self._deprecated[key]
            warnings.warn(f"{self.field}: {name!r} is deprecated; use {new!r}", DeprecationWarning, stacklevel=3)
            key = new
        key = self._aliases.get(key, key)
        if key not in self._entries:
            raise NasError(f"{self.field}: unknown {self.kind} {name!r} (known: {', '.join(self._entries)})")
        return key

    def get(self, name: object) -> T:
        """The entry of ``name`` (imported now if it was registered lazily)."""
        key = self.canonical(name)
        entry = self._entries[key]
        if isinstance(entry, str):
            module, _, attr = entry.partition(":")
            entry = getattr(importlib.import_module(module), attr)
            self._entries[key] = entry
        return entry  # type: ignore[return-value]

    def __contains__(self, name: object) -> bool:
        key = normalize(name)
        key = self._aliases.get(self._deprecated.get(key, key), self._deprecated.get(key, key))
        return key in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
