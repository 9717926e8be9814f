"""The score registry: one name, one function, one line of documentation per proxy.

Like the operation registry (:data:`nas.ops.OPS`), every zero-cost score lives in its
own small module and registers itself with :func:`register_proxy`; callers only ever
see names. The modules are imported on first use, so ``import nas.proxies`` stays cheap.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nas.errors import NasError
from nas.registry import Registry, normalize

if TYPE_CHECKING:
    from nas.proxies.context import ScoringContext

__all__ = ["PROXY_MODULES", "Proxy", "get_proxy", "proxy_names", "register_proxy", "resolve_proxies"]

#: Modules that register the scores, in the order tables list them.
PROXY_MODULES: tuple[str, ...] = (
    "nas.proxies.naswot",
    "nas.proxies.synflow",
    "nas.proxies.snip",
    "nas.proxies.grad_norm",
    "nas.proxies.jacov",
    "nas.proxies.fisher",
    "nas.proxies.zico",
    "nas.proxies.params",
    "nas.proxies.flops",
)

ProxyFn = Callable[["ScoringContext"], float]


@dataclass(frozen=True)
class Proxy:
    """A registered score. Higher is better for every score, as published."""

    name: str
    fn: ProxyFn
    summary: str  # one line: what it measures
    reference: str  # the paper and the code it follows
    uses_data: bool  # False: only the input shape matters (synflow, params, flops)
    shares: frozenset[str] = frozenset()  # products of the shared training pass it reads


#: Every score by name (filled by the modules of :data:`PROXY_MODULES` on first use).
REGISTRY: Registry[Proxy] = Registry("proxy", "proxy")
_loaded = False


def register_proxy(
    name: str, *, summary: str, reference: str, uses_data: bool = True, shares: Iterable[str] = ()
) -> Callable[[ProxyFn], ProxyFn]:
    """Register ``fn(ctx) -> float`` under ``name`` (refusing to replace another).

    ``shares``: what it reads from the shared training-mode pass (:mod:`nas.proxies.passes`),
    so that scores computed together run that pass once.
    """

    def decorator(fn: ProxyFn) -> ProxyFn:
        if name in REGISTRY:
            if REGISTRY.get(name).fn is not fn:
                raise ValueError(f"proxy {name!r} is already registered")
            return fn
        REGISTRY.register(name, Proxy(name, fn, summary, reference, uses_data, frozenset(shares)))
        return fn

    return decorator


def _load() -> None:
    global _loaded
    if not _loaded:
        for module in PROXY_MODULES:
            importlib.import_module(module)
        _loaded = True


def proxy_names() -> list[str]:
    """Every registered score, in table order."""
    _load()
    order = {m.rsplit(".", 1)[1]: i for i, m in enumerate(PROXY_MODULES)}
    return sorted(REGISTRY.names(), key=lambda n: (order.get(n, len(order)), n))


def get_proxy(name: str) -> Proxy:
    """The proxy called ``name``; an unknown name is a one-line error naming the known ones."""
    _load()
    if name in REGISTRY:
        return REGISTRY.get(name)
    key = normalize(name) if isinstance(name, str) else str(name)
    close = difflib.get_close_matches(key, REGISTRY.names(), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]}?" if close else ""
    raise NasError(f"proxy: unknown name {name!r}{hint} (known: {', '.join(proxy_names())})")


def resolve_proxies(names: str | Iterable[str] | None) -> list[Proxy]:
    """Proxies from a list of names or comma-separated text (``None``: all of them), without repeats."""
    if names is None:
        return [REGISTRY.get(n) for n in proxy_names()]
    items = names.split(",") if isinstance(names, str) else list(names)
    if not all(isinstance(n, str) for n in items):
        raise NasError(f"proxy: expected names, got {items!r}")
    items = [n.strip() for n in items]
    if not items or any(not n for n in items):
        raise NasError(f"proxy: expected comma-separated names (known: {', '.join(proxy_names())}), got {names!r}")
    proxies: list[Proxy] = []
    for n in items:
        p = get_proxy(n)
        if p in proxies:
            raise NasError(f"proxy: {p.name} is listed twice")
        proxies.append(p)
    return proxies
