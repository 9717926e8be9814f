"""The one registry mechanism: names, aliases, deprecations, lazy entries, one-line errors."""

from __future__ import annotations

import pytest

from nas.errors import NasError
from nas.registry import Registry, normalize


def test_normalize_is_one_rule() -> None:
    assert normalize(" PC-Darts ") == "pc_darts"
    assert normalize("beta darts") == "beta_darts"
    assert normalize(3) == ""


def test_lookup_aliases_and_unknown_names() -> None:
    reg: Registry[int] = Registry("method", "search method")
    reg.register("darts", 1, aliases=("darts-v1",))
    reg.register("gdas", 2)
    assert reg.get("DARTS_V1") == 1 and reg.get("Gdas") == 2
    assert reg.names() == ["darts", "gdas"] and "darts-v1" in reg and "nope" not in reg
    with pytest.raises(NasError, match=r"^method: unknown search method 'nope' \(known: darts, gdas\)$"):
        reg.get("nope")
    with pytest.raises(ValueError):
        reg.register("Darts", 3)


def test_lazy_entries_import_on_first_use() -> None:
    reg: Registry[object] = Registry("thing", "thing")
    reg.register("normalize", "nas.registry:normalize")
    assert reg.get("normalize") is normalize


def test_deprecated_names_warn_and_resolve() -> None:
    reg: Registry[int] = Registry("method", "search method")
    reg.register("spos", 5)
    reg.deprecate("rsps", "spos")
    with pytest.warns(DeprecationWarning, match="use 'spos'"):
        assert reg.get("RSPS") == 5
